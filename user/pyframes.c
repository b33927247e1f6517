// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * CPython frames (issue 12): finding the interpreter of a process, telling
 * the kernel where its thread states are, and naming the code objects the
 * kernel recorded. docs/design.md, "Python frames (issue 12)".
 *
 * Layouts: CPython 3.11 only so far (the table below, from the 3.11 headers:
 * Include/internal/pycore_{runtime,interp,frame,code}.h, checked against the
 * running interpreters by tests/e2e/test_pyframes.py). Any other version gets
 * native frames and one note naming it, never frames read with a wrong layout.
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
		    .adaptive = 184 } },
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
	const struct version_layout *lay;
	__u64 code_type, unicode_type, bytes_type; /* PyCode_Type... in its memory */
	struct code *codes; /* open addressing by addr */
	size_t cap, len;
};

struct tw_py {
	int map_fd;
	struct proc *procs;
	size_t nprocs, capprocs;
	bool noted[16]; /* minor versions already named in a note */
};

struct tw_py *py_new(int map_fd)
{
	struct tw_py *py = calloc(1, sizeof(*py));

	if (py)
		py->map_fd = map_fd;
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

void py_forget(struct tw_py *py, pid_t pid)
{
	struct proc *p;
	__u32 key = (__u32)pid;

	if (!py || !(p = proc_find(py, pid)))
		return;
	if (p->kind == TW_PYK_OK && py->map_fd >= 0)
		bpf_map_delete_elem(py->map_fd, &key);
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
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (ver && layouts[i].major == 3 && (int)layouts[i].minor == minor)
			p->lay = &layouts[i];
	if (!p->lay || !f.code_type || !f.unicode_type || !f.bytes_type) {
		note_version(py, pid, major, minor,
			     !ver ? "whose version its binary does not say"
				  : "a version whose layout this build does not know");
		return p->kind;
	}
	p->code_type = f.code_type + bias;
	p->unicode_type = f.unicode_type + bias;
	p->bytes_type = f.bytes_type + bias;
	if (py->map_fd >= 0) {
		struct tw_pyproc v = p->lay->walk;
		__u32 key = (__u32)pid;

		v.runtime = f.runtime + bias;
		v.version = (__u32)ver;
		if (bpf_map_update_elem(py->map_fd, &key, &v, BPF_ANY))
			return p->kind = TW_PYK_NOT; /* the map is full: native frames */
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
	unsigned char h[72], *raw = NULL;
	__u64 len;
	__u32 state, kind;
	char *out = NULL;
	size_t o = 0;

	if (!addr || mem_read(p->pid, addr, h, sizeof(h)) || get64(h, 8) != p->unicode_type)
		return NULL;
	len = get64(h, 16);
	memcpy(&state, h + 32, sizeof(state));
	kind = (state >> 2) & 7;
	/* compact (bit 5), ready (bit 7); kind 1, 2 or 4 bytes a character */
	if (!len || len > STR_MAX || !(state & 0x20) || !(state & 0x80) ||
	    (kind != 1 && kind != 2 && kind != 4))
		return NULL;
	if (!(raw = malloc(len * kind)) || !(out = malloc(len * 4 + 1)))
		goto fail;
	if (mem_read(p->pid, addr + ((state & 0x40) ? 48 : 72), raw, len * kind))
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
	unsigned char h[32];
	uint8_t *b;
	__u64 n;

	if (!addr || mem_read(p->pid, addr, h, sizeof(h)) || get64(h, 8) != p->bytes_type) {
		return NULL;
	}
	n = get64(h, 16);
	if (!n || n > TABLE_MAX || !(b = malloc(n)))
		return NULL;
	if (mem_read(p->pid, addr + 32, b, n)) {
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

		if (p->cap >= CODES_MAX) {
			codes_free(p); /* start again: bounded memory */
			ncap = 256;
		}
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
	const struct code_layout *l = &p->lay->code;
	unsigned char h[CODE_HDR];
	struct code *c, n = { .addr = addr };
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
	if (c->addr) {
		free(c->qualname);
		free(c->file);
		free(c->table);
	} else {
		p->len++;
	}
	*c = n;
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
