// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * Python thread names (issue 12): user/pythreads.h, docs/design.md "Python
 * thread names".
 *
 * The path, as py-spy walks it (src/python_threading.rs): the interpreter's
 * sys.modules dict, its "threading" module, that module's dict, its
 * "_active" dict ({ident: Thread}), then each Thread's instance attributes.
 * Those are not a dict of their own: Thread objects have a managed dict
 * (Py_TPFLAGS_MANAGED_DICT), their values in an array whose keys are the
 * type's shared keys (PyHeapTypeObject.ht_cached_keys):
 * - 3.11 (Include/internal/pycore_object.h, Objects/dictobject.c): the
 *   values array pointer 4 words before the object, the dict pointer 3
 *   before (used once a dict was made); the values array is preceded by its
 *   insertion order, its size and the prefix's size (new_values());
 * - 3.13 (Py_TPFLAGS_INLINE_VALUES): the values follow the object at
 *   tp_basicsize, a PyDictValues whose header says capacity and validity;
 *   the dict pointer 3 words before the object.
 * Every object's type is checked against the type objects (PyDict_Type,
 * PyLong_Type, PyUnicode_Type, PyModule_Type) in its memory, and a name is
 * kept only for a Thread whose _ident is its key in _active and whose
 * (_native_id, _ident) is a PyThreadState's (native_thread_id, thread_id):
 * a half-built, dead or reused object shows no name, never a wrong one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "pyframes.h"
#include "pythreads.h"

#define DICT_MAX 16384 /* entries of a dict read (sys.modules, a module's, _active) */
#define KEY_HDR 64 /* bytes of a key str read: a short ASCII one's characters are in them */
#define TF_MANAGED_DICT (1UL << 4)
#define TF_INLINE_VALUES (1UL << 2) /* 3.13 */
#define PY313_DEBUG_BYTES 584 /* sizeof(_Py_DebugOffsets), 3.13 */

/* offsets from the 3.11 headers (pycore_interp.h, pycore_dict.h, cpython/object.h) */
const struct tw_pyt_layout tw_pyt_311 = {
	.minor = 11,
	.interp_modules = 888,
	.ts_thread_id = 152,
	.tp_basicsize = 32,
	.tp_flags = 168,
	.ht_cached_keys = 872,
	.dict_keys = 32,
	.dict_values = 40,
	.long_size = 16,
	.long_digits = 24,
	.str_length = 16,
	.str_state = 32,
	.str_ascii = 48,
	.str_ready = 0x80,
	.values_skip = 0,
	.inline_values = false,
};

static __u64 get64(const uint8_t *b, size_t off)
{
	__u64 v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

/* One offset of 3.13's _Py_DebugOffsets (its byte offset at): true if below `below`. */
static bool dbg(const uint8_t *d, size_t at, __u16 *out, __u64 below)
{
	__u64 v = get64(d, at);

	*out = (__u16)v;
	return v < below;
}

/*
 * The _Py_DebugOffsets of 3.13 (Include/internal/pycore_runtime.h): each
 * field a __u64, in this order: runtime_state at 24, interpreter_state at 48
 * (imports_modules at 88), thread_state at 152 (thread_id at 192),
 * type_object at 368 (size, tp_name, tp_repr, tp_flags), dict_object at 448
 * (size, ma_keys, ma_values), long_object at 488 (size, lv_tag, ob_digit),
 * unicode_object at 536 (size, state, length, asciiobject_size).
 */
bool pyt_layout313(const uint8_t *d, size_t n, struct tw_pyt_layout *l)
{
	__u16 tsize;
	bool ok = true;

	if (n < PY313_DEBUG_BYTES || memcmp(d, "xdebugpy", 8) != 0 ||
	    ((get64(d, 8) >> 16) & 0xffff) != 0x030d || get64(d, 16))
		return false;
	memset(l, 0, sizeof(*l));
	l->minor = 13;
	ok &= dbg(d, 88, &l->interp_modules, 1 << 16);
	ok &= dbg(d, 192, &l->ts_thread_id, 1024);
	ok &= dbg(d, 368, &tsize, 1024); /* sizeof(PyTypeObject) */
	ok &= dbg(d, 392, &l->tp_flags, 1024);
	ok &= dbg(d, 456, &l->dict_keys, 48 - 7);
	ok &= dbg(d, 464, &l->dict_values, 48 - 7);
	ok &= dbg(d, 496, &l->long_size, 40 - 7);
	ok &= dbg(d, 504, &l->long_digits, 40 - 11);
	ok &= dbg(d, 544, &l->str_state, KEY_HDR - 3);
	ok &= dbg(d, 552, &l->str_length, KEY_HDR - 7);
	ok &= dbg(d, 560, &l->str_ascii, KEY_HDR - 8);
	l->tp_basicsize = 32; /* PyObject_VAR_HEAD, tp_name: every 3.x */
	/*
	 * PyHeapTypeObject: the type, then as_async (4 pointers), as_number (36),
	 * as_mapping (3), as_sequence (10), as_buffer (2), ht_name, ht_slots,
	 * ht_qualname (Include/cpython/object.h): 3.11's 872 is 408 + 464
	 */
	l->ht_cached_keys = (__u16)(tsize + 464);
	l->str_ready = 0;
	l->values_skip = 8; /* capacity, size, embedded, valid, then the values */
	l->inline_values = true;
	return ok;
}

bool pyt_long(const uint8_t *h, size_t n, const struct tw_pyt_layout *l, __u64 *out)
{
	__u64 size, ndig, v = 0;

	if (n < (size_t)l->long_digits + 12 || n < (size_t)l->long_size + 8)
		return false;
	size = get64(h, l->long_size);
	if (l->minor <= 11) {
		if ((__s64)size < 0)
			return false;
		ndig = size;
	} else {
		/* lv_tag: digits << 3, sign in the low 2 bits (0 positive, 1 zero, 2 negative) */
		if ((size & 3) == 2 || (size & 4))
			return false;
		ndig = (size & 3) == 1 ? 0 : size >> 3;
		if ((size & 3) == 1 && size >> 3)
			return false;
	}
	if (ndig > 3)
		return false;
	for (__u64 i = ndig; i-- > 0;) {
		__u32 d;

		memcpy(&d, h + l->long_digits + 4 * i, sizeof(d));
		if (d >> 30 || (i == 2 && d >> 4))
			return false; /* not a 30-bit digit, or past 64 bits */
		v = (v << 30) | d;
	}
	*out = v;
	return true;
}

bool pyt_str_is(const uint8_t *h, size_t n, const struct tw_pyt_layout *l, const char *name)
{
	size_t len = strlen(name);
	__u32 state;

	if (n < (size_t)l->str_state + 4 || n < (size_t)l->str_length + 8 ||
	    (size_t)l->str_ascii + len > n)
		return false;
	memcpy(&state, h + l->str_state, sizeof(state));
	/* compact (bit 5) and ASCII (bit 6), ready (3.11) */
	if (!(state & 0x20) || !(state & 0x40) || (state & l->str_ready) != l->str_ready)
		return false;
	return get64(h, l->str_length) == len && !memcmp(h + l->str_ascii, name, len);
}

bool pyt_keys(const uint8_t *h, struct tw_pyt_keys *k)
{
	uint8_t log2_size = h[8], log2_index = h[9], kind = h[10];
	__u64 nentries = get64(h, 24);

	/* 1 << log2_size slots of 1, 2, 4 or 8 bytes; kinds: general, unicode, split */
	if (log2_size < 3 || log2_size > 24 || log2_index < log2_size ||
	    log2_index > log2_size + 3 || kind > 2 || nentries > (1ULL << log2_size))
		return false;
	k->nentries = (__u32)nentries;
	k->entries_off = 32 + (1U << log2_index);
	k->esz = kind == 0 ? 24 : 16;
	return true;
}

bool pyt_values311_has(const uint8_t *pre, size_t n, __u32 ix)
{
	size_t size;

	if (n < 8 || n > 255 || pre[n - 1] != n)
		return false;
	size = pre[n - 2];
	if (size + 2 > n)
		return false;
	for (size_t k = 0; k < size; k++)
		if (pre[n - 3 - k] == ix)
			return true;
	return false;
}

/* ---- reading one process ---- */

struct rd {
	struct tw_py *py;
	const struct tw_pymem *m;
	struct tw_pyt_layout l;
};

static int rd64(const struct rd *r, __u64 addr, __u64 *v)
{
	return addr ? py_mem_read(r->m->pid, addr, v, sizeof(*v)) : -EFAULT;
}

/* whether the object at addr has type type */
static bool is_type(const struct rd *r, __u64 addr, __u64 type)
{
	__u64 t;

	return addr && !rd64(r, addr + 8, &t) && t == type;
}

struct kv {
	__u64 key, value;
};

/*
 * The (key, value) pairs of the dict at addr (malloc'ed, *n of them; empty
 * slots left out), or NULL: not a dict, unreadable, or too big.
 */
static struct kv *dict_items(const struct rd *r, __u64 addr, size_t *n)
{
	uint8_t h[48], kh[32], *ents = NULL;
	__u64 keys, values, *vals = NULL;
	struct tw_pyt_keys k;
	struct kv *out = NULL;
	size_t o = 0;

	if (!addr || py_mem_read(r->m->pid, addr, h, sizeof(h)) || get64(h, 8) != r->m->dict_type)
		return NULL;
	keys = get64(h, r->l.dict_keys);
	values = get64(h, r->l.dict_values);
	if (!keys || py_mem_read(r->m->pid, keys, kh, sizeof(kh)) || !pyt_keys(kh, &k) ||
	    k.nentries > DICT_MAX)
		return NULL;
	if (!(out = calloc(k.nentries ? k.nentries : 1, sizeof(*out))) ||
	    !(ents = malloc((size_t)k.nentries * k.esz + 1)))
		goto fail;
	if (k.nentries &&
	    py_mem_read(r->m->pid, keys + k.entries_off, ents, (size_t)k.nentries * k.esz))
		goto fail;
	/*
	 * A split dict: its values apart, in the keys' order, as many as the
	 * values array has room for (the shared keys may have grown since): 3.13
	 * says its capacity, 3.11 which indices were set (its insertion order)
	 */
	uint8_t prefix[255], psz = 0;
	__u32 nv = k.nentries;

	if (values && r->l.inline_values) {
		uint8_t vh[8];

		if (py_mem_read(r->m->pid, values, vh, sizeof(vh)))
			goto fail;
		nv = vh[0] < nv ? vh[0] : nv;
	} else if (values && (py_mem_read(r->m->pid, values - 1, &psz, 1) || psz < 8 ||
			      py_mem_read(r->m->pid, values - psz, prefix, psz))) {
		goto fail;
	} else if (values) {
		__u32 top = 0;

		for (__u32 i = 0; i < nv; i++)
			if (pyt_values311_has(prefix, psz, i))
				top = i + 1;
		nv = top;
	}
	if (values &&
	    (!(vals = calloc((size_t)nv + 1, 8)) ||
	     (nv && py_mem_read(r->m->pid, values + r->l.values_skip, vals, (size_t)nv * 8))))
		goto fail;
	for (size_t i = 0; i < k.nentries; i++) {
		size_t at = i * k.esz + (k.esz == 24 ? 8 : 0);
		__u64 key = get64(ents, at), v = !values  ? get64(ents, at + 8)
						 : i < nv ? vals[i]
							  : 0;

		if (values && !r->l.inline_values && !pyt_values311_has(prefix, psz, (__u32)i))
			v = 0;
		if (key && v)
			out[o++] = (struct kv){ key, v };
	}
	free(ents);
	free(vals);
	*n = o;
	return out;
fail:
	free(out);
	free(ents);
	free(vals);
	return NULL;
}

/* whether the object at addr is the str name (a compact ASCII one) */
static bool str_is(const struct rd *r, __u64 addr, const char *name)
{
	uint8_t h[KEY_HDR];

	return addr && !py_mem_read(r->m->pid, addr, h, sizeof(h)) &&
	       get64(h, 8) == r->m->unicode_type && pyt_str_is(h, sizeof(h), &r->l, name);
}

/* The value of key name in the dict at addr, or 0 (none, or not a dict) */
static __u64 dict_get(const struct rd *r, __u64 addr, const char *name, bool *bad)
{
	size_t n = 0;
	struct kv *kv = dict_items(r, addr, &n);
	__u64 v = 0;

	if (!kv) {
		*bad = true;
		return 0;
	}
	for (size_t i = 0; i < n && !v; i++)
		if (str_is(r, kv[i].key, name))
			v = kv[i].value;
	free(kv);
	return v;
}

static bool long_of(const struct rd *r, __u64 addr, __u64 *v)
{
	uint8_t h[40];

	return addr && !py_mem_read(r->m->pid, addr, h, sizeof(h)) &&
	       get64(h, 8) == r->m->long_type && pyt_long(h, sizeof(h), &r->l, v);
}

enum { A_NAME, A_IDENT, A_NATIVE, A_NR };
static const char *const attr_names[A_NR] = { "_name", "_ident", "_native_id" };

/* A Thread class (or subclass) as this read found it */
struct tclass {
	__u64 type;
	__u64 flags, basicsize;
	__s32 ix[A_NR]; /* the attribute's index in the shared keys, or -1 */
	bool ok;
};

static void class_read(const struct rd *r, struct tclass *c)
{
	__u64 keys = 0;
	uint8_t kh[32];
	struct tw_pyt_keys k;
	uint8_t *ents;

	c->ok = false;
	for (int a = 0; a < A_NR; a++)
		c->ix[a] = -1;
	if (rd64(r, c->type + r->l.tp_flags, &c->flags) ||
	    rd64(r, c->type + r->l.tp_basicsize, &c->basicsize) || !(c->flags & TF_MANAGED_DICT) ||
	    c->basicsize > 4096 || rd64(r, c->type + r->l.ht_cached_keys, &keys))
		return;
	c->ok = true; /* without shared keys (0): its objects have dicts */
	if (!keys || py_mem_read(r->m->pid, keys, kh, sizeof(kh)) || !pyt_keys(kh, &k) ||
	    k.esz != 16 || k.nentries > 255)
		return;
	if (!(ents = malloc((size_t)k.nentries * 16 + 1)))
		return;
	if (!py_mem_read(r->m->pid, keys + k.entries_off, ents, (size_t)k.nentries * 16))
		for (__u32 i = 0; i < k.nentries; i++)
			for (int a = 0; a < A_NR; a++)
				if (c->ix[a] < 0 &&
				    str_is(r, get64(ents, (size_t)i * 16), attr_names[a]))
					c->ix[a] = (__s32)i;
	free(ents);
}

/* The attributes of the Thread object at obj (class c): 0 where it has none. */
static bool thread_attrs(const struct rd *r, __u64 obj, const struct tclass *c, __u64 *attr)
{
	uint8_t pre[32];
	__u64 values, dict;

	memset(attr, 0, A_NR * sizeof(*attr));
	if (py_mem_read(r->m->pid, obj - 32, pre, sizeof(pre)))
		return false;
	dict = get64(pre, 8); /* the managed dict: 3 words before the object */
	values = r->l.inline_values ? 0 : get64(pre, 0);
	if (dict || (!values && !(c->flags & TF_INLINE_VALUES))) {
		bool bad = false;

		for (int a = 0; a < A_NR && dict; a++)
			attr[a] = dict_get(r, dict, attr_names[a], &bad);
		return dict && !bad;
	}
	if (r->l.inline_values) {
		uint8_t vh[8];

		values = obj + c->basicsize;
		/* capacity, size, embedded, valid (a dict took them over when not) */
		if (py_mem_read(r->m->pid, values, vh, sizeof(vh)) || !vh[3])
			return false;
		for (int a = 0; a < A_NR; a++)
			if (c->ix[a] >= 0 && c->ix[a] < vh[0] &&
			    rd64(r, values + 8 + 8 * (__u64)c->ix[a], &attr[a]))
				return false;
		return true;
	}
	/* 3.11: the values array, its insertion order just before it */
	uint8_t psz, prefix[255];

	if (py_mem_read(r->m->pid, values - 1, &psz, 1) || psz < 8 ||
	    py_mem_read(r->m->pid, values - psz, prefix, psz))
		return false;
	for (int a = 0; a < A_NR; a++)
		if (c->ix[a] >= 0 && pyt_values311_has(prefix, psz, (__u32)c->ix[a]) &&
		    rd64(r, values + 8 * (__u64)c->ix[a], &attr[a]))
			return false;
	return true;
}

struct tstate {
	__u64 native, ident;
};

static int cmp_ts(const void *a, const void *b)
{
	const struct tstate *x = a, *y = b;

	return x->native < y->native ? -1 : x->native > y->native;
}

/* The interpreter's thread states (native id, ident), sorted; *n of them */
static struct tstate *tstates(const struct rd *r, __u64 interp, size_t *n, bool *cut)
{
	size_t cap = 64, o = 0;
	struct tstate *ts = malloc(cap * sizeof(*ts));
	__u64 t = 0;
	size_t span = r->m->ts_next;
	uint8_t b[1024];

	if (r->m->ts_native_tid > span)
		span = r->m->ts_native_tid;
	if (r->l.ts_thread_id > span)
		span = r->l.ts_thread_id;
	span += 8;
	if (!ts || span > sizeof(b) || rd64(r, interp + r->m->is_threads_head, &t)) {
		free(ts);
		return NULL;
	}
	while (t && o < TW_PYT_THREADS_MAX) {
		if (py_mem_read(r->m->pid, t, b, span))
			break;
		if (o == cap) {
			struct tstate *nts = realloc(ts, cap * 2 * sizeof(*ts));

			if (!nts)
				break;
			ts = nts;
			cap *= 2;
		}
		ts[o].native = (__u32)get64(b, r->m->ts_native_tid); /* an int: its low half */
		ts[o].ident = get64(b, r->l.ts_thread_id);
		o++;
		t = get64(b, r->m->ts_next);
	}
	*cut = t != 0;
	qsort(ts, o, sizeof(*ts), cmp_ts);
	*n = o;
	return ts;
}

static const struct tstate *ts_find(const struct tstate *ts, size_t n, __u64 native)
{
	struct tstate k = { .native = native };

	return bsearch(&k, ts, n, sizeof(*ts), cmp_ts);
}

int pyt_read(struct tw_py *py, pid_t pid, struct tw_pytname *out, size_t max,
	     struct tw_pyt_stats *st)
{
	struct tw_pymem m;
	struct rd r = { .py = py, .m = &m };
	__u64 interp, modules, mod, mdict, active;
	struct tstate *ts = NULL;
	struct tclass cls[8];
	size_t nts = 0, nkv = 0, ncls = 0;
	struct kv *kv = NULL;
	bool bad = false;
	int n = 0;

	memset(st, 0, sizeof(*st));
	if (!py_mem(py, pid, &m))
		return -ENOENT;
	if (m.minor == 11) {
		r.l = tw_pyt_311;
	} else if (m.minor == 13) {
		uint8_t d[PY313_DEBUG_BYTES];

		if (py_mem_read(pid, m.runtime, d, sizeof(d)) ||
		    !pyt_layout313(d, sizeof(d), &r.l)) {
			st->bad = 1;
			return 0;
		}
	} else {
		return -ENOENT;
	}
	/*
	 * An interpreter starting (no sys.modules yet) or finalizing (modules
	 * cleared, threading's globals set to None) reads as nothing sane:
	 * -EAGAIN, not counted, and the names read before stay
	 */
	if (rd64(&r, m.runtime + m.rt_interp_head, &interp) || !interp ||
	    rd64(&r, interp + r.l.interp_modules, &modules) || !modules)
		return -EAGAIN;
	/* sys.modules["threading"]: none until the program imports it */
	mod = dict_get(&r, modules, "threading", &bad);
	if (bad)
		return -EAGAIN;
	if (!mod)
		return 0;
	if (!is_type(&r, mod, m.module_type) || rd64(&r, mod + 16, &mdict) ||
	    !(active = dict_get(&r, mdict, "_active", &bad)) ||
	    !(kv = dict_items(&r, active, &nkv)))
		return -EAGAIN;
	if (!(ts = tstates(&r, interp, &nts, &st->cut))) {
		free(kv);
		return -ENOMEM;
	}
	if (nkv > TW_PYT_THREADS_MAX) {
		nkv = TW_PYT_THREADS_MAX;
		st->cut = true;
	}
	for (size_t i = 0; i < nkv && (size_t)n < max; i++) {
		__u64 type, attr[A_NR], key, ident, native;
		const struct tstate *t;
		struct tclass *c = NULL;
		char *name;

		if (rd64(&r, kv[i].value + 8, &type) || !long_of(&r, kv[i].key, &key)) {
			st->bad++;
			continue;
		}
		for (size_t j = 0; j < ncls && !c; j++)
			if (cls[j].type == type)
				c = &cls[j];
		if (!c) {
			c = &cls[ncls < 8 ? ncls++ : 7];
			c->type = type;
			class_read(&r, c);
		}
		if (!c->ok || !thread_attrs(&r, kv[i].value, c, attr)) {
			st->bad++;
			continue;
		}
		if (!attr[A_NATIVE] || !attr[A_IDENT] || !attr[A_NAME])
			continue; /* starting (no _native_id yet): next time */
		if (!long_of(&r, attr[A_IDENT], &ident) || !long_of(&r, attr[A_NATIVE], &native) ||
		    ident != key) {
			st->bad++;
			continue;
		}
		/* gone (a _DummyThread stays in _active after its thread ended), or not yet there */
		if (!(t = ts_find(ts, nts, native)))
			continue;
		if (t->ident != ident) {
			st->bad++;
			continue;
		}
		if (!(name = py_str(py, pid, attr[A_NAME])) || strlen(name) >= TW_PYT_NAME_MAX) {
			free(name);
			st->bad++;
			continue;
		}
		out[n].tid = (__u32)native;
		memcpy(out[n].name, name, strlen(name) + 1);
		free(name);
		n++;
	}
	free(kv);
	free(ts);
	return n;
}
