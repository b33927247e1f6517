// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cgroup.h"
#include "procfs.h"
#include "unit.h"

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define UID "8b7a2c3e-1f4d-4e5a-9b6c-7d8e9f0a1b2c"
#define UID_ "8b7a2c3e_1f4d_4e5a_9b6c_7d8e9f0a1b2c"
#define UID3 "00000000-1111-2222-3333-444444444444"
#define STATIC_UID "6a1bd3c6e0f7d9b2a4c5e8f1d2c3b4a5"

static char path_buf[512];

/* parse_proc_cgroup of a string: the path, or NULL on -ENOENT */
static const char *proc_path(const char *text)
{
	if (parse_proc_cgroup(text, strlen(text), path_buf, sizeof(path_buf)))
		return NULL;
	return path_buf;
}

static bool streq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* parse_cgroup_container of path: 1 when it returned 0 with this id and uid, else 0 */
static int attributed(const char *path, const char *id, const char *uid)
{
	struct tw_container c;

	memset(&c, 'x', sizeof(c)); /* the parser must set both fields */
	if (parse_cgroup_container(path, &c))
		return 0;
	if (strcmp(c.container_id, id) != 0 || strcmp(c.pod_uid, uid) != 0) {
		fprintf(stderr, "  %s: id \"%s\" uid \"%s\"\n", path, c.container_id, c.pod_uid);
		return 0;
	}
	return 1;
}

/* parse_cgroup_container of path returned -ENOENT and left both fields empty */
static int unattributed(const char *path)
{
	struct tw_container c;

	memset(&c, 'x', sizeof(c));
	return parse_cgroup_container(path, &c) == -ENOENT && !c.container_id[0] && !c.pod_uid[0];
}

TEST(proc_cgroup_v2)
{
	CHECK(streq(proc_path("0::/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" ID
			      ".scope\n"),
		    "/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" ID ".scope"));
	CHECK(streq(proc_path("0::/init.scope"), "/init.scope")); /* no newline */
	CHECK(streq(proc_path("0::/\n"), "/"));
	/* a removed cgroup */
	CHECK(streq(proc_path("0::/system.slice/x.service (deleted)\n"),
		    "/system.slice/x.service"));
	/* the containerd "systemd cgroup" form keeps its colons */
	CHECK(streq(proc_path("0::/system.slice/containerd.service/kubepods-pod" UID_
			      ".slice:cri-containerd:" ID "\n"),
		    "/system.slice/containerd.service/kubepods-pod" UID_
		    ".slice:cri-containerd:" ID));
}

TEST(proc_cgroup_v1_preference)
{
	const char v1[] = "12:memory:/docker/mem\n"
			  "11:cpu,cpuacct:/docker/cpu\n"
			  "10:pids:/docker/pids\n"
			  "1:name=systemd:/docker/sd\n";
	const char nopids[] = "12:memory:/m\n3:cpuacct,cpu:/c\n1:name=systemd:/s\n";
	const char mem[] = "12:blkio:/b\n4:memory:/m\n1:name=systemd:/s\n";
	const char first[] = "12:blkio:/b\n1:name=systemd:/s\n";
	/* "cpuset" and "cpuacct" alone are not "cpu" */
	const char cpuset[] = "5:cpuset:/cs\n6:cpuacct:/ca\n";

	CHECK(streq(proc_path(v1), "/docker/pids"));
	CHECK(streq(proc_path(nopids), "/c"));
	CHECK(streq(proc_path(mem), "/m"));
	CHECK(streq(proc_path(first), "/b"));
	CHECK(streq(proc_path(cpuset), "/cs"));
}

TEST(proc_cgroup_hybrid)
{
	/* v2 wins when it says something... */
	CHECK(streq(proc_path("10:pids:/docker/" ID "\n0::/system.slice/docker.service\n"),
		    "/system.slice/docker.service"));
	CHECK(streq(
		proc_path("0::/kubepods/pod" UID "/" ID "\n10:pids:/kubepods/pod" UID "/" ID "\n"),
		"/kubepods/pod" UID "/" ID));
	/* ...but not when it is the root of a hybrid host's systemd-only hierarchy */
	CHECK(streq(proc_path("10:pids:/docker/" ID "\n1:name=systemd:/docker/" ID "\n0::/\n"),
		    "/docker/" ID));
	CHECK(streq(proc_path("10:pids:/\n0::/\n"), "/"));
}

TEST(proc_cgroup_malformed)
{
	char small[8];

	CHECK(!proc_path(""));
	CHECK(!proc_path("\n\n"));
	CHECK(!proc_path("garbage\n"));
	CHECK(!proc_path("0:/x\n"));
	CHECK(!proc_path(":::/x\n"));
	CHECK(!proc_path("x::/x\n"));
	CHECK(!proc_path("0::relative\n"));
	CHECK(!proc_path("0::\n"));
	CHECK(!proc_path("0:: (deleted)\n"));
	/* malformed lines are skipped, not fatal */
	CHECK(streq(proc_path("junk\n0::/ok\n"), "/ok"));
	/* a NUL inside a path */
	CHECK(parse_proc_cgroup("0::/a\0b\n", 8, path_buf, sizeof(path_buf)) == -ENOENT);
	/* the length is honoured: the text is not NUL-terminated */
	CHECK(!parse_proc_cgroup("0::/abcdef", 6, path_buf, sizeof(path_buf)) &&
	      streq(path_buf, "/ab"));
	/* does not fit (with its NUL): not truncated */
	CHECK(parse_proc_cgroup("0::/1234567", 11, small, sizeof(small)) == -ENOENT);
	CHECK(!parse_proc_cgroup("0::/123456", 10, small, sizeof(small)) &&
	      streq(small, "/123456"));
	CHECK(parse_proc_cgroup("0::/", 4, small, 0) == -ENOENT);
}

TEST(cgroup_systemd_driver)
{
	CHECK(attributed("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
			 ".slice/cri-containerd-" ID ".scope",
			 ID, UID));
	CHECK(attributed("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
			 ".slice/cri-containerd-" ID ".scope",
			 ID, UID));
	/* guaranteed pods sit right under kubepods.slice */
	CHECK(attributed("/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" ID ".scope",
			 ID, UID));
	/* CRI-O, and docker (dockershim, cri-dockerd) */
	CHECK(attributed("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
			 ".slice/crio-" ID ".scope",
			 ID, UID));
	CHECK(attributed("/kubepods.slice/kubepods-pod" UID_ ".slice/docker-" ID ".scope", ID,
			 UID));
	/* a process in a sub-cgroup of the container (systemd inside, CRI-O's "container") */
	CHECK(attributed("/kubepods.slice/kubepods-pod" UID_ ".slice/crio-" ID ".scope/container",
			 ID, UID));
	CHECK(attributed("/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" ID
			 ".scope/init.scope",
			 ID, UID));
}

TEST(cgroup_cgroupfs_driver)
{
	CHECK(attributed("/kubepods/burstable/pod" UID "/" ID, ID, UID));
	CHECK(attributed("/kubepods/besteffort/pod" UID "/" ID, ID, UID));
	CHECK(attributed("/kubepods/pod" UID "/" ID, ID, UID));
	/* CRI-O with cgroupfs */
	CHECK(attributed("/kubepods/burstable/pod" UID "/crio-" ID, ID, UID));
}

TEST(cgroup_nested_and_prefixed)
{
	/* the containerd "systemd cgroup" form with colons, under system.slice (GKE) */
	CHECK(attributed("/system.slice/containerd.service/kubepods-burstable-pod" UID_
			 ".slice:cri-containerd:" ID,
			 ID, UID));
	CHECK(attributed("/system.slice/containerd.service/kubepods-pod" UID_
			 ".slice:cri-containerd:" ID,
			 ID, UID));
	/* as seen from inside another cgroup namespace */
	CHECK(attributed(
		"/../../kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
		".slice/cri-containerd-" ID ".scope",
		ID, UID));
	/* kind: a node in a docker container, kubelet's slices prefixed "kubelet-" */
	CHECK(attributed("/system.slice/docker-" ID2 ".scope/kubelet.slice/kubelet-kubepods.slice/"
			 "kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" UID_
			 ".slice/cri-containerd-" ID ".scope",
			 ID, UID));
	CHECK(attributed("/docker/" ID2 "/kubepods/burstable/pod" UID "/" ID, ID, UID));
	/* docker inside a pod's container: the pod's container, not the inner one */
	CHECK(attributed("/kubepods/pod" UID "/" ID "/docker/" ID2, ID, UID));
	/* a static pod: kubelet's 32-hex UID, kept as it is */
	CHECK(attributed(
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" STATIC_UID
		".slice/cri-containerd-" ID ".scope",
		ID, STATIC_UID));
	CHECK(attributed("/kubepods/burstable/pod" STATIC_UID "/" ID, ID, STATIC_UID));
}

TEST(cgroup_plain_docker)
{
	CHECK(attributed("/docker/" ID, ID, ""));
	CHECK(attributed("/system.slice/docker-" ID ".scope", ID, ""));
	CHECK(attributed("/machine.slice/libpod-" ID ".scope/container", ID, ""));
	/* nested docker without a pod: the innermost container */
	CHECK(attributed("/docker/" ID2 "/docker/" ID, ID, ""));
}

TEST(cgroup_pod_without_container)
{
	/* a process in the pod's own cgroup, and CRI-O's conmon, are in the pod, in no container */
	CHECK(attributed("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
			 ".slice",
			 "", UID));
	CHECK(attributed("/kubepods/besteffort/pod" UID, "", UID));
	CHECK(attributed("/kubepods/pod" UID "/", "", UID));
	CHECK(attributed("/kubepods.slice/kubepods-pod" UID_ ".slice/crio-conmon-" ID ".scope", "",
			 UID));
	/* an id above the pod is not the pod's container */
	CHECK(attributed("/docker/" ID "/kubepods/pod" UID, "", UID));
}

TEST(cgroup_not_a_container)
{
	CHECK(unattributed("/user.slice/user-0.slice/session-1.scope"));
	CHECK(unattributed("/init.scope"));
	CHECK(unattributed("/"));
	CHECK(unattributed(""));
	CHECK(unattributed("/system.slice/containerd.service"));
	CHECK(unattributed("/kubepods.slice/kubepods-burstable.slice"));
	CHECK(unattributed("/kubepods/burstable"));
	CHECK(unattributed("/user.slice/user-1000.slice/user@1000.service/app.slice/"
			   "app-gnome-firefox-1234.scope"));
	CHECK(unattributed("//::://"));
}

TEST(cgroup_malformed_ids)
{
	char upper[] = "/docker/" ID;
	/* 63 and 65 hex */
	CHECK(unattributed(
		"/docker/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"));
	CHECK(unattributed("/docker/" ID "0"));
	CHECK(unattributed("/system.slice/docker-" ID "0.scope"));
	CHECK(unattributed("/system.slice/docker-" ID ".scop"));
	CHECK(unattributed("/system.slice/docker-123abc.scope"));
	CHECK(unattributed("/system.slice/docker-.scope"));
	CHECK(unattributed("/system.slice/-" ID ".scope"));
	CHECK(unattributed("/system.slice/" ID ".scope"));
	CHECK(unattributed("/system.slice/Docker-" ID ".scope"));
	CHECK(unattributed("/system.slice/docker_" ID ".scope"));
	/* non-hex, uppercase */
	CHECK(unattributed(
		"/docker/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg"));
	upper[8 + 10] = 'A';
	CHECK(unattributed(upper));
	/* pod UIDs: too short, too long, uppercase, mixed separators, bad places */
	CHECK(unattributed("/kubepods/pod8b7a2c3e-1f4d-4e5a-9b6c-7d8e9f0a1b2"));
	CHECK(unattributed("/kubepods/pod" UID "0"));
	CHECK(unattributed("/kubepods/pod8B7A2C3E-1F4D-4E5A-9B6C-7D8E9F0A1B2C"));
	CHECK(unattributed("/kubepods/pod8b7a2c3e-1f4d_4e5a-9b6c-7d8e9f0a1b2c"));
	CHECK(unattributed("/kubepods/pod8b7a2c3e1-f4d-4e5a-9b6c-7d8e9f0a1b2c"));
	CHECK(unattributed("/kubepods/pod"));
	CHECK(unattributed("/kubepods/pod6a1bd3c6e0f7d9b2a4c5e8f1d2c3b4a"));
	CHECK(unattributed(
		"/kubepods.slice/kubepods-pod8b7a2c3e_1f4d_4e5a_9b6c_7d8e9f0a1b2.slice"));
	CHECK(unattributed("/kubepods.slice/pod" UID_ ".slice"));
	CHECK(unattributed("/kubepods.slice/kubepods-pod" UID_ ".slic"));
	CHECK(unattributed("/kubepods.slice/kubepods-xpod" UID_ ".slice"));
	CHECK(unattributed("/kubepods/xpod" UID));
	/* a bad id under a good pod: the pod only */
	CHECK(attributed("/kubepods/pod" UID "/" ID "0", "", UID));
}

TEST(cgroup_huge_paths)
{
	size_t n = 200000, i;
	char *p = malloc(n + sizeof("/kubepods/pod" UID "/" ID));

	CHECK(p != NULL);
	if (!p)
		return;
	for (i = 0; i < n; i += 2)
		memcpy(p + i, "/a", 2);
	memcpy(p + n, "/kubepods/pod" UID "/" ID, sizeof("/kubepods/pod" UID "/" ID));
	CHECK(attributed(p, ID, UID));
	p[n] = '\0';
	CHECK(unattributed(p));
	/* one huge component of hex */
	memset(p, 'a', n);
	p[0] = '/';
	CHECK(unattributed(p));
	free(p);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

static void make_dir(const char *dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	CHECK(!mkdir(path, 0755));
}

static void remove_tree(const char *root)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CHECK(!system(cmd));
}

TEST(cgroup_of_pid_fake_proc)
{
	char root[] = "/tmp/tw-unit-cgprocXXXXXX", big[1024];
	const char *saved = procfs_root;
	struct tw_container c;
	size_t i;

	CHECK(mkdtemp(root) != NULL);
	make_dir(root, "10");
	write_file(root, "10/cgroup",
		   "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
		   ".slice/cri-containerd-" ID ".scope\n");
	/* hybrid: v2 has only containerd's service; v1 knows the container */
	make_dir(root, "11");
	write_file(root, "11/cgroup",
		   "10:pids:/kubepods/besteffort/pod" UID "/" ID "\n"
		   "1:name=systemd:/kubepods/besteffort/pod" UID "/" ID "\n"
		   "0::/system.slice/containerd.service\n");
	make_dir(root, "12");
	write_file(root, "12/cgroup", "0::/user.slice/user-0.slice/session-1.scope\n");
	/* a path longer than c.cgroup: no cgroup label, but still attributed */
	make_dir(root, "13");
	snprintf(big, sizeof(big), "0::");
	for (i = 3; i < 700; i += 2) {
		big[i] = '/';
		big[i + 1] = 'a';
	}
	snprintf(big + i, sizeof(big) - i, "/docker/" ID "\n");
	write_file(root, "13/cgroup", big);
	make_dir(root, "14");
	write_file(root, "14/cgroup", "");

	procfs_root = root;
	memset(&c, 'x', sizeof(c));
	CHECK(!cgroup_of_pid(10, &c));
	CHECK(!strcmp(c.cgroup,
		      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
		      ".slice/cri-containerd-" ID ".scope"));
	CHECK(!strcmp(c.container_id, ID) && !strcmp(c.pod_uid, UID));
	CHECK(!c.pod[0] && !c.namespace[0] && !c.container[0]);

	CHECK(!cgroup_of_pid(11, &c));
	CHECK(!strcmp(c.cgroup, "/system.slice/containerd.service"));
	CHECK(!strcmp(c.container_id, ID) && !strcmp(c.pod_uid, UID));

	CHECK(!cgroup_of_pid(12, &c));
	CHECK(!strcmp(c.cgroup, "/user.slice/user-0.slice/session-1.scope"));
	CHECK(!c.container_id[0] && !c.pod_uid[0]);

	CHECK(!cgroup_of_pid(13, &c));
	CHECK(!c.cgroup[0] && !strcmp(c.container_id, ID) && !c.pod_uid[0]);

	CHECK(!cgroup_of_pid(14, &c));
	CHECK(!c.cgroup[0] && !c.container_id[0]);

	CHECK(cgroup_of_pid(99, &c) == -ENOENT);
	procfs_root = saved;
	remove_tree(root);
}

/* A fresh container with the ids set, as cgroup_of_pid leaves it. */
static struct tw_container ids(const char *id, const char *uid)
{
	struct tw_container c;

	memset(&c, 0, sizeof(c));
	snprintf(c.container_id, sizeof(c.container_id), "%s", id);
	snprintf(c.pod_uid, sizeof(c.pod_uid), "%s", uid);
	return c;
}

static bool names(const struct tw_container *c, const char *pod, const char *ns,
		  const char *container)
{
	if (!strcmp(c->pod, pod) && !strcmp(c->namespace, ns) && !strcmp(c->container, container))
		return true;
	fprintf(stderr, "  pod \"%s\" namespace \"%s\" container \"%s\"\n", c->pod, c->namespace,
		c->container);
	return false;
}

TEST(pods_lookup_log_layout)
{
	char root[] = "/tmp/tw-unit-podsXXXXXX", pods[128], ctrs[128], target[512], link[512];
	struct tw_container c;

	CHECK(mkdtemp(root) != NULL);
	snprintf(pods, sizeof(pods), "%s/pods", root);
	snprintf(ctrs, sizeof(ctrs), "%s/containers", root);
	CHECK(!mkdir(pods, 0755) && !mkdir(ctrs, 0755));
	/* a two-container pod with dots and dashes in its name, a dashed namespace */
	make_dir(pods, "kube-system_coredns-5d78c9869d-x7.k2_" UID);
	make_dir(pods, "kube-system_coredns-5d78c9869d-x7.k2_" UID "/coredns");
	make_dir(pods, "kube-system_coredns-5d78c9869d-x7.k2_" UID "/log-shipper");
	write_file(pods, "kube-system_coredns-5d78c9869d-x7.k2_" UID "/coredns/0.log", "");
	snprintf(target, sizeof(target),
		 "%s/kube-system_coredns-5d78c9869d-x7.k2_" UID "/coredns/0.log", pods);
	snprintf(link, sizeof(link), "%s/coredns-5d78c9869d-x7.k2_kube-system_coredns-" ID ".log",
		 ctrs);
	CHECK(!symlink(target, link));
	/* a one-container static pod; its container has no symlink */
	make_dir(pods, "kube-system_etcd-node-1_" STATIC_UID);
	make_dir(pods, "kube-system_etcd-node-1_" STATIC_UID "/etcd");
	write_file(pods, "kube-system_etcd-node-1_" STATIC_UID "/0.log", ""); /* not a dir */
	/* a pod whose only directory is no container's: no guess */
	make_dir(pods, "ns-1_odd_" UID3);
	make_dir(pods, "ns-1_odd_" UID3 "/Not_A_Name");
	/* noise: a look-alike with a longer uid, a malformed name, a dangling symlink */
	make_dir(pods, "default_web_" UID "0");
	make_dir(pods, "bad_" STATIC_UID);
	snprintf(link, sizeof(link), "%s/web_default_nginx-" ID2 ".log", ctrs);
	CHECK(!symlink("/nonexistent", link));
	write_file(ctrs, "x_y-" ID ".log", "");

	/* both layouts */
	c = ids(ID, UID);
	CHECK(!pods_lookup(pods, ctrs, &c) &&
	      names(&c, "coredns-5d78c9869d-x7.k2", "kube-system", "coredns"));
	/* no containers dir, two containers: no guess */
	c = ids(ID, UID);
	CHECK(!pods_lookup(pods, NULL, &c) &&
	      names(&c, "coredns-5d78c9869d-x7.k2", "kube-system", ""));
	/* the pod's sandbox (no container id): pod and namespace only */
	c = ids("", UID);
	CHECK(!pods_lookup(pods, ctrs, &c) &&
	      names(&c, "coredns-5d78c9869d-x7.k2", "kube-system", ""));
	/* the only container of a pod; ID2's symlink names another pod, so it is not trusted */
	c = ids(ID2, STATIC_UID);
	CHECK(!pods_lookup(pods, ctrs, &c) && names(&c, "etcd-node-1", "kube-system", "etcd"));
	c = ids("", STATIC_UID);
	CHECK(!pods_lookup(pods, ctrs, &c) && names(&c, "etcd-node-1", "kube-system", ""));
	c = ids("1111111111111111111111111111111111111111111111111111111111111111", STATIC_UID);
	CHECK(!pods_lookup(pods, ctrs, &c) && names(&c, "etcd-node-1", "kube-system", "etcd"));
	c = ids(ID2, UID3);
	CHECK(!pods_lookup(pods, NULL, &c) && names(&c, "odd", "ns-1", ""));
	/* no pods dir: everything from the symlink */
	c = ids(ID, "");
	CHECK(!pods_lookup(NULL, ctrs, &c) &&
	      names(&c, "coredns-5d78c9869d-x7.k2", "kube-system", "coredns"));
	c = ids(ID, UID);
	CHECK(!pods_lookup("/nonexistent/pods", ctrs, &c) &&
	      names(&c, "coredns-5d78c9869d-x7.k2", "kube-system", "coredns"));
	/* nothing to find */
	c = ids(ID, UID);
	CHECK(pods_lookup(NULL, NULL, &c) == -ENOENT && names(&c, "", "", ""));
	c = ids(ID, UID);
	CHECK(pods_lookup("/nonexistent/pods", "/nonexistent/containers", &c) == -ENOENT);
	c = ids("", "");
	CHECK(pods_lookup(pods, ctrs, &c) == -ENOENT && names(&c, "", "", ""));
	c = ids("2222222222222222222222222222222222222222222222222222222222222222",
		"00000000-0000-0000-0000-000000000000");
	CHECK(pods_lookup(pods, ctrs, &c) == -ENOENT && names(&c, "", "", ""));
	/* a uid that is a suffix of another entry's */
	c = ids("", "7a2c3e-1f4d-4e5a-9b6c-7d8e9f0a1b2c");
	CHECK(pods_lookup(pods, ctrs, &c) == -ENOENT);
	remove_tree(root);
}
