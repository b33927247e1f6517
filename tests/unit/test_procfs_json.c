// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "json.h"
#include "procfs.h"
#include "u32map.h"
#include "unit.h"

TEST(status_tgid)
{
	const char ok[] =
		"Name:\tpython3\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nNgid:\t0\n";
	const char bad[] = "Name:\tx\nTgid:\tabc\n";
	const char none[] = "Name:\tx\nPid:\t1\n";
	__u32 t = 0;

	CHECK(!parse_status_tgid(ok, strlen(ok), &t) && t == 4242);
	CHECK(parse_status_tgid(bad, strlen(bad), &t));
	CHECK(parse_status_tgid(none, strlen(none), &t));
	CHECK(parse_status_tgid("Tgid:", 5, &t));
	/* no trailing newline, and a length that cuts the number short */
	CHECK(!parse_status_tgid("Tgid:\t77", 8, &t) && t == 77);
	CHECK(!parse_status_tgid("Tgid:\t778", 8, &t) && t == 77);
}

TEST(stat_flags_with_hostile_comm)
{
	/* a comm holding ") S 1 2" must not shift the fields */
	const char s[] = "123 (evil) S 1 2) R 1 123 123 0 -1 4194560 100 0 0 0\n";
	const char k[] = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0\n";
	__u64 f = 0;

	CHECK(!parse_stat_flags(s, strlen(s), &f) && f == 4194560);
	CHECK(!parse_stat_flags(k, strlen(k), &f) && (f & 0x00200000));
	CHECK(parse_stat_flags("123 (x", 6, &f));
	CHECK(parse_stat_flags("1 (a) S 1", 9, &f));
}

TEST(comm_bytes_kept)
{
	char c[TASK_COMM_LEN];

	parse_comm("worker-1\n", 9, c);
	CHECK(!strcmp(c, "worker-1"));
	parse_comm("a-very-long-thread-name\n", 24, c);
	CHECK_EQ(strlen(c), TASK_COMM_LEN - 1);
	parse_comm("q\"\xff\n", 4, c);
	CHECK(!strcmp(c, "q\"\xff"));
	parse_comm("", 0, c);
	CHECK(!strcmp(c, ""));
}

TEST(task_ids)
{
	__u32 id;

	CHECK(parse_task_id("1234", &id) && id == 1234);
	CHECK(!parse_task_id("self", &id));
	CHECK(!parse_task_id(".", &id));
	CHECK(!parse_task_id("0", &id));
	CHECK(!parse_task_id("12a", &id));
}

static int count_ids(void *ctx, __u32 id)
{
	(*(int *)ctx) += id;
	return 0;
}

TEST(procfs_fake_tree)
{
	char root[] = "/tmp/tw-unit-procXXXXXX", path[256];
	const char *saved = procfs_root;
	char comm[TASK_COMM_LEN];
	__u32 tgid = 0;
	FILE *f;
	int sum = 0;

	CHECK(mkdtemp(root) != NULL);
	snprintf(path, sizeof(path), "%s/10", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/10/task", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/10/task/10", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/10/task/11", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/10/task/11/comm", root);
	f = fopen(path, "w");
	fputs("pool-1\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/11", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/11/status", root);
	f = fopen(path, "w");
	fputs("Name:\tpool-1\nTgid:\t10\n", f);
	fclose(f);

	procfs_root = root;
	CHECK(!procfs_tgid_of(11, &tgid) && tgid == 10);
	CHECK(procfs_tgid_of(12, &tgid) < 0);
	CHECK(!procfs_comm(10, 11, comm) && !strcmp(comm, "pool-1"));
	CHECK(procfs_comm(10, 12, comm) < 0);
	CHECK(procfs_task_exists(10, 11));
	CHECK(!procfs_task_exists(10, 12));
	CHECK(!procfs_for_each_task(10, count_ids, &sum) && sum == 21);
	CHECK(procfs_for_each_task(99, count_ids, &sum) < 0);
	procfs_root = saved;
	snprintf(path, sizeof(path), "rm -rf '%s'", root);
	CHECK(!system(path));
}

static char *json_of(void (*fn)(struct json *j, const void *arg), const void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct json j;

	json_init(&j, f);
	fn(&j, arg);
	fclose(f);
	return buf;
}

static void write_str(struct json *j, const void *arg)
{
	json_strn(j, arg, strlen(arg));
}

static void write_doc(struct json *j, const void *arg)
{
	(void)arg;
	json_obj_begin(j);
	json_ku64(j, "a", 1);
	json_key(j, "l");
	json_arr_begin(j);
	json_u64(j, 2);
	json_null(j);
	json_arr_begin(j);
	json_arr_end(j);
	json_arr_end(j);
	json_kbool(j, "b", false);
	json_kdouble(j, "d", 0.5);
	json_obj_end(j);
}

TEST(json_escapes_hostile_names)
{
	char *s;

	s = json_of(write_str, "a\"b\\c\nd\te\x01");
	CHECK(!strcmp(s, "\"a\\\"b\\\\c\\nd\\te\\u0001\""));
	free(s);
	/* invalid UTF-8 becomes U+FFFD, valid multibyte passes through */
	s = json_of(write_str, "x\xff\xc3\xa9\xe2\x82");
	CHECK(!strcmp(s, "\"x\\ufffd\xc3\xa9\\ufffd\\ufffd\""));
	free(s);
	/* overlong and surrogate encodings are invalid too */
	s = json_of(write_str, "\xc0\xaf\xed\xa0\x80");
	CHECK(!strstr(s, "\xc0") && !strstr(s, "\xed"));
	free(s);
}

TEST(json_structure)
{
	char *s = json_of(write_doc, NULL);

	CHECK(!strcmp(s, "{\"a\":1,\"l\":[2,null,[]],\"b\":false,\"d\":0.5}"));
	free(s);
}

TEST(u32map_put_get_grow)
{
	struct u32map m = {};
	__u32 v;

	CHECK(!u32map_get(&m, 1, &v));
	for (__u32 i = 1; i <= 5000; i++)
		CHECK(!u32map_put(&m, i * 7, i));
	CHECK_EQ(m.len, 5000);
	for (__u32 i = 1; i <= 5000; i++)
		CHECK(u32map_get(&m, i * 7, &v) && v == i);
	CHECK(!u32map_get(&m, 3, &v));
	CHECK(!u32map_put(&m, 7, 99));
	CHECK(u32map_get(&m, 7, &v) && v == 99);
	CHECK_EQ(m.len, 5000);
	u32map_free(&m);
}
