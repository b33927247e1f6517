// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * bench/floorload [-S|-N|-P|-O] [-r] OBJ: load bench/floor.bpf.c's empty programs (OBJ, built
 * by `make` into build/bench/floor.bpf.o), attach them and stay attached until SIGINT or
 * SIGTERM, then detach and exit 0. The flavour follows the agent's rule: tp_btf when the
 * kernel has BTF and they load, else raw_tp. -S leaves out sys_enter/sys_exit (the floor
 * under the agent's --no-syscalls); -N leaves out every syscall tracepoint, the clone ones
 * too (any syscall tracepoint sends every task's syscalls through the kernel's traced slow
 * path: -N is the floor without it); -P puts the per-syscall tracepoints of the agent's
 * timed calls (the pst_* programs: syscalls/sys_enter_read, sys_exit_read...) in their
 * place, those this kernel has (tracefs lists them); -O attaches those only (to sit next to
 * a floorload of the other hooks in one run); -r forces raw_tp.
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

#define MAX_LINKS 96

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

/* Whether tracefs has tracepoint SEC ("tracepoint/syscalls/sys_enter_read"). */
static bool tracepoint_exists(const char *sec)
{
	static const char *const roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	char path[256];

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		snprintf(path, sizeof(path), "%s/events/%s", roots[i], sec + strlen("tracepoint/"));
		if (access(path, F_OK) == 0)
			return true;
	}
	return false;
}

/*
 * Autoload the programs of one flavour; leave the raw syscall pair out with no_sys, and
 * put the per-syscall ones (pst_*) in with per_sys (those whose tracepoint exists).
 */
static void choose(struct bpf_object *obj, bool tp_btf, bool no_sys, bool no_tp, bool per_sys,
		   bool only, int *npst)
{
	struct bpf_program *p;

	*npst = 0;
	bpf_object__for_each_program(p, obj)
	{
		const char *sec = bpf_program__section_name(p);
		bool on = true;

		if (has_prefix(bpf_program__name(p), "pst_")) {
			on = per_sys && tracepoint_exists(sec);
			*npst += on;
		} else if (has_prefix(sec, "tp_btf/")) {
			on = tp_btf;
		} else if (has_prefix(sec, "raw_tp/")) {
			on = !tp_btf;
		}
		if ((no_sys || per_sys) && (strcmp(sec + strcspn(sec, "/"), "/sys_enter") == 0 ||
					    strcmp(sec + strcspn(sec, "/"), "/sys_exit") == 0))
			on = false;
		if (only && !has_prefix(bpf_program__name(p), "pst_"))
			on = false;
		if (no_tp && (has_prefix(sec, "tracepoint/syscalls/") ||
			      strcmp(sec + strcspn(sec, "/"), "/sys_enter") == 0 ||
			      strcmp(sec + strcspn(sec, "/"), "/sys_exit") == 0))
			on = false;
		bpf_program__set_autoload(p, on);
	}
}

static struct bpf_object *open_and_load(const char *path, bool tp_btf, bool no_sys, bool no_tp,
					bool per_sys, bool only, int *npst, int *err)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);

	if (!obj) {
		*err = -errno;
		return NULL;
	}
	choose(obj, tp_btf, no_sys, no_tp, per_sys, only, npst);
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
	bool no_sys = false, no_tp = false, per_sys = false, only = false, raw = false, tp_btf;
	int opt, err = 0, n = 0, npst = 0, i;

	while ((opt = getopt(argc, argv, "SNPOr")) != -1) {
		switch (opt) {
		case 'S':
			no_sys = true;
			break;
		case 'N':
			no_tp = true;
			break;
		case 'O': /* -P without the other hooks */
			only = true;
			per_sys = true;
			break;
		case 'P':
			per_sys = true;
			break;
		case 'r':
			raw = true;
			break;
		default:
			fprintf(stderr, "usage: floorload [-S|-N|-P|-O] [-r] FLOOR.bpf.o\n");
			return 2;
		}
	}
	if (optind != argc - 1 || no_sys + no_tp + per_sys > 1) {
		fprintf(stderr, "usage: floorload [-S|-N|-P|-O] [-r] FLOOR.bpf.o\n");
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	libbpf_set_print(quiet);
	tp_btf = !raw && access("/sys/kernel/btf/vmlinux", R_OK) == 0;
	obj = open_and_load(argv[optind], tp_btf, no_sys, no_tp, per_sys, only, &npst, &err);
	if (!obj && tp_btf) {
		tp_btf = false;
		obj = open_and_load(argv[optind], tp_btf, no_sys, no_tp, per_sys, only, &npst,
				    &err);
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
	if (per_sys && !npst) {
		fprintf(stderr,
			"floorload: -P: tracefs lists none of the per-syscall tracepoints\n");
		err = -ENOENT;
		goto cleanup;
	}
	if (per_sys)
		printf("attached %d programs (%s, %d of them on per-syscall tracepoints)\n", n,
		       tp_btf ? "tp_btf" : "raw_tp", npst);
	else
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
