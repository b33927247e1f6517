// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * bpf-threadwatch daemon: every process on the node, served as Prometheus
 * metrics over HTTP (libmicrohttpd), with stalls and thread-creation failure
 * bursts logged as JSON lines. The same BPF object, collector and model as
 * the CLI; the model is pruned so memory stays bounded on a long run.
 *
 * One thread owns the model: it reads events and harvests the dead once a
 * second, and refreshes the model from the maps and renders /metrics only
 * when a scrape needs it. libmicrohttpd's thread serves the last rendering
 * while it is younger than --refresh; an older one it asks the measuring
 * thread for, and waits. So scrapes never touch the model, a node nobody
 * scrapes costs little more than reading its events, and any number of
 * scrapers within one --refresh cost one rendering.
 */
#include <argp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <microhttpd.h>
#include "attach.h"
#include "cgroup.h"
#include "cli.h"
#include "clock.h"
#include "collect.h"
#include "daemon.h"
#include "json.h"
#include "loader.h"
#include "model.h"
#include "parse.h"
#include "poller.h"
#include "pprofd.h"
#include "procfs.h"
#include "prom.h"
#include "report.h"
#include "stacks.h"
#include "view.h"

/* The measuring loop passes at least this often: events read, the dead harvested. */
#define PASS_NS 1000000000ULL
/*
 * Without scrapes, the model is still refreshed every --refresh clamped to
 * this range: the kernel's 32-bit histogram counts must be folded at least
 * every TW_FOLD_EVERY_NS, thread creation failures are logged at refreshes,
 * and the model is pruned then.
 */
#define IDLE_REFRESH_MIN_NS (30 * 1000000000ULL)
#define IDLE_REFRESH_MAX_NS (TW_FOLD_EVERY_NS - PASS_NS)
/* How long a scrape waits for a rendering before it gets the last one. */
#define SCRAPE_WAIT_NS (5 * 1000000000ULL)
#define MAX_PROGS 64
#define MAX_CONFIG_ARGS 256
#define MAX_CONNECTIONS 512

struct dopts {
	const char *listen;
	enum tw_prom_by by;
	enum tw_prom_rank rank;
	unsigned int top_k;
	__u64 refresh_ns;
	__u64 keep_exited_ns;
	const char *log_path;
	double events_per_s;
	const char *pods_dir;
	const char *containers_dir;
	const char *config;
	char **argv_keep; /* the merged arguments, which the options above point into */
	int nconfig; /* argv_keep[1..nconfig] are the config file's, allocated */
	struct tw_config cfg; /* what the loader takes: system-wide, syscalls if asked */
};

/*
 * The last rendering of /metrics, shared with libmicrohttpd's thread, and the
 * handshake of a scrape that finds it too old: the HTTP thread counts a want
 * and pokes the measuring thread, which renders and broadcasts cv.
 */
struct body {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* CLOCK_MONOTONIC */
	char *buf;
	size_t len;
	__u64 model_ns; /* CLOCK_MONOTONIC of the refresh buf shows; 0 before the first */
	__u64 alive_ns; /* the measuring loop's last pass; 0 before its first refresh */
	__u64 want, done; /* renderings asked for; the wants the measuring thread has seen */
	bool closing; /* the measuring loop has ended: nothing more will be rendered */
	int wake_fd; /* the measuring thread's poller */
	__u64 refresh_ns; /* a body younger than this is served as it is (--refresh) */
	__u64 stale_ns; /* /healthz fails when the loop's last pass is older than this */
};

struct daemon {
	struct dopts o;
	struct tw_bpf bpf;
	struct tw_model model;
	struct tw_collector col;
	struct ring_buffer *rb;
	struct tw_poller poller;
	struct MHD_Daemon *http;
	struct body body;
	struct tw_pprofd *pprof; /* /debug/pprof/offcpu */
	FILE *log;
	int stats_fd;
	struct tw_prog_stat progs[MAX_PROGS];
	double render_s;
	__u64 start_ns; /* when the measuring loop began */
	__u64 refreshed_ns; /* the model's last refresh from the maps; 0 before the first */
	__u64 refreshes, renders;
	/* event log rate limit: a token bucket */
	double tokens;
	__u64 tokens_ns;
	__u64 suppressed;
};

static volatile sig_atomic_t d_exiting, d_reopen;
/* the poller's eventfd: whichever thread a signal hits, the measuring loop wakes */
static volatile int d_wake_fd = -1;

static void on_term(int sig)
{
	(void)sig;
	d_exiting = 1;
	poller_poke(d_wake_fd);
}

static void on_hup(int sig)
{
	(void)sig;
	d_reopen = 1;
	poller_poke(d_wake_fd);
}

/* ---- options ------------------------------------------------------------ */

enum {
	D_LISTEN = 0x200,
	D_BY,
	D_TOP_K,
	D_TOP_BY,
	D_SYSCALLS,
	D_NO_SYSCALLS,
	D_STALL_MS,
	D_BLOCKED_MS,
	D_REFRESH,
	D_KEEP_EXITED,
	D_LOG,
	D_EVENTS,
	D_PODS_DIR,
	D_CONTAINERS_DIR,
	D_CONFIG,
	D_MAX_THREADS,
	D_MAX_PROCS,
	D_MAX_CALLS,
	D_MAX_LOOPS,
	D_BTF,
	D_ATTACH,
};

static const char d_doc[] =
	"Watch every process on this machine and serve Prometheus metrics on /metrics (and "
	"/healthz), with each event-loop stall and thread-creation failure burst logged as a "
	"JSON line. docs/metrics.md lists the metrics and labels. With --syscalls, "
	"/debug/pprof/offcpu?seconds=N (default 10, at most 60) answers, after N seconds, the "
	"node's off-CPU time by stack as a gzipped pprof (Pyroscope, Parca, go tool pprof); "
	"&group=KEY keeps one --by group's."
	"\v"
	"EXAMPLES:\n"
	"  sudo bpf-threadwatch daemon                           # 127.0.0.1:9464\n"
	"  sudo bpf-threadwatch daemon --listen 0.0.0.0:9464 --syscalls --by container\n"
	"  sudo bpf-threadwatch daemon --config /etc/bpf-threadwatch.conf\n"
	"  curl -s 127.0.0.1:9464/metrics | grep threadwatch_threads\n"
	"  go tool pprof -top 'http://127.0.0.1:9464/debug/pprof/offcpu?seconds=30'\n"
	"\n"
	"A config file holds one long option a line, without the dashes ('top-k 20',\n"
	"'syscalls'); '#' starts a comment. Flags on the command line override it.\n"
	"SIGTERM or SIGINT: stop, detach everything, exit 0. SIGHUP: reopen --log.\n"
	"Exit status: 0 after SIGTERM, 1 runtime failure (BPF, listen socket), 2 bad usage.";

static const struct argp_option d_options[] = {
	{ "listen", D_LISTEN, "HOST:PORT", 0,
	  "Where to serve (default 127.0.0.1:9464; [::1]:9464 for IPv6)", 0 },
	{ "by", D_BY, "process|comm|container|cgroup", 0, "Series per group (default process)", 0 },
	{ "top-k", D_TOP_K, "N", 0,
	  "Groups with series of their own; the rest go to 'other' "
	  "(default 50)",
	  0 },
	{ "top-by", D_TOP_BY, "threads|offcpu", 0, "How the top-K are chosen (default threads)",
	  0 },
	{ "syscalls", D_SYSCALLS, NULL, 0,
	  "Trace syscalls: blocking call latency, event loops and stalls, and the off-CPU "
	  "profile on /debug/pprof/offcpu (costs every process some: docs/performance.md)",
	  0 },
	{ "no-syscalls", D_NO_SYSCALLS, NULL, 0, "Do not trace syscalls (the default)", 0 },
	{ "stall-ms", D_STALL_MS, "MS", 0, "A loop gap this long is a stall (default 100)", 0 },
	{ "blocked-ms", D_BLOCKED_MS, "MS", 0,
	  "Threads asleep this long count as blocked now (default 1000)", 0 },
	{ "refresh", D_REFRESH, "SECONDS", 0,
	  "How old /metrics may be: a scrape gets a new rendering when the last is this old "
	  "(default 1)",
	  0 },
	{ "keep-exited", D_KEEP_EXITED, "SECONDS", 0,
	  "How long an exited process keeps its series (default 300)", 0 },
	{ "log", D_LOG, "FILE", 0, "Event log (default stdout); SIGHUP reopens it", 0 },
	{ "events-per-s", D_EVENTS, "N", 0,
	  "Event log lines a second, bursts up to 10x (default 10; 0: none)", 0 },
	{ "pods-dir", D_PODS_DIR, "DIR", 0, "Kubelet pod logs, for pod names (/var/log/pods)", 0 },
	{ "containers-dir", D_CONTAINERS_DIR, "DIR", 0,
	  "Container log links, for container names (/var/log/containers)", 0 },
	{ "config", D_CONFIG, "FILE", 0, "Read options from FILE first", 0 },
	{ "max-threads", D_MAX_THREADS, "N", 0, "Live threads tracked (default 16384)", 0 },
	{ "max-procs", D_MAX_PROCS, "N", 0, "Live processes tracked (default 4096)", 0 },
	{ "max-calls", D_MAX_CALLS, "N", 0, "(thread, call) pairs tracked (default 65536)", 0 },
	{ "max-loops", D_MAX_LOOPS, "N", 0, "Event-loop threads tracked (default 16384)", 0 },
	{ "btf", D_BTF, "FILE", 0, "Kernel BTF when /sys/kernel/btf/vmlinux is missing", 0 },
	{ "attach-mode", D_ATTACH, "auto|tp_btf|raw_tp", 0, "Tracepoint flavour (default auto)",
	  0 },
	{ "verbose", 'v', NULL, 0, "Print libbpf's debug output", 0 },
	{},
};

static __u64 d_num(struct argp_state *st, const char *name, const char *arg, __u64 min, __u64 max)
{
	__u64 v;

	if (parse_u64(arg, min, max, &v))
		argp_error(st, "invalid %s '%s': expected a whole number from %llu to %llu", name,
			   arg, (unsigned long long)min, (unsigned long long)max);
	return v;
}

static __u64 d_secs(struct argp_state *st, const char *name, const char *arg, double min,
		    double max)
{
	__u64 ns;

	if (parse_seconds(arg, max, &ns) || ns < (__u64)(min * 1e9))
		argp_error(st, "invalid %s '%s': expected seconds between %g and %g", name, arg,
			   min, max);
	return ns;
}

/* "HOST:PORT" or "[V6]:PORT", numeric. 0 or -EINVAL. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon;
	__u64 port;
	size_t hl;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		hl = (size_t)(end - s - 1);
		colon = end + 1;
		s++;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host) || parse_u64(colon + 1, 1, 65535, &port))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
		*len = sizeof(struct sockaddr_in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
		*len = sizeof(struct sockaddr_in6);
		return 0;
	}
	return -EINVAL;
}

/* in enum tw_prom_by's and enum tw_prom_rank's orders */
static const char *const by_names[4] = { "process", "comm", "container", "cgroup" };
static const char *const rank_names[2] = { "threads", "offcpu" };

static error_t d_parse(int key, char *arg, struct argp_state *st)
{
	struct dopts *o = st->input;
	struct sockaddr_storage ss;
	socklen_t sl;
	int err;

	switch (key) {
	case D_LISTEN:
		if (parse_listen(arg, &ss, &sl))
			argp_error(st,
				   "invalid --listen '%s': expected HOST:PORT with a numeric "
				   "address, e.g. 127.0.0.1:9464, 0.0.0.0:9464 or [::1]:9464",
				   arg);
		o->listen = arg;
		break;
	case D_BY:
		err = parse_choice(arg, by_names, 4);
		if (err < 0)
			argp_error(st,
				   "invalid --by '%s': expected process, comm, container or cgroup",
				   arg);
		o->by = (enum tw_prom_by)err;
		break;
	case D_TOP_K:
		o->top_k = (unsigned int)d_num(st, "--top-k", arg, 1, 100000);
		break;
	case D_TOP_BY:
		err = parse_choice(arg, rank_names, 2);
		if (err < 0)
			argp_error(st, "invalid --top-by '%s': expected threads or offcpu", arg);
		o->rank = (enum tw_prom_rank)err;
		break;
	case D_SYSCALLS:
	case D_NO_SYSCALLS:
		o->cfg.syscalls = key == D_SYSCALLS;
		break;
	case D_STALL_MS:
		o->cfg.stall_ns = d_num(st, "--stall-ms", arg, 1, 3600000) * 1000000ULL;
		break;
	case D_BLOCKED_MS:
		o->cfg.blocked_ns = d_num(st, "--blocked-ms", arg, 1, 3600000) * 1000000ULL;
		break;
	case D_REFRESH:
		o->refresh_ns = d_secs(st, "--refresh", arg, 0.1, 3600);
		break;
	case D_KEEP_EXITED:
		o->keep_exited_ns = d_secs(st, "--keep-exited", arg, 0, 7 * 86400);
		break;
	case D_LOG:
		o->log_path = arg;
		break;
	case D_EVENTS:
		o->events_per_s = (double)d_num(st, "--events-per-s", arg, 0, 100000);
		break;
	case D_PODS_DIR:
		o->pods_dir = arg;
		break;
	case D_CONTAINERS_DIR:
		o->containers_dir = arg;
		break;
	case D_CONFIG:
		break; /* read before the command line (daemon_main) */
	case D_MAX_THREADS:
		o->cfg.max_threads = (__u32)d_num(st, "--max-threads", arg, 64, 4194304);
		break;
	case D_MAX_PROCS:
		o->cfg.max_procs = (__u32)d_num(st, "--max-procs", arg, 16, 4194304);
		break;
	case D_MAX_CALLS:
		o->cfg.max_calls = (__u32)d_num(st, "--max-calls", arg, 64, 4194304);
		break;
	case D_MAX_LOOPS:
		o->cfg.max_loops = (__u32)d_num(st, "--max-loops", arg, 16, 4194304);
		break;
	case D_BTF:
		o->cfg.btf_path = arg;
		break;
	case D_ATTACH:
		err = parse_choice(arg, tw_attach_names, 3);
		if (err < 0)
			argp_error(st,
				   "invalid --attach-mode '%s': expected auto, tp_btf or raw_tp",
				   arg);
		o->cfg.attach_mode = (enum tw_attach_mode)err;
		break;
	case 'v':
		o->cfg.verbose = true;
		break;
	case ARGP_KEY_ARG:
		argp_error(st, "unexpected argument '%s' (the daemon takes options only)", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static void defaults(struct dopts *o)
{
	memset(o, 0, sizeof(*o));
	o->listen = "127.0.0.1:9464";
	o->top_k = 50;
	o->refresh_ns = 1000000000ULL;
	o->keep_exited_ns = 300 * 1000000000ULL;
	o->events_per_s = 10;
	o->pods_dir = "/var/log/pods";
	o->containers_dir = "/var/log/containers";
	o->cfg.stall_ns = 100 * 1000000ULL;
	o->cfg.blocked_ns = 1000 * 1000000ULL;
	o->cfg.max_stalls = 0; /* logged as they come, never kept */
	/*
	 * A whole node with --syscalls: 10,000 threads use 2-6 calls each (the
	 * timed ones, and any other they slept in: mmap, openat, fsync...) and
	 * thousands may poll (the CLI's 16,384 and 4,096 are for a few targets)
	 */
	o->cfg.max_calls = 65536;
	o->cfg.max_loops = 16384;
	/*
	 * 1 MiB of events (~18,000): read every second, the reader woken past a
	 * quarter; the mapping is resident twice, so 4 MiB would cost 8 MB of RSS
	 */
	o->cfg.ringbuf_bytes = 1 << 20;
	/* with --syscalls, stacks as the CLI takes them, but only while a profile is asked for */
	o->cfg.stack_min_ns = 1000000ULL;
	o->cfg.stack_bytes = 16384;
	o->cfg.stacks_gated = true;
}

/*
 * The config file as arguments: "key value" or "key = value" becomes
 * "--key" "value", a bare "key" becomes "--key". Strings are leaked on
 * purpose: argp keeps pointers to them for the whole run.
 */
static void free_args(char **args, int n)
{
	for (int i = 0; i < n; i++)
		free(args[i]);
}

static int read_config(const char *path, char **args, int *nargs)
{
	char line[4096];
	FILE *f = fopen(path, "re");
	int n = 0, lineno = 0;

	if (!f) {
		fprintf(stderr, "bpf-threadwatch: cannot read --config '%s': %s\n", path,
			strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		char *s = line, *key, *val, *end;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			fprintf(stderr, "bpf-threadwatch: %s:%d: line too long\n", path, lineno);
			fclose(f);
			free_args(args, n);
			return -EINVAL;
		}
		if ((end = strchr(s, '#')))
			*end = '\0';
		s += strspn(s, " \t\r\n");
		end = s + strlen(s);
		while (end > s && strchr(" \t\r\n", end[-1]))
			*--end = '\0';
		if (!*s)
			continue;
		key = s;
		s += strcspn(s, " \t=");
		val = s + strspn(s, " \t=");
		*s = '\0';
		if (n + 2 > MAX_CONFIG_ARGS) {
			fprintf(stderr, "bpf-threadwatch: %s: too many options\n", path);
			fclose(f);
			free_args(args, n);
			return -E2BIG;
		}
		if (asprintf(&args[n], "--%s", key) < 0) {
			fclose(f);
			free_args(args, n);
			return -ENOMEM;
		}
		n++;
		if (*val && !(args[n++] = strdup(val))) {
			fclose(f);
			free_args(args, n - 1);
			return -ENOMEM;
		}
	}
	fclose(f);
	*nargs = n;
	return 0;
}

/* ---- the HTTP side (libmicrohttpd's thread) ----------------------------- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, const char *type,
			     const char *buf, size_t len, bool copy)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)buf,
					    copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, "Allow", "GET, HEAD");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A string literal and its length, without the terminating NUL. */
#define LIT(s) (s), (sizeof(s) - 1)

/*
 * URLs are taken as they come: our paths are plain ASCII, and decoding %00
 * would let "/metrics%00.html" pass for "/metrics".
 */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static struct timespec mono_ts(__u64 ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / 1000000000ULL),
				  .tv_nsec = (long)(ns % 1000000000ULL) };
}

/*
 * With b->mu held: unless the body is younger than --refresh, ask the
 * measuring thread for a new one and wait until there is one (rendered from a
 * refresh no older than --refresh as of this request), the loop ends, or
 * SCRAPE_WAIT_NS pass (a stalled loop: the last body is served, /healthz says why).
 */
static void wait_fresh(struct body *b)
{
	__u64 now = mono_ns();
	struct timespec until = mono_ts(now + SCRAPE_WAIT_NS);

	if (!b->alive_ns || b->closing || (b->buf && now - b->model_ns < b->refresh_ns))
		return; /* starting, stopping, or fresh */
	b->want++;
	poller_poke(b->wake_fd);
	while (!b->closing && (!b->buf || b->model_ns + b->refresh_ns <= now))
		if (pthread_cond_timedwait(&b->cv, &b->mu, &until) == ETIMEDOUT)
			break;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_len, void **req)
{
	static const char text[] = "text/plain; charset=utf-8";
	struct daemon *d = cls;
	struct body *b = &d->body;
	enum MHD_Result ret;

	(void)version;
	(void)upload;
	(void)upload_len;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text, LIT("method not allowed\n"),
			     false);
	/* answered after its window, the connection suspended meanwhile (user/pprofd.c) */
	if (!strcmp(url, "/debug/pprof/offcpu"))
		return pprofd_request(d->pprof, conn, req);
	if (!strcmp(url, "/metrics")) {
		pthread_mutex_lock(&b->mu);
		wait_fresh(b);
		if (b->buf)
			ret = reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
				    b->buf, b->len, true);
		else
			ret = reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, text,
				    LIT("starting: no refresh yet\n"), false);
		pthread_mutex_unlock(&b->mu);
		return ret;
	}
	if (!strcmp(url, "/healthz")) {
		__u64 at;

		pthread_mutex_lock(&b->mu);
		at = b->alive_ns;
		pthread_mutex_unlock(&b->mu);
		if (at && mono_ns() - at <= b->stale_ns)
			return reply(conn, MHD_HTTP_OK, text, LIT("ok\n"), false);
		if (at)
			return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, text,
				     LIT("stale: the measuring loop stopped refreshing\n"), false);
		return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, text,
			     LIT("starting: no refresh yet\n"), false);
	}
	if (!strcmp(url, "/"))
		return reply(conn, MHD_HTTP_OK, "text/html; charset=utf-8",
			     LIT("<html><body><a href=\"/metrics\">/metrics</a> "
				 "<a href=\"/healthz\">/healthz</a></body></html>\n"),
			     false);
	return reply(conn, MHD_HTTP_NOT_FOUND, text, LIT("not found\n"), false);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	pprofd_completed(req);
}

static int http_start(struct daemon *d)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1;

	if (parse_listen(d->o.listen, &ss, &sl))
		return -EINVAL; /* checked by the parser already */
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 128)) {
		int err = errno;

		fprintf(stderr, "bpf-threadwatch: cannot listen on %s: %s\n", d->o.listen,
			strerror(err));
		if (fd >= 0)
			close(fd);
		return -err;
	}
	d->http = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL,
		NULL, on_request, d, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768, MHD_OPTION_STRICT_FOR_CLIENT,
		(int)1, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL, MHD_OPTION_END);
	if (!d->http) {
		fprintf(stderr, "bpf-threadwatch: cannot start the HTTP server on %s\n",
			d->o.listen);
		close(fd);
		return -EIO;
	}
	return 0;
}

/* ---- the event log ------------------------------------------------------- */

static bool take_token(struct daemon *d)
{
	__u64 now = mono_ns();
	double burst = d->o.events_per_s * 10;

	if (d->o.events_per_s <= 0) {
		d->suppressed++;
		return false;
	}
	d->tokens += (now - d->tokens_ns) / 1e9 * d->o.events_per_s;
	d->tokens_ns = now;
	if (d->tokens > burst)
		d->tokens = burst;
	if (d->tokens < 1) {
		d->suppressed++;
		return false;
	}
	d->tokens -= 1;
	return true;
}

/*
 * An event line: "time" is when the event happened (a stall's start, not
 * when it was flushed), with its CLOCK_MONOTONIC twin in "mono_ns" so lines
 * can be put next to the kernel's own timestamps.
 */
static void event_begin(struct json *j, FILE *f, const char *event, const struct tw_proc *p,
			const struct tw_clock *c, __u64 mono_ns)
{
	char when[TW_RFC3339_LEN];

	json_init(j, f);
	json_obj_begin(j);
	json_kstr(j, "time", fmt_rfc3339(when, sizeof(when), tw_wall_of(c, mono_ns)));
	json_ku64(j, "mono_ns", mono_ns);
	json_kstr(j, "event", event);
	json_ku64(j, "pid", p->pid);
	json_key(j, "comm");
	json_strn(j, p->comm, strnlen(p->comm, TASK_COMM_LEN));
}

static void event_end(struct json *j, FILE *f, const struct tw_proc *p)
{
	const struct tw_container *c = p->ctr;

	if (c && c->container_id[0])
		json_kstr(j, "container_id", c->container_id);
	if (c && c->pod_uid[0])
		json_kstr(j, "pod_uid", c->pod_uid);
	if (c && c->pod[0])
		json_kstr(j, "pod", c->pod);
	if (c && c->namespace[0])
		json_kstr(j, "namespace", c->namespace);
	if (c && c->container[0])
		json_kstr(j, "container", c->container);
	json_obj_end(j);
	fputc('\n', f);
	fflush(f);
}

static void log_stall(void *ctx, const struct tw_proc *p, const struct tw_thread *t,
		      const struct tw_stall *e)
{
	static const char *const causes[3] = { "oncpu", "blocked", "runq" };
	struct daemon *d = ctx;
	struct json j;
	char buf[24];
	const char *call = sys_label(e->longest_nr, buf);

	struct tw_clock c;
	char end[TW_RFC3339_LEN];

	(void)t;
	if (!d->log || !take_token(d))
		return;
	tw_clock_now(&c);
	event_begin(&j, d->log, "stall", p, &c, e->start_ns);
	json_kstr(&j, "end_time",
		  fmt_rfc3339(end, sizeof(end), tw_wall_of(&c, e->start_ns + e->duration_ns)));
	json_ku64(&j, "tid", e->tid);
	json_kdouble(&j, "duration_s", e->duration_ns / 1e9);
	json_kstr(&j, "cause", causes[stall_cause_index(e)]);
	json_kdouble(&j, "oncpu_s", e->oncpu_ns / 1e9);
	json_kdouble(&j, "blocked_s", e->blocked_ns / 1e9);
	json_kdouble(&j, "runq_s", e->runq_ns / 1e9);
	json_ku64(&j, "syscalls", e->nsyscalls);
	json_key(&j, "longest_call");
	if (call) {
		json_obj_begin(&j);
		json_kstr(&j, "name", call);
		json_kdouble(&j, "duration_s", e->longest_ns / 1e9);
		json_obj_end(&j);
	} else {
		json_null(&j);
	}
	event_end(&j, d->log, p);
}

/* Thread creation failures since the last line, one line per process that had some. */
static void log_failures(struct daemon *d, double window_s)
{
	for (size_t i = 0; i < d->model.nprocs; i++) {
		struct tw_proc *p = d->model.procs[i];
		__u64 delta[TW_FAIL_NR], total = 0;
		struct tw_clock c;
		struct json j;

		for (int e = 0; e < TW_FAIL_NR; e++) {
			delta[e] = p->tot.thread_fail[e] - p->fail_logged[e];
			total += delta[e];
		}
		if (!total)
			continue;
		memcpy(p->fail_logged, p->tot.thread_fail, sizeof(p->fail_logged));
		if (!d->log || !take_token(d))
			continue;
		tw_clock_now(&c);
		/* counted over the window that ends now: its time is now */
		event_begin(&j, d->log, "thread_create_failures", p, &c, c.mono_ns);
		json_ku64(&j, "count", total);
		json_key(&j, "errno");
		json_obj_begin(&j);
		for (int e = 0; e < TW_FAIL_NR; e++)
			json_ku64(&j, tw_fail_names[e], delta[e]);
		json_obj_end(&j);
		json_kdouble(&j, "window_s", window_s);
		event_end(&j, d->log, p);
	}
}

static int open_log(struct daemon *d)
{
	FILE *f;

	if (!d->o.log_path) {
		d->log = stdout;
		return 0;
	}
	f = fopen(d->o.log_path, "ae");
	if (!f) {
		fprintf(stderr, "bpf-threadwatch: cannot open --log '%s': %s\n", d->o.log_path,
			strerror(errno));
		return -errno;
	}
	if (d->log && d->log != stdout)
		fclose(d->log);
	d->log = f;
	return 0;
}

/* ---- the measuring loop --------------------------------------------------- */

/* Container and pod of the processes seen for the first time. */
static void lookup_containers(struct daemon *d)
{
	for (size_t i = 0; i < d->model.nprocs; i++) {
		struct tw_proc *p = d->model.procs[i];

		if (p->ctr_done || p->exited)
			continue;
		p->ctr_done = true;
		/* the name after exec: its creation event carried the parent's */
		procfs_comm(p->pid, p->pid, p->comm);
		p->ctr = calloc(1, sizeof(*p->ctr));
		if (!p->ctr)
			continue;
		if (cgroup_of_pid(p->pid, p->ctr)) {
			free(p->ctr);
			p->ctr = NULL;
			continue;
		}
		if (p->ctr->container_id[0] || p->ctr->pod_uid[0])
			pods_lookup(d->o.pods_dir, d->o.containers_dir, p->ctr);
	}
}

/* /metrics from the model as of its last refresh, swapped in for the HTTP thread. */
static int render(struct daemon *d, __u64 t0)
{
	struct tw_prom_opts po = {
		.by = d->o.by,
		.rank = d->o.rank,
		.top_k = d->o.top_k,
		.syscalls = d->o.cfg.syscalls,
		.calls = d->bpf.calls,
		.blocked_ns = d->o.cfg.blocked_ns,
	};
	struct tw_agent_stats as = {
		.version = TW_VERSION,
		/* the previous rendering's; the first has none: its refresh so far */
		.render_s = d->renders ? d->render_s : (mono_ns() - t0) / 1e9,
		.refreshes = d->refreshes,
		.renders = d->renders + 1,
	};
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int err;

	if (d->stats_fd >= 0) {
		as.progs = d->progs;
		as.nprogs = tw_bpf_prog_stats(&d->bpf, d->progs, MAX_PROGS);
	}
	as.events_suppressed = d->suppressed;
	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	err = report_prom(f, &d->model, &po, &as);
	if (fclose(f) && !err)
		err = -ENOMEM;
	if (err) {
		free(buf);
		return err;
	}
	d->renders++;
	d->render_s = (mono_ns() - t0) / 1e9;
	pthread_mutex_lock(&d->body.mu);
	free(d->body.buf);
	d->body.buf = buf;
	d->body.len = len;
	d->body.model_ns = d->refreshed_ns;
	pthread_cond_broadcast(&d->body.cv);
	pthread_mutex_unlock(&d->body.mu);
	return 0;
}

/* The model from the maps: every live entry, the drop counters; failures logged. */
static int refresh(struct daemon *d, __u64 now)
{
	int err;

	ring_buffer__consume(d->rb);
	collect_harvest(&d->col, now, false);
	err = collect_refresh(&d->col, now);
	if (err)
		return err;
	lookup_containers(d);
	/* counted since the last refresh: the window of every line */
	log_failures(d, (now - (d->refreshed_ns ? d->refreshed_ns : d->start_ns)) / 1e9);
	d->refreshed_ns = now;
	d->refreshes++;
	return 0;
}

/* How often the model is refreshed when nobody scrapes (IDLE_REFRESH_*_NS). */
static __u64 idle_refresh_ns(const struct daemon *d)
{
	__u64 ns = d->o.refresh_ns;

	if (ns < IDLE_REFRESH_MIN_NS)
		ns = IDLE_REFRESH_MIN_NS;
	return ns > IDLE_REFRESH_MAX_NS ? IDLE_REFRESH_MAX_NS : ns;
}

/*
 * One pass, at least every PASS_NS and whenever poked: events read, the dead
 * harvested, new processes' containers looked up; a refresh when a scrape
 * wants a body the model is too old for (or now and then without scrapes),
 * a rendering when a scrape wants one.
 */
static int pass(struct daemon *d, __u64 now)
{
	bool want, fresh;
	int err;

	pthread_mutex_lock(&d->body.mu);
	want = d->body.want != d->body.done;
	d->body.done = d->body.want;
	/* a want that the body answers already: a render of its own raced it */
	fresh = d->body.buf && now - d->body.model_ns < d->o.refresh_ns;
	pthread_mutex_unlock(&d->body.mu);
	if (want && fresh) {
		pthread_mutex_lock(&d->body.mu);
		pthread_cond_broadcast(&d->body.cv);
		pthread_mutex_unlock(&d->body.mu);
		want = false;
	}
	collect_harvest(&d->col, now, false);
	lookup_containers(d);
	if ((want && now - d->refreshed_ns >= d->o.refresh_ns) ||
	    now - d->refreshed_ns >= idle_refresh_ns(d)) {
		err = refresh(d, now);
		if (err)
			return err;
	}
	if (want) {
		err = render(d, now);
		if (err)
			return err;
	}
	/* after rendering: what was pruned has been counted in one rendering at least */
	if (d->refreshed_ns == now || want)
		return model_prune(&d->model, now, d->o.keep_exited_ns);
	return 0;
}

static int run(struct daemon *d)
{
	__u64 next = 0, now;
	int err;

	while (!d_exiting) {
		__u64 until = pprofd_due(d->pprof, next);

		now = mono_ns();
		err = now < until ? poller_wait(&d->poller, until - now) : 0;
		if (err >= 0)
			err = ring_buffer__consume(d->rb);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "bpf-threadwatch: reading events failed: %s\n",
				strerror(-err));
			return err;
		}
		if (d->col.err)
			return d->col.err;
		if (d_exiting)
			break;
		if (d_reopen) {
			d_reopen = 0;
			if (d->o.log_path)
				open_log(d); /* on failure the old file stays */
		}
		now = mono_ns();
		if (now >= next)
			next = now + PASS_NS;
		err = pass(d, now);
		if (!err)
			err = pprofd_pass(d->pprof, now);
		if (err) {
			fprintf(stderr, "bpf-threadwatch: refresh failed: %s\n", strerror(-err));
			return err;
		}
		pthread_mutex_lock(&d->body.mu);
		d->body.alive_ns = now;
		pthread_mutex_unlock(&d->body.mu);
	}
	return 0;
}

static int parse_all(int argc, char **argv, struct dopts *o)
{
	static const struct argp argp = {
		.options = d_options,
		.parser = d_parse,
		.doc = d_doc,
	};
	char *args[MAX_CONFIG_ARGS + 1];
	char **all;
	const char *config = NULL;
	int nargs = 0, n = 0, err;

	/* --config first: the file's options come before the command line's */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			config = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			config = argv[i] + 9;
	}
	if (config) {
		err = read_config(config, args, &nargs);
		if (err)
			return err;
	}
	all = calloc((size_t)argc + (size_t)nargs + 1, sizeof(*all));
	if (!all) {
		free_args(args, nargs);
		return -ENOMEM;
	}
	all[n++] = argv[0];
	for (int i = 0; i < nargs; i++)
		all[n++] = args[i];
	for (int i = 1; i < argc; i++)
		all[n++] = argv[i];
	argp_err_exit_status = 2;
	argp_parse(&argp, n, all, 0, NULL, o);
	o->config = config;
	/* all and the config strings stay: argp's results point into them */
	o->argv_keep = all; /* NOLINT(clang-analyzer-unix.Malloc) */
	o->nconfig = nargs;
	return 0;
}

int daemon_main(int argc, char **argv)
{
	struct daemon d = { .stats_fd = -1, .poller = { .epfd = -1, .evfd = -1 } };
	pthread_condattr_t ca;
	struct sigaction term = { .sa_handler = on_term }, hup = { .sa_handler = on_hup };
	int err, status = 1;

	/* first: a SIGTERM during start-up must still end in a clean, detached exit */
	sigemptyset(&term.sa_mask);
	sigemptyset(&hup.sa_mask);
	sigaction(SIGINT, &term, NULL);
	sigaction(SIGTERM, &term, NULL);
	sigaction(SIGHUP, &hup, NULL);
	signal(SIGPIPE, SIG_IGN);
	defaults(&d.o);
	err = parse_all(argc, argv, &d.o);
	if (err)
		return 2;
	pthread_mutex_init(&d.body.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d.body.cv, &ca);
	pthread_condattr_destroy(&ca);
	d.body.wake_fd = -1;
	d.body.refresh_ns = d.o.refresh_ns;
	d.body.stale_ns = 3 * d.o.refresh_ns + 5000000000ULL;
	d.o.cfg.stacks = d.o.cfg.syscalls;
	d.pprof = pprofd_new(d.o.cfg.stacks, d.o.by);
	if (!d.pprof || open_log(&d)) {
		pprofd_free(d.pprof);
		return 1;
	}
	/* listen before loading: a taken port fails fast, with nothing attached */
	if (http_start(&d))
		goto out;
	err = tw_bpf_start(&d.bpf, &d.o.cfg);
	if (err)
		goto out;
	d.stats_fd = tw_bpf_enable_stats();
	if (d.stats_fd < 0)
		fprintf(stderr,
			"bpf-threadwatch: BPF run-time statistics unavailable (%s): "
			"threadwatch_agent_bpf_* metrics are left out\n",
			strerror(-d.stats_fd));
	model_init(&d.model, false);
	d.model.compact_loops = true;
	d.model.stall_ns = d.o.cfg.stall_ns;
	d.model.max_stalls = 0;
	d.model.on_stall = log_stall;
	d.model.on_stall_ctx = &d;
	err = collect_init(&d.col, &d.model, tw_bpf_thread_fd(&d.bpf), tw_bpf_proc_fd(&d.bpf),
			   tw_bpf_drops_fd(&d.bpf), true);
	if (err) {
		fprintf(stderr, "bpf-threadwatch: cannot set up the collector: %s\n",
			strerror(-err));
		goto out;
	}
	d.col.call_fd = tw_bpf_call_fd(&d.bpf);
	d.col.loop_fd = tw_bpf_loop_fd(&d.bpf);
	d.col.harvest_fd = tw_bpf_harvest_fd(&d.bpf);
	/* unwound in a thread of its own, into the open profile windows only */
	if (d.o.cfg.stacks && !(d.col.stacks = stacks_in_new())) {
		fprintf(stderr, "bpf-threadwatch: cannot set up the stack unwinder\n");
		goto out;
	}
	/* Python frames: a process is looked at when its first stack is read (user/pyframes.c) */
	if (d.col.stacks)
		stacks_in_python(d.col.stacks, tw_bpf_py_procs_fd(&d.bpf),
				 tw_bpf_py_bits_fd(&d.bpf));
	/* no series carries a thread's name; process names (exec) are re-read every 10 s */
	d.col.thread_names = false;
	d.col.names_every_ns = 10 * 1000000000ULL;
	d.rb = ring_buffer__new(tw_bpf_events_fd(&d.bpf), collect_on_event, &d.col, NULL);
	if (!d.rb) {
		fprintf(stderr, "bpf-threadwatch: cannot open the ring buffer: %s\n",
			strerror(errno));
		goto out;
	}
	err = poller_init(&d.poller, tw_bpf_events_fd(&d.bpf));
	if (err) {
		fprintf(stderr, "bpf-threadwatch: cannot set up the event poller: %s\n",
			strerror(-err));
		goto out;
	}
	pthread_mutex_lock(&d.body.mu);
	d.body.wake_fd = d.poller.evfd;
	pthread_mutex_unlock(&d.body.mu);
	d_wake_fd = d.poller.evfd;
	pprofd_attach(d.pprof, &d.bpf, d.col.stacks, &d.model, d.poller.evfd);
	/* where every thread already is, then who is there: a restart picks up every process */
	err = attach_seed(&d.bpf, &d.o.cfg);
	if (err)
		goto out;
	err = collect_seed(&d.col, 0, false, NULL);
	if (err) {
		fprintf(stderr, "bpf-threadwatch: cannot list processes: %s\n", strerror(-err));
		goto out;
	}
	fprintf(stderr,
		"bpf-threadwatch daemon: watching every process with %s%s, attached in %.3f s; "
		"serving http://%s/metrics\n",
		d.bpf.tp_btf ? "tp_btf" : "raw_tp", d.o.cfg.syscalls ? " and syscalls" : "",
		d.bpf.attach_s, d.o.listen);
	d.start_ns = mono_ns();
	err = d_exiting ? 0 : run(&d);
	if (!err)
		status = 0;
out:
	/* a scrape waiting for a rendering gets the last one (or 503) now */
	pthread_mutex_lock(&d.body.mu);
	d.body.closing = true;
	pthread_cond_broadcast(&d.body.cv);
	pthread_mutex_unlock(&d.body.mu);
	/* profiles in progress get 503; MHD must not be stopped with a connection suspended */
	pprofd_close_all(d.pprof);
	/* stop serving before the model goes: no scrape may see a half-freed state */
	if (d.http)
		MHD_stop_daemon(d.http);
	pprofd_free(d.pprof);
	stacks_in_free(d.col.stacks);
	d_wake_fd = -1;
	poller_free(&d.poller);
	ring_buffer__free(d.rb);
	tw_bpf_stop(&d.bpf);
	if (d.stats_fd >= 0)
		close(d.stats_fd);
	collect_free(&d.col);
	model_free(&d.model);
	free(d.body.buf);
	pthread_cond_destroy(&d.body.cv);
	if (d.log && d.log != stdout)
		fclose(d.log);
	free_args(d.o.argv_keep + 1, d.o.nconfig);
	free(d.o.argv_keep);
	if (!status)
		fprintf(stderr, "bpf-threadwatch daemon: stopped\n");
	return status;
}
