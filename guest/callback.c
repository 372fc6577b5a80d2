/*
 * callback.c - callbacks the driver calls on the server, called here in
 * the guest (doc/protocol.md, "Callbacks"; guest-private.h).
 *
 * Registering a `remote` callback: the application's function and user
 * data stay here, under a cookie; the call carries the cookie in the user
 * data's place. The first such call of the process opens the callback
 * channel, a connection of the session on which only the server writes,
 * and waits until the server has taken it as the channel, so that no
 * callback can come before there is a channel for it. A callback thread
 * reads CALLBACK frames and calls the application's function, one at a
 * time, in the order the driver called them, with the application's user
 * data, on that thread (a guest thread that takes no signals).
 *
 * A callback is called only once its registering call has returned to
 * the application (the driver may call it earlier, from inside the call:
 * then it waits), and one-shot callbacks are forgotten once called.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ava-error.h"
#include "guest-private.h"
#include "u64map.h"

struct entry {
	uint32_t fn;          /* the registering function */
	void *pfn, *user_data;
	void *obj;            /* what the callback is about */
	bool ready;           /* the registering call returned */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t ready;   /* an entry became ready */
	struct ava_u64map entries;   /* cookie -> struct entry * */
	uint64_t next;          /* the last cookie given */
	bool open;              /* the channel is up */
} C = { .lock = PTHREAD_MUTEX_INITIALIZER,
	.ready = PTHREAD_COND_INITIALIZER };

/* ---- the channel ------------------------------------------------------- */

/* The entry of cookie, once ready; removed if one-shot. C.lock held. */
static bool
take_ready(uint64_t cookie, struct entry *out)
{
	uint64_t p;
	for (;;) {
		if (!ava_u64map_get(&C.entries, cookie, &p))
			return false;
		struct entry *e = (struct entry *)(uintptr_t)p;
		if (e->ready) {
			*out = *e;
			if (ava_guest_callback_oneshot(e->fn)) {
				ava_u64map_del(&C.entries, cookie);
				free(e);
			}
			return true;
		}
		pthread_cond_wait(&C.ready, &C.lock);
	}
}

static void
deliver(const uint8_t *p, size_t n)
{
	struct entry e;
	if (n < 8)
		return;
	uint64_t cookie = ava_wire_get_le(p, 8);
	pthread_mutex_lock(&C.lock);
	bool found = take_ready(cookie, &e);
	pthread_mutex_unlock(&C.lock);
	if (found)
		ava_guest_callback_invoke(e.fn, e.pfn, e.user_data, e.obj,
					  p + 8, n - 8);
}

void
ava_callbacks_stash(struct tconn *t)
{
	ava_buf_put_u64(&t->cbs, t->in.payload.len);
	ava_buf_put_padded(&t->cbs, t->in.payload.data, t->in.payload.len);
}

void
ava_callbacks_run(struct tconn *t)
{
	struct ava_reader rd;
	uint64_t n;
	uint8_t *p;
	if (t->cbs.len == 0)
		return;
	/* A callback may make calls of its own on this thread: they must
	 * not stash into what is being read. */
	struct ava_buf cbs = t->cbs;
	ava_buf_init(&t->cbs);
	ava_reader_init(&rd, cbs.data, cbs.len);
	while (rd.left > 0 && ava_reader_u64(&rd, &n) == 0 &&
	       ava_reader_bytes(&rd, n, &p) == 0)
		deliver(p, (size_t)n);
	ava_buf_finish(&cbs);
}

static void *
reader(void *arg)
{
	struct tconn *t = arg;
	pthread_setname_np(pthread_self(), "ava-callback");
	for (;;) {
		int r = ava_transport_conn_recv(t->conn, &t->in);
		if (r < 0)
			break;   /* the server went away: the next call says so */
		if (t->in.h.type != AVA_MSG_CALLBACK)
			break;
		deliver(t->in.payload.data, t->in.payload.len);
	}
	return NULL;
}

/*
 * Open the channel: announce it, and wait for the server's answer (a
 * CALLBACK with cookie 0) before any call can make the driver call back.
 */
static int
open_channel(void)
{
	struct tconn *t;
	int r = ava_guest_conn_open(&t);
	if (r < 0)
		return r;
	struct ava_frame_header h = {
		.magic = AVA_PROTOCOL_MAGIC, .version = AVA_PROTOCOL_VERSION,
		.type = AVA_MSG_CALLBACK, .api = ava_guest_api()->api_id,
		.thread = t->thread,
	};
	r = ava_transport_conn_send(t->conn, &h, NULL);
	if (r == 0)
		r = ava_transport_conn_recv(t->conn, &t->in);
	if (r == 0 && (t->in.h.type != AVA_MSG_CALLBACK ||
		       t->in.payload.len != 8))
		r = AVA_EPROTO;
	if (r < 0) {
		ava_guest_lost(r);
		return r;
	}
	sigset_t all, old;
	pthread_t th;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&th, NULL, reader, t);
	if (r == 0)
		pthread_detach(th);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		dprintf(STDERR_FILENO, "ava: cannot start the callback thread: "
			"%s\n", strerror(-r));
	return r;
}

/* ---- registering -------------------------------------------------------- */

static bool
remote_cb(const struct ava_fn_desc *fn, int i, const uint64_t *v)
{
	const struct ava_arg_desc *a = &fn->args[i];
	return a->kind == AVA_ARG_CALLBACK && a->cb_policy == AVA_CB_REMOTE &&
	       a->userdata_arg >= 0 && v[i] != 0;
}

bool
ava_callbacks_in(const struct ava_fn_desc *fn, const uint64_t *v)
{
	for (int i = 0; i < fn->nargs; i++)
		if (remote_cb(fn, i, v))
			return true;
	return false;
}

int
ava_callbacks_register(const struct ava_fn_desc *fn, uint64_t *v,
		       uint64_t *saved)
{
	int r = 0;
	for (int i = 0; i < fn->nargs; i++)
		saved[i] = 0;   /* callback i: its cookie once registered */
	pthread_mutex_lock(&C.lock);
	if (!C.open && (r = open_channel()) == 0)
		C.open = true;
	for (int i = 0; i < fn->nargs && r == 0; i++) {
		if (!remote_cb(fn, i, v))
			continue;
		int ud = fn->args[i].userdata_arg;
		struct entry *e = calloc(1, sizeof(*e));
		uint64_t cookie = ++C.next;
		if (e == NULL || ava_u64map_put(&C.entries, cookie,
						(uintptr_t)e) < 0) {
			free(e);
			r = -ENOMEM;
			break;
		}
		*e = (struct entry){ .fn = fn->id,
			.pfn = (void *)(uintptr_t)v[i],
			.user_data = (void *)(uintptr_t)v[ud] };
		saved[ud] = v[ud];
		saved[i] = cookie;
		v[ud] = cookie;
	}
	pthread_mutex_unlock(&C.lock);
	return r;
}

/* What a callback of this call is about: the object it made, or else its
 * first object argument. */
static void *
subject(const struct ava_fn_desc *fn, const uint64_t *v, uint64_t ret)
{
	if (fn->ret == AVA_RET_HANDLE)
		return (void *)(uintptr_t)ret;
	for (int i = 0; i < fn->nargs; i++)
		if (fn->args[i].kind == AVA_ARG_HANDLE)
			return (void *)(uintptr_t)v[i];
	return NULL;
}

void
ava_callbacks_settle(const struct ava_fn_desc *fn, uint64_t *v,
		     const uint64_t *saved, bool ok, uint64_t ret)
{
	pthread_mutex_lock(&C.lock);
	for (int i = 0; i < fn->nargs; i++) {
		uint64_t cookie = saved[i], p;
		if (!remote_cb(fn, i, v) || cookie == 0)
			continue;
		v[fn->args[i].userdata_arg] = saved[fn->args[i].userdata_arg];
		if (!ava_u64map_get(&C.entries, cookie, &p))
			continue;
		struct entry *e = (struct entry *)(uintptr_t)p;
		if (ok) {
			e->obj = subject(fn, v, ret);
			e->ready = true;
		} else {
			/* The driver never got it: it will not call. */
			ava_u64map_del(&C.entries, cookie);
			free(e);
		}
	}
	pthread_cond_broadcast(&C.ready);
	pthread_mutex_unlock(&C.lock);
}
