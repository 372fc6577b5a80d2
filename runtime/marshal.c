/*
 * marshal.c - what both halves of the marshaller share: expression
 * evaluation, bounds arithmetic, typed out-buffers and refcount effects.
 */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ava-error.h"
#include "marshal-private.h"

uint64_t
ava_marshal_scalar(const struct ava_arg_desc *a, uint64_t v)
{
	unsigned bits = a->scalar_size ? 8u * a->scalar_size : 64;
	if (bits >= 64)
		return v;
	uint64_t mask = (UINT64_C(1) << bits) - 1;
	v &= mask;
	if ((a->flags & AVA_ARGF_SIGNED) && (v >> (bits - 1)) & 1)
		v |= ~mask;
	return v;
}

uint64_t
ava_marshal_count(const struct ava_arg_desc *a, const uint64_t *ev,
		  const uint64_t *outv)
{
	return a->count ? a->count(ev, outv) : 1;
}

int
ava_marshal_nbytes(uint64_t count, uint64_t elem, uint64_t *out)
{
	if (elem != 0 && count > AVA_FRAME_MAX / elem)
		return AVA_ETOOBIG;
	*out = count * elem;
	return 0;
}

uint64_t
ava_marshal_elem(const struct ava_arg_desc *a)
{
	switch (a->kind) {
	case AVA_ARG_IN_HANDLES:
	case AVA_ARG_OUT_HANDLES:
		return HANDLE_SIZE;
	default:
		return a->elem_size ? a->elem_size : 1;
	}
}

bool
ava_marshal_when(const struct ava_arg_desc *a, const uint64_t *ev)
{
	static const uint64_t none[AVA_MAX_ARGS];
	return a->when == NULL || a->when(ev, none) != 0;
}

int
ava_marshal_errcode_arg(const struct ava_fn_desc *fn)
{
	if (fn->errcode_arg >= 0 && fn->errcode_arg < fn->nargs)
		return fn->errcode_arg;
	for (int i = 0; i < fn->nargs; i++)
		if (fn->args[i].kind == AVA_ARG_OUT_SCALAR &&
		    (fn->args[i].flags & AVA_ARGF_ERRCODE))
			return i;
	return -1;
}

bool
ava_marshal_succeeded(const struct ava_api_desc *api,
		      const struct ava_fn_desc *fn, uint64_t ret,
		      const uint64_t *outv)
{
	if (fn->ret == AVA_RET_STATUS)
		return (int64_t)ret == api->success;
	int e = ava_marshal_errcode_arg(fn);
	if (e >= 0 && outv[e] != AVA_MARSHAL_UNKNOWN)
		return (int64_t)outv[e] == api->success;
	if (fn->ret == AVA_RET_HANDLE)
		return ret != 0;
	return true;
}

static int
translate(const struct ava_handle_ops *h, uint16_t type, uint8_t *w,
	  bool to_wire)
{
	uint64_t x = ava_marshal_load(w, HANDLE_SIZE), y;
	if (x == 0)
		return 0;
	int r = to_wire ? h->to_wire(h->ctx, type, x, false, &y)
			: h->from_wire(h->ctx, type, x, false, &y, NULL);
	if (r < 0)
		return r;
	ava_marshal_store(w, HANDLE_SIZE, y);
	return 0;
}

static uint16_t
prop_type(const struct ava_arg_desc *a, uint16_t fallback, uint64_t key)
{
	if (a->nprop_handles == 0)
		return fallback;
	for (unsigned i = 0; i < a->nprop_handles; i++)
		if (a->prop_handles[i].key == key)
			return a->prop_handles[i].handle_type;
	return 0;
}

int
ava_marshal_props(const struct ava_arg_desc *a, uint16_t fallback_type,
		  uint8_t *p, uint64_t nwords, const struct ava_handle_ops *h,
		  bool to_wire)
{
	for (uint64_t k = 0; k + 1 < nwords; k += 2) {
		uint64_t key = ava_marshal_load(p + 8 * k, 8);
		if (key == 0)
			break;
		uint16_t type = prop_type(a, fallback_type, key);
		if (type == 0)
			continue;
		int r = translate(h, type, p + 8 * (k + 1), to_wire);
		if (r < 0)
			return r;
	}
	return 0;
}

static const struct ava_typed_rule *
typed_rule(const struct ava_arg_desc *a, const uint64_t *ev)
{
	if (a->typed_by < 0 || a->typed_by >= AVA_MAX_ARGS)
		return NULL;
	for (unsigned i = 0; i < a->ntyped; i++)
		if (a->typed[i].key == ev[a->typed_by])
			return &a->typed[i];
	return NULL;
}

int
ava_marshal_typed(const struct ava_arg_desc *a, const uint64_t *ev,
		  uint8_t *p, size_t n, const struct ava_handle_ops *h,
		  bool to_wire)
{
	const struct ava_typed_rule *t = typed_rule(a, ev);
	if (t == NULL)
		return 0;
	if (t->props)
		return ava_marshal_props(a, t->handle_type, p, n / 8, h,
					 to_wire);
	for (size_t off = 0; off + HANDLE_SIZE <= n; off += HANDLE_SIZE) {
		int r = translate(h, t->handle_type, p + off, to_wire);
		if (r < 0)
			return r;
	}
	return 0;
}

/* +1, -1 or 0: what a successful call does to argument i's refcount.
 * The arg flags say it; a handle's retain_fn/release_fn back them up. */
static int
ref_delta(const struct ava_api_desc *api, const struct ava_fn_desc *fn,
	  int i)
{
	const struct ava_arg_desc *a = &fn->args[i];
	if (a->kind != AVA_ARG_HANDLE)
		return 0;
	if (a->flags & AVA_ARGF_RETAINS)
		return +1;
	if (a->flags & AVA_ARGF_RELEASES)
		return -1;
	if (a->handle_type == 0 || a->handle_type >= api->nhandles || i != 0)
		return 0;
	const struct ava_handle_desc *hd = &api->handles[a->handle_type];
	if (hd->retain_fn >= 0 && (uint32_t)hd->retain_fn == fn->id)
		return +1;
	if (hd->release_fn >= 0 && (uint32_t)hd->release_fn == fn->id)
		return -1;
	return 0;
}

/* ---- traits ------------------------------------------------------------ */

bool
ava_marshal_nameable(const struct ava_api_desc *api,
		     const struct ava_fn_desc *fn, uint16_t *type, int *arg)
{
	if (fn->flags & (AVA_FN_UNSUPPORTED | AVA_FN_EMULATED | AVA_FN_PRIVATE))
		return false;
	int made = -2, e = ava_marshal_errcode_arg(fn);
	uint16_t t = 0;
	if (fn->ret == AVA_RET_HANDLE && (fn->flags & AVA_FN_CREATES)) {
		made = -1;
		t = fn->ret_handle_type;
	} else if (fn->ret != AVA_RET_STATUS) {
		return false;
	}
	for (int i = 0; i < fn->nargs; i++) {
		const struct ava_arg_desc *a = &fn->args[i];
		switch (a->kind) {
		case AVA_ARG_OUT_HANDLE:
			if (made != -2 || !(a->flags & AVA_ARGF_CREATES))
				return false;
			made = i;
			t = a->handle_type;
			break;
		case AVA_ARG_OUT_SCALAR:
			if (i != e)
				return false;
			break;
		case AVA_ARG_OUT_BUF:
		case AVA_ARG_INOUT_BUF:
		case AVA_ARG_OUT_HANDLES:
		case AVA_ARG_CALLBACK:
		case AVA_ARG_USERDATA:
			return false;
		default:
			break;
		}
	}
	if (made == -2 || t == 0 || t >= api->nhandles ||
	    (api->handles[t].flags & AVA_HANDLE_STATIC))
		return false;
	*type = t;
	*arg = made;
	return true;
}

/*
 * What the per-argument loops of a call would find, computed once per
 * function: a launch loop's calls ran each loop for nothing otherwise
 * (doc/performance.md, "Fewer instructions per call"). A few APIs are
 * cached; past them every trait is reported, which only costs the loops.
 */
#define TRAIT_APIS 4

static struct {
	const struct ava_api_desc *api;   /* published last, with release */
	uint8_t *t;                       /* nfns entries */
} traits_cache[TRAIT_APIS];
static pthread_mutex_t traits_lock = PTHREAD_MUTEX_INITIALIZER;

static uint8_t
fn_traits(const struct ava_api_desc *api, const struct ava_fn_desc *fn)
{
	uint8_t t = 0;
	for (int i = 0; i < fn->nargs; i++) {
		const struct ava_arg_desc *a = &fn->args[i];
		switch (a->kind) {
		case AVA_ARG_OUT_SCALAR:
		case AVA_ARG_OUT_HANDLE:
		case AVA_ARG_OUT_BUF:
		case AVA_ARG_INOUT_BUF:
		case AVA_ARG_OUT_HANDLES:
			t |= AVA_TRAIT_OUT;
			break;
		case AVA_ARG_IN_BUFS:
			t |= AVA_TRAIT_BUFS;
			break;
		case AVA_ARG_SCALAR:
			if (a->flags & AVA_ARGF_OVERRIDE)
				t |= AVA_TRAIT_OVERRIDE;
			break;
		case AVA_ARG_CALLBACK:
			if (a->cb_policy == AVA_CB_REMOTE)
				t |= AVA_TRAIT_OVERRIDE;
			break;
		case AVA_ARG_HANDLE:
			if (a->flags & AVA_ARGF_WRITES)
				t |= AVA_TRAIT_WRITES;
			break;
		default:
			break;
		}
		if (ref_delta(api, fn, i) != 0)
			t |= AVA_TRAIT_REFS;
	}
	return t;
}

uint8_t
ava_marshal_traits(const struct ava_api_desc *api,
		   const struct ava_fn_desc *fn)
{
	/* A function outside its API's table (a test's own) gets them all. */
	if (fn->id >= api->nfns || &api->fns[fn->id] != fn)
		return AVA_TRAIT_ALL;
	for (int k = 0; k < TRAIT_APIS; k++)
		if (__atomic_load_n(&traits_cache[k].api, __ATOMIC_ACQUIRE) == api)
			return traits_cache[k].t[fn->id];
	uint8_t mine = AVA_TRAIT_ALL;
	pthread_mutex_lock(&traits_lock);
	for (int k = 0; k < TRAIT_APIS; k++) {
		if (traits_cache[k].api == api) {
			mine = traits_cache[k].t[fn->id];
			break;
		}
		if (traits_cache[k].api != NULL)
			continue;
		uint8_t *t = calloc(api->nfns ? api->nfns : 1, 1);
		if (t == NULL)
			break;
		for (uint32_t f = 0; f < api->nfns; f++)
			if (api->fns[f].name != NULL)
				t[f] = fn_traits(api, &api->fns[f]);
		traits_cache[k].t = t;
		__atomic_store_n(&traits_cache[k].api, api, __ATOMIC_RELEASE);
		mine = t[fn->id];
		break;
	}
	pthread_mutex_unlock(&traits_lock);
	return mine;
}

void
ava_marshal_refs(const struct ava_api_desc *api,
		 const struct ava_fn_desc *fn, const uint64_t *ev,
		 const struct ava_handle_ops *h)
{
	for (int i = 0; i < fn->nargs; i++) {
		int d = ref_delta(api, fn, i);
		if (d != 0 && ev[i] != 0 && h->ref != NULL)
			h->ref(h->ctx, ev[i], d);
	}
}

/* Sizes other than 1, 2, 4 and 8 do not occur in C scalar types; they are
 * copied byte by byte (little-endian hosts only, like the rest of ava). */
uint64_t
ava_marshal_load(const void *p, unsigned size)
{
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64 = 0;
	switch (size) {
	case 1: memcpy(&u8, p, 1); return u8;
	case 2: memcpy(&u16, p, 2); return u16;
	case 4: memcpy(&u32, p, 4); return u32;
	default: memcpy(&u64, p, size < 8 ? size : 8); return u64;
	}
}

void
ava_marshal_store(void *p, unsigned size, uint64_t v)
{
	uint8_t u8 = (uint8_t)v;
	uint16_t u16 = (uint16_t)v;
	uint32_t u32 = (uint32_t)v;
	switch (size) {
	case 1: memcpy(p, &u8, 1); break;
	case 2: memcpy(p, &u16, 2); break;
	case 4: memcpy(p, &u32, 4); break;
	default: memcpy(p, &v, size < 8 ? size : 8); break;
	}
}

bool
ava_marshal_remote_userdata(const struct ava_fn_desc *fn, int i)
{
	for (int k = 0; k < fn->nargs; k++)
		if (fn->args[k].kind == AVA_ARG_CALLBACK &&
		    fn->args[k].cb_policy == AVA_CB_REMOTE &&
		    fn->args[k].userdata_arg == i)
			return true;
	return false;
}

/* ---- holes ------------------------------------------------------------ */

_Static_assert(AVA_BULK_MAX <= 32, "a hole's bit in a u32 mask");

static const struct ava_marshal_bulk_ops *bulk_ops;

void
ava_marshal_set_bulk_ops(const struct ava_marshal_bulk_ops *ops)
{
	__atomic_store_n(&bulk_ops, ops, __ATOMIC_RELEASE);
}

const struct ava_marshal_bulk_ops *
ava_marshal_bulk(void)
{
	return __atomic_load_n(&bulk_ops, __ATOMIC_ACQUIRE);
}

void
ava_marshal_stage(struct ava_bulk *set, const struct ava_buf *out, int r,
		  const struct ava_marshal_streams *st)
{
	const struct ava_marshal_bulk_ops *ops = ava_marshal_bulk();
	if (ops == NULL)
		return;
	set->payload = out->data;
	set->len = out->len;
	if (r != 0)
		set->n = 0;
	ops->stage(set);
	if (st != NULL && r == 0 && ops->stage_streams != NULL)
		ops->stage_streams(set, st->ref, st->sink,
				   (size_t)st->sink_len);
}

bool
ava_marshal_bulk_arg(const struct ava_arg_desc *a, uint64_t n)
{
	return (a->kind == AVA_ARG_IN_BUF || a->kind == AVA_ARG_INOUT_BUF ||
		a->kind == AVA_ARG_OUT_BUF) && ava_marshal_elem(a) == 1 &&
	       a->ntyped == 0 && n >= AVA_BULK_MIN;
}

int
ava_marshal_put_hole(struct ava_buf *b, struct ava_bulk *set, const void *at,
		     uint64_t n)
{
	size_t padded = ava_wire_pad((size_t)n);
	int r = ava_buf_reserve(b, padded);
	if (r < 0)
		return r;
	set->ref[set->n++] = (struct ava_bulk_ref){ .off = b->len, .len = n,
						    .at = (uint8_t *)at };
	/* The hole itself is never written: its bytes go elsewhere. */
	memset(b->data + b->len + n, 0, padded - (size_t)n);
	b->len += padded;
	return 0;
}

uint8_t *
ava_marshal_hole(const struct ava_bulk *set, uint32_t *used,
		 const uint8_t *base, const uint8_t *p, uint64_t n,
		 const struct ava_arg_desc *a)
{
	if (set == NULL || !ava_marshal_bulk_arg(a, n))
		return NULL;
	uint64_t off = (uint64_t)(p - base);
	for (uint32_t k = 0; k < set->n; k++) {
		if (set->ref[k].off != off || set->ref[k].len != n ||
		    (*used & (1u << k)))
			continue;
		*used |= 1u << k;
		return set->ref[k].at;
	}
	return NULL;
}

/* ---- streams ---------------------------------------------------------- */

static struct {
	uint8_t api;
	uint32_t fn;
	int arg;
} stream_args[AVA_MARSHAL_STREAM_ARGS];
static unsigned nstream_args;

void
ava_marshal_stream_arg(uint8_t api_id, uint32_t fn_id, int arg)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&lock);
	unsigned n = __atomic_load_n(&nstream_args, __ATOMIC_ACQUIRE);
	bool seen = false;
	for (unsigned k = 0; k < n; k++)
		seen |= stream_args[k].api == api_id &&
			stream_args[k].fn == fn_id && stream_args[k].arg == arg;
	assert(seen || n < AVA_MARSHAL_STREAM_ARGS);
	if (!seen && n < AVA_MARSHAL_STREAM_ARGS) {
		stream_args[n].api = api_id;
		stream_args[n].fn = fn_id;
		stream_args[n].arg = arg;
		__atomic_store_n(&nstream_args, n + 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&lock);
}

bool
ava_marshal_stream_ok(const struct ava_api_desc *api,
		      const struct ava_fn_desc *fn, int i, uint64_t n)
{
	const struct ava_arg_desc *a = &fn->args[i];
	if ((a->kind != AVA_ARG_IN_BUF && a->kind != AVA_ARG_OUT_BUF) ||
	    !ava_marshal_bulk_arg(a, n))
		return false;
	unsigned m = __atomic_load_n(&nstream_args, __ATOMIC_ACQUIRE);
	for (unsigned k = 0; k < m; k++)
		if (stream_args[k].api == api->api_id &&
		    stream_args[k].fn == fn->id && stream_args[k].arg == i)
			return true;
	return false;
}

bool
ava_marshal_stream_in(const void *p, size_t n)
{
	const struct ava_marshal_bulk_ops *ops = ava_marshal_bulk();
	return ops != NULL && ops->stream_in != NULL && ops->stream_in(p, n);
}

int
ava_marshal_stream_take(bool wait, const void **at)
{
	const struct ava_marshal_bulk_ops *ops = ava_marshal_bulk();
	return ops != NULL ? ops->take(wait, at) : AVA_ECLOSED;
}

void
ava_marshal_stream_release(size_t n)
{
	const struct ava_marshal_bulk_ops *ops = ava_marshal_bulk();
	if (ops != NULL)
		ops->release(n);
}

bool
ava_marshal_stream_out(const void *p)
{
	const struct ava_marshal_bulk_ops *ops = ava_marshal_bulk();
	return ops != NULL && ops->is_stream_out != NULL &&
	       ops->is_stream_out(p);
}

int
ava_marshal_stream_reserve(bool wait, void **at)
{
	const struct ava_marshal_bulk_ops *ops = ava_marshal_bulk();
	return ops != NULL ? ops->reserve(wait, at) : AVA_ECLOSED;
}

void
ava_marshal_stream_publish(size_t n)
{
	const struct ava_marshal_bulk_ops *ops = ava_marshal_bulk();
	if (ops != NULL)
		ops->publish(n);
}
