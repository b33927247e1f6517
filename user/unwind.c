// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * User stacks from snapshots, with elfutils' libdwfl (docs/design.md, "User stacks").
 *
 * One Dwfl per traced process, made on its first snapshot and kept until unwinder_forget():
 * - Modules are reported from /proc/PID/maps, parsed here (symmap.c), with dwfl_report_module
 *   and our own find_elf: libdwfl opens a module's ELF lazily, the first time a pc in it needs
 *   CFI or a symbol. dwfl_linux_proc_report would open the paths as they read in the agent's
 *   mount namespace; dwfl_report_elf would have us open every file up front, mapped or not used.
 * - find_elf opens /proc/PID/root/<path>, which reaches the file in the process's own mount
 *   namespace (containers), and keeps it only if its device and inode are those the mapping
 *   names: a path is just text the process chose (a deleted, replaced or overlayfs file reads
 *   differently). Otherwise it opens /proc/PID/map_files/<start>-<end>, the mapped file itself.
 *   Debug files are found by build id in /usr/lib/debug and the process's /usr/lib/debug, or by
 *   .gnu_debuglink next to the file as the process sees it (find_debuginfo: local only).
 * - dwfl_attach_state is done once per Dwfl with callbacks that read p->snap, the snapshot
 *   being unwound: one thread (its tid), its registers, and memory reads served from the copied
 *   stack only. libdwfl reads the CFI from the module files itself, and a CFA rule never
 *   dereferences anything but the stack; a read outside the copy fails (TW_UNW_NO_STACK), so
 *   the frame-pointer fallback of libdw's x86_64 backend (used for pcs without CFI, as in JIT
 *   code) cannot walk into garbage.
 * - The mappings are read again at most once a second per process (MAPS_RECHECK_NS), or at
 *   once when an unwind ended in a pc outside every module (a library just dlopen'd: up to 8
 *   times a second, then after 10 ms), and
 *   reported again only if the lines that make modules changed: libdwfl keeps the modules
 *   reported again at the same range, with their open ELF files and parsed CFI.
 */
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/user.h>
#include <time.h>
#include <unistd.h>
#include "demangle.h"
#include "symmap.h"
#include "unwind.h"

#if defined(__x86_64__)
#define TW_EM EM_X86_64
#elif defined(__aarch64__)
#define TW_UREG_SP 31
#define TW_UREG_PC 32
#define TW_UREGS_ARCH 32 /* x0..x30 and sp; the pc is set apart */
#define TW_EM EM_AARCH64
#else
/* cppcheck-suppress preprocessorErrorDirective */
#error "user/unwind.c: add this architecture's DWARF register numbers"
#endif

#define NS_PER_MS 1000000ull
#define MAPS_RECHECK_NS (1000 * NS_PER_MS)
#define MAPS_MISS_RECHECK_NS (10 * NS_PER_MS)
#define MAPS_MISS_BURST 8 /* re-reads a second for a pc in no mapping, however recent the last */
/* 65530 mappings (vm.max_map_count) of a path of PATH_MAX would be 270 MB: no real process */
#define MAPS_MAX_BYTES (64u << 20)
#define PERF_MAP_MAX_BYTES (64u << 20)
/* symbolized pcs kept per process; when full the cache starts again (the strings stay) */
#define SYM_CACHE_MAX (1u << 16)
/* names interned per process: what the symbol tables of its binaries and its perf map hold */
#define STRINGS_MAX_BYTES (64u << 20)
#define PROC_BUCKETS 256
#define SYMFILE_BUCKETS 256
#define SYMFILE_ID_MAX 64
/* distinct binaries named through a shared symfile; past it, through each process's Dwfl */
#define SYMFILES_MAX 4096
#define UNKNOWN_MODULE "[unknown]"

struct strtab {
	char **slots;
	size_t cap, n, bytes;
};

struct sym_slot {
	uint64_t pc;
	bool used, caller;
	struct tw_frame f;
};

struct sym_cache {
	struct sym_slot *slots;
	size_t cap, n;
};

/* an executable mapping: where pcs may be */
struct exec_range {
	uint64_t start, end;
	bool anon; /* no file: JIT code, named from the perf map */
};

struct tw_proc;

/* What we know of one Dwfl_Module (its userdata), for find_elf and the frames' names. */
struct tw_mod {
	pid_t pid;
	char *path; /* as /proc/PID/maps names it */
	bool deleted;
	uint64_t map_start, map_end; /* its first mapping: the name of its map_files link */
	uint64_t inode;
	unsigned int dev_major, dev_minor;
	const char *name; /* path, interned: what frames show */
	const char *build_id; /* interned hex, once asked */
	const char *source; /* "root" or "map_files" once opened */
};

/* The snapshot being unwound: what the thread callbacks serve. */
struct snapshot {
	struct tw_proc *p;
	pid_t tid;
	const uint64_t *regs;
	int nregs;
	uint64_t sp;
	const unsigned char *stack;
	size_t len;
	uint64_t *pcs;
	int max, n;
	uint64_t last_pc, last_sp;
	bool read_failed; /* in the step from the last frame */
	bool stopped; /* by frame_cb, with stop */
	enum tw_unwind_stop stop;
};

struct tw_proc {
	pid_t pid;
	struct tw_proc *next;
	Dwfl *dwfl;
	Dwfl_Callbacks cbs;
	char *debuginfo_path;
	Elf *arch_elf; /* names the architecture to dwfl_attach_state */
	unsigned char ehdr[sizeof(Elf64_Ehdr)];
	bool maps_read;
	uint64_t maps_hash, maps_checked_ns;
	uint64_t miss_window_ns; /* the second the miss re-reads are counted in */
	unsigned int miss_rereads;
	struct exec_range *exec;
	size_t nexec;
	bool has_anon_exec;
	/* the JIT perf map, as loaded: which file it was (dev, ino, size, mtime) */
	struct tw_perf_map pm;
	pid_t nspid;
	bool pm_loaded;
	uint64_t pm_dev, pm_ino, pm_size, pm_mtime_ns;
	const char *pm_name; /* "/tmp/perf-NSPID.map", interned */
	struct strtab strings;
	struct sym_cache cache;
	struct snapshot *snap;
};

/*
 * A binary's names, shared by every process that maps it (by build id): an offline Dwfl of its
 * own. Naming is what loads a file's symbol table and DWARF (glibc's debug file is compressed:
 * ~100 ms to inflate), so each file pays it once per agent, not once per process.
 */
struct symfile {
	struct symfile *next;
	unsigned char id[SYMFILE_ID_MAX];
	size_t id_len;
	Dwfl *dwfl;
	Dwfl_Module *mod; /* NULL: the file could not be opened (names come from the process's) */
	Dwarf_Addr bias;
	Dwfl_Callbacks cbs;
	char *debuginfo_path;
	struct tw_mod ctx; /* where find_debuginfo looks: the first process that mapped it */
};

struct tw_unwinder {
	struct tw_proc *procs[PROC_BUCKETS];
	struct symfile *symfiles[SYMFILE_BUCKETS];
	size_t nsymfiles, nprocs;
	struct strtab strings; /* the symfiles' names */
	char *buf; /* for reading maps and perf maps */
	size_t cap;
	struct tw_maps_line *lines;
	size_t lines_cap;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t fnv1a(const void *data, size_t len, uint64_t h)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ull

/* ---- interned strings: stable pointers until the process is forgotten ---- */

static void strtab_free(struct strtab *t)
{
	for (size_t i = 0; i < t->cap; i++)
		free(t->slots[i]);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

static bool strtab_grow(struct strtab *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 1024;
	char **n = calloc(ncap, sizeof(*n));

	if (!n)
		return false;
	for (size_t i = 0; i < t->cap; i++) {
		size_t h;

		if (!t->slots[i])
			continue;
		h = fnv1a(t->slots[i], strlen(t->slots[i]), FNV_INIT) & (ncap - 1);
		while (n[h])
			h = (h + 1) & (ncap - 1);
		n[h] = t->slots[i];
	}
	free(t->slots);
	t->slots = n;
	t->cap = ncap;
	return true;
}

static const char *intern_n(struct strtab *t, const char *s, size_t len)
{
	size_t h;

	if (t->n * 2 >= t->cap && !strtab_grow(t))
		return NULL;
	h = fnv1a(s, len, FNV_INIT) & (t->cap - 1);
	for (; t->slots[h]; h = (h + 1) & (t->cap - 1))
		if (!strncmp(t->slots[h], s, len) && t->slots[h][len] == '\0')
			return t->slots[h];
	if (t->bytes + len + 1 > STRINGS_MAX_BYTES)
		return NULL; /* then the frame keeps module + offset */
	t->slots[h] = strndup(s, len);
	if (!t->slots[h])
		return NULL;
	t->n++;
	t->bytes += len + 1;
	return t->slots[h];
}

static const char *intern(struct strtab *t, const char *s)
{
	return s ? intern_n(t, s, strlen(s)) : NULL;
}

/* ---- the cache of symbolized pcs ---- */

static size_t sym_hash(uint64_t pc, bool caller, size_t cap)
{
	uint64_t h = (pc ^ (caller ? 0x9e3779b97f4a7c15ull : 0)) * 0xff51afd7ed558ccdull;

	return (size_t)(h ^ (h >> 32)) & (cap - 1);
}

static void cache_clear(struct sym_cache *c)
{
	if (c->slots)
		memset(c->slots, 0, c->cap * sizeof(*c->slots));
	c->n = 0;
}

static struct sym_slot *cache_find(struct sym_cache *c, uint64_t pc, bool caller)
{
	if (!c->cap)
		return NULL;
	for (size_t h = sym_hash(pc, caller, c->cap); c->slots[h].used; h = (h + 1) & (c->cap - 1))
		if (c->slots[h].pc == pc && c->slots[h].caller == caller)
			return &c->slots[h];
	return NULL;
}

static void cache_put(struct sym_cache *c, uint64_t pc, bool caller, const struct tw_frame *f)
{
	size_t h;

	if (c->n >= SYM_CACHE_MAX)
		cache_clear(c);
	if (c->n * 2 >= c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 1024;
		struct sym_slot *n = calloc(ncap, sizeof(*n));

		if (!n)
			return; /* not cached: named again next time */
		for (size_t i = 0; i < c->cap; i++) {
			if (!c->slots[i].used)
				continue;
			h = sym_hash(c->slots[i].pc, c->slots[i].caller, ncap);
			while (n[h].used)
				h = (h + 1) & (ncap - 1);
			n[h] = c->slots[i];
		}
		free(c->slots);
		c->slots = n;
		c->cap = ncap;
	}
	h = sym_hash(pc, caller, c->cap);
	while (c->slots[h].used)
		h = (h + 1) & (c->cap - 1);
	c->slots[h] = (struct sym_slot){ .pc = pc, .used = true, .caller = caller, .f = *f };
	c->n++;
}

/* ---- reading /proc ---- */

/* The whole of fd, up to max bytes, into u->buf. */
static int read_fd(struct tw_unwinder *u, int fd, size_t max, size_t *len)
{
	*len = 0;
	for (;;) {
		ssize_t n;

		if (*len == u->cap) {
			size_t ncap = u->cap ? u->cap * 2 : 65536;
			char *b;

			if (u->cap >= max)
				return 0; /* the rest is ignored */
			b = realloc(u->buf, ncap);
			if (!b)
				return -ENOMEM;
			u->buf = b;
			u->cap = ncap;
		}
		n = read(fd, u->buf + *len, (u->cap < max ? u->cap : max) - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0 || *len + (size_t)n >= max) {
			*len += (size_t)n;
			return 0;
		}
		*len += (size_t)n;
	}
}

static int read_path(struct tw_unwinder *u, const char *path, size_t max, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err;

	*len = 0;
	if (fd < 0)
		return -errno;
	err = read_fd(u, fd, max, len);
	close(fd);
	return err;
}

/* ---- modules ---- */

static struct tw_mod *mod_of(Dwfl_Module *mod)
{
	void **ud = NULL;

	dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
	return ud ? *ud : NULL;
}

static void mod_free(struct tw_mod *m)
{
	if (!m)
		return;
	free(m->path);
	free(m);
}

static int mod_free_cb(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr start,
		       void *arg)
{
	(void)mod, (void)name, (void)start, (void)arg;
	mod_free(*userdata);
	*userdata = NULL;
	return DWARF_CB_OK;
}

static int mod_removed_cb(Dwfl_Module *mod, void *userdata, const char *name, Dwarf_Addr start,
			  void *arg)
{
	void **ud = NULL;

	(void)userdata, (void)name, (void)start, (void)arg;
	dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
	if (ud) {
		mod_free(*ud);
		*ud = NULL;
	}
	return 0;
}

/*
 * Is fd the file the mapping names? Its device and inode, or, on overlayfs, its inode alone:
 * before Linux 6.8 /proc/PID/maps shows the real file below the overlay (its device and
 * inode), while the overlay reports its own device and, for a file of a lower layer on the same
 * file system, the real inode number. Containers run from overlayfs, and without this their
 * binaries could be read only through map_files, which needs CAP_SYS_ADMIN or
 * CAP_CHECKPOINT_RESTORE.
 */
static bool same_inode(int fd, const struct tw_mod *m)
{
	struct statfs sfs;
	struct stat st;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_ino != m->inode)
		return false;
	if (major(st.st_dev) == m->dev_major && minor(st.st_dev) == m->dev_minor)
		return true;
	return !fstatfs(fd, &sfs) && sfs.f_type == OVERLAYFS_SUPER_MAGIC;
}

/* fd of path if it is the file the mapping names, else -1 */
static int open_same(const char *path, const struct tw_mod *m)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0 && !same_inode(fd, m)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static int open_module_file(struct tw_mod *m, char **root_path)
{
	static const char deleted[] = " (deleted)";
	size_t plen = strlen(m->path);
	char path[PATH_MAX + 64];
	int fd = -1;

	if (m->deleted)
		plen -= sizeof(deleted) - 1;
	/* the name the debug link is looked for next to, whichever way the file opens */
	if (asprintf(root_path, "/proc/%d/root%.*s", (int)m->pid, (int)plen, m->path) < 0) {
		*root_path = NULL;
		return -1;
	}
	if (snprintf(path, sizeof(path), "/proc/%d/root%s", (int)m->pid, m->path) <
	    (int)sizeof(path))
		fd = open_same(path, m);
	if (fd < 0 && m->deleted)
		fd = open_same(*root_path, m); /* a file whose name ends in " (deleted)" */
	if (fd >= 0) {
		m->source = "root";
		return fd;
	}
	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)m->pid,
		 (unsigned long long)m->map_start, (unsigned long long)m->map_end);
	fd = open_same(path, m);
	if (fd >= 0)
		m->source = "map_files";
	return fd;
}

/*
 * Dwfl_Callbacks.find_elf. The ELF is opened here, mapped, and the descriptor closed: libelf
 * reads a mapped file through its mapping only, and the file was mmap'able (the process maps
 * it), so a traced process costs no descriptor per library.
 */
static int find_elf(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
		    char **file_name, Elf **elfp)
{
	struct tw_mod *m = *userdata;
	char *root_path = NULL;
	Elf *elf;
	int fd;

	(void)mod, (void)modname, (void)base;
	*elfp = NULL;
	if (!m)
		return -1;
	fd = open_module_file(m, &root_path);
	if (fd < 0) {
		free(root_path);
		m->source = NULL;
		return -1;
	}
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || elf_cntl(elf, ELF_C_FDDONE)) {
		elf_end(elf);
		close(fd);
		free(root_path);
		return -1;
	}
	close(fd);
	free(*file_name);
	*file_name = root_path;
	*elfp = elf;
	return -1;
}

/* fd of a debug file at path whose build id is want's, else -1 */
static int open_debug_file(const char *path, const void *want, size_t want_len)
{
	const void *bits;
	bool same = false;
	ssize_t n;
	Elf *elf;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf) {
		n = dwelf_elf_gnu_build_id(elf, &bits);
		same = n > 0 && (size_t)n == want_len && !memcmp(bits, want, want_len);
		elf_end(elf);
	}
	if (!same) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Dwfl_Callbacks.find_debuginfo: dwfl_standard_find_debuginfo's places, but local only (the
 * standard one asks the debuginfod servers of $DEBUGINFOD_URLS, which Debian's login shells
 * set: downloads in the agent's collecting thread). By build id in /usr/lib/debug/.build-id
 * and the process's own; by .gnu_debuglink next to the file, in its .debug/, and under
 * /usr/lib/debug (the agent's and the process's), any of them kept only if its build id is the
 * module's: the paths are the process's to choose.
 */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			  const char *file_name, const char *debuglink_file,
			  GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	struct tw_mod *m = *userdata;
	const unsigned char *bits;
	char path[PATH_MAX + 64];
	const char *slash;
	GElf_Addr vaddr;
	size_t dlen;
	int fd, n;

	fd = dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
					  debuglink_crc, debuginfo_file_name);
	if (fd >= 0 || !m || !debuglink_file || strchr(debuglink_file, '/'))
		return fd;
	n = dwfl_module_build_id(mod, &bits, &vaddr);
	slash = strrchr(m->path, '/');
	if (n <= 0 || !slash)
		return -1; /* nothing to check a debug file against */
	dlen = (size_t)(slash - m->path); /* the directory as the process sees it */
	for (int i = 0; i < 4 && fd < 0; i++) {
		static const char *const under[] = { "", "", "/usr/lib/debug", "/usr/lib/debug" };
		static const char *const sub[] = { "", "/.debug", "", "" };
		char root[32] = "";
		int len;

		if (i < 3) /* the agent's own /usr/lib/debug last */
			snprintf(root, sizeof(root), "/proc/%d/root", (int)m->pid);
		len = snprintf(path, sizeof(path), "%s%s%.*s%s/%s", root, under[i], (int)dlen,
			       m->path, sub[i], debuglink_file);
		if (len > 0 && (size_t)len < sizeof(path))
			fd = open_debug_file(path, bits, (size_t)n);
	}
	if (fd >= 0) {
		free(*debuginfo_file_name);
		*debuginfo_file_name = strdup(path);
	}
	return fd;
}

/*
 * find_debuginfo for a process's own Dwfl, which only unwinds (a symfile names): its debug
 * file is wanted for .debug_frame, where a module has no .eh_frame. glibc and the loader have
 * complete .eh_frame, and libdw, asked for a module's CFI, opens its DWARF first, inflating
 * libc6-dbg's compressed sections whole (~10 MB, measured with heaptrack): not for those.
 */
static int find_cfi_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
			      Dwarf_Addr base, const char *file_name, const char *debuglink_file,
			      GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	const struct tw_mod *m = *userdata;

	if (m && tw_module_is_plumbing(m->path))
		return -1;
	return find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
			      debuglink_crc, debuginfo_file_name);
}

/* ---- the thread callbacks: the snapshot in p->snap ---- */

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	struct tw_proc *p = arg;

	(void)dwfl;
	if (*thread_argp || !p->snap)
		return 0;
	*thread_argp = p;
	return p->snap->tid;
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	struct tw_proc *p = arg;

	(void)dwfl;
	if (!p->snap || tid != p->snap->tid)
		return false;
	*thread_argp = p;
	return true;
}

static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct snapshot *s = ((struct tw_proc *)arg)->snap;

	(void)dwfl;
	if (!s)
		return false;
	if (s->len >= sizeof(*result) && addr >= s->sp &&
	    addr - s->sp <= s->len - sizeof(*result)) {
		memcpy(result, s->stack + (addr - s->sp), sizeof(*result));
		return true;
	}
	s->read_failed = true;
	return false;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	struct snapshot *s = ((struct tw_proc *)arg)->snap;
	int n = s->nregs < TW_UREGS_ARCH ? s->nregs : TW_UREGS_ARCH;

	if (!dwfl_thread_state_registers(thread, 0, (unsigned int)n, s->regs))
		return false;
	dwfl_thread_state_register_pc(thread, s->regs[TW_UREG_PC]);
	return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
	.next_thread = next_thread,
	.get_thread = get_thread,
	.memory_read = memory_read,
	.set_initial_registers = set_initial_registers,
};

/* ---- one process ---- */

static void proc_dwfl_close(struct tw_proc *p)
{
	p->maps_read = false; /* the modules go with the Dwfl */
	if (p->dwfl) {
		dwfl_getmodules(p->dwfl, mod_free_cb, NULL, 0);
		dwfl_end(p->dwfl);
		p->dwfl = NULL;
	}
	elf_end(p->arch_elf);
	p->arch_elf = NULL;
}

/* A Dwfl attached to the process once; its modules come and go with the mappings. */
static int proc_dwfl_open(struct tw_proc *p)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)p->ehdr;

	/* no module may name the architecture: dwfl_attach_state would borrow the backend of
	 * one, and that module may go with the next mappings */
	memset(p->ehdr, 0, sizeof(p->ehdr));
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] =
		__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_CORE;
	eh->e_machine = TW_EM;
	eh->e_version = EV_CURRENT;
	eh->e_ehsize = sizeof(*eh);
	p->dwfl = dwfl_begin(&p->cbs);
	p->arch_elf = elf_memory((char *)p->ehdr, sizeof(p->ehdr));
	if (!p->dwfl || !p->arch_elf ||
	    !dwfl_attach_state(p->dwfl, p->arch_elf, p->pid, &thread_callbacks, p)) {
		proc_dwfl_close(p);
		return -ENOMEM;
	}
	return 0;
}

static bool is_file(const struct tw_maps_line *l)
{
	return l->path && l->path[0] == '/';
}

static bool same_file(const struct tw_maps_line *a, const struct tw_maps_line *b)
{
	return a->inode == b->inode && a->dev_major == b->dev_major &&
	       a->dev_minor == b->dev_minor && a->path_len == b->path_len &&
	       !memcmp(a->path, b->path, a->path_len);
}

/* A module for the file mapped from first to last; false if it is stale (another inode). */
static int report_module(struct tw_proc *p, const struct tw_maps_line *first, uint64_t end,
			 bool *stale)
{
	char path[PATH_MAX];
	Dwfl_Module *mod;
	struct tw_mod *m;
	void **ud = NULL;

	if (first->path_len >= sizeof(path))
		return 0; /* no such path: the kernel's are at most PATH_MAX */
	memcpy(path, first->path, first->path_len);
	path[first->path_len] = '\0';
	mod = dwfl_report_module(p->dwfl, path, first->start, end);
	if (!mod)
		return -ENOMEM;
	dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
	m = *ud;
	if (m) {
		if (m->inode != first->inode || m->dev_major != first->dev_major ||
		    m->dev_minor != first->dev_minor)
			*stale = true;
		return 0;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->pid = p->pid;
	m->path = strdup(path);
	m->name = intern(&p->strings, path);
	if (!m->path || !m->name) {
		mod_free(m);
		return -ENOMEM;
	}
	m->deleted = first->deleted;
	m->map_start = first->start;
	m->map_end = first->end;
	m->inode = first->inode;
	m->dev_major = first->dev_major;
	m->dev_minor = first->dev_minor;
	*ud = m;
	return 0;
}

/*
 * Reports one module per file mapped with an executable part: from its mapping at file
 * offset 0 (where libdwfl places the ELF's first PT_LOAD) to the end of its last mapping.
 * Anonymous mappings between (.bss, guard gaps) do not end a file's run; another file does.
 */
static int report_modules(struct tw_proc *p, const struct tw_maps_line *lines, size_t n,
			  bool *stale)
{
	const struct tw_maps_line *first = NULL;
	uint64_t end = 0;
	bool exec = false;
	int err = 0;

	dwfl_report_begin(p->dwfl);
	for (size_t i = 0; i <= n && !err; i++) {
		const struct tw_maps_line *l = i < n ? &lines[i] : NULL;

		if (l && !is_file(l))
			continue;
		if (l && first && same_file(first, l) && l->offset) {
			end = l->end;
			exec |= l->exec;
			continue;
		}
		if (first && exec)
			err = report_module(p, first, end, stale);
		first = l && !l->offset ? l : NULL;
		end = l ? l->end : 0;
		exec = l && l->exec;
	}
	if (dwfl_report_end(p->dwfl, mod_removed_cb, p))
		err = err ? err : -ENOMEM;
	return err;
}

static int set_exec_ranges(struct tw_proc *p, const struct tw_maps_line *lines, size_t n)
{
	size_t ne = 0;
	struct exec_range *e;

	for (size_t i = 0; i < n; i++)
		ne += lines[i].exec;
	e = calloc(ne ? ne : 1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	free(p->exec);
	p->exec = e;
	p->nexec = 0;
	p->has_anon_exec = false;
	for (size_t i = 0; i < n; i++) {
		if (!lines[i].exec)
			continue;
		/* an anonymous mapping, or one named with PR_SET_VMA_ANON_NAME ("[anon:...]") */
		e[p->nexec].anon = !lines[i].path ||
				   (lines[i].path_len > 6 && !memcmp(lines[i].path, "[anon:", 6));
		e[p->nexec].start = lines[i].start;
		e[p->nexec].end = lines[i].end;
		p->has_anon_exec |= e[p->nexec].anon;
		p->nexec++;
	}
	return 0;
}

static const struct exec_range *exec_range_of(const struct tw_proc *p, uint64_t pc)
{
	size_t lo = 0, hi = p->nexec;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pc < p->exec[mid].start)
			hi = mid;
		else if (pc >= p->exec[mid].end)
			lo = mid + 1;
		else
			return &p->exec[mid];
	}
	return NULL;
}

/* The lines that make modules and exec ranges: file mappings and executable ones. */
static int parse_maps(struct tw_unwinder *u, size_t len, size_t *n, uint64_t *hash)
{
	const char *p = u->buf, *end = u->buf + len;

	*n = 0;
	*hash = FNV_INIT;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		struct tw_maps_line l;

		if (!parse_maps_line(p, (size_t)(le - p), &l) && (is_file(&l) || l.exec)) {
			if (*n == u->lines_cap) {
				size_t ncap = u->lines_cap ? u->lines_cap * 2 : 256;
				struct tw_maps_line *nl2 = realloc(u->lines, ncap * sizeof(*nl2));

				if (!nl2)
					return -ENOMEM;
				u->lines = nl2;
				u->lines_cap = ncap;
			}
			u->lines[(*n)++] = l;
			*hash = fnv1a(p, (size_t)(le - p) + 1, *hash);
		}
		p = le + 1;
	}
	return 0;
}

static void perf_map_refresh(struct tw_unwinder *u, struct tw_proc *p);

/* 1 if the mappings changed (and were reported again), 0 if not, or -errno. */
static int proc_refresh(struct tw_unwinder *u, struct tw_proc *p, uint64_t min_age)
{
	uint64_t now = now_ns(), hash;
	bool stale = false;
	char path[64];
	size_t len, n;
	int err;

	if (p->maps_read && now - p->maps_checked_ns < min_age)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)p->pid);
	err = read_path(u, path, MAPS_MAX_BYTES, &len);
	/* gone since its last stacks were taken: those are unwound with the mappings it had */
	if (err && p->maps_read && (err == -ENOENT || err == -ESRCH))
		return 0;
	if (err)
		return err == -ENOENT ? -ESRCH : err;
	p->maps_checked_ns = now;
	err = parse_maps(u, len, &n, &hash);
	if (err)
		return err;
	/*
	 * An exiting process (or a zombie) has no mm: its maps read empty. Its
	 * last stacks, taken just before, are unwound with the mappings it had.
	 */
	if (!n && p->maps_read)
		return 0;
	if (p->has_anon_exec)
		perf_map_refresh(u, p);
	if (p->maps_read && hash == p->maps_hash)
		return 0;
	err = set_exec_ranges(p, u->lines, n);
	if (!err)
		err = report_modules(p, u->lines, n, &stale);
	if (!err && stale) {
		/* a file at the same range and path is another file now: start afresh */
		proc_dwfl_close(p);
		err = proc_dwfl_open(p);
		if (!err)
			err = report_modules(p, u->lines, n, &stale);
	}
	if (err) {
		p->maps_read = false;
		return err;
	}
	p->maps_hash = hash;
	p->maps_read = true;
	cache_clear(&p->cache);
	return 1;
}

/*
 * A pc in no known mapping, a library mapped since the last read (dlopen()ed and called at
 * once): the mappings are read again now, up to MAPS_MISS_BURST times a second, then at most
 * every MAPS_MISS_RECHECK_NS, so a broken unwind's garbage pcs cannot make every unwind pay
 * for a read.
 */
static int proc_refresh_on_miss(struct tw_unwinder *u, struct tw_proc *p)
{
	uint64_t now = now_ns();

	if (now - p->miss_window_ns >= 1000 * NS_PER_MS) {
		p->miss_window_ns = now;
		p->miss_rereads = 0;
	}
	if (p->miss_rereads < MAPS_MISS_BURST) {
		p->miss_rereads++;
		return proc_refresh(u, p, 0);
	}
	return proc_refresh(u, p, MAPS_MISS_RECHECK_NS);
}

static void proc_free(struct tw_proc *p)
{
	if (!p)
		return;
	proc_dwfl_close(p);
	free(p->debuginfo_path);
	free(p->exec);
	perf_map_free(&p->pm);
	free(p->cache.slots);
	strtab_free(&p->strings);
	free(p);
}

static struct tw_proc **proc_slot(struct tw_unwinder *u, pid_t pid)
{
	struct tw_proc **pp = &u->procs[(unsigned int)pid % PROC_BUCKETS];

	while (*pp && (*pp)->pid != pid)
		pp = &(*pp)->next;
	return pp;
}

static int proc_get(struct tw_unwinder *u, pid_t pid, struct tw_proc **out)
{
	struct tw_proc **pp = proc_slot(u, pid), *p = *pp;
	int err;

	if (p) {
		/* a restart of its Dwfl, or a reading of its maps, that failed is tried again */
		err = p->dwfl ? 0 : proc_dwfl_open(p);
		if (!err && !p->maps_read)
			err = proc_refresh(u, p, 0);
		if (err < 0)
			return err;
		*out = p;
		return 0;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->pid = pid;
	/* the standard places, then the process's own build-id tree (a container's) */
	if (asprintf(&p->debuginfo_path, ":.debug:/usr/lib/debug:/proc/%d/root/usr/lib/debug",
		     (int)pid) < 0) {
		free(p);
		return -ENOMEM;
	}
	p->cbs.find_elf = find_elf;
	p->cbs.find_debuginfo = find_cfi_debuginfo;
	p->cbs.debuginfo_path = &p->debuginfo_path;
	err = proc_dwfl_open(p);
	if (!err) {
		err = proc_refresh(u, p, 0);
		err = err < 0 ? err : 0;
	}
	if (err) {
		proc_free(p);
		return err;
	}
	*pp = p;
	*out = p;
	u->nprocs++;
	return 0;
}

/* ---- the perf map of JIT code ---- */

/* The pid as the process knows it in its own PID namespace: the last of "NSpid:". */
static pid_t ns_pid(struct tw_unwinder *u, pid_t pid)
{
	char path[64];
	size_t len;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_path(u, path, 1u << 16, &len))
		return pid;
	for (const char *l = u->buf, *end = u->buf + len; l < end;) {
		const char *nl = memchr(l, '\n', (size_t)(end - l));
		const char *le = nl ? nl : end;

		if (le - l > 6 && !memcmp(l, "NSpid:", 6)) {
			const char *q = le;
			long v = 0, mul = 1;

			while (q > l + 6 && (q[-1] == ' ' || q[-1] == '\t'))
				q--;
			for (; q > l + 6 && q[-1] >= '0' && q[-1] <= '9' && mul <= 100000000; q--) {
				v += (q[-1] - '0') * mul;
				mul *= 10;
			}
			return v > 0 ? (pid_t)v : pid;
		}
		l = le + 1;
	}
	return pid;
}

/*
 * Opens tmp/perf-N.map under the process's root with RESOLVE_IN_ROOT: the process owns that
 * file, and a symlink in it must not lead to a file of the agent's.
 */
static int open_perf_map(pid_t pid, pid_t nspid)
{
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	char path[64];
	int root, fd;

	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -errno;
	snprintf(path, sizeof(path), "tmp/perf-%d.map", (int)nspid);
	fd = (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
	fd = fd < 0 ? -errno : fd;
	close(root);
	return fd;
}

/* (Re)loads the perf map when the file is another or has changed since. */
static void perf_map_refresh(struct tw_unwinder *u, struct tw_proc *p)
{
	struct stat st;
	size_t len;
	int fd;

	if (!p->nspid) {
		char name[48];

		p->nspid = ns_pid(u, p->pid);
		snprintf(name, sizeof(name), "/tmp/perf-%d.map", (int)p->nspid);
		p->pm_name = intern(&p->strings, name);
	}
	fd = open_perf_map(p->pid, p->nspid);
	if (fd < 0)
		return;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return;
	}
	if (p->pm_loaded && p->pm_dev == st.st_dev && p->pm_ino == st.st_ino &&
	    p->pm_size == (uint64_t)st.st_size &&
	    p->pm_mtime_ns == (uint64_t)st.st_mtim.tv_sec * 1000000000ull + st.st_mtim.tv_nsec) {
		close(fd);
		return;
	}
	if (!read_fd(u, fd, PERF_MAP_MAX_BYTES, &len) && !perf_map_parse(u->buf, len, &p->pm)) {
		p->pm_loaded = true;
		p->pm_dev = st.st_dev;
		p->pm_ino = st.st_ino;
		p->pm_size = (uint64_t)st.st_size;
		p->pm_mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + st.st_mtim.tv_nsec;
		cache_clear(&p->cache); /* JIT code may sit where other code was */
	}
	close(fd);
}

/* ---- unwinding ---- */

static int frame_cb(Dwfl_Frame *frame, void *arg)
{
	struct snapshot *s = arg;
	Dwarf_Word sp = 0;
	Dwarf_Addr pc;

	/* no isactivation: asking for it unwinds the next frame now, and its reads would be
	 * counted against this one */
	if (!dwfl_frame_pc(frame, &pc, NULL)) {
		s->stop = TW_UNW_ERROR;
		s->stopped = true;
		return DWARF_CB_ABORT;
	}
	if (s->n > 0 && !exec_range_of(s->p, pc - 1)) {
		/* a return address into no executable mapping is no frame */
		s->stop = TW_UNW_NO_MODULE;
		s->stopped = true;
		return DWARF_CB_ABORT;
	}
	dwfl_frame_reg(frame, TW_UREG_SP, &sp);
	if (s->n > 0 && pc == s->last_pc && sp == s->last_sp) {
		s->stop = TW_UNW_ERROR; /* the same frame again: CFI that does not unwind */
		s->stopped = true;
		return DWARF_CB_ABORT;
	}
	if (s->n >= s->max) {
		s->stop = TW_UNW_MAX_FRAMES;
		s->stopped = true;
		return DWARF_CB_ABORT;
	}
	s->pcs[s->n++] = pc;
	s->last_pc = pc;
	s->last_sp = sp;
	s->read_failed = false;
	return DWARF_CB_OK;
}

static bool has_cfi(Dwfl_Module *mod, Dwarf_Addr pc)
{
	Dwarf_CFI *cfis[2];
	Dwarf_Addr bias[2] = { 0, 0 };

	cfis[0] = dwfl_module_eh_cfi(mod, &bias[0]);
	cfis[1] = dwfl_module_dwarf_cfi(mod, &bias[1]);
	for (int i = 0; i < 2; i++) {
		Dwarf_Frame *f;

		if (cfis[i] && !dwarf_cfi_addrframe(cfis[i], pc - bias[i], &f)) {
			free(f);
			return true;
		}
	}
	return false;
}

/* Why libdwfl could not go past the last frame. */
static enum tw_unwind_stop why_stopped(struct tw_proc *p, const struct snapshot *s)
{
	uint64_t pc = s->pcs[s->n - 1];
	Dwfl_Module *mod;

	if (s->n > 1)
		pc--; /* a return address: the call is before it */
	mod = dwfl_addrmodule(p->dwfl, pc);
	if (!mod)
		return TW_UNW_NO_MODULE;
	if (!has_cfi(mod, pc))
		return TW_UNW_NO_CFI;
	return s->read_failed ? TW_UNW_NO_STACK : TW_UNW_ERROR;
}

static int unwind_once(struct tw_proc *p, struct snapshot *s, enum tw_unwind_stop *stop)
{
	int rc;

	s->n = 0;
	s->stopped = false;
	s->read_failed = false;
	p->snap = s;
	rc = dwfl_getthread_frames(p->dwfl, s->tid, frame_cb, s);
	p->snap = NULL;
	if (s->stopped)
		*stop = s->stop;
	else if (rc == 0)
		/* libdwfl skips a register whose rule fails to read, and a return address it
		 * could not read looks like the end; at a real end (_start) nothing was read */
		*stop = s->read_failed ? TW_UNW_NO_STACK : TW_UNW_END;
	else if (!s->n)
		return -EINVAL; /* not even the first frame: registers libdw rejects */
	else
		*stop = why_stopped(p, s);
	return s->n;
}

int unwinder_unwind(struct tw_unwinder *u, pid_t pid, pid_t tid, const uint64_t *regs, int nregs,
		    uint64_t sp, const void *stack, size_t len, uint64_t *pcs, int max,
		    enum tw_unwind_stop *stop)
{
	struct snapshot s = {
		.tid = tid,
		.regs = regs,
		.nregs = nregs,
		.sp = sp,
		.stack = stack,
		.len = stack ? len : 0,
		.pcs = pcs,
		.max = max < TW_UNWIND_MAX_FRAMES ? max : TW_UNWIND_MAX_FRAMES,
	};
	struct tw_proc *p;
	int err, n;

	*stop = TW_UNW_ERROR;
	if (!u || pid <= 0 || tid <= 0 || !regs || nregs <= TW_UREG_PC || !pcs || max <= 0)
		return -EINVAL;
	err = proc_get(u, pid, &p);
	if (!err)
		err = proc_refresh(u, p, MAPS_RECHECK_NS);
	if (err < 0)
		return err;
	s.p = p;
	n = unwind_once(p, &s, stop);
	if (n > 0 && *stop == TW_UNW_NO_MODULE && proc_refresh_on_miss(u, p) == 1)
		n = unwind_once(p, &s, stop); /* the pc may be in a library mapped since */
	return n;
}

/* ---- names ---- */

/*
 * func, offset, and with lines file and line, of addr (pc, or pc - 1 for a caller) in nm,
 * strings in t
 */
static void name_from(Dwfl_Module *nm, Dwarf_Addr a, struct strtab *t, uint64_t pc, uint64_t addr,
		      bool lines, struct tw_frame *f)
{
	const char *name;
	Dwfl_Line *line;
	GElf_Off off;
	GElf_Sym sym;

	name = dwfl_module_addrinfo(nm, a, &off, &sym, NULL, NULL, NULL);
	if (name) {
		/* a versioned name of .symtab ("__libc_start_main@@GLIBC_2.34") as .dynsym has it */
		const char *at = strchr(name, '@');
		size_t len = at > name ? (size_t)(at - name) : strlen(name);
		char *readable = tw_demangle(name, len);

		f->func = readable ? intern(t, readable) : intern_n(t, name, len);
		free(readable);
		if (f->func)
			f->offset = off + (pc - addr);
	}
	if (!lines)
		return;
	line = dwfl_module_getsrc(nm, a);
	if (line) {
		int lineno = 0;
		const char *src = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);

		f->file = intern(t, src);
		f->line = f->file ? lineno : 0;
	}
}

static void symfile_free(struct symfile *sf)
{
	if (sf->dwfl)
		dwfl_end(sf->dwfl);
	free(sf->debuginfo_path);
	free(sf->ctx.path);
	free(sf);
}

/* An offline Dwfl for the file of m, its debug file looked for now, while m's process lives. */
static void symfile_open(struct symfile *sf, struct tw_mod *m)
{
	char *root_path = NULL;
	Dwfl_Module *mod;
	void **ud = NULL;
	Dwarf_Addr b;
	int fd;

	sf->ctx = *m;
	sf->ctx.name = sf->ctx.build_id = NULL; /* the process's strings: not for the symfile */
	sf->ctx.path = strdup(m->path);
	if (!sf->ctx.path ||
	    asprintf(&sf->debuginfo_path, ":.debug:/usr/lib/debug:/proc/%d/root/usr/lib/debug",
		     (int)m->pid) < 0) {
		sf->debuginfo_path = NULL;
		return;
	}
	sf->cbs.find_elf = find_elf; /* unused: the file is reported open */
	sf->cbs.find_debuginfo = find_debuginfo;
	sf->cbs.debuginfo_path = &sf->debuginfo_path;
	sf->dwfl = dwfl_begin(&sf->cbs);
	fd = open_module_file(&sf->ctx, &root_path);
	if (!sf->dwfl || fd < 0 || !root_path) {
		if (fd >= 0)
			close(fd);
		free(root_path);
		return;
	}
	dwfl_report_begin(sf->dwfl);
	mod = dwfl_report_offline(sf->dwfl, m->path, root_path, fd); /* fd is the Dwfl's now */
	free(root_path);
	if (dwfl_report_end(sf->dwfl, NULL, NULL) || !mod)
		return;
	dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
	*ud = &sf->ctx;
	if (!dwfl_module_getelf(mod, &sf->bias))
		return;
	/*
	 * Find the debug file now, m's process may go. For glibc and the loader only for its
	 * .symtab: no lines are looked up there (name_in_module), and their DWARF would be
	 * inflated whole.
	 */
	if (tw_module_is_plumbing(m->path))
		dwfl_module_getsymtab(mod);
	else
		dwfl_module_getdwarf(mod, &b);
	sf->mod = mod;
}

/* The shared names of the file of process module mod, or NULL to name it in the process. */
static struct symfile *symfile_of(struct tw_unwinder *u, Dwfl_Module *mod)
{
	struct tw_mod *m = mod_of(mod);
	const unsigned char *bits;
	struct symfile **pp, *sf;
	GElf_Addr vaddr;
	int n;

	n = m ? dwfl_module_build_id(mod, &bits, &vaddr) : 0;
	if (n <= 0 || n > SYMFILE_ID_MAX)
		return NULL; /* no id to share it by */
	pp = &u->symfiles[fnv1a(bits, (size_t)n, FNV_INIT) % SYMFILE_BUCKETS];
	for (sf = *pp; sf; sf = sf->next)
		if (sf->id_len == (size_t)n && !memcmp(sf->id, bits, (size_t)n))
			return sf->mod ? sf : NULL;
	if (u->nsymfiles >= SYMFILES_MAX)
		return NULL;
	sf = calloc(1, sizeof(*sf));
	if (!sf)
		return NULL;
	memcpy(sf->id, bits, (size_t)n);
	sf->id_len = (size_t)n;
	symfile_open(sf, m);
	/* kept even if it failed: a file that will not open is not tried again */
	sf->next = *pp;
	*pp = sf;
	u->nsymfiles++;
	return sf->mod ? sf : NULL;
}

static void name_in_module(struct tw_unwinder *u, struct tw_proc *p, Dwfl_Module *mod, uint64_t pc,
			   uint64_t addr, struct tw_frame *f)
{
	struct tw_mod *m = mod_of(mod);
	Dwarf_Addr start = 0, bias = 0;
	struct symfile *sf;
	/*
	 * No file:line in glibc and the loader: their frames are plumbing in every report, and
	 * libc6-dbg's compressed DWARF, which libdw inflates whole to find one line, would take
	 * ~24 MB of the agent's memory (58 MB against 27 MB, measured); symbols still come from
	 * the debug file's .symtab.
	 */
	bool lines = !tw_module_is_plumbing(m ? m->name : NULL);

	dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL, NULL, NULL);
	if (m)
		f->module = m->name;
	f->offset = pc - start;
	if (!dwfl_module_getelf(mod, &bias))
		return;
	f->offset = pc - bias; /* the address in the file's own terms, as addr2line takes it */
	sf = symfile_of(u, mod);
	if (sf)
		name_from(sf->mod, addr - bias + sf->bias, &u->strings, pc, addr, lines, f);
	else
		name_from(mod, addr, &p->strings, pc, addr, lines, f);
}

static void name_in_perf_map(struct tw_unwinder *u, struct tw_proc *p, uint64_t pc, uint64_t addr,
			     struct tw_frame *f)
{
	const struct tw_perf_sym *sym;

	perf_map_refresh(u, p);
	sym = perf_map_lookup(&p->pm, addr);
	if (!sym)
		return;
	f->func = intern(&p->strings, p->pm.names + sym->name);
	if (!f->func)
		return;
	f->module = p->pm_name ? p->pm_name : UNKNOWN_MODULE;
	f->offset = pc - sym->start;
}

int unwinder_symbolize(struct tw_unwinder *u, pid_t pid, uint64_t pc, bool caller,
		       struct tw_frame *out)
{
	uint64_t addr = caller && pc ? pc - 1 : pc;
	struct tw_frame f = { .module = UNKNOWN_MODULE, .offset = pc };
	const struct exec_range *er;
	struct sym_slot *hit;
	struct tw_proc *p;
	Dwfl_Module *mod;
	int err;

	if (!u || pid <= 0 || !out)
		return -EINVAL;
	err = proc_get(u, pid, &p);
	if (err)
		return err;
	hit = cache_find(&p->cache, pc, caller);
	if (hit) {
		*out = hit->f;
		return 0;
	}
	mod = dwfl_addrmodule(p->dwfl, addr);
	if (!mod && !exec_range_of(p, addr) && proc_refresh_on_miss(u, p) == 1)
		mod = dwfl_addrmodule(p->dwfl, addr); /* in a library mapped since */
	er = exec_range_of(p, addr);
	/*
	 * Anonymous code between two mappings of one file is not that file's: a module spans its
	 * first mapping to its last, and node maps part of itself again next to V8's JIT code.
	 */
	if (er && er->anon)
		mod = NULL;
	if (mod)
		name_in_module(u, p, mod, pc, addr, &f);
	/* JIT code: anonymous, or in a file that is no ELF (a memfd) */
	if (!f.func && er && (er->anon || (mod && !dwfl_module_getelf(mod, &(Dwarf_Addr){ 0 }))))
		name_in_perf_map(u, p, pc, addr, &f);
	cache_put(&p->cache, pc, caller, &f);
	*out = f;
	return 0;
}

const char *unwinder_build_id(struct tw_unwinder *u, pid_t pid, uint64_t pc)
{
	const unsigned char *bits;
	Dwarf_Addr bias, vaddr;
	struct tw_proc *p;
	Dwfl_Module *mod;
	struct tw_mod *m;
	char hex[2 * 64 + 1];
	int n;

	if (!u || pid <= 0 || proc_get(u, pid, &p))
		return NULL;
	mod = dwfl_addrmodule(p->dwfl, pc);
	m = mod ? mod_of(mod) : NULL;
	if (!m)
		return NULL;
	if (m->build_id || !dwfl_module_getelf(mod, &bias))
		return m->build_id;
	n = dwfl_module_build_id(mod, &bits, &vaddr);
	if (n <= 0)
		return NULL;
	if (n > 64)
		n = 64;
	for (size_t i = 0; i < (size_t)n; i++)
		snprintf(hex + 2 * i, 3, "%02x", bits[i]);
	m->build_id = intern(&p->strings, hex);
	return m->build_id;
}

const char *unwinder_module_source(struct tw_unwinder *u, pid_t pid, uint64_t pc)
{
	struct tw_proc *p;
	Dwfl_Module *mod;
	struct tw_mod *m;

	if (!u || pid <= 0 || proc_get(u, pid, &p))
		return NULL;
	mod = dwfl_addrmodule(p->dwfl, pc);
	m = mod ? mod_of(mod) : NULL;
	return m ? m->source : NULL;
}

const char *unwind_stop_name(enum tw_unwind_stop stop)
{
	static const char *const names[] = {
		[TW_UNW_END] = "end",
		[TW_UNW_NO_STACK] = "no_stack",
		[TW_UNW_NO_MODULE] = "no_module",
		[TW_UNW_NO_CFI] = "no_cfi",
		[TW_UNW_MAX_FRAMES] = "max_frames",
		[TW_UNW_ERROR] = "error",
	};

	return (unsigned int)stop < sizeof(names) / sizeof(names[0]) ? names[stop] : "error";
}

#if defined(__x86_64__)
int unwind_regs_from_user(const struct user_regs_struct *r, uint64_t *regs)
{
	const uint64_t dwarf[TW_UREGS_ARCH] = {
		r->rax, r->rdx, r->rcx, r->rbx, r->rsi, r->rdi, r->rbp, r->rsp, r->r8,
		r->r9,	r->r10, r->r11, r->r12, r->r13, r->r14, r->r15, r->rip,
	};

	memcpy(regs, dwarf, sizeof(dwarf));
	return TW_UREGS_ARCH;
}
#endif

/* ---- the unwinder ---- */

struct tw_unwinder *unwinder_new(void)
{
	if (elf_version(EV_CURRENT) == EV_NONE)
		return NULL;
	return calloc(1, sizeof(struct tw_unwinder));
}

void unwinder_forget(struct tw_unwinder *u, pid_t pid)
{
	struct tw_proc **pp, *p;

	if (!u)
		return;
	pp = proc_slot(u, pid);
	p = *pp;
	if (!p)
		return;
	*pp = p->next;
	proc_free(p);
	u->nprocs--;
}

void unwinder_stats(const struct tw_unwinder *u, struct tw_unwind_stats *st)
{
	st->procs = u ? u->nprocs : 0;
	st->symfiles = u ? u->nsymfiles : 0;
}

void unwinder_free(struct tw_unwinder *u)
{
	if (!u)
		return;
	for (int i = 0; i < PROC_BUCKETS; i++) {
		while (u->procs[i]) {
			struct tw_proc *p = u->procs[i];

			u->procs[i] = p->next;
			proc_free(p);
		}
	}
	for (int i = 0; i < SYMFILE_BUCKETS; i++) {
		while (u->symfiles[i]) {
			struct symfile *sf = u->symfiles[i];

			u->symfiles[i] = sf->next;
			symfile_free(sf);
		}
	}
	strtab_free(&u->strings);
	free(u->buf);
	free(u->lines);
	free(u);
}
