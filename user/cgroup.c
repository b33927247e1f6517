// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cgroup.h"
#include "procfs.h"

#define ID_HEX 64
#define UID_DASHED 36
#define UID_STATIC 32 /* a static pod's UID: an md5 in hex, no dashes */

/* One line of /proc/PID/cgroup: "hierarchy-ID:controller-list:cgroup-path". */
struct cg_line {
	const char *ctrl, *path;
	size_t ctrl_len, path_len;
	bool v2;
};

/* The next well-formed line from *pos on; false at the end of buf. */
static bool next_line(const char *buf, size_t len, size_t *pos, struct cg_line *l)
{
	static const char deleted[] = " (deleted)";
	const size_t dlen = sizeof(deleted) - 1;

	while (*pos < len) {
		const char *p = buf + *pos, *end = buf + len;
		const char *nl = memchr(p, '\n', end - p);
		const char *eol = nl ? nl : end;
		const char *c2;
		size_t i = 0;

		*pos = nl ? (size_t)(nl - buf) + 1 : len;
		while (p + i < eol && p[i] >= '0' && p[i] <= '9')
			i++;
		if (!i || p + i >= eol || p[i] != ':')
			continue;
		c2 = memchr(p + i + 1, ':', eol - (p + i + 1));
		if (!c2)
			continue;
		l->ctrl = p + i + 1;
		l->ctrl_len = c2 - l->ctrl;
		l->path = c2 + 1;
		l->path_len = eol - l->path;
		if (l->path_len > dlen && !memcmp(l->path + l->path_len - dlen, deleted, dlen))
			l->path_len -= dlen;
		if (!l->path_len || l->path[0] != '/' || memchr(l->path, '\0', l->path_len))
			continue;
		l->v2 = i == 1 && p[0] == '0' && !l->ctrl_len;
		return true;
	}
	return false;
}

/* Whether a comma-separated controller list holds name. */
static bool has_ctrl(const struct cg_line *l, const char *name)
{
	const char *p = l->ctrl, *end = l->ctrl + l->ctrl_len;
	size_t n = strlen(name);

	while (p < end) {
		const char *comma = memchr(p, ',', end - p);
		size_t tlen = comma ? (size_t)(comma - p) : (size_t)(end - p);

		if (tlen == n && !memcmp(p, name, n))
			return true;
		if (!comma)
			break;
		p = comma + 1;
	}
	return false;
}

static bool is_root(const struct cg_line *l)
{
	return l->path_len == 1;
}

int parse_proc_cgroup(const char *buf, size_t len, char *path, size_t path_len)
{
	static const char *const pref[] = { "pids", "cpu", "memory" };
	/* [0] the v2 line, [1..3] the pref controllers' lines, [4] the first v1 line; unset: NULL */
	struct cg_line found[5], l;
	const struct cg_line *pick = NULL;
	size_t pos = 0, k;

	memset(found, 0, sizeof(found));

	while (next_line(buf, len, &pos, &l)) {
		if (l.v2) {
			if (!found[0].path)
				found[0] = l;
			continue;
		}
		for (k = 0; k < 3; k++)
			if (!found[k + 1].path && has_ctrl(&l, pref[k]))
				found[k + 1] = l;
		if (!found[4].path)
			found[4] = l;
	}
	for (k = 1; k < 5 && !pick; k++)
		if (found[k].path)
			pick = &found[k];
	/* hybrid hosts: the v2 hierarchy only tracks systemd's services and is often "/" */
	if (found[0].path && (!pick || !is_root(&found[0]) || is_root(pick)))
		pick = &found[0];
	if (!pick || pick->path_len >= path_len)
		return -ENOENT;
	memcpy(path, pick->path, pick->path_len);
	path[pick->path_len] = '\0';
	return 0;
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/*
 * A pod UID of n bytes at s: 8-4-4-4-12 lowercase hex with '-' or '_' (one kind throughout),
 * or 32 lowercase hex (a static pod). Written to out with dashes.
 */
static bool parse_uid(const char *s, size_t n, char out[TW_UID_LEN])
{
	if (n == UID_STATIC) {
		if (!is_hex(s, n))
			return false;
	} else if (n == UID_DASHED) {
		char sep = s[8];

		if (sep != '-' && sep != '_')
			return false;
		for (size_t i = 0; i < n; i++) {
			bool dash = i == 8 || i == 13 || i == 18 || i == 23;

			if (dash ? s[i] != sep : !is_hex(s + i, 1))
				return false;
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = s[i] == '_' ? '-' : s[i];
	out[n] = '\0';
	return true;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t m = strlen(suffix);

	return n >= m && !memcmp(s + n - m, suffix, m);
}

/* A pod's cgroup: "pod<uid>" (cgroupfs driver) or "...-pod<uid_>.slice" (systemd driver). */
static bool pod_token(const char *t, size_t n, char uid[TW_UID_LEN])
{
	static const size_t lens[] = { UID_DASHED, UID_STATIC };

	if (n > 3 && !memcmp(t, "pod", 3) && parse_uid(t + 3, n - 3, uid))
		return true;
	if (!ends_with(t, n, ".slice"))
		return false;
	n -= 6;
	for (size_t k = 0; k < 2; k++) {
		size_t u = lens[k];

		if (n >= u + 5 && !memcmp(t + n - u - 4, "-pod", 4) && parse_uid(t + n - u, u, uid))
			return true;
	}
	return false;
}

/*
 * A container's cgroup: "<64hex>" (cgroupfs driver, docker, the containerd "systemd cgroup"
 * form's last field) or "<runtime>-<64hex>[.scope]" (cri-containerd, crio, docker, libpod...).
 * CRI-O's "crio-conmon-<id>.scope" holds the runtime's monitor, not the container.
 */
static const char *id_token(const char *t, size_t n)
{
	size_t plen;

	if (n == ID_HEX)
		return is_hex(t, n) ? t : NULL;
	if (ends_with(t, n, ".scope"))
		n -= 6;
	if (n < ID_HEX + 2 || t[n - ID_HEX - 1] != '-' || !is_hex(t + n - ID_HEX, ID_HEX))
		return NULL;
	plen = n - ID_HEX - 1;
	for (size_t i = 0; i < plen; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9') || t[i] == '-'))
			return NULL;
	if (ends_with(t, plen, "conmon"))
		return NULL;
	return t + n - ID_HEX;
}

int parse_cgroup_container(const char *path, struct tw_container *c)
{
	const char *p = path, *last_id = NULL;
	bool in_pod = false;

	c->container_id[0] = '\0';
	c->pod_uid[0] = '\0';
	/* tokens: path components, and the fields of "<slice>:<runtime>:<id>" components */
	while (*p) {
		const char *t = p, *id;
		size_t n = strcspn(p, "/:");
		char uid[TW_UID_LEN];

		p += n;
		if (*p)
			p++;
		if (!n)
			continue;
		if (pod_token(t, n, uid)) {
			memcpy(c->pod_uid, uid, sizeof(uid));
			in_pod = true;
			last_id = NULL;
			continue;
		}
		id = id_token(t, n);
		if (id && !(in_pod && last_id))
			last_id = id;
	}
	if (last_id) {
		memcpy(c->container_id, last_id, ID_HEX);
		c->container_id[ID_HEX] = '\0';
	}
	return c->container_id[0] || c->pod_uid[0] ? 0 : -ENOENT;
}

int cgroup_of_pid(__u32 pid, struct tw_container *c)
{
	char fpath[64], buf[16384], cg[PATH_MAX];
	struct cg_line l;
	size_t len = 0, pos = 0;
	int fd;

	memset(c, 0, sizeof(*c));
	snprintf(fpath, sizeof(fpath), "%s/%u/cgroup", procfs_root, pid);
	fd = open(fpath, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (len < sizeof(buf)) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);

		if (n < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		if (!n)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len == sizeof(buf)) {
		/* more than fits: keep the whole lines only */
		const char *nl = memrchr(buf, '\n', len);

		len = nl ? (size_t)(nl - buf) + 1 : 0;
	}
	if (parse_proc_cgroup(buf, len, cg, sizeof(cg)))
		return 0;
	if (strlen(cg) < sizeof(c->cgroup))
		memcpy(c->cgroup, cg, strlen(cg) + 1);
	if (!parse_cgroup_container(cg, c))
		return 0;
	/* a v1 or hybrid host may name the container in another hierarchy only */
	while (next_line(buf, len, &pos, &l)) {
		if (l.path_len >= sizeof(cg))
			continue;
		memcpy(cg, l.path, l.path_len);
		cg[l.path_len] = '\0';
		if (!parse_cgroup_container(cg, c))
			break;
	}
	return 0;
}

/* A k8s object name as the log layout spells it: [a-z0-9.-], 1 to 253 bytes. */
static bool valid_name(const char *s, size_t n)
{
	if (!n || n >= TW_NAME_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		      s[i] == '-'))
			return false;
	return true;
}

static void set_name(char dst[TW_NAME_LEN], const char *s, size_t n)
{
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* "<namespace>_<pod>_<uid>" in pods_dir: fills namespace and pod; the pod dir's fd or -1. */
static int find_pod_dir(const char *pods_dir, struct tw_container *c, bool *filled)
{
	size_t ulen = strlen(c->pod_uid);
	struct dirent *de;
	int fd = -1;
	DIR *dir;

	dir = opendir(pods_dir);
	if (!dir)
		return -1;
	while (!*filled && (de = readdir(dir))) {
		const char *name = de->d_name, *us;
		size_t n = strlen(name), rest;

		if (n < ulen + 4 || name[n - ulen - 1] != '_' ||
		    strcmp(name + n - ulen, c->pod_uid) != 0)
			continue;
		rest = n - ulen - 1; /* "<namespace>_<pod>" */
		us = memchr(name, '_', rest);
		if (!us || !valid_name(name, us - name) ||
		    !valid_name(us + 1, rest - (size_t)(us + 1 - name)))
			continue;
		fd = openat(dirfd(dir), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		set_name(c->namespace, name, us - name);
		set_name(c->pod, us + 1, rest - (size_t)(us + 1 - name));
		*filled = true;
	}
	closedir(dir);
	return fd;
}

/*
 * "<pod>_<namespace>_<container>-<id>.log" in containers_dir: fills container, and pod and
 * namespace when still empty; an entry naming another pod than those is ignored.
 */
static bool find_container(const char *containers_dir, struct tw_container *c)
{
	char suffix[TW_ID_LEN + 8];
	struct dirent *de;
	bool found = false;
	size_t slen;
	DIR *dir;

	snprintf(suffix, sizeof(suffix), "-%s.log", c->container_id);
	slen = strlen(suffix);
	dir = opendir(containers_dir);
	if (!dir)
		return false;
	while (!found && (de = readdir(dir))) {
		const char *name = de->d_name, *u1, *u2;
		size_t n = strlen(name), rest;

		if (n <= slen || strcmp(name + n - slen, suffix) != 0)
			continue;
		rest = n - slen; /* "<pod>_<namespace>_<container>" */
		u1 = memchr(name, '_', rest);
		u2 = u1 ? memchr(u1 + 1, '_', rest - (size_t)(u1 + 1 - name)) : NULL;
		if (!u2 || !valid_name(name, u1 - name) || !valid_name(u1 + 1, u2 - u1 - 1) ||
		    !valid_name(u2 + 1, rest - (size_t)(u2 + 1 - name)))
			continue;
		if (!c->pod[0] && !c->namespace[0]) {
			set_name(c->pod, name, u1 - name);
			set_name(c->namespace, u1 + 1, u2 - u1 - 1);
		} else if (strlen(c->pod) != (size_t)(u1 - name) ||
			   memcmp(c->pod, name, u1 - name) != 0 ||
			   strlen(c->namespace) != (size_t)(u2 - u1 - 1) ||
			   memcmp(c->namespace, u1 + 1, u2 - u1 - 1) != 0) {
			continue; /* another pod's: the layouts disagree, trust neither */
		}
		set_name(c->container, u2 + 1, rest - (size_t)(u2 + 1 - name));
		found = true;
	}
	closedir(dir);
	return found;
}

/* The only container directory of a pod's log directory (takes fd). */
static bool only_container(int fd, struct tw_container *c)
{
	char name[TW_NAME_LEN] = { 0 };
	struct dirent *de;
	int count = 0;
	DIR *dir;

	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return false;
	}
	while (count < 2 && (de = readdir(dir))) {
		size_t n = strlen(de->d_name);
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type != DT_DIR &&
		    (de->d_type != DT_UNKNOWN ||
		     fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		     !S_ISDIR(st.st_mode)))
			continue;
		count++;
		if (valid_name(de->d_name, n))
			set_name(name, de->d_name, n);
		else
			count = 2; /* not a container's directory: do not guess */
	}
	closedir(dir);
	if (count != 1)
		return false;
	memcpy(c->container, name, sizeof(name));
	return true;
}

int pods_lookup(const char *pods_dir, const char *containers_dir, struct tw_container *c)
{
	bool filled = false, named = false;
	int pod_fd = -1;

	if (pods_dir && c->pod_uid[0])
		pod_fd = find_pod_dir(pods_dir, c, &filled);
	if (containers_dir && c->container_id[0])
		named = find_container(containers_dir, c);
	if (pod_fd >= 0) {
		/* a process in the pod's own cgroup (the sandbox) is in none of its containers */
		if (!named && c->container_id[0])
			named = only_container(pod_fd, c);
		else
			close(pod_fd);
	}
	return filled || named ? 0 : -ENOENT;
}
