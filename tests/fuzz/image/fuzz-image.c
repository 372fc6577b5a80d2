/*
 * fuzz-image.c - libFuzzer target for the checkpoint image reader.
 *
 * The input is an image stream, fed to the reader through an in-memory
 * read function until it ends or fails. The first byte picks a mode:
 * bit 0 clear, the bytes as given (so the checksums gate everything);
 * bit 0 set, with every record's checksum fixed up first (so the field
 * checks behind the checksums are reached), and END's count and chain
 * too unless bit 1 is set (so that END's own checks are reached). Every record read
 * is written again through the writer; an image that reads to a clean
 * end must come out byte for byte the same, and every refusal must name
 * its record. The input sits in an exact-size heap copy so that ASan
 * catches any read past its end.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "ava-error.h"
#include "image.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct src {
	const uint8_t *p;
	size_t len, pos;
};

static int
src_read(void *ctx, void *p, size_t n)
{
	struct src *s = ctx;
	if (n > s->len - s->pos) {
		s->pos = s->len;
		return AVA_ECLOSED;
	}
	memcpy(p, s->p + s->pos, n);
	s->pos += n;
	return 0;
}

struct sink {
	uint8_t *p;
	size_t len, cap;
};

static int
sink_write(void *ctx, const void *p, size_t n)
{
	struct sink *s = ctx;
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n)
			cap *= 2;
		uint8_t *np = realloc(s->p, cap);
		if (np == NULL)
			return -12;
		s->p = np;
		s->cap = cap;
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
	return 0;
}

static uint64_t
le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void
put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Seal every whole record as a writer would have; END's count and chain
 * only if fix_end. */
static void
fix_up(uint8_t *v, size_t n, bool fix_end)
{
	XXH3_state_t *chain = XXH3_createState();
	if (chain == NULL)
		return;
	XXH3_64bits_reset(chain);
	uint64_t count = 0;
	size_t off = AVA_IMG_PREAMBLE_SIZE;
	while (off <= n && n - off >= AVA_IMG_RECORD_HEADER_SIZE) {
		uint8_t *h = v + off;
		uint64_t len = le64(h + 8);
		if (len > n - off - AVA_IMG_RECORD_HEADER_SIZE)
			break;
		uint8_t *body = h + AVA_IMG_RECORD_HEADER_SIZE;
		if (fix_end && h[0] == AVA_IMG_END && len == 16) {
			put64(body, count);
			put64(body + 8, XXH3_64bits_digest(chain));
		}
		put64(h + 16, XXH3_64bits(body, (size_t)len));
		XXH3_64bits_update(chain, h, AVA_IMG_RECORD_HEADER_SIZE);
		count++;
		off += AVA_IMG_RECORD_HEADER_SIZE + (size_t)len;
	}
	XXH3_freeState(chain);
}

/* Write rec again; the reader's pointers are still valid. */
static int
rewrite(struct ava_img_writer *w, const struct ava_img_rec *rec)
{
	switch (rec->type) {
	case AVA_IMG_HEADER: return ava_img_put_header(w, &rec->u.header);
	case AVA_IMG_CALL: return ava_img_put_call(w, &rec->u.call);
	case AVA_IMG_OBJECT: return ava_img_put_object(w, &rec->u.object);
	case AVA_IMG_STATE: return ava_img_put_state(w, &rec->u.state);
	case AVA_IMG_DROP: return ava_img_put_drop(w, rec->u.drop);
	default: return ava_img_writer_finish(w);
	}
}

/* Read every byte a record points at, so a bad pointer shows. */
static unsigned
touch(const struct ava_img_rec *rec)
{
	unsigned sum = 0;
	if (rec->type == AVA_IMG_HEADER) {
		const struct ava_img_header *h = &rec->u.header;
		sum += (unsigned)strlen(h->source) + (unsigned)strlen(h->device);
		for (uint32_t i = 0; i < h->nthreads; i++)
			sum += (unsigned)h->threads[i].last_seq;
	} else if (rec->type == AVA_IMG_CALL) {
		for (uint64_t i = 0; i < rec->u.call.call_len; i++)
			sum += rec->u.call.call[i];
		for (uint64_t i = 0; i < rec->u.call.reply_len; i++)
			sum += rec->u.call.reply[i];
	} else if (rec->type == AVA_IMG_STATE) {
		for (uint64_t i = 0; i < rec->u.state.len; i++)
			sum += rec->u.state.data[i];
	}
	return sum;
}

static void
run(const uint8_t *v, size_t n)
{
	struct src src = { v, n, 0 };
	struct sink out = { 0 };
	struct ava_img_reader *r;
	struct ava_img_writer *w = NULL;
	struct ava_img_rec rec;
	int rc;
	if (ava_img_reader_create(src_read, &src, &r) != 0)
		return;
	if (ava_img_writer_create(sink_write, &out, &w) != 0)
		abort();
	while ((rc = ava_img_read(r, &rec)) >= 0) {
		volatile unsigned t = touch(&rec);
		(void)t;
		/* What the reader accepts, the writer accepts. */
		if (rewrite(w, &rec) != 0)
			abort();
		if (rc == 0)
			break;
	}
	/* Every refusal names the record (or the truncation). */
	const char *why = ava_img_reader_why(r);
	if (rc < 0 && strncmp(why, "record ", 7) != 0 &&
	    strncmp(why, "truncated: ", 11) != 0)
		abort();
	if (rc == 0) {
		/* A clean image: the same bytes again, and nothing after. */
		uint64_t used = ava_img_reader_bytes(r);
		if (out.len != used || memcmp(out.p, v, used) != 0)
			abort();
		rc = ava_img_read(r, &rec);
		if ((rc == 0) != (used == n))
			abort();
	}
	ava_img_writer_destroy(w);
	ava_img_reader_destroy(r);
	free(out.p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t *v = malloc(size - 1 ? size - 1 : 1);
	if (v == NULL)
		return 0;
	memcpy(v, data + 1, size - 1);
	if (data[0] & 1)
		fix_up(v, size - 1, !(data[0] & 2));
	run(v, size - 1);
	free(v);
	return 0;
}
