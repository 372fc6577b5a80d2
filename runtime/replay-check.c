/*
 * replay-check.c - compare the REPLY a replayed call produced with the
 * recorded one: the return value, every out-argument in the skeleton
 * (handles through the replay map) and the digest of every out buffer.
 *
 * Both skeletons are walked by the function's descriptor alone, like
 * marshal-split.c walks a payload, so this works for any API. What a
 * difference means depends on the call's class (replay.h): a divergence,
 * a note, or nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ava-error.h"
#include "handle-table.h"
#include "journal.h"
#include "marshal-split.h"
#include "pretty.h"
#include "replay-private.h"

struct walk {
	struct replay_check *k;
	struct ava_reader rec, got;     /* the two REPLY skeletons */
	const struct ava_span *spans;   /* the replay's out buffers */
	uint32_t nspans, span;          /* next out buffer */
	bool stop;                      /* a divergence was found */
};

static void __attribute__((format(printf, 3, 4)))
say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

void
replay_format_status(const struct ava_api_desc *api, int64_t v, char *buf,
		     size_t len)
{
	const char *n = ava_pretty_const(api, "cl_int", (uint64_t)v);
	if (n != NULL)
		say(buf, len, "%s (%" PRId64 ")", n, v);
	else
		say(buf, len, "%" PRId64, v);
}

static void
handle_text(const struct ava_api_desc *api, uint64_t id, char *buf,
	    size_t len)
{
	struct ava_buf b;
	ava_buf_init(&b);
	if (replay_map_is_provisional(id))
		ava_buf_put_bytes(&b, "a new ", 6);
	ava_pretty_handle(api, id, &b);
	if (replay_map_is_provisional(id))
		ava_buf_put_bytes(&b, " (no recorded id)", 17);
	say(buf, len, "%.*s", b.err ? 0 : (int)b.len,
	    b.err ? "" : (const char *)b.data);
	ava_buf_finish(&b);
}

/* "clGetDeviceInfo(CL_DEVICE_NAME)": a query with the constant it asks
 * for, so that a note says which value differs. */
static void
call_name(const struct replay_check *k, char *buf, size_t len)
{
	const struct ava_fn_desc *fn = k->fn;
	for (int i = 0; i < fn->nargs && (fn->flags & AVA_FN_QUERY); i++) {
		const char *n = fn->args[i].kind == AVA_ARG_SCALAR
				? ava_pretty_const(k->api, fn->args[i].type,
						   k->ev[i]) : NULL;
		if (n != NULL) {
			say(buf, len, "%s(%s)", fn->name, n);
			return;
		}
	}
	say(buf, len, "%s", fn->name);
}

/* Record a difference of class cls; EXACT stops the walk. */
static void
differ(struct walk *w, enum ava_replay_class cls, const char *what,
       const char *want, const char *got)
{
	struct replay_check *k = w->k;
	if (!k->verify || cls == AVA_REPLAY_IGNORE)
		return;
	if (cls == AVA_REPLAY_NOTE) {
		struct ava_replay_result *res = k->res;
		char call[128];
		call_name(k, call, sizeof(call));
		if (res->notes < AVA_REPLAY_NOTES_KEPT)
			say(res->note[res->notes].text,
			    sizeof(res->note[0].text),
			    "%s %s: recorded %s, replay %s (%s)", call, what,
			    want, got, k->why ? k->why : "implementation-defined");
		if (res->notes < AVA_REPLAY_NOTES_KEPT)
			res->note[res->notes].seq = k->seq;
		res->notes++;
		return;
	}
	k->diverged = true;
	w->stop = true;
	say(k->div.what, sizeof(k->div.what), "%s", what);
	say(k->div.expected, sizeof(k->div.expected), "%s", want);
	say(k->div.got, sizeof(k->div.got), "%s", got);
}

static bool
words(struct walk *w, uint64_t *r, uint64_t *g)
{
	if (ava_reader_u64(&w->rec, r) == 0 && ava_reader_u64(&w->got, g) == 0)
		return true;
	if (!w->stop)
		differ(w, AVA_REPLAY_EXACT, "reply layout",
		       "the recorded results", "results that do not line up");
	w->stop = true;
	return false;
}

/* One handle position: bind a new handle, or compare through the map. */
static void
handle_pos(struct walk *w, const char *what, uint64_t rec, uint64_t got)
{
	struct replay_check *k = w->k;
	char a[96], b[96];
	k->res->handles++;
	if (replay_map_is_provisional(got) && rec != 0 &&
	    replay_map_bind(k->map, rec, got) == 0)
		return;
	if (rec == got)
		return;
	handle_text(k->api, rec, a, sizeof(a));
	handle_text(k->api, got, b, sizeof(b));
	differ(w, AVA_REPLAY_EXACT, what, a, b);
}

static void
check_ret(struct walk *w)
{
	struct replay_check *k = w->k;
	uint64_t r, g;
	char a[96], b[96];
	if (!words(w, &r, &g))
		return;
	switch (k->fn->ret) {
	case AVA_RET_HANDLE:
		handle_pos(w, "returned handle", r, g);
		return;
	case AVA_RET_STATUS:
		/* Compared first, by check_status(). */
		k->res->returns++;
		return;
	case AVA_RET_SCALAR:
		k->res->returns++;
		if (r == g)
			return;
		say(a, sizeof(a), "%" PRId64, (int64_t)r);
		say(b, sizeof(b), "%" PRId64, (int64_t)g);
		differ(w, k->cls, "return value", a, b);
		return;
	default:
		return;
	}
}

static bool
is_errcode(const struct ava_fn_desc *fn, int i)
{
	return i == fn->errcode_arg ||
	       (fn->args[i].flags & AVA_ARGF_ERRCODE) != 0;
}

/* An error out-argument's word as the signed status it holds (a cl_int
 * travels zero-extended). */
static int64_t
errcode_value(const struct ava_arg_desc *a, uint64_t v)
{
	unsigned size = a->scalar_size ? a->scalar_size : 8;
	if (size >= 8)
		return (int64_t)v;
	uint64_t sign = UINT64_C(1) << (8 * size - 1);
	v &= (sign << 1) - 1;
	return (int64_t)((v ^ sign) - sign);
}

static void
check_scalar(struct walk *w, int i)
{
	struct replay_check *k = w->k;
	const struct ava_arg_desc *a = &k->fn->args[i];
	uint64_t r, g;
	char x[96], y[96], what[96];
	if (!words(w, &r, &g))
		return;
	bool err = is_errcode(k->fn, i);
	if (k->sids != NULL && k->rules->scalar_id(k->api, k->fn, i)) {
		/* an id the implementation chose: bind, as for a handle */
		k->res->handles++;
		if (r != 0 && g != 0 && ava_u64map_put(k->sids, r, g) < 0)
			k->diverged = true;
		return;
	}
	if (err && k->have_status) {
		k->res->values++;
		return;
	}
	if (!err && k->cls == AVA_REPLAY_IGNORE) {
		k->res->not_compared++;
		return;
	}
	k->res->values++;
	if (r == g)
		return;
	if (err) {
		replay_format_status(k->api, errcode_value(a, r), x, sizeof(x));
		replay_format_status(k->api, errcode_value(a, g), y, sizeof(y));
	} else {
		say(x, sizeof(x), "%" PRIu64, r);
		say(y, sizeof(y), "%" PRIu64, g);
	}
	say(what, sizeof(what), "out-argument %s", a->name);
	differ(w, err && k->cls != AVA_REPLAY_NOTE ? AVA_REPLAY_EXACT : k->cls,
	       what, x, y);
}

/* Handles first seen inside this typed buffer: predict their recorded
 * ids and keep the prediction if the digest confirms it. */
static bool
predict_typed(struct walk *w, uint8_t *p, uint64_t n, uint64_t want)
{
	struct replay_check *k = w->k;
	uint64_t ids[64];
	uint32_t nid = replay_map_unbound(k->map, ids, 64);
	if (nid == 0 || n % 8 != 0)
		return false;
	uint8_t *copy = malloc(n ? n : 1);
	if (copy == NULL)
		return false;
	memcpy(copy, p, n);
	bool any = false;
	for (uint64_t off = 0; off < n; off += 8) {
		uint64_t v = ava_wire_get_le(copy + off, 8);
		for (uint32_t i = 0; i < nid; i++) {
			uint64_t x = replay_map_predict(k->map, ids[i]);
			if (v != ids[i] || x == 0)
				continue;
			ava_wire_put_le(copy + off, x, 8);
			any = true;
		}
	}
	bool ok = any && ava_journal_digest(copy, n) == want;
	for (uint32_t i = 0; i < nid && any; i++) {
		if (ok)
			replay_map_bind(k->map,
					replay_map_predict(k->map, ids[i]),
					ids[i]);
		else
			replay_map_defer(k->map, ids[i]);
	}
	if (ok)
		memcpy(p, copy, n);
	free(copy);
	return any;
}

static void
keep_got(struct replay_check *k, const struct ava_span *s, uint64_t want)
{
	free(k->got_bytes);
	k->got_bytes = malloc(s->len ? s->len : 1);
	if (k->got_bytes == NULL)
		return;
	memcpy(k->got_bytes, s->data, s->len);
	k->got_len = s->len;
	k->want_digest = want;
}

static void
check_buf(struct walk *w, int i)
{
	struct replay_check *k = w->k;
	const struct ava_arg_desc *a = &k->fn->args[i];
	uint64_t r, g;
	char x[96], y[96], what[160];
	if (!words(w, &r, &g))
		return;
	const struct ava_span *s = w->span < w->nspans ? &w->spans[w->span]
						       : NULL;
	uint32_t d = w->span++;
	if (k->cls == AVA_REPLAY_IGNORE) {
		k->res->not_compared++;
		return;
	}
	say(what, sizeof(what), "out-argument %s (length)", a->name);
	if (r != g) {
		say(x, sizeof(x), "%" PRIu64 " bytes", r);
		say(y, sizeof(y), "%" PRIu64 " bytes", g);
		differ(w, k->cls, what, x, y);
		return;
	}
	if (s == NULL || d >= k->nrec_digests || r == 0)
		return;
	uint64_t want = k->rec_digests[d];
	uint64_t got = ava_journal_digest(s->data, s->len);
	if (got != want && a->ntyped != 0 &&
	    predict_typed(w, (uint8_t *)s->data, s->len, want)) {
		got = ava_journal_digest(s->data, s->len);
		if (got != want) {
			k->res->unverified++;
			return;
		}
	}
	k->res->buffers++;
	if (got == want)
		return;
	say(what, sizeof(what), "out buffer %s (%" PRIu64 " bytes)", a->name,
	    r);
	say(x, sizeof(x), "xxh3 %016" PRIx64, want);
	say(y, sizeof(y), "xxh3 %016" PRIx64, got);
	if (k->undefined) {
		/* memory the application never wrote: any bytes will do */
		const char *why = k->why;
		k->why = "contents the application never wrote";
		differ(w, AVA_REPLAY_NOTE, what, x, y);
		k->why = why;
		return;
	}
	if (k->cls == AVA_REPLAY_EXACT && k->verify)
		keep_got(k, s, want);
	differ(w, k->cls, what, x, y);
}

static void
check_handles(struct walk *w, int i)
{
	struct replay_check *k = w->k;
	const struct ava_arg_desc *a = &k->fn->args[i];
	uint64_t rn, gn;
	char x[64], y[64], what[96];
	if (!words(w, &rn, &gn))
		return;
	if (!ava_reader_has_words(&w->rec, rn) ||
	    !ava_reader_has_words(&w->got, gn)) {
		words(w, &rn, &rn); /* reports the layout */
		return;
	}
	for (uint64_t e = 0; e < rn || e < gn; e++) {
		uint64_t r = 0, g = 0;
		if (e < rn)
			ava_reader_u64(&w->rec, &r);
		if (e < gn)
			ava_reader_u64(&w->got, &g);
		if (e >= rn || e >= gn || w->stop)
			continue;
		say(what, sizeof(what), "out-argument %s[%" PRIu64 "]",
		    a->name, e);
		handle_pos(w, what, r, g);
	}
	if (rn != gn && !w->stop) {
		say(x, sizeof(x), "%" PRIu64 " handles", rn);
		say(y, sizeof(y), "%" PRIu64 " handles", gn);
		say(what, sizeof(what), "out-argument %s (count)", a->name);
		differ(w, k->cls, what, x, y);
	}
}

static void
check_arg(struct walk *w, int i)
{
	uint64_t r, g;
	char what[96];
	switch (w->k->fn->args[i].kind) {
	case AVA_ARG_OUT_SCALAR:
		check_scalar(w, i);
		return;
	case AVA_ARG_OUT_HANDLE:
		if (!words(w, &r, &g))
			return;
		say(what, sizeof(what), "out-argument %s",
		    w->k->fn->args[i].name);
		handle_pos(w, what, r, g);
		return;
	case AVA_ARG_OUT_BUF:
	case AVA_ARG_INOUT_BUF:
		check_buf(w, i);
		return;
	case AVA_ARG_OUT_HANDLES:
		check_handles(w, i);
		return;
	default:
		return;
	}
}

/*
 * The call's status in a REPLY skeleton: the return value of a status
 * function, else its error out-argument. False if it has neither.
 */
static bool
status_of(const struct ava_fn_desc *fn, const uint8_t *skel, size_t n,
	  int64_t *st)
{
	struct ava_reader r;
	uint64_t v;
	ava_reader_init(&r, (uint8_t *)skel, n);
	if (ava_reader_u64(&r, &v) != 0)
		return false;
	if (fn->ret == AVA_RET_STATUS) {
		*st = (int64_t)v;
		return true;
	}
	for (int i = 0; i < fn->nargs; i++) {
		switch (fn->args[i].kind) {
		case AVA_ARG_OUT_SCALAR:
		case AVA_ARG_OUT_HANDLE:
		case AVA_ARG_OUT_BUF:
		case AVA_ARG_INOUT_BUF:
			if (ava_reader_u64(&r, &v) != 0)
				return false;
			if (is_errcode(fn, i)) {
				*st = errcode_value(&fn->args[i], v);
				return true;
			}
			break;
		case AVA_ARG_OUT_HANDLES:
			if (ava_reader_u64(&r, &v) != 0 ||
			    !ava_reader_has_words(&r, v))
				return false;
			r.p += 8 * v;
			r.left -= 8 * v;
			break;
		default:
			break;
		}
	}
	return false;
}

/* A differing status is the most telling difference: report it first. */
static void
check_status(struct walk *w, const uint8_t *got, size_t n)
{
	struct replay_check *k = w->k;
	int64_t r, g;
	char a[96], b[96], what[96];
	if (!status_of(k->fn, k->rec_outs, k->rec_outs_len, &r) ||
	    !status_of(k->fn, got, n, &g))
		return;
	k->have_status = true;
	k->rec_status = r;
	k->got_status = g;
	if (r == g)
		return;
	replay_format_status(k->api, r, a, sizeof(a));
	replay_format_status(k->api, g, b, sizeof(b));
	say(what, sizeof(what), "%s", k->fn->ret == AVA_RET_STATUS
	    ? "return value" : "error out-argument");
	if (k->fn->ret != AVA_RET_STATUS)
		for (int i = 0; i < k->fn->nargs; i++)
			if (is_errcode(k->fn, i))
				say(what, sizeof(what), "out-argument %s",
				    k->fn->args[i].name);
	differ(w, k->cls == AVA_REPLAY_NOTE ? AVA_REPLAY_NOTE
					    : AVA_REPLAY_EXACT, what, a, b);
}

int
replay_check_reply(struct replay_check *k, uint8_t *p, size_t n)
{
	struct ava_buf skel;
	struct ava_span spans[AVA_MARSHAL_MAX_SPANS];
	uint32_t nspans = 0;
	ava_buf_init(&skel);
	int err = ava_marshal_split(k->fn, true, p, n, &skel, spans,
				    AVA_MARSHAL_MAX_SPANS, &nspans);
	if (err == -ENOMEM) {
		ava_buf_finish(&skel);
		return err;
	}
	struct walk w = { .k = k, .spans = spans, .nspans = nspans };
	ava_reader_init(&w.rec, (uint8_t *)k->rec_outs, k->rec_outs_len);
	ava_reader_init(&w.got, skel.data, err == 0 ? skel.len : 0);
	if (err == 0)
		check_status(&w, skel.data, skel.len);
	if (!w.stop)
		check_ret(&w);
	for (int i = 0; i < k->fn->nargs && !w.stop; i++)
		check_arg(&w, i);
	/* New handles no comparison could place wait for their first use. */
	uint64_t ids[64];
	uint32_t left = replay_map_unbound(k->map, ids, 64);
	for (uint32_t i = 0; i < left; i++)
		replay_map_defer(k->map, ids[i]);
	ava_buf_finish(&skel);
	return 0;
}
