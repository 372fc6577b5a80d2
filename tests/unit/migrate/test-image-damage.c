/*
 * test-image-damage.c - a damaged image is refused, never accepted, with
 * the right code and a why line that names the record: truncation at
 * every record boundary and inside records, a bit flipped at sampled
 * offsets across the whole image, records swapped, a record after END,
 * a HEADER not first or twice, another version, bytes that are not an
 * image, absurd lengths and counts, and each field check behind the
 * checksum (reached by re-sealing a crafted record).
 */
#include <fcntl.h>

#include <xxhash.h>

#include "mtest.h"

static uint8_t *img;       /* the pristine image */
static size_t img_len;
static size_t bounds[256]; /* record offsets, then the end */
static unsigned nrec;

struct result {
	int rc;             /* 0: accepted (END read, nothing after) */
	uint64_t records;   /* records returned before the failure */
	char why[256];
};

/* Read p[0..n) to the end, as `ava restore --check` would. */
static struct result
read_all(const uint8_t *p, size_t n)
{
	struct result res = { 0 };
	struct mt_src src = { p, n, 0 };
	struct ava_img_reader *r;
	struct ava_img_rec rec;
	res.rc = ava_img_reader_create(mt_src_read, &src, &r);
	if (res.rc != 0) {
		snprintf(res.why, sizeof(res.why), "preamble");
		return res;
	}
	while ((res.rc = ava_img_read(r, &rec)) == 1)
		res.records++;
	if (res.rc == 0)
		res.rc = ava_img_read(r, &rec);
	snprintf(res.why, sizeof(res.why), "%s", ava_img_reader_why(r));
	if (res.rc != 0)   /* errors stick */
		CHECK_RC(ava_img_read(r, &rec), res.rc);
	ava_img_reader_destroy(r);
	return res;
}

static void
refused(const struct result *res, const char *what)
{
	if (res->rc == AVA_ECORRUPT || res->rc == AVA_ECLOSED ||
	    res->rc == AVA_EPROTO || res->rc == AVA_ETOOBIG ||
	    res->rc == AVA_EVERSION)
		return;
	fprintf(stderr, "%s: rc %d (%s), why: %s\n", what, res->rc,
		ava_strerror(res->rc), res->why);
	exit(1);
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

static void
build(void)
{
	struct mt_sink s = { 0 };
	struct ava_img_writer *w;
	struct ava_img_thread th[2] = { { 1, 10 }, { 2, 20 } };
	struct ava_img_header h = { .api_id = 1, .session = 5, .token = 6,
		.source = "unix:/tmp/a", .device = "basic", .nthreads = 2,
		.threads = th, .live_bytes = 3000 };
	static uint8_t buf[3000];
	mt_fill(buf, sizeof(buf), 1);
	CHECK_RC(ava_img_writer_create(mt_sink_write, &s, &w), 0);
	CHECK_RC(ava_img_put_header(w, &h), 0);
	for (unsigned i = 0; i < 12; i++) {
		struct ava_img_call c = { i + 1, 1, 100 + i, buf, i * 11,
					  buf + 7, i * 5 + 3 };
		CHECK_RC(ava_img_put_call(w, &c), 0);
	}
	for (unsigned i = 0; i < 5; i++) {
		struct ava_img_object o = { 100 + i, 1, 1,
			AVA_IMG_OBJ_LIVE | (i == 2 ? AVA_IMG_OBJ_STATE : 0),
			i == 2 ? sizeof(buf) : 0, 0 };
		CHECK_RC(ava_img_put_object(w, &o), 0);
	}
	for (unsigned off = 0; off < sizeof(buf); off += 1000) {
		struct ava_img_state st = { 102, off, sizeof(buf), buf + off,
					    1000 };
		CHECK_RC(ava_img_put_state(w, &st), 0);
	}
	CHECK_RC(ava_img_put_drop(w, 104), 0);
	CHECK_RC(ava_img_writer_finish(w), 0);
	ava_img_writer_destroy(w);
	img = s.p;
	img_len = s.len;
	size_t off = AVA_IMG_PREAMBLE_SIZE;
	while (off < img_len) {
		bounds[nrec++] = off;
		off += 24 + le64(img + off + 8);
	}
	CHECK(off == img_len);
	bounds[nrec] = img_len;
	CHECK(nrec == 1 + 12 + 5 + 3 + 1 + 1);
}

static void
test_pristine(void)
{
	struct result res = read_all(img, img_len);
	CHECK_RC(res.rc, 0);
	CHECK(res.records == nrec - 1);
}

/* The stream ends early, anywhere: AVA_ECLOSED naming the record. */
static void
test_truncated(void)
{
	char name[64];
	for (size_t n = 0; n < AVA_IMG_PREAMBLE_SIZE; n++)
		CHECK_RC(read_all(img, n).rc, AVA_ECORRUPT);
	for (unsigned i = 0; i < nrec; i++) {
		size_t at = bounds[i], len = bounds[i + 1] - at;
		/* at the boundary, inside the header, inside the body */
		size_t cuts[] = { at, at + 1, at + 23, at + 24,
				  at + 24 + len / 2, bounds[i + 1] - 1 };
		for (unsigned k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
			if (cuts[k] >= bounds[i + 1])
				continue;
			struct result res = read_all(img, cuts[k]);
			CHECK_RC(res.rc, AVA_ECLOSED);
			CHECK(res.records == i);
			snprintf(name, sizeof(name), "in record %u (at offset "
				 "%zu) before END", i, at);
			CHECK_HAS(res.why, "truncated");
			CHECK_HAS(res.why, name);
		}
	}
}

/* Which record holds byte off (nrec for none). */
static unsigned
record_at(size_t off)
{
	unsigned i = 0;
	while (i < nrec && bounds[i + 1] <= off)
		i++;
	return i;
}

/* Any one bit flipped, anywhere, is refused and blamed on a record at
 * or before it (a length made longer may swallow later records). Every
 * bit of every record header and of the preamble, and sampled bits of
 * the bodies. */
static void
test_bit_flips(void)
{
	uint8_t *copy = malloc(img_len);
	CHECK(copy != NULL);
	unsigned tried = 0;
	for (size_t off = 0; off < img_len; off++) {
		unsigned i = record_at(off);
		bool in_header = off < AVA_IMG_PREAMBLE_SIZE ||
				 off - bounds[i] < 24;
		for (unsigned bit = 0; bit < 8; bit++) {
			if (!in_header && (off * 8 + bit) % 61 != 0)
				continue;
			memcpy(copy, img, img_len);
			copy[off] ^= (uint8_t)(1u << bit);
			struct result res = read_all(copy, img_len);
			char what[64];
			snprintf(what, sizeof(what), "bit %u of byte %zu", bit,
				 off);
			refused(&res, what);
			tried++;
			if (off < AVA_IMG_PREAMBLE_SIZE)
				continue;
			/* It fails at the damaged record, or (a CALL and an
			 * OBJECT of the same size swap types) at END. */
			CHECK(res.records <= i ||
			      strstr(res.why, "END's chain") != NULL);
			CHECK_HAS(res.why, "record ");
			CHECK_HAS(res.why, "offset ");
		}
	}
	printf("# %u flipped bits refused\n", tried);
	free(copy);
}

/* The same records, in another order: each one is intact, END's chain
 * catches it. */
static void
test_swapped(void)
{
	uint8_t *copy = malloc(img_len);
	CHECK(copy != NULL);
	/* records 3 and 4 (calls of different lengths), by rebuilding */
	size_t a = bounds[3], b = bounds[4], e = bounds[5];
	memcpy(copy, img, a);
	memcpy(copy + a, img + b, e - b);
	memcpy(copy + a + (e - b), img + a, b - a);
	memcpy(copy + e, img + e, img_len - e);
	struct result res = read_all(copy, img_len);
	CHECK_RC(res.rc, AVA_ECORRUPT);
	CHECK_HAS(res.why, "chain");
	char name[64];
	snprintf(name, sizeof(name), "record %u at offset %zu", nrec - 1,
		 bounds[nrec - 1]);
	CHECK_HAS(res.why, name);

	/* The HEADER moved behind a call. */
	memcpy(copy, img, AVA_IMG_PREAMBLE_SIZE);
	a = bounds[0];
	b = bounds[1];
	e = bounds[2];
	memcpy(copy + a, img + b, e - b);
	memcpy(copy + a + (e - b), img + a, b - a);
	res = read_all(copy, img_len);
	CHECK_RC(res.rc, AVA_ECORRUPT);
	CHECK_HAS(res.why, "record 0 at offset 16: CALL record where the "
		  "HEADER must come first");
	free(copy);
}

/* A whole record of the given type and body, sealed with its checksum. */
static size_t
record(uint8_t *out, uint32_t type, const uint8_t *body, size_t n)
{
	memset(out, 0, 24);
	out[0] = (uint8_t)type;
	put64(out + 8, n);
	put64(out + 16, XXH3_64bits(body, n));
	memcpy(out + 24, body, n);
	return 24 + n;
}

static void
test_after_end(void)
{
	uint8_t *copy = malloc(img_len + 64);
	uint8_t body[8];
	CHECK(copy != NULL);
	memcpy(copy, img, img_len);
	put64(body, 104);
	size_t n = img_len + record(copy + img_len, 5, body, 8);
	struct result res = read_all(copy, n);
	CHECK_RC(res.rc, AVA_ECORRUPT);
	CHECK(res.records == nrec - 1);
	char name[64];
	snprintf(name, sizeof(name), "record %u at offset %zu: data after "
		 "END", nrec, img_len);
	CHECK_HAS(res.why, name);

	/* One stray byte is as bad, and the file check says so too. */
	res = read_all(copy, img_len + 1);
	CHECK_RC(res.rc, AVA_ECORRUPT);
	char *dir = mt_tmpdir("damage"), path[4200], why[512];
	snprintf(path, sizeof(path), "%s/img", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, copy, n) == (ssize_t)n);
	close(fd);
	CHECK_RC(ava_img_check_file(path, NULL, why, sizeof(why)),
		 AVA_ECORRUPT);
	CHECK_HAS(why, path);
	CHECK_HAS(why, "data after END");
	unlink(path);
	rmdir(dir);
	free(dir);
	free(copy);
}

static void
test_header_twice(void)
{
	size_t hl = bounds[1] - bounds[0];
	uint8_t *copy = malloc(img_len + hl);
	CHECK(copy != NULL);
	memcpy(copy, img, bounds[1]);
	memcpy(copy + bounds[1], img + bounds[0], hl);
	memcpy(copy + bounds[1] + hl, img + bounds[1], img_len - bounds[1]);
	struct result res = read_all(copy, img_len + hl);
	CHECK_RC(res.rc, AVA_ECORRUPT);
	CHECK_HAS(res.why, "record 1 at offset");
	CHECK_HAS(res.why, "a second HEADER");
	/* And no HEADER at all. */
	memcpy(copy, img, AVA_IMG_PREAMBLE_SIZE);
	memcpy(copy + 16, img + bounds[1], img_len - bounds[1]);
	res = read_all(copy, 16 + img_len - bounds[1]);
	CHECK_RC(res.rc, AVA_ECORRUPT);
	CHECK_HAS(res.why, "HEADER must come first");
	free(copy);
}

static void
test_not_an_image(void)
{
	static const char text[] = "hello, this is not an image at all\n";
	CHECK_RC(read_all((const uint8_t *)text, sizeof(text)).rc,
		 AVA_ECORRUPT);
	CHECK_RC(read_all(img, 0).rc, AVA_ECORRUPT);

	uint8_t copy[64];
	memcpy(copy, img, sizeof(copy));
	copy[8] = 2;   /* version 2 */
	CHECK_RC(read_all(copy, sizeof(copy)).rc, AVA_EVERSION);
	memcpy(copy, img, sizeof(copy));
	copy[12] = 1;  /* unknown flags */
	CHECK_RC(read_all(copy, sizeof(copy)).rc, AVA_ECORRUPT);

	/* The file check says which. */
	char *dir = mt_tmpdir("notimg"), path[4200], why[512];
	snprintf(path, sizeof(path), "%s/img", dir);
	memcpy(copy, img, sizeof(copy));
	copy[8] = 2;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, copy, sizeof(copy)) == sizeof(copy));
	close(fd);
	CHECK_RC(ava_img_check_file(path, NULL, why, sizeof(why)),
		 AVA_EVERSION);
	CHECK_HAS(why, "image format version 2; this ava reads version 1");
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, text, 20) == 20);
	close(fd);
	CHECK_RC(ava_img_check_file(path, NULL, why, sizeof(why)),
		 AVA_ECORRUPT);
	CHECK_HAS(why, "not a checkpoint image");
	fd = open(path, O_WRONLY | O_TRUNC);
	close(fd);
	CHECK_RC(ava_img_check_file(path, NULL, why, sizeof(why)),
		 AVA_ECORRUPT);
	CHECK_HAS(why, "shorter than its 16-byte preamble");
	unlink(path);
	rmdir(dir);
	free(dir);
}

/* A crafted stream: the real preamble, then records given as bytes. */
static struct result
crafted(const uint8_t *recs, size_t n)
{
	static uint8_t s[1 << 16];
	CHECK(n + 16 <= sizeof(s));
	memcpy(s, img, 16);
	memcpy(s + 16, recs, n);
	return read_all(s, 16 + n);
}

/* The pristine HEADER body, to vary. */
static size_t
header_body(uint8_t *out)
{
	size_t n = bounds[1] - bounds[0] - 24;
	memcpy(out, img + bounds[0] + 24, n);
	return n;
}

static void
test_huge_lengths(void)
{
	uint8_t copy[4096];
	memcpy(copy, img + 16, bounds[1] - 16);
	const uint64_t lens[] = { 1ull << 63, UINT64_MAX,
				  AVA_IMG_RECORD_MAX + 1ull };
	for (unsigned i = 0; i < 3; i++) {
		put64(copy + 8, lens[i]);
		struct result res = crafted(copy, bounds[1] - 16);
		CHECK_RC(res.rc, AVA_ETOOBIG);
		CHECK_HAS(res.why, "record 0 at offset 16: length");
		CHECK_HAS(res.why, "exceeds the bound 67108864");
	}
	/* Just under the bound: a lying length costs no 64 MiB up front,
	 * and the stream is found truncated. */
	put64(copy + 8, AVA_IMG_RECORD_MAX);
	struct result res = crafted(copy, bounds[1] - 16);
	CHECK_RC(res.rc, AVA_ECLOSED);
	CHECK_HAS(res.why, "truncated: the stream ends in record 0");
}

static void
test_header_fields(void)
{
	uint8_t body[1024], rec[1100];
	size_t n = header_body(body);
	struct result res;

	put64(body + 28, 0);   /* nthreads = 4097 (u32 at 28) */
	body[28] = (AVA_IMG_MAX_THREADS + 1) & 0xff;
	body[29] = (AVA_IMG_MAX_THREADS + 1) >> 8;
	res = crafted(rec, record(rec, 1, body, n));
	CHECK_RC(res.rc, AVA_ETOOBIG);
	CHECK_HAS(res.why, "record 0 at offset 16: 4097 threads exceed");

	n = header_body(body);
	body[28] = 3;          /* one thread more than the body holds */
	res = crafted(rec, record(rec, 1, body, n));
	CHECK_RC(res.rc, AVA_ECORRUPT);
	CHECK_HAS(res.why, "does not match its 3 threads");

	n = header_body(body);
	body[56 + 4 + 3] = 0;  /* a NUL inside the source text */
	res = crafted(rec, record(rec, 1, body, n));
	CHECK_RC(res.rc, AVA_ECORRUPT);
	CHECK_HAS(res.why, "source text holds a NUL");

	n = header_body(body);
	body[56] = 0x2c;       /* source text of 300 bytes */
	body[57] = 0x01;
	res = crafted(rec, record(rec, 1, body, n));
	CHECK_RC(res.rc, AVA_ETOOBIG);
	CHECK_HAS(res.why, "source text of 300 bytes exceeds");

	n = header_body(body);
	body[56] = 200;        /* longer than the record */
	res = crafted(rec, record(rec, 1, body, n));
	CHECK_RC(res.rc, AVA_ECORRUPT);
	CHECK_HAS(res.why, "runs past the record");

	memset(body, 0, 64);   /* source "abcd", then no room for device */
	body[56] = 4;
	memcpy(body + 60, "abcd", 4);
	res = crafted(rec, record(rec, 1, body, 64));
	CHECK_RC(res.rc, AVA_ECORRUPT);
	CHECK_HAS(res.why, "the HEADER ends inside its device text");

	n = header_body(body);
	body[2] = 1;           /* pad */
	res = crafted(rec, record(rec, 1, body, n));
	CHECK_RC(res.rc, AVA_ECORRUPT);
	CHECK_HAS(res.why, "nonzero pad");

	n = header_body(body);
	rec[0] = 0;
	res = crafted(rec, record(rec, 1, body, 60)); /* under the minimum */
	CHECK_RC(res.rc, AVA_ECORRUPT);
	CHECK_HAS(res.why, "HEADER record of 60 bytes (it has at least 64)");
}

/* The pristine header record, then one crafted record. */
static struct result
after_header(uint32_t type, const uint8_t *body, size_t n)
{
	static uint8_t s[4096];
	size_t hl = bounds[1] - bounds[0];
	memcpy(s, img + bounds[0], hl);
	return crafted(s, hl + record(s + hl, type, body, n));
}

static void
test_record_fields(void)
{
	uint8_t b[128] = { 0 };
	struct result res;

	res = after_header(9, b, 8);
	CHECK_RC(res.rc, AVA_EPROTO);
	CHECK_HAS(res.why, "record 1 at offset");
	CHECK_HAS(res.why, "unknown record type 9");

	/* STATE beyond its total: 16 bytes at 10 of 20. */
	put64(b, 5);
	put64(b + 8, 10);
	put64(b + 16, 20);
	res = after_header(4, b, 24 + 16);
	CHECK_RC(res.rc, AVA_EPROTO);
	CHECK_HAS(res.why, "lies beyond the object's 20");
	put64(b + 8, UINT64_MAX);   /* offset + len would wrap */
	put64(b + 16, UINT64_MAX);
	res = after_header(4, b, 24 + 16);
	CHECK_RC(res.rc, AVA_EPROTO);

	/* OBJECT: unknown flag, nonzero pad, wrong size. */
	memset(b, 0, sizeof(b));
	put64(b, 5);
	b[16] = 0x80;
	res = after_header(3, b, 40);
	CHECK_RC(res.rc, AVA_EPROTO);
	CHECK_HAS(res.why, "object 5: unknown object flags");
	b[16] = 0;
	b[21] = 1;
	res = after_header(3, b, 40);
	CHECK_RC(res.rc, AVA_ECORRUPT);
	CHECK_HAS(res.why, "nonzero pad in an OBJECT");
	res = after_header(3, b, 48);
	CHECK_RC(res.rc, AVA_ECORRUPT);
	CHECK_HAS(res.why, "OBJECT record of 48 bytes (it has 40)");

	/* CALL: call bytes past the record, nonzero pad, reply short. */
	memset(b, 0, sizeof(b));
	put64(b + 16, 1000);
	res = after_header(2, b, 40);
	CHECK_RC(res.rc, AVA_ECORRUPT);
	CHECK_HAS(res.why, "run past the record");
	put64(b + 16, 3);
	b[24 + 5] = 1;
	res = after_header(2, b, 40);
	CHECK_RC(res.rc, AVA_ECORRUPT);
	CHECK_HAS(res.why, "nonzero pad after the call bytes");
	b[24 + 5] = 0;
	put64(b + 32, 9);
	res = after_header(2, b, 48);
	CHECK_RC(res.rc, AVA_ECORRUPT);
	CHECK_HAS(res.why, "do not fill");

	/* DROP of id 0; END with a wrong count; a nonzero reserved field. */
	memset(b, 0, sizeof(b));
	res = after_header(5, b, 8);
	CHECK_RC(res.rc, AVA_EPROTO);
	put64(b, 7);
	res = after_header(6, b, 16);
	CHECK_RC(res.rc, AVA_ECORRUPT);
	CHECK_HAS(res.why, "END counts 7 records, the stream held 1");

	uint8_t s[4096];
	size_t hl = bounds[1] - bounds[0];
	memcpy(s, img + bounds[0], hl);
	hl += record(s + hl, 5, b, 8);
	s[bounds[1] - bounds[0] + 5] = 1;
	res = crafted(s, hl);
	CHECK_RC(res.rc, AVA_ECORRUPT);
	CHECK_HAS(res.why, "nonzero reserved field");
}

/* A read error (not an end of input) is passed on, naming the record. */
static int
failing_read(void *ctx, void *p, size_t n)
{
	struct mt_src *s = ctx;
	if (s->pos > 200)
		return -EIO;
	return mt_src_read(ctx, p, n);
}

static void
test_read_error(void)
{
	struct mt_src src = { img, img_len, 0 };
	struct ava_img_reader *r;
	struct ava_img_rec rec;
	int rc;
	CHECK_RC(ava_img_reader_create(failing_read, &src, &r), 0);
	while ((rc = ava_img_read(r, &rec)) == 1)
		;
	CHECK_RC(rc, -EIO);
	CHECK_HAS(ava_img_reader_why(r), "read failed");
	CHECK_HAS(ava_img_reader_why(r), "record ");
	ava_img_reader_destroy(r);
}

int
main(void)
{
	build();
	RUN(test_pristine);
	RUN(test_truncated);
	RUN(test_bit_flips);
	RUN(test_swapped);
	RUN(test_after_end);
	RUN(test_header_twice);
	RUN(test_not_an_image);
	RUN(test_huge_lengths);
	RUN(test_header_fields);
	RUN(test_record_fields);
	RUN(test_read_error);
	free(img);
	return 0;
}
