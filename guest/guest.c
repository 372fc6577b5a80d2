/*
 * guest.c - the guest runtime core: connections to the server named by
 * AVA_SERVER, and ava_guest_call(), which every generated stub forwards
 * to.
 *
 * Each guest thread gets its own connection on its first call, and the
 * server serves each connection on its own thread, so a call that blocks
 * (clWaitForEvents on a user event) stalls only its own thread. The first
 * connection creates the session; the others join it with the session id
 * and token from WELCOME, so every thread shares one handle table. The
 * object registry is process-wide and guarded by G.lock, which is never
 * held while waiting for the server.
 *
 * Failure policy: the first transport failure prints one line on stderr
 * and marks the process's link to the server dead; that call and every
 * later one, in any thread, return the API's transport error at once,
 * without retrying and never hanging.
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
	pthread_mutex_t lock;    /* everything below but `dead` */
	atomic_bool dead;
	bool inited;
	const struct ava_guest_api *g;
	const char *addr;
	uint64_t session, token; /* from the first WELCOME */
	struct ava_registry reg;
	struct ava_handle_ops hops;
};

/* One guest thread's connection. */
struct tconn {
	struct ava_conn *conn;
	uint64_t seq;
	uint32_t thread;
	struct ava_buf out;
	struct ava_frame in;
};

static struct guest G = { .lock = PTHREAD_MUTEX_INITIALIZER };

static atomic_uint next_thread = 1;
static _Thread_local struct tconn *T;
static pthread_key_t tconn_key;
static pthread_once_t tconn_once = PTHREAD_ONCE_INIT;

/* ---- handle ops over the registry (callers hold G.lock) --------------- */

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

/* ---- connections ------------------------------------------------------ */

static void
tconn_destroy(void *p)
{
	struct tconn *t = p;
	if (t == NULL)
		return;
	ava_transport_conn_destroy(t->conn);
	ava_buf_finish(&t->out);
	ava_buf_finish(&t->in.payload);
	free(t);
}

static void
make_key(void)
{
	pthread_key_create(&tconn_key, tconn_destroy);
}

/* The first failure says why, once per process; then everything fails
 * fast. Call without G.lock. */
static void
fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
fail(const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!atomic_exchange(&G.dead, true))
		dprintf(STDERR_FILENO, "ava: %s\n", msg);
}

static int
send_frame(struct tconn *t, uint8_t type, uint32_t fn)
{
	struct ava_frame_header h = {
		.magic = AVA_PROTOCOL_MAGIC, .version = AVA_PROTOCOL_VERSION,
		.type = type, .api = G.g->api->api_id, .fn = fn,
		.thread = t->thread, .seq = ++t->seq, .len = t->out.len,
	};
	return ava_transport_conn_send(t->conn, &h, t->out.data);
}

/*
 * At process exit, say goodbye on the exiting thread's connection, so the
 * server (and its journal) can tell a clean exit from a guest that
 * vanished. Other threads' connections simply close.
 */
__attribute__((destructor)) static void
say_goodbye(void)
{
	struct tconn *t = T;
	if (t == NULL || t->conn == NULL || atomic_load(&G.dead))
		return;
	ava_buf_reset(&t->out);
	if (send_frame(t, AVA_MSG_BYE, 0) < 0) {
		/* The server is gone already; nothing left to tell it. */
	}
}

/* An ERROR frame: the server refused us and closes; say why. */
static void
fail_refused(struct tconn *t)
{
	const struct ava_buf *p = &t->in.payload;
	int len = p->len > 4 ? (int)(p->len - 4) : 0;
	fail("server %s refused the session: %.*s", G.addr, len,
	     len ? (const char *)p->data + 4 : "no reason given");
}

/* HELLO/WELCOME on t; joins G's session if there is one. G.lock held. */
static int
hello(struct tconn *t)
{
	uint8_t w[32] = { 0 };
	ava_wire_put_le(w, G.g->api->spec_hash, 4);
	ava_wire_put_le(w + 4, (uint32_t)getpid(), 4);
	ava_wire_put_le(w + 8, G.session, 8);
	ava_wire_put_le(w + 16, G.token, 8);
	ava_buf_reset(&t->out);
	ava_buf_put_bytes(&t->out, w, sizeof(w));
	int r = send_frame(t, AVA_MSG_HELLO, 0);
	if (r == 0)
		r = ava_transport_conn_recv(t->conn, &t->in);
	if (r < 0)
		return r;
	if (t->in.h.type == AVA_MSG_ERROR)
		return AVA_ESPEC;
	if (t->in.h.type != AVA_MSG_WELCOME || t->in.h.len != 24)
		return AVA_EPROTO;
	G.session = ava_wire_get_le(t->in.payload.data, 8);
	G.token = ava_wire_get_le(t->in.payload.data + 8, 8);
	return 0;
}

static void
init_locked(const struct ava_guest_api *g)
{
	G.g = g;
	ava_registry_init(&G.reg, g->api, g->dispatch);
	G.hops = (struct ava_handle_ops){ .to_wire = hop_to_wire,
		.from_wire = hop_from_wire, .karg_id = hop_karg_id,
		.ref = hop_ref, .ctx = &G };
	G.addr = getenv("AVA_SERVER");
	G.inited = true;
}

/* Open this thread's connection. G.lock held; a failure is reported by
 * the caller, after unlocking, from *why and the returned error. */
static int
open_locked(struct tconn *t, const char **why)
{
	*why = "cannot connect to server";
	int r = ava_transport_connect(G.addr, &t->conn);
	if (r < 0)
		return r;
	*why = "cannot reach server";
	bool first = G.session == 0;
	if ((r = hello(t)) < 0)
		return r;
	/* The session's first connection lives as long as the process:
	 * closing it with its thread could end a session others still use.
	 * Later ones close when their thread exits. */
	if (!first)
		pthread_setspecific(tconn_key, t);
	return 0;
}

static int
thread_conn(const struct ava_guest_api *g, struct tconn **out)
{
	if (atomic_load(&G.dead))
		return AVA_EDEAD;
	if ((*out = T) != NULL)
		return 0;
	pthread_once(&tconn_once, make_key);
	struct tconn *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	t->thread = atomic_fetch_add(&next_thread, 1);
	ava_buf_init(&t->out);
	ava_buf_init(&t->in.payload);
	const char *why = NULL;
	int r = AVA_EADDR;
	pthread_mutex_lock(&G.lock);
	if (!G.inited)
		init_locked(g);
	if (G.addr != NULL && G.addr[0] != '\0')
		r = open_locked(t, &why);
	pthread_mutex_unlock(&G.lock);
	if (r == 0) {
		*out = T = t;
		return 0;
	}
	if (why == NULL)
		fail("AVA_SERVER is not set: run the program under `ava run`, "
		     "or set AVA_SERVER to an `ava server` address such as "
		     "unix:/tmp/ava.sock");
	else if (r == AVA_ESPEC)
		fail_refused(t);
	else
		fail("%s %s: %s", why, G.addr, ava_strerror(r));
	tconn_destroy(t);
	return r;
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
await_reply(struct tconn *t, const struct call *c)
{
	int r = ava_transport_conn_recv(t->conn, &t->in);
	if (r < 0) {
		fail("lost connection to server %s: %s", G.addr,
		     r == AVA_ECLOSED ? "server closed the connection"
				      : ava_strerror(r));
		return r;
	}
	if (t->in.h.type == AVA_MSG_ERROR) {
		fail_refused(t);
		return AVA_EPROTO;
	}
	if (t->in.h.type != AVA_MSG_REPLY || t->in.h.seq != t->seq ||
	    t->in.h.fn != c->fn->id) {
		fail("server %s sent an unexpected reply to %s", G.addr,
		     c->fn->name);
		return AVA_EPROTO;
	}
	return 0;
}

static int
exchange(struct tconn *t, struct call *c)
{
	ava_buf_reset(&t->out);
	pthread_mutex_lock(&G.lock);
	int r = ava_marshal_call_encode(G.g->api, c->fn, c->v, &G.hops,
					c->ev, &t->out);
	pthread_mutex_unlock(&G.lock);
	if (r < 0) {
		/* Not a transport failure: this call alone cannot be sent. */
		dprintf(STDERR_FILENO, "ava: %s: cannot send the call: %s\n",
			c->fn->name, ava_strerror(r));
		return r;
	}
	if ((r = send_frame(t, AVA_MSG_CALL, c->fn->id)) < 0) {
		fail("lost connection to server %s: %s", G.addr,
		     ava_strerror(r));
		return r;
	}
	if ((r = await_reply(t, c)) < 0)
		return r;
	pthread_mutex_lock(&G.lock);
	r = ava_marshal_reply_decode(G.g->api, c->fn, c->v, c->ev, &G.hops,
				     t->in.payload.data, t->in.payload.len,
				     &c->ret, c->outv);
	pthread_mutex_unlock(&G.lock);
	if (r < 0)
		fail("server %s sent a malformed reply to %s: %s", G.addr,
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
	struct tconn *t;
	int r = thread_conn(g, &t);
	if (r == 0)
		r = exchange(t, &c);
	if (r < 0)
		return failed(g->api, c.fn, v, g->api->transport_error);
	if (ava_marshal_succeeded(g->api, c.fn, c.ret, c.outv))
		run_callbacks(&c);
	return c.ret;
}
