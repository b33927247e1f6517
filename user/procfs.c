// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "parse.h"
#include "procfs.h"

const char *procfs_root = "/proc";

int parse_status_tgid(const char *buf, size_t len, __u32 *tgid)
{
	const char *p = buf, *end = buf + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		size_t llen = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (llen > 5 && !memcmp(p, "Tgid:", 5)) {
			char num[16];
			size_t i = 5, n = 0;
			__u64 v;

			while (i < llen && (p[i] == '\t' || p[i] == ' '))
				i++;
			while (i < llen && n < sizeof(num) - 1)
				num[n++] = p[i++];
			num[n] = '\0';
			if (i != llen || parse_u64(num, 1, 0xffffffffu, &v))
				return -ENOENT;
			*tgid = (__u32)v;
			return 0;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return -ENOENT;
}

int parse_stat_flags(const char *buf, size_t len, __u64 *flags)
{
	return parse_stat_field(buf, len, 9, flags);
}

int parse_stat_field(const char *buf, size_t len, int want, __u64 *out)
{
	const char *p = NULL, *end = buf + len;
	int field = 2; /* the field that ends at the last ')' */

	for (const char *q = buf; q < end; q++)
		if (*q == ')')
			p = q;
	if (!p)
		return -ENOENT;
	p++;
	while (p < end) {
		while (p < end && *p == ' ')
			p++;
		if (p >= end)
			break;
		field++;
		if (field == want) {
			char num[24];
			size_t n = 0;

			while (p < end && *p != ' ' && *p != '\n' && n < sizeof(num) - 1)
				num[n++] = *p++;
			num[n] = '\0';
			if (want == 3) { /* the state, a letter: returned as is */
				bool letter = n == 1 && ((num[0] >= 'A' && num[0] <= 'Z') ||
							 (num[0] >= 'a' && num[0] <= 'z'));

				*out = letter ? (unsigned char)num[0] : 0;
				return letter ? 0 : -ENOENT;
			}
			return parse_u64(num, 0, ~0ULL, out) ? -ENOENT : 0;
		}
		while (p < end && *p != ' ')
			p++;
	}
	return -ENOENT;
}

void parse_comm(const char *buf, size_t len, char comm[TASK_COMM_LEN])
{
	size_t n = 0;

	while (n < len && n < TASK_COMM_LEN - 1 && buf[n] != '\n' && buf[n] != '\0') {
		comm[n] = buf[n];
		n++;
	}
	comm[n] = '\0';
}

bool parse_task_id(const char *name, __u32 *id)
{
	__u64 v;

	if (parse_u64(name, 1, 0xffffffffu, &v))
		return false;
	*id = (__u32)v;
	return true;
}

static int read_file(const char *path, char *buf, size_t size, size_t *len)
{
	ssize_t n;
	int fd;

	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size);
	if (n < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	close(fd);
	*len = (size_t)n;
	return 0;
}

int procfs_tgid_of(__u32 tid, __u32 *tgid)
{
	char path[64], buf[4096];
	size_t len;
	int err;

	snprintf(path, sizeof(path), "%s/%u/status", procfs_root, tid);
	err = read_file(path, buf, sizeof(buf), &len);
	if (err)
		return err;
	return parse_status_tgid(buf, len, tgid);
}

bool procfs_task_exists(__u32 tgid, __u32 tid)
{
	char path[64];

	snprintf(path, sizeof(path), "%s/%u/task/%u", procfs_root, tgid, tid);
	return access(path, F_OK) == 0;
}

bool procfs_is_kthread(__u32 pid)
{
	char path[64], buf[1024];
	__u64 flags;
	size_t len;

	snprintf(path, sizeof(path), "%s/%u/stat", procfs_root, pid);
	if (read_file(path, buf, sizeof(buf), &len) || parse_stat_flags(buf, len, &flags))
		return false;
	return flags & 0x00200000; /* PF_KTHREAD */
}

int procfs_stat(__u32 pid, __u32 *ppid, char *state)
{
	char path[64], buf[1024];
	__u64 v;
	size_t len;

	snprintf(path, sizeof(path), "%s/%u/stat", procfs_root, pid);
	if (read_file(path, buf, sizeof(buf), &len))
		return -ENOENT;
	if (state) {
		if (parse_stat_field(buf, len, 3, &v))
			return -ENOENT;
		*state = (char)v;
	}
	if (ppid) {
		if (parse_stat_field(buf, len, 4, &v))
			return -ENOENT;
		*ppid = (__u32)v;
	}
	return 0;
}

int procfs_comm(__u32 tgid, __u32 tid, char comm[TASK_COMM_LEN])
{
	char path[64], buf[64];
	size_t len;
	int err;

	snprintf(path, sizeof(path), "%s/%u/task/%u/comm", procfs_root, tgid, tid);
	err = read_file(path, buf, sizeof(buf), &len);
	if (err)
		return err;
	parse_comm(buf, len, comm);
	return 0;
}

int procfs_for_each_task(__u32 tgid, int (*fn)(void *ctx, __u32 id), void *ctx)
{
	char path[64];
	struct dirent *de;
	int err = 0;
	DIR *dir;

	if (tgid)
		snprintf(path, sizeof(path), "%s/%u/task", procfs_root, tgid);
	else
		snprintf(path, sizeof(path), "%s", procfs_root);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while (!err && (de = readdir(dir))) {
		__u32 id;

		if (parse_task_id(de->d_name, &id))
			err = fn(ctx, id);
	}
	closedir(dir);
	return err;
}

char parse_stat_state(const char *buf, size_t len)
{
	const char *p = NULL;

	for (size_t i = 0; i < len; i++)
		if (buf[i] == ')')
			p = buf + i;
	/* "PID (COMM) S ...": the comm may hold anything, the last ')' ends it */
	if (!p || (size_t)(p - buf) + 2 >= len || p[1] != ' ')
		return 0;
	return p[2] >= 'A' && p[2] <= 'z' ? p[2] : 0;
}

static int parse_long(const char **p, const char *end, long *v)
{
	char num[32], *e;
	size_t n = 0;

	while (*p < end && **p == ' ')
		(*p)++;
	while (*p < end && **p != ' ' && **p != '\n' && n < sizeof(num) - 1)
		num[n++] = *(*p)++;
	num[n] = '\0';
	if (!n)
		return -1;
	errno = 0;
	*v = strtol(num, &e, 0);
	if (errno == ERANGE && num[0] == '0')
		*v = (long)strtoul(num, &e, 0); /* an argument: any 64-bit value */
	return *e || (errno && num[0] != '0') ? -1 : 0;
}

int parse_syscall_line(const char *buf, size_t len, long *nr, long *arg1, long *arg2)
{
	const char *p = buf, *end = buf + len;

	if (len >= 7 && !memcmp(buf, "running", 7))
		return 0;
	if (parse_long(&p, end, nr))
		return -1;
	if (*nr < 0)
		return 0;
	if (parse_long(&p, end, arg1) || parse_long(&p, end, arg2))
		return -1;
	return 1;
}
