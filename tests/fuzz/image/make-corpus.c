/*
 * make-corpus.c - writes the committed seed corpus for fuzz-image: small
 * valid images made by the real writer, and damaged copies of them. The
 * first byte of each file is fuzz-image's mode: 0 bytes as given, 1 with
 * the checksums fixed up (so the damage reaches the field checks). Run by
 * hand after a format change:
 *   build/tests/fuzz/image/make-image-corpus tests/fuzz/image/corpus
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ava-error.h"
#include "image.h"

static const char *dir;

struct sink {
	uint8_t p[1 << 16];
	size_t len;
};

static int
sink_write(void *ctx, const void *p, size_t n)
{
	struct sink *s = ctx;
	if (n > sizeof(s->p) - s->len)
		return AVA_ETOOBIG;
	memcpy(s->p + s->len, p, n);
	s->len += n;
	return 0;
}

static void
save(const char *name, uint8_t mode, const uint8_t *p, size_t n)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(&mode, 1, 1, f) != 1 ||
	    fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void
must(int rc)
{
	if (rc != 0) {
		fprintf(stderr, "make-image-corpus: %s\n", ava_strerror(rc));
		exit(1);
	}
}

/* A small image of every record type; full = with calls and state. */
static void
image(struct sink *s, bool full)
{
	static const struct ava_img_thread th[2] = { { 1, 5 }, { 2, 9 } };
	static const uint8_t bytes[40] = "call bytes, reply bytes, state bytes";
	struct ava_img_header h = { .api_id = 1, .spec_hash = 0x1234,
		.session = 3, .token = 4, .owner = 5, .source = "unix:/s",
		.device = "pthread", .nthreads = full ? 2 : 0, .threads = th,
		.live_bytes = full ? 40 : 0 };
	struct ava_img_writer *w;
	s->len = 0;
	must(ava_img_writer_create(sink_write, s, &w));
	must(ava_img_put_header(w, &h));
	if (full) {
		struct ava_img_call c = { 1, 1, 7, bytes, 11, bytes + 12, 5 };
		must(ava_img_put_call(w, &c));
		struct ava_img_object o = { 0x101, 2, 1,
			AVA_IMG_OBJ_LIVE | AVA_IMG_OBJ_STATE, 40, 0 };
		must(ava_img_put_object(w, &o));
		struct ava_img_object e = { 0x102, 3, 1, AVA_IMG_OBJ_LIVE |
			AVA_IMG_OBJ_SUBSTITUTE, 0, 0x101 };
		must(ava_img_put_object(w, &e));
		struct ava_img_state st = { 0x101, 0, 40, bytes, 24 };
		must(ava_img_put_state(w, &st));
		st = (struct ava_img_state){ 0x101, 24, 40, bytes + 24, 16 };
		must(ava_img_put_state(w, &st));
		must(ava_img_put_drop(w, 0x102));
	}
	must(ava_img_writer_finish(w));
	ava_img_writer_destroy(w);
}

static void
put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make-image-corpus DIR\n");
		return 2;
	}
	dir = argv[1];
	struct sink s, t;
	image(&s, false);
	save("valid-empty", 0, s.p, s.len);
	image(&s, true);
	save("valid-full", 0, s.p, s.len);
	save("valid-full-fixup", 1, s.p, s.len);
	save("truncated", 0, s.p, s.len - 9);
	save("truncated-preamble", 0, s.p, 11);

	t = s;
	t.p[200] ^= 0x10;
	save("bit-flip", 0, t.p, t.len);
	t = s;
	t.p[8] = 2;
	save("version-2", 0, t.p, t.len);
	t = s;
	put64(t.p + 16 + 8, 1ull << 63);     /* HEADER length 2^63 */
	save("length-2-63", 1, t.p, t.len);
	t = s;
	t.p[16 + 24 + 28] = 0x01;            /* nthreads 4097 */
	t.p[16 + 24 + 29] = 0x10;
	save("threads-over", 1, t.p, t.len);
	t = s;
	memcpy(t.p + s.len, s.p + 16, 24 + 64);
	save("after-end", 1, t.p, s.len + 24 + 64);

	/* A STATE beyond its total, sealed: the field check must catch it.
	 * Find the first STATE record by walking the records. */
	t = s;
	size_t off = 16;
	while (off < t.len && t.p[off] != AVA_IMG_STATE) {
		uint64_t len = 0;
		for (int i = 7; i >= 0; i--)
			len = len << 8 | t.p[off + 8 + i];
		off += 24 + len;
	}
	if (off < t.len) {
		put64(t.p + off + 24 + 16, 10);  /* total 10 < 24 bytes */
		save("state-beyond", 1, t.p, t.len);
	}
	/* END counts one record too many; with mode 3 only END sees it. */
	t = s;
	t.p[t.len - 16] += 1;
	save("end-count", 3, t.p, t.len);
	/* Two records swapped (the two STATEs are the same size). */
	if (off < s.len) {
		t = s;
		size_t n = 24 + 24 + 24;   /* the first STATE: 24 data bytes */
		memcpy(t.p + off, s.p + off + n, 24 + 24 + 16);
		memcpy(t.p + off + 24 + 24 + 16, s.p + off, n);
		save("swapped", 1, t.p, t.len);
		save("swapped-end", 3, t.p, t.len);
	}
	static const char junk[] = "#!/bin/sh\necho this is no image\n";
	save("not-an-image", 0, (const uint8_t *)junk, sizeof(junk) - 1);
	return 0;
}
