/*
 * guest.c - the guest runtime core: one lazily opened connection to the
 * server named by AVA_SERVER, and ava_guest_call(), which every generated
 * stub forwards to.
 *
 * One connection guarded by one mutex serializes all of the process's
 * calls. The planned next step is a connection (server execution context)
 * per guest thread, so a blocking call in one thread does not stall the
 * others; the frame header already carries the guest thread number.
 *
 * Failure policy: the first transport failure prints one line on stderr
 * and marks the connection dead; that call and every later one return the
 * API's transport error at once, without retrying and never hanging.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ava-error.h"
#include "ava-generated.h"
#include "marshal.h"
#include "registry.h"
#include "transport.h"

/* An id that no server table accepts (tag 0): sent for a pointer that is
 * not one of our objects, so the API answers "invalid object". */
#define FORGED_ID UINT64_C(0x00ffffffffffffff)

struct guest {
	pthread_mutex_t lock;
	const struct ava_guest_api *g;
	bool dead;
	const char *addr;
	struct ava_conn *conn;
	uint64_t seq;
	struct ava_registry reg;
	struct ava_handle_ops hops;
	struct ava_buf out;
	struct ava_frame in;
};

static struct guest G = { .lock = PTHREAD_MUTEX_INITIALIZER };

static atomic_uint next_thread = 1;
static _Thread_local uint32_t my_thread;

/* ---- handle ops over the registry ------------------------------------- */

static int
hop_to_wire(void *ctx, uint16_t type, uint64_t local, bool creates,
	    uint64_t *id)
{
	struct guest *s = ctx;
	if (!ava_registry_id(&s->reg, (const void *)(uintptr_t)local, id))
		*id = FORGED_ID;
	return 0;
}

static int
hop_from_wire(void *ctx, uint16_t type, uint64_t id, bool creates,
	      uint64_t *local, uint16_t *type_out)
{
	struct guest *s = ctx;
	struct ava_guest_obj *o;
	int r = ava_registry_obj(&s->reg, type, id, creates, &o);
	if (r == 0)
		*local = (uintptr_t)o;
	return r;
}

static bool
hop_karg_id(void *ctx, const void *p, size_t n, uint64_t *id)
{
	struct guest *s = ctx;
	void *obj;
	memcpy(&obj, p, sizeof(obj));
	return ava_registry_id(&s->reg, obj, id);
}

static void
hop_ref(void *ctx, uint64_t id, int delta)
{
	struct guest *s = ctx;
	ava_registry_ref(&s->reg, id, delta);
}

/* ---- connection ------------------------------------------------------- */

static void
die(struct guest *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
die(struct guest *s, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dprintf(STDERR_FILENO, "ava: %s\n", msg);
	s->dead = true;
	ava_transport_conn_destroy(s->conn);
	s->conn = NULL;
}

static int
send_frame(struct guest *s, uint8_t type, uint32_t fn, uint32_t flags)
{
	struct ava_frame_header h = {
		.magic = AVA_PROTOCOL_MAGIC, .version = AVA_PROTOCOL_VERSION,
		.type = type, .api = s->g->api->api_id, .fn = fn,
		.thread = my_thread, .flags = flags, .seq = ++s->seq,
		.len = s->out.len,
	};
	return ava_transport_conn_send(s->conn, &h, s->out.data);
}

/* An ERROR frame: the server refused us and closes; say why. */
static void
die_refused(struct guest *s)
{
	const struct ava_buf *p = &s->in.payload;
	int len = p->len > 4 ? (int)(p->len - 4) : 0;
	die(s, "server %s refused the session: %.*s", s->addr, len,
	    len ? (const char *)p->data + 4 : "no reason given");
}

static int
hello(struct guest *s)
{
	uint8_t w[32] = { 0 };
	ava_wire_put_le(w, s->g->api->spec_hash, 4);
	ava_wire_put_le(w + 4, (uint32_t)getpid(), 4);
	ava_buf_reset(&s->out);
	ava_buf_put_bytes(&s->out, w, sizeof(w));
	int r = send_frame(s, AVA_MSG_HELLO, 0, 0);
	if (r == 0)
		r = ava_transport_conn_recv(s->conn, &s->in);
	if (r < 0) {
		die(s, "cannot reach server %s: %s", s->addr, ava_strerror(r));
		return r;
	}
	if (s->in.h.type == AVA_MSG_ERROR) {
		die_refused(s);
		return AVA_ESPEC;
	}
	if (s->in.h.type != AVA_MSG_WELCOME || s->in.h.len != 24) {
		die(s, "server %s answered HELLO with message type %u",
		    s->addr, s->in.h.type);
		return AVA_EPROTO;
	}
	return 0;
}

static int
connect_once(struct guest *s, const struct ava_guest_api *g)
{
	s->g = g;
	ava_registry_init(&s->reg, g->api, g->dispatch);
	s->hops = (struct ava_handle_ops){ .to_wire = hop_to_wire,
		.from_wire = hop_from_wire, .karg_id = hop_karg_id,
		.ref = hop_ref, .ctx = s };
	s->addr = getenv("AVA_SERVER");
	if (s->addr == NULL || s->addr[0] == '\0') {
		die(s, "AVA_SERVER is not set: run the program under `ava run`"
		    ", or set AVA_SERVER to an `ava server` address such as "
		    "unix:/tmp/ava.sock");
		return AVA_EADDR;
	}
	int r = ava_transport_connect(s->addr, &s->conn);
	if (r < 0) {
		die(s, "cannot connect to server %s: %s", s->addr,
		    ava_strerror(r));
		return r;
	}
	return hello(s);
}

static int
ensure_connected(struct guest *s, const struct ava_guest_api *g)
{
	if (s->dead)
		return AVA_EDEAD;
	if (s->conn != NULL)
		return 0;
	return connect_once(s, g);
}

/* ---- one call --------------------------------------------------------- */

struct call {
	const struct ava_fn_desc *fn;
	uint64_t *v;
	uint64_t ev[AVA_MAX_ARGS];
	uint64_t outv[AVA_MAX_ARGS];
	uint64_t ret;
};

static int
await_reply(struct guest *s, const struct call *c)
{
	int r = ava_transport_conn_recv(s->conn, &s->in);
	if (r < 0) {
		die(s, "lost connection to server %s: %s", s->addr,
		    r == AVA_ECLOSED ? "server closed the connection"
				     : ava_strerror(r));
		return r;
	}
	if (s->in.h.type == AVA_MSG_ERROR) {
		die_refused(s);
		return AVA_EPROTO;
	}
	if (s->in.h.type != AVA_MSG_REPLY || s->in.h.seq != s->seq ||
	    s->in.h.fn != c->fn->id) {
		die(s, "server %s sent an unexpected reply to %s", s->addr,
		    c->fn->name);
		return AVA_EPROTO;
	}
	return 0;
}

static int
exchange(struct guest *s, struct call *c)
{
	ava_buf_reset(&s->out);
	int r = ava_marshal_call_encode(s->g->api, c->fn, c->v, &s->hops,
					c->ev, &s->out);
	if (r < 0) {
		/* Not a transport failure: this call alone cannot be sent. */
		dprintf(STDERR_FILENO, "ava: %s: cannot send the call: %s\n",
			c->fn->name, ava_strerror(r));
		return r;
	}
	r = send_frame(s, AVA_MSG_CALL, c->fn->id, 0);
	if (r < 0) {
		die(s, "lost connection to server %s: %s", s->addr,
		    ava_strerror(r));
		return r;
	}
	if ((r = await_reply(s, c)) < 0)
		return r;
	r = ava_marshal_reply_decode(s->g->api, c->fn, c->v, c->ev, &s->hops,
				     s->in.payload.data, s->in.payload.len,
				     &c->ret, c->outv);
	if (r < 0)
		die(s, "server %s sent a malformed reply to %s: %s", s->addr,
		    c->fn->name, ava_strerror(r));
	return r;
}

/* What a call returns when it never reached the real API. */
static uint64_t
failed(const struct ava_api_desc *api, const struct ava_fn_desc *fn,
       uint64_t *v, int64_t err)
{
	int e = -1;
	for (int i = 0; i < fn->nargs; i++)
		if (i == fn->errcode_arg ||
		    (fn->args[i].flags & AVA_ARGF_ERRCODE))
			e = i;
	if (e >= 0 && v[e] != 0) {
		const struct ava_arg_desc *a = &fn->args[e];
		unsigned n = a->scalar_size ? a->scalar_size : 4;
		int32_t e32 = (int32_t)err;
		if (n == 4)
			memcpy((void *)(uintptr_t)v[e], &e32, 4);
		else
			memcpy((void *)(uintptr_t)v[e], &err, n < 8 ? n : 8);
	}
	return fn->ret == AVA_RET_STATUS ? (uint64_t)err : 0;
}

/* The object a CALLBACK on_return gets: the call's new object, or else
 * its first handle argument. */
static void *
callback_object(const struct call *c)
{
	if (c->fn->ret == AVA_RET_HANDLE)
		return (void *)(uintptr_t)c->ret;
	for (int i = 0; i < c->fn->nargs; i++) {
		const struct ava_arg_desc *a = &c->fn->args[i];
		if (a->kind == AVA_ARG_OUT_HANDLE && c->v[i] != 0)
			return *(void **)(uintptr_t)c->v[i];
		if (a->kind == AVA_ARG_HANDLE)
			return (void *)(uintptr_t)c->v[i];
	}
	return NULL;
}

static void
run_callbacks(const struct call *c)
{
	for (int i = 0; i < c->fn->nargs; i++) {
		const struct ava_arg_desc *a = &c->fn->args[i];
		if (a->kind != AVA_ARG_CALLBACK || a->cb_policy !=
		    AVA_CB_ON_RETURN || c->v[i] == 0)
			continue;
		void *ud = a->userdata_arg >= 0 ?
			   (void *)(uintptr_t)c->v[a->userdata_arg] : NULL;
		void (*cb)(void *, void *) =
			(void (*)(void *, void *))(uintptr_t)c->v[i];
		cb(callback_object(c), ud);
	}
}

uint64_t
ava_guest_call(const struct ava_guest_api *g, uint32_t fn_id, uint64_t *v)
{
	struct call c = { .fn = ava_api_fn(g->api, fn_id), .v = v };
	if (c.fn == NULL)
		return (uint64_t)g->api->unsupported_error;
	if (c.fn->flags & AVA_FN_UNSUPPORTED)
		return failed(g->api, c.fn, v, c.fn->unsupported_error);
	if (my_thread == 0)
		my_thread = atomic_fetch_add(&next_thread, 1);
	pthread_mutex_lock(&G.lock);
	int r = ensure_connected(&G, g);
	if (r == 0)
		r = exchange(&G, &c);
	pthread_mutex_unlock(&G.lock);
	if (r < 0)
		return failed(g->api, c.fn, v, g->api->transport_error);
	if (ava_marshal_succeeded(g->api, c.fn, c.ret, c.outv))
		run_callbacks(&c);
	return c.ret;
}
