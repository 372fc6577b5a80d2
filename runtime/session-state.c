/*
 * session-state.c - the calls and marks a checkpoint needs (see
 * session-state.h for what is kept and why).
 *
 * Kept calls live in one array in the order they ran; each object lists
 * the kept calls that made or configured it. A checkpoint (and the
 * periodic collection) marks, from every live object, the calls it needs
 * and, through the ids those calls read, the objects they need in turn.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "marshal-split.h"
#include "session-state.h"
#include "u64map.h"

/* An in-buffer at least this large, of a call that makes an object with
 * contents, is not kept (find_hole()). */
#define HOLE_MIN 4096

struct kcall {
	uint64_t serial;
	uint64_t seq;
	uint32_t thread, fn;
	uint8_t *call;           /* call_len bytes, less the hole's */
	size_t call_len;
	size_t hole_off, hole_len;  /* bytes not kept: zeros when handed out */
	uint64_t *ids;           /* handed out, in REPLY order */
	uint64_t *uses;
	uint32_t nids, nuses;
	bool dead, mark;
};

struct obj {
	uint64_t id;
	uint32_t *calls;         /* kept calls that made or configured it */
	uint32_t ncalls, cap;
	bool dirty, substitute;
	/* ava_state.clean when dirty_through() last found every object with
	 * contents that these calls use dirty; 0: not since a call that uses
	 * one was kept (dirty_through()). */
	uint64_t through;
};

struct thread_seq {
	uint32_t thread;
	uint64_t seq;
};

struct ava_state {
	const struct ava_api_desc *api;
	uint16_t type_of_tag[256];
	bool *want;              /* per function id */
	bool *command;           /* per function id */
	void *spare;             /* a superseded call's block, for reuse */
	size_t spare_size;
	struct kcall *calls;
	size_t ncalls, capcalls, gc_at;
	uint64_t serial;         /* of the last call kept */
	uint64_t clean;          /* counts the dirty marks taken back, from 1 */
	struct obj *objs;
	size_t nobjs, capobjs;
	struct ava_u64map byid;  /* id -> index into objs */
	struct thread_seq *threads;
	size_t nthreads, capthreads;
	const char *incomplete;
};

static const struct ava_state_ops *state_ops;

void
ava_state_set_ops(const struct ava_state_ops *ops)
{
	state_ops = ops;
}

const struct ava_state_ops *
ava_state_ops(void)
{
	return state_ops;
}

static bool
is_command(const struct ava_fn_desc *fn)
{
	return state_ops != NULL && state_ops->is_command != NULL &&
	       state_ops->is_command(fn);
}

/* May a call of fn be kept? Then its payload is copied before decode. */
static bool
may_keep(const struct ava_fn_desc *fn)
{
	if (fn->name == NULL || (fn->flags & (AVA_FN_UNSUPPORTED |
					      AVA_FN_EMULATED)) ||
	    is_command(fn))
		return false;
	if (fn->flags & (AVA_FN_CREATES | AVA_FN_MUTATES))
		return true;
	for (unsigned i = 0; i < fn->nargs; i++) {
		const struct ava_arg_desc *a = &fn->args[i];
		if (a->kind == AVA_ARG_OUT_HANDLE ||
		    a->kind == AVA_ARG_OUT_HANDLES || a->ntyped > 0 ||
		    (a->kind == AVA_ARG_HANDLE && (a->flags & AVA_ARGF_WRITES)))
			return true;
	}
	return false;
}

int
ava_state_create(const struct ava_api_desc *api, struct ava_state **out)
{
	struct ava_state *st = calloc(1, sizeof(*st));
	if (st != NULL)
		st->clean = 1;
	if (st == NULL || (st->want = calloc(api->nfns, 1)) == NULL ||
	    (st->command = calloc(api->nfns, 1)) == NULL) {
		if (st != NULL)
			free(st->want);
		free(st);
		return -ENOMEM;
	}
	st->api = api;
	for (uint16_t i = 1; i < api->nhandles; i++)
		st->type_of_tag[api->handles[i].tag] = i;
	/* Asked once per call: worked out once per function. */
	for (uint32_t i = 0; i < api->nfns; i++) {
		st->want[i] = may_keep(&api->fns[i]);
		st->command[i] = is_command(&api->fns[i]);
	}
	ava_u64map_init(&st->byid);
	st->gc_at = 1024;
	*out = st;
	return 0;
}

/* A kept call's bytes, ids and uses share one allocation
 * (starting at call): a kernel launch loop keeps one per argument set. */
static void
kcall_free(struct kcall *k)
{
	free(k->call);
}

void
ava_state_destroy(struct ava_state *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < st->ncalls; i++)
		kcall_free(&st->calls[i]);
	for (size_t i = 0; i < st->nobjs; i++)
		free(st->objs[i].calls);
	free(st->calls);
	free(st->objs);
	free(st->threads);
	free(st->want);
	free(st->command);
	free(st->spare);
	ava_u64map_finish(&st->byid);
	free(st);
}

/* ---- a call as it runs ------------------------------------------------ */

void
ava_state_rec_init(struct ava_state_rec *r)
{
	memset(r, 0, sizeof(*r));
	ava_buf_init(&r->call);
}

void
ava_state_rec_finish(struct ava_state_rec *r)
{
	ava_buf_finish(&r->call);
}

void
ava_state_rec_begin(struct ava_state *st, struct ava_state_rec *r,
		    const struct ava_fn_desc *fn, uint32_t thread,
		    uint64_t seq, const uint8_t *payload, size_t len,
		    const struct ava_cut *cut)
{
	r->fn = st != NULL ? fn : NULL;
	r->nuses = r->nids = r->nwritten = r->ncreated = 0;
	r->overflow = r->introduced = false;
	r->thread = thread;
	r->seq = seq;
	if (st == NULL)
		return;
	r->command = st->command[fn->id];
	r->want = st->want[fn->id];
	r->call_len = len;
	r->cut_off = r->cut_len = 0;
	ava_buf_reset(&r->call);
	if (!r->want)
		return;
	struct ava_cut mine;
	if (cut == NULL) {
		ava_state_cut(st, fn, payload, len, &mine);
		cut = &mine;
	}
	if (cut->len == 0) {
		ava_buf_put_bytes(&r->call, payload, len);
		return;
	}
	/* The object's contents are not copied at all (keep()). */
	ava_buf_put_bytes(&r->call, payload, cut->off);
	ava_buf_put_bytes(&r->call, payload + cut->off + cut->len,
			  len - cut->off - cut->len);
	r->cut_off = cut->off;
	r->cut_len = cut->len;
}

bool
ava_state_wants(const struct ava_state *st, const struct ava_fn_desc *fn)
{
	return st != NULL && st->want[fn->id];
}

static void
push_id(struct ava_state_rec *r, uint64_t *a, uint32_t *n, uint64_t id)
{
	if (r->fn == NULL || id == 0)
		return;
	if (*n == AVA_STATE_REC_IDS) {
		r->overflow = true;
		return;
	}
	a[(*n)++] = id;
}

void
ava_state_rec_use(struct ava_state_rec *r, uint64_t id)
{
	push_id(r, r->uses, &r->nuses, id);
}

void
ava_state_rec_handed(struct ava_state_rec *r, uint64_t id, bool fresh,
		     bool creates)
{
	push_id(r, r->ids, &r->nids, id);
	if (fresh || creates)
		push_id(r, r->created, &r->ncreated, id);
	r->introduced |= fresh;
}

void
ava_state_rec_written(struct ava_state_rec *r, uint64_t id)
{
	push_id(r, r->written, &r->nwritten, id);
}

/* ---- objects ---------------------------------------------------------- */

static struct obj *
obj_get(struct ava_state *st, uint64_t id, bool add)
{
	uint64_t i;
	if (ava_u64map_get(&st->byid, id, &i))
		return &st->objs[i];
	if (!add)
		return NULL;
	if (st->nobjs == st->capobjs) {
		size_t cap = st->capobjs ? 2 * st->capobjs : 64;
		struct obj *o = realloc(st->objs, cap * sizeof(*o));
		if (o == NULL)
			return NULL;
		st->objs = o;
		st->capobjs = cap;
	}
	if (ava_u64map_put(&st->byid, id, st->nobjs) < 0)
		return NULL;
	struct obj *o = &st->objs[st->nobjs++];
	*o = (struct obj){ .id = id };
	return o;
}

/* contents: the call uses an object with contents, which o's launches
 * may now write (dirty_through()). */
static int
obj_add_call(struct obj *o, uint32_t call, bool contents)
{
	if (contents)
		o->through = 0;
	if (o->ncalls == o->cap) {
		uint32_t cap = o->cap ? 2 * o->cap : 4;
		uint32_t *c = realloc(o->calls, cap * sizeof(*c));
		if (c == NULL)
			return -ENOMEM;
		o->calls = c;
		o->cap = cap;
	}
	o->calls[o->ncalls++] = call;
	return 0;
}

static uint16_t
type_of(const struct ava_state *st, uint64_t id)
{
	return st->type_of_tag[ava_handle_id_tag(id)];
}

static bool
has_state(const struct ava_state *st, uint64_t id)
{
	uint16_t t = type_of(st, id);
	return t != 0 && st->api->handles[t].state != NULL;
}

static bool
mark_dirty(struct ava_state *st, uint64_t id)
{
	struct obj *o = obj_get(st, id, true);
	if (o != NULL)
		o->dirty = true;
	return o != NULL;
}

/*
 * A command that mutates through objects it names (a kernel launch
 * writes the buffers set as the kernel's arguments): every object with
 * contents that the kept calls of those objects read is dirty.
 *
 * A launch loop would find the same buffers again each time, all dirty
 * already: an object remembers (through) that its calls' objects were
 * all marked, until a dirty mark is taken back anywhere (clean) or it
 * keeps a call that uses an object with contents (keep()). A new scalar
 * argument leaves it alone.
 */
static void
dirty_through(struct ava_state *st, const struct ava_state_rec *r)
{
	for (uint32_t i = 0; i < r->nuses; i++) {
		struct obj *o = obj_get(st, r->uses[i], false);
		if (o == NULL || o->through == st->clean)
			continue;
		/* mark_dirty() may move the objects, not their calls. */
		const uint32_t *calls = o->calls;
		uint32_t n = o->ncalls;
		bool all = true;
		for (uint32_t j = 0; j < n; j++) {
			const struct kcall *k = &st->calls[calls[j]];
			for (uint32_t u = 0; u < k->nuses; u++)
				if (has_state(st, k->uses[u]))
					all &= mark_dirty(st, k->uses[u]);
		}
		if (all && (o = obj_get(st, r->uses[i], false)) != NULL)
			o->through = st->clean;
	}
}

/* The bytes that make a configuring call "the same setting": its leading
 * handle and scalar arguments (clSetKernelArg: kernel, index, size). */
static size_t
key_len(const struct ava_fn_desc *fn)
{
	size_t n = 0;
	for (unsigned i = 0; i < fn->nargs; i++) {
		enum ava_arg_kind k = fn->args[i].kind;
		if (k != AVA_ARG_SCALAR && k != AVA_ARG_HANDLE)
			break;
		n += 8;
	}
	return n;
}

/* A superseded call is dead: other objects' lists may still name it
 * until the next collection, so it stays, empty. Its block is kept for
 * the next kept call: a launch loop supersedes one clSetKernelArg per
 * argument set, each the size of the last. */
static void
retire(struct ava_state *st, struct kcall *k)
{
	size_t n = ((k->call_len - k->hole_len + 7) & ~(size_t)7) +
		   (k->nids + k->nuses) * sizeof(uint64_t);
	if (st->spare == NULL) {
		st->spare = k->call;
		st->spare_size = n;
	} else {
		free(k->call);
	}
	*k = (struct kcall){ .serial = k->serial, .seq = k->seq,
		.thread = k->thread, .fn = k->fn, .dead = true };
}

/* A later call with the same key replaces an earlier one on o. */
static void
supersede(struct ava_state *st, struct obj *o, const struct kcall *k)
{
	size_t n = key_len(st->api->fns + k->fn);
	if (n == 0 || k->call_len < n)
		return;
	for (uint32_t j = 0; j < o->ncalls; j++) {
		struct kcall *old = &st->calls[o->calls[j]];
		if (old->fn != k->fn || old->nids != 0 || old->call_len < n ||
		    memcmp(old->call, k->call, n) != 0)
			continue;
		retire(st, old);
		o->calls[j--] = o->calls[--o->ncalls];
	}
}

/* The largest in-buffer of at least HOLE_MIN bytes in the payload p of
 * a call of fn: [*off, *off + *n) in p, or false (*n 0). */
static bool
largest_span(const struct ava_fn_desc *fn, const uint8_t *p, size_t len,
	     size_t *off, size_t *n)
{
	*off = len;
	*n = 0;
	if (len < HOLE_MIN)
		return false;
	struct ava_span spans[AVA_MARSHAL_MAX_SPANS];
	struct ava_buf skel;
	uint32_t k = 0;
	ava_buf_init(&skel);
	if (ava_marshal_split(fn, false, (uint8_t *)p, len, &skel, spans,
			      AVA_MARSHAL_MAX_SPANS, &k) != 0)
		k = 0;
	/* Spans are in the payload; one that were not is left alone. */
	for (uint32_t i = 0; i < k; i++) {
		size_t at = (size_t)((uintptr_t)spans[i].data - (uintptr_t)p);
		bool inside = spans[i].data >= p && at <= len &&
			      spans[i].len <= len - at;
		if (inside && spans[i].len >= HOLE_MIN && spans[i].len > *n) {
			*off = at;
			*n = (size_t)spans[i].len;
		}
	}
	ava_buf_finish(&skel);
	return *n > 0;
}

/*
 * A call that makes an object with contents (clCreateBuffer with
 * COPY_HOST_PTR) carries them as its largest in-buffer. A checkpoint
 * reads the object's contents and writes them back after the call runs
 * again, so those bytes need not be kept for the object's lifetime (nor
 * sent twice): the call is kept without them and runs again on zeros.
 * Where the function itself says so (it returns an object with
 * contents), ava_state_rec_begin() already left them out of its copy;
 * otherwise the objects the call made tell, in find_hole().
 */
bool
ava_state_cut(const struct ava_state *st, const struct ava_fn_desc *fn,
	      const uint8_t *payload, size_t len, struct ava_cut *cut)
{
	cut->off = len;
	cut->len = 0;
	if (st == NULL || !st->want[fn->id] || !(fn->flags & AVA_FN_CREATES) ||
	    fn->ret != AVA_RET_HANDLE || fn->ret_handle_type == 0 ||
	    fn->ret_handle_type >= st->api->nhandles ||
	    st->api->handles[fn->ret_handle_type].state == NULL)
		return false;
	return largest_span(fn, payload, len, &cut->off, &cut->len);
}

static void
find_hole(const struct ava_state *st, const struct ava_state_call *c,
	  const uint64_t *created, uint32_t ncreated, size_t *off,
	  size_t *len)
{
	bool contents = false;
	*off = c->call_len;
	*len = 0;
	for (uint32_t j = 0; j < ncreated; j++)
		contents |= has_state(st, created[j]);
	if (contents)
		largest_span(&st->api->fns[c->fn], c->call, c->call_len, off,
			     len);
}

/* Append a kept call: it makes every id it created or introduced, and
 * configures the objects it writes or, if it creates nothing, the first
 * handle it names. */
static int
keep(struct ava_state *st, const struct ava_state_call *c, size_t cut_off,
     size_t cut_len, const uint64_t *uses, uint32_t nuses,
     const uint64_t *created, uint32_t ncreated, const uint64_t *written,
     uint32_t nwritten)
{
	if (st->ncalls == st->capcalls) {
		size_t cap = st->capcalls ? 2 * st->capcalls : 256;
		struct kcall *k = realloc(st->calls, cap * sizeof(*k));
		if (k == NULL)
			return -ENOMEM;
		st->calls = k;
		st->capcalls = cap;
	}
	/* c->call holds call_len bytes, or call_len - cut_len where the
	 * record left the object's contents out already. */
	size_t hole_off = cut_off, hole_len = cut_len;
	if (cut_len == 0)
		find_hole(st, c, created, ncreated, &hole_off, &hole_len);
	struct kcall *k = &st->calls[st->ncalls];
	*k = (struct kcall){ .serial = ++st->serial, .seq = c->seq,
		.thread = c->thread, .fn = c->fn,
		.call_len = c->call_len, .hole_off = hole_off,
		.hole_len = hole_len, .nids = c->nids, .nuses = nuses };
	size_t call8 = (c->call_len - hole_len + 7) & ~(size_t)7;
	size_t n = call8 + (c->nids + nuses) * sizeof(uint64_t);
	uint8_t *m;
	if (st->spare != NULL && st->spare_size >= n) {
		m = st->spare;
		st->spare = NULL;
	} else if ((m = malloc(n ? n : 1)) == NULL) {
		return -ENOMEM;
	}
	k->call = m;
	k->ids = (uint64_t *)(m + call8);
	k->uses = k->ids + c->nids;
	if (cut_len > 0) {
		memcpy(k->call, c->call, c->call_len - cut_len);
	} else {
		if (hole_off)
			memcpy(k->call, c->call, hole_off);
		if (c->call_len > hole_off + hole_len)
			memcpy(k->call + hole_off,
			       c->call + hole_off + hole_len,
			       c->call_len - hole_off - hole_len);
	}
	if (c->nids)
		memcpy(k->ids, c->ids, c->nids * sizeof(uint64_t));
	if (nuses)
		memcpy(k->uses, uses, nuses * sizeof(uint64_t));
	uint32_t idx = (uint32_t)st->ncalls++;
	int r = 0;
	bool contents = false;   /* it uses an object with contents */
	for (uint32_t u = 0; u < nuses; u++)
		contents |= has_state(st, uses[u]);
	for (uint32_t j = 0; j < ncreated && r == 0; j++) {
		struct obj *o = obj_get(st, created[j], true);
		r = o == NULL ? -ENOMEM : obj_add_call(o, idx, contents);
	}
	const struct ava_fn_desc *fn = &st->api->fns[c->fn];
	for (uint32_t j = 0; j < nwritten && r == 0; j++) {
		struct obj *o = obj_get(st, written[j], true);
		if (o == NULL)
			return -ENOMEM;
		supersede(st, o, k);
		r = obj_add_call(o, idx, contents);
	}
	if (r == 0 && ncreated == 0 && nwritten == 0 && fn->nargs > 0 &&
	    fn->args[0].kind == AVA_ARG_HANDLE && c->call_len >= 8) {
		struct obj *o = obj_get(st, ava_wire_get_le(c->call, 8), true);
		if (o == NULL)
			return -ENOMEM;
		supersede(st, o, k);
		r = obj_add_call(o, idx, contents);
	}
	return r;
}

static void
note_thread(struct ava_state *st, uint32_t thread, uint64_t seq)
{
	for (size_t i = 0; i < st->nthreads; i++) {
		if (st->threads[i].thread == thread) {
			if (seq > st->threads[i].seq)
				st->threads[i].seq = seq;
			return;
		}
	}
	if (st->nthreads == st->capthreads) {
		size_t cap = st->capthreads ? 2 * st->capthreads : 8;
		struct thread_seq *t = realloc(st->threads, cap * sizeof(*t));
		if (t == NULL)
			return;
		st->threads = t;
		st->capthreads = cap;
	}
	st->threads[st->nthreads++] = (struct thread_seq){ thread, seq };
}

void
ava_state_seed_thread(struct ava_state *st, uint32_t thread, uint64_t seq)
{
	note_thread(st, thread, seq);
}

static void collect(struct ava_state *st, const struct ava_handle_table *t);

static void
rec_end(struct ava_state *st, struct ava_state_rec *r, bool ok,
	struct ava_handle_table *t)
{
	if (st == NULL || r->fn == NULL)
		return;
	note_thread(st, r->thread, r->seq);
	if (!ok)
		return;
	if (r->overflow && st->incomplete == NULL)
		st->incomplete = r->fn->name;
	for (uint32_t i = 0; i < r->nwritten; i++)
		if (has_state(st, r->written[i]))
			mark_dirty(st, r->written[i]);
	if (r->command) {
		if (r->fn->flags & AVA_FN_MUTATES)
			dirty_through(st, r);
		for (uint32_t i = 0; i < r->ncreated; i++) {
			struct obj *o = obj_get(st, r->created[i], true);
			if (o != NULL)
				o->substitute = true;
		}
		return;
	}
	if (!r->want)
		return;
	/* A query that only returned known objects changes nothing. */
	bool configures = (r->fn->flags & AVA_FN_MUTATES) || r->nwritten > 0;
	if (r->ncreated == 0 && !configures)
		return;
	/* What it writes, among objects without contents of their own. */
	uint64_t w[AVA_STATE_REC_IDS];
	uint32_t nw = 0;
	for (uint32_t i = 0; i < r->nwritten; i++)
		if (!has_state(st, r->written[i]))
			w[nw++] = r->written[i];
	if (r->ncreated == 0 && nw == 0 && r->nwritten > 0)
		return;  /* it wrote contents only: the contents carry it */
	struct ava_state_call c = { .seq = r->seq, .thread = r->thread,
		.fn = r->fn->id, .call = r->call.data, .call_len = r->call_len,
		.ids = r->ids, .nids = r->nids };
	if (keep(st, &c, r->cut_off, r->cut_len, r->uses, r->nuses,
		 r->created, r->ncreated, w, nw) < 0
	    && st->incomplete == NULL)
		st->incomplete = "out of memory";
	if (t != NULL && st->ncalls >= st->gc_at)
		collect(st, t);
}

void
ava_state_rec_end(struct ava_state *st, struct ava_state_rec *r, bool ok,
		  struct ava_handle_table *t)
{
	rec_end(st, r, ok, t);
	r->fn = NULL;   /* ended: a second end does nothing */
}

/* ---- marking what the live objects need -------------------------------- */

struct mark {
	struct ava_state *st;
	uint64_t *stack;
	size_t n, cap;
	int err;
};

static void
push_obj(struct mark *m, uint64_t id)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 256;
		uint64_t *s = realloc(m->stack, cap * sizeof(*s));
		if (s == NULL) {
			m->err = -ENOMEM;
			return;
		}
		m->stack = s;
		m->cap = cap;
	}
	m->stack[m->n++] = id;
}

static int
push_live(void *ctx, uint64_t id, uint16_t type, uint64_t real,
	  uint32_t refs)
{
	push_obj(ctx, id);
	return 0;
}

/* Mark the kept calls that live objects need; returns 0 or -ENOMEM. */
static int
mark_needed(struct ava_state *st, const struct ava_handle_table *t)
{
	struct mark m = { .st = st };
	for (size_t i = 0; i < st->ncalls; i++)
		st->calls[i].mark = false;
	ava_handle_table_each(t, push_live, &m);
	while (m.n > 0 && m.err == 0) {
		struct obj *o = obj_get(st, m.stack[--m.n], false);
		for (uint32_t j = 0; o != NULL && j < o->ncalls; j++) {
			struct kcall *k = &st->calls[o->calls[j]];
			if (k->mark || k->dead)
				continue;
			k->mark = true;
			for (uint32_t u = 0; u < k->nuses; u++)
				push_obj(&m, k->uses[u]);
		}
	}
	free(m.stack);
	return m.err;
}

/* Drop the calls nothing live needs, and the objects left with none. */
static void
collect(struct ava_state *st, const struct ava_handle_table *t)
{
	if (mark_needed(st, t) < 0)
		return;
	uint32_t *map = malloc(st->ncalls * sizeof(*map));
	if (map == NULL)
		return;
	size_t n = 0;
	for (size_t i = 0; i < st->ncalls; i++) {
		if (st->calls[i].mark) {
			map[i] = (uint32_t)n;
			st->calls[n++] = st->calls[i];
		} else {
			map[i] = UINT32_MAX;
			kcall_free(&st->calls[i]);
		}
	}
	st->ncalls = n;
	size_t no = 0;
	ava_u64map_finish(&st->byid);
	ava_u64map_init(&st->byid);
	for (size_t i = 0; i < st->nobjs; i++) {
		struct obj *o = &st->objs[i];
		uint32_t k = 0;
		for (uint32_t j = 0; j < o->ncalls; j++)
			if (map[o->calls[j]] != UINT32_MAX)
				o->calls[k++] = map[o->calls[j]];
		o->ncalls = k;
		uint64_t real;
		bool live = ava_handle_table_lookup(t, o->id, 0, &real,
						    NULL) == 0;
		if (k == 0 && !live) {
			free(o->calls);
			continue;
		}
		st->objs[no] = *o;
		if (ava_u64map_put(&st->byid, o->id, no) == 0)
			no++;
	}
	st->nobjs = no;
	free(map);
	st->gc_at = 2 * st->ncalls > 1024 ? 2 * st->ncalls : 1024;
}

const char *
ava_state_incomplete(const struct ava_state *st)
{
	return st->incomplete;
}

int
ava_state_needed(struct ava_state *st, const struct ava_handle_table *t,
		 struct ava_state_call **calls, size_t *ncalls)
{
	int r = mark_needed(st, t);
	if (r < 0)
		return r;
	/* Copies, in the same block as the array: the capture writes them
	 * out unlocked while the session goes on, and a later call may
	 * supersede (and reuse) or collect the tracker's own. */
	size_t nc = 0, bytes = 0;
	for (size_t i = 0; i < st->ncalls; i++) {
		const struct kcall *k = &st->calls[i];
		if (!k->mark)
			continue;
		nc++;
		bytes += ((k->call_len + 7) & ~(size_t)7) +
			 (size_t)k->nids * sizeof(uint64_t);
	}
	size_t head = (nc ? nc : 1) * sizeof(**calls);
	uint8_t *m = calloc(1, head + bytes);
	if (m == NULL)
		return -ENOMEM;
	*calls = (struct ava_state_call *)m;
	uint8_t *at = m + head;
	nc = 0;
	for (size_t i = 0; i < st->ncalls; i++) {
		const struct kcall *k = &st->calls[i];
		if (!k->mark)
			continue;
		uint64_t *ids = (uint64_t *)(at + ((k->call_len + 7) &
						   ~(size_t)7));
		/* The block is calloc'd: the hole reads as zeros. */
		size_t tail = k->call_len - k->hole_off - k->hole_len;
		if (k->hole_off)
			memcpy(at, k->call, k->hole_off);
		if (tail)
			memcpy(at + k->hole_off + k->hole_len,
			       k->call + k->hole_off, tail);
		if (k->nids)
			memcpy(ids, k->ids, k->nids * sizeof(uint64_t));
		(*calls)[nc++] = (struct ava_state_call){
			.serial = k->serial, .seq = k->seq,
			.thread = k->thread, .fn = k->fn,
			.call = at, .call_len = k->call_len,
			.ids = ids, .nids = k->nids };
		at = (uint8_t *)(ids + k->nids);
	}
	*ncalls = nc;
	return 0;
}

bool
ava_state_is_substitute(const struct ava_state *st, uint64_t id)
{
	struct obj *o = obj_get((struct ava_state *)st, id, false);
	return o != NULL && o->substitute;
}

size_t
ava_state_threads(const struct ava_state *st, uint32_t *threads,
		  uint64_t *seqs, size_t max)
{
	size_t n = st->nthreads < max ? st->nthreads : max;
	for (size_t i = 0; i < n; i++) {
		threads[i] = st->threads[i].thread;
		seqs[i] = st->threads[i].seq;
	}
	return st->nthreads;
}

uint64_t
ava_state_thread_seq(const struct ava_state *st, uint32_t thread)
{
	for (size_t i = 0; i < st->nthreads; i++)
		if (st->threads[i].thread == thread)
			return st->threads[i].seq;
	return 0;
}

bool
ava_state_is_dirty(const struct ava_state *st, uint64_t id)
{
	struct obj *o = obj_get((struct ava_state *)st, id, false);
	return o != NULL && o->dirty;
}

bool
ava_state_take_dirty(struct ava_state *st, uint64_t id)
{
	struct obj *o = obj_get(st, id, false);
	bool d = o != NULL && o->dirty;
	if (d) {
		o->dirty = false;
		st->clean++;   /* what dirty_through() remembered is stale */
	}
	return d;
}

/* ---- restore ---------------------------------------------------------- */

void
ava_state_seed_substitute(struct ava_state *st, uint64_t id)
{
	struct obj *o = obj_get(st, id, true);
	if (o != NULL)
		o->substitute = true;
}
