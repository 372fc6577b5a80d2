/*
 * image.c - the checkpoint image writer and the fd adapters (image.h,
 * doc/checkpoint-format.md); the reader is in image-read.c.
 *
 * Integers are encoded byte by byte, never by casting structs onto the
 * stream. Small records are gathered in a 1 MiB buffer; a piece that
 * fills the buffer anyway (a STATE chunk's data) goes straight to the
 * write function, never copied.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "image-private.h"
#include "wire.h"

#define WBUF_SIZE (1u << 20)   /* the writer gathers records up to this */

/* ---- writer ------------------------------------------------------------- */

struct piece {
	const void *p;
	size_t n;
};

struct ava_img_writer {
	ava_img_write_fn write;
	void *ctx;
	uint8_t *buf;          /* WBUF_SIZE bytes of gathered records */
	size_t used;
	uint64_t bytes;        /* the stream's length so far */
	uint64_t records;
	XXH3_state_t *sum;     /* one record body's checksum */
	XXH3_state_t *chain;   /* over every record header so far */
	int err;               /* sticky */
	bool headed, finished;
};

static const uint8_t zeros[8];

static int
w_fail(struct ava_img_writer *w, int err)
{
	if (w->err == 0)
		w->err = err;
	return w->err;
}

static void
w_flush(struct ava_img_writer *w)
{
	if (w->used > 0 && w->err == 0) {
		int r = w->write(w->ctx, w->buf, w->used);
		if (r != 0)
			w_fail(w, r);
	}
	w->used = 0;
}

/* Gather n bytes, or pass them straight through when they fill the
 * buffer anyway: a STATE chunk is never copied. */
static void
w_emit(struct ava_img_writer *w, const void *p, size_t n)
{
	if (n > WBUF_SIZE - w->used)
		w_flush(w);
	if (w->err != 0)
		return;
	if (n >= WBUF_SIZE) {
		int r = w->write(w->ctx, p, n);
		if (r != 0)
			w_fail(w, r);
		return;
	}
	memcpy(w->buf + w->used, p, n);
	w->used += n;
}

/* One record whose body is the pieces back to back. */
static int
w_record(struct ava_img_writer *w, enum ava_img_type type,
	 const struct piece *pc, unsigned np)
{
	uint64_t len = 0;
	for (unsigned i = 0; i < np; i++)
		len += pc[i].n;
	if (len > AVA_IMG_RECORD_MAX)
		return w_fail(w, AVA_ETOOBIG);
	XXH3_64bits_reset(w->sum);
	for (unsigned i = 0; i < np; i++)
		XXH3_64bits_update(w->sum, pc[i].p, pc[i].n);
	uint8_t h[AVA_IMG_RECORD_HEADER_SIZE];
	put_le(h, type, 4);
	put_le(h + 4, 0, 4);
	put_le(h + 8, len, 8);
	put_le(h + 16, XXH3_64bits_digest(w->sum), 8);
	XXH3_64bits_update(w->chain, h, sizeof(h));
	w_emit(w, h, sizeof(h));
	for (unsigned i = 0; i < np; i++)
		if (pc[i].n > 0)
			w_emit(w, pc[i].p, pc[i].n);
	w->records++;
	w->bytes += sizeof(h) + len;
	return w->err;
}

/* The common gate of every put: a live writer, HEADER first, once. */
static int
w_gate(struct ava_img_writer *w, enum ava_img_type type)
{
	if (w->err != 0)
		return w->err;
	if (w->finished || (type == AVA_IMG_HEADER) == w->headed)
		return w_fail(w, -EINVAL);
	return 0;
}

int
ava_img_writer_create(ava_img_write_fn wfn, void *ctx,
		      struct ava_img_writer **out)
{
	struct ava_img_writer *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->write = wfn;
	w->ctx = ctx;
	w->buf = malloc(WBUF_SIZE);
	w->sum = XXH3_createState();
	w->chain = XXH3_createState();
	int r = -ENOMEM;
	if (w->buf == NULL || w->sum == NULL || w->chain == NULL)
		goto err_free;
	XXH3_64bits_reset(w->chain);
	uint8_t pre[AVA_IMG_PREAMBLE_SIZE];
	memcpy(pre, img_magic, 8);
	put_le(pre + 8, AVA_IMG_VERSION, 4);
	put_le(pre + 12, 0, 4);
	r = wfn(ctx, pre, sizeof(pre));
	if (r != 0)
		goto err_free;
	w->bytes = sizeof(pre);
	*out = w;
	return 0;
err_free:
	ava_img_writer_destroy(w);
	return r;
}

static size_t
text_len(const char *s)
{
	return s == NULL ? 0 : strnlen(s, AVA_IMG_TEXT_MAX + 1);
}

int
ava_img_put_header(struct ava_img_writer *w, const struct ava_img_header *h)
{
	int r = w_gate(w, AVA_IMG_HEADER);
	if (r != 0)
		return r;
	size_t ns = text_len(h->source), nd = text_len(h->device);
	if (ns > AVA_IMG_TEXT_MAX || nd > AVA_IMG_TEXT_MAX ||
	    h->nthreads > AVA_IMG_MAX_THREADS)
		return w_fail(w, AVA_ETOOBIG);
	if (h->nthreads > 0 && h->threads == NULL)
		return w_fail(w, -EINVAL);
	size_t n = HEADER_MIN + ns + nd + (size_t)h->nthreads * THREAD_SIZE;
	uint8_t *b = calloc(1, n), *p = b;
	if (b == NULL)
		return w_fail(w, -ENOMEM);
	p[0] = h->api_id;
	put_le(p + 4, h->spec_hash, 4);
	put_le(p + 8, h->session, 8);
	put_le(p + 16, h->token, 8);
	put_le(p + 24, h->owner, 2);
	put_le(p + 28, h->nthreads, 4);
	put_le(p + 32, h->async_done, 8);
	put_le(p + 40, h->created_ns, 8);
	put_le(p + 48, h->live_bytes, 8);
	p += HEADER_FIXED;
	put_le(p, ns, 4);
	memcpy(p + 4, ns ? h->source : "", ns);
	p += 4 + ns;
	put_le(p, nd, 4);
	memcpy(p + 4, nd ? h->device : "", nd);
	p += 4 + nd;
	for (uint32_t i = 0; i < h->nthreads; i++, p += THREAD_SIZE) {
		put_le(p, h->threads[i].thread, 4);
		put_le(p + 8, h->threads[i].last_seq, 8);
	}
	struct piece pc = { b, n };
	w->headed = true;
	r = w_record(w, AVA_IMG_HEADER, &pc, 1);
	free(b);
	return r;
}

int
ava_img_put_call(struct ava_img_writer *w, const struct ava_img_call *c)
{
	int r = w_gate(w, AVA_IMG_CALL);
	if (r != 0)
		return r;
	if (c->call_len > AVA_IMG_RECORD_MAX ||
	    c->reply_len > AVA_IMG_RECORD_MAX)
		return w_fail(w, AVA_ETOOBIG);
	if ((c->call_len > 0 && c->call == NULL) ||
	    (c->reply_len > 0 && c->reply == NULL))
		return w_fail(w, -EINVAL);
	uint8_t fixed[CALL_FIXED], rlen[8];
	put_le(fixed, c->seq, 8);
	put_le(fixed + 8, c->thread, 4);
	put_le(fixed + 12, c->fn, 4);
	put_le(fixed + 16, c->call_len, 8);
	put_le(rlen, c->reply_len, 8);
	struct piece pc[] = {
		{ fixed, sizeof(fixed) },
		{ c->call, c->call_len },
		{ zeros, pad8(c->call_len) - c->call_len },
		{ rlen, sizeof(rlen) },
		{ c->reply, c->reply_len },
		{ zeros, pad8(c->reply_len) - c->reply_len },
	};
	return w_record(w, AVA_IMG_CALL, pc, 6);
}

int
ava_img_put_object(struct ava_img_writer *w, const struct ava_img_object *o)
{
	int r = w_gate(w, AVA_IMG_OBJECT);
	const char *what;
	if (r != 0)
		return r;
	if (object_check(o, &what) != 0)
		return w_fail(w, -EINVAL);
	uint8_t b[OBJECT_SIZE] = { 0 };
	put_le(b, o->id, 8);
	put_le(b + 8, o->type, 2);
	put_le(b + 12, o->refs, 4);
	put_le(b + 16, o->flags, 4);
	put_le(b + 24, o->size, 8);
	put_le(b + 32, o->parent, 8);
	struct piece pc = { b, sizeof(b) };
	return w_record(w, AVA_IMG_OBJECT, &pc, 1);
}

int
ava_img_put_state(struct ava_img_writer *w, const struct ava_img_state *s)
{
	int r = w_gate(w, AVA_IMG_STATE);
	if (r != 0)
		return r;
	if (s->len > AVA_IMG_RECORD_MAX - STATE_FIXED)
		return w_fail(w, AVA_ETOOBIG);
	if (s->id == 0 || !state_fits(s->offset, s->len, s->total) ||
	    (s->len > 0 && s->data == NULL))
		return w_fail(w, -EINVAL);
	uint8_t b[STATE_FIXED];
	put_le(b, s->id, 8);
	put_le(b + 8, s->offset, 8);
	put_le(b + 16, s->total, 8);
	struct piece pc[] = { { b, sizeof(b) }, { s->data, s->len } };
	return w_record(w, AVA_IMG_STATE, pc, 2);
}

int
ava_img_put_drop(struct ava_img_writer *w, uint64_t id)
{
	int r = w_gate(w, AVA_IMG_DROP);
	if (r != 0)
		return r;
	if (id == 0)
		return w_fail(w, -EINVAL);
	uint8_t b[DROP_SIZE];
	put_le(b, id, 8);
	struct piece pc = { b, sizeof(b) };
	return w_record(w, AVA_IMG_DROP, &pc, 1);
}

int
ava_img_writer_finish(struct ava_img_writer *w)
{
	int r = w_gate(w, AVA_IMG_END);
	if (r != 0)
		return r;
	uint8_t b[END_SIZE];
	put_le(b, w->records, 8);
	put_le(b + 8, XXH3_64bits_digest(w->chain), 8);
	struct piece pc = { b, sizeof(b) };
	w_record(w, AVA_IMG_END, &pc, 1);
	w_flush(w);
	w->finished = true;
	return w->err;
}

int
ava_img_writer_flush(struct ava_img_writer *w)
{
	if (w->err == 0)
		w_flush(w);
	return w->err;
}

uint64_t
ava_img_writer_bytes(const struct ava_img_writer *w)
{
	return w->bytes;
}

void
ava_img_writer_destroy(struct ava_img_writer *w)
{
	if (w == NULL)
		return;
	XXH3_freeState(w->sum);
	XXH3_freeState(w->chain);
	free(w->buf);
	free(w);
}

/* ---- fd adapters ------------------------------------------------------- */

int
ava_img_fd_write(void *ctx, const void *p, size_t n)
{
	return ava_io_write_full(*(const int *)ctx, p, n);
}

int
ava_img_fd_read(void *ctx, void *p, size_t n)
{
	return ava_io_read_full(*(const int *)ctx, p, n, NULL);
}
