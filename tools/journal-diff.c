/*
 * journal-diff.c - `ava journal diff A B`: the first call where two runs
 * of the same program part.
 *
 * Calls are aligned per guest thread (threads paired in the order they
 * first called; calls paired by their position in their thread), then
 * compared in A's order: the function, every argument (handles through a
 * pairing of A's ids with B's, made as the calls hand them out), the
 * input payloads by content, the status, the out-arguments and the
 * output digests. What counts as a difference follows replay's rules
 * (doc/replay.md): timestamps and reference counts are not compared, an
 * implementation-defined value that differs is a note.
 *
 * Exit status: 0 no difference, 1 a difference (or an error), 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ava-error.h"
#include "journal-calls.h"
#include "journal-view.h"
#include "pretty.h"
#include "replay.h"
#include "tool.h"
#include "u64map.h"
#include "wire.h"

struct rec {
	struct ava_journal_call *c;   /* heap copy */
	uint32_t rank;                /* its thread's rank by first call */
	uint64_t pos;                 /* its position in its thread */
	uint64_t *fp;                 /* payload fingerprints */
};

struct side {
	const char *name;             /* "A" or "B" */
	const char *path;
	struct ava_journal_reader *r;
	struct ava_journal_session *s;
	struct rec *calls;
	size_t n, cap;
	uint32_t threads[256];        /* thread number by rank */
	uint32_t nthreads;
	struct ava_u64map at;         /* (rank << 40 | pos) -> index + 1 */
};

struct diff {
	const struct ava_api_desc *api;
	struct side a, b;
	struct ava_u64map ab, ba;     /* id pairing */
	uint64_t compared, notes;
	char note[8][240];
	/* the first difference */
	bool differs;
	const struct rec *ra, *rb;
	char what[200], va[256], vb[256];
	int64_t offset;               /* first differing input byte, or -1 */
};

/* ---- loading ------------------------------------------------------------ */

static uint64_t
fingerprint(struct ava_journal_reader *r, const struct ava_journal_payload *p)
{
	void *data = NULL;
	size_t len = 0;
	if (!p->is_blob)
		return ava_journal_digest(p->data, p->len);
	if (ava_journal_payload_read(r, p, &data, &len) != 0)
		return 0;
	uint64_t h = ava_journal_digest(data, len);
	free(data);
	return h;
}

static uint32_t
rank_of(struct side *sd, uint32_t thread)
{
	for (uint32_t i = 0; i < sd->nthreads; i++)
		if (sd->threads[i] == thread)
			return i;
	if (sd->nthreads < 256)
		sd->threads[sd->nthreads++] = thread;
	return sd->nthreads - 1;
}

static int
add_call(struct side *sd, uint64_t *pos, const struct ava_journal_call *c)
{
	if (sd->n == sd->cap) {
		size_t cap = sd->cap ? 2 * sd->cap : 256;
		struct rec *p = realloc(sd->calls, cap * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		sd->calls = p;
		sd->cap = cap;
	}
	struct rec *rc = &sd->calls[sd->n];
	*rc = (struct rec){ .rank = rank_of(sd, c->thread) };
	rc->pos = pos[rc->rank]++;
	int err = ava_journal_call_get(sd->r, c->session, c->seq, &rc->c);
	if (err != 0)
		return err;
	rc->fp = calloc(c->npayloads + 1, sizeof(uint64_t));
	if (rc->fp == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->npayloads; i++)
		rc->fp[i] = fingerprint(sd->r, &c->payloads[i]);
	sd->n++;
	return ava_u64map_put(&sd->at, (uint64_t)(rc->rank + 1) << 40 | rc->pos,
			      sd->n);
}

static int
load(struct side *sd, uint64_t own_id)
{
	struct ava_journal_cursor *cur;
	const struct ava_journal_call *c;
	uint64_t pos[256] = { 0 };
	int err = ava_journal_cursor_create(sd->r, own_id, 1, &cur);
	while (err == 0 && (err = ava_journal_cursor_next(cur, &c)) == 1)
		err = add_call(sd, pos, c);
	ava_journal_cursor_destroy(cur);
	if (err < 0)
		tool_error("journal diff: %s: reading call %zu: %s", sd->path,
			   sd->n + 1, ava_strerror(err));
	return err < 0 ? err : 0;
}

/* ---- comparing ---------------------------------------------------------- */

static void __attribute__((format(printf, 3, 4)))
differ(struct diff *d, const struct rec *ra, const char *fmt, ...)
{
	if (d->differs)
		return;
	d->differs = true;
	d->ra = ra;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->what, sizeof(d->what), fmt, ap);
	va_end(ap);
}

/* Pair A's id x with B's id y, or check the pairing. */
static bool
same_id(struct diff *d, uint64_t x, uint64_t y)
{
	uint64_t px, py;
	bool hx = ava_u64map_get(&d->ab, x, &px);
	bool hy = ava_u64map_get(&d->ba, y, &py);
	if (x == 0 || y == 0)
		return x == y;
	if (hx || hy)
		return hx && hy && px == y && py == x;
	ava_u64map_put(&d->ab, x, y);
	ava_u64map_put(&d->ba, y, x);
	return true;
}

static void
name_id(const struct diff *d, uint64_t id, char *buf, size_t len)
{
	struct ava_buf b;
	ava_buf_init(&b);
	ava_pretty_handle(d->api, id, &b);
	snprintf(buf, len, "%.*s", b.err ? 0 : (int)b.len,
		 b.err ? "" : (const char *)b.data);
	ava_buf_finish(&b);
}

/* The argument input payload k belongs to (payloads come in argument
 * order, one per buffer sent). */
static const char *
payload_arg(const struct ava_fn_desc *fn, const struct call_ids *ids,
	    uint32_t k)
{
	uint64_t at = 0;
	for (int i = 0; i < fn->nargs; i++) {
		const struct ava_arg_desc *a = &fn->args[i];
		uint64_t n = 0;
		if (a->kind == AVA_ARG_IN_BUF || a->kind == AVA_ARG_INOUT_BUF ||
		    a->kind == AVA_ARG_IN_STRING ||
		    (a->kind == AVA_ARG_IN_KARG && ids->karg == 0))
			n = ids->word[i] != AVA_WIRE_NULL;
		else if (a->kind == AVA_ARG_IN_BUFS)
			n = ids->word[i] != AVA_WIRE_NULL ? ids->word[i] : 0;
		if (k < at + n)
			return a->name;
		at += n;
	}
	return "?";
}

/* The arguments, word by word, handles through the pairing. */
static void
compare_args(struct diff *d, const struct rec *ra, const struct rec *rb,
	     const struct ava_fn_desc *fn)
{
	struct call_ids ia, ib;
	if (call_ids_parse(d->api, fn, ra->c, &ia) != 0 ||
	    call_ids_parse(d->api, fn, rb->c, &ib) != 0) {
		differ(d, ra, "arguments: a damaged record");
		return;
	}
	for (int i = 0; i < fn->nargs && !d->differs; i++) {
		const struct ava_arg_desc *a = &fn->args[i];
		if (a->kind == AVA_ARG_HANDLE || a->kind == AVA_ARG_IN_HANDLES ||
		    a->kind == AVA_ARG_IN_PROPS || a->kind == AVA_ARG_IN_KARG)
			continue;  /* compared below, with the ids */
		if (ia.word[i] != ib.word[i]) {
			snprintf(d->va, sizeof(d->va), "%" PRIu64, ia.word[i]);
			snprintf(d->vb, sizeof(d->vb), "%" PRIu64, ib.word[i]);
			differ(d, ra, "argument %s", a->name);
		}
	}
	if (!d->differs && ia.nused != ib.nused) {
		snprintf(d->va, sizeof(d->va), "%u handles", ia.nused);
		snprintf(d->vb, sizeof(d->vb), "%u handles", ib.nused);
		differ(d, ra, "handle arguments");
	}
	for (uint32_t k = 0; k < ia.nused && !d->differs; k++) {
		if (same_id(d, ia.used[k], ib.used[k]))
			continue;
		name_id(d, ia.used[k], d->va, sizeof(d->va));
		name_id(d, ib.used[k], d->vb, sizeof(d->vb));
		differ(d, ra, "handle argument %u (not the same object)", k + 1);
	}
	for (uint32_t k = 0; k < ra->c->npayloads && !d->differs; k++) {
		if (k >= rb->c->npayloads || ra->fp[k] == rb->fp[k])
			continue;
		const struct ava_journal_payload *pa = &ra->c->payloads[k];
		const struct ava_journal_payload *pb = &rb->c->payloads[k];
		snprintf(d->va, sizeof(d->va), "%" PRIu64 " bytes, xxh3 %016"
			 PRIx64, pa->len, ra->fp[k]);
		snprintf(d->vb, sizeof(d->vb), "%" PRIu64 " bytes, xxh3 %016"
			 PRIx64, pb->len, rb->fp[k]);
		/* Inline bytes are at hand: name the first that differs. */
		uint64_t off = 0;
		while (!pa->is_blob && !pb->is_blob && off < pa->len &&
		       off < pb->len && pa->data[off] == pb->data[off])
			off++;
		if (!pa->is_blob && !pb->is_blob)
			d->offset = (int64_t)off;
		differ(d, ra, "argument %s (the bytes it points to)",
		       payload_arg(fn, &ia, k));
	}
	if (!d->differs && ra->c->npayloads != rb->c->npayloads)
		differ(d, ra, "input buffers (%u against %u)",
		       ra->c->npayloads, rb->c->npayloads);
}

static void
note(struct diff *d, const struct rec *ra, const char *what)
{
	if (d->notes < 8)
		snprintf(d->note[d->notes], sizeof(d->note[0]), "#%" PRIu64
			 " %s", ra->c->seq, what);
	d->notes++;
}

/* A difference of class cls in the results. */
static void
result_differs(struct diff *d, const struct rec *ra,
	       enum ava_replay_class cls, const char *what)
{
	if (cls == AVA_REPLAY_IGNORE)
		return;
	if (cls == AVA_REPLAY_NOTE) {
		note(d, ra, what);
		return;
	}
	differ(d, ra, "%s", what);
}

static void
compare_results(struct diff *d, const struct rec *ra, const struct rec *rb,
		const struct ava_fn_desc *fn)
{
	struct call_ids ia, ib;
	const char *why;
	call_ids_parse(d->api, fn, ra->c, &ia);
	call_ids_parse(d->api, fn, rb->c, &ib);
	enum ava_replay_class cls = ava_opencl_replay_rules.classify(
		d->api, fn, ia.word, &why);
	if (ia.no_reply != ib.no_reply) {
		snprintf(d->va, sizeof(d->va), "%s", ia.no_reply ? "no reply "
			 "(the server faulted)" : "a reply");
		snprintf(d->vb, sizeof(d->vb), "%s", ib.no_reply ? "no reply "
			 "(the server faulted)" : "a reply");
		differ(d, ra, "outcome");
		return;
	}
	if (ia.has_status && ia.status != ib.status) {
		snprintf(d->va, sizeof(d->va), "%" PRId64, ia.status);
		snprintf(d->vb, sizeof(d->vb), "%" PRId64, ib.status);
		result_differs(d, ra, cls == AVA_REPLAY_NOTE ? cls
			       : AVA_REPLAY_EXACT, "status");
		return;
	}
	for (uint32_t k = 0; k < ia.nmade && k < ib.nmade && !d->differs; k++)
		if (!same_id(d, ia.made[k], ib.made[k]))
			differ(d, ra, "returned handle %u", k + 1);
	if (!d->differs && ra->c->outs_len != rb->c->outs_len)
		result_differs(d, ra, cls, "out-arguments");
	else if (!d->differs && ra->c->outs_len > 0 &&
		 (ia.nmade == 0 && fn->ret != AVA_RET_HANDLE) &&
		 memcmp(ra->c->outs, rb->c->outs, ra->c->outs_len) != 0)
		result_differs(d, ra, cls, "out-arguments");
	for (uint32_t k = 0; k < ra->c->ndigests && !d->differs; k++) {
		if (k >= rb->c->ndigests)
			break;
		uint64_t x = ava_journal_call_digest(ra->c, k);
		uint64_t y = ava_journal_call_digest(rb->c, k);
		if (x == y)
			continue;
		snprintf(d->va, sizeof(d->va), "xxh3 %016" PRIx64, x);
		snprintf(d->vb, sizeof(d->vb), "xxh3 %016" PRIx64, y);
		char what[64];
		snprintf(what, sizeof(what), "output buffer %u", k + 1);
		result_differs(d, ra, cls, what);
	}
}

static void
compare_pair(struct diff *d, const struct rec *ra, const struct rec *rb)
{
	d->rb = rb;
	d->va[0] = d->vb[0] = '\0';
	d->offset = -1;
	if (ra->c->fn != rb->c->fn) {
		const struct ava_fn_desc *fa = ava_api_fn(d->api, ra->c->fn);
		const struct ava_fn_desc *fb = ava_api_fn(d->api, rb->c->fn);
		snprintf(d->va, sizeof(d->va), "%s", fa ? fa->name : "?");
		snprintf(d->vb, sizeof(d->vb), "%s", fb ? fb->name : "?");
		differ(d, ra, "function");
		return;
	}
	const struct ava_fn_desc *fn = ava_api_fn(d->api, ra->c->fn);
	if (fn == NULL) {
		differ(d, ra, "function %u unknown to this build", ra->c->fn);
		return;
	}
	compare_args(d, ra, rb, fn);
	if (!d->differs)
		compare_results(d, ra, rb, fn);
	d->compared++;
}

static void
walk(struct diff *d)
{
	for (size_t i = 0; i < d->a.n && !d->differs; i++) {
		const struct rec *ra = &d->a.calls[i];
		uint64_t j;
		if (!ava_u64map_get(&d->b.at, (uint64_t)(ra->rank + 1) << 40 |
				    ra->pos, &j)) {
			snprintf(d->va, sizeof(d->va), "this call");
			snprintf(d->vb, sizeof(d->vb), "nothing: its thread "
				 "made fewer calls");
			differ(d, ra, "a call only in A");
			continue;
		}
		compare_pair(d, ra, &d->b.calls[j - 1]);
	}
	/* B's calls that A has no partner for. */
	for (size_t i = 0; i < d->b.n && !d->differs; i++) {
		const struct rec *rb = &d->b.calls[i];
		if (ava_u64map_get(&d->a.at, (uint64_t)(rb->rank + 1) << 40 |
				   rb->pos, NULL))
			continue;
		d->rb = rb;
		snprintf(d->va, sizeof(d->va), "nothing: its thread made fewer "
			 "calls");
		snprintf(d->vb, sizeof(d->vb), "this call");
		differ(d, NULL, "a call only in B");
	}
}

/* ---- output -------------------------------------------------------------- */

static void
print_call(const struct side *sd, const struct rec *rc)
{
	struct ava_buf line;
	ava_buf_init(&line);
	if (rc != NULL && journal_view_format(sd->s, rc->c, false, &line) == 0)
		printf("  %s:         %.*s\n", sd->name, (int)line.len,
		       (const char *)line.data);
	ava_buf_finish(&line);
}

static int
report(struct diff *d)
{
	for (uint64_t i = 0; i < d->notes && i < 8; i++)
		printf("note: %s (implementation-defined; not a difference)\n",
		       d->note[i]);
	if (!d->differs) {
		printf("no difference: %" PRIu64 " calls compared (A: %zu calls,"
		       " B: %zu calls)\n", d->compared, d->a.n, d->b.n);
		return 0;
	}
	printf("first difference: A #%" PRIu64 ", B #%" PRIu64 ": %s\n",
	       d->ra ? d->ra->c->seq : 0, d->rb ? d->rb->c->seq : 0, d->what);
	print_call(&d->a, d->ra);
	print_call(&d->b, d->rb);
	if (d->va[0] || d->vb[0])
		printf("  A has:     %s\n  B has:     %s\n", d->va, d->vb);
	if (d->offset >= 0)
		printf("  offset:    first differing byte at %" PRId64 "\n",
		       d->offset);
	printf("  before it: %" PRIu64 " calls alike\n", d->compared ?
	       d->compared - 1 : 0);
	return AVA_EXIT_FAILURE;
}

/* ---- the command ----------------------------------------------------------- */

struct diff_opts {
	uint64_t session;
	const char *other;
};

static int
take_side(struct ava_journal_reader *r, const struct ava_journal_session *s,
	  uint64_t own_id, const char *path, void *data)
{
	struct side *sd = data;
	sd->r = r;
	sd->path = path;
	int err = ava_journal_session_get(r, own_id, &sd->s);
	if (err == 0)
		err = load(sd, own_id);
	sd->r = NULL;   /* closed by the caller after this returns */
	(void)s;
	return err == 0 ? 0 : AVA_EXIT_FAILURE;
}

static void
side_finish(struct side *sd)
{
	for (size_t i = 0; i < sd->n; i++) {
		ava_journal_call_free(sd->calls[i].c);
		free(sd->calls[i].fp);
	}
	free(sd->calls);
	ava_journal_session_free(sd->s);
	ava_u64map_finish(&sd->at);
}

static int
parse_diff(int argc, char **argv, struct diff_opts *o)
{
	static const struct option opts[] = {
		{ "session", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:", opts, NULL)) != -1) {
		if (c != 's')
			return AVA_EXIT_USAGE;
		o->session = strtoull(optarg, NULL, 10);
	}
	if (optind + 1 != argc) {
		tool_error("journal diff: usage: ava journal diff A B "
			   "[--session S]");
		return AVA_EXIT_USAGE;
	}
	o->other = argv[optind];
	return 0;
}

int
journal_diff(struct journal_set *set, int argc, char **argv)
{
	struct diff_opts o = { 0 };
	int rc = parse_diff(argc, argv, &o);
	if (rc != 0)
		return rc;
	struct journal_set *other;
	if (journal_set_open("diff", o.other, &other) != 0)
		return AVA_EXIT_FAILURE;
	struct diff d = { .a = { .name = "A" }, .b = { .name = "B" },
			  .offset = -1 };
	ava_u64map_init(&d.a.at);
	ava_u64map_init(&d.b.at);
	ava_u64map_init(&d.ab);
	ava_u64map_init(&d.ba);
	rc = journal_pick_session(set, NULL, "journal diff", o.session, take_side,
				  &d.a);
	if (rc == 0)
		rc = journal_pick_session(other, o.other, "journal diff", o.session,
					  take_side, &d.b);
	if (rc == 0) {
		d.api = journal_view_api(d.a.s->api);
		if (d.api == NULL || strcmp(d.a.s->api, d.b.s->api) != 0) {
			tool_error("journal diff: the journals record different "
				   "or unknown APIs");
			rc = AVA_EXIT_FAILURE;
		}
	}
	if (rc == 0) {
		walk(&d);
		rc = report(&d);
	}
	side_finish(&d.a);
	side_finish(&d.b);
	ava_u64map_finish(&d.ab);
	ava_u64map_finish(&d.ba);
	journal_set_close(other);
	return rc;
}
