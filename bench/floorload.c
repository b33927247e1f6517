// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * bench/floorload [-S] [-r] OBJ: load bench/floor.bpf.c's empty programs (OBJ, built by
 * `make` into build/bench/floor.bpf.o), attach them and stay attached until SIGINT or
 * SIGTERM, then detach and exit 0. The flavour follows the agent's rule: tp_btf when the
 * kernel has BTF and they load, else raw_tp. -S leaves out sys_enter/sys_exit (the floor
 * under the agent's --no-syscalls); -r forces raw_tp.
 *
 * Prints "attached <N> programs (<flavour>)" on stdout once every program is attached
 * (bench/run.sh waits for that line); errors on stderr with a non-zero exit: 2 for usage,
 * 1 when loading or attaching failed. A benchmark tool, not a test.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#define MAX_LINKS 32

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Autoload the programs of one flavour; leave the syscall pair out with no_sys. */
static void choose(struct bpf_object *obj, bool tp_btf, bool no_sys)
{
	struct bpf_program *p;

	bpf_object__for_each_program(p, obj)
	{
		const char *sec = bpf_program__section_name(p);
		bool on = true;

		if (has_prefix(sec, "tp_btf/"))
			on = tp_btf;
		else if (has_prefix(sec, "raw_tp/"))
			on = !tp_btf;
		if (no_sys && (strcmp(sec + strcspn(sec, "/"), "/sys_enter") == 0 ||
			       strcmp(sec + strcspn(sec, "/"), "/sys_exit") == 0))
			on = false;
		bpf_program__set_autoload(p, on);
	}
}

static struct bpf_object *open_and_load(const char *path, bool tp_btf, bool no_sys, int *err)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);

	if (!obj) {
		*err = -errno;
		return NULL;
	}
	choose(obj, tp_btf, no_sys);
	*err = bpf_object__load(obj);
	if (*err) {
		bpf_object__close(obj);
		return NULL;
	}
	return obj;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level;
	(void)fmt;
	(void)args;
	return 0;
}

int main(int argc, char **argv)
{
	struct bpf_link *links[MAX_LINKS];
	struct bpf_object *obj = NULL;
	struct bpf_program *p;
	bool no_sys = false, raw = false, tp_btf;
	int opt, err = 0, n = 0, i;

	while ((opt = getopt(argc, argv, "Sr")) != -1) {
		switch (opt) {
		case 'S':
			no_sys = true;
			break;
		case 'r':
			raw = true;
			break;
		default:
			fprintf(stderr, "usage: floorload [-S] [-r] FLOOR.bpf.o\n");
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: floorload [-S] [-r] FLOOR.bpf.o\n");
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	libbpf_set_print(quiet);
	tp_btf = !raw && access("/sys/kernel/btf/vmlinux", R_OK) == 0;
	obj = open_and_load(argv[optind], tp_btf, no_sys, &err);
	if (!obj && tp_btf) {
		tp_btf = false;
		obj = open_and_load(argv[optind], tp_btf, no_sys, &err);
	}
	if (!obj) {
		fprintf(stderr, "floorload: loading %s failed: %s (root? BPF enabled?)\n",
			argv[optind], strerror(-err));
		return 1;
	}
	bpf_object__for_each_program(p, obj)
	{
		if (!bpf_program__autoload(p))
			continue;
		if (n == MAX_LINKS) {
			fprintf(stderr, "floorload: more than %d programs\n", MAX_LINKS);
			err = -E2BIG;
			goto cleanup;
		}
		links[n] = bpf_program__attach(p);
		if (!links[n]) {
			err = -errno;
			fprintf(stderr, "floorload: attaching %s (%s) failed: %s\n",
				bpf_program__name(p), bpf_program__section_name(p), strerror(-err));
			goto cleanup;
		}
		n++;
	}
	printf("attached %d programs (%s)\n", n, tp_btf ? "tp_btf" : "raw_tp");
	fflush(stdout);
	while (!stop)
		pause();
cleanup:
	for (i = 0; i < n; i++)
		bpf_link__destroy(links[i]);
	bpf_object__close(obj);
	return err ? 1 : 0;
}
