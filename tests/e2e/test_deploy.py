# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Deployment files (deploy/, docs/install.md): the systemd unit, the image, the Kubernetes
manifests, the Prometheus config and alert rules, the Grafana dashboard.

Most checks are static and need no root: systemd-analyze verify/security on the unit,
promtool on the config and rules (and the rules' own unit tests), YAML/JSON structure, and
every metric and label name checked against docs/metrics.md. Two need root and real BPF,
one the build tools (like the rest of this suite: they fail in CI, skip elsewhere):

- the daemon runs inside an emulation of the unit's sandbox: as user nobody with exactly the
  unit's capabilities and no_new_privs, /sys read-only, /proc/kallsyms hidden, every syscall
  it makes within the unit's SystemCallFilter= and its sockets within
  RestrictAddressFamilies= (strace);
- a real Prometheus scrapes the daemon with the alert rules loaded: every rule evaluates
  without error and every dashboard query is valid against real data;
- the Dockerfile's builder stage is replayed here (this is Debian 12 too): its make command
  on a copy of only what it COPYs, and every library the binary links comes from a package
  the runtime stage installs. No Docker daemon is needed (nor used).
"""
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import twtest

yaml = pytest.importorskip("yaml")

ROOT = twtest.ROOT
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "systemd" / "bpf-threadwatch.service"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
K8S = DEPLOY / "k8s"
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
ALERTS_TEST = DEPLOY / "prometheus" / "alerts_test.yaml"
PROM_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "bpf-threadwatch.json"
METRICS_MD = ROOT / "docs" / "metrics.md"
INSTALL_MD = ROOT / "docs" / "install.md"

CAPS = {"CAP_BPF", "CAP_PERFMON", "CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE", "CAP_SYS_RESOURCE"}
K8S_CAPS = {c[len("CAP_"):] for c in CAPS}
HOST_PATHS = ("/sys/kernel/btf", "/sys/kernel/tracing", "/sys/fs/cgroup", "/var/log/pods",
              "/var/log/containers")
RUNTIME_PKGS = {"libbpf1", "libelf1", "zlib1g", "libmicrohttpd12", "libdw1", "libdebuginfod1",
                "libprotobuf-c1", "libstdc++6"}
HIST_SUFFIXES = ("_bucket", "_sum", "_count")
# Labels that are not the daemon's: Prometheus' own, the scrape configs' (node), GKE
# Managed Prometheus' rename of `namespace` (deploy/k8s/podmonitoring.yaml).
EXTRA_LABELS = {"le", "instance", "job", "node", "exported_namespace", "__name__"}


def _cannot(reason):
    """Fails in CI (CI=true), skips elsewhere: the suite's convention (conftest.py)."""
    if twtest.IN_CI:
        pytest.fail(f"CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def need(*tools):
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        _cannot(f"missing {missing} (make deps installs them)")


def run(argv, timeout=60, **kw):
    return twtest.run(argv, timeout, **kw)


# --- docs/metrics.md: the contract ----------------------------------------------------------


def documented_metrics():
    """{name: type} of every metric in docs/metrics.md's tables."""
    out = {}
    for line in METRICS_MD.read_text().splitlines():
        m = re.match(r"^\|\s*`(threadwatch_[a-z_]+)(?:\{[a-z_, ]+\})?`\s*\|\s*(\w+)\s*\|", line)
        if m:
            out[m.group(1)] = m.group(2)
    assert len(out) >= 20, f"could not read the metric tables of {METRICS_MD}: {out}"
    return out


def documented_labels():
    """Label names docs/metrics.md defines: the --by table and the {label} of metric rows."""
    labels = set()
    for line in METRICS_MD.read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 3 and re.fullmatch(r"`(process|comm|container|cgroup)`( \(default\))?", cells[1]):
            labels |= set(re.findall(r"`([a-z_]+)`", cells[2]))
        m = re.match(r"^\|\s*`threadwatch_[a-z_]+\{([a-z_, ]+)\}`", line)
        if m:
            labels |= {x.strip() for x in m.group(1).split(",")}
    assert {"pid", "comm", "pod", "namespace", "errno", "call", "cause", "what"} <= labels, labels
    return labels


def metric_names(text):
    return set(re.findall(r"\bthreadwatch_[a-z_]*[a-z]", text))


def undocumented(names, documented):
    """Names that are neither documented metrics nor _bucket/_sum/_count of a documented
    histogram."""
    bad = set()
    for n in names:
        if n in documented:
            continue
        base = next((n[: -len(s)] for s in HIST_SUFFIXES if n.endswith(s)), None)
        if base is None or documented.get(base) != "histogram":
            bad.add(n)
    return bad


def label_names(expr):
    """Label names in the matchers and by/without clauses of a PromQL expression."""
    names = set()
    for sel in re.findall(r"\{([^{}]*)\}", expr):
        names |= set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"", sel))
    for grp in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        names |= {x.strip() for x in grp.split(",") if x.strip()}
    return names


def test_metrics_contract_parses():
    m = documented_metrics()
    assert m["threadwatch_threads"] == "gauge"
    assert m["threadwatch_offcpu_blocked_seconds"] == "histogram"
    assert m["threadwatch_loop_stalls_total"] == "counter"


# --- systemd ---------------------------------------------------------------------------------


def unit_entries():
    """[(section, key, value)] of the unit, in order (keys may repeat)."""
    entries, section = [], None
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_values(key, section="Service"):
    return [v for s, k, v in unit_entries() if s == section and k == key]


def unit_value(key, section="Service"):
    vals = unit_values(key, section)
    assert len(vals) == 1, f"{key}= set {len(vals)} times in {UNIT}: {vals}"
    return vals[0]


def unit_copy(tmp_path, binary):
    """The unit with ExecStart's binary replaced by a real one (verify checks it exists)."""
    text = UNIT.read_text()
    assert "ExecStart=/usr/local/bin/bpf-threadwatch " in text
    text = text.replace("ExecStart=/usr/local/bin/bpf-threadwatch ", f"ExecStart={binary} ")
    p = tmp_path / UNIT.name
    p.write_text(text)
    return p


def test_unit_settings():
    argv = shlex.split(unit_value("ExecStart"))
    assert argv == ["/usr/local/bin/bpf-threadwatch", "daemon", "--listen", "127.0.0.1:9464",
                    "--syscalls"]
    for key in ("CapabilityBoundingSet", "AmbientCapabilities"):
        assert set(unit_value(key).split()) == CAPS, f"{key}= must be exactly {sorted(CAPS)}"
    expected = {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "ProtectKernelModules": "yes", "ProtectControlGroups": "yes",
        "SystemCallArchitectures": "native", "Restart": "on-failure", "KillSignal": "SIGTERM",
        "DynamicUser": "yes",
    }
    for key, value in expected.items():
        assert unit_value(key) == value, f"{key}="
    assert set(unit_value("RestrictAddressFamilies").split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert re.fullmatch(r"\d+[KMG]", unit_value("MemoryMax")), "MemoryMax= with a unit"
    assert re.fullmatch(r"(/usr)?(/bin/)?kill -HUP \$MAINPID", unit_value("ExecReload"))
    filt = " ".join(unit_values("SystemCallFilter")).split()
    assert {"@system-service", "bpf", "perf_event_open"} <= set(filt)
    assert not any(f.startswith("~") for f in filt), "a deny-list would drop bpf again"
    assert unit_value("SystemCallErrorNumber") == "EPERM"
    assert unit_value("User") != "root"
    # settings that would break a BPF agent
    assert not unit_values("PrivateUsers") or unit_value("PrivateUsers") == "no"
    assert unit_values("ProtectProc") in ([], ["default"])
    assert unit_values("ProcSubset") in ([], ["all"])
    assert unit_value("WantedBy", "Install") == "multi-user.target"


def test_unit_systemd_analyze_verify(tool, tmp_path):
    """systemd-analyze verify works offline, without systemd as PID 1."""
    need("systemd-analyze")
    unit = unit_copy(tmp_path, tool)
    cp = run(["systemd-analyze", "verify", unit], timeout=60)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    bad = [ln for ln in (cp.stdout + cp.stderr).splitlines()
           if re.search(r"unknown|ignor|warn|fail|invalid|not executable|deprecat|obsolete", ln, re.I)]
    assert not bad, f"systemd-analyze verify complained: {bad}" + ctx


def test_unit_systemd_analyze_security(tool, tmp_path):
    """The sandbox scores "OK" or better (exposure <= 3.0 of 10)."""
    need("systemd-analyze")
    unit = unit_copy(tmp_path, tool)
    cp = run(["systemd-analyze", "security", "--offline=true", "--no-pager", unit], timeout=60)
    ctx = twtest.describe(cp)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", cp.stdout)
    if cp.returncode != 0 and m is None:
        _cannot("systemd-analyze security --offline=true needs systemd 250+" + ctx)
    assert m, ctx
    assert float(m.group(1)) <= 3.0, ctx


def syscall_groups():
    """{"@group": [members]} from systemd-analyze syscall-filter."""
    out = run(["systemd-analyze", "syscall-filter", "--no-pager"]).stdout
    groups, cur = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            cur = line.split()[0]
            groups[cur] = []
        elif cur and line.strip() and not line.strip().startswith("#"):
            groups[cur].append(line.strip())
    assert "@system-service" in groups, out[:2000]
    return groups


def expand_filter(items, groups):
    out = set()
    for i in items:
        out |= expand_filter(groups[i], groups) if i.startswith("@") else {i}
    return out


SANDBOX_SH = r"""#!/bin/sh
# The parts of the unit's sandbox a private mount namespace can reproduce:
# ProtectKernelTunables (/sys and its submounts read-only, /proc/kallsyms and /proc/kcore
# hidden) and ProtectControlGroups (/sys/fs/cgroup read-only).
set -e
mount --make-rprivate /
for m in $(awk '$2 ~ "^/sys(/|$)" {print $2}' /proc/self/mounts | sort -u); do
    mount -o remount,bind,ro "$m" 2>/dev/null || { mount --bind "$m" "$m" && mount -o remount,bind,ro "$m"; }
done
mount --bind /dev/null /proc/kallsyms
mount --bind /dev/null /proc/kcore 2>/dev/null || true
cp /proc/self/mounts "$MOUNTS_OUT"
exec "$@"
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as e:
        return None, str(e)


def wait_healthy(port, bg, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bg.p.poll() is not None:
            return False
        status, body = http_get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        if status == 200 and body.strip() == "ok":
            return True
        time.sleep(0.2)
    return False


@pytest.fixture(scope="module")
def daemon_tool(require_bpf):
    """The binary under test, if it has the `daemon` subcommand (fails in CI / skips)."""
    cp = run([require_bpf, "daemon", "--help"], timeout=10)
    if cp.returncode != 0 or "--listen" not in cp.stdout:
        _cannot(f"{require_bpf} has no working `daemon` subcommand" + twtest.describe(cp))
    return require_bpf


def test_unit_sandbox_runs_daemon(daemon_tool, tmp_path):
    """The unit's ExecStart, run as nobody with exactly the unit's capabilities, NNP, /sys
    read-only and kallsyms hidden: serves /healthz and /metrics, stops with 0 on SIGTERM,
    and makes only syscalls the unit's filter allows, on allowed socket families."""
    need("strace", "setpriv", "unshare", "systemd-analyze")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        _cannot("no user nobody")
    # Our own bounding set may lack one (CAP_SYS_RESOURCE in some containers): it is only
    # used on kernels before 5.11, so run without it there, and say so on failure.
    bounding = int(re.search(r"^CapBnd:\s*([0-9a-f]+)", Path("/proc/self/status").read_text(),
                             re.M).group(1), 16)
    cap_bits = {"CAP_BPF": 39, "CAP_PERFMON": 38, "CAP_DAC_READ_SEARCH": 2,
                "CAP_SYS_PTRACE": 19, "CAP_SYS_RESOURCE": 24}
    unit_caps = set(unit_value("AmbientCapabilities").split())
    caps = sorted(c for c in unit_caps if bounding >> cap_bits[c] & 1)
    left_out = sorted(unit_caps - set(caps))
    plus = ",".join("+" + c[len("CAP_"):].lower() for c in caps)

    port = free_port()
    argv = shlex.split(unit_value("ExecStart"))
    argv = [daemon_tool] + [f"127.0.0.1:{port}" if a == "127.0.0.1:9464" else a for a in argv[1:]]
    script = tmp_path / "sandbox.sh"
    script.write_text(SANDBOX_SH)
    script.chmod(0o755)
    trace = tmp_path / "strace.out"
    mounts = tmp_path / "mounts"
    # LeakSanitizer cannot run under ptrace: off for the ASan build (e2e-asan stage) here
    asan = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "detect_leaks=0"]))
    cmd = ["env", f"MOUNTS_OUT={mounts}", f"ASAN_OPTIONS={asan}", "unshare", "-m", script,
           "strace", "-f", "-qq", "-o", trace,
           "setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
           "--no-new-privs", f"--inh-caps=-all,{plus}", f"--ambient-caps={plus}",
           f"--bounding-set=-all,{plus}", *argv]
    # env execs unshare, which execs the script, which execs strace: bg.pid is strace's.
    with twtest.Bg(cmd) as bg:
        ctx_caps = f"\ncapabilities given: {caps}; not available here: {left_out}"
        if not wait_healthy(port, bg):
            bg.kill()
            pytest.fail("the daemon never answered /healthz in the sandbox" + ctx_caps
                        + twtest.describe(bg), pytrace=False)
        status, body = http_get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200, body[:2000]
        assert re.search(r"^threadwatch_threads\{", body, re.M), body[:2000]
        assert re.search(r"^threadwatch_build_info\{", body, re.M), body[:2000]
        children = Path(f"/proc/{bg.pid}/task/{bg.pid}/children").read_text().split()
        assert len(children) == 1, f"strace's children: {children}"
        os.kill(int(children[0]), signal.SIGTERM)
        rc = bg.wait(30)
        ctx = ctx_caps + twtest.describe(bg)
        assert rc == 0, "SIGTERM must stop the daemon with exit status 0" + ctx

    ro = {}
    for line in mounts.read_text().splitlines():
        _, target, _, opts = line.split()[:4]
        if target == "/sys" or target.startswith("/sys/"):
            ro[target] = "ro" in opts.split(",")
    assert ro and all(ro.values()), f"the emulation left /sys mounts writable: {ro}"

    allowed = expand_filter(" ".join(unit_values("SystemCallFilter")).split(), syscall_groups())
    families = set(unit_value("RestrictAddressFamilies").split())
    # strace -f logs in time order: everything after setpriv's execve of the daemon is the
    # daemon or one of its threads (setpriv starts nothing else).
    started, used, bad_sockets = False, {}, []
    for line in trace.read_text().splitlines():
        m = re.match(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]", line)
        if not m:
            continue
        call = m.group(1)
        if not started:
            started = call == "execve" and f'execve("{daemon_tool}"' in line
            continue
        used[call] = used.get(call, 0) + 1
        fam = re.search(r"^\d+\s+socket\((AF_[A-Z0-9]+)", line)
        if fam and fam.group(1) not in families:
            bad_sockets.append(line)
    assert started, f"no execve of {daemon_tool} in the strace log"
    outside = sorted(c for c in used if c not in allowed)
    assert not outside, (f"syscalls outside the unit's SystemCallFilter= (they would fail with "
                         f"EPERM under systemd): {outside}; all used: {sorted(used)}")
    assert not bad_sockets, f"socket families outside RestrictAddressFamilies=: {bad_sockets}"


# --- Dockerfile ------------------------------------------------------------------------------


def dockerfile_instructions():
    """[(INSTRUCTION, args)] with continuation lines joined and comments dropped."""
    out, buf = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        instr, _, args = buf.partition(" ")
        out.append((instr.upper(), args.strip()))
        buf = ""
    return out


def dockerfile_stages():
    stages = []
    for instr, args in dockerfile_instructions():
        if instr == "FROM":
            stages.append({"from": args, "steps": []})
        else:
            assert stages, "instruction before FROM"
            stages[-1]["steps"].append((instr, args))
    return stages


def apt_packages(run_args):
    m = re.search(r"apt-get install ([^&;]*)", run_args)
    return {w for w in m.group(1).split() if not w.startswith("-")} if m else set()


def test_dockerfile_static():
    assert not any("privileged" in args.lower() for _, args in dockerfile_instructions()), \
        "the image must not ask for --privileged"
    stages = dockerfile_stages()
    assert len(stages) == 2, [s["from"] for s in stages]
    for s in stages:
        assert re.fullmatch(r"debian:bookworm(-slim)?( AS \w+)?", s["from"], re.I), s["from"]
    builder, runtime = stages
    assert re.search(r" AS (\w+)$", builder["from"], re.I)
    name = re.search(r" AS (\w+)$", builder["from"], re.I).group(1)
    build_pkgs = set().union(*(apt_packages(a) for i, a in builder["steps"] if i == "RUN"))
    assert {"clang", "llvm", "bpftool", "libbpf-dev", "libelf-dev", "zlib1g-dev",
            "libmicrohttpd-dev", "libdw-dev", "make", "gcc", "pkg-config"} <= build_pkgs, build_pkgs
    assert any(i == "RUN" and re.search(r"\bmake\b.*bpf-threadwatch", a) for i, a in builder["steps"])
    rt_pkgs = set().union(*(apt_packages(a) for i, a in runtime["steps"] if i == "RUN"))
    assert RUNTIME_PKGS <= rt_pkgs, rt_pkgs
    assert not {p for p in rt_pkgs if p.endswith("-dev") or p in ("clang", "gcc", "llvm", "make")}, \
        f"build tools in the runtime stage: {rt_pkgs}"
    copies = [a for i, a in runtime["steps"] if i == "COPY"]
    assert any(a.startswith(f"--from={name} ") and a.endswith(" /usr/local/bin/bpf-threadwatch")
               for a in copies), copies
    entry = [a for i, a in runtime["steps"] if i == "ENTRYPOINT"]
    assert len(entry) == 1 and json.loads(entry[0]) == ["/usr/local/bin/bpf-threadwatch", "daemon"], entry
    assert [a for i, a in runtime["steps"] if i == "USER"] in ([], ["root"])
    # every COPY source of the build context exists
    for instr, args in builder["steps"]:
        if instr == "COPY" and not args.startswith("--from"):
            *srcs, _dest = args.split()
            for src in srcs:
                assert (ROOT / src).exists(), f"COPY {src}: not in the repository"


def test_dockerfile_builder_replay(tmp_path):
    """The builder stage's make, on a copy holding only what the Dockerfile COPYs (this
    machine is Debian 12 like the image); the runtime stage installs every library the
    binary needs."""
    need("make", "clang", "bpftool", "readelf", "dpkg")
    builder = dockerfile_stages()[0]
    ctx = tmp_path / "src"
    ctx.mkdir()
    for instr, args in builder["steps"]:
        if instr == "COPY" and not args.startswith("--from"):
            *srcs, _dest = args.split()
            for src in srcs:
                s = ROOT / src.rstrip("/")
                if s.is_dir():
                    shutil.copytree(s, ctx / s.name, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy2(s, ctx / s.name)
    make = next(a for i, a in builder["steps"] if i == "RUN" and a.startswith("make "))
    out = tmp_path / "out"
    cmd = make.replace("/out", str(out))
    cp = subprocess.run(["sh", "-ec", cmd], cwd=ctx, capture_output=True, text=True, timeout=600)
    assert cp.returncode == 0, f"$ {cmd}\n{cp.stdout[-3000:]}\n{cp.stderr[-3000:]}"
    binary = out / "bpf-threadwatch"
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                        run(["readelf", "-d", binary]).stdout)
    assert needed, "no NEEDED entries?"
    allowed = RUNTIME_PKGS | {"libc6"}
    for lib in needed:
        owners = run(["dpkg", "-S", f"*/{lib}"]).stdout
        pkgs = {ln.split(":")[0] for ln in owners.splitlines() if ":" in ln}
        assert pkgs & allowed, (f"{lib} comes from {pkgs or 'no package'}, which the runtime "
                                f"stage does not install ({sorted(RUNTIME_PKGS)})")


# --- Kubernetes ------------------------------------------------------------------------------


def k8s_docs(name):
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def one(docs, kind):
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} objects"
    return found[0]


def test_k8s_namespace():
    docs = k8s_docs("namespace.yaml")
    assert one(docs, "Namespace")["metadata"]["name"] == "bpf-threadwatch"
    quota = one(docs, "ResourceQuota")
    assert quota["metadata"]["namespace"] == "bpf-threadwatch"
    exprs = quota["spec"]["scopeSelector"]["matchExpressions"]
    assert any(e["scopeName"] == "PriorityClass" and "system-node-critical" in e["values"]
               for e in exprs), exprs


def test_k8s_daemonset():
    docs = k8s_docs("daemonset.yaml")
    sa = one(docs, "ServiceAccount")
    assert sa["automountServiceAccountToken"] is False
    ds = one(docs, "DaemonSet")
    assert ds["apiVersion"] == "apps/v1"
    assert ds["metadata"]["namespace"] == sa["metadata"]["namespace"] == "bpf-threadwatch"
    spec = ds["spec"]
    assert spec["updateStrategy"]["type"] == "RollingUpdate"
    tmpl = spec["template"]
    labels = tmpl["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    ann = tmpl["metadata"]["annotations"]
    assert ann == {"prometheus.io/scrape": "true", "prometheus.io/port": "9464",
                   "prometheus.io/path": "/metrics"}, ann
    pod = tmpl["spec"]
    assert pod["hostPID"] is True
    assert not pod.get("hostNetwork") and not pod.get("hostIPC")
    assert pod["serviceAccountName"] == sa["metadata"]["name"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["priorityClassName"] == "system-node-critical"
    assert {"operator": "Exists"} in pod["tolerations"], "must tolerate every taint"
    assert pod["nodeSelector"]["kubernetes.io/os"] == "linux"
    (c,) = pod["containers"]
    assert c["command"] + c["args"] == ["/usr/local/bin/bpf-threadwatch", "daemon", "--listen",
                                        "0.0.0.0:9464", "--syscalls", "--by", "process"]
    sc = c["securityContext"]
    assert sc["privileged"] is False
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert set(sc["capabilities"]["add"]) == K8S_CAPS
    assert "SYS_ADMIN" not in sc["capabilities"]["add"]
    assert c["resources"] == {"requests": {"cpu": "20m", "memory": "64Mi"},
                              "limits": {"cpu": "200m", "memory": "200Mi"}}
    (port,) = c["ports"]
    assert port == {"name": "metrics", "containerPort": 9464, "protocol": "TCP"}
    for probe in ("livenessProbe", "readinessProbe"):
        get = c[probe]["httpGet"]
        assert get["path"] == "/healthz" and get["port"] in ("metrics", 9464), (probe, get)
    if "startupProbe" in c:
        assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    for m in c["volumeMounts"]:
        assert m.get("readOnly") is True, f"{m['mountPath']} must be read-only"
        assert m.get("mountPropagation", "None") in ("None", "HostToContainer"), m
        vol = volumes[m["name"]]
        assert vol["hostPath"]["path"] == m["mountPath"], (m, vol)
    for path in HOST_PATHS:
        assert path in mounts, f"no read-only hostPath mount of {path}"
    assert "/sys/fs/bpf" not in mounts and "/" not in mounts and "/proc" not in mounts


def check_selector(selector, labels):
    assert selector["matchLabels"].items() <= labels.items(), (selector, labels)


def test_k8s_scrape_configs():
    ds = one(k8s_docs("daemonset.yaml"), "DaemonSet")
    pod_labels = ds["spec"]["template"]["metadata"]["labels"]

    pm = one(k8s_docs("podmonitor.yaml"), "PodMonitor")
    assert pm["apiVersion"] == "monitoring.coreos.com/v1"
    assert pm["metadata"]["namespace"] == "bpf-threadwatch"
    check_selector(pm["spec"]["selector"], pod_labels)
    assert pm["spec"]["namespaceSelector"]["matchNames"] == ["bpf-threadwatch"]
    (ep,) = pm["spec"]["podMetricsEndpoints"]
    assert ep["port"] == "metrics" and ep["path"] == "/metrics"
    # the operator's pod/namespace/container target labels would push the metrics' own
    # (docs/metrics.md) aside as exported_*: they must be dropped, not honored
    drops = [r for r in ep.get("relabelings", []) if r.get("action") == "labeldrop"]
    assert any(all(re.fullmatch(r["regex"], lb) for lb in ("pod", "namespace", "container"))
               for r in drops), ep
    assert not ep.get("honorLabels")

    gmp = one(k8s_docs("podmonitoring.yaml"), "PodMonitoring")
    assert gmp["apiVersion"] == "monitoring.googleapis.com/v1"
    assert gmp["metadata"]["namespace"] == "bpf-threadwatch"
    check_selector(gmp["spec"]["selector"], pod_labels)
    (ep,) = gmp["spec"]["endpoints"]
    assert ep["port"] == "metrics" and ep["path"] == "/metrics"
    meta = gmp["spec"]["targetLabels"]["metadata"]
    assert not {"pod", "container"} & set(meta), "would rename the metrics' pod/container labels"


def test_k8s_rule_wrappers_current():
    """prometheusrule.yaml and rules-gmp.yaml are what gen-rules.py makes of alerts.yaml."""
    cp = run(["python3", K8S / "gen-rules.py", "--check"])
    assert cp.returncode == 0, twtest.describe(cp)
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    pr = one(k8s_docs("prometheusrule.yaml"), "PrometheusRule")
    assert pr["apiVersion"] == "monitoring.coreos.com/v1" and pr["spec"]["groups"] == groups
    rules = one(k8s_docs("rules-gmp.yaml"), "Rules")
    assert rules["apiVersion"] == "monitoring.googleapis.com/v1" and rules["spec"]["groups"] == groups
    assert rules["metadata"]["namespace"] == "bpf-threadwatch"


def test_daemon_flags_exist(daemon_flags):
    """Every option the unit, the DaemonSet and the image pass is one `daemon --help` lists."""
    ds = one(k8s_docs("daemonset.yaml"), "DaemonSet")
    used = set(shlex.split(unit_value("ExecStart"))) | set(ds["spec"]["template"]["spec"]["containers"][0]["args"])
    cmd = [a for i, a in dockerfile_stages()[1]["steps"] if i == "CMD"]
    if cmd:
        used |= set(json.loads(cmd[0]))
    flags = {a.split("=")[0] for a in used if a.startswith("--")}
    assert flags and flags <= daemon_flags, f"unknown to the daemon: {sorted(flags - daemon_flags)}"


@pytest.fixture(scope="module")
def daemon_flags(tool):
    cp = run([tool, "daemon", "--help"], timeout=10)
    if cp.returncode != 0:
        _cannot(f"{tool} has no `daemon` subcommand" + twtest.describe(cp))
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", cp.stdout))


# --- Prometheus ------------------------------------------------------------------------------


def alert_rules():
    return [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]


def test_alert_rules_promtool():
    need("promtool")
    cp = run(["promtool", "check", "rules", ALERTS])
    assert cp.returncode == 0, twtest.describe(cp)
    # the rules' own unit tests: each alert fires where meant, and not on its look-alikes
    cp = run(["promtool", "test", "rules", ALERTS_TEST], timeout=120)
    assert cp.returncode == 0, twtest.describe(cp)
    tested = set(re.findall(r"alertname:\s*(\w+)", ALERTS_TEST.read_text()))
    assert {r["alert"] for r in alert_rules()} <= tested, "an alert without a unit test"


def test_alert_rules_content():
    rules = alert_rules()
    names = {r["alert"] for r in rules}
    exprs = " ".join(r["expr"] for r in rules)
    for metric in ("threadwatch_thread_create_failures_total", "threadwatch_threads",
                   "threadwatch_loop_stalls_total", "threadwatch_loops_stalled_now",
                   "threadwatch_threads_blocked_now", "threadwatch_agent_lost_total"):
        assert re.search(rf"\b{metric}\b", exprs), f"no alert on {metric}"
    assert 'errno="EAGAIN"' in exprs
    assert re.search(r"threadwatch_loops_stalled_now\s*>\s*0", exprs)
    for r in rules:
        assert r.get("for"), f"{r['alert']}: no for:"
        assert r["labels"]["severity"] in ("critical", "warning"), r["alert"]
        assert r["annotations"].get("summary") and r["annotations"].get("description"), r["alert"]
    pod_alerts = [r for r in rules if not r["alert"].startswith("ThreadwatchAgent")]
    for r in pod_alerts:
        s = r["annotations"]["summary"]
        assert "$labels.pod" in s and "$labels.namespace" in s and "$labels.exported_namespace" in s, \
            f"{r['alert']}: the summary should name the pod and its namespace when known"
    assert len(names) == len(rules), "duplicate alert names"


def test_prometheus_config(tmp_path):
    need("promtool")
    cp = run(["promtool", "check", "config", PROM_CONFIG])
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    assert "1 rule files found" in cp.stdout, ctx
    cfg = yaml.safe_load(PROM_CONFIG.read_text())
    assert cfg["rule_files"] == ["alerts.yaml"], "relative to the config file, next to it"
    (job,) = [j for j in cfg["scrape_configs"] if j["job_name"] == "bpf-threadwatch"]
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:9464"]
    assert job.get("metrics_path", "/metrics") == "/metrics"


# --- names against docs/metrics.md -----------------------------------------------------------


def dashboard():
    return json.loads(DASHBOARD.read_text())


def dashboard_panels(d):
    for p in d["panels"]:
        yield p
        yield from p.get("panels", [])


def dashboard_exprs(d):
    return [t["expr"] for p in dashboard_panels(d) for t in p.get("targets", [])]


def substitute(expr, rate="1m"):
    """A dashboard query as Prometheus would get it, all variables at "All"."""
    expr = expr.replace("$namespace_label", "namespace").replace("$__rate_interval", rate)
    return re.sub(r"\$\{?(instance|namespace|pod|comm)\}?", ".*", expr)


def test_names_documented():
    """Every threadwatch_* name in the alert rules and the dashboard is in docs/metrics.md
    (histograms with _bucket/_sum/_count), and so is every label they select or group by."""
    documented = documented_metrics()
    labels = documented_labels() | EXTRA_LABELS
    d = dashboard()
    for where, text in (("alerts.yaml", ALERTS.read_text()), ("alerts_test.yaml", ALERTS_TEST.read_text()),
                        ("the dashboard", DASHBOARD.read_text())):
        names = metric_names(text)
        assert names, where
        assert not undocumented(names, documented), \
            f"{where}: not in docs/metrics.md: {sorted(undocumented(names, documented))}"
    exprs = [r["expr"] for r in alert_rules()] + [substitute(e) for e in dashboard_exprs(d)]
    exprs += [substitute(v["definition"]) for v in d["templating"]["list"] if v.get("definition")]
    for e in exprs:
        assert label_names(e) <= labels, f"undocumented labels {label_names(e) - labels} in: {e}"


# --- Grafana ---------------------------------------------------------------------------------


def test_dashboard_structure():
    d = dashboard()
    assert 36 <= d["schemaVersion"] <= 41, d["schemaVersion"]
    assert d["uid"] and d["title"]
    var = {v["name"]: v for v in d["templating"]["list"]}
    assert var["datasource"]["type"] == "datasource" and var["datasource"]["query"] == "prometheus"
    for name in ("namespace", "pod", "comm"):
        assert var[name]["type"] == "query", name
        assert var[name]["definition"].startswith("label_values("), var[name]
        assert var[name]["datasource"]["uid"] == "${datasource}"
    ids, cells = set(), set()
    for p in dashboard_panels(d):
        assert p["id"] not in ids, f"duplicate panel id {p['id']}"
        ids.add(p["id"])
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"panel {p['title']!r} overlaps another"
                cells.add((x, y))
        if p["type"] == "row":
            continue
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${datasource}", p["title"]
    used = metric_names(" ".join(dashboard_exprs(d)))
    for metric in ("threadwatch_threads", "threadwatch_thread_create_failures_total",
                   "threadwatch_offcpu_blocked_seconds_bucket", "threadwatch_offcpu_runq_seconds_bucket",
                   "threadwatch_syscall_seconds_bucket", "threadwatch_loop_gap_seconds_bucket",
                   "threadwatch_loop_stalls_total", "threadwatch_loops_stalled_now",
                   "threadwatch_threads_blocked_now", "threadwatch_agent_lost_total",
                   "threadwatch_agent_bpf_run_seconds_total", "threadwatch_agent_render_seconds"):
        assert metric in used, f"no panel uses {metric}"
    titles = " ".join(p["title"].lower() for p in dashboard_panels(d))
    for words in ("threads alive", "errno", "p99", "stalls", "stalled now", "blocked now", "lost"):
        assert words in titles, f"no panel about {words!r}"


def test_dashboard_queries_parse(tmp_path):
    """Every dashboard query (variables at "All") is valid PromQL: promtool parses them as
    recording rules."""
    need("promtool")
    d = dashboard()
    rules = [{"record": f"dashboard:query_{i}", "expr": substitute(e)}
             for i, e in enumerate(dashboard_exprs(d))]
    f = tmp_path / "dashboard_rules.yaml"
    f.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    cp = run(["promtool", "check", "rules", f])
    assert cp.returncode == 0, twtest.describe(cp)


# --- a real Prometheus against the real daemon -----------------------------------------------


def prom_query(port, q):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
    status, body = http_get(url, timeout=10)
    try:
        return status, json.loads(body)
    except json.JSONDecodeError:
        return status, {"status": "error", "error": body[:500]}


def test_live_prometheus(daemon_tool, tmp_path):
    """The daemon scraped by Prometheus (1 s) with alerts.yaml loaded: every rule evaluates
    without error, and every dashboard query runs; the core ones return series."""
    need("prometheus")
    dport, pport = free_port(), free_port()
    shutil.copy(ALERTS, tmp_path / "alerts.yaml")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["alerts.yaml"],
        "scrape_configs": [{"job_name": "bpf-threadwatch",
                            "static_configs": [{"targets": [f"127.0.0.1:{dport}"]}]}],
    }))
    with twtest.Bg([daemon_tool, "daemon", "--listen", f"127.0.0.1:{dport}", "--syscalls"]) as daemon:
        assert wait_healthy(dport, daemon), twtest.describe(daemon)
        with twtest.Bg(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                        f"--storage.tsdb.path={tmp_path / 'data'}",
                        f"--web.listen-address=127.0.0.1:{pport}"]) as prom:
            deadline, series = time.monotonic() + 60, []
            while time.monotonic() < deadline and prom.p.poll() is None:
                _, res = prom_query(pport, 'count_over_time(threadwatch_build_info[1m]) >= 8')
                series = res.get("data", {}).get("result", []) if res.get("status") == "success" else []
                if series:
                    break
                time.sleep(1)
            ctx = "\nprometheus:" + twtest.describe(prom) + "\ndaemon:" + twtest.describe(daemon)
            assert series, "Prometheus never got 8 scrapes of threadwatch_build_info" + ctx
            status, body = http_get(f"http://127.0.0.1:{pport}/api/v1/rules")
            groups = json.loads(body)["data"]["groups"]
            evaluated = [r for g in groups for r in g["rules"]]
            assert len(evaluated) == len(alert_rules()), ctx
            for r in evaluated:
                assert r["health"] == "ok", f"rule {r['name']}: {r.get('lastError')}" + ctx
            for e in dashboard_exprs(dashboard()):
                q = substitute(e, rate="5s")
                status, res = prom_query(pport, q)
                assert res.get("status") == "success", f"{q}: {res.get('error')}" + ctx
            for q in ("threadwatch_threads", "threadwatch_build_info", "threadwatch_agent_threads",
                      'sum by (le) (rate(threadwatch_offcpu_blocked_seconds_bucket[5s]))'):
                _, res = prom_query(pport, q)
                assert res["data"]["result"], f"no data for {q}" + ctx
            prom.signal(signal.SIGTERM)
            prom.wait(30)
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(30) == 0, twtest.describe(daemon)


# --- docs ------------------------------------------------------------------------------------


def test_install_doc_references():
    """docs/install.md names every deploy file, and every path and link it gives exists."""
    text = INSTALL_MD.read_text()
    for f in DEPLOY.rglob("*"):
        if f.is_file() and "__pycache__" not in f.parts:
            rel = str(f.relative_to(ROOT))
            short = f.name
            assert rel in text or short in text, f"docs/install.md does not mention {rel}"
    for path in set(re.findall(r"\bdeploy/[A-Za-z0-9_./-]*[A-Za-z0-9_]", text)):
        assert (ROOT / path).exists(), f"docs/install.md names {path}, which does not exist"
    for link in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if "://" not in link:
            assert (INSTALL_MD.parent / link).exists(), f"broken link {link}"
    for heading in ("On a VM", "On GKE", "Security model", "Uninstall"):
        assert re.search(rf"^#+ {heading}", text, re.M), heading
