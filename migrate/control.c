/*
 * control.c - the server's side of the operator's commands: a CONTROL
 * connection is authenticated, then asks for a checkpoint of a running
 * session or brings an image to restore (doc/migration.md).
 *
 * Checkpoint: the session is paused at a call boundary, its state goes
 * out as an image stream in IMAGE frames, and it resumes; the operator's
 * DONE says whether the image is whole. Restore: the image comes in as
 * IMAGE frames and each record is applied as it arrives, so a damaged
 * image stops at its first bad record; the half-built state is dropped,
 * and nothing of it stays on the server.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "ava-error.h"
#include "control.h"
#include "image.h"
#include "protocol.h"
#include "session-move.h"
#include "u64map.h"
#include "wire.h"

/* The session hands out object flags as the image stores them. */
_Static_assert((int)AVA_CAPTURE_LIVE == (int)AVA_IMG_OBJ_LIVE &&
	       (int)AVA_CAPTURE_STATE == (int)AVA_IMG_OBJ_STATE &&
	       (int)AVA_CAPTURE_SUBSTITUTE == (int)AVA_IMG_OBJ_SUBSTITUTE,
	       "capture and image object flags agree");

/* How long a checkpoint waits for the guest's running calls. */
#define PAUSE_MS 10000
/* How long a restored session waits for its guest to come back. */
#define RESUME_WAIT_MS 120000

int
ava_ctl_send(struct ava_conn *c, uint8_t type, uint32_t fn, const void *p,
	     size_t n)
{
	struct ava_frame_header h = {
		.magic = AVA_PROTOCOL_MAGIC, .version = AVA_PROTOCOL_VERSION,
		.type = type, .fn = fn, .len = n,
	};
	return ava_transport_conn_send(c, &h, p);
}

/* An ERROR or a DONE: i32 status, then the text. */
static int
send_status(struct ava_conn *c, uint8_t type, uint32_t fn, int status,
	    const char *text)
{
	size_t n = strlen(text);
	uint8_t *p = malloc(4 + n);
	if (p == NULL)
		return -ENOMEM;
	ava_wire_put_le(p, (uint32_t)status, 4);
	memcpy(p + 4, text, n);
	int r = ava_ctl_send(c, type, fn, p, 4 + n);
	free(p);
	return r;
}

int
ava_ctl_done(struct ava_conn *c, int status, const char *text)
{
	return send_status(c, AVA_MSG_CONTROL, AVA_CTL_DONE, status, text);
}

int
ava_ctl_open(const char *addr, uint64_t session,
	     const struct ava_api_desc *api, const char *secret_file,
	     struct ava_conn **out, char *why, size_t nwhy)
{
	struct ava_conn *c;
	struct ava_frame f;
	char w2[200] = "";
	int r = ava_transport_connect(addr, &c);
	if (r < 0) {
		snprintf(why, nwhy, "cannot reach %s: %s", addr,
			 ava_strerror(r));
		return r;
	}
	uint8_t w[32] = { 0 };
	ava_wire_put_le(w, api->spec_hash, 4);
	ava_wire_put_le(w + 4, (uint32_t)getpid(), 4);
	ava_wire_put_le(w + 8, session, 8);
	ava_wire_put_le(w + 24, AVA_HELLO_CONTROL, 4);
	ava_buf_init(&f.payload);
	struct ava_frame_header h = { .magic = AVA_PROTOCOL_MAGIC,
		.version = AVA_PROTOCOL_VERSION, .type = AVA_MSG_HELLO,
		.api = api->api_id, .len = sizeof(w) };
	r = ava_transport_conn_send(c, &h, w);
	if (r == 0)
		r = ava_transport_conn_recv(c, &f);
	if (r < 0) {
		snprintf(why, nwhy, "%s: %s", addr, r == AVA_ECLOSED ?
			 "the server closed the connection" : ava_strerror(r));
	} else if (f.h.type == AVA_MSG_ERROR) {
		size_t n = f.payload.len > 4 ? f.payload.len - 4 : 0;
		snprintf(why, nwhy, "%s refused: %.*s", addr, (int)n,
			 n ? (const char *)f.payload.data + 4 : "");
		r = AVA_EAUTH;
	} else if (f.h.type == AVA_MSG_CONTROL &&
		   f.h.fn == AVA_CTL_AUTH_CHALLENGE) {
		struct ava_secret sec;
		if (secret_file == NULL) {
			snprintf(why, nwhy, "%s asks for the shared secret, "
				 "and none was given (--secret FILE)", addr);
			r = AVA_EAUTH;
		} else if ((r = ava_secret_load(secret_file, &sec, w2,
						sizeof(w2))) == 0) {
			r = ava_auth_answer(c, &f, &sec, w2, sizeof(w2));
			ava_secret_clear(&sec);
		}
		if (r < 0 && why[0] == '\0')
			snprintf(why, nwhy, "%s", w2);
	} else if (f.h.type != AVA_MSG_CONTROL || f.h.fn != AVA_CTL_READY) {
		snprintf(why, nwhy, "%s: unexpected answer (message type %u)",
			 addr, f.h.type);
		r = AVA_EPROTO;
	}
	ava_buf_finish(&f.payload);
	if (r < 0) {
		ava_transport_conn_destroy(c);
		return r;
	}
	*out = c;
	return 0;
}

/* ---- the image over IMAGE frames ------------------------------------- */

int
ava_ctl_image_write(void *ctx, const void *p, size_t n)
{
	struct ava_conn *c = ctx;
	const uint8_t *b = p;
	while (n > 0) {
		size_t k = n < AVA_CTL_IMAGE_FRAME ? n : AVA_CTL_IMAGE_FRAME;
		int r = ava_ctl_send(c, AVA_MSG_IMAGE, 0, b, k);
		if (r < 0)
			return r;
		b += k;
		n -= k;
	}
	return 0;
}

void
ava_ctl_image_in_init(struct ava_ctl_image_in *in, struct ava_conn *c)
{
	*in = (struct ava_ctl_image_in){ .c = c };
	ava_buf_init(&in->f.payload);
}

void
ava_ctl_image_in_finish(struct ava_ctl_image_in *in)
{
	ava_buf_finish(&in->f.payload);
}

int
ava_ctl_image_read(void *ctx, void *p, size_t n)
{
	struct ava_ctl_image_in *in = ctx;
	uint8_t *b = p;
	size_t want = n;
	while (n > 0) {
		if (in->off == in->f.payload.len) {
			if (in->ended)
				return want == n ? AVA_ECLOSED : AVA_EPROTO;
			int r = ava_transport_conn_recv(in->c, &in->f);
			if (r < 0)
				return r;
			if (in->f.h.type == AVA_MSG_CONTROL &&
			    in->f.h.fn == AVA_CTL_SYNC && in->f.h.len == 0) {
				/* All before it is applied: say so. */
				ava_buf_reset(&in->f.payload);
				in->off = 0;
				r = ava_ctl_send(in->c, AVA_MSG_CONTROL,
						 AVA_CTL_SYNC, NULL, 0);
				if (r < 0)
					return r;
				continue;
			}
			if (in->f.h.type != AVA_MSG_IMAGE)
				return AVA_EPROTO;
			in->off = 0;
			in->ended = in->f.h.len == 0;
			continue;
		}
		size_t k = in->f.payload.len - in->off;
		if (k > n)
			k = n;
		memcpy(b, in->f.payload.data + in->off, k);
		in->off += k;
		b += k;
		n -= k;
	}
	return 0;
}

/* ---- authentication ---------------------------------------------------- */

/* Prove the peer is allowed: with a secret, a challenge; without one,
 * only a local socket's peer (its permissions are the gate). */
static int
admit(struct ava_conn *c, const struct ava_server_config *cfg, char *why,
      size_t nwhy)
{
	const char *addr = ava_transport_conn_addr(c);
	if (cfg->secret_file != NULL) {
		struct ava_secret sec;
		int r = ava_secret_load(cfg->secret_file, &sec, why, nwhy);
		if (r == 0)
			r = ava_auth_challenge(c, &sec, why, nwhy);
		ava_secret_clear(&sec);
		return r;
	}
	if (strncmp(addr, "tcp:", 4) == 0) {
		snprintf(why, nwhy, "control over tcp: needs a shared secret "
			 "(start the server with --secret FILE)");
		return AVA_EAUTH;
	}
	return ava_ctl_send(c, AVA_MSG_CONTROL, AVA_CTL_READY, NULL, 0);
}

static int
refuse(struct ava_conn *c, int code, const char *why)
{
	send_status(c, AVA_MSG_ERROR, 0, code, why);
	return code;
}

static void
log_line(uint64_t session, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
log_line(uint64_t session, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dprintf(STDERR_FILENO, "ava server: session %" PRIu64 " (pid %d): "
		"%s\n", session, (int)getpid(), msg);
}

/* The request after admission: one CONTROL frame. */
static int
request(struct ava_conn *c, struct ava_frame *f, uint32_t *op)
{
	int r = ava_transport_conn_recv(c, f);
	if (r < 0)
		return r;
	if (f->h.type != AVA_MSG_CONTROL)
		return AVA_EPROTO;
	*op = f->h.fn;
	return 0;
}

/* ---- checkpoint -------------------------------------------------------- */

struct cp {
	struct ava_session *s;
	struct ava_img_writer *w;
	struct ava_session_info info;
	uint64_t objects, calls;
};

static int
cp_threads(void *ctx, const uint32_t *threads, const uint64_t *seqs,
	   size_t n, uint64_t live_bytes)
{
	struct cp *cp = ctx;
	struct ava_img_thread *t = calloc(n ? n : 1, sizeof(*t));
	char source[AVA_IMG_TEXT_MAX];
	struct timespec now;
	if (t == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		t[i] = (struct ava_img_thread){ threads[i], seqs[i] };
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(source, sizeof(source), "%s (server pid %d)",
		 cp->info.addr, (int)getppid());
	struct ava_img_header h = {
		.api_id = cp->info.api->api_id,
		.spec_hash = cp->info.api->spec_hash,
		.session = cp->info.id, .token = cp->info.token,
		.owner = cp->info.owner, .async_done = cp->info.async_done,
		.created_ns = (uint64_t)now.tv_sec * 1000000000u +
			      (uint64_t)now.tv_nsec,
		.live_bytes = live_bytes, .source = source,
		.device = cp->info.api->name, .nthreads = (uint32_t)n,
		.threads = t,
	};
	int r = ava_img_put_header(cp->w, &h);
	free(t);
	return r;
}

static int
cp_call(void *ctx, const struct ava_state_call *c)
{
	struct cp *cp = ctx;
	struct ava_img_call k = { .seq = c->seq, .thread = c->thread,
		.fn = c->fn, .call = c->call, .call_len = c->call_len,
		.reply = (const uint8_t *)c->ids,
		.reply_len = (uint64_t)c->nids * 8 };
	cp->calls++;
	return ava_img_put_call(cp->w, &k);
}

static int
cp_object(void *ctx, uint64_t id, uint16_t type, uint32_t refs,
	  uint32_t flags, uint64_t size, uint64_t parent)
{
	struct cp *cp = ctx;
	struct ava_img_object o = { .id = id, .type = type, .refs = refs,
		.flags = flags, .size = size, .parent = parent };
	cp->objects++;
	return ava_img_put_object(cp->w, &o);
}

static int
cp_state(void *ctx, uint64_t id, uint64_t offset, uint64_t total,
	 const void *data, size_t n)
{
	struct cp *cp = ctx;
	struct ava_img_state st = { .id = id, .offset = offset,
		.total = total, .data = data, .len = n };
	return ava_img_put_state(cp->w, &st);
}

/*
 * The ids a kept call handed out travel as its "reply" bytes: u64 each,
 * little-endian. The tracker holds them in host order, so a big-endian
 * host would need a swap here; ava builds on little-endian hosts only
 * (wire.h).
 */
static int
checkpoint(struct ava_session *s, struct ava_conn *c)
{
	struct cp cp = { .s = s };
	char why[300] = "";
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ava_session_info(s, &cp.info);
	int r = ava_session_pause(s, PAUSE_MS, why, sizeof(why));
	if (r < 0)
		return ava_ctl_done(c, r, why);
	r = ava_img_writer_create(ava_ctl_image_write, c, &cp.w);
	struct ava_capture_sink k = { .ctx = &cp, .threads = cp_threads,
		.call = cp_call, .object = cp_object, .state = cp_state,
		.chunk = AVA_IMG_CHUNK };
	if (r == 0)
		r = ava_session_capture(s, &k, why, sizeof(why));
	if (r == 0)
		r = ava_img_writer_finish(cp.w);
	uint64_t bytes = cp.w != NULL ? ava_img_writer_bytes(cp.w) : 0;
	ava_img_writer_destroy(cp.w);
	ava_session_unpause(s);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (t1.tv_sec - t0.tv_sec) * 1e3 +
		    (t1.tv_nsec - t0.tv_nsec) / 1e6;
	if (r < 0) {
		if (why[0] == '\0')
			snprintf(why, sizeof(why), "%s", ava_strerror(r));
		log_line(cp.info.id, "checkpoint failed: %s", why);
		return ava_ctl_done(c, r, why);
	}
	snprintf(why, sizeof(why), "%" PRIu64 " calls, %" PRIu64 " objects, "
		 "%" PRIu64 " bytes; the guest was paused %.1f ms", cp.calls,
		 cp.objects, bytes, ms);
	log_line(cp.info.id, "checkpoint: %s", why);
	return ava_ctl_done(c, 0, why);
}

/* ---- live migration: the source's side ------------------------------- */

/* Pre-copy stops once what is dirty again after a round is this small,
 * or stops shrinking, or after this many rounds. */
#define MIGRATE_DIRTY_DONE (8ull << 20)
#define MIGRATE_ROUNDS 12

static double
ms_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1e3 + (b->tv_nsec - a->tv_nsec) / 1e6;
}

/* Open the destination's CONTROL connection for an incoming session. */
static int
open_destination(const char *addr, const struct ava_server_config *cfg,
		 const struct ava_api_desc *api, struct ava_conn **out,
		 char *why, size_t nwhy)
{
	char w[300] = "";
	uint8_t flags[4];
	int r = ava_ctl_open(addr, 0, api, cfg->secret_file, out, w,
			     sizeof(w));
	ava_wire_put_le(flags, 1, 4);
	if (r == 0 && (r = ava_ctl_send(*out, AVA_MSG_CONTROL,
					AVA_CTL_RESTORE, flags, 4)) < 0) {
		snprintf(w, sizeof(w), "%s: %s", addr, ava_strerror(r));
		ava_transport_conn_destroy(*out);
	}
	if (r < 0)
		snprintf(why, nwhy, "the destination: %s", w);
	return r;
}

static void
progress(struct ava_conn *op, uint64_t round, uint64_t moved, uint64_t dirty,
	 uint64_t live, const struct timespec *t0)
{
	struct timespec now;
	uint8_t p[40];
	clock_gettime(CLOCK_MONOTONIC, &now);
	ava_wire_put_le(p, round, 8);
	ava_wire_put_le(p + 8, moved, 8);
	ava_wire_put_le(p + 16, dirty, 8);
	ava_wire_put_le(p + 24, live, 8);
	ava_wire_put_le(p + 32, (uint64_t)(ms_between(t0, &now) * 1e6), 8);
	if (ava_ctl_send(op, AVA_MSG_CONTROL, AVA_CTL_PROGRESS, p, 40) < 0) {
		/* The operator went away; the migration goes on. */
	}
}

static int
send_switch(struct ava_session *s, struct ava_conn *d, uint64_t async_done)
{
	uint32_t th[256];
	uint64_t seq[256];
	size_t n = ava_session_threads(s, th, seq, 256);
	if (n > 256)
		return AVA_ENOTSUP;
	uint8_t *p = calloc(1, 16 + 16 * n);
	if (p == NULL)
		return -ENOMEM;
	ava_wire_put_le(p, async_done, 8);
	ava_wire_put_le(p + 8, n, 4);
	for (size_t i = 0; i < n; i++) {
		ava_wire_put_le(p + 16 + 16 * i, th[i], 4);
		ava_wire_put_le(p + 24 + 16 * i, seq[i], 8);
	}
	int r = ava_ctl_send(d, AVA_MSG_CONTROL, AVA_CTL_SWITCH, p,
			     16 + 16 * n);
	free(p);
	return r;
}

/* SYNC, and its answer: the destination has applied the stream so far. */
static int
sync_destination(struct ava_conn *d, char *why, size_t nwhy)
{
	struct ava_frame f;
	ava_buf_init(&f.payload);
	int r = ava_ctl_send(d, AVA_MSG_CONTROL, AVA_CTL_SYNC, NULL, 0);
	if (r == 0)
		r = ava_transport_conn_recv(d, &f);
	if (r == 0 && f.h.type == AVA_MSG_CONTROL && f.h.fn == AVA_CTL_DONE &&
	    f.payload.len >= 4) {
		/* It gave up: its DONE says why. */
		snprintf(why, nwhy, "the destination failed: %.*s",
			 (int)(f.payload.len - 4),
			 (const char *)f.payload.data + 4);
		r = (int32_t)ava_wire_get_le(f.payload.data, 4);
		if (r == 0)
			r = AVA_EPROTO;
	} else if (r == 0 && (f.h.type != AVA_MSG_CONTROL ||
			      f.h.fn != AVA_CTL_SYNC)) {
		r = AVA_EPROTO;
	}
	if (r < 0 && why[0] == '\0')
		snprintf(why, nwhy, "the destination: %s", ava_strerror(r));
	ava_buf_finish(&f.payload);
	return r;
}

/* The destination's DONE: "SESSION TOKEN", or why it failed. */
static int
destination_done(struct ava_conn *d, uint64_t *session, uint64_t *token,
		 char *why, size_t nwhy)
{
	struct ava_frame f;
	ava_buf_init(&f.payload);
	int r = ava_transport_conn_recv(d, &f);
	if (r == 0 && (f.h.type != AVA_MSG_CONTROL || f.h.fn != AVA_CTL_DONE ||
		       f.payload.len < 4))
		r = AVA_EPROTO;
	char text[200] = "";
	if (r == 0) {
		size_t n = f.payload.len - 4;
		snprintf(text, sizeof(text), "%.*s", (int)n,
			 (const char *)f.payload.data + 4);
		r = (int32_t)ava_wire_get_le(f.payload.data, 4);
	}
	unsigned long long a, b;
	if (r == 0 && sscanf(text, "%llu %llu", &a, &b) != 2)
		r = AVA_EPROTO;
	if (r == 0) {
		*session = a;
		*token = b;
	} else {
		snprintf(why, nwhy, "the destination failed to take the "
			 "session: %s", text[0] ? text : ava_strerror(r));
	}
	ava_buf_finish(&f.payload);
	return r;
}

/*
 * Pre-copy: copy while the guest runs, then again what it wrote
 * meanwhile, until that is small; pause it, send the rest and the object
 * list, and once the destination holds the session, switch the guest
 * over. Until the switch, any failure leaves the guest here, untouched.
 */
static int
migrate_out(struct ava_session *s, struct ava_conn *op, const char *dest,
	    const char *guest_addr)
{
	struct cp cp = { .s = s };
	struct ava_conn *d = NULL;
	struct ava_u64map sent;
	struct timespec t0, tp, tr;
	char why[400] = "";
	uint64_t session = 0, token = 0, dirty = UINT64_MAX, rounds = 0;
	bool paused = false;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ava_u64map_init(&sent);
	ava_session_info(s, &cp.info);
	int r = open_destination(dest, cp.info.cfg, cp.info.api, &d, why,
				 sizeof(why));
	if (r == 0)
		r = ava_img_writer_create(ava_ctl_image_write, d, &cp.w);
	struct ava_capture_sink k = { .ctx = &cp, .threads = cp_threads,
		.call = cp_call, .object = cp_object, .state = cp_state,
		.chunk = AVA_IMG_CHUNK };
	struct ava_capture_round rd = { .header = true, .sent = &sent,
					.timeout_ms = PAUSE_MS };
	while (r == 0) {
		uint64_t before = dirty;
		r = ava_session_capture_round(s, &k, &rd, why, sizeof(why));
		if (r < 0) {
			char w[200];
			snprintf(w, sizeof(w), "%s", why[0] ? why
							   : ava_strerror(r));
			snprintf(why, sizeof(why), "copying to %.150s: %s", dest, w);
		}
		rd.since = rd.next;
		rd.header = false;
		dirty = rd.dirty;
		rounds++;
		progress(op, rounds, ava_img_writer_bytes(cp.w), dirty,
			 rd.live, &t0);
		if (dirty <= MIGRATE_DIRTY_DONE || rounds >= MIGRATE_ROUNDS ||
		    (rounds > 1 && dirty >= before))
			break;
	}
	/* Let the destination apply what it has before the guest stops:
	 * its building and writing then does not count as downtime. */
	if (r == 0 && (r = ava_img_writer_flush(cp.w)) == 0)
		r = sync_destination(d, why, sizeof(why));
	if (r == 0) {
		clock_gettime(CLOCK_MONOTONIC, &tp);
		r = ava_session_pause(s, PAUSE_MS, why, sizeof(why));
		paused = r == 0;
	}
	if (r == 0) {
		ava_session_info(s, &cp.info);
		rd.objects = rd.paused = true;
		r = ava_session_capture_round(s, &k, &rd, why, sizeof(why));
	}
	if (r == 0)
		r = ava_img_writer_finish(cp.w);
	if (r == 0)
		r = ava_ctl_send(d, AVA_MSG_IMAGE, 0, NULL, 0);
	if (r == 0)
		r = send_switch(s, d, cp.info.async_done);
	if (r < 0 && why[0] == '\0')
		snprintf(why, sizeof(why), "sending to %s: %s", dest,
			 ava_strerror(r));
	struct timespec td;
	clock_gettime(CLOCK_MONOTONIC, &td);
	if (r == 0)
		r = destination_done(d, &session, &token, why, sizeof(why));
	uint64_t moved = cp.w != NULL ? ava_img_writer_bytes(cp.w) : 0;
	ava_img_writer_destroy(cp.w);
	ava_u64map_finish(&sent);
	if (r == 0) {
		r = ava_session_switch(s, guest_addr, session, token, d);
		d = NULL;
	}
	if (paused)
		ava_session_unpause(s);
	clock_gettime(CLOCK_MONOTONIC, &tr);
	ava_transport_conn_destroy(d);
	if (r < 0) {
		log_line(cp.info.id, "migration to %s failed: %s; the guest "
			 "goes on here", dest, why);
		char text[500];
		snprintf(text, sizeof(text), "%s; the guest goes on at the "
			 "source", why);
		return ava_ctl_done(op, r, text);
	}
	char sum[700];
	snprintf(sum, sizeof(sum), "session %" PRIu64 " now at %s: %" PRIu64
		 " rounds, %" PRIu64 " bytes moved, %.1f ms in all, the guest "
		 "paused %.1f ms (last round %.1f MiB in %.1f ms, the "
		 "destination's build %.1f ms)", cp.info.id, guest_addr,
		 rounds + 1, moved, ms_between(&t0, &tr), ms_between(&tp, &tr),
		 rd.bytes / 1048576.0, ms_between(&tp, &td),
		 ms_between(&td, &tr));
	log_line(cp.info.id, "migrated: %s", sum);
	return ava_ctl_done(op, 0, sum);
}

static int
migrate_request(struct ava_session *s, struct ava_conn *c,
		const struct ava_frame *f)
{
	char dest[256], guest[256];
	const char *p = (const char *)f->payload.data + 4;
	size_t n = f->payload.len >= 4 ? f->payload.len - 4 : 0;
	const char *nl = n ? memchr(p, '\n', n) : NULL;
	if (f->payload.len < 4 || nl == NULL || (size_t)(nl - p) >= sizeof(dest) ||
	    n - (size_t)(nl - p) - 1 >= sizeof(guest) || nl == p)
		return ava_ctl_done(c, AVA_EPROTO, "malformed migrate request");
	snprintf(dest, sizeof(dest), "%.*s", (int)(nl - p), p);
	snprintf(guest, sizeof(guest), "%.*s", (int)(n - (size_t)(nl - p) - 1),
		 nl + 1);
	return migrate_out(s, c, dest, guest[0] ? guest : dest);
}

static void
serve_session(struct ava_session *s, struct ava_conn *c)
{
	struct ava_session_info info;
	struct ava_frame f;
	char why[300] = "";
	uint32_t op = 0;
	ava_session_info(s, &info);
	ava_buf_init(&f.payload);
	int r = admit(c, info.cfg, why, sizeof(why));
	if (r < 0 && why[0] != '\0') {
		log_line(info.id, "control connection refused: %s", why);
		refuse(c, r, why);
	}
	if (r == 0 && (r = request(c, &f, &op)) < 0)
		log_line(info.id, "control connection: bad request: %s",
			 ava_strerror(r));
	if (r == 0 && op == AVA_CTL_CHECKPOINT)
		checkpoint(s, c);
	else if (r == 0 && op == AVA_CTL_MIGRATE)
		migrate_request(s, c, &f);
	else if (r == 0)
		refuse(c, AVA_EPROTO, "unknown control request for a session");
	ava_buf_finish(&f.payload);
	ava_transport_conn_destroy(c);
}

/* ---- restore ---------------------------------------------------------- */

struct rs {
	struct ava_conn *c;
	bool keep;               /* a migration's: the session takes it */
	char text[64];           /* "SESSION TOKEN": what the guest resumes */
};

/* The rebuild is over: tell the operator, and let go of the connection
 * before the session starts serving. */
static void
restored(void *ctx, int r, const char *why)
{
	struct rs *rs = ctx;
	ava_ctl_done(rs->c, r, r < 0 ? why : rs->text);
	if (!rs->keep)
		ava_transport_conn_destroy(rs->c);
	rs->c = NULL;
}

/* Apply one record; HEADER must come first (the reader sees to it). */
static int
apply(struct ava_rebuild **rb, struct ava_img_header *hdr,
      const struct ava_img_rec *rec, const struct ava_server_api *server,
      const struct ava_server_config *cfg, char *why, size_t nwhy)
{
	const struct ava_api_desc *api = server->api;
	switch (rec->type) {
	case AVA_IMG_HEADER: {
		const struct ava_img_header *h = &rec->u.header;
		if (h->api_id != api->api_id || h->spec_hash != api->spec_hash) {
			snprintf(why, nwhy, "the image is of another API or "
				 "spec (spec_hash 0x%08" PRIx32 ", this server "
				 "0x%08" PRIx32 ")", h->spec_hash,
				 api->spec_hash);
			return AVA_ESPEC;
		}
		*hdr = *h;
		hdr->source = hdr->device = NULL;
		hdr->threads = NULL;
		int r = ava_rebuild_create(server, cfg, h->owner, rb);
		for (uint32_t i = 0; r == 0 && i < h->nthreads; i++)
			r = ava_rebuild_thread(*rb, h->threads[i].thread,
					       h->threads[i].last_seq);
		if (r < 0)
			snprintf(why, nwhy, "cannot start the restore: %s",
				 ava_strerror(r));
		return r;
	}
	case AVA_IMG_CALL: {
		const struct ava_img_call *k = &rec->u.call;
		if (k->reply_len % 8 != 0 ||
		    k->reply_len / 8 > AVA_STATE_REC_IDS) {
			snprintf(why, nwhy, "record %" PRIu64 ": a call hands "
				 "out %" PRIu64 " bytes of ids", rec->index,
				 k->reply_len);
			return AVA_ECORRUPT;
		}
		uint64_t ids[AVA_STATE_REC_IDS];
		for (uint64_t i = 0; i < k->reply_len / 8; i++)
			ids[i] = ava_wire_get_le(k->reply + 8 * i, 8);
		struct ava_state_call c = { .seq = k->seq, .thread = k->thread,
			.fn = k->fn, .call = k->call, .call_len = k->call_len,
			.ids = ids, .nids = (uint32_t)(k->reply_len / 8) };
		return ava_rebuild_call(*rb, &c, why, nwhy);
	}
	case AVA_IMG_OBJECT: {
		const struct ava_img_object *o = &rec->u.object;
		return ava_rebuild_object(*rb, o->id, o->type, o->refs,
					  o->flags, o->parent, why, nwhy);
	}
	case AVA_IMG_STATE: {
		const struct ava_img_state *s = &rec->u.state;
		return ava_rebuild_state(*rb, s->id, s->offset, s->total,
					 s->data, s->len, why, nwhy);
	}
	case AVA_IMG_DROP:
		snprintf(why, nwhy, "record %" PRIu64 ": a DROP belongs to a "
			 "migration stream, not to an image", rec->index);
		return AVA_ECORRUPT;
	default:
		return 0;
	}
}

/* A migration's SWITCH: the source's final thread table and count. */
static int
take_switch(struct ava_conn *c, struct ava_rebuild *rb, uint64_t *async_done,
	    char *why, size_t nwhy)
{
	struct ava_frame f;
	ava_buf_init(&f.payload);
	int r = ava_transport_conn_recv(c, &f);
	/* The image's closing empty frame, if the reader left it. */
	if (r == 0 && f.h.type == AVA_MSG_IMAGE && f.h.len == 0)
		r = ava_transport_conn_recv(c, &f);
	const uint8_t *p = f.payload.data;
	if (r == 0 && (f.h.type != AVA_MSG_CONTROL ||
		       f.h.fn != AVA_CTL_SWITCH || f.h.len < 16))
		r = AVA_EPROTO;
	uint64_t n = r == 0 ? ava_wire_get_le(p + 8, 4) : 0;
	if (r == 0 && (n > AVA_IMG_MAX_THREADS || f.h.len != 16 + 16 * n))
		r = AVA_EPROTO;
	if (r == 0)
		*async_done = ava_wire_get_le(p, 8);
	for (uint64_t i = 0; r == 0 && i < n; i++)
		r = ava_rebuild_thread(rb, (uint32_t)ava_wire_get_le(
					       p + 16 + 16 * i, 4),
				       ava_wire_get_le(p + 24 + 16 * i, 8));
	if (r < 0)
		snprintf(why, nwhy, "the source's switch-over: %s",
			 r == AVA_EPROTO ? "malformed" : ava_strerror(r));
	ava_buf_finish(&f.payload);
	return r;
}

static int
restore(struct ava_conn *c, uint64_t local_id,
	const struct ava_server_api *server,
	const struct ava_server_config *cfg, bool migration)
{
	struct ava_ctl_image_in in;
	struct ava_img_reader *rd = NULL;
	struct ava_rebuild *rb = NULL;
	struct ava_img_header hdr = { 0 };
	struct ava_img_rec rec;
	char why[400] = "";
	ava_ctl_image_in_init(&in, c);
	int r = ava_img_reader_create(ava_ctl_image_read, &in, &rd);
	if (r < 0)
		snprintf(why, sizeof(why), "not a checkpoint image: %s",
			 ava_strerror(r));
	while (r == 0 && (r = ava_img_read(rd, &rec)) == 1)
		r = apply(&rb, &hdr, &rec, server, cfg, why, sizeof(why));
	if (r < 0 && why[0] == '\0')
		snprintf(why, sizeof(why), "%s", ava_img_reader_why(rd));
	ava_img_reader_destroy(rd);
	ava_ctl_image_in_finish(&in);
	uint64_t async_done = hdr.async_done;
	if (r == 0 && migration)
		r = take_switch(c, rb, &async_done, why, sizeof(why));
	if (r < 0) {
		log_line(local_id, "restore failed: %s", why);
		ava_rebuild_destroy(rb);
		ava_ctl_done(c, r, why);
		ava_transport_conn_destroy(c);
		return r;
	}
	struct rs rs = { .c = c };
	/* A migrated session gets a token of its own: the guest learns it
	 * from MOVED, and the names of the source's session and this one
	 * never meet, even when it comes back to the same server. */
	while (migration &&
	       getrandom(&hdr.token, sizeof(hdr.token), 0) != sizeof(hdr.token))
		;
	snprintf(rs.text, sizeof(rs.text), "%" PRIu64 " %" PRIu64,
		 hdr.session, hdr.token);
	log_line(local_id, "%s session %" PRIu64 "; waiting for its guest",
		 migration ? "migrated in" : "restored from an image",
		 hdr.session);
	struct ava_rebuild_session s = { .id = hdr.session,
		.token = hdr.token, .local_id = local_id,
		.async_done = async_done, .wait_ms = RESUME_WAIT_MS,
		.ready = restored, .ctx = &rs };
	if (migration) {
		/* The source keeps this connection to pass on late queued
		 * calls: the session serves it. */
		rs.keep = true;
		s.source = c;
	}
	return ava_rebuild_finish(rb, &s);
}

/* admit(), and a refusal logged and sent if it failed. */
static int
admitted(struct ava_conn *c, uint64_t local_id,
	 const struct ava_server_config *cfg)
{
	char why[300] = "";
	int r = admit(c, cfg, why, sizeof(why));
	if (r < 0 && why[0] != '\0') {
		log_line(local_id, "control connection refused: %s", why);
		refuse(c, r, why);
	}
	return r;
}

static int
serve_new(struct ava_conn *c, uint64_t local_id,
	  const struct ava_server_api *server,
	  const struct ava_server_config *cfg)
{
	struct ava_frame f;
	uint32_t op = 0;
	ava_buf_init(&f.payload);
	int r = admitted(c, local_id, cfg);
	if (r == 0)
		r = request(c, &f, &op);
	bool migration = f.payload.len >= 4 &&
			 (ava_wire_get_le(f.payload.data, 4) & 1);
	ava_buf_finish(&f.payload);
	if (r == 0 && op == AVA_CTL_RESTORE)
		return restore(c, local_id, server, cfg, migration);
	if (r == 0)
		refuse(c, AVA_EPROTO, "unknown control request");
	ava_transport_conn_destroy(c);
	return r;
}

static int
serve_missing(struct ava_conn *c, uint64_t local_id, uint64_t session,
	      const struct ava_server_config *cfg)
{
	struct ava_frame f;
	char why[120];
	uint32_t op = 0;
	ava_buf_init(&f.payload);
	int r = admitted(c, local_id, cfg);
	/* Admitted: the answer to its request is that there is no such
	 * session. */
	if (r == 0 && (r = request(c, &f, &op)) == 0) {
		snprintf(why, sizeof(why), "no session %" PRIu64 " on this "
			 "server", session);
		r = refuse(c, AVA_EADDR, why);
	}
	ava_buf_finish(&f.payload);
	ava_transport_conn_destroy(c);
	return r;
}

const struct ava_control_ops ava_migrate_control = {
	.serve_new = serve_new,
	.serve_session = serve_session,
	.serve_missing = serve_missing,
};
