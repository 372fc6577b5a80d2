/*
 * marshal-guest.c - the guest half: encode a CALL from the application's
 * arguments, decode a REPLY into the application's storage.
 *
 * With ava_marshal_defer_bulk(), over shm:, a large opaque in-buffer is
 * not copied into the payload at all: the transport copies it once, from
 * the application's memory into the bulk area (or, when that is too
 * small, into its ring). A large out-buffer the server left in the area
 * is copied once, from there into the application's memory. A buffer of
 * an argument registered to stream (marshal.h) is marked as such, and
 * the transport decides whether it does.
 */
#include <errno.h>
#include <string.h>

#include "ava-error.h"
#include "marshal-private.h"

static int
put_sized(struct ava_buf *b, const void *p, uint64_t n)
{
	ava_buf_put_u64(b, n);
	return ava_buf_put_padded(b, p, (size_t)n);
}

static bool defer_bulk;

void
ava_marshal_defer_bulk(bool on)
{
	__atomic_store_n(&defer_bulk, on, __ATOMIC_RELAXED);
}

/* The holes of a CALL being encoded, and the streams among them. */
struct enc {
	const struct ava_api_desc *api;
	const struct ava_fn_desc *fn;
	struct ava_bulk set;
	struct ava_marshal_streams st;
};

static int
put_in_buf(const struct ava_arg_desc *a, uint64_t v, const uint64_t *ev,
	   struct enc *e, int i, struct ava_buf *b)
{
	static const uint64_t none[AVA_MAX_ARGS];
	if (v == 0)
		return ava_buf_put_u64(b, AVA_WIRE_NULL);
	/* Present but not sent: the server supplies zeroed storage. */
	if (!ava_marshal_when(a, ev))
		return ava_buf_put_u64(b, 0);
	uint64_t n;
	int r = ava_marshal_nbytes(ava_marshal_count(a, ev, none),
				   ava_marshal_elem(a), &n);
	if (r < 0)
		return r;
	const void *p = (const void *)(uintptr_t)v;
	if (e == NULL || e->set.n == AVA_BULK_MAX ||
	    !ava_marshal_bulk_arg(a, n))
		return put_sized(b, p, n);
	if (e->st.ref < 0 && ava_marshal_stream_ok(e->api, e->fn, i, n))
		e->st.ref = (int)e->set.n;
	ava_buf_put_u64(b, n);
	return ava_marshal_put_hole(b, &e->set, p, n);
}

/* An out-buffer only says whether it is there; one that may stream is
 * offered as the call's sink. */
static int
put_out_buf(const struct ava_arg_desc *a, uint64_t v, const uint64_t *ev,
	    struct enc *e, int i, struct ava_buf *b)
{
	static const uint64_t none[AVA_MAX_ARGS];
	uint64_t n;
	if (e != NULL && v != 0 && e->st.sink == NULL &&
	    a->kind == AVA_ARG_OUT_BUF &&
	    ava_marshal_nbytes(ava_marshal_count(a, ev, none),
			       ava_marshal_elem(a), &n) == 0 &&
	    ava_marshal_stream_ok(e->api, e->fn, i, n)) {
		e->st.sink = (void *)(uintptr_t)v;
		e->st.sink_len = n;
	}
	return ava_buf_put_u64(b, v != 0);
}

static int
put_string(uint64_t v, struct ava_buf *b)
{
	if (v == 0)
		return ava_buf_put_u64(b, AVA_WIRE_NULL);
	const char *s = (const char *)(uintptr_t)v;
	return put_sized(b, s, strlen(s) + 1);
}

static int
put_handles(const struct ava_arg_desc *a, uint64_t v, const uint64_t *ev,
	    const struct ava_handle_ops *h, struct ava_buf *b)
{
	static const uint64_t none[AVA_MAX_ARGS];
	if (v == 0)
		return ava_buf_put_u64(b, AVA_WIRE_NULL);
	uint64_t count = ava_marshal_count(a, ev, none), n;
	int r = ava_marshal_nbytes(count, HANDLE_SIZE, &n);
	if (r < 0)
		return r;
	ava_buf_put_u64(b, count);
	void *const *objs = (void *const *)(uintptr_t)v;
	for (uint64_t i = 0; i < count && r == 0; i++) {
		uint64_t id = 0;
		if (objs[i] != NULL)
			r = h->to_wire(h->ctx, a->handle_type,
				       (uintptr_t)objs[i], false, &id);
		if (r == 0)
			r = ava_buf_put_u64(b, id);
	}
	return r;
}

/* Length of buffer i of an IN_BUFS argument, per the lengths array. */
static uint64_t
buf_len(const struct ava_fn_desc *fn, const struct ava_arg_desc *a,
	const uint64_t *v, uint64_t i, const void *p)
{
	uint64_t len = 0;
	if (a->lengths_arg >= 0 && a->lengths_arg < fn->nargs &&
	    v[a->lengths_arg] != 0) {
		const struct ava_arg_desc *la = &fn->args[a->lengths_arg];
		unsigned es = (unsigned)ava_marshal_elem(la);
		const uint8_t *lens = (const uint8_t *)(uintptr_t)
				      v[a->lengths_arg];
		len = ava_marshal_load(lens + i * es, es);
	}
	if (len == 0 && (a->flags & AVA_ARGF_NUL_TERMINATED))
		len = strlen(p) + 1;
	return len;
}

static int
put_bufs(const struct ava_fn_desc *fn, const struct ava_arg_desc *a,
	 const uint64_t *v, const uint64_t *ev, uint64_t self,
	 struct ava_buf *b)
{
	static const uint64_t none[AVA_MAX_ARGS];
	if (self == 0)
		return ava_buf_put_u64(b, AVA_WIRE_NULL);
	uint64_t count = ava_marshal_count(a, ev, none), n;
	int r = ava_marshal_nbytes(count, 8, &n);
	if (r < 0)
		return r;
	ava_buf_put_u64(b, count);
	const void *const *bufs = (const void *const *)(uintptr_t)self;
	for (uint64_t i = 0; i < count && r == 0; i++) {
		if (bufs[i] == NULL) {
			r = ava_buf_put_u64(b, AVA_WIRE_NULL);
			continue;
		}
		uint64_t len = buf_len(fn, a, v, i, bufs[i]);
		r = len > AVA_FRAME_MAX ? AVA_ETOOBIG
					: put_sized(b, bufs[i], len);
	}
	return r;
}

static int
put_props(const struct ava_arg_desc *a, uint64_t v,
	  const struct ava_handle_ops *h, struct ava_buf *b)
{
	if (v == 0)
		return ava_buf_put_u64(b, AVA_WIRE_NULL);
	unsigned ps = a->prop_size ? a->prop_size : 8;
	const uint8_t *p = (const uint8_t *)(uintptr_t)v;
	uint64_t n = 0;
	/* Keys sit at even positions; a 0 key ends the list. */
	while (ava_marshal_load(p + n * ps, ps) != 0) {
		n += 2;
		if (n >= AVA_MARSHAL_PROPS_MAX)
			return -EINVAL;
	}
	n++;
	ava_buf_put_u64(b, n);
	uint8_t *w;
	int r = ava_buf_put_zeros(b, n * 8, &w);
	if (r < 0)
		return r;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t x = ava_marshal_load(p + i * ps, ps);
		ava_wire_put_le(w + 8 * i, x, 8);
	}
	return ava_marshal_props(a, 0, w, n, h, true);
}

static int
put_karg(const struct ava_arg_desc *a, uint64_t v, const uint64_t *ev,
	 const struct ava_handle_ops *h, struct ava_buf *b)
{
	static const uint64_t none[AVA_MAX_ARGS];
	if (v == 0) {
		ava_buf_put_u64(b, AVA_WIRE_NULL);
		return ava_buf_put_u64(b, 0);
	}
	uint64_t n, id;
	int r = ava_marshal_nbytes(ava_marshal_count(a, ev, none),
				   ava_marshal_elem(a), &n);
	if (r < 0)
		return r;
	const void *p = (const void *)(uintptr_t)v;
	ava_buf_put_u64(b, n);
	if (n == sizeof(void *) && h->karg_id != NULL &&
	    h->karg_id(h->ctx, p, (size_t)n, &id)) {
		ava_buf_put_u64(b, 1);
		return ava_buf_put_u64(b, id);
	}
	ava_buf_put_u64(b, 0);
	return ava_buf_put_padded(b, p, (size_t)n);
}

static int
put_arg(const struct ava_fn_desc *fn, int i, const uint64_t *v,
	const uint64_t *ev, const struct ava_handle_ops *h,
	struct enc *e, struct ava_buf *b)
{
	const struct ava_arg_desc *a = &fn->args[i];
	switch (a->kind) {
	case AVA_ARG_SCALAR:
	case AVA_ARG_HANDLE:
		return ava_buf_put_u64(b, ev[i]);
	case AVA_ARG_IN_BUF:
	case AVA_ARG_INOUT_BUF:
		return put_in_buf(a, v[i], ev, e, i, b);
	case AVA_ARG_OUT_BUF:
		return put_out_buf(a, v[i], ev, e, i, b);
	case AVA_ARG_IN_STRING:
		return put_string(v[i], b);
	case AVA_ARG_IN_HANDLES:
		return put_handles(a, v[i], ev, h, b);
	case AVA_ARG_IN_BUFS:
		return put_bufs(fn, a, v, ev, v[i], b);
	case AVA_ARG_IN_PROPS:
		return put_props(a, v[i], h, b);
	case AVA_ARG_IN_KARG:
		return put_karg(a, v[i], ev, h, b);
	case AVA_ARG_USERDATA:
		return ava_buf_put_u64(b, ava_marshal_remote_userdata(fn, i)
					  ? v[i] : 0);
	default:
		return ava_buf_put_u64(b, v[i] != 0);
	}
}

static int
expr_values(const struct ava_fn_desc *fn, const uint64_t *v,
	    const struct ava_handle_ops *h, uint64_t *ev)
{
	ava_marshal_zero_slots(ev, fn->nargs);
	for (int i = 0; i < fn->nargs; i++) {
		const struct ava_arg_desc *a = &fn->args[i];
		if (a->kind == AVA_ARG_SCALAR)
			ev[i] = ava_marshal_scalar(a, v[i]);
		else if (a->kind == AVA_ARG_USERDATA)
			/* a cookie, or never sent: as the server sees it */
			ev[i] = ava_marshal_remote_userdata(fn, i) ? v[i] : 0;
		else if (a->kind != AVA_ARG_HANDLE)
			ev[i] = v[i] != 0;
		else if (v[i] != 0) {
			int r = h->to_wire(h->ctx, a->handle_type, v[i],
					   false, &ev[i]);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int
ava_marshal_call_encode(const struct ava_api_desc *api,
			const struct ava_fn_desc *fn, const uint64_t *v,
			const struct ava_handle_ops *h, uint64_t *ev,
			struct ava_buf *out)
{
	if (fn->nargs > AVA_MAX_ARGS)
		return -EINVAL;
	/* Not e = { ... }, which would zero set's refs, a `rep stos` for
	 * every call (ava_marshal_zero_slots()); only set.n of them count. */
	struct enc e;
	e.api = api;
	e.fn = fn;
	e.set.payload = NULL;
	e.set.len = 0;
	e.set.n = 0;
	e.st = (struct ava_marshal_streams){ .ref = -1 };
	const struct ava_marshal_bulk_ops *ops = ava_marshal_bulk();
	bool defer = ops && __atomic_load_n(&defer_bulk, __ATOMIC_RELAXED) &&
		     ops->ready();
	int r = expr_values(fn, v, h, ev);
	for (int i = 0; i < fn->nargs && r == 0; i++)
		r = put_arg(fn, i, v, ev, h, defer ? &e : NULL, out);
	if (r == 0)
		r = ava_buf_error(out);
	if (defer)
		ava_marshal_stage(&e.set, out, r, &e.st);
	return r;
}

/* ---- REPLY ------------------------------------------------------------ */

static int
get_handle(const struct ava_handle_ops *h, uint16_t type, uint64_t id,
	   bool creates, uint64_t *obj)
{
	*obj = 0;
	if (id == 0)
		return 0;
	return h->from_wire(h->ctx, type, id, creates, obj, NULL);
}

/* A REPLY being decoded: its reader, and its holes. */
struct rdec {
	struct ava_reader rd;
	const uint8_t *base;
	const struct ava_bulk *set;
	uint32_t used;
};

static int
get_out_buf(const struct ava_arg_desc *a, uint64_t v, const uint64_t *ev,
	    const struct ava_handle_ops *h, struct rdec *d)
{
	static const uint64_t none[AVA_MAX_ARGS];
	uint64_t n, cap = 0;
	uint8_t *p;
	int r = ava_reader_u64(&d->rd, &n);
	if (r == 0 && v != 0)
		r = ava_marshal_nbytes(ava_marshal_count(a, ev, none),
				       ava_marshal_elem(a), &cap);
	if (r < 0)
		return AVA_EPROTO;
	if (n > cap || ava_reader_bytes(&d->rd, n, &p) < 0)
		return AVA_EPROTO;
	/* Bytes in the shared area are copied straight to the application
	 * (never typed: those always travel inline). */
	uint8_t *at = ava_marshal_hole(d->set, &d->used, d->base, p, n, a);
	r = at ? 0 : ava_marshal_typed(a, ev, p, (size_t)n, h, false);
	/* A streamed out-buffer is where it belongs already. */
	if (r == 0 && n > 0 && at != (uint8_t *)(uintptr_t)v)
		memcpy((void *)(uintptr_t)v, at ? at : p, (size_t)n);
	return r;
}

static int
get_out_handles(const struct ava_arg_desc *a, uint64_t v, const uint64_t *ev,
		const struct ava_handle_ops *h, struct ava_reader *rd)
{
	static const uint64_t none[AVA_MAX_ARGS];
	uint64_t n, cap = v ? ava_marshal_count(a, ev, none) : 0;
	int r = ava_reader_u64(rd, &n);
	if (r < 0 || n > cap || !ava_reader_has_words(rd, n))
		return AVA_EPROTO;
	bool creates = a->flags & AVA_ARGF_CREATES;
	void **objs = (void **)(uintptr_t)v;
	for (uint64_t i = 0; i < n && r == 0; i++) {
		uint64_t id = 0, obj;  /* bounded by has_words above */
		ava_reader_u64(rd, &id);
		r = get_handle(h, a->handle_type, id, creates, &obj);
		objs[i] = (void *)(uintptr_t)obj;
	}
	return r;
}

static int
get_out(const struct ava_arg_desc *a, uint64_t v, const uint64_t *ev,
	const struct ava_handle_ops *h, struct rdec *d, uint64_t *outv)
{
	struct ava_reader *rd = &d->rd;
	uint64_t x, obj;
	int r;
	switch (a->kind) {
	case AVA_ARG_OUT_SCALAR:
		if ((r = ava_reader_u64(rd, &x)) < 0)
			return r;
		*outv = v ? x : AVA_MARSHAL_UNKNOWN;
		if (v != 0)
			ava_marshal_store((void *)(uintptr_t)v,
					  ava_marshal_ssize(a), x);
		return 0;
	case AVA_ARG_OUT_HANDLE:
		if ((r = ava_reader_u64(rd, &x)) < 0)
			return r;
		if (v == 0 || x == 0)
			return x == 0 ? 0 : AVA_EPROTO;
		r = get_handle(h, a->handle_type, x,
			       a->flags & AVA_ARGF_CREATES, &obj);
		if (r == 0)
			*(void **)(uintptr_t)v = (void *)(uintptr_t)obj;
		return r;
	case AVA_ARG_OUT_BUF:
	case AVA_ARG_INOUT_BUF:
		return get_out_buf(a, v, ev, h, d);
	case AVA_ARG_OUT_HANDLES:
		return get_out_handles(a, v, ev, h, rd);
	default:
		return 0;
	}
}

int
ava_marshal_reply_decode(const struct ava_api_desc *api,
			 const struct ava_fn_desc *fn, const uint64_t *v,
			 const uint64_t *ev, const struct ava_handle_ops *h,
			 uint8_t *p, size_t n, uint64_t *ret, uint64_t *outv)
{
	const struct ava_marshal_bulk_ops *ops = ava_marshal_bulk();
	struct rdec d = { .base = p, .set = ops ? ops->received(p, n) : NULL };
	ava_reader_init(&d.rd, p, n);
	ava_marshal_zero_slots(outv, fn->nargs);
	int r = ava_reader_u64(&d.rd, ret);
	if (r == 0 && fn->ret == AVA_RET_HANDLE)
		r = get_handle(h, fn->ret_handle_type, *ret,
			       fn->flags & AVA_FN_CREATES, ret);
	for (int i = 0; i < fn->nargs && r == 0; i++)
		r = get_out(&fn->args[i], v[i], ev, h, &d, &outv[i]);
	if (r == 0 && d.rd.left != 0)
		r = AVA_EPROTO;
	/* A hole that is no out-buffer's bytes would have been read as
	 * payload: the reply is malformed. */
	if (r == 0 && d.set != NULL && d.used != (1u << d.set->n) - 1)
		r = AVA_EPROTO;
	if (r == 0 && ava_marshal_succeeded(api, fn, *ret, outv))
		ava_marshal_refs(api, fn, ev, h);
	return r;
}
