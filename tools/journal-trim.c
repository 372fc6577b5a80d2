/*
 * journal-trim.c - `ava journal trim DIR --keep SEQ[,SEQ...] -o OUT`: the
 * smallest journal that still replays the chosen calls.
 *
 * One pass over the session, in order, models what each call depends on
 * at the moment it ran (doc/replay.md, "Trimming"):
 *
 *   - every object it names: the call that made the id, and the calls
 *     that changed that object's state before it (a program's builds, a
 *     user event's status);
 *   - every buffer it reads (any buffer argument not marked `writes`,
 *     and every buffer a launched kernel has as an argument): the last
 *     call that wrote it. A partial write depends on the write before
 *     it, back to the last write of the whole buffer, so that chain is
 *     kept whole; sub-buffers write their parent's storage;
 *   - for a kernel launch (or a clone of a kernel): the clSetKernelArg
 *     in force for each argument;
 *   - for a call that names an id the implementation chose (an unmap
 *     names its map): the call that handed it out;
 *   - for a call that names a user event (a wait, a wait list): every
 *     clSetUserEventStatus of that event, earlier or later, since another
 *     thread may complete the event while the call waits.
 *
 * Trimming keeps the closure of the chosen calls under that relation,
 * in their recorded order and with their recorded sequence numbers.
 * Calls that only release, retain or query are dropped unless chosen or
 * needed (a query that revealed an id, such as clGetContextInfo's
 * CL_CONTEXT_DEVICES, is kept when that id is used).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ava-error.h"
#include "journal-calls.h"
#include "journal-copy.h"
#include "journal-view.h"
#include "replay.h"
#include "tool.h"
#include "u64map.h"

#define MAX_KARGS 64

struct kernel_args {
	uint64_t setter[MAX_KARGS];     /* clSetKernelArg in force, by index */
	uint64_t mem[MAX_KARGS];        /* the handle it set, or 0 */
};

/* Calls by seq: their dependencies, and whether they are kept. */
struct node {
	uint64_t seq;
	uint64_t *deps;
	uint32_t ndeps, cap;
	uint64_t *events;               /* the events it names */
	uint32_t nevents, capevents;
	bool keep;
};

struct trim {
	const struct ava_api_desc *api;
	uint16_t mem_type, kernel_type, event_type;
	struct node *n;
	size_t nn, capn;
	struct ava_u64map index;        /* seq -> node index + 1 */
	struct ava_u64map creator;      /* id -> seq of the call that made it */
	struct ava_u64map muts;         /* id -> node index + 1 of a list */
	struct ava_u64map last_write;   /* root buffer id -> seq */
	struct ava_u64map root;         /* sub-buffer id -> parent id */
	struct ava_u64map size;         /* buffer id -> size */
	struct ava_u64map kargs;        /* kernel id -> kernel_args index + 1 */
	struct kernel_args *ka;
	size_t nka, capka;
	uint64_t typed_source[256];     /* handle type -> last call revealing it */
	/* per-object mutation lists, stored as nodes of their own */
	struct node *mut;
	size_t nmut, capmut;
};

static int
push(uint64_t **v, uint32_t *n, uint32_t *cap, uint64_t x)
{
	if (x == 0)
		return 0;
	for (uint32_t i = 0; i < *n; i++)
		if ((*v)[i] == x)
			return 0;
	if (*n == *cap) {
		uint32_t c = *cap ? *cap * 2 : 8;
		uint64_t *p = realloc(*v, c * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		*v = p;
		*cap = c;
	}
	(*v)[(*n)++] = x;
	return 0;
}

static int
dep(struct node *c, uint64_t seq)
{
	return seq == c->seq ? 0 : push(&c->deps, &c->ndeps, &c->cap, seq);
}

static uint64_t
get(const struct ava_u64map *m, uint64_t k)
{
	uint64_t v = 0;
	ava_u64map_get(m, k, &v);
	return v;
}

static uint64_t
root_of(struct trim *t, uint64_t mem)
{
	uint64_t p;
	for (int i = 0; i < 16 && ava_u64map_get(&t->root, mem, &p); i++)
		mem = p;
	return mem;
}

/* The list of calls that changed object id's state. */
static struct node *
mut_list(struct trim *t, uint64_t id, bool create)
{
	uint64_t i = get(&t->muts, id);
	if (i != 0)
		return &t->mut[i - 1];
	if (!create)
		return NULL;
	if (t->nmut == t->capmut) {
		size_t c = t->capmut ? 2 * t->capmut : 64;
		struct node *p = realloc(t->mut, c * sizeof(*p));
		if (p == NULL)
			return NULL;
		t->mut = p;
		t->capmut = c;
	}
	t->mut[t->nmut] = (struct node){ 0 };
	if (ava_u64map_put(&t->muts, id, t->nmut + 1) < 0)
		return NULL;
	return &t->mut[t->nmut++];
}

static struct kernel_args *
kargs_of(struct trim *t, uint64_t kernel, bool create)
{
	uint64_t i = get(&t->kargs, kernel);
	if (i != 0)
		return &t->ka[i - 1];
	if (!create)
		return NULL;
	if (t->nka == t->capka) {
		size_t c = t->capka ? 2 * t->capka : 16;
		struct kernel_args *p = realloc(t->ka, c * sizeof(*p));
		if (p == NULL)
			return NULL;
		t->ka = p;
		t->capka = c;
	}
	memset(&t->ka[t->nka], 0, sizeof(t->ka[0]));
	if (ava_u64map_put(&t->kargs, kernel, t->nka + 1) < 0)
		return NULL;
	return &t->ka[t->nka++];
}

static bool
is_launch(const struct ava_fn_desc *fn)
{
	return strcmp(fn->name, "clEnqueueNDRangeKernel") == 0 ||
	       strcmp(fn->name, "clEnqueueTask") == 0;
}

/* ---- what a call depends on ------------------------------------------- */

static int
depend_on_object(struct trim *t, struct node *c, uint64_t id)
{
	uint16_t type = call_id_type(t->api, id);
	uint64_t made = get(&t->creator, id);
	int err = dep(c, made != 0 ? made : t->typed_source[type & 0xff]);
	struct node *m = type == t->mem_type || type == t->kernel_type
			 ? NULL : mut_list(t, id, false);
	for (uint32_t i = 0; m != NULL && i < m->ndeps && err == 0; i++)
		err = dep(c, m->deps[i]);
	return err;
}

static int
depend_on_contents(struct trim *t, struct node *c, uint64_t mem)
{
	return dep(c, get(&t->last_write, root_of(t, mem)));
}

/* A launch reads (and may write) every buffer its kernel was given. */
static int
launch_deps(struct trim *t, struct node *c, uint64_t kernel)
{
	struct kernel_args *ka = kargs_of(t, kernel, false);
	int err = 0;
	for (int i = 0; ka != NULL && i < MAX_KARGS && err == 0; i++) {
		err = dep(c, ka->setter[i]);
		if (err == 0 && ka->mem[i] != 0 &&
		    call_id_type(t->api, ka->mem[i]) == t->mem_type)
			err = depend_on_contents(t, c, ka->mem[i]);
	}
	return err;
}

/* Scalar ids (replay.h, scalar_id) share the creator map with handle
 * ids, under a type tag no handle has. */
#define SID(v) ((uint64_t)0xfe << 56 | ((v) & ((UINT64_C(1) << 56) - 1)))

static bool
is_sid(const struct trim *t, const struct ava_fn_desc *fn, int i)
{
	const struct ava_replay_rules *r = &ava_opencl_replay_rules;
	return r->scalar_id != NULL && r->scalar_id(t->api, fn, i);
}

static int
arg_deps(struct trim *t, struct node *c, const struct ava_fn_desc *fn,
	 const struct call_ids *ids)
{
	int err = 0;
	for (int i = 0; i < fn->nargs && err == 0; i++)
		if (fn->args[i].kind == AVA_ARG_SCALAR && ids->word[i] != 0 &&
		    is_sid(t, fn, i))
			err = dep(c, get(&t->creator, SID(ids->word[i])));
	for (uint32_t i = 0; i < ids->nused && err == 0; i++) {
		err = depend_on_object(t, c, ids->used[i]);
		if (err == 0 &&
		    call_id_type(t->api, ids->used[i]) == t->event_type)
			err = push(&c->events, &c->nevents, &c->capevents,
				   ids->used[i]);
	}
	for (int i = 0; i < fn->nargs && err == 0; i++) {
		const struct ava_arg_desc *a = &fn->args[i];
		if (a->kind == AVA_ARG_HANDLE && a->handle_type == t->mem_type &&
		    !(a->flags & AVA_ARGF_WRITES))
			err = depend_on_contents(t, c, ids->word[i]);
		if (a->kind == AVA_ARG_HANDLE &&
		    a->handle_type == t->kernel_type &&
		    (is_launch(fn) || strcmp(fn->name, "clCloneKernel") == 0))
			err = launch_deps(t, c, ids->word[i]);
	}
	return err;
}

/* ---- what a call changes ---------------------------------------------- */

static uint64_t
scalar(const struct ava_fn_desc *fn, const struct call_ids *ids,
       const char *name, uint64_t dflt)
{
	int i = call_arg(fn, name);
	return i >= 0 ? ids->word[i] : dflt;
}

/* A write to buffer mem: of all of it, or a part that keeps what the
 * previous writes left. */
static int
wrote(struct trim *t, struct node *c, uint64_t mem, bool whole)
{
	uint64_t r = root_of(t, mem);
	int err = whole && r == mem ? 0 : depend_on_contents(t, c, mem);
	return err ? err : ava_u64map_put(&t->last_write, r, c->seq);
}

static bool
whole_write(struct trim *t, const struct ava_fn_desc *fn,
	    const struct call_ids *ids, uint64_t mem)
{
	uint64_t off = scalar(fn, ids, "offset",
			      scalar(fn, ids, "dst_offset", UINT64_MAX));
	uint64_t size = scalar(fn, ids, "size", 0);
	return off == 0 && size != 0 && size == get(&t->size, mem);
}

static int
created(struct trim *t, struct node *c, const struct ava_fn_desc *fn,
	const struct call_ids *ids)
{
	int err = 0;
	for (int i = 0; i < fn->nargs && err == 0; i++)
		if (fn->args[i].kind == AVA_ARG_OUT_SCALAR && ids->out[i] != 0 &&
		    is_sid(t, fn, i))
			err = ava_u64map_put(&t->creator, SID(ids->out[i]),
					     c->seq);
	for (uint32_t i = 0; i < ids->nmade && err == 0; i++)
		if (get(&t->creator, ids->made[i]) == 0 ||
		    (fn->flags & AVA_FN_CREATES))
			err = ava_u64map_put(&t->creator, ids->made[i], c->seq);
	if (err != 0 || fn->ret != AVA_RET_HANDLE || ids->nmade == 0 ||
	    fn->ret_handle_type != t->mem_type)
		return err;
	uint64_t mem = ids->made[0];
	int parent = call_arg(fn, "buffer");
	if (parent >= 0)  /* clCreateSubBuffer */
		return ava_u64map_put(&t->root, mem, ids->word[parent]);
	uint64_t size = scalar(fn, ids, "size", 0);
	if (size != 0 && (err = ava_u64map_put(&t->size, mem, size)) < 0)
		return err;
	/* Its contents start here (copied from the host, or undefined). */
	return ava_u64map_put(&t->last_write, mem, c->seq);
}

static int
set_karg(struct trim *t, struct node *c, const struct ava_fn_desc *fn,
	 const struct call_ids *ids)
{
	uint64_t index = scalar(fn, ids, "arg_index", MAX_KARGS);
	struct kernel_args *ka = kargs_of(t, ids->word[0], true);
	if (ka == NULL)
		return -ENOMEM;
	if (index < MAX_KARGS) {
		ka->setter[index] = c->seq;
		ka->mem[index] = ids->karg;
	}
	return 0;
}

/* A clone starts with its source's arguments. */
static int
clone_kargs(struct trim *t, uint64_t from, uint64_t to)
{
	struct kernel_args *src = kargs_of(t, from, false);
	if (src == NULL)
		return 0;
	struct kernel_args copy = *src;  /* kargs_of may move the array */
	struct kernel_args *dst = kargs_of(t, to, true);
	if (dst == NULL)
		return -ENOMEM;
	*dst = copy;
	return 0;
}

static int
mutated(struct trim *t, struct node *c, uint64_t id)
{
	struct node *m = mut_list(t, id, true);
	return m == NULL ? -ENOMEM : push(&m->deps, &m->ndeps, &m->cap, c->seq);
}

static int
effects(struct trim *t, struct node *c, const struct ava_fn_desc *fn,
	const struct call_ids *ids)
{
	int err = created(t, c, fn, ids);
	bool wrote_any = false;
	for (int i = 0; i < fn->nargs && err == 0; i++) {
		const struct ava_arg_desc *a = &fn->args[i];
		if (a->kind != AVA_ARG_HANDLE || !(a->flags & AVA_ARGF_WRITES))
			continue;
		wrote_any = true;
		err = a->handle_type == t->mem_type
		      ? wrote(t, c, ids->word[i],
			      whole_write(t, fn, ids, ids->word[i]))
		      : mutated(t, c, ids->word[i]);
	}
	if (err != 0)
		return err;
	if (strcmp(fn->name, "clSetKernelArg") == 0)
		return set_karg(t, c, fn, ids);
	if (strcmp(fn->name, "clCloneKernel") == 0 && ids->nmade == 1)
		return clone_kargs(t, ids->word[0], ids->made[0]);
	if (is_launch(fn)) {
		struct kernel_args *ka = kargs_of(t, ids->word[1], false);
		for (int i = 0; ka != NULL && i < MAX_KARGS && err == 0; i++)
			if (ka->mem[i] != 0 &&
			    call_id_type(t->api, ka->mem[i]) == t->mem_type)
				err = wrote(t, c, ka->mem[i], false);
		return err;
	}
	/* Other state changes (a build): the first handle that is not the
	 * queue the call was made on. */
	if (!(fn->flags & AVA_FN_MUTATES) || wrote_any)
		return 0;
	for (int i = 0; i < fn->nargs; i++) {
		const struct ava_arg_desc *a = &fn->args[i];
		if (a->kind == AVA_ARG_HANDLE && ids->word[i] != 0 &&
		    strcmp(t->api->handles[a->handle_type].name,
			   "cl_command_queue") != 0)
			return mutated(t, c, ids->word[i]);
	}
	return 0;
}

/* A query whose out buffer reveals ids of a type: the source of those
 * ids if no other call made them. */
static void
reveals(struct trim *t, const struct ava_fn_desc *fn,
	const struct call_ids *ids, uint64_t seq)
{
	for (int i = 0; i < fn->nargs; i++) {
		const struct ava_arg_desc *a = &fn->args[i];
		if (a->kind != AVA_ARG_OUT_BUF || a->typed_by < 0)
			continue;
		for (unsigned k = 0; k < a->ntyped; k++)
			if (a->typed[k].key == ids->word[a->typed_by])
				t->typed_source[a->typed[k].handle_type & 0xff] =
					seq;
	}
}

static struct node *
add_node(struct trim *t, uint64_t seq)
{
	if (t->nn == t->capn) {
		size_t c = t->capn ? 2 * t->capn : 256;
		struct node *p = realloc(t->n, c * sizeof(*p));
		if (p == NULL)
			return NULL;
		t->n = p;
		t->capn = c;
	}
	t->n[t->nn] = (struct node){ .seq = seq };
	if (ava_u64map_put(&t->index, seq, t->nn + 1) < 0)
		return NULL;
	return &t->n[t->nn++];
}

static int
model_call(struct trim *t, const struct ava_journal_call *call)
{
	const struct ava_fn_desc *fn = ava_api_fn(t->api, call->fn);
	struct call_ids ids;
	struct node *c = add_node(t, call->seq);
	if (c == NULL)
		return -ENOMEM;
	if (fn == NULL || call_ids_parse(t->api, fn, call, &ids) != 0)
		return AVA_EPROTO;
	int err = arg_deps(t, c, fn, &ids);
	if (err == 0 && call_ids_ok(t->api, &ids))
		err = effects(t, c, fn, &ids);
	if (err == 0 && call_ids_ok(t->api, &ids))
		reveals(t, fn, &ids, call->seq);
	return err;
}

/* ---- the closure ------------------------------------------------------ */

/* Keep every status change of the events kept calls name; true if that
 * kept a call not kept before. */
static bool
keep_event_setters(struct trim *t)
{
	bool more = false;
	for (size_t i = 0; i < t->nn; i++) {
		struct node *c = &t->n[i];
		for (uint32_t e = 0; c->keep && e < c->nevents; e++) {
			struct node *m = mut_list(t, c->events[e], false);
			for (uint32_t k = 0; m != NULL && k < m->ndeps; k++) {
				uint64_t at = get(&t->index, m->deps[k]);
				if (at != 0 && !t->n[at - 1].keep) {
					t->n[at - 1].keep = true;
					more = true;
				}
			}
		}
	}
	return more;
}

static int
close_once(struct trim *t)
{
	uint64_t *stack = malloc((t->nn + 1) * sizeof(*stack));
	size_t sp = 0;
	if (stack == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < t->nn; i++)
		if (t->n[i].keep)
			stack[sp++] = i;
	while (sp > 0) {
		struct node *c = &t->n[stack[--sp]];
		for (uint32_t k = 0; k < c->ndeps; k++) {
			uint64_t i = get(&t->index, c->deps[k]);
			if (i == 0 || t->n[i - 1].keep)
				continue;
			t->n[i - 1].keep = true;
			stack[sp++] = i - 1;
		}
	}
	free(stack);
	return 0;
}

static int
close_over(struct trim *t, uint64_t *kept)
{
	int err;
	do
		err = close_once(t);
	while (err == 0 && keep_event_setters(t));
	*kept = 0;
	for (size_t i = 0; i < t->nn; i++)
		*kept += t->n[i].keep;
	return err;
}

static bool
keep_call(const struct ava_journal_call *c, void *data)
{
	struct trim *t = data;
	uint64_t i = get(&t->index, c->seq);
	return i != 0 && t->n[i - 1].keep;
}

/* ---- the command ------------------------------------------------------- */

struct trim_opts {
	uint64_t session;
	uint64_t *keep;
	size_t nkeep;
	const char *out;
};

static int
parse_keep(const char *s, struct trim_opts *o)
{
	char *copy = strdup(s), *save = NULL;
	if (copy == NULL)
		return -ENOMEM;
	for (char *tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		char *end;
		uint64_t v = strtoull(tok, &end, 10);
		uint64_t *p = realloc(o->keep, (o->nkeep + 1) * sizeof(*p));
		if (*end != '\0' || end == tok || v == 0 || p == NULL) {
			free(p == NULL ? NULL : p);
			o->keep = p == NULL ? o->keep : p;
			free(copy);
			tool_error("journal trim: '%s' is not a call number", tok);
			return AVA_EXIT_USAGE;
		}
		o->keep = p;
		o->keep[o->nkeep++] = v;
	}
	free(copy);
	return 0;
}

static int
parse_trim(int argc, char **argv, struct trim_opts *o)
{
	static const struct option opts[] = {
		{ "keep", required_argument, NULL, 'k' },
		{ "session", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc = 0;
	optind = 1;
	while (rc == 0 && (c = getopt_long(argc, argv, "k:s:o:", opts,
					   NULL)) != -1) {
		switch (c) {
		case 'k': rc = parse_keep(optarg, o); break;
		case 's': o->session = strtoull(optarg, NULL, 10); break;
		case 'o': o->out = optarg; break;
		default: return AVA_EXIT_USAGE;
		}
	}
	if (rc == 0 && (o->nkeep == 0 || o->out == NULL || optind != argc)) {
		tool_error("journal trim: usage: ava journal trim DIR --keep "
			   "SEQ[,SEQ...] [--session S] -o OUT");
		rc = AVA_EXIT_USAGE;
	}
	return rc;
}

static void
trim_finish(struct trim *t)
{
	for (size_t i = 0; i < t->nn; i++) {
		free(t->n[i].deps);
		free(t->n[i].events);
	}
	for (size_t i = 0; i < t->nmut; i++)
		free(t->mut[i].deps);
	free(t->n);
	free(t->mut);
	free(t->ka);
	struct ava_u64map *maps[] = { &t->index, &t->creator, &t->muts,
		&t->last_write, &t->root, &t->size, &t->kargs };
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		ava_u64map_finish(maps[i]);
}

static uint16_t
type_named(const struct ava_api_desc *api, const char *name)
{
	for (uint16_t i = 1; i < api->nhandles; i++)
		if (strcmp(api->handles[i].name, name) == 0)
			return i;
	return 0;
}

/* Model the session's calls up to the last one kept. */
static int
model(struct trim *t, struct ava_journal_reader *r, uint64_t own_id)
{
	struct ava_journal_cursor *cur;
	const struct ava_journal_call *c;
	int err = ava_journal_cursor_create(r, own_id, 1, &cur);
	while (err == 0 && (err = ava_journal_cursor_next(cur, &c)) == 1) {
		err = model_call(t, c);
		if (err != 0)
			tool_error("journal trim: call #%" PRIu64 ": %s", c->seq,
				   ava_strerror(err));
	}
	ava_journal_cursor_destroy(cur);
	return err < 0 ? err : 0;
}

static int
mark(struct trim *t, const struct trim_opts *o)
{
	for (size_t i = 0; i < o->nkeep; i++) {
		uint64_t k = get(&t->index, o->keep[i]);
		if (k == 0) {
			tool_error("journal trim: the session has no call #%"
				   PRIu64, o->keep[i]);
			return -ENOENT;
		}
		t->n[k - 1].keep = true;
	}
	return 0;
}

static int
trim_session(struct ava_journal_reader *r, const struct ava_journal_session *s,
	     uint64_t own_id, const char *path, void *data)
{
	const struct trim_opts *o = data;
	struct trim t = { .api = journal_view_api(s->api) };
	uint64_t kept = 0, copied = 0;
	char why[256] = "";
	if (t.api == NULL) {
		tool_error("journal trim: session %" PRIu64 ": api '%s' is "
			   "unknown to this build", s->id, s->api);
		return AVA_EXIT_FAILURE;
	}
	t.mem_type = type_named(t.api, "cl_mem");
	t.kernel_type = type_named(t.api, "cl_kernel");
	t.event_type = type_named(t.api, "cl_event");
	int err = model(&t, r, own_id);
	if (err == 0)
		err = mark(&t, o);
	if (err == 0)
		err = close_over(&t, &kept);
	struct journal_copy how = { .keep = keep_call, .data = &t };
	if (err == 0) {
		err = journal_copy_session(r, path, own_id, o->out, &how,
					   &copied, why, sizeof(why));
		if (err != 0)
			tool_error("journal trim: %s", why);
	}
	if (err == 0)
		printf("%s: kept %" PRIu64 " of %" PRIu64 " calls of session %"
		       PRIu64 "\n", o->out, copied, s->ncalls, s->id);
	trim_finish(&t);
	return err == 0 ? 0 : AVA_EXIT_FAILURE;
}

int
journal_trim(struct journal_set *set, int argc, char **argv)
{
	struct trim_opts o = { 0 };
	int rc = parse_trim(argc, argv, &o);
	if (rc != 0) {
		free(o.keep);
		return rc;
	}
	rc = journal_pick_session(set, NULL, "journal trim", o.session,
				  trim_session, &o);
	free(o.keep);
	return rc;
}
