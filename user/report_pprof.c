// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * --pprof: the blocked time by stack as a gzipped pprof profile.proto, the
 * format `go tool pprof`, Grafana Pyroscope and Parca read. The message is
 * built with protobuf-c from Debian's copy of Google's profile.proto
 * (generated at build time: build/profile.pb-c.h) and gzipped with zlib.
 *
 * Sample types: off-CPU nanoseconds and samples. Each sample is one (process,
 * thread, syscall, stack), labelled pid, tid, thread and syscall (and what the
 * caller adds per process: the daemon's comm, container, pod...). Locations
 * are the report's frames (leaf first, as pprof wants), each with its
 * function (name, file) and line, and its module as a mapping with the
 * module's build id when it has one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "calls.h"
#include "profile.pb-c.h"
#include "report.h"

typedef Perftools__Profiles__Profile Profile;
typedef Perftools__Profiles__Sample Sample;
typedef Perftools__Profiles__Location Location;
typedef Perftools__Profiles__Line Line;
typedef Perftools__Profiles__Function Function;
typedef Perftools__Profiles__Mapping Mapping;
typedef Perftools__Profiles__Label Label;
typedef Perftools__Profiles__ValueType ValueType;

/* The string table: index 0 is "", as the format requires; strings are the view's (not copied). */
struct strtab {
	char **s;
	size_t n, cap;
	struct u32map idx; /* hash -> first index with it + 1 */
	__u32 *next; /* per string: the next with the same hash + 1 */
};

static __u32 str_hash(const char *s)
{
	__u32 h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static long str_id(struct strtab *t, const char *s)
{
	__u32 h = str_hash(s), at;

	if (u32map_get(&t->idx, h, &at))
		for (; at; at = t->next[at - 1])
			if (!strcmp(t->s[at - 1], s))
				return at - 1;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		char **ns = realloc(t->s, cap * sizeof(*ns));
		__u32 *nn;

		if (!ns)
			return -ENOMEM;
		t->s = ns;
		nn = realloc(t->next, cap * sizeof(*nn));
		if (!nn)
			return -ENOMEM;
		t->next = nn;
		t->cap = cap;
	}
	t->s[t->n] = (char *)s;
	t->next[t->n] = u32map_get(&t->idx, h, &at) ? at : 0;
	if (u32map_put(&t->idx, h, (__u32)t->n + 1))
		return -ENOMEM;
	return (long)t->n++;
}

struct pprof {
	Profile p;
	struct strtab st;
	ValueType types[2], period;
	ValueType *type_ptrs[2];
	Sample *samples;
	Sample **sample_ptrs;
	Label *labels;
	Label **label_ptrs;
	uint64_t *locids;
	int64_t *values;
	Location *locs;
	Location **loc_ptrs;
	Line *lines;
	Line **line_ptrs;
	Function *funcs;
	Function **func_ptrs;
	Mapping *maps;
	Mapping **map_ptrs;
	char *labelbuf; /* frame labels of unnamed frames (module+0xoffset), 64 bytes each */
};

#define LABELS_PER_SAMPLE (4 + TW_PPROF_LABELS)

static void pprof_free(struct pprof *b)
{
	free(b->st.s);
	free(b->st.next);
	u32map_free(&b->st.idx);
	free(b->samples);
	free(b->sample_ptrs);
	free(b->labels);
	free(b->label_ptrs);
	free(b->locids);
	free(b->values);
	free(b->locs);
	free(b->loc_ptrs);
	free(b->lines);
	free(b->line_ptrs);
	free(b->funcs);
	free(b->func_ptrs);
	free(b->maps);
	free(b->map_ptrs);
	free(b->labelbuf);
}

/* Mappings: one per module, found by its name's string id (a small linear table is enough). */
static long mapping_of(struct pprof *b, const struct tw_sframe *f, size_t *nmaps)
{
	long name = str_id(&b->st, f->module);

	if (name < 0)
		return name;
	for (size_t i = 0; i < *nmaps; i++)
		if (b->maps[i].filename == name)
			return (long)b->maps[i].id;
	perftools__profiles__mapping__init(&b->maps[*nmaps]);
	b->maps[*nmaps].id = *nmaps + 1;
	b->maps[*nmaps].filename = name;
	b->maps[*nmaps].has_functions = true;
	b->map_ptrs[*nmaps] = &b->maps[*nmaps];
	return (long)++*nmaps;
}

static bool wanted(const struct tw_pprof_meta *o, const struct tw_ssample *x)
{
	return x->kind == TW_SK_BLOCKED && (!o->keep || o->keep(o->ctx, x));
}

static int build(struct pprof *b, const struct tw_stackset *ss, const struct tw_pprof_meta *o)
{
	size_t nsamples = 0, nlocids = 0, nmaps = 0;
	long id;

	perftools__profiles__profile__init(&b->p);
	if (str_id(&b->st, "") < 0)
		return -ENOMEM;
	for (size_t i = 0; i < ss->nsamples; i++)
		if (wanted(o, &ss->samples[i])) {
			nsamples++;
			nlocids += ss->stacks[ss->samples[i].stack].nframes;
		}
	b->samples = calloc(nsamples + 1, sizeof(*b->samples));
	b->sample_ptrs = calloc(nsamples + 1, sizeof(Sample *));
	b->labels = calloc(nsamples * LABELS_PER_SAMPLE + 1, sizeof(*b->labels));
	b->label_ptrs = calloc(nsamples * LABELS_PER_SAMPLE + 1, sizeof(Label *));
	b->locids = calloc(nlocids + 1, sizeof(*b->locids));
	b->values = calloc(nsamples * 2 + 1, sizeof(*b->values));
	b->locs = calloc(ss->nframes + 1, sizeof(*b->locs));
	b->loc_ptrs = calloc(ss->nframes + 1, sizeof(Location *));
	b->lines = calloc(ss->nframes + 1, sizeof(*b->lines));
	b->line_ptrs = calloc(ss->nframes + 1, sizeof(Line *));
	/* one function per frame: pprof merges equal (name, file) itself when it reads them */
	b->funcs = calloc(ss->nframes + 1, sizeof(*b->funcs));
	b->func_ptrs = calloc(ss->nframes + 1, sizeof(Function *));
	b->maps = calloc(ss->nframes + 1, sizeof(*b->maps));
	b->map_ptrs = calloc(ss->nframes + 1, sizeof(Mapping *));
	b->labelbuf = calloc(ss->nframes + 1, 64);
	if (!b->samples || !b->sample_ptrs || !b->labels || !b->label_ptrs || !b->locids ||
	    !b->values || !b->locs || !b->loc_ptrs || !b->lines || !b->line_ptrs || !b->funcs ||
	    !b->func_ptrs || !b->maps || !b->map_ptrs || !b->labelbuf)
		return -ENOMEM;

	/* frames: location i + 1, its line, its function i + 1, its module's mapping */
	for (size_t i = 0; i < ss->nframes; i++) {
		const struct tw_sframe *f = &ss->frames[i];
		/* a Python frame's line is the Line's: its function is its qualified name */
		const char *name = f->python && f->func
					   ? f->func
					   : view_frame_label(f, b->labelbuf + i * 64, 64);
		Function *fn = &b->funcs[i];
		Location *loc = &b->locs[i];
		Line *ln = &b->lines[i];

		perftools__profiles__function__init(fn);
		fn->id = i + 1;
		if ((id = str_id(&b->st, name)) < 0)
			return -ENOMEM;
		fn->name = fn->system_name = id;
		if (f->file && (id = str_id(&b->st, f->file)) < 0)
			return -ENOMEM;
		fn->filename = f->file ? id : 0;
		b->func_ptrs[i] = fn;
		perftools__profiles__line__init(ln);
		ln->function_id = fn->id;
		ln->line = f->line;
		b->line_ptrs[i] = ln;
		perftools__profiles__location__init(loc);
		loc->id = i + 1;
		if ((id = mapping_of(b, f, &nmaps)) < 0)
			return -ENOMEM;
		loc->mapping_id = (uint64_t)id;
		loc->address = f->offset;
		loc->n_line = 1;
		loc->line = &b->line_ptrs[i];
		b->loc_ptrs[i] = loc;
	}

	long k_pid = str_id(&b->st, "pid"), k_tid = str_id(&b->st, "tid");
	long k_thread = str_id(&b->st, "thread"), k_sys = str_id(&b->st, "syscall");

	if (k_pid < 0 || k_tid < 0 || k_thread < 0 || k_sys < 0)
		return -ENOMEM;
	nsamples = nlocids = 0;
	for (size_t i = 0; i < ss->nsamples; i++) {
		const struct tw_ssample *x = &ss->samples[i];
		const struct tw_stack *k = &ss->stacks[x->stack];
		Sample *s = &b->samples[nsamples];
		Label *l = &b->labels[nsamples * LABELS_PER_SAMPLE];
		const char *keys[TW_PPROF_LABELS], *vals[TW_PPROF_LABELS];
		size_t nextra = 0;
		long thread, sys;

		if (!wanted(o, x))
			continue;
		perftools__profiles__sample__init(s);
		s->location_id = &b->locids[nlocids];
		for (__u32 j = 0; j < k->nframes; j++)
			b->locids[nlocids++] = k->frames[j] + 1; /* leaf first, like ours */
		s->n_location_id = k->nframes;
		s->value = &b->values[nsamples * 2];
		s->value[0] = (int64_t)x->weight_ns;
		s->value[1] = (int64_t)x->count;
		s->n_value = 2;
		thread = str_id(&b->st, x->comm);
		sys = str_id(&b->st, x->nr ? syscall_name(x->nr - 1) : "?");
		if (thread < 0 || sys < 0)
			return -ENOMEM;
		for (int j = 0; j < LABELS_PER_SAMPLE; j++) {
			perftools__profiles__label__init(&l[j]);
			b->label_ptrs[nsamples * LABELS_PER_SAMPLE + j] = &l[j];
		}
		l[0].key = k_pid;
		l[0].num = x->pid;
		l[1].key = k_tid;
		l[1].num = x->tid;
		l[2].key = k_thread;
		l[2].str = thread;
		l[3].key = k_sys;
		l[3].str = sys;
		if (o->labels_of)
			nextra = o->labels_of(o->ctx, x->pid, keys, vals, TW_PPROF_LABELS);
		for (size_t j = 0; j < nextra && j < TW_PPROF_LABELS; j++) {
			if ((l[4 + j].key = str_id(&b->st, keys[j])) < 0 ||
			    (l[4 + j].str = str_id(&b->st, vals[j])) < 0)
				return -ENOMEM;
		}
		s->label = &b->label_ptrs[nsamples * LABELS_PER_SAMPLE];
		s->n_label = 4 + (nextra < TW_PPROF_LABELS ? nextra : TW_PPROF_LABELS);
		b->sample_ptrs[nsamples++] = s;
	}

	for (int i = 0; i < 2; i++) {
		perftools__profiles__value_type__init(&b->types[i]);
		b->type_ptrs[i] = &b->types[i];
	}
	perftools__profiles__value_type__init(&b->period);
	if ((b->types[0].type = str_id(&b->st, "offcpu")) < 0 ||
	    (b->types[0].unit = str_id(&b->st, "nanoseconds")) < 0 ||
	    (b->types[1].type = str_id(&b->st, "samples")) < 0 ||
	    (b->types[1].unit = str_id(&b->st, "count")) < 0)
		return -ENOMEM;
	b->period = b->types[0];
	/* what a reader shows unless told otherwise: the time, not the sample count */
	b->p.default_sample_type = b->types[0].type;
	b->p.n_sample_type = 2;
	b->p.sample_type = b->type_ptrs;
	b->p.n_sample = nsamples;
	b->p.sample = b->sample_ptrs;
	b->p.n_location = ss->nframes;
	b->p.location = b->loc_ptrs;
	b->p.n_function = ss->nframes;
	b->p.function = b->func_ptrs;
	b->p.n_mapping = nmaps;
	b->p.mapping = b->map_ptrs;
	b->p.n_string_table = b->st.n;
	b->p.string_table = b->st.s;
	b->p.period_type = &b->period;
	b->p.time_nanos = (int64_t)o->time_ns;
	b->p.duration_nanos = (int64_t)o->duration_ns;
	return 0;
}

/* gzip (RFC 1952, as pprof files are) of n bytes to f. */
static int write_gz(FILE *f, const uint8_t *buf, size_t n)
{
	uint8_t out[16384];
	z_stream z = { 0 };
	int zr;

	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)buf;
	z.avail_in = (uInt)n;
	do {
		z.next_out = out;
		z.avail_out = sizeof(out);
		zr = deflate(&z, Z_FINISH);
		if (zr == Z_STREAM_ERROR)
			break;
		if (fwrite(out, 1, sizeof(out) - z.avail_out, f) != sizeof(out) - z.avail_out) {
			zr = Z_ERRNO;
			break;
		}
	} while (zr != Z_STREAM_END);
	deflateEnd(&z);
	if (zr != Z_STREAM_END)
		return zr == Z_ERRNO && errno ? -errno : -EIO;
	return 0;
}

int report_pprof(FILE *f, const struct tw_view *v)
{
	struct tw_pprof_meta o = {
		.time_ns = tw_wall_of(&v->o.clock, v->o.span_start_ns),
		.duration_ns = v->o.clock.mono_ns - v->o.span_start_ns,
	};

	if (!v->ss)
		return -EINVAL;
	return report_pprof_set(f, v->ss, &o);
}

int report_pprof_set(FILE *f, const struct tw_stackset *ss, const struct tw_pprof_meta *o)
{
	struct pprof b;
	uint8_t *buf = NULL;
	size_t n;
	int err;

	memset(&b, 0, sizeof(b));
	err = build(&b, ss, o);
	if (!err) {
		n = perftools__profiles__profile__get_packed_size(&b.p);
		buf = malloc(n ? n : 1);
		if (!buf)
			err = -ENOMEM;
		else
			perftools__profiles__profile__pack(&b.p, buf);
	}
	if (!err)
		err = write_gz(f, buf, n);
	free(buf);
	pprof_free(&b);
	if (!err && (fflush(f) || ferror(f)))
		err = errno ? -errno : -EIO;
	return err;
}
