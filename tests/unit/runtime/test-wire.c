/*
 * test-wire.c - frame headers, buffers, the bounds-checked reader and
 * frame receive over a socket pair, on good, truncated, oversized and
 * garbage input.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ava-error.h"
#include "rt-test.h"
#include "transport-private.h"
#include "wire.h"

static struct ava_frame_header
sample(void)
{
	return (struct ava_frame_header){
		.magic = AVA_PROTOCOL_MAGIC, .version = AVA_PROTOCOL_VERSION,
		.type = AVA_MSG_CALL, .api = 7, .fn = 0x01020304,
		.thread = 5, .flags = AVA_FRAME_ASYNC, .seq = 0x1122334455667788,
		.len = 16 };
}

static void
header_round_trip(void)
{
	struct ava_frame_header h = sample(), g;
	uint8_t b[AVA_FRAME_HEADER_SIZE];
	ava_frame_header_encode(&h, b);
	/* Explicit little-endian layout, byte by byte. */
	CHECK(b[0] == 0x41 && b[1] == 0x56 && b[2] == 0x41 && b[3] == 0x31);
	CHECK(b[8] == 0x04 && b[11] == 0x01);
	CHECK(b[24] == 0x88 && b[31] == 0x11);
	CHECK_EQ(ava_frame_header_decode(b, sizeof(b), &g), 0);
	CHECK(memcmp(&h, &g, sizeof(h)) == 0);
}

static int
decode_mutated(size_t off, uint8_t val, size_t n)
{
	struct ava_frame_header h = sample(), g;
	uint8_t b[AVA_FRAME_HEADER_SIZE];
	ava_frame_header_encode(&h, b);
	if (off < sizeof(b))
		b[off] = val;
	return ava_frame_header_decode(b, n, &g);
}

static void
header_rejects(void)
{
	CHECK_EQ(decode_mutated(99, 0, 39), AVA_EPROTO);      /* short */
	CHECK_EQ(decode_mutated(0, 0x42, 40), AVA_EPROTO);    /* magic */
	CHECK_EQ(decode_mutated(4, 2, 40), AVA_EVERSION);     /* version */
	CHECK_EQ(decode_mutated(6, 0, 40), AVA_EPROTO);       /* type 0 */
	CHECK_EQ(decode_mutated(6, 200, 40), AVA_EPROTO);     /* type */
	CHECK_EQ(decode_mutated(20, 1, 40), AVA_EPROTO);      /* reserved */
	CHECK_EQ(decode_mutated(39, 0xff, 40), AVA_ETOOBIG);  /* len */
	CHECK_EQ(decode_mutated(36, 0x40, 40), AVA_ETOOBIG);  /* 2^38 + 16 */
}

static void
buffer_and_reader(void)
{
	struct ava_buf b;
	ava_buf_init(&b);
	for (int i = 0; i < 1000; i++)
		ava_buf_put_u64(&b, (uint64_t)i);
	ava_buf_put_padded(&b, "abc", 3);
	CHECK_EQ(ava_buf_error(&b), 0);
	CHECK_EQ(b.len, 8008);
	struct ava_reader r;
	ava_reader_init(&r, b.data, b.len);
	uint64_t x;
	uint8_t *p;
	for (int i = 0; i < 1000; i++) {
		CHECK_EQ(ava_reader_u64(&r, &x), 0);
		CHECK_EQ(x, i);
	}
	CHECK_EQ(ava_reader_bytes(&r, UINT64_MAX, &p), AVA_EPROTO);
	CHECK_EQ(ava_reader_bytes(&r, UINT64_MAX - 3, &p), AVA_EPROTO);
	CHECK_EQ(ava_reader_bytes(&r, 9, &p), AVA_EPROTO);
	CHECK(!ava_reader_has_words(&r, 2));
	CHECK(!ava_reader_has_words(&r, UINT64_MAX));
	CHECK_EQ(ava_reader_bytes(&r, 3, &p), 0);
	CHECK(memcmp(p, "abc", 3) == 0 && p[3] == 0);
	CHECK_EQ(r.left, 0);
	CHECK_EQ(ava_reader_u64(&r, &x), AVA_EPROTO);
	/* Sticky errors: an oversized append fails, and so does the next. */
	CHECK_EQ(ava_buf_put_padded(&b, "x", (size_t)AVA_FRAME_MAX + 1),
		 AVA_ETOOBIG);
	CHECK_EQ(ava_buf_put_u64(&b, 1), AVA_ETOOBIG);
	ava_buf_finish(&b);
}

/* Write raw bytes into one end of a socket pair, receive on the other. */
static int
recv_raw(const void *bytes, size_t n, struct ava_frame *f)
{
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK_EQ(ava_io_write_full(sv[0], bytes, n), 0);
	close(sv[0]);
	ava_buf_init(&f->payload);
	int r = ava_stream_recv_frame(sv[1], f);
	close(sv[1]);
	return r;
}

static void
recv_frames(void)
{
	struct ava_frame f;
	struct ava_frame_header h = sample();
	uint8_t b[AVA_FRAME_HEADER_SIZE + 16] = { 0 };
	ava_frame_header_encode(&h, b);
	memcpy(b + 40, "0123456789abcdef", 16);

	CHECK_EQ(recv_raw(b, sizeof(b), &f), 0);
	CHECK_EQ(f.payload.len, 16);
	CHECK(memcmp(f.payload.data, "0123456789abcdef", 16) == 0);
	ava_buf_finish(&f.payload);

	CHECK_EQ(recv_raw(b, 0, &f), AVA_ECLOSED);          /* clean EOF */
	CHECK_EQ(recv_raw(b, 12, &f), AVA_EPROTO);          /* in header */
	CHECK_EQ(f.got, 12);
	CHECK_EQ(recv_raw(b, 50, &f), AVA_EPROTO);          /* in payload */
	CHECK_EQ(f.got, 10);
	ava_buf_finish(&f.payload);

	/* A claimed length over the limit is refused before any payload is
	 * allocated or read. */
	h.len = 9999999999ull;
	ava_frame_header_encode(&h, b);
	CHECK_EQ(recv_raw(b, 40, &f), AVA_ETOOBIG);
	CHECK_EQ(f.h.len, 9999999999ull);
	CHECK(f.payload.cap == 0);

	/* A length under the limit but never sent: memory follows the bytes
	 * that arrive, not the claim. */
	h.len = AVA_FRAME_MAX;
	ava_frame_header_encode(&h, b);
	CHECK_EQ(recv_raw(b, 56, &f), AVA_EPROTO);
	CHECK(f.payload.cap <= 2u << 20);
	ava_buf_finish(&f.payload);

	memset(b, 0xA5, sizeof(b));                           /* garbage */
	CHECK_EQ(recv_raw(b, sizeof(b), &f), AVA_EPROTO);
}

static void
addresses(void)
{
	struct ava_addr a;
	CHECK_EQ(ava_transport_addr_parse("unix:/tmp/x.sock", &a), 0);
	CHECK(a.kind == AVA_ADDR_UNIX && strcmp(a.path, "/tmp/x.sock") == 0);
	CHECK_EQ(ava_transport_addr_parse("tcp:host.example:7000", &a), 0);
	CHECK(a.kind == AVA_ADDR_TCP && a.port == 7000 &&
	      strcmp(a.host, "host.example") == 0);
	CHECK_EQ(ava_transport_addr_parse("shm:/ava", &a), 0);
	CHECK(a.kind == AVA_ADDR_SHM);
	CHECK_EQ(ava_transport_addr_parse("unix:", &a), AVA_EADDR);
	CHECK_EQ(ava_transport_addr_parse("tcp:host:0", &a), AVA_EADDR);
	CHECK_EQ(ava_transport_addr_parse("tcp:host:99999", &a), AVA_EADDR);
	CHECK_EQ(ava_transport_addr_parse("tcp:host", &a), AVA_EADDR);
	CHECK_EQ(ava_transport_addr_parse("/tmp/x", &a), AVA_EADDR);
	char longp[300] = "unix:";
	memset(longp + 5, 'a', 200);
	CHECK_EQ(ava_transport_addr_parse(longp, &a), -ENAMETOOLONG);
	CHECK_EQ(ava_transport_addr_parse("tcp:[::1]:7000", &a), 0);
	CHECK(a.kind == AVA_ADDR_TCP && strcmp(a.host, "[::1]") == 0);
	CHECK_EQ(ava_transport_addr_parse("tcp:host:x", &a), AVA_EADDR);
	/* Port 0 is for listening only: the listener names the port it got. */
	struct ava_conn *c;
	struct ava_listener *l;
	CHECK_EQ(ava_transport_connect("tcp:127.0.0.1:0", &c), AVA_EADDR);
	CHECK_EQ(ava_transport_listen("tcp:127.0.0.1:0", &l), 0);
	const char *got = ava_transport_listener_addr(l);
	CHECK(strncmp(got, "tcp:127.0.0.1:", 14) == 0 && atoi(got + 14) > 0);
	ava_transport_listener_destroy(l);
	CHECK_EQ(ava_transport_listen("tcp:no-such-host.invalid:0", &l),
		 -ENXIO);
}

static void
unix_round_trip(void)
{
	char path[64];
	snprintf(path, sizeof(path), "unix:/tmp/ava-test-wire-%d.sock",
		 (int)getpid());
	struct ava_listener *l;
	struct ava_conn *c, *s;
	CHECK_EQ(ava_transport_listen(path, &l), 0);
	CHECK_EQ(ava_transport_connect(path, &c), 0);
	CHECK_EQ(ava_transport_listener_accept(l, &s), 0);
	/* A second server on the same live path is refused. */
	struct ava_listener *l2;
	CHECK_EQ(ava_transport_listen(path, &l2), -EADDRINUSE);
	struct ava_frame_header h = sample();
	CHECK_EQ(ava_transport_conn_send(c, &h, "0123456789abcdef"), 0);
	struct ava_frame f;
	ava_buf_init(&f.payload);
	CHECK_EQ(ava_transport_conn_recv(s, &f), 0);
	CHECK_EQ(f.h.seq, h.seq);
	CHECK_EQ(f.payload.len, 16);
	ava_transport_conn_destroy(c);
	CHECK_EQ(ava_transport_conn_recv(s, &f), AVA_ECLOSED);
	/* Sending to a closed peer fails with an error, not SIGPIPE. */
	int r = 0;
	for (int i = 0; i < 100 && r == 0; i++)
		r = ava_transport_conn_send(s, &h, "0123456789abcdef");
	CHECK(r == -EPIPE || r == -ECONNRESET);
	ava_transport_conn_destroy(s);
	ava_buf_finish(&f.payload);
	ava_transport_listener_destroy(l);
	CHECK(access(path + 5, F_OK) != 0);
	/* A stale socket file (no server behind it) is replaced. */
	CHECK_EQ(ava_transport_listen(path, &l), 0);
	ava_transport_listener_abandon(l);
	CHECK(access(path + 5, F_OK) == 0);
	CHECK_EQ(ava_transport_listen(path, &l), 0);
	ava_transport_listener_destroy(l);
}

/* BATCH payloads: frames come out whole, or the batch is refused. */
static void
batches(void)
{
	struct ava_buf b;
	struct ava_batch_reader br;
	struct ava_frame_header h = sample(), g;
	uint8_t *p;
	uint64_t base;
	ava_buf_init(&b);
	CHECK_EQ(ava_batch_begin(&br, b.data, 0, &base), AVA_EPROTO);
	ava_buf_put_u64(&b, 42);
	CHECK_EQ(ava_batch_put_frame(&b, &h, "0123456789abcdef", 16), 0);
	h.flags = 0;
	h.len = 0;
	CHECK_EQ(ava_batch_put_frame(&b, &h, NULL, 0), 0);
	CHECK_EQ(ava_batch_begin(&br, b.data, b.len, &base), 0);
	CHECK_EQ(base, 42);
	CHECK_EQ(ava_batch_next(&br, &g, &p), 1);
	CHECK(g.flags == AVA_FRAME_ASYNC && g.len == 16 &&
	      memcmp(p, "0123456789abcdef", 16) == 0);
	CHECK_EQ(ava_batch_next(&br, &g, &p), 1);
	CHECK(g.flags == 0 && g.len == 0);
	CHECK_EQ(ava_batch_next(&br, &g, &p), 0);
	/* One byte short: the last frame runs past the batch. */
	CHECK_EQ(ava_batch_begin(&br, b.data, b.len - 1, &base), 0);
	CHECK_EQ(ava_batch_next(&br, &g, &p), 1);
	CHECK_EQ(ava_batch_next(&br, &g, &p), AVA_EPROTO);
	/* A payload longer than the batch, and a frame that is no CALL. */
	ava_wire_put_le(b.data + 8 + 32, 17 + 40, 8);
	CHECK_EQ(ava_batch_begin(&br, b.data, b.len, &base), 0);
	CHECK_EQ(ava_batch_next(&br, &g, &p), AVA_EPROTO);
	ava_wire_put_le(b.data + 8 + 32, 16, 8);
	b.data[8 + 6] = AVA_MSG_REPLY;
	CHECK_EQ(ava_batch_begin(&br, b.data, b.len, &base), 0);
	CHECK_EQ(ava_batch_next(&br, &g, &p), AVA_EPROTO);
	ava_buf_finish(&b);
}

/* A buffer that grew large gives its storage back after AVA_BUF_IDLE
 * small uses in a row, and not while large uses keep coming. */
static void
buffer_done(void)
{
	struct ava_buf b;
	uint8_t *at;
	ava_buf_init(&b);
	CHECK_EQ(ava_buf_put_zeros(&b, AVA_BUF_KEEP + 1, &at), 0);
	uint8_t *big = b.data;
	ava_buf_done(&b);
	CHECK_EQ(b.len, 0);
	for (unsigned i = 1; i < AVA_BUF_IDLE; i++) {
		CHECK_EQ(ava_buf_put_u64(&b, i), 0);
		ava_buf_done(&b);
	}
	CHECK(b.data == big);            /* kept so far */
	/* Another large use: the count starts again. */
	CHECK_EQ(ava_buf_put_zeros(&b, AVA_BUF_KEEP + 1, &at), 0);
	ava_buf_done(&b);
	for (unsigned i = 1; i < AVA_BUF_IDLE; i++) {
		CHECK_EQ(ava_buf_put_u64(&b, i), 0);
		ava_buf_done(&b);
	}
	CHECK(b.data != NULL && b.cap > AVA_BUF_KEEP);
	CHECK_EQ(ava_buf_put_u64(&b, 1), 0);
	ava_buf_done(&b);
	CHECK(b.data == NULL && b.cap == 0);
	/* A small buffer is never given back. */
	CHECK_EQ(ava_buf_put_u64(&b, 7), 0);
	for (unsigned i = 0; i < 2 * AVA_BUF_IDLE; i++)
		ava_buf_done(&b);
	CHECK(b.data != NULL);
	ava_buf_finish(&b);
}

int
main(void)
{
	RUN(header_round_trip);
	RUN(batches);
	RUN(header_rejects);
	RUN(buffer_and_reader);
	RUN(buffer_done);
	RUN(recv_frames);
	RUN(addresses);
	RUN(unix_round_trip);
	return 0;
}
