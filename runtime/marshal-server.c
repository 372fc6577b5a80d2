/*
 * marshal-server.c - the server half: decode and validate a CALL, encode
 * the REPLY.
 *
 * Over shm: the bytes of a large opaque buffer may stay in the shared
 * bulk area both ways (transport.h, "In-place bulk data"): an in-buffer
 * the guest left there is handed to the driver where it lies, and an
 * out-buffer gets its storage there, so the driver writes it where the
 * guest reads it. Only those bytes are shared: every length, count and
 * handle is in the private payload, read once.
 *
 * Decoding runs in two passes. parse_arg() walks the payload and bounds
 * every field against the frame; bind_arg() then checks each field against
 * the spec's expressions, which may name arguments that come later, and
 * sets up what invoke() gets. Nothing is allocated before its size is
 * bounded by the bytes actually received or by AVA_FRAME_MAX.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ava-error.h"
#include "marshal-private.h"

static const uint64_t no_outv[AVA_MAX_ARGS];

/* A length, then its bytes: in the payload, or in the shared area if
 * the guest left them there (a hole at exactly those bytes). */
static int
take_sized(struct ava_call *c, int i, struct ava_reader *rd,
	   const uint8_t *base)
{
	uint64_t n;
	int r = ava_reader_u64(rd, &n);
	if (r < 0 || n == AVA_WIRE_NULL)
		return r;
	c->ev[i] = 1;
	c->rawn[i] = n;
	r = ava_reader_bytes(rd, n, &c->raw[i]);
	uint8_t *at = r == 0 ? ava_marshal_hole(c->bulk, &c->bulk_used, base,
						c->raw[i], n, &c->fn->args[i])
			     : NULL;
	/* A stream goes only to a hook that asks for it. */
	if (at != NULL && ava_marshal_stream_in(at, (size_t)n) &&
	    !ava_marshal_stream_ok(c->api, c->fn, i, n))
		return AVA_EPROTO;
	if (at != NULL)
		c->raw[i] = at;
	return r;
}

static int
take_words(struct ava_call *c, int i, struct ava_reader *rd)
{
	uint64_t n;
	int r = ava_reader_u64(rd, &n);
	if (r < 0 || n == AVA_WIRE_NULL)
		return r;
	if (!ava_reader_has_words(rd, n))
		return AVA_EPROTO;
	c->ev[i] = 1;
	c->rawn[i] = n;
	return ava_reader_bytes(rd, n * 8, &c->raw[i]);
}

static int
take_bufs(struct ava_call *c, int i, struct ava_reader *rd)
{
	uint64_t n;
	int r = ava_reader_u64(rd, &n);
	if (r < 0 || n == AVA_WIRE_NULL)
		return r;
	/* Each buffer takes at least one word: bounds n before bind_bufs
	 * allocates its pointer array. */
	if (!ava_reader_has_words(rd, n))
		return AVA_EPROTO;
	c->ev[i] = 1;
	c->rawn[i] = n;
	c->raw[i] = rd->p;
	for (uint64_t k = 0; k < n && r == 0; k++) {
		uint64_t len;
		uint8_t *p;
		r = ava_reader_u64(rd, &len);
		if (r == 0 && len != AVA_WIRE_NULL)
			r = ava_reader_bytes(rd, len, &p);
	}
	return r;
}

static int
take_karg(struct ava_call *c, int i, struct ava_reader *rd)
{
	uint64_t n, is_id;
	int r = ava_reader_u64(rd, &n);
	if (r == 0)
		r = ava_reader_u64(rd, &is_id);
	if (r < 0 || is_id > 1 || (n == AVA_WIRE_NULL && is_id))
		return AVA_EPROTO;
	if (n == AVA_WIRE_NULL)
		return 0;
	c->ev[i] = 1;
	c->rawn[i] = n;
	c->karg_id[i] = is_id;
	if (is_id)
		return ava_reader_u64(rd, &c->scratch[i]);
	return ava_reader_bytes(rd, n, &c->raw[i]);
}

static int
take_flag(struct ava_call *c, int i, struct ava_reader *rd, uint64_t max)
{
	int r = ava_reader_u64(rd, &c->ev[i]);
	if (r == 0 && c->ev[i] > max)
		return AVA_EPROTO;
	return r;
}

static int
parse_arg(struct ava_call *c, int i, struct ava_reader *rd,
	  const uint8_t *base)
{
	const struct ava_arg_desc *a = &c->fn->args[i];
	int r;
	switch (a->kind) {
	case AVA_ARG_SCALAR:
		r = ava_reader_u64(rd, &c->ev[i]);
		c->ev[i] = ava_marshal_scalar(a, c->ev[i]);
		c->v[i] = c->ev[i];
		return r;
	case AVA_ARG_HANDLE:
		return ava_reader_u64(rd, &c->ev[i]);
	case AVA_ARG_IN_BUF:
	case AVA_ARG_INOUT_BUF:
	case AVA_ARG_IN_STRING:
		return take_sized(c, i, rd, base);
	case AVA_ARG_IN_HANDLES:
	case AVA_ARG_IN_PROPS:
		return take_words(c, i, rd);
	case AVA_ARG_IN_BUFS:
		return take_bufs(c, i, rd);
	case AVA_ARG_IN_KARG:
		return take_karg(c, i, rd);
	case AVA_ARG_USERDATA:
		/* a REMOTE callback's cookie, else 0 */
		return take_flag(c, i, rd, ava_marshal_remote_userdata(c->fn, i)
				 ? UINT64_MAX : 0);
	default:
		return take_flag(c, i, rd, 1);
	}
}

/* ---- second pass ------------------------------------------------------ */

static int
refuse(struct ava_call *c, int i, uint16_t type, uint64_t id, int r)
{
	if (r == AVA_EHANDLE && c->bad_arg < 0) {
		c->bad_arg = i;
		c->bad_type = type;
		c->bad_id = id;
	}
	return r;
}

static int
lookup(struct ava_call *c, int i, const struct ava_handle_ops *h,
       uint16_t type, uint64_t id, uint64_t *real)
{
	*real = 0;
	if (id == 0)
		return 0;
	int r = h->from_wire(h->ctx, type, id, false, real, NULL);
	return r < 0 ? refuse(c, i, type, id, r) : 0;
}

static int
own(struct ava_call *c, int i, uint64_t nbytes)
{
	/* calloc: storage the callee does not fill must not leak old heap
	 * contents back to the guest. One byte at least: NULL-ness matters. */
	c->alloc[i] = calloc(1, nbytes ? (size_t)nbytes : 1);
	if (c->alloc[i] == NULL)
		return -ENOMEM;
	c->owns = true;
	c->v[i] = (uintptr_t)c->alloc[i];
	return 0;
}

static int
bind_in_buf(struct ava_call *c, int i)
{
	const struct ava_arg_desc *a = &c->fn->args[i];
	uint64_t count = ava_marshal_count(a, c->ev, no_outv), n;
	int r = ava_marshal_nbytes(count, ava_marshal_elem(a), &n);
	if (r < 0)
		return r;
	if (a->kind == AVA_ARG_INOUT_BUF)
		c->cap[i] = count;
	if (!ava_marshal_when(a, c->ev))
		return c->rawn[i] == 0 ? own(c, i, n) : AVA_EPROTO;
	if (c->rawn[i] != n)
		return AVA_EPROTO;
	c->v[i] = (uintptr_t)c->raw[i];
	return 0;
}

static int
bind_handles(struct ava_call *c, int i, const struct ava_handle_ops *h)
{
	const struct ava_arg_desc *a = &c->fn->args[i];
	if (c->rawn[i] != ava_marshal_count(a, c->ev, no_outv))
		return AVA_EPROTO;
	for (uint64_t k = 0; k < c->rawn[i]; k++) {
		uint8_t *w = c->raw[i] + 8 * k;
		uint64_t real;
		int r = lookup(c, i, h, a->handle_type,
			       ava_wire_get_le(w, 8), &real);
		if (r < 0)
			return r;
		ava_marshal_store(w, HANDLE_SIZE, real);
	}
	c->v[i] = (uintptr_t)c->raw[i];
	return 0;
}

/* A list of key/value pairs closed by a lone 0 key as its last word. */
static bool
props_well_formed(const uint8_t *p, uint64_t n)
{
	if (n == 0 || n % 2 == 0)
		return false;
	for (uint64_t k = 0; k + 1 < n; k += 2)
		if (ava_wire_get_le(p + 8 * k, 8) == 0)
			return false;
	return ava_wire_get_le(p + 8 * (n - 1), 8) == 0;
}

static int
bind_props(struct ava_call *c, int i, const struct ava_handle_ops *h)
{
	const struct ava_arg_desc *a = &c->fn->args[i];
	uint64_t n = c->rawn[i];
	if (!props_well_formed(c->raw[i], n))
		return AVA_EPROTO;
	int r = ava_marshal_props(a, 0, c->raw[i], n, h, false);
	if (r < 0)
		return refuse(c, i, a->nprop_handles ?
			      a->prop_handles[0].handle_type : 0, 0, r);
	unsigned ps = a->prop_size ? a->prop_size : 8;
	if (ps == 8) {
		c->v[i] = (uintptr_t)c->raw[i];
		return 0;
	}
	if ((r = own(c, i, n * ps)) < 0)
		return r;
	for (uint64_t k = 0; k < n; k++)
		ava_marshal_store((uint8_t *)c->alloc[i] + k * ps, ps,
				  ava_marshal_load(c->raw[i] + 8 * k, 8));
	return 0;
}

/* The handle type an id claims by its tag, for the error to answer with. */
static uint16_t
type_of_id(const struct ava_api_desc *api, uint64_t id)
{
	for (uint16_t t = 1; t < api->nhandles; t++)
		if (api->handles[t].tag == (uint8_t)(id >> 56))
			return t;
	return 0;
}

static int
bind_karg(struct ava_call *c, int i, const struct ava_handle_ops *h)
{
	const struct ava_arg_desc *a = &c->fn->args[i];
	uint64_t n;
	int r = ava_marshal_nbytes(ava_marshal_count(a, c->ev, no_outv),
				   ava_marshal_elem(a), &n);
	if (r < 0 || c->rawn[i] != n)
		return AVA_EPROTO;
	if (!c->karg_id[i]) {
		c->v[i] = (uintptr_t)c->raw[i];
		return 0;
	}
	if (n != sizeof(void *))
		return AVA_EPROTO;
	uint64_t id = c->scratch[i];
	if (id == 0 || (r = h->from_wire(h->ctx, 0, id, false,
					 &c->scratch[i], NULL)) < 0)
		return refuse(c, i, type_of_id(c->api, id), id,
			      id == 0 ? AVA_EHANDLE : r);
	c->v[i] = (uintptr_t)&c->scratch[i];
	return 0;
}

static int
bind_out(struct ava_call *c, int i)
{
	const struct ava_arg_desc *a = &c->fn->args[i];
	if (a->kind == AVA_ARG_OUT_SCALAR || a->kind == AVA_ARG_OUT_HANDLE) {
		c->scratch[i] = 0;
		c->v[i] = (uintptr_t)&c->scratch[i];
		return 0;
	}
	uint64_t n;
	c->cap[i] = ava_marshal_count(a, c->ev, no_outv);
	int r = ava_marshal_nbytes(c->cap[i], ava_marshal_elem(a), &n);
	if (r < 0)
		return r;
	/* Large opaque storage in the shared area, where the guest reads
	 * it: not zeroed, but it only ever held this guest's bytes. Or the
	 * out-stream, which only a hook that asks for it gets. */
	const struct ava_marshal_bulk_ops *ops = ava_marshal_bulk();
	void *p = NULL;
	if (ops != NULL && ava_marshal_stream_ok(c->api, c->fn, i, n))
		p = ops->stream_out((size_t)n);
	if (p == NULL && ops != NULL && ava_marshal_bulk_arg(a, n))
		p = ops->alloc((size_t)n);
	if (p == NULL)
		return own(c, i, n);
	c->v[i] = (uintptr_t)p;
	return 0;
}

static int
bind_arg(struct ava_call *c, int i, const struct ava_handle_ops *h)
{
	const struct ava_arg_desc *a = &c->fn->args[i];
	if (a->kind == AVA_ARG_HANDLE)
		return lookup(c, i, h, a->handle_type, c->ev[i], &c->v[i]);
	if (a->kind == AVA_ARG_SCALAR || a->kind == AVA_ARG_CALLBACK ||
	    a->kind == AVA_ARG_USERDATA || a->kind == AVA_ARG_IN_BUFS ||
	    c->ev[i] == 0)
		return 0;
	switch (a->kind) {
	case AVA_ARG_IN_BUF:
	case AVA_ARG_INOUT_BUF:
		return bind_in_buf(c, i);
	case AVA_ARG_IN_STRING:
		return c->rawn[i] >= 1 && c->raw[i][c->rawn[i] - 1] == 0 ?
		       (c->v[i] = (uintptr_t)c->raw[i], 0) : AVA_EPROTO;
	case AVA_ARG_IN_HANDLES:
		return bind_handles(c, i, h);
	case AVA_ARG_IN_PROPS:
		return bind_props(c, i, h);
	case AVA_ARG_IN_KARG:
		return bind_karg(c, i, h);
	default:
		return bind_out(c, i);
	}
}

/* The expected length of buffer k of IN_BUFS argument i, or -1 for
 * "NUL-terminated". Its lengths array was bound (and sized) already. */
static int
expected_len(struct ava_call *c, int i, uint64_t k, uint64_t *len)
{
	const struct ava_arg_desc *a = &c->fn->args[i];
	int L = a->lengths_arg;
	*len = 0;
	if (L >= 0 && L < c->fn->nargs && c->v[L] != 0) {
		unsigned es = (unsigned)ava_marshal_elem(&c->fn->args[L]);
		if (c->rawn[L] / es < c->rawn[i])
			return AVA_EPROTO;
		*len = ava_marshal_load((uint8_t *)(uintptr_t)c->v[L] + k * es,
					es);
	}
	if (*len == 0 && (a->flags & AVA_ARGF_NUL_TERMINATED))
		*len = UINT64_MAX;
	return 0;
}

static int
bind_bufs(struct ava_call *c, int i)
{
	const struct ava_arg_desc *a = &c->fn->args[i];
	if (c->ev[i] == 0)
		return 0;
	if (c->rawn[i] != ava_marshal_count(a, c->ev, no_outv))
		return AVA_EPROTO;
	int r = own(c, i, c->rawn[i] * sizeof(void *));
	struct ava_reader rd;
	ava_reader_init(&rd, c->raw[i], SIZE_MAX);  /* walked in pass 1 */
	for (uint64_t k = 0; k < c->rawn[i] && r == 0; k++) {
		uint64_t n = 0, want;  /* walked in pass 1 */
		uint8_t *p = NULL;
		ava_reader_u64(&rd, &n);
		if (n == AVA_WIRE_NULL)
			continue;
		ava_reader_bytes(&rd, n, &p);
		if ((r = expected_len(c, i, k, &want)) < 0)
			break;
		bool ok = want == UINT64_MAX ? n >= 1 && p[n - 1] == 0
					     : n == want;
		r = ok ? 0 : AVA_EPROTO;
		((uint8_t **)c->alloc[i])[k] = p;
	}
	return r;
}

/*
 * A fresh call for fn: its nargs slots of each per-argument array
 * zeroed, and nothing beyond them, which no one reads; one store per
 * slot, as in ava_marshal_zero_slots() (one memset of all the arrays, a
 * kilobyte, took a third of this decoder's time per launch).
 */
static void
call_reset(struct ava_call *c, const struct ava_api_desc *api,
	   const struct ava_fn_desc *fn)
{
	if (fn->nargs > AVA_MAX_ARGS) {   /* refused: finish frees all */
		*c = (struct ava_call){ .api = api, .fn = fn, .bad_arg = -1,
					.traits = AVA_TRAIT_ALL };
		return;
	}
	c->api = api;
	c->fn = fn;
	for (int i = 0; i < fn->nargs; i++) {
		c->v[i] = c->ev[i] = c->outv[i] = c->cap[i] = 0;
		c->raw[i] = NULL;
		c->rawn[i] = c->scratch[i] = 0;
		c->alloc[i] = NULL;
		c->karg_id[i] = false;
		__asm__ volatile("" ::: "memory");   /* not nine memsets */
	}
	c->owns = false;
	c->queued = false;
	c->traits = ava_marshal_traits(api, fn);
	c->bulk = NULL;
	c->bulk_used = 0;
	c->bad_arg = -1;
	c->bad_type = 0;
	c->bad_id = 0;
}

int
ava_marshal_call_decode(const struct ava_api_desc *api,
			const struct ava_fn_desc *fn, uint8_t *p, size_t n,
			const struct ava_handle_ops *h, struct ava_call *c)
{
	call_reset(c, api, fn);
	if (fn->nargs > AVA_MAX_ARGS)
		return AVA_EPROTO;
	const struct ava_marshal_bulk_ops *ops = ava_marshal_bulk();
	c->bulk = ops != NULL ? ops->received(p, n) : NULL;
	struct ava_reader rd;
	ava_reader_init(&rd, p, n);
	int r = 0;
	for (int i = 0; i < fn->nargs && r == 0; i++)
		r = parse_arg(c, i, &rd, p);
	if (r == 0 && rd.left != 0)
		r = AVA_EPROTO;
	/* Every hole must be an in-buffer's bytes: the payload's own bytes
	 * there were never sent, and no field may be read from them. */
	if (r == 0 && c->bulk != NULL && c->bulk_used != (1u << c->bulk->n) - 1)
		r = AVA_EPROTO;
	for (int i = 0; i < fn->nargs && r == 0; i++)
		r = bind_arg(c, i, h);
	if (c->traits & AVA_TRAIT_BUFS)
		for (int i = 0; i < fn->nargs && r == 0; i++)
			if (fn->args[i].kind == AVA_ARG_IN_BUFS)
				r = bind_bufs(c, i);
	return r;
}

static ava_trampoline_fn trampolines;

void
ava_marshal_set_trampolines(ava_trampoline_fn t)
{
	__atomic_store_n(&trampolines, t, __ATOMIC_RELEASE);
}

/* A REMOTE callback the guest passed: the trampoline, and the cookie in
 * the user data's place. */
static void
remote_callback(struct ava_call *c, int i)
{
	const struct ava_arg_desc *a = &c->fn->args[i];
	ava_trampoline_fn t = __atomic_load_n(&trampolines, __ATOMIC_ACQUIRE);
	if (c->ev[i] == 0 || a->userdata_arg < 0 || t == NULL)
		return;
	c->v[i] = (uintptr_t)t(c->fn->id, i);
	c->v[a->userdata_arg] = c->ev[a->userdata_arg];
}

void
ava_marshal_call_override(struct ava_call *c)
{
	if (!(c->traits & AVA_TRAIT_OVERRIDE))
		return;
	for (int i = 0; i < c->fn->nargs; i++) {
		const struct ava_arg_desc *a = &c->fn->args[i];
		if (a->kind == AVA_ARG_SCALAR && (a->flags & AVA_ARGF_OVERRIDE))
			c->v[i] = a->override_value;
		else if (a->kind == AVA_ARG_CALLBACK &&
			 a->cb_policy == AVA_CB_REMOTE)
			remote_callback(c, i);
	}
}

void
ava_call_finish(struct ava_call *c)
{
	/* Only decoded arguments own storage (decode zeroes the rest). */
	if (!c->owns)
		return;
	c->owns = false;
	int n = c->fn && c->fn->nargs <= AVA_MAX_ARGS ? c->fn->nargs
						    : AVA_MAX_ARGS;
	for (int i = 0; i < n; i++) {
		free(c->alloc[i]);
		c->alloc[i] = NULL;
	}
}

/* ---- REPLY ------------------------------------------------------------ */

static void
read_outv(struct ava_call *c)
{
	for (int i = 0; i < c->fn->nargs; i++) {
		const struct ava_arg_desc *a = &c->fn->args[i];
		if (a->kind != AVA_ARG_OUT_SCALAR)
			continue;
		c->outv[i] = c->ev[i] == 0 ? AVA_MARSHAL_UNKNOWN :
			     ava_marshal_scalar(a, ava_marshal_load(
				     &c->scratch[i], ava_marshal_ssize(a)));
	}
}

static int
put_id(const struct ava_handle_ops *h, uint16_t type, uint64_t real,
       bool creates, struct ava_buf *b)
{
	uint64_t id = 0;
	int r = real ? h->to_wire(h->ctx, type, real, creates, &id) : 0;
	return r < 0 ? r : ava_buf_put_u64(b, id);
}

static uint64_t
filled(const struct ava_call *c, int i)
{
	const struct ava_arg_desc *a = &c->fn->args[i];
	uint64_t n = a->filled ? a->filled(c->ev, c->outv) : c->cap[i];
	return n < c->cap[i] ? n : c->cap[i];
}

/* Out bytes the driver wrote into the shared area stay there: the REPLY
 * names them (a hole) instead of carrying them. */
static int
put_out_buf(struct ava_call *c, int i, bool ok, const struct ava_handle_ops *h,
	    struct ava_bulk *set, struct ava_buf *b)
{
	const struct ava_arg_desc *a = &c->fn->args[i];
	uint64_t n = 0;
	if ((ok || (a->flags & AVA_ARGF_ALWAYS)) && c->ev[i] != 0)
		n = filled(c, i) * ava_marshal_elem(a);  /* <= FRAME_MAX */
	uint8_t *p = (uint8_t *)(uintptr_t)c->v[i];
	const struct ava_marshal_bulk_ops *ops = ava_marshal_bulk();
	bool streamed = ava_marshal_stream_out(p);
	/* A failed call's stream sends nothing: its storage is no memory. */
	if (streamed && (n == 0 || set->n == AVA_BULK_MAX ||
			 !ava_marshal_bulk_arg(a, n)))
		return ava_buf_put_u64(b, 0);
	if (ops != NULL && set->n < AVA_BULK_MAX && ava_marshal_bulk_arg(a, n) &&
	    (streamed || ops->shared(p, (size_t)n))) {
		ava_buf_put_u64(b, n);
		return ava_marshal_put_hole(b, set, p, n);
	}
	int r = n ? ava_marshal_typed(a, c->ev, p, (size_t)n, h, true) : 0;
	if (r < 0)
		return r;
	ava_buf_put_u64(b, n);
	return ava_buf_put_padded(b, p, (size_t)n);
}

static int
put_out_handles(struct ava_call *c, int i, bool ok,
		const struct ava_handle_ops *h, struct ava_buf *b)
{
	const struct ava_arg_desc *a = &c->fn->args[i];
	uint64_t n = ok && c->ev[i] != 0 ? filled(c, i) : 0;
	const uint8_t *p = (const uint8_t *)(uintptr_t)c->v[i];
	int r = ava_buf_put_u64(b, n);
	for (uint64_t k = 0; k < n && r == 0; k++)
		r = put_id(h, a->handle_type,
			   ava_marshal_load(p + k * HANDLE_SIZE, HANDLE_SIZE),
			   a->flags & AVA_ARGF_CREATES, b);
	return r;
}

static int
put_out(struct ava_call *c, int i, bool ok, const struct ava_handle_ops *h,
	struct ava_bulk *set, struct ava_buf *b)
{
	const struct ava_arg_desc *a = &c->fn->args[i];
	switch (a->kind) {
	case AVA_ARG_OUT_SCALAR:
		return ava_buf_put_u64(b, c->ev[i] ? c->outv[i] : 0);
	case AVA_ARG_OUT_HANDLE:
		return put_id(h, a->handle_type, ok ? c->scratch[i] : 0,
			      a->flags & AVA_ARGF_CREATES, b);
	case AVA_ARG_OUT_BUF:
	case AVA_ARG_INOUT_BUF:
		return put_out_buf(c, i, ok, h, set, b);
	case AVA_ARG_OUT_HANDLES:
		return put_out_handles(c, i, ok, h, b);
	default:
		return 0;
	}
}

static int
put_ret(const struct ava_call *c, uint64_t ret,
	const struct ava_handle_ops *h, struct ava_buf *b)
{
	const struct ava_fn_desc *fn = c->fn;
	switch (fn->ret) {
	case AVA_RET_STATUS:
	case AVA_RET_SCALAR:
		return ava_buf_put_u64(b, ret);
	case AVA_RET_HANDLE:
		return put_id(h, fn->ret_handle_type, ret,
			      fn->flags & AVA_FN_CREATES, b);
	default:
		/* A host pointer of the server means nothing to the guest. */
		return ava_buf_put_u64(b, 0);
	}
}

int
ava_marshal_reply_encode(struct ava_call *c, uint64_t ret,
			 const struct ava_handle_ops *h, struct ava_buf *out)
{
	uint8_t traits = c->traits;
	bool outs = traits & AVA_TRAIT_OUT;
	if (outs)
		read_outv(c);
	bool ok = ava_marshal_succeeded(c->api, c->fn, ret, c->outv);
	struct ava_bulk set;   /* refs past n are never read: not zeroed */
	set.n = 0;
	int r = put_ret(c, ret, h, out);
	for (int i = 0; outs && i < c->fn->nargs && r == 0; i++)
		r = put_out(c, i, ok, h, &set, out);
	if (r == 0 && ok && (traits & AVA_TRAIT_REFS))
		ava_marshal_refs(c->api, c->fn, c->ev, h);
	if (r == 0)
		r = ava_buf_error(out);
	/* For the send of this REPLY; a queued call's is never sent, and
	 * the next REPLY stages its own. */
	if (!c->queued)
		ava_marshal_stage(&set, out, r, NULL);
	return r;
}

int
ava_marshal_reply_reject(const struct ava_fn_desc *fn, int64_t err,
			 struct ava_buf *out)
{
	ava_buf_put_u64(out, fn->ret == AVA_RET_STATUS ? (uint64_t)err : 0);
	int e = ava_marshal_errcode_arg(fn);
	for (int i = 0; i < fn->nargs; i++) {
		switch (fn->args[i].kind) {
		case AVA_ARG_OUT_SCALAR:
			ava_buf_put_u64(out, i == e ? (uint64_t)err : 0);
			break;
		case AVA_ARG_OUT_HANDLE:
		case AVA_ARG_OUT_BUF:
		case AVA_ARG_INOUT_BUF:
		case AVA_ARG_OUT_HANDLES:
			ava_buf_put_u64(out, 0);
			break;
		default:
			break;
		}
	}
	return ava_buf_error(out);
}
