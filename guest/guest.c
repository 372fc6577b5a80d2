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
#include <time.h>
#include <unistd.h>

#include "ava-error.h"
#include "ava-generated.h"
#include "guest.h"
#include "guest-private.h"
#include "handle-table.h"
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
	const char *addr;        /* AVA_SERVER, or where the session moved */
	uint64_t session, token; /* from the first WELCOME, or a MOVED */
	atomic_uint_fast64_t gen; /* moves so far */
	struct ava_registry reg;
	struct ava_handle_ops hops;
	uint16_t owner;          /* the session's owner tag, from its ids */
	uint64_t names;          /* guest-named ids given so far */
};

static struct guest G = { .lock = PTHREAD_MUTEX_INITIALIZER };

static atomic_uint next_thread = 1;
static _Thread_local struct tconn *T;
static pthread_key_t tconn_key;
static pthread_once_t tconn_once = PTHREAD_ONCE_INIT;

/* ---- a thread's last lookups -------------------------------------------- */

/*
 * A launch loop looks its kernel and its queue up several times per call:
 * the async rules, then the encoding, each a hash lookup and most of them
 * a hold of G.lock. A thread remembers its last few, good while no object
 * has left the registry since (reg.removed): a pointer names the same
 * object until that object is freed, and its freeing makes every memo
 * stale.
 */
#define MEMO 4

struct memo {
	const void *p;       /* NULL: empty */
	uint64_t id;
	uint64_t removed;    /* G.reg.removed when it was looked up */
	uint16_t type;
};

static _Thread_local struct memo memo[MEMO];
static _Thread_local unsigned memo_next;

static bool
memo_get(const void *p, uint64_t *id, uint16_t *type)
{
	if (p == NULL)
		return false;
	uint64_t removed = __atomic_load_n(&G.reg.removed, __ATOMIC_ACQUIRE);
	for (unsigned k = 0; k < MEMO; k++)
		if (memo[k].p == p && memo[k].removed == removed) {
			*id = memo[k].id;
			*type = memo[k].type;
			return true;
		}
	return false;
}

/* G.lock held: the object is live, and removed is current. */
static void
memo_put(const struct ava_guest_obj *o)
{
	memo[memo_next++ % MEMO] = (struct memo){ .p = o, .id = o->id,
		.removed = G.reg.removed, .type = o->type };
}

/* ---- handle ops over the registry (callers hold G.lock) --------------- */

static int
hop_to_wire(void *ctx, uint16_t type, uint64_t local, bool creates,
	    uint64_t *id)
{
	struct guest *s = ctx;
	const void *p = (const void *)(uintptr_t)local;
	uint16_t t;
	if (memo_get(p, id, &t))
		return 0;
	if (!ava_registry_id(&s->reg, p, id))
		*id = FORGED_ID;
	else
		memo_put(p);
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
	if (r == 0 && s->owner == 0)
		s->owner = ava_handle_id_owner(id);
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
	if (delta < 0 && !ava_u64map_get(&s->reg.by_id, id, NULL))
		ava_guest_async_forget(id);
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
	ava_buf_finish(&t->batch);
	ava_buf_finish(&t->cbs);
	free(t);
}

void
ava_guest_bye(struct tconn *t, uint32_t flags)
{
	if (t->conn == NULL)
		return;
	struct ava_frame_header h = {
		.magic = AVA_PROTOCOL_MAGIC, .version = AVA_PROTOCOL_VERSION,
		.type = AVA_MSG_BYE, .api = G.g->api->api_id,
		.thread = t->thread, .flags = flags, .seq = ++t->seq,
	};
	if (ava_transport_conn_send(t->conn, &h, NULL) < 0) {
		/* The server is gone already: nothing left to tell it. */
	}
}

/* A thread ends: its connection closes with a word, so its server
 * thread ends at once, not when it next looks at the socket (over shm:,
 * up to its futex phase later: doc/protocol.md, "Session"). */
static void
tconn_exit(void *p)
{
	struct tconn *t = p;
	if (t != NULL && !atomic_load(&G.dead))
		ava_guest_bye(t, AVA_FRAME_THREAD);
	tconn_destroy(t);
}

static void
make_key(void)
{
	pthread_key_create(&tconn_key, tconn_exit);
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
	if (atomic_load(&G.dead))
		return;
	/* Queued calls go out first: the server runs them before BYE. */
	ava_batch_exit(t);
	if (t != NULL)
		ava_guest_bye(t, 0);
}

/* An ERROR frame: the server refused us and closes; say why. */
static void
fail_refused(struct tconn *t)
{
	const struct ava_buf *p = &t->in.payload;
	int len = p->len > 4 ? (int)(p->len - 4) : 0;
	fail("server %s refused the session: %.*s",
	     t->conn != NULL ? ava_transport_conn_addr(t->conn) : G.addr, len,
	     len ? (const char *)p->data + 4 : "no reason given");
}

/* HELLO/WELCOME on t, naming session (0: a new one) with its token;
 * *welcome gets the session and token the server answered with. */
static int
hello(struct tconn *t, uint64_t session, uint64_t token, uint64_t welcome[2])
{
	uint8_t w[32] = { 0 };
	ava_wire_put_le(w, G.g->api->spec_hash, 4);
	ava_wire_put_le(w + 4, (uint32_t)getpid(), 4);
	ava_wire_put_le(w + 8, session, 8);
	ava_wire_put_le(w + 16, token, 8);
	ava_buf_reset(&t->out);
	ava_buf_put_bytes(&t->out, w, sizeof(w));
	int r = send_frame(t, AVA_MSG_HELLO, 0);
	if (r == 0)
		r = ava_transport_conn_recv(t->conn, &t->in);
	if (r < 0)
		return r;
	if (t->in.h.type == AVA_MSG_ERROR)
		return AVA_ESPEC;
	if (t->in.h.type != AVA_MSG_WELCOME || t->in.h.len != 32)
		return AVA_EPROTO;
	welcome[0] = ava_wire_get_le(t->in.payload.data, 8);
	welcome[1] = ava_wire_get_le(t->in.payload.data + 8, 8);
	ava_guest_heap_take(t->conn, ava_wire_get_le(t->in.payload.data + 24,
						     8));
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

/*
 * Open t's connection to addr: the session's first (session 0: the
 * server makes one, and G learns it), or one that joins session. The
 * first is opened with G.lock held, so that a process makes one session;
 * a join runs unlocked, so that threads connecting at once (and the
 * batch flusher) do not wait for each other's round trips, and takes
 * the generation that went with session (a move meanwhile makes the
 * connection's first call follow it, as resume() does). A failure is
 * reported by the caller from *why and the returned error.
 */
static int
open_conn(struct tconn *t, bool thread, const char *addr, uint64_t session,
	  uint64_t token, uint64_t gen, const char **why)
{
	*why = "cannot connect to server";
	int r = ava_transport_connect(addr, &t->conn);
	if (r < 0)
		return r;
	*why = "cannot reach server";
	uint64_t got[2];
	if ((r = hello(t, session, token, got)) < 0)
		return r;
	if (session == 0) {   /* G.lock held */
		G.session = got[0];
		G.token = got[1];
	}
	t->gen = gen;
	/* The session's first connection lives as long as the process:
	 * closing it with its thread could end a session others still use.
	 * Later ones close when their thread exits (the batch flusher's
	 * when the process does). */
	if (session != 0 && thread)
		pthread_setspecific(tconn_key, t);
	return 0;
}

/* How many times a join follows its session to a new place. */
#define JOIN_TRIES 3

/*
 * A join, as open_conn(): where it fails and the session has moved
 * meanwhile (another thread heard MOVED after this one read where the
 * session was), it joins at the new place. No wait for such news: a
 * session leaves its old place only once every connection there has
 * left it, each after hearing MOVED, so by the time the old place
 * refuses the join ("no such session here") or is gone, G knows where
 * the session went if any thread does. AVA_TEST_JOIN_PAUSE_MS delays a
 * program thread's first try, for the test that opens that window
 * (mtest.py join-race).
 */
static int
join(struct tconn *t, bool thread, const char **addr, uint64_t session,
     uint64_t token, uint64_t gen, const char **why)
{
	const char *pause = thread ? getenv("AVA_TEST_JOIN_PAUSE_MS") : NULL;
	if (pause != NULL && atoi(pause) > 0) {
		long ms = atoi(pause);
		struct timespec nap = { ms / 1000, ms % 1000 * 1000000L };
		nanosleep(&nap, NULL);
	}
	for (int tries = 0;; tries++) {
		int r = open_conn(t, thread, *addr, session, token, gen, why);
		if (r == 0 || tries == JOIN_TRIES)
			return r;
		pthread_mutex_lock(&G.lock);
		bool moved = atomic_load(&G.gen) != gen;
		if (moved)
			*addr = G.addr;   /* a moved-from one stays allocated */
		session = G.session;
		token = G.token;
		gen = atomic_load(&G.gen);
		pthread_mutex_unlock(&G.lock);
		if (!moved)
			return r;
		ava_transport_conn_destroy(t->conn);
		t->conn = NULL;
	}
}

/* A new connection; with thread, it closes when the calling thread
 * exits. A failure is reported here. */
static int
conn_open(const struct ava_guest_api *g, bool thread, struct tconn **out)
{
	pthread_once(&tconn_once, make_key);
	struct tconn *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	t->thread = atomic_fetch_add(&next_thread, 1);
	ava_buf_init(&t->out);
	ava_buf_init(&t->in.payload);
	ava_buf_init(&t->batch);
	ava_buf_init(&t->cbs);
	const char *why = NULL;
	int r = AVA_EADDR;
	pthread_mutex_lock(&G.lock);
	if (!G.inited)
		init_locked(g);
	const char *addr = G.addr;   /* a moved-from one stays allocated */
	uint64_t session = G.session, token = G.token;
	uint64_t gen = atomic_load(&G.gen);
	bool have = addr != NULL && addr[0] != '\0';
	if (have && session == 0)
		r = open_conn(t, thread, addr, 0, 0, gen, &why);
	pthread_mutex_unlock(&G.lock);
	if (have && session != 0)
		r = join(t, thread, &addr, session, token, gen, &why);
	if (r == 0) {
		*out = t;
		return 0;
	}
	if (why == NULL)
		fail("AVA_SERVER is not set: run the program under `ava run`, "
		     "or set AVA_SERVER to an `ava server` address such as "
		     "unix:/tmp/ava.sock");
	else if (r == AVA_ESPEC)
		fail_refused(t);
	else
		fail("%s %s: %s", why, addr, ava_strerror(r));
	tconn_destroy(t);
	return r;
}

static int
thread_conn(const struct ava_guest_api *g, struct tconn **out)
{
	if (atomic_load(&G.dead))
		return AVA_EDEAD;
	if ((*out = T) != NULL)
		return 0;
	int r = conn_open(g, true, out);
	if (r == 0) {
		T = *out;
		ava_batch_start();   /* the flusher connects meanwhile */
	}
	return r;
}

/* ---- for batch.c (guest-private.h) ------------------------------------ */

int
ava_guest_conn_open(struct tconn **out)
{
	if (atomic_load(&G.dead))
		return AVA_EDEAD;
	return conn_open(G.g, false, out);
}

const struct ava_api_desc *
ava_guest_api(void)
{
	return G.g->api;
}

uint16_t
ava_guest_object(const void *p, uint64_t *id)
{
	uint64_t mid;
	uint16_t type;
	if (memo_get(p, &mid, &type)) {
		if (id != NULL)
			*id = mid;
		return type;
	}
	pthread_mutex_lock(&G.lock);
	struct ava_guest_obj *o = G.inited ? ava_registry_lookup(&G.reg, p)
					   : NULL;
	type = o ? o->type : 0;
	if (o != NULL && id != NULL)
		*id = o->id;
	if (o != NULL)
		memo_put(o);
	pthread_mutex_unlock(&G.lock);
	return type;
}

void
ava_guest_lost(int err)
{
	fail("lost connection to server %s: %s", G.addr, ava_strerror(err));
}

/* ---- resuming after the server went away ------------------------------- */

/* How long a thread tries to resume its session, from AVA_RECONNECT_MS;
 * 0 (the default): never, the first failure is final. */
static long
reconnect_ms(void)
{
	static long ms = -1;
	if (ms < 0) {
		const char *e = getenv("AVA_RECONNECT_MS");
		char *end;
		long v = e != NULL ? strtol(e, &end, 10) : 0;
		ms = e != NULL && *end == '\0' && v > 0 ? v : 0;
	}
	return ms;
}

static bool
may_resume(int r)
{
	return reconnect_ms() > 0 && G.session != 0 && r != AVA_EPROTO &&
	       r != AVA_ETOOBIG && r != AVA_EVERSION && r != AVA_ESPEC;
}

/* How long a thread tries to reach the server its session moved to. */
#define MOVED_RESUME_MS 10000

static uint64_t
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* One try: 0, 1 (no session there yet: try again) or an error. */
static int
resume_once(struct tconn *t, char *why, size_t nwhy)
{
	ava_transport_conn_destroy(t->conn);
	t->conn = NULL;
	/* Where the session is and its generation, read together: if
	 * another thread follows a MOVED before this connection is up, the
	 * connection belongs to the generation before, and its hang-up then
	 * sends this thread after the session, not to "lost connection". */
	uint8_t w[40] = { 0 };
	pthread_mutex_lock(&G.lock);
	const char *addr = G.addr;   /* a moved-from one stays allocated */
	uint64_t gen = atomic_load(&G.gen);
	ava_wire_put_le(w, G.g->api->spec_hash, 4);
	ava_wire_put_le(w + 4, (uint32_t)getpid(), 4);
	ava_wire_put_le(w + 8, G.session, 8);
	ava_wire_put_le(w + 16, G.token, 8);
	pthread_mutex_unlock(&G.lock);
	int r = ava_transport_connect(addr, &t->conn);
	if (r < 0)
		return 1;
	/* The call it waits on, which the server must not have run. */
	uint64_t pending = t->pending ? t->call_h.seq : 0;
	ava_wire_put_le(w + 24, AVA_HELLO_RESUME, 4);
	ava_wire_put_le(w + 28, t->thread, 4);
	ava_wire_put_le(w + 32, t->answered, 8);
	struct ava_frame_header h = {
		.magic = AVA_PROTOCOL_MAGIC, .version = AVA_PROTOCOL_VERSION,
		.type = AVA_MSG_HELLO, .api = G.g->api->api_id,
		.thread = t->thread, .seq = pending, .len = sizeof(w),
	};
	r = ava_transport_conn_send(t->conn, &h, w);
	if (r == 0)
		r = ava_transport_conn_recv(t->conn, &t->in);
	if (r < 0)
		return 1;
	if (t->in.h.type == AVA_MSG_WELCOME && t->in.h.len == 32) {
		t->gen = gen;
		ava_guest_heap_take(t->conn,
				    ava_wire_get_le(t->in.payload.data + 24, 8));
		return 0;
	}
	const struct ava_buf *p = &t->in.payload;
	int len = p->len > 4 ? (int)(p->len - 4) : 0;
	snprintf(why, nwhy, "%.*s", len, len ? (const char *)p->data + 4 : "");
	if (strstr(why, "no such session") != NULL)
		return 1;
	return AVA_EDEAD;
}

/* The server went away under t: come back to the session where the
 * operator restored it (same AVA_SERVER), within AVA_RECONNECT_MS. */
static int
resume(struct tconn *t, int err)
{
	bool moved = t->gen != atomic_load(&G.gen);
	if ((!moved && !may_resume(err)) || atomic_load(&G.dead))
		return err;
	char why[300] = "";
	uint64_t until = mono_ms() + (uint64_t)(moved ? MOVED_RESUME_MS
							: reconnect_ms());
	int r;
	while ((r = resume_once(t, why, sizeof(why))) == 1 &&
	       mono_ms() < until) {
		struct timespec nap = { 0, 20 * 1000000L };
		nanosleep(&nap, NULL);
	}
	if (r == 0) {
		dprintf(STDERR_FILENO, "ava: thread %" PRIu32 " resumed "
			"session %" PRIu64 " at %s\n", t->thread, G.session,
			ava_transport_conn_addr(t->conn));
		return 0;
	}
	if (r == 1)
		fail("lost connection to server %s, and no server there "
		     "resumed session %" PRIu64 " in time", G.addr, G.session);
	else
		fail("server %s: %s", G.addr, why);
	return r == 1 ? err : r;
}

/*
 * A MOVED frame in t->in: the session went to another server (a live
 * migration). Every thread follows it: the first to hear it updates
 * where the session is, and each connection resumes there.
 */
static int
adopt_moved(struct tconn *t)
{
	const struct ava_buf *p = &t->in.payload;
	if (p->len < 17 || p->len > 16 + 255)
		return AVA_EPROTO;
	/* The address is not NUL-terminated: copied by its length (strndup
	 * would look for a NUL past the payload first). */
	size_t n = p->len - 16;
	char *addr = malloc(n + 1);
	if (addr != NULL) {
		memcpy(addr, p->data + 16, n);
		addr[n] = '\0';
	}
	struct ava_addr a;
	if (addr == NULL || strlen(addr) != n ||
	    ava_transport_addr_parse(addr, &a) < 0) {
		free(addr);
		fail("server %s sent a malformed MOVED", G.addr);
		return AVA_EPROTO;
	}
	uint64_t session = ava_wire_get_le(p->data, 8);
	uint64_t token = ava_wire_get_le(p->data + 8, 8);
	pthread_mutex_lock(&G.lock);
	if (G.session != session || G.token != token ||
	    strcmp(G.addr, addr) != 0) {
		/* Earlier addresses are kept a while: other threads may be
		 * printing them. */
		static char *kept[16];
		static unsigned nkept;
		free(kept[nkept % 16]);
		kept[nkept++ % 16] = addr;
		G.addr = addr;
		G.session = session;
		G.token = token;
		atomic_fetch_add(&G.gen, 1);
		addr = NULL;
	}
	pthread_mutex_unlock(&G.lock);
	free(addr);
	return 0;
}

/* Send the waiting synchronous call again, at the new server: behind
 * the queued calls it came after, wherever they went. */
static int
resend_call(struct tconn *t)
{
	if (!t->pending)
		return 0;
	/* Over shm:, a large in-buffer was left out of t->out (a hole) and
	 * copied into the old connection's area: the batch carries it. */
	ava_transport_bulk_unstage(t->out.data, t->out.len);
	ava_buf_reset(&t->batch);
	ava_buf_put_u64(&t->batch, t->need);
	ava_batch_put_frame(&t->batch, &t->call_h, t->out.data, t->out.len);
	int r = ava_buf_error(&t->batch);
	struct ava_frame_header h = {
		.magic = AVA_PROTOCOL_MAGIC, .version = AVA_PROTOCOL_VERSION,
		.type = AVA_MSG_BATCH, .api = G.g->api->api_id,
		.thread = t->thread, .len = t->batch.len,
	};
	if (r == 0)
		r = ava_transport_conn_send(t->conn, &h, t->batch.data);
	t->last = h;
	t->last_p = t->batch.data;
	return r;
}

/* Frames the server sent unasked (MOVED), or its end, before we send. */
static int
check_moved(struct tconn *t)
{
	while (ava_transport_conn_readable(t->conn)) {
		int r = ava_transport_conn_recv(t->conn, &t->in);
		if (r < 0)
			return r;
		if (t->in.h.type != AVA_MSG_MOVED)
			return AVA_EPROTO;
		if ((r = adopt_moved(t)) < 0)
			return r;
	}
	return 0;
}

int
ava_guest_send(struct tconn *t, const struct ava_frame_header *h,
	       const void *p)
{
	int r = 0;
	if (h->type == AVA_MSG_BATCH && t->gen == atomic_load(&G.gen))
		r = check_moved(t);
	if (r == 0 && t->gen != atomic_load(&G.gen))
		r = resume(t, AVA_ECLOSED);
	if (r < 0 && (r = resume(t, r)) < 0)
		return r;
	t->last = *h;
	t->last_p = p;
	r = ava_transport_conn_send(t->conn, h, p);
	if (r < 0) {
		/* The server may have said where it went before it went. */
		if (ava_transport_conn_recv(t->conn, &t->in) == 0 &&
		    t->in.h.type == AVA_MSG_MOVED)
			adopt_moved(t);
		if (resume(t, r) == 0)
			r = ava_transport_conn_send(t->conn, h, p);
	}
	return r;
}

/* ---- one call --------------------------------------------------------- */

struct call {
	const struct ava_fn_desc *fn;
	uint64_t *v;
	uint64_t *ev;            /* AVA_MAX_ARGS each, on the caller's */
	uint64_t *outv;          /* stack: only fn's slots are ever set */
	uint64_t ret;
	bool queued;             /* batched: no reply will come */
	bool flush;              /* and the queue goes out now */
	bool named;              /* and it names the object it creates, */
	uint16_t name_type;      /* of this type, */
	int name_arg;            /* returned (-1) or through this argument */
	uint64_t errv;           /* the error out-argument, while named */
};

static int
await_reply(struct tconn *t, const struct call *c)
{
	int r;
	/* Failures of this thread's queued calls come first, and callbacks
	 * the driver made inside the call. */
	for (;;) {
		r = ava_transport_conn_recv(t->conn, &t->in);
		/* The server went away before answering: where a restored
		 * one takes the session back, the call goes there again. */
		if (r < 0 && r != AVA_EPROTO && resume(t, r) == 0 &&
		    (r = ava_transport_conn_send(t->conn, &t->last,
						 t->last_p)) == 0)
			continue;
		if (r < 0)
			break;
		/* The session moved (answered or told unasked): follow it,
		 * and send the call there. */
		if (t->in.h.type == AVA_MSG_MOVED) {
			if ((r = adopt_moved(t)) < 0 ||
			    (r = resume(t, AVA_ECLOSED)) < 0 ||
			    (r = resend_call(t)) < 0)
				break;
			continue;
		}
		if (t->in.h.type == AVA_MSG_CALLBACK)
			ava_callbacks_stash(t);
		else if (t->in.h.type != AVA_MSG_DEFERRED)
			break;
		else if ((r = ava_batch_deferred(t)) < 0)
			break;
	}
	if (r == AVA_EPROTO && t->in.h.type == AVA_MSG_DEFERRED) {
		fail("server %s sent a malformed deferred error", G.addr);
		return r;
	}
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
	t->answered = t->seq;
	t->pending = false;
	return 0;
}

/* What the spec's expressions see before a call: scalars, and pointers
 * and handles as nonzero when present. */
static void
presence(const struct ava_fn_desc *fn, const uint64_t *v, uint64_t *pv)
{
	for (int i = 0; i < fn->nargs; i++)
		pv[i] = fn->args[i].kind == AVA_ARG_SCALAR ?
			ava_marshal_scalar(&fn->args[i], v[i]) : v[i] != 0;
}

/* Could this call name the object it creates: one object, and the
 * session's owner tag known (it is in every id the server gave)? Every
 * synchronous call asks: the lock only for those that could. */
static bool
may_name(struct call *c)
{
	if (!ava_marshal_nameable(G.g->api, c->fn, &c->name_type,
				  &c->name_arg) ||
	    (c->name_arg >= 0 && c->v[c->name_arg] == 0))
		return false;
	pthread_mutex_lock(&G.lock);
	bool owner = G.owner != 0;
	pthread_mutex_unlock(&G.lock);
	return owner;
}

/* Should this call be queued rather than sent (guest-private.h)? A call
 * the spec does not let go unanswered may still be, if it creates one
 * object and the glue is sure of it: it names the object. */
static bool
may_queue(struct call *c)
{
	const struct ava_fn_desc *fn = c->fn;
	if (!ava_batch_enabled())
		return false;
	bool plain = fn->flags & AVA_FN_ASYNC;
	if (plain && fn->async_unless != NULL) {
		static const uint64_t none[AVA_MAX_ARGS];
		uint64_t pv[AVA_MAX_ARGS];
		presence(fn, c->v, pv);
		plain = fn->async_unless(pv, none) == 0;
	}
	if (!plain && !may_name(c))
		return false;
	enum ava_async_verdict a = ava_guest_async_check(fn, c->v);
	if (plain && a == AVA_ASYNC_SEND && ava_batch_unchecked())
		a = AVA_ASYNC_QUEUE;
	c->flush = a == AVA_ASYNC_QUEUE_FLUSH;
	c->named = !plain && a != AVA_ASYNC_SEND;
	return a != AVA_ASYNC_SEND;
}

/*
 * A named creation, encoded in t->out: its id goes at the end, and the
 * object is made here, as a REPLY would have made it. The server gets an
 * error out-argument even when the application gave none, so that a
 * failure it defers has its code. G.lock held.
 */
static int
name_locked(struct tconn *t, struct call *c, struct ava_guest_obj **obj)
{
	const struct ava_api_desc *api = G.g->api;
	uint64_t n = ++G.names;
	uint64_t id = (uint64_t)api->handles[c->name_type].tag << 56 |
		      (uint64_t)G.owner << 40 |
		      (uint64_t)((n >> 23) & 0xffff) << 24 |
		      AVA_HANDLE_NAMED | (n & (AVA_HANDLE_NAMED - 1));
	ava_buf_put_u64(&t->out, id);
	int r = ava_buf_error(&t->out);
	return r < 0 ? r : ava_registry_obj(&G.reg, c->name_type, id, true,
					    obj);
}

static uint64_t
failed(const struct ava_api_desc *api, const struct ava_fn_desc *fn,
       uint64_t *v, int64_t err);

/* A named creation's results: the object, and success. */
static void
named_results(struct call *c, struct ava_guest_obj *obj)
{
	const struct ava_api_desc *api = G.g->api;
	int e = ava_marshal_errcode_arg(c->fn);
	if (e >= 0 && c->v[e] == (uintptr_t)&c->errv)
		c->v[e] = 0;
	else if (e >= 0)
		failed(api, c->fn, c->v, api->success);
	if (c->name_arg >= 0)
		memcpy((void *)(uintptr_t)c->v[c->name_arg], &obj, sizeof(obj));
	c->ret = c->name_arg < 0 ? (uintptr_t)obj : (uint64_t)api->success;
}

/* A queued call's retains and releases count at once: the application
 * may use or drop the object before the queue goes out. G.lock held. */
static void
apply_refs_locked(const struct call *c)
{
	if (!(ava_marshal_traits(G.g->api, c->fn) & AVA_TRAIT_REFS))
		return;
	for (int i = 0; i < c->fn->nargs; i++) {
		uint32_t f = c->fn->args[i].flags;
		if (c->fn->args[i].kind == AVA_ARG_HANDLE &&
		    (f & (AVA_ARGF_RETAINS | AVA_ARGF_RELEASES)) &&
		    c->ev[i] != 0)
			hop_ref(&G, c->ev[i], f & AVA_ARGF_RETAINS ? 1 : -1);
	}
}

static int
exchange(struct tconn *t, struct call *c)
{
	c->queued = may_queue(c);
	int e = c->named ? ava_marshal_errcode_arg(c->fn) : -1;
	if (e >= 0 && c->v[e] == 0)
		c->v[e] = (uintptr_t)&c->errv;
	ava_buf_reset(&t->out);
	struct ava_guest_obj *obj = NULL;
	pthread_mutex_lock(&G.lock);
	int r = ava_marshal_call_encode(G.g->api, c->fn, c->v, &G.hops,
					c->ev, &t->out);
	/* Batching saves a round trip, which a large call's copy dwarfs. */
	if (r == 0 && c->queued && t->out.len > BATCH_CALL_MAX)
		c->queued = false;
	c->named &= c->queued;
	if (r == 0 && c->named)
		r = name_locked(t, c, &obj);
	if (r == 0 && c->queued)
		apply_refs_locked(c);
	pthread_mutex_unlock(&G.lock);
	if (e >= 0 && !c->named && c->v[e] == (uintptr_t)&c->errv)
		c->v[e] = 0;
	if (r < 0) {
		/* Not a transport failure: this call alone cannot be sent. */
		dprintf(STDERR_FILENO, "ava: %s: cannot send the call: %s\n",
			c->fn->name, ava_strerror(r));
		return r;
	}
	r = c->queued ? ava_batch_queue(t, c->fn, c->flush, c->named)
		      : ava_batch_send_call(t, c->fn);
	if (r < 0) {
		fail("lost connection to server %s: %s", G.addr,
		     ava_strerror(r));
		return r;
	}
	if (c->named && r == 0)
		named_results(c, obj);
	if (c->queued)
		return 0;
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
	/* Decoded into the application's memory: large buffers go back
	 * in time. */
	ava_buf_done(&t->out);
	ava_buf_done(&t->in.payload);
	return r;
}

/* The status a call returned, by value or in its error out-argument. */
static int64_t
call_status(const struct call *c)
{
	if (c->fn->ret == AVA_RET_STATUS)
		return (int64_t)c->ret;
	for (int i = 0; i < c->fn->nargs; i++)
		if (c->fn->args[i].flags & AVA_ARGF_ERRCODE)
			return (int64_t)c->outv[i];
	return 0;
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

/*
 * A synchronizing call (spec: `sync`) that succeeded returns the first
 * failure of the thread's queued calls not yet returned, unless it made
 * objects the application would then never see as made.
 */
static uint64_t
deferred_error(struct tconn *t, const struct call *c)
{
	if (!t->deferred_pending || !(c->fn->flags & AVA_FN_SYNC_POINT) ||
	    c->fn->ret != AVA_RET_STATUS)
		return c->ret;
	for (int i = 0; i < c->fn->nargs; i++) {
		enum ava_arg_kind k = c->fn->args[i].kind;
		if ((k == AVA_ARG_OUT_HANDLE || k == AVA_ARG_OUT_HANDLES) &&
		    c->v[i] != 0)
			return c->ret;
	}
	t->deferred_pending = false;
	return t->deferred;
}

uint64_t
ava_guest_sync_point(uint64_t ret)
{
	struct tconn *t = T;
	if (t == NULL || !t->deferred_pending ||
	    (int64_t)ret != G.g->api->success)
		return ret;
	t->deferred_pending = false;
	return t->deferred;
}

uint64_t
ava_guest_call(const struct ava_guest_api *g, uint32_t fn_id, uint64_t *v)
{
	/* Not in the initializer, whose zeroing of both (256 bytes, a
	 * `rep stos`) took 42 % of this function's samples per launch
	 * (ava_marshal_zero_slots()). */
	uint64_t ev[AVA_MAX_ARGS], outv[AVA_MAX_ARGS];
	struct call c = { .fn = ava_api_fn(g->api, fn_id), .v = v, .ev = ev,
			  .outv = outv };
	if (c.fn == NULL)
		return (uint64_t)g->api->unsupported_error;
	/* A queued call's are read as they were before any reply. (More
	 * arguments than AVA_MAX_ARGS: ava-gen refuses such a function.) */
	ava_marshal_zero_slots(outv, c.fn->nargs <= AVA_MAX_ARGS
					     ? c.fn->nargs : AVA_MAX_ARGS);
	if (c.fn->flags & AVA_FN_UNSUPPORTED)
		return failed(g->api, c.fn, v, c.fn->unsupported_error);
	struct tconn *t;
	uint64_t saved[AVA_MAX_ARGS];
	bool remote = false;
	int r = thread_conn(g, &t);
	if (r == 0 && ava_callbacks_in(c.fn, v)) {
		remote = true;
		r = ava_callbacks_register(c.fn, v, saved);
	}
	if (r == 0)
		r = exchange(t, &c);
	if (remote)
		ava_callbacks_settle(c.fn, v, saved, r == 0 &&
				     (ava_marshal_succeeded(g->api, c.fn, c.ret,
							    c.outv) ||
				      ava_guest_callback_despite(c.fn->id,
						call_status(&c))), c.ret);
	if (r == 0)
		ava_callbacks_run(t);
	if (r < 0)
		return failed(g->api, c.fn, v, g->api->transport_error);
	if (c.queued) {
		ava_guest_async_note(c.fn, v, c.named ? c.ret : 0, true);
		if (c.named)
			return c.ret;
		return c.fn->ret == AVA_RET_STATUS ? (uint64_t)g->api->success
						   : 0;
	}
	if (!ava_marshal_succeeded(g->api, c.fn, c.ret, c.outv))
		return c.ret;
	ava_guest_async_note(c.fn, v, c.ret, false);
	run_callbacks(&c);
	return deferred_error(t, &c);
}

/* ---- per-object extensions for guest hooks (guest.h) ------------------ */

/* The live object obj of handle type `type`, or NULL. G.lock held. */
static struct ava_guest_obj *
typed_obj(const void *obj, uint16_t type)
{
	struct ava_guest_obj *o = G.inited ? ava_registry_lookup(&G.reg, obj)
					   : NULL;
	return o != NULL && o->type == type ? o : NULL;
}

struct ava_guest_ext *
ava_guest_ext_get(const void *obj, uint16_t type)
{
	pthread_mutex_lock(&G.lock);
	struct ava_guest_obj *o = typed_obj(obj, type);
	struct ava_guest_ext *ext = o ? o->ext : NULL;
	pthread_mutex_unlock(&G.lock);
	return ext;
}

struct ava_guest_ext *
ava_guest_ext_attach(const void *obj, uint16_t type,
		     struct ava_guest_ext *ext)
{
	pthread_mutex_lock(&G.lock);
	struct ava_guest_obj *o = typed_obj(obj, type);
	if (o != NULL && o->ext == NULL)
		o->ext = ext;
	struct ava_guest_ext *now = o ? o->ext : NULL;
	pthread_mutex_unlock(&G.lock);
	return now;
}
