// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * CPython frames (issue 12): finding the interpreter of a process, telling
 * the kernel where its thread states are, and naming the code objects the
 * kernel recorded. docs/design.md, "Python frames (issue 12)".
 *
 * Layouts: CPython 3.11 from a table (the 3.11 headers:
 * Include/internal/pycore_{runtime,interp,frame,code}.h), 3.13 from the
 * _Py_DebugOffsets its _PyRuntime starts with (where that struct's fields are
 * is per version: debug_layouts), both checked against running interpreters
 * by tests/e2e/test_pyframes.py. Any other version gets native frames and one
 * note naming it, never frames read with a wrong layout.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "pyframes.h"

/* A code object's fields user space reads (3.11) */
struct code_layout {
	__u16 ob_type, ob_size, firstlineno, filename, qualname, linetable, adaptive;
	/* str: length, state; the characters of a compact ASCII one and of another compact one */
	__u16 str_length, str_state, str_ascii, str_compact;
	__u32 str_ready; /* the state bit a usable str has set (3.11's ready), or 0 */
	__u16 bytes_size, bytes_data; /* PyBytesObject ob_size, ob_sval */
};

struct version_layout {
	__u32 major, minor;
	struct tw_pyproc walk; /* offsets and flags (runtime and version filled per process) */
	struct code_layout code;
};

static const struct version_layout layouts[] = {
	{ .major = 3,
	  .minor = 11,
	  .walk = { .flags = TW_PYP_CFRAME | TW_PYP_IS_ENTRY,
		    .rt_interp_head = 40, /* _PyRuntimeState.interpreters.head */
		    .is_threads_head = 16, /* PyInterpreterState.threads.head */
		    .ts_next = 8,
		    .ts_native_tid = 160,
		    .ts_frame = 56, /* PyThreadState.cframe */
		    .cf_current_frame = 8,
		    .fr_code = 32,
		    .fr_previous = 48,
		    .fr_instr = 56, /* prev_instr */
		    .fr_entry = 68, /* is_entry */
		    .code_adaptive = 184 },
	  .code = { .ob_type = 8,
		    .ob_size = 16,
		    .firstlineno = 72,
		    .filename = 112,
		    .qualname = 128,
		    .linetable = 136,
		    .adaptive = 184,
		    .str_length = 16,
		    .str_state = 32,
		    .str_ascii = 48, /* sizeof(PyASCIIObject) */
		    .str_compact = 72, /* sizeof(PyCompactUnicodeObject) */
		    .str_ready = 0x80,
		    .bytes_size = 16,
		    .bytes_data = 32 } },
};

/*
 * 3.13: the layout is in the process, in the _Py_DebugOffsets that start its
 * _PyRuntime (Include/internal/pycore_runtime.h of 3.13; that struct itself
 * changes between minor versions, so where its fields are is per version).
 */
#define PY313_DEBUG_BYTES 584 /* sizeof(_Py_DebugOffsets), 3.13 */
struct debug_layout {
	__u32 minor;
	__u16 version, free_threaded, rt_interp_head, is_threads_head, ts_next, ts_current_frame,
		ts_native_tid, fr_previous, fr_executable, fr_instr_ptr, fr_owner, co_filename,
		co_qualname, co_linetable, co_firstlineno, co_adaptive, ob_type, bytes_size,
		bytes_sval, str_state, str_length, str_ascii_size;
};

static const struct debug_layout debug_layouts[] = {
	{ .minor = 13,
	  .version = 8,
	  .free_threaded = 16,
	  .rt_interp_head = 40,
	  .is_threads_head = 72,
	  .ts_next = 168,
	  .ts_current_frame = 184,
	  .ts_native_tid = 200,
	  .fr_previous = 232,
	  .fr_executable = 240,
	  .fr_instr_ptr = 248,
	  .fr_owner = 264,
	  .co_filename = 280,
	  .co_qualname = 296,
	  .co_linetable = 304,
	  .co_firstlineno = 312,
	  .co_adaptive = 344,
	  .ob_type = 360,
	  .bytes_size = 520,
	  .bytes_sval = 528,
	  .str_state = 544,
	  .str_length = 552,
	  .str_ascii_size = 560 },
};

#define CODE_HDR 192 /* bytes of a code object read: every field above */
#define STR_MAX 1024 /* characters of a name or file kept */
#define TABLE_MAX (256 << 10) /* bytes of a location table read */
#define CODES_MAX 65536
#define PY_RELOOK_NS \
	1000000000ULL /* a process without CPython is looked at again after 1 s */ /* code objects cached per process; then the cache starts again */

struct code {
	__u64 addr; /* 0: free slot */
	__u64 qualname_p, filename_p, table_p; /* as read: a reused address changes them */
	int firstlineno;
	__u32 nunits; /* ob_size: code units, bounds lasti */
	char *qualname, *file;
	uint8_t *table;
	size_t table_len;
};

struct proc {
	pid_t pid;
	enum tw_py_kind kind;
	__u64 looked_ns; /* when: a process found without CPython is looked at again later */
	struct version_layout lay; /* kind TW_PYK_OK: its version's */
	__u64 code_type, unicode_type, bytes_type; /* PyCode_Type... in its memory */
	struct code *codes; /* open addressing by addr */
	size_t cap, len;
	__u64 runtime, long_type, dict_type, module_type; /* for user/pythreads.c (py_mem) */
};

struct tw_py {
	int map_fd, bits_fd;
	struct proc *procs;
	size_t nprocs, capprocs;
	bool noted[16]; /* minor versions already named in a note */
};

struct tw_py *py_new(int map_fd, int bits_fd)
{
	struct tw_py *py = calloc(1, sizeof(*py));

	if (py) {
		py->map_fd = map_fd;
		py->bits_fd = bits_fd;
	}
	elf_version(EV_CURRENT);
	return py;
}

static void codes_free(struct proc *p)
{
	for (size_t i = 0; i < p->cap; i++) {
		free(p->codes[i].qualname);
		free(p->codes[i].file);
		free(p->codes[i].table);
	}
	free(p->codes);
	p->codes = NULL;
	p->cap = p->len = 0;
}

void py_free(struct tw_py *py)
{
	if (!py)
		return;
	for (size_t i = 0; i < py->nprocs; i++)
		codes_free(&py->procs[i]);
	free(py->procs);
	free(py);
}

static struct proc *proc_find(struct tw_py *py, pid_t pid)
{
	for (size_t i = 0; i < py->nprocs; i++)
		if (py->procs[i].pid == pid)
			return &py->procs[i];
	return NULL;
}

/* pid's bit in py_bits (bpf/pyframes.bpf.h): the kernel's first test of a capture */
static int py_bit(const struct tw_py *py, pid_t pid, bool on)
{
	__u32 word = (__u32)pid / 64;
	__u64 bits = 0, bit = 1ULL << ((__u32)pid % 64);

	if (py->bits_fd < 0)
		return 0;
	if (bpf_map_lookup_elem(py->bits_fd, &word, &bits))
		return -errno; /* past pid_max */
	bits = on ? bits | bit : bits & ~bit;
	return bpf_map_update_elem(py->bits_fd, &word, &bits, BPF_ANY) ? -errno : 0;
}

void py_forget(struct tw_py *py, pid_t pid)
{
	struct proc *p;
	__u32 key = (__u32)pid;

	if (!py || !(p = proc_find(py, pid)))
		return;
	if (p->kind == TW_PYK_OK && py->map_fd >= 0) {
		py_bit(py, pid, false);
		bpf_map_delete_elem(py->map_fd, &key);
	}
	codes_free(p);
	*p = py->procs[--py->nprocs];
}

static int mem_read(pid_t pid, __u64 addr, void *buf, size_t len)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };

	return process_vm_readv(pid, &local, 1, &remote, 1, 0) == (ssize_t)len ? 0 : -EFAULT;
}

static __u64 get64(const unsigned char *b, size_t off)
{
	__u64 v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

/* ---- finding the interpreter ---- */

struct found {
	char path[4096]; /* as the maps name it */
	__u64 start, end, pgoff; /* its first mapping */
	bool lib; /* libpython3.X.so */
	__u64 runtime, version, code_type, unicode_type, bytes_type; /* symbol values */
	__u64 long_type, dict_type, module_type; /* the same, for user/pythreads.c */
	__u64 load_vaddr; /* page-aligned vaddr of the PT_LOAD at pgoff */
	bool have_runtime, have_version;
	int fname_minor; /* 3.X from the file name, or -1 */
};

/* "libpython3.11.so.1.0", "python3.11", "python3": the minor version its name says, or -1 */
static bool python_name(const char *base, bool *lib, int *minor)
{
	const char *v;

	*lib = !strncmp(base, "libpython3", 10);
	if (*lib)
		v = base + 10;
	else if (!strncmp(base, "python3", 7))
		v = base + 7;
	else
		return false;
	*minor = -1;
	if (v[0] == '.' && v[1] >= '0' && v[1] <= '9')
		*minor = (int)strtol(v + 1, NULL, 10);
	return !*lib || strstr(v, ".so");
}

/* The interpreter's file in pid's maps: libpython first (the binary then only calls it). */
static int find_mapping(pid_t pid, struct found *f)
{
	char path[64], line[4352];
	bool have = false;
	FILE *m;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	if (!(m = fopen(path, "re")))
		return -errno;
	while (fgets(line, sizeof(line), m)) {
		unsigned long long start, end, pgoff;
		char perms[8], file[4096] = "";
		const char *base;
		bool lib;
		int minor;

		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %4095[^\n]", &start, &end, perms,
			   &pgoff, file) < 5 ||
		    file[0] != '/')
			continue;
		base = strrchr(file, '/') + 1;
		if (!python_name(base, &lib, &minor))
			continue;
		if (have && (f->lib || !lib))
			continue; /* the first mapping of the file we keep */
		if (have && !strcmp(f->path, file))
			continue;
		snprintf(f->path, sizeof(f->path), "%s", file);
		f->start = start;
		f->end = end;
		f->pgoff = pgoff;
		f->lib = lib;
		f->fname_minor = minor;
		have = true;
	}
	fclose(m);
	return have ? 0 : -ENOENT;
}

static void take_sym(struct found *f, const char *name, __u64 value)
{
	if (!strcmp(name, "_PyRuntime")) {
		f->runtime = value;
		f->have_runtime = true;
	} else if (!strcmp(name, "Py_Version")) {
		f->version = value;
		f->have_version = true;
	} else if (!strcmp(name, "PyCode_Type")) {
		f->code_type = value;
	} else if (!strcmp(name, "PyUnicode_Type")) {
		f->unicode_type = value;
	} else if (!strcmp(name, "PyBytes_Type")) {
		f->bytes_type = value;
	} else if (!strcmp(name, "PyLong_Type")) {
		f->long_type = value;
	} else if (!strcmp(name, "PyDict_Type")) {
		f->dict_type = value;
	} else if (!strcmp(name, "PyModule_Type")) {
		f->module_type = value;
	}
}

/* Symbols and the load segment of the file, opened as pid sees it (containers). */
static int read_elf(pid_t pid, struct found *f)
{
	char path[4200];
	size_t nph;
	Elf_Scn *scn = NULL;
	Elf *e;
	int fd, err = -ENOENT;

	/*
	 * As the process sees it (containers), else through the mapping itself: a
	 * chroot's maps name the file as we see it, not as it does (and a deleted
	 * or replaced binary is only there)
	 */
	snprintf(path, sizeof(path), "/proc/%d/root%s", pid, f->path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", pid,
			 (unsigned long long)f->start, (unsigned long long)f->end);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!e || elf_kind(e) != ELF_K_ELF || elf_getphdrnum(e, &nph))
		goto out;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_LOAD &&
		    (ph.p_offset & ~0xfffULL) == f->pgoff) {
			f->load_vaddr = ph.p_vaddr & ~0xfffULL;
			err = 0;
			break;
		}
	}
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) ||
		    (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB))
			continue;
		if (!(d = elf_getdata(scn, NULL)) || !sh.sh_entsize)
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;
			const char *name;

			if (!gelf_getsym(d, (int)i, &s) || s.st_shndx == SHN_UNDEF || !s.st_value)
				continue;
			if ((name = elf_strptr(e, sh.sh_link, s.st_name)) && name[0] &&
			    (name[0] == '_' || name[0] == 'P'))
				take_sym(f, name, s.st_value);
		}
	}
out:
	if (e)
		elf_end(e);
	close(fd);
	return err;
}

static struct proc *proc_add(struct tw_py *py, pid_t pid)
{
	if (py->nprocs == py->capprocs) {
		size_t ncap = py->capprocs ? py->capprocs * 2 : 16;
		struct proc *n = realloc(py->procs, ncap * sizeof(*n));

		if (!n)
			return NULL;
		py->procs = n;
		py->capprocs = ncap;
	}
	memset(&py->procs[py->nprocs], 0, sizeof(py->procs[0]));
	py->procs[py->nprocs].pid = pid;
	return &py->procs[py->nprocs++];
}

static void note_version(struct tw_py *py, pid_t pid, int major, int minor, const char *why)
{
	size_t slot = minor >= 0 && minor < 16 ? (size_t)minor : 15;

	if (py->noted[slot])
		return;
	py->noted[slot] = true;
	fprintf(stderr,
		"bpf-threadwatch: process %d runs CPython %d.%d, %s: its stacks show the "
		"interpreter's native frames, not Python's\n",
		pid, major, minor, why);
}

/* One offset of the debug offsets: true if it is one the walk can use (below `below`). */
static bool off16(const unsigned char *d, __u16 at, __u16 *out, __u32 below)
{
	__u64 v = get64(d, at);

	*out = (__u16)v;
	return v < below;
}

/*
 * p's layout from the _Py_DebugOffsets at runtime (3.13+): the cookie, the
 * version the binary says, a build with the GIL, and offsets that fit where
 * they are used (a frame's fields within the bytes the kernel reads of it).
 */
static bool debug_offsets(struct proc *p, const struct debug_layout *dl, __u64 runtime, __u64 ver)
{
	unsigned char d[PY313_DEBUG_BYTES];
	struct version_layout *l = &p->lay;
	struct code_layout *c = &l->code;
	struct tw_pyproc *w = &l->walk;
	__u16 ascii;
	bool ok = true;

	if (mem_read(p->pid, runtime, d, sizeof(d)) || memcmp(d, "xdebugpy", 8) != 0 ||
	    get64(d, dl->version) >> 16 != ver >> 16 || get64(d, dl->free_threaded))
		return false;
	memset(l, 0, sizeof(*l));
	l->major = 3;
	l->minor = dl->minor;
	w->flags = TW_PYP_OWNER_SHIM;
	ok &= off16(d, dl->rt_interp_head, &w->rt_interp_head, 1 << 16);
	ok &= off16(d, dl->is_threads_head, &w->is_threads_head, 1 << 16);
	ok &= off16(d, dl->ts_next, &w->ts_next, 1 << 16);
	ok &= off16(d, dl->ts_current_frame, &w->ts_frame, 1 << 16);
	ok &= off16(d, dl->ts_native_tid, &w->ts_native_tid, 1 << 16);
	/* the kernel reads TW_PY_FRAME_READ bytes of a frame: 8-byte fields within, the owner byte */
	ok &= off16(d, dl->fr_previous, &w->fr_previous, TW_PY_FRAME_READ - 7);
	ok &= off16(d, dl->fr_executable, &w->fr_code, TW_PY_FRAME_READ - 7);
	ok &= off16(d, dl->fr_instr_ptr, &w->fr_instr, TW_PY_FRAME_READ - 7);
	ok &= off16(d, dl->fr_owner, &w->fr_entry, TW_PY_FRAME_READ);
	ok &= off16(d, dl->co_adaptive, &w->code_adaptive, 1 << 16);
	/* the code object's fields user space reads: within its CODE_HDR bytes */
	c->ob_size = 16; /* PyVarObject.ob_size: code units */
	ok &= off16(d, dl->ob_type, &c->ob_type, CODE_HDR - 7);
	ok &= off16(d, dl->co_filename, &c->filename, CODE_HDR - 7);
	ok &= off16(d, dl->co_qualname, &c->qualname, CODE_HDR - 7);
	ok &= off16(d, dl->co_linetable, &c->linetable, CODE_HDR - 7);
	ok &= off16(d, dl->co_firstlineno, &c->firstlineno, CODE_HDR - 3);
	ok &= off16(d, dl->co_adaptive, &c->adaptive, 1 << 16);
	ok &= off16(d, dl->bytes_size, &c->bytes_size, 32 - 7);
	ok &= off16(d, dl->bytes_sval, &c->bytes_data, 1 << 16);
	ok &= off16(d, dl->str_state, &c->str_state, 64 - 3);
	ok &= off16(d, dl->str_length, &c->str_length, 64 - 7);
	ok &= off16(d, dl->str_ascii_size, &ascii, 1 << 16);
	/* a compact non-ASCII str: PyCompactUnicodeObject adds utf8_length and utf8 (3.12+) */
	c->str_ascii = ascii;
	c->str_compact = (__u16)(ascii + 16);
	c->str_ready = 0; /* 3.12 removed the ready bit: every str is */
	return ok;
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

enum tw_py_kind py_detect(struct tw_py *py, pid_t pid, bool again)
{
	struct found f = { 0 };
	struct proc *p = proc_find(py, pid);
	__u64 bias, ver = 0, now = now_ns();
	int major = 3, minor;

	/*
	 * Without CPython in it, looked at again after PY_RELOOK_NS: a process
	 * seen just after its exec, before the loader mapped libpython
	 */
	if (p && (p->kind != TW_PYK_NOT || (!again && now - p->looked_ns < PY_RELOOK_NS)))
		return p->kind;
	if (!p && !(p = proc_add(py, pid)))
		return TW_PYK_NOT; /* looked at again next time */
	p->looked_ns = now;
	if (find_mapping(pid, &f) || read_elf(pid, &f) || !f.have_runtime)
		return p->kind = TW_PYK_NOT;
	bias = f.start - f.load_vaddr;
	/* the version from the binary itself (3.11+ export Py_Version), else its file name */
	if (f.have_version && mem_read(pid, f.version + bias, &ver, sizeof(ver)))
		return p->kind = TW_PYK_NOT; /* not mapped yet (an exec in progress): later */
	if (f.have_version && (ver >> 24) == 3) {
		minor = (int)((ver >> 16) & 0xff);
	} else {
		minor = f.fname_minor;
		ver = 0;
	}
	p->kind = TW_PYK_UNSUPPORTED;
	bool have = false;

	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		if (ver && layouts[i].major == 3 && (int)layouts[i].minor == minor) {
			p->lay = layouts[i];
			have = true;
		}
	}
	for (size_t i = 0; i < sizeof(debug_layouts) / sizeof(debug_layouts[0]); i++)
		if (ver && (int)debug_layouts[i].minor == minor)
			have = debug_offsets(p, &debug_layouts[i], f.runtime + bias, ver);
	if (!have || !f.code_type || !f.unicode_type || !f.bytes_type) {
		note_version(py, pid, major, minor,
			     !ver ? "whose version its binary does not say"
				  : "a version whose layout this build does not know");
		return p->kind;
	}
	p->code_type = f.code_type + bias;
	p->unicode_type = f.unicode_type + bias;
	p->bytes_type = f.bytes_type + bias;
	p->runtime = f.runtime + bias;
	p->long_type = f.long_type ? f.long_type + bias : 0;
	p->dict_type = f.dict_type ? f.dict_type + bias : 0;
	p->module_type = f.module_type ? f.module_type + bias : 0;
	if (py->map_fd >= 0) {
		struct tw_pyproc v = p->lay.walk;
		__u32 key = (__u32)pid;

		v.runtime = f.runtime + bias;
		v.version = (__u32)ver;
		if (bpf_map_update_elem(py->map_fd, &key, &v, BPF_ANY))
			return p->kind = TW_PYK_NOT; /* the map is full: native frames */
		if (py_bit(py, pid, true)) {
			bpf_map_delete_elem(py->map_fd, &key);
			return p->kind = TW_PYK_NOT;
		}
	}
	return p->kind = TW_PYK_OK;
}

/* ---- naming code objects ---- */

/* UTF-8 of one code point into o (room for 4) */
static size_t utf8(__u32 c, char *o)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xc0 | (c >> 6));
		o[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (char)(0xe0 | (c >> 12));
		o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		o[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (c >> 18));
	o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	o[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/*
 * A str object of pid as UTF-8 (malloc'ed), or NULL if it is not a compact
 * str (3.11's PyASCIIObject: length at 16, state at 32, ASCII data at 48,
 * other kinds at 72) of sane length.
 */
static char *read_str(const struct proc *p, __u64 addr)
{
	const struct code_layout *l = &p->lay.code;
	unsigned char h[64], *raw = NULL;
	__u64 len;
	__u32 state, kind;
	char *out = NULL;
	size_t o = 0;

	if (!addr || mem_read(p->pid, addr, h, sizeof(h)) || get64(h, 8) != p->unicode_type)
		return NULL;
	len = get64(h, l->str_length);
	memcpy(&state, h + l->str_state, sizeof(state));
	kind = (state >> 2) & 7;
	/* compact (bit 5), ready (3.11: bit 7); kind 1, 2 or 4 bytes a character */
	if (!len || len > STR_MAX || !(state & 0x20) || (state & l->str_ready) != l->str_ready ||
	    (kind != 1 && kind != 2 && kind != 4))
		return NULL;
	if (!(raw = malloc(len * kind)) || !(out = malloc(len * 4 + 1)))
		goto fail;
	if (mem_read(p->pid, addr + ((state & 0x40) ? l->str_ascii : l->str_compact), raw,
		     len * kind))
		goto fail;
	for (size_t i = 0; i < len; i++) {
		__u32 c = kind == 1 ? raw[i] : kind == 2 ? ((__u16 *)raw)[i] : ((__u32 *)raw)[i];

		if (!c || c > 0x10ffff || ((state & 0x40) && c > 0x7f))
			goto fail;
		o += utf8(c, out + o);
	}
	out[o] = '\0';
	free(raw);
	return out;
fail:
	free(raw);
	free(out);
	return NULL;
}

/* A bytes object of pid (malloc'ed, *len), or NULL: PyBytesObject, ob_size at 16, data at 32 */
static uint8_t *read_bytes(const struct proc *p, __u64 addr, size_t *len)
{
	const struct code_layout *l = &p->lay.code;
	unsigned char h[32];
	uint8_t *b;
	__u64 n;

	if (!addr || mem_read(p->pid, addr, h, sizeof(h)) || get64(h, 8) != p->bytes_type)
		return NULL;
	n = get64(h, l->bytes_size);
	if (!n || n > TABLE_MAX || !(b = malloc(n)))
		return NULL;
	if (mem_read(p->pid, addr + l->bytes_data, b, n)) {
		free(b);
		return NULL;
	}
	*len = n;
	return b;
}

static struct code *code_slot(struct proc *p, __u64 addr)
{
	size_t mask, i;

	if (p->len * 2 >= p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 256;
		struct code *n;

		if (!(n = calloc(ncap, sizeof(*n))))
			return NULL;
		for (size_t j = 0; j < p->cap; j++) {
			if (!p->codes[j].addr)
				continue;
			for (i = (p->codes[j].addr >> 4) & (ncap - 1); n[i].addr;
			     i = (i + 1) & (ncap - 1))
				;
			n[i] = p->codes[j];
		}
		free(p->codes);
		p->codes = n;
		p->cap = ncap;
	}
	mask = p->cap - 1;
	for (i = (addr >> 4) & mask; p->codes[i].addr && p->codes[i].addr != addr;
	     i = (i + 1) & mask)
		;
	return &p->codes[i];
}

/*
 * The code object at addr, read now and checked against what is cached: its
 * type is PyCode_Type, its size sane, and its name, file and line table the
 * objects cached for it (a freed and reused address reads as another object).
 */
static const struct code *code_get(struct proc *p, __u64 addr)
{
	const struct code_layout *l = &p->lay.code;
	unsigned char h[CODE_HDR];
	struct code *c, old, n = { .addr = addr };
	int fl;

	if (!addr || mem_read(p->pid, addr, h, sizeof(h)) || get64(h, l->ob_type) != p->code_type)
		return NULL;
	n.qualname_p = get64(h, l->qualname);
	n.filename_p = get64(h, l->filename);
	n.table_p = get64(h, l->linetable);
	memcpy(&fl, h + l->firstlineno, sizeof(fl));
	n.firstlineno = fl;
	n.nunits = (__u32)get64(h, l->ob_size);
	if (fl < 0 || get64(h, l->ob_size) > (1 << 24))
		return NULL;
	if (!(c = code_slot(p, addr)))
		return NULL;
	if (c->addr && c->qualname_p == n.qualname_p && c->filename_p == n.filename_p &&
	    c->table_p == n.table_p && c->firstlineno == n.firstlineno && c->nunits == n.nunits)
		return c;
	n.qualname = read_str(p, n.qualname_p);
	n.file = read_str(p, n.filename_p);
	n.table = read_bytes(p, n.table_p, &n.table_len);
	/* all three, or the object is not (any more) a code object: nothing half-read is named */
	if (!n.qualname || !n.file || !n.table) {
		free(n.qualname);
		free(n.file);
		free(n.table);
		return NULL;
	}
	old = *c;
	*c = n;
	if (old.addr) {
		free(old.qualname); /* another object now (the address was freed and reused) */
		free(old.file);
		free(old.table);
	} else {
		p->len++;
	}
	return c;
}

static int varint(const uint8_t *t, size_t len, size_t *i)
{
	unsigned int v = 0, shift = 0;
	uint8_t b;

	do {
		if (*i >= len || shift > 28)
			return 0;
		b = t[(*i)++];
		v |= (unsigned int)(b & 63) << shift;
		shift += 6;
	} while (b & 64);
	return (int)v;
}

static int svarint(const uint8_t *t, size_t len, size_t *i)
{
	unsigned int v = (unsigned int)varint(t, len, i);

	return (v & 1) ? -(int)(v >> 1) : (int)(v >> 1);
}

/*
 * CPython 3.11's location table (Objects/locations.md): entries of a first
 * byte 1CCCCLLL (L + 1 code units, C the form), then the form's varints. The
 * line changes by: forms 0-9 (short), 0; 10, 11, 12 (one line), 0, 1, 2;
 * 13 (no columns) and 14 (long), a signed varint; 15 (none): no line.
 */
int py_line311(const uint8_t *t, size_t len, int firstlineno, int lasti)
{
	int line = firstlineno, end = 0;
	size_t i = 0;

	if (lasti < 0)
		return firstlineno;
	while (i < len) {
		uint8_t first = t[i++];
		int code = (first >> 3) & 15, units = (first & 7) + 1, delta = 0;

		if (!(first & 0x80))
			return 0; /* not an entry's first byte: a table we misread */
		if (code == 13 || code == 14)
			delta = svarint(t, len, &i);
		else if (code >= 10 && code <= 12)
			delta = code - 10;
		line += delta;
		/* the rest of the entry (column varints, bytes) up to the next first byte */
		while (i < len && !(t[i] & 0x80))
			i++;
		end += units * 2;
		if (lasti < end)
			return code == 15 ? 0 : line;
	}
	return 0;
}

int py_names(struct tw_py *py, pid_t pid, const struct tw_pyframe *f, int n, struct tw_pyname *out)
{
	struct proc *p = proc_find(py, pid);
	int bad = 0;

	/* bounded memory: start again, between calls (out[] points into the cache) */
	if (p && p->len + TW_PY_FRAMES_MAX >= CODES_MAX)
		codes_free(p);
	for (int i = 0; i < n; i++) {
		const struct code *c = p && p->kind == TW_PYK_OK ? code_get(p, f[i].code) : NULL;

		out[i] = (struct tw_pyname){ 0 };
		if (!c || f[i].lasti < -2 || (__u32)(f[i].lasti + 2) >= c->nunits * 2 + 2) {
			bad++;
			continue;
		}
		out[i].qualname = c->qualname;
		out[i].file = c->file;
		out[i].line = py_line311(c->table, c->table_len, c->firstlineno, f[i].lasti);
	}
	return bad;
}

int py_merge_plan(const char *const *funcs, int nnative, const bool *entry, int npy, int *plan,
		  int max)
{
	int k = 0, j = 0;

	for (int i = 0; i < nnative && k < max; i++) {
		if (j >= npy || !funcs[i] || strcmp(funcs[i], "_PyEval_EvalFrameDefault") != 0) {
			plan[k++] = i;
			continue;
		}
		/* this eval loop's frames: up to and including its entry frame */
		while (j < npy && k < max) {
			bool last = entry[j];

			plan[k++] = -1 - j++;
			if (last)
				break;
		}
	}
	while (j < npy && k < max)
		plan[k++] = -1 - j++;
	return k;
}

/* ---- for user/pythreads.c: what was found, without looking again ---- */

bool py_mem(struct tw_py *py, pid_t pid, struct tw_pymem *out)
{
	struct proc *p = py ? proc_find(py, pid) : NULL;

	if (!p || p->kind != TW_PYK_OK || !p->long_type || !p->dict_type || !p->module_type)
		return false;
	*out = (struct tw_pymem){ .pid = pid,
				  .minor = (int)p->lay.minor,
				  .runtime = p->runtime,
				  .rt_interp_head = p->lay.walk.rt_interp_head,
				  .is_threads_head = p->lay.walk.is_threads_head,
				  .ts_next = p->lay.walk.ts_next,
				  .ts_native_tid = p->lay.walk.ts_native_tid,
				  .unicode_type = p->unicode_type,
				  .long_type = p->long_type,
				  .dict_type = p->dict_type,
				  .module_type = p->module_type };
	return true;
}

int py_mem_read(pid_t pid, __u64 addr, void *buf, size_t len)
{
	return mem_read(pid, addr, buf, len);
}

char *py_str(struct tw_py *py, pid_t pid, __u64 addr)
{
	struct proc *p = py ? proc_find(py, pid) : NULL;

	return p && p->kind == TW_PYK_OK ? read_str(p, addr) : NULL;
}
