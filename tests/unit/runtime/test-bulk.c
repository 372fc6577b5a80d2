/*
 * test-bulk.c - in-place bulk data over shm: (transport.h, "In-place
 * bulk data"): large buffers of a CALL and a REPLY through the shared
 * area, with the real marshaller and the stand-in API on both ends of
 * one connection (this thread plays guest and server in turn); the ways
 * a transfer falls back (an area too small, none, a unix: connection, a
 * call served inline for the journal); and a peer that lies in its ref
 * tables or puts a hole where no buffer is: an error each time, never a
 * crash or a read outside the area.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ava-error.h"
#include "fake-api.h"
#include "loop.h"
#include "rt-test.h"
#include "transport-private.h"
#include "transport-shm.h"
#include "wire.h"

#define MIB (1u << 20)

static char addr[96];

struct pair {
	struct ava_listener *l;
	struct ava_conn *g, *s;   /* the guest's end, the server's */
	struct ava_frame f;       /* what the last receive got */
};

/* A connected pair with a bulk area of mib MiB (-1: the default). */
static void
pair_open(struct pair *p, const char *a, int mib)
{
	char v[16];
	snprintf(v, sizeof(v), "%d", mib);
	if (mib >= 0)
		setenv("AVA_SHM_BULK_MIB", v, 1);
	CHECK_EQ(ava_transport_listen(a, &p->l), 0);
	CHECK_EQ(ava_transport_connect(a, &p->g), 0);
	CHECK_EQ(ava_transport_listener_accept(p->l, &p->s), 0);
	unsetenv("AVA_SHM_BULK_MIB");
	ava_buf_init(&p->f.payload);
}

static void
pair_close(struct pair *p)
{
	ava_transport_conn_destroy(p->g);
	ava_transport_conn_destroy(p->s);
	ava_transport_listener_destroy(p->l);
	ava_buf_finish(&p->f.payload);
}

static struct ava_frame_header
header(uint8_t type, uint32_t fn, uint64_t len)
{
	return (struct ava_frame_header){ .magic = AVA_PROTOCOL_MAGIC,
		.version = AVA_PROTOCOL_VERSION, .type = type,
		.api = fake_api.api_id, .fn = fn, .seq = 1, .len = len };
}

/* The guest's first receive: only then does it make holes. */
static void
greet(struct pair *p)
{
	struct ava_frame_header h = header(AVA_MSG_WELCOME, 0, 0);
	CHECK_EQ(ava_transport_conn_send(p->s, &h, NULL), 0);
	CHECK_EQ(ava_transport_conn_recv(p->g, &p->f), 0);
}

static bool
in_area(struct ava_conn *c, const uint8_t *q)
{
	struct ava_shm_view v;
	return ava_shm_conn_view(c, &v) && v.area != NULL && q >= v.area &&
	       q < v.area + v.area_size;
}

/* What one call saw on its way. */
struct trip {
	int decode_r, send_r;
	uint32_t call_holes, reply_holes;
	bool raw_shared, out_shared;   /* argument 1, 2 in the area */
	bool call_streamed, reply_streamed;
};

/* The server's half of one call, on a thread of its own (bulk sets and
 * streams are per thread, and a stream larger than its window needs
 * both ends running). */
struct serve {
	struct loop *l;
	struct pair *p;
	uint32_t id;
	bool journal;
	struct trip *t;
	struct ava_frame f;
};

static void *
serve_one(void *arg)
{
	struct serve *sv = arg;
	struct trip *t = sv->t;
	const struct ava_fn_desc *fn = ava_api_fn(&fake_api, sv->id);
	struct ava_call c;
	struct ava_buf reply;
	ava_buf_init(&reply);
	CHECK_EQ(ava_transport_conn_recv(sv->p->s, &sv->f), 0);
	uint8_t *q = sv->f.payload.data;
	size_t n = sv->f.payload.len;
	const struct ava_bulk *b = ava_transport_bulk_received(q, n);
	struct ava_shm_view v;
	t->call_holes = b ? b->n : 0;
	t->call_streamed = b && ava_shm_conn_view(sv->p->s, &v) &&
			   b->ref[0].at == v.win;
	if (sv->journal)
		ava_transport_conn_bulk_inline(sv->p->s, q, n);
	t->decode_r = ava_marshal_call_decode(&fake_api, fn, q, n,
					      &sv->l->sops, &c);
	if (t->decode_r == 0) {
		t->raw_shared = in_area(sv->p->s,
					(const uint8_t *)(uintptr_t)c.v[1]);
		t->out_shared = fn->nargs > 2 &&
				in_area(sv->p->s,
					(const uint8_t *)(uintptr_t)c.v[2]);
		uint64_t r = fake_server.invoke(sv->id, c.v, NULL);
		CHECK_EQ(ava_marshal_reply_encode(&c, r, &sv->l->sops, &reply),
			 0);
	} else {
		CHECK_EQ(ava_marshal_reply_reject(fn, FAKE_E_VALUE, &reply), 0);
	}
	ava_call_finish(&c);
	struct ava_frame_header h = header(AVA_MSG_REPLY, sv->id, reply.len);
	t->send_r = ava_transport_conn_send(sv->p->s, &h, reply.data);
	ava_buf_finish(&reply);
	return NULL;
}

/*
 * One call of fake function id, guest -> server -> guest, over p. With
 * journal, the server serves it from private bytes, as session.c does
 * for a journaled session.
 */
static uint64_t
call(struct loop *l, struct pair *p, uint32_t id, uint64_t *v, bool journal,
     struct trip *t)
{
	const struct ava_fn_desc *fn = ava_api_fn(&fake_api, id);
	struct ava_buf out;
	uint64_t ev[AVA_MAX_ARGS], outv[AVA_MAX_ARGS], ret = 0xbad;
	struct serve sv = { .l = l, .p = p, .id = id, .journal = journal,
			    .t = t };
	pthread_t th;
	ava_buf_init(&out);
	ava_buf_init(&sv.f.payload);
	memset(t, 0, sizeof(*t));
	CHECK(pthread_create(&th, NULL, serve_one, &sv) == 0);
	CHECK_EQ(ava_marshal_call_encode(&fake_api, fn, v, &l->gops, ev, &out),
		 0);
	struct ava_frame_header h = header(AVA_MSG_CALL, id, out.len);
	CHECK_EQ(ava_transport_conn_send(p->g, &h, out.data), 0);
	/* The guest's again. */
	CHECK_EQ(ava_transport_conn_recv(p->g, &p->f), 0);
	pthread_join(th, NULL);
	CHECK_EQ(t->send_r, 0);
	uint8_t *q = p->f.payload.data;
	size_t n = p->f.payload.len;
	const struct ava_bulk *b = ava_transport_bulk_received(q, n);
	t->reply_holes = b ? b->n : 0;
	t->reply_streamed = b && fn->nargs > 2 &&
			    b->ref[0].at == (uint8_t *)(uintptr_t)v[2];
	CHECK_EQ(ava_marshal_reply_decode(&fake_api, fn, v, ev, &l->gops, q,
					  n, &ret, outv), 0);
	ava_buf_finish(&out);
	ava_buf_finish(&sv.f.payload);
	return ret;
}

static uint8_t *
pattern(size_t n, unsigned seed)
{
	uint8_t *d = malloc(n);
	CHECK(d != NULL);
	for (size_t i = 0; i < n; i++)
		d[i] = (uint8_t)((i * 2654435761u + seed) >> 11);
	return d;
}

/* copy(n, src, dst) through the transport: correct whatever the path. */
static void
check_copy(struct loop *l, struct pair *p, size_t n, bool journal,
	   struct trip *t)
{
	uint8_t *src = pattern(n, (unsigned)n), *dst = malloc(n);
	uint64_t v[3] = { n, (uintptr_t)src, (uintptr_t)dst };
	CHECK_EQ(call(l, p, FAKE_FN_copy, v, journal, t), FAKE_OK);
	CHECK_EQ(t->decode_r, 0);
	for (size_t i = 0; i < n; i++)
		if (dst[i] != (src[n - 1 - i] ^ 0x5a))
			CHECK(!"copy came back wrong");
	free(src);
	free(dst);
}

static void
check_inout(struct loop *l, struct pair *p, size_t n, struct trip *t)
{
	uint8_t *d = pattern(n, 7), *want = pattern(n, 7);
	uint64_t v[2] = { n, (uintptr_t)d };
	CHECK_EQ(call(l, p, FAKE_FN_inout, v, false, t), FAKE_OK);
	for (size_t i = 0; i < n; i++)
		if (d[i] != (uint8_t)(2 * want[i]))
			CHECK(!"inout came back wrong");
	free(d);
	free(want);
}

/* Both directions in place: one copy in the guest each way, none in the
 * server, and the out-buffer's storage after the in-buffer's. */
static void
in_place(void)
{
	struct loop l;
	struct pair p;
	struct trip t;
	loop_init(&l);
	pair_open(&p, addr, -1);
	greet(&p);
	check_copy(&l, &p, 3 * MIB + 24, false, &t);
	CHECK(t.call_holes == 1 && t.reply_holes == 1);
	CHECK(t.raw_shared && t.out_shared);
	check_inout(&l, &p, 2 * MIB, &t);
	CHECK(t.call_holes == 1 && t.reply_holes == 1 && t.raw_shared);
	/* Below AVA_BULK_MIN: inline, as ever. */
	check_copy(&l, &p, AVA_BULK_MIN - 8, false, &t);
	CHECK(t.call_holes == 0 && t.reply_holes == 0 && !t.raw_shared);
	check_copy(&l, &p, AVA_BULK_MIN, false, &t);
	CHECK(t.call_holes == 1 && t.reply_holes == 1);
	/* Served from private bytes (a journaled session): the same
	 * result, and a REPLY that carries its bytes (through the ring:
	 * this thread, which sends it, must also read it). */
	check_copy(&l, &p, MIB / 2, true, &t);
	CHECK(t.call_holes == 1 && t.reply_holes == 0);
	CHECK(!t.raw_shared && !t.out_shared);
	pair_close(&p);
	loop_finish(&l);
}

struct streamed {
	struct ava_conn *c;
	uint8_t *payload, *src;
	size_t n;
	int r;
};

/* Holes of 2 bytes' worth each way too big for a 1 MiB area, sent on
 * a thread of its own (staged sets are per thread). */
static void *
send_streamed(void *arg)
{
	struct streamed *s = arg;
	size_t half = (s->n - 16) / 2;
	struct ava_bulk set = { .payload = s->payload, .len = s->n, .n = 2,
		.ref = { { .off = 8, .len = half, .at = s->src },
			 { .off = 16 + half, .len = half, .at = s->src + half } } };
	ava_transport_bulk_stage(&set);
	struct ava_frame_header h = header(AVA_MSG_CALL, 1, s->n);
	s->r = ava_transport_conn_send(s->c, &h, s->payload);
	return NULL;
}

/* No room: the bytes stream through the ring, from where they are. */
static void
fallbacks(void)
{
	struct loop l;
	struct pair p;
	struct trip t;
	loop_init(&l);
	pair_open(&p, addr, 1);
	greet(&p);
	/* In 1 MiB: the in-buffer fits, the out-buffer does not. */
	check_copy(&l, &p, 900 * 1024, false, &t);
	CHECK(t.call_holes == 1 && t.reply_holes == 0 && !t.out_shared);
	/* Nothing fits: a plain frame, its holes' bytes from src. */
	struct streamed st = { .c = p.g, .n = 3 * MIB + 16 };
	st.payload = pattern(st.n, 5);
	st.src = pattern(st.n, 6);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, send_streamed, &st) == 0);
	CHECK_EQ(ava_transport_conn_recv(p.s, &p.f), 0);
	pthread_join(th, NULL);
	CHECK_EQ(st.r, 0);
	CHECK(ava_transport_bulk_received(p.f.payload.data, st.n) == NULL);
	size_t half = (st.n - 16) / 2;
	const uint8_t *q = p.f.payload.data;
	CHECK(memcmp(q, st.payload, 8) == 0 &&
	      memcmp(q + 8, st.src, half) == 0 &&
	      memcmp(q + 8 + half, st.payload + 8 + half, 8) == 0 &&
	      memcmp(q + 16 + half, st.src + half, half) == 0);
	free(st.payload);
	free(st.src);
	pair_close(&p);

	pair_open(&p, addr, 0);
	struct ava_shm_view v;
	CHECK(ava_shm_conn_view(p.g, &v) && v.area == NULL);
	greet(&p);
	check_copy(&l, &p, MIB / 2, false, &t);
	CHECK(t.call_holes == 0 && t.reply_holes == 0);
	pair_close(&p);

	/* unix: never sees a hole. */
	char uaddr[100];
	snprintf(uaddr, sizeof(uaddr), "unix:%s", strchr(addr, ':') + 1);
	pair_open(&p, uaddr, -1);
	greet(&p);
	/* (Small enough for the socket's buffer: one thread sends and
	 * reads.) */
	check_copy(&l, &p, 80 * 1024, false, &t);
	CHECK(t.call_holes == 0 && t.reply_holes == 0);
	check_inout(&l, &p, 80 * 1024, &t);
	pair_close(&p);
	loop_finish(&l);
}

/* A staged set applies to its payload only; unstaging fills the holes. */
static void
staging(void)
{
	struct pair p;
	pair_open(&p, addr, -1);
	greet(&p);
	size_t n = 2 * AVA_BULK_MIN;
	uint8_t *a = pattern(n, 1), *src = pattern(n, 2), *b = malloc(n);
	memcpy(b, a, n);
	struct ava_bulk set = { .payload = a, .len = n, .n = 1,
		.ref[0] = { .off = 8, .len = AVA_BULK_MIN, .at = src } };
	ava_transport_bulk_stage(&set);
	struct ava_frame_header h = header(AVA_MSG_CALL, 1, n);
	/* Another payload, or another length: sent as it is. */
	CHECK_EQ(ava_transport_conn_send(p.g, &h, b), 0);
	CHECK_EQ(ava_transport_conn_recv(p.s, &p.f), 0);
	CHECK(ava_transport_bulk_received(p.f.payload.data, n) == NULL);
	CHECK(memcmp(p.f.payload.data, a, n) == 0);
	h.len = n - 8;
	CHECK_EQ(ava_transport_conn_send(p.g, &h, a), 0);
	CHECK_EQ(ava_transport_conn_recv(p.s, &p.f), 0);
	CHECK(memcmp(p.f.payload.data, a, n - 8) == 0);
	/* Not a CALL or REPLY: as it is. */
	h = header(AVA_MSG_BATCH, 0, n);
	CHECK_EQ(ava_transport_conn_send(p.g, &h, a), 0);
	CHECK_EQ(ava_transport_conn_recv(p.s, &p.f), 0);
	CHECK(memcmp(p.f.payload.data, a, n) == 0);
	/* Its own payload, twice (a resend): in place both times. */
	h = header(AVA_MSG_CALL, 1, n);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(ava_transport_conn_send(p.g, &h, a), 0);
		CHECK_EQ(ava_transport_conn_recv(p.s, &p.f), 0);
		const struct ava_bulk *r =
			ava_transport_bulk_received(p.f.payload.data, n);
		CHECK(r != NULL && r->n == 1 && r->ref[0].off == 8);
		CHECK(memcmp(r->ref[0].at, src, AVA_BULK_MIN) == 0);
		CHECK(memcmp(p.f.payload.data, a, 8) == 0);
		size_t rest = 8 + AVA_BULK_MIN;
		CHECK(memcmp(p.f.payload.data + rest, a + rest, n - rest) == 0);
	}
	ava_transport_bulk_unstage(a, n);
	CHECK(memcmp(a + 8, src, AVA_BULK_MIN) == 0);
	CHECK_EQ(ava_transport_conn_send(p.g, &h, a), 0);
	CHECK_EQ(ava_transport_conn_recv(p.s, &p.f), 0);
	CHECK(ava_transport_bulk_received(p.f.payload.data, n) == NULL);
	free(a);
	free(b);
	free(src);
	pair_close(&p);
}

/* ---- a peer that lies ------------------------------------------------ */

struct ref { uint64_t off, len, aoff; };

static uint32_t lie_flags;   /* more header flags for lie() */

/* A frame flagged for holes, with this table, written raw; what the
 * receiver makes of it. */
static int
lie(uint8_t type, uint64_t len, uint64_t n, const struct ref *r, int mib)
{
	struct pair p;
	pair_open(&p, addr, mib);
	uint8_t w[40 + 8 + 24 * 16] = { 0 };
	struct ava_frame_header h = header(type, 1, len);
	h.flags = AVA_SHM_FRAME_BULK | lie_flags;
	ava_frame_header_encode(&h, w);
	ava_wire_put_le(w + 40, n, 8);
	for (uint64_t k = 0; k < n && k < 16; k++) {
		ava_wire_put_le(w + 48 + 24 * k, r[k].off, 8);
		ava_wire_put_le(w + 56 + 24 * k, r[k].len, 8);
		ava_wire_put_le(w + 64 + 24 * k, r[k].aoff, 8);
	}
	CHECK_EQ(ava_shm_conn_write_raw(p.g, w, 48 + 24 * (n < 16 ? n : 16)),
		 0);
	ava_transport_conn_destroy(p.g);   /* no payload follows */
	p.g = NULL;
	int res = ava_transport_conn_recv(p.s, &p.f);
	if (res == AVA_ESHM)   /* sticky */
		CHECK_EQ(ava_transport_conn_recv(p.s, &p.f), AVA_ESHM);
	ava_transport_conn_destroy(p.s);
	ava_transport_listener_destroy(p.l);
	ava_buf_finish(&p.f.payload);
	return res;
}

static void
bad_tables(void)
{
	const uint64_t A = 1u << 30, L = 1u << 20, M = UINT64_MAX;
	const struct ref ok = { 8, 4096, 0 };
	/* The baseline: a good table, then the peer is gone mid-payload. */
	CHECK_EQ(lie(AVA_MSG_CALL, L, 1, &ok, -1), AVA_EPROTO);
	/* Counts: none, too many. */
	CHECK_EQ(lie(AVA_MSG_CALL, L, 0, &ok, -1), AVA_ESHM);
	struct ref many[16];
	for (int k = 0; k < 16; k++)
		many[k] = (struct ref){ 8 + 8192 * (uint64_t)k, 8, 0 };
	CHECK_EQ(lie(AVA_MSG_CALL, L, AVA_BULK_MAX + 1, many, -1), AVA_ESHM);
	CHECK_EQ(lie(AVA_MSG_CALL, L, M, many, -1), AVA_ESHM);
	/* Offsets: unaligned, past the payload, wrapping. */
	CHECK_EQ(lie(AVA_MSG_CALL, L, 1, &(struct ref){ 9, 8, 0 }, -1),
		 AVA_ESHM);
	CHECK_EQ(lie(AVA_MSG_CALL, L, 1, &(struct ref){ L + 8, 8, 0 }, -1),
		 AVA_ESHM);
	CHECK_EQ(lie(AVA_MSG_CALL, L, 1, &(struct ref){ M - 7, 8, 0 }, -1),
		 AVA_ESHM);
	/* Lengths: zero, past the payload, wrapping with the offset. */
	CHECK_EQ(lie(AVA_MSG_CALL, L, 1, &(struct ref){ 8, 0, 0 }, -1),
		 AVA_ESHM);
	CHECK_EQ(lie(AVA_MSG_CALL, L, 1, &(struct ref){ 8, L, 0 }, -1),
		 AVA_ESHM);
	CHECK_EQ(lie(AVA_MSG_CALL, L, 1, &(struct ref){ 8, M - 7, 0 }, -1),
		 AVA_ESHM);
	/* The area: past its end, wrapping, and none at all. */
	CHECK_EQ(lie(AVA_MSG_CALL, L, 1, &(struct ref){ 8, 16, A - 8 }, -1),
		 AVA_ESHM);
	CHECK_EQ(lie(AVA_MSG_CALL, L, 1, &(struct ref){ 8, 16, M - 7 }, -1),
		 AVA_ESHM);
	CHECK_EQ(lie(AVA_MSG_CALL, L, 1, &(struct ref){ 8, 16, A }, -1),
		 AVA_ESHM);
	CHECK_EQ(lie(AVA_MSG_CALL, L, 1, &(struct ref){ 8, 16, 4096 }, 0),
		 AVA_ESHM);
	CHECK_EQ(lie(AVA_MSG_CALL, L, 1, &(struct ref){ 8, 16, 2 * L }, 2),
		 AVA_ESHM);
	/* Order: overlapping, backwards. */
	struct ref two[2] = { { 8, 64, 0 }, { 64, 8, 4096 } };
	CHECK_EQ(lie(AVA_MSG_CALL, L, 2, two, -1), AVA_ESHM);
	two[1].off = 0;
	CHECK_EQ(lie(AVA_MSG_CALL, L, 2, two, -1), AVA_ESHM);
	/* Frames that never have holes. */
	CHECK_EQ(lie(AVA_MSG_BATCH, L, 1, &ok, -1), AVA_ESHM);
	CHECK_EQ(lie(AVA_MSG_HELLO, L, 1, &ok, -1), AVA_ESHM);
	CHECK_EQ(lie(AVA_MSG_DEFERRED, L, 1, &ok, -1), AVA_ESHM);
}

/* A sealed region of `len` bytes, as a server makes one. */
static int
region(size_t len)
{
	int fd = memfd_create("ava-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	CHECK(fd >= 0 && ftruncate(fd, (off_t)len) == 0);
	CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0);
	return fd;
}

/* Map a region of `len` bytes claiming a bulk area of `bulk`. */
static int
map_region(size_t len, uint64_t bulk)
{
	int sv[2];
	struct ava_shm_conn *c;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK_EQ(ava_shm_conn_alloc(sv[0], "shm:test", &c), 0);
	int r = ava_shm_conn_map(c, region(len), false, 4096, 4096, bulk);
	ava_transport_conn_destroy(&c->base);
	close(sv[1]);
	return r;
}

/* The area's size, from the handshake or a handoff, is checked against
 * the region before anything is mapped. */
static void
bad_geometry(void)
{
	const size_t rings = AVA_SHM_CTL_SIZE + 2 * 4096;
	CHECK_EQ(map_region(rings + 8192, 8192), 0);
	CHECK_EQ(map_region(rings, 0), 0);
	CHECK_EQ(map_region(rings + 8192, 8192 + 8), AVA_ESHM);  /* unaligned */
	CHECK_EQ(map_region(rings + 8192, 4096), AVA_ESHM);      /* too small */
	CHECK_EQ(map_region(rings + 4096, 8192), AVA_ESHM);      /* too large */
	CHECK_EQ(map_region(rings + 4096, AVA_SHM_BULK_MAX + 4096), AVA_ESHM);
	CHECK_EQ(map_region(rings + 4096, UINT64_MAX - 4095), AVA_ESHM);
	/* A handoff's state of the old length (no bulk_size) is refused. */
	int sv[2];
	uint8_t state[48] = { 0 };
	struct ava_conn *c;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	ava_wire_put_le(state, AVA_SHM_MAGIC, 4);
	CHECK_EQ(ava_shm_adopt(sv[0], region(rings), state, 40, "shm:test",
			       &c), AVA_EPROTO);
	close(sv[1]);
}

/* A peer that sends `payload` with holes at `set` (offsets only). */
static int
send_holes(struct pair *p, struct ava_conn *from, uint8_t type, uint32_t fn,
	   const struct ava_buf *payload, const struct ava_bulk *holes)
{
	struct ava_bulk set = *holes;
	set.payload = payload->data;
	set.len = payload->len;
	for (uint32_t k = 0; k < set.n; k++)
		set.ref[k].at = payload->data + set.ref[k].off;
	ava_transport_bulk_stage(&set);
	struct ava_frame_header h = header(type, fn, payload->len);
	return ava_transport_conn_send(from, &h, payload->data);
}

/* Holes where the decoders take no shared bytes: malformed, each one. */
static void
misplaced_holes(void)
{
	struct loop l;
	struct pair p;
	struct ava_call c;
	loop_init(&l);
	pair_open(&p, addr, -1);
	greet(&p);
	ava_marshal_defer_bulk(false);   /* whole payloads, holes by hand */
	size_t n = 2 * AVA_BULK_MIN;
	uint8_t *src = pattern(n, 3), *dst = malloc(n);
	uint64_t v[3] = { n, (uintptr_t)src, (uintptr_t)dst }, ev[AVA_MAX_ARGS];
	const struct ava_fn_desc *fn = ava_api_fn(&fake_api, FAKE_FN_copy);
	struct ava_buf out;
	ava_buf_init(&out);
	CHECK_EQ(ava_marshal_call_encode(&fake_api, fn, v, &l.gops, ev, &out),
		 0);
	/* The payload: n, then src's length and bytes, then dst present. */
	struct ava_bulk cases[] = {
		{ .n = 1, .ref[0] = { .off = 16, .len = n } },   /* the one */
		{ .n = 1, .ref[0] = { .off = 0, .len = 8 } },    /* a scalar */
		{ .n = 1, .ref[0] = { .off = 16, .len = n - 8 } },  /* short */
		{ .n = 2, .ref = { { .off = 16, .len = 8 },
				   { .off = 32, .len = AVA_BULK_MIN } } },
		{ .n = 1, .ref[0] = { .off = 16 + n, .len = 8 } },  /* dst */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_EQ(send_holes(&p, p.g, AVA_MSG_CALL, FAKE_FN_copy, &out,
				    &cases[i]), 0);
		CHECK_EQ(ava_transport_conn_recv(p.s, &p.f), 0);
		int r = ava_marshal_call_decode(&fake_api, fn,
						p.f.payload.data,
						p.f.payload.len, &l.sops, &c);
		ava_call_finish(&c);
		CHECK_EQ(r, i == 0 ? 0 : AVA_EPROTO);
	}
	/* A small buffer (below AVA_BULK_MIN) is never a hole. */
	v[0] = 64;
	ava_buf_reset(&out);
	CHECK_EQ(ava_marshal_call_encode(&fake_api, fn, v, &l.gops, ev, &out),
		 0);
	struct ava_bulk small = { .n = 1, .ref[0] = { .off = 16, .len = 64 } };
	CHECK_EQ(send_holes(&p, p.g, AVA_MSG_CALL, FAKE_FN_copy, &out, &small),
		 0);
	CHECK_EQ(ava_transport_conn_recv(p.s, &p.f), 0);
	CHECK_EQ(ava_marshal_call_decode(&fake_api, fn, p.f.payload.data,
					 p.f.payload.len, &l.sops, &c),
		 AVA_EPROTO);
	ava_call_finish(&c);
	/* The guest's side: a REPLY (ret, then dst's length and bytes) with
	 * a hole over its return value, then one over dst's bytes. */
	v[0] = n;
	ava_buf_reset(&out);
	CHECK_EQ(ava_marshal_call_encode(&fake_api, fn, v, &l.gops, ev, &out),
		 0);   /* for ev */
	struct ava_buf reply;
	ava_buf_init(&reply);
	ava_buf_put_u64(&reply, FAKE_OK);
	ava_buf_put_u64(&reply, n);
	ava_buf_put_padded(&reply, src, n);
	struct ava_bulk bad = { .n = 1, .ref[0] = { .off = 0, .len = 8 } };
	struct ava_bulk good = { .n = 1, .ref[0] = { .off = 16, .len = n } };
	uint64_t ret, outv[AVA_MAX_ARGS];
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(send_holes(&p, p.s, AVA_MSG_REPLY, FAKE_FN_copy,
				    &reply, i ? &good : &bad), 0);
		CHECK_EQ(ava_transport_conn_recv(p.g, &p.f), 0);
		int r = ava_marshal_reply_decode(&fake_api, fn, v, ev, &l.gops,
						 p.f.payload.data,
						 p.f.payload.len, &ret, outv);
		CHECK_EQ(r, i ? 0 : AVA_EPROTO);
	}
	CHECK(memcmp(dst, src, n) == 0);
	ava_marshal_defer_bulk(true);
	ava_buf_finish(&out);
	ava_buf_finish(&reply);
	free(src);
	free(dst);
	pair_close(&p);
	loop_finish(&l);
}

/* ---- streams --------------------------------------------------------- */

/* From now on, for the whole process, fake_copy streams both ways (its
 * driver knows how: fake-driver.c); the tests above run before. */
static void
stream_copy(void)
{
	ava_marshal_stream_arg(fake_api.api_id, FAKE_FN_copy, 1);
	ava_marshal_stream_arg(fake_api.api_id, FAKE_FN_copy, 2);
}

/*
 * Both ways through the window: as large as it, larger and no multiple
 * of a piece, again and again (the positions go round and stay
 * in step); smaller buffers in place as before; the journal's private
 * bytes; a driver that fails halfway through a read, and one that never
 * takes a write's stream.
 */
static void
streams(void)
{
	struct loop l;
	struct pair p;
	struct trip t;
	loop_init(&l);
	pair_open(&p, addr, -1);
	greet(&p);
	stream_copy();
	check_copy(&l, &p, 4 * MIB, false, &t);
	CHECK(t.call_holes == 1 && t.reply_holes == 1);
	CHECK(t.call_streamed && t.reply_streamed);
	CHECK(!t.raw_shared && !t.out_shared);   /* the window is no ref's */
	for (int i = 0; i < 3; i++) {
		check_copy(&l, &p, 9 * MIB + 8 * (size_t)i, false, &t);
		CHECK(t.call_streamed && t.reply_streamed);
	}
	/* Below AVA_SHM_STREAM_MIN: in place. */
	check_copy(&l, &p, 3 * MIB, false, &t);
	CHECK(t.call_holes == 1 && !t.call_streamed && t.raw_shared);
	CHECK(t.reply_holes == 1 && !t.reply_streamed && t.out_shared);
	/* Journaled: the stream's bytes into the private payload, exactly,
	 * and a REPLY that carries them. */
	check_copy(&l, &p, 5 * MIB, true, &t);
	CHECK(t.call_streamed && t.reply_holes == 0 && !t.raw_shared);
	check_copy(&l, &p, 4 * MIB + 24, false, &t);
	CHECK(t.call_streamed && t.reply_streamed);
	/* A read that fails halfway: half the bytes came, the call fails,
	 * and the streams stay in step. */
	size_t n = FAKE_COPY_FAIL_N;
	uint8_t *src = pattern(n, 9), *dst = calloc(1, n);
	uint64_t v[3] = { n, (uintptr_t)src, (uintptr_t)dst };
	CHECK_EQ(call(&l, &p, FAKE_FN_copy, v, false, &t), FAKE_E_BUF);
	CHECK(t.call_streamed && t.reply_holes == 0);
	CHECK(dst[0] == (src[n - 1] ^ 0x5a) && dst[n - 1] == 0);
	/* A driver that never takes the write's stream (no out-buffer):
	 * the server takes it before it answers. */
	v[2] = 0;
	CHECK_EQ(call(&l, &p, FAKE_FN_copy, v, false, &t), FAKE_E_VALUE);
	CHECK(t.call_streamed);
	check_copy(&l, &p, 7 * MIB, false, &t);
	CHECK(t.call_streamed && t.reply_streamed);
	free(src);
	free(dst);
	pair_close(&p);
	/* A guest that does not stream (AVA_SHM_STREAM=0), and an area too
	 * small for a window: in place. */
	setenv("AVA_SHM_STREAM", "0", 1);
	pair_open(&p, addr, -1);
	unsetenv("AVA_SHM_STREAM");
	greet(&p);
	check_copy(&l, &p, 5 * MIB, false, &t);
	CHECK(!t.call_streamed && !t.reply_streamed && t.raw_shared);
	pair_close(&p);
	pair_open(&p, addr, 7);
	struct ava_shm_view vw;
	CHECK(ava_shm_conn_view(p.g, &vw) && vw.win == NULL);
	greet(&p);
	check_copy(&l, &p, 5 * MIB, false, &t);
	CHECK(!t.call_streamed && !t.reply_streamed && t.raw_shared);
	pair_close(&p);
	loop_finish(&l);
}

/* ---- a guest that lies about its stream -------------------------------- */

#define S AVA_SHM_REF_STREAM

/* Stream refs and flags where none may be: each breaks the rules. */
static void
bad_stream_frames(void)
{
	const uint64_t L = 8u << 20;
	const struct ref one = { 16, 4 * MIB, S };
	CHECK_EQ(lie(AVA_MSG_CALL, L, 1, &one, -1), AVA_EPROTO);  /* fine */
	CHECK_EQ(lie(AVA_MSG_CALL, L, 1, &one, 7), AVA_ESHM);     /* no window */
	CHECK_EQ(lie(AVA_MSG_REPLY, L, 1, &one, -1), AVA_ESHM);   /* to a server */
	struct ref two[2] = { { 16, MIB, S }, { 32 + MIB, MIB, S } };
	CHECK_EQ(lie(AVA_MSG_CALL, L, 2, two, -1), AVA_ESHM);
	/* A window offset as an area offset: refs stay out of it. */
	const struct ref win = { 16, 4096, (1u << 30) - MIB };
	CHECK_EQ(lie(AVA_MSG_CALL, L, 1, &win, -1), AVA_ESHM);
	/* Taking an out-stream: a CALL only, and only with a window. */
	const struct ref ok = { 16, 4096, 0 };
	lie_flags = AVA_SHM_FRAME_SINK;
	CHECK_EQ(lie(AVA_MSG_CALL, L, 1, &ok, -1), AVA_EPROTO);   /* fine */
	CHECK_EQ(lie(AVA_MSG_CALL, L, 1, &ok, 7), AVA_ESHM);
	CHECK_EQ(lie(AVA_MSG_REPLY, L, 1, &ok, -1), AVA_ESHM);
	lie_flags = 0;
}

struct liar {
	struct pair p;
	struct ava_shm_conn *s;           /* the server's end */
	struct ava_shm_stream_ctl *sc;    /* [0]: the guest's stream */
};

/* A CALL of fn whose buffer (argument 1 after u64 n: len bytes, a
 * multiple of 8) is streamed, written raw and received: the server's
 * in-stream is on, and nothing of it published. */
static void
liar_open(struct liar *x, uint32_t fn, uint64_t len)
{
	uint8_t w[40 + 32 + 24];
	pair_open(&x->p, addr, -1);
	greet(&x->p);
	struct ava_frame_header h = header(AVA_MSG_CALL, fn, 24 + len);
	h.flags = AVA_SHM_FRAME_BULK;
	ava_frame_header_encode(&h, w);
	ava_wire_put_le(w + 40, 1, 8);
	ava_wire_put_le(w + 48, 16, 8);
	ava_wire_put_le(w + 56, len, 8);
	ava_wire_put_le(w + 64, S, 8);
	ava_wire_put_le(w + 72, len, 8);   /* n */
	ava_wire_put_le(w + 80, len, 8);   /* the buffer's length */
	ava_wire_put_le(w + 88, 1, 8);     /* then its bytes; dst: present */
	CHECK_EQ(ava_shm_conn_write_raw(x->p.g, w, sizeof(w)), 0);
	CHECK_EQ(ava_transport_conn_recv(x->p.s, &x->p.f), 0);
	x->s = (struct ava_shm_conn *)x->p.s;
	CHECK(x->s->in.active && x->s->in.end == len);
	struct ava_shm_view v;
	CHECK(ava_shm_conn_view(x->p.g, &v));
	x->sc = (struct ava_shm_stream_ctl *)(v.base + AVA_SHM_STREAM_CTL);
}

static void
publish(struct liar *x, int k, bool head, uint64_t pos)
{
	__atomic_store_n(head ? &x->sc[k].head : &x->sc[k].tail, pos,
			 __ATOMIC_RELEASE);
	ava_shm_conn_kick(x->p.g);
}

/* The server takes what there is until it can take no more. */
static int
take_all(struct liar *x)
{
	const uint8_t *at;
	int r;
	while ((r = ava_shm_in_take(x->s, true, &at)) > 0)
		ava_shm_in_release(x->s, (uint64_t)r);
	return r;
}

static uint64_t
ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	int64_t ns = (int64_t)(t.tv_sec - t0->tv_sec) * 1000000000 +
		     (t.tv_nsec - t0->tv_nsec);
	return (uint64_t)ns / 1000000;
}

static void *
hang_up(void *arg)
{
	struct pair *p = arg;
	usleep(100 * 1000);
	ava_transport_conn_destroy(p->g);
	return NULL;
}

/* Progress words out of the rules: AVA_ESHM, sticky. */
static void
bad_progress(void)
{
	struct liar x;
	const uint64_t W = AVA_SHM_WINDOW;
	/* Beyond the transfer (inside the window). */
	liar_open(&x, FAKE_FN_copy, MIB);
	publish(&x, 0, true, MIB + 8);
	CHECK_EQ(take_all(&x), AVA_ESHM);
	CHECK_EQ(ava_transport_conn_recv(x.p.s, &x.p.f), AVA_ESHM);
	pair_close(&x.p);
	/* Beyond the window. */
	liar_open(&x, FAKE_FN_copy, 4 * W);
	publish(&x, 0, true, W + 4096);
	CHECK_EQ(take_all(&x), AVA_ESHM);
	pair_close(&x.p);
	/* Backwards, below what was taken. */
	liar_open(&x, FAKE_FN_copy, 4 * W);
	publish(&x, 0, true, MIB);
	const uint8_t *at;
	CHECK(ava_shm_in_take(x.s, true, &at) > 0);
	publish(&x, 0, true, 4096);
	CHECK_EQ(take_all(&x), AVA_ESHM);
	pair_close(&x.p);
	/* The same bytes twice is no lie: the server goes on. */
	liar_open(&x, FAKE_FN_copy, 2 * MIB);
	publish(&x, 0, true, MIB);
	CHECK_EQ(ava_shm_in_take(x.s, true, &at), (int)AVA_SHM_PIECE);
	ava_shm_in_release(x.s, AVA_SHM_PIECE);
	publish(&x, 0, true, 2 * MIB);
	CHECK_EQ(take_all(&x), 0);
	pair_close(&x.p);
	/* A stream where the function takes none: a malformed call. */
	struct loop l;
	struct ava_call c;
	loop_init(&l);
	liar_open(&x, FAKE_FN_inout, 2 * MIB);
	CHECK_EQ(ava_marshal_call_decode(&fake_api,
					 ava_api_fn(&fake_api, FAKE_FN_inout),
					 x.p.f.payload.data, x.p.f.payload.len,
					 &l.sops, &c), AVA_EPROTO);
	ava_call_finish(&c);
	pair_close(&x.p);
	loop_finish(&l);
}

/* A guest that never publishes holds its server up to the deadline, or
 * until it hangs up: never forever. */
static void
stalled_guest(void)
{
	struct liar x;
	struct timespec t0;
	ava_shm_set_stream_deadline(200);
	liar_open(&x, FAKE_FN_copy, 2 * MIB);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(take_all(&x), -ETIMEDOUT);
	CHECK(ms_since(&t0) >= 150 && ms_since(&t0) < 5000);
	CHECK_EQ(ava_transport_conn_recv(x.p.s, &x.p.f), -ETIMEDOUT);
	pair_close(&x.p);
	/* The same where its hook took none: the REPLY waits for it. */
	liar_open(&x, FAKE_FN_copy, 2 * MIB);
	publish(&x, 0, true, MIB);
	struct ava_frame_header h = header(AVA_MSG_REPLY, FAKE_FN_copy, 0);
	CHECK_EQ(ava_transport_conn_send(x.p.s, &h, NULL), -ETIMEDOUT);
	pair_close(&x.p);
	/* Journaled: what came is kept, the rest is zeros. */
	liar_open(&x, FAKE_FN_copy, 2 * MIB);
	uint8_t *q = x.p.f.payload.data;
	memset(q + 16, 0xee, 2 * MIB);
	struct ava_shm_view v;
	CHECK(ava_shm_conn_view(x.p.g, &v));
	memset(v.win, 0x11, MIB);
	publish(&x, 0, true, MIB);
	ava_transport_conn_bulk_inline(x.p.s, q, x.p.f.payload.len);
	CHECK(q[16] == 0x11 && q[16 + MIB - 1] == 0x11 && q[16 + MIB] == 0 &&
	      q[16 + 2 * MIB - 1] == 0);
	CHECK_EQ(ava_transport_conn_send(x.p.s, &h, NULL), -ETIMEDOUT);
	pair_close(&x.p);
	/* Hanging up ends the wait at once, deadline or not. */
	ava_shm_set_stream_deadline(10000);
	liar_open(&x, FAKE_FN_copy, 2 * MIB);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, hang_up, &x.p) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(take_all(&x), AVA_ECLOSED);
	CHECK(ms_since(&t0) < 5000);
	pthread_join(th, NULL);
	x.p.g = NULL;
	pair_close(&x.p);
}

/* A guest that never takes what its server streams to it, or lies about
 * what it took (the tail of [1]). */
static void
stalled_reader(void)
{
	struct liar x;
	uint8_t *at;
	ava_shm_set_stream_deadline(200);
	liar_open(&x, FAKE_FN_copy, 8);   /* any CALL, its bytes taken */
	publish(&x, 0, true, 8);
	CHECK_EQ(take_all(&x), 0);
	ava_shm_out_start(x.s, 16 * MIB);
	int r;
	while ((r = ava_shm_out_reserve(x.s, true, &at)) > 0)
		ava_shm_out_publish(x.s, (uint64_t)r);
	CHECK_EQ(r, -ETIMEDOUT);
	pair_close(&x.p);
	liar_open(&x, FAKE_FN_copy, 8);
	publish(&x, 0, true, 8);
	CHECK_EQ(take_all(&x), 0);
	ava_shm_out_start(x.s, 16 * MIB);
	CHECK_EQ(ava_shm_out_reserve(x.s, true, &at), (int)AVA_SHM_PIECE);
	ava_shm_out_publish(x.s, AVA_SHM_PIECE);
	publish(&x, 1, false, 64 * MIB);   /* past all it will publish */
	while ((r = ava_shm_out_reserve(x.s, true, &at)) > 0)
		ava_shm_out_publish(x.s, (uint64_t)r);
	CHECK_EQ(r, AVA_ESHM);
	pair_close(&x.p);
	/* The window is the in-stream's until it is all taken. */
	liar_open(&x, FAKE_FN_copy, 8);
	ava_shm_out_start(x.s, 16 * MIB);
	CHECK_EQ(ava_shm_out_reserve(x.s, true, &at), AVA_EPROTO);
	pair_close(&x.p);
	ava_shm_set_stream_deadline(10000);
}

/* The guest's side: a server that streams more than the sink takes, or
 * names other bytes than it took. */
static void
lying_server(void)
{
	for (int k = 0; k < 2; k++) {
		struct loop l;
		struct pair p;
		loop_init(&l);
		pair_open(&p, addr, -1);
		greet(&p);
		size_t n = AVA_SHM_STREAM_MIN;
		uint8_t *src = pattern(n, 4), *dst = malloc(n);
		uint64_t v[3] = { n, (uintptr_t)src, (uintptr_t)dst };
		uint64_t ev[AVA_MAX_ARGS];
		struct ava_buf out;
		ava_buf_init(&out);
		CHECK_EQ(ava_marshal_call_encode(&fake_api,
			ava_api_fn(&fake_api, FAKE_FN_copy), v, &l.gops, ev,
			&out), 0);
		struct ava_frame_header h = header(AVA_MSG_CALL, FAKE_FN_copy,
						   out.len);
		CHECK_EQ(ava_transport_conn_send(p.g, &h, out.data), 0);
		struct ava_shm_view vw;
		CHECK(ava_shm_conn_view(p.s, &vw));
		struct ava_shm_stream_ctl *sc = (struct ava_shm_stream_ctl *)
						(vw.base + AVA_SHM_STREAM_CTL);
		/* 0: past the sink; 1: a REPLY naming bytes never sent. */
		uint8_t w[40 + 32 + 16];
		h = header(AVA_MSG_REPLY, FAKE_FN_copy, k ? 16 + n : 8);
		h.flags = k ? AVA_SHM_FRAME_BULK : 0;
		ava_frame_header_encode(&h, w);
		ava_wire_put_le(w + 40, 1, 8);
		ava_wire_put_le(w + 48, 16, 8);
		ava_wire_put_le(w + 56, n, 8);
		ava_wire_put_le(w + 64, S, 8);
		if (k == 0)
			__atomic_store_n(&sc[1].head, n + 8, __ATOMIC_RELEASE);
		CHECK_EQ(ava_shm_conn_write_raw(p.s, w, k ? sizeof(w) : 48),
			 0);
		CHECK_EQ(ava_transport_conn_recv(p.g, &p.f), AVA_ESHM);
		ava_buf_finish(&out);
		free(src);
		free(dst);
		pair_close(&p);
		loop_finish(&l);
	}
}

int
main(void)
{
	snprintf(addr, sizeof(addr), "shm:/tmp/ava-test-bulk-%d.sock",
		 (int)getpid());
	ava_marshal_defer_bulk(true);   /* as the guest library does */
	RUN(in_place);
	RUN(fallbacks);
	RUN(staging);
	RUN(bad_geometry);
	RUN(bad_tables);
	RUN(misplaced_holes);
	RUN(streams);   /* from here on, fake_copy streams */
	RUN(bad_stream_frames);
	RUN(bad_progress);
	RUN(stalled_guest);
	RUN(stalled_reader);
	RUN(lying_server);
	return 0;
}
