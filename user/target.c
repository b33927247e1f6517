// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "parse.h"
#include "procfs.h"
#include "target.h"

#define CGROUP_DEPTH 32 /* sub-cgroups searched below --cgroup, as deep as the BPF side looks */

int target_set_single(struct tw_config *cfg, __u32 pid, const char *comm)
{
	free(cfg->pids);
	free(cfg->comms);
	cfg->pids = calloc(1, sizeof(*cfg->pids));
	cfg->comms = calloc(1, sizeof(*cfg->comms));
	if (!cfg->pids || !cfg->comms)
		return -ENOMEM;
	cfg->pids[0] = pid;
	if (comm)
		snprintf(cfg->comms[0], TASK_COMM_LEN, "%s", comm);
	cfg->npids = cfg->cap_pids = 1;
	return 0;
}

static int read_text(const char *path, char **out)
{
	FILE *f = fopen(path, "re");
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);

	if (!f || !buf) {
		int err = f ? -ENOMEM : -errno;

		if (f)
			fclose(f);
		free(buf);
		return err;
	}
	for (;;) {
		size_t k = fread(buf + n, 1, cap - n - 1, f);

		n += k;
		if (n < cap - 1)
			break;
		cap *= 2;
		char *nb = realloc(buf, cap);

		if (!nb) {
			fclose(f);
			free(buf);
			return -ENOMEM;
		}
		buf = nb;
	}
	buf[n] = '\0';
	fclose(f);
	*out = buf;
	return 0;
}

int unit_cgroup_rel(const char *unit, char *out, size_t len)
{
	const char *dot = strrchr(unit, '.');
	size_t at = 0;
	int w;

	if (!*unit || strchr(unit, '/'))
		return -EINVAL;
	if (!dot)
		w = snprintf(out, len, "system.slice/%s.service", unit);
	else if (!strcmp(dot, ".service") || !strcmp(dot, ".scope"))
		w = snprintf(out, len, "system.slice/%s", unit);
	else if (!strcmp(dot, ".slice")) {
		/* a-b-c.slice lives in a.slice/a-b.slice/a-b-c.slice */
		for (const char *d = strchr(unit, '-'); d && d < dot; d = strchr(d + 1, '-')) {
			w = snprintf(out + at, len - at, "%.*s.slice/", (int)(d - unit), unit);
			if (w < 0 || (size_t)w >= len - at)
				return -EINVAL;
			at += (size_t)w;
		}
		w = snprintf(out + at, len - at, "%s", unit);
	} else
		return -EINVAL;
	return w < 0 || (size_t)w >= len - at ? -EINVAL : 0;
}

/* Whether every comma-separated item of list is one of opts' comma-separated items. */
static bool items_in(const char *list, size_t list_len, const char *opts)
{
	const char *p = list, *end = list + list_len;

	if (!list_len)
		return false;
	while (p < end) {
		const char *c = memchr(p, ',', (size_t)(end - p));
		size_t n = c ? (size_t)(c - p) : (size_t)(end - p);
		const char *o = opts;
		bool found = false;

		while (*o && !found) {
			size_t m = strcspn(o, ",");

			found = m == n && !memcmp(o, p, n);
			o += m + (o[m] == ',');
		}
		if (!found)
			return false;
		p += n + 1;
	}
	return true;
}

int cgroup_hier_of(const char *superopts, bool v2, const char *proc_cgroup, __u32 *hier)
{
	const char *line = proc_cgroup;

	if (v2) {
		*hier = 0;
		return 0;
	}
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		const char *c1 = strchr(line, ':');
		const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		__u64 id;
		char num[16];

		if (c1 && c2 && (!nl || c2 < nl) && c1 - line < (long)sizeof(num)) {
			memcpy(num, line, (size_t)(c1 - line));
			num[c1 - line] = '\0';
			if (!parse_u64(num, 1, INT_MAX, &id) &&
			    items_in(c1 + 1, (size_t)(c2 - c1 - 1), superopts)) {
				*hier = (__u32)id;
				return 0;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	return -ENOENT;
}

struct cg_mount {
	char dir[PATH_MAX];
	char opts[256];
	bool v2;
};

/* The cgroup mounts, in /proc/self/mountinfo's order. 0 or -errno; *out freed by the caller. */
static int cgroup_mounts(struct cg_mount **out, size_t *n)
{
	char *text = NULL, *line, *save = NULL;
	size_t cap = 0;
	int err = read_text("/proc/self/mountinfo", &text);

	*out = NULL;
	*n = 0;
	if (err)
		return err;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char mnt[PATH_MAX], fstype[32], opts[256];
		const char *dash = strstr(line, " - ");

		if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
		    sscanf(dash + 3, "%31s %*s %255s", fstype, opts) != 2)
			continue;
		if (strcmp(fstype, "cgroup") != 0 && strcmp(fstype, "cgroup2") != 0)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			struct cg_mount *nm = realloc(*out, cap * sizeof(**out));

			if (!nm) {
				free(text);
				return -ENOMEM;
			}
			*out = nm;
		}
		snprintf((*out)[*n].dir, PATH_MAX, "%s", mnt);
		snprintf((*out)[*n].opts, sizeof((*out)[*n].opts), "%s", opts);
		(*out)[*n].v2 = !strcmp(fstype, "cgroup2");
		(*n)++;
	}
	free(text);
	return 0;
}

/* The mount holding an absolute, resolved path: the longest cgroup mount point above it. */
static const struct cg_mount *mount_of(const struct cg_mount *m, size_t n, const char *path)
{
	const struct cg_mount *best = NULL;

	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(m[i].dir);

		if (!strncmp(path, m[i].dir, l) && (path[l] == '/' || !path[l]) &&
		    (!best || l > strlen(best->dir)))
			best = &m[i];
	}
	return best;
}

/* --unit NAME: the first hierarchy that has its cgroup (v2, then name=systemd, then the rest). */
static int resolve_unit(struct tw_config *cfg, const struct cg_mount *m, size_t n)
{
	char rel[PATH_MAX], path[2 * PATH_MAX + 2], tried[1024] = "";
	size_t at = 0;
	struct stat st;

	if (unit_cgroup_rel(cfg->unit, rel, sizeof(rel))) {
		fprintf(stderr,
			"bpf-threadwatch: invalid --unit '%s': expected NAME, NAME.service, "
			"NAME.scope or NAME.slice\n",
			cfg->unit);
		return -EINVAL;
	}
	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < n; i++) {
			bool sd = !!strstr(m[i].opts, "name=systemd");

			if ((pass == 0) != m[i].v2 || (pass == 1 && !sd) || (pass == 2 && sd))
				continue;
			snprintf(path, sizeof(path), "%s/%s", m[i].dir, rel);
			if (strlen(path) < PATH_MAX && !stat(path, &st) && S_ISDIR(st.st_mode)) {
				cfg->cgroup_buf = strdup(path);
				if (!cfg->cgroup_buf)
					return -ENOMEM;
				cfg->cgroup = cfg->cgroup_buf;
				return 0;
			}
			int w = snprintf(tried + at, sizeof(tried) - at, "%s%s", at ? ", " : "",
					 m[i].dir);

			if (w > 0 && (size_t)w < sizeof(tried) - at)
				at += (size_t)w;
		}
	}
	fprintf(stderr,
		"bpf-threadwatch: no cgroup for unit '%s': %s is in none of the cgroup "
		"hierarchies (%s); is the unit running? (--cgroup PATH takes any cgroup)\n",
		cfg->unit, rel, n ? tried : "none mounted");
	return -ENOENT;
}

/* --cgroup PATH: a cgroup directory, its kernfs id and the id of its hierarchy. */
static int resolve_cgroup(struct tw_config *cfg)
{
	char real[PATH_MAX], procs[PATH_MAX + 16], *pc = NULL;
	const struct cg_mount *cm;
	struct cg_mount *m;
	struct stat st;
	size_t n;
	int err;

	err = cgroup_mounts(&m, &n);
	if (err) {
		fprintf(stderr, "bpf-threadwatch: cannot read /proc/self/mountinfo: %s\n",
			strerror(-err));
		return err;
	}
	if (cfg->unit) {
		err = resolve_unit(cfg, m, n);
		if (err)
			goto out;
	}
	err = -EINVAL;
	if (!realpath(cfg->cgroup, real) || stat(real, &st)) {
		fprintf(stderr, "bpf-threadwatch: invalid --cgroup '%s': %s\n", cfg->cgroup,
			strerror(errno));
		goto out;
	}
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", real);
	cm = mount_of(m, n, real);
	if (!S_ISDIR(st.st_mode) || !cm || access(procs, R_OK)) {
		fprintf(stderr,
			"bpf-threadwatch: invalid --cgroup '%s': not a cgroup directory (one with "
			"a cgroup.procs, under a cgroup mount such as /sys/fs/cgroup/pids)\n",
			cfg->cgroup);
		goto out;
	}
	cfg->cgrp_id = st.st_ino; /* a cgroup directory's inode is its kernfs id */
	err = read_text("/proc/self/cgroup", &pc);
	if (!err)
		err = cgroup_hier_of(cm->opts, cm->v2, pc, &cfg->cgrp_hier);
	if (err)
		fprintf(stderr,
			"bpf-threadwatch: --cgroup '%s': cannot tell which hierarchy %s is (%s)\n",
			cfg->cgroup, cm->dir, strerror(-err));
out:
	free(pc);
	free(m);
	return err;
}

int target_resolve(struct tw_config *cfg)
{
	__u32 tgid;
	int err;

	if (cfg->npids && !(cfg->comms = calloc(cfg->npids, sizeof(*cfg->comms))))
		return -ENOMEM;
	for (size_t i = 0; i < cfg->npids; i++) {
		err = procfs_tgid_of(cfg->pids[i], &tgid);
		if (err) {
			fprintf(stderr, "bpf-threadwatch: no process with PID %u\n", cfg->pids[i]);
			return -ESRCH;
		}
		procfs_comm(tgid, tgid, cfg->comms[i]);
		if (tgid != cfg->pids[i]) {
			fprintf(stderr,
				"bpf-threadwatch: %u is a thread of process %u: use -p %u -t %u\n",
				cfg->pids[i], tgid, tgid, cfg->pids[i]);
			return -EINVAL;
		}
	}
	if (cfg->cgroup || cfg->unit) {
		err = resolve_cgroup(cfg);
		if (err)
			return err;
	}
	if (!cfg->tid)
		return 0;
	err = procfs_tgid_of(cfg->tid, &tgid);
	if (err) {
		fprintf(stderr, "bpf-threadwatch: no thread with TID %u\n", cfg->tid);
		return -ESRCH;
	}
	if (!cfg->npids && !cfg->command)
		return target_set_single(cfg, tgid, NULL);
	for (size_t i = 0; i < cfg->npids; i++)
		if (cfg->pids[i] == tgid)
			return 0;
	fprintf(stderr, "bpf-threadwatch: thread %u belongs to process %u, not to the -p list\n",
		cfg->tid, tgid);
	return -EINVAL;
}

int target_spawn(struct tw_child *c, char **argv)
{
	int go[2], errp[2];
	char b;

	if (pipe2(go, O_CLOEXEC))
		return -errno;
	if (pipe2(errp, O_CLOEXEC)) {
		int err = -errno;

		close(go[0]);
		close(go[1]);
		return err;
	}
	c->pid = fork();
	if (c->pid < 0) {
		int err = -errno;

		close(go[0]);
		close(go[1]);
		close(errp[0]);
		close(errp[1]);
		return err;
	}
	if (c->pid == 0) {
		int e;

		close(go[1]);
		close(errp[0]);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		if (read(go[0], &b, 1) != 1)
			_exit(127); /* the tracer gave up */
		execvp(argv[0], argv);
		e = errno;
		if (write(errp[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(errp[1]);
	c->go_fd = go[1];
	c->err_fd = errp[0];
	return 0;
}

int target_release(struct tw_child *c)
{
	ssize_t n;
	int e = 0;

	if (write(c->go_fd, "g", 1) != 1)
		e = errno;
	close(c->go_fd);
	c->go_fd = -1;
	do
		n = read(c->err_fd, &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(c->err_fd);
	c->err_fd = -1;
	if (n == (ssize_t)sizeof(e)) {
		waitpid(c->pid, NULL, 0);
		return -e;
	}
	return 0;
}

void pidlist_free(struct tw_pidlist *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

bool pidlist_has(const struct tw_pidlist *l, __u32 pid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == pid)
			return true;
	return false;
}

int pidlist_add(struct tw_pidlist *l, __u32 pid)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		__u32 *nv = realloc(l->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = pid;
	return 0;
}

struct expand {
	const struct tw_config *cfg;
	struct tw_targets *t;
	struct tw_pidlist *out;
	struct tw_pidlist all; /* every process in /proc, with ppid below */
	struct tw_pidlist ppid;
};

/* A process found a target: into the bitmap and the list, once. */
static int found(struct expand *x, __u32 pid, bool follow)
{
	if (pid == (__u32)getpid())
		return 0;
	for (size_t i = 0; i < x->cfg->npids; i++)
		if (x->cfg->pids[i] == pid)
			return 0;
	if (pidlist_has(x->out, pid))
		return 0;
	if (targets_set(x->t, pid, follow))
		return 0; /* past pid_max at load: cannot be traced */
	return pidlist_add(x->out, pid);
}

static int list_proc(void *ctx, __u32 pid)
{
	struct expand *x = ctx;
	char comm[TASK_COMM_LEN] = "";
	__u32 ppid = 0;
	int err;

	if (procfs_stat(pid, &ppid, NULL))
		return 0; /* gone meanwhile */
	err = pidlist_add(&x->all, pid);
	if (!err)
		err = pidlist_add(&x->ppid, ppid);
	if (err || !x->cfg->ncomm_names || procfs_comm(pid, pid, comm))
		return err;
	for (size_t i = 0; i < x->cfg->ncomm_names; i++)
		if (!strncmp(comm, x->cfg->comm_names[i], TASK_COMM_LEN) && !procfs_is_kthread(pid))
			return found(x, pid, x->cfg->children);
	return 0;
}

/* Descendants of every followed target found so far (the list grows as we go). */
static int descendants(struct expand *x)
{
	bool more = true;
	int err;

	while (more) {
		more = false;
		for (size_t i = 0; i < x->all.n; i++) {
			__u32 pid = x->all.v[i], pp = x->ppid.v[i];

			if (pidlist_has(x->out, pid) || !targets_follows(x->t, pp))
				continue;
			for (size_t k = 0; k < x->cfg->npids; k++)
				if (x->cfg->pids[k] == pid)
					goto next;
			err = found(x, pid, true);
			if (err)
				return err;
			more = true;
next:;
		}
	}
	return 0;
}

/* Members of dir and of every cgroup below it. */
static int cgroup_members(struct expand *x, const char *dir, int depth)
{
	char path[PATH_MAX];
	struct dirent *de;
	FILE *f;
	DIR *d;
	int err = 0;
	unsigned int pid;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (!f)
		return depth ? 0 : -errno; /* a sub-cgroup removed meanwhile */
	while (!err && fscanf(f, "%u", &pid) == 1)
		err = found(x, pid, true);
	fclose(f);
	if (err || depth >= CGROUP_DEPTH || !(d = opendir(dir)))
		return err;
	while (!err && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		err = cgroup_members(x, path, depth + 1);
	}
	closedir(d);
	return err;
}

int target_expand(const struct tw_config *cfg, struct tw_targets *t, struct tw_pidlist *out)
{
	struct expand x = { .cfg = cfg, .t = t, .out = out };
	int err = 0;

	if (cfg->cgroup) {
		/*
		 * twice: a member forked between the first read and its bit being set is
		 * in the second; one forked after it, the kernel follows
		 */
		for (int pass = 0; pass < 2 && !err; pass++)
			err = cgroup_members(&x, cfg->cgroup, 0);
		if (err) {
			fprintf(stderr, "bpf-threadwatch: cannot read %s/cgroup.procs: %s\n",
				cfg->cgroup, strerror(-err));
			goto out;
		}
	}
	if (cfg->children || cfg->ncomm_names) {
		err = procfs_for_each_task(0, list_proc, &x);
		if (!err && cfg->children)
			err = descendants(&x);
		if (err)
			fprintf(stderr, "bpf-threadwatch: cannot list processes: %s\n",
				strerror(-err));
	}
out:
	pidlist_free(&x.all);
	pidlist_free(&x.ppid);
	return err;
}

bool target_gone(__u32 pid)
{
	char state = 0;

	return procfs_stat(pid, NULL, &state) || state == 'Z' || state == 'X';
}
