/*
 * test-image.c - checkpoint images round trip: a header with threads and
 * texts, calls with odd-length payloads, objects with every flag, STATE
 * chunks of a 10 MiB random buffer, drops; written to memory, a file and
 * a pipe, read back through both adapters and compared field by field.
 * Also: the writer passes big chunks straight through, refuses what the
 * reader would refuse, and keeps its first error; ava_img_check_file's
 * summary.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

#include "mtest.h"

#define NCALLS 40
#define NOBJ 6
#define BIG (10u << 20)
#define SMALL 13

static struct ava_img_thread threads[3] = {
	{ 1, 100 }, { 2, 7 }, { 0xffffffffu, UINT64_MAX },
};

static const struct ava_img_header hdr = {
	.api_id = 7, .spec_hash = 0xdeadbeef, .session = 0x0123456789abcdefull,
	.token = 0xfedcba9876543210ull, .owner = 0x1234, .async_done = 99,
	.created_ns = 1700000000123456789ull, .live_bytes = BIG + SMALL,
	.source = "unix:/run/ava.sock pid 4242", .device = "pthread-cpu",
	.nthreads = 3, .threads = threads,
};

static const struct ava_img_object objs[NOBJ] = {
	{ 0x10001, 1, 2, AVA_IMG_OBJ_LIVE, 0, 0 },
	{ 0x10002, 2, 1, AVA_IMG_OBJ_LIVE | AVA_IMG_OBJ_STATE, BIG, 0 },
	{ 0x10003, 2, 0, AVA_IMG_OBJ_STATE, SMALL, 0 },
	{ 0x10004, 3, 0, 0, 0, 0 },
	{ 0x10005, 4, 1, AVA_IMG_OBJ_LIVE | AVA_IMG_OBJ_SUBSTITUTE, 0,
	  0x10001 },
	{ UINT64_MAX, UINT16_MAX, UINT32_MAX, AVA_IMG_OBJ_LIVE, 0, 0 },
};

static uint8_t *big, small[SMALL];
static uint8_t payload[8192];

/* Call i: lengths 0, 1, 7, 8, 9, ... with bytes from payload. */
static struct ava_img_call
call_n(unsigned i)
{
	struct ava_img_call c = {
		.seq = 1000 + i, .thread = i % 3, .fn = 17 * i,
		.call = payload + i, .call_len = (i * 37) % 700,
		.reply = payload + 2 * i, .reply_len = (i * 53) % 333,
	};
	if (i % 5 == 0)
		c.reply_len = 0;
	if (i == 3)
		c.call_len = 0;
	return c;
}

/* Where the sink must see a chunk pass through untouched. */
static const uint8_t *expect_through;

static int
checking_write(void *ctx, const void *p, size_t n)
{
	if (n > (1u << 20))
		CHECK(p >= (const void *)big && p < (const void *)(big + BIG));
	if (p == expect_through)
		expect_through = NULL;
	return mt_sink_write(ctx, p, n);
}

static void
write_image(ava_img_write_fn fn, void *ctx)
{
	struct ava_img_writer *w;
	CHECK_RC(ava_img_writer_create(fn, ctx, &w), 0);
	CHECK_RC(ava_img_put_header(w, &hdr), 0);
	for (unsigned i = 0; i < NCALLS; i++) {
		struct ava_img_call c = call_n(i);
		CHECK_RC(ava_img_put_call(w, &c), 0);
	}
	for (unsigned i = 0; i < NOBJ; i++)
		CHECK_RC(ava_img_put_object(w, &objs[i]), 0);
	for (uint64_t off = 0; off < BIG; off += AVA_IMG_CHUNK) {
		struct ava_img_state s = { .id = 0x10002, .offset = off,
			.total = BIG, .data = big + off,
			.len = BIG - off < AVA_IMG_CHUNK ? BIG - off
							 : AVA_IMG_CHUNK };
		CHECK_RC(ava_img_put_state(w, &s), 0);
	}
	struct ava_img_state s = { 0x10003, 0, SMALL, small, SMALL };
	CHECK_RC(ava_img_put_state(w, &s), 0);
	CHECK_RC(ava_img_put_drop(w, 0x10004), 0);
	CHECK_RC(ava_img_put_drop(w, 0x77), 0);
	uint64_t before = ava_img_writer_bytes(w);
	CHECK_RC(ava_img_writer_finish(w), 0);
	CHECK(ava_img_writer_bytes(w) == before + 24 + 16);
	ava_img_writer_destroy(w);
}

static void
same_header(const struct ava_img_header *a, const struct ava_img_header *b)
{
	CHECK(a->api_id == b->api_id && a->spec_hash == b->spec_hash);
	CHECK(a->session == b->session && a->token == b->token);
	CHECK(a->owner == b->owner && a->async_done == b->async_done);
	CHECK(a->created_ns == b->created_ns);
	CHECK(a->live_bytes == b->live_bytes);
	CHECK(strcmp(a->source, b->source) == 0);
	CHECK(strcmp(a->device, b->device) == 0);
	CHECK(a->nthreads == b->nthreads);
	for (uint32_t i = 0; i < a->nthreads; i++) {
		CHECK(a->threads[i].thread == b->threads[i].thread);
		CHECK(a->threads[i].last_seq == b->threads[i].last_seq);
	}
}

static void
same_call(const struct ava_img_call *a, const struct ava_img_call *b)
{
	CHECK(a->seq == b->seq && a->thread == b->thread && a->fn == b->fn);
	CHECK(a->call_len == b->call_len && a->reply_len == b->reply_len);
	CHECK(memcmp(a->call, b->call, a->call_len) == 0);
	CHECK(memcmp(a->reply, b->reply, a->reply_len) == 0);
}

static void
same_object(const struct ava_img_object *a, const struct ava_img_object *b)
{
	CHECK(a->id == b->id && a->type == b->type && a->refs == b->refs);
	CHECK(a->flags == b->flags && a->size == b->size);
	CHECK(a->parent == b->parent);
}

static void
next(struct ava_img_reader *r, struct ava_img_rec *rec,
     enum ava_img_type type, uint64_t *index)
{
	int rc = ava_img_read(r, rec);
	if (rc != 1)
		fprintf(stderr, "read: %s: %s\n", ava_strerror(rc),
			ava_img_reader_why(r));
	CHECK_RC(rc, 1);
	CHECK(rec->type == type);
	CHECK(rec->index == (*index)++);
}

/* Read an image back and compare every field with what was written. */
static void
read_image(ava_img_read_fn fn, void *ctx, uint64_t total)
{
	struct ava_img_reader *r;
	struct ava_img_rec rec;
	uint64_t index = 0, last_off = 0;
	CHECK_RC(ava_img_reader_create(fn, ctx, &r), 0);
	next(r, &rec, AVA_IMG_HEADER, &index);
	CHECK(rec.offset == AVA_IMG_PREAMBLE_SIZE);
	same_header(&rec.u.header, &hdr);
	for (unsigned i = 0; i < NCALLS; i++) {
		next(r, &rec, AVA_IMG_CALL, &index);
		CHECK(rec.offset > last_off);
		last_off = rec.offset;
		struct ava_img_call c = call_n(i);
		same_call(&rec.u.call, &c);
	}
	for (unsigned i = 0; i < NOBJ; i++) {
		next(r, &rec, AVA_IMG_OBJECT, &index);
		same_object(&rec.u.object, &objs[i]);
	}
	for (uint64_t off = 0; off < BIG; off += AVA_IMG_CHUNK) {
		next(r, &rec, AVA_IMG_STATE, &index);
		const struct ava_img_state *s = &rec.u.state;
		CHECK(s->id == 0x10002 && s->offset == off && s->total == BIG);
		CHECK(s->len == (BIG - off < AVA_IMG_CHUNK ? BIG - off
							   : AVA_IMG_CHUNK));
		CHECK(memcmp(s->data, big + off, s->len) == 0);
	}
	next(r, &rec, AVA_IMG_STATE, &index);
	CHECK(rec.u.state.id == 0x10003 && rec.u.state.len == SMALL);
	CHECK(memcmp(rec.u.state.data, small, SMALL) == 0);
	next(r, &rec, AVA_IMG_DROP, &index);
	CHECK(rec.u.drop == 0x10004);
	next(r, &rec, AVA_IMG_DROP, &index);
	CHECK(rec.u.drop == 0x77);
	CHECK_RC(ava_img_read(r, &rec), 0);
	CHECK(rec.type == AVA_IMG_END && rec.index == index);
	CHECK(ava_img_reader_bytes(r) == total);
	/* Nothing follows END: reading on gives the clean end again. */
	CHECK_RC(ava_img_read(r, &rec), 0);
	CHECK_RC(ava_img_read(r, &rec), 0);
	CHECK(strcmp(ava_img_reader_why(r), "no error") == 0);
	ava_img_reader_destroy(r);
}

static struct mt_sink mem;

static void
test_memory(void)
{
	expect_through = big + AVA_IMG_CHUNK;
	write_image(checking_write, &mem);
	CHECK(expect_through == NULL);   /* the chunk went straight through */
	/* Small records were gathered: far fewer writes than records. */
	CHECK(mem.writes < 20);
	struct mt_src src = { mem.p, mem.len, 0 };
	read_image(mt_src_read, &src, mem.len);
	CHECK(src.pos == src.len);
}

static char *dir, file[4200];

static void
test_file(void)
{
	snprintf(file, sizeof(file), "%s/image", dir);
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	write_image(ava_img_fd_write, &fd);
	close(fd);
	/* The same bytes as in memory: the format is deterministic. */
	fd = open(file, O_RDONLY);
	CHECK(fd >= 0);
	struct stat st;
	CHECK(fstat(fd, &st) == 0 && (size_t)st.st_size == mem.len);
	uint8_t *copy = malloc(mem.len);
	CHECK(copy != NULL && read(fd, copy, mem.len) == (ssize_t)mem.len);
	CHECK(memcmp(copy, mem.p, mem.len) == 0);
	free(copy);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	read_image(ava_img_fd_read, &fd, mem.len);
	close(fd);
}

static void *
pipe_writer(void *arg)
{
	int *fd = arg;
	write_image(ava_img_fd_write, fd);
	close(*fd);
	return NULL;
}

static void
test_pipe(void)
{
	int p[2];
	pthread_t t;
	CHECK(pipe(p) == 0);
	CHECK(pthread_create(&t, NULL, pipe_writer, &p[1]) == 0);
	read_image(ava_img_fd_read, &p[0], mem.len);
	CHECK(pthread_join(t, NULL) == 0);
	close(p[0]);
}

static void
test_check_file(void)
{
	struct ava_img_summary sum;
	char why[512] = "";
	CHECK_RC(ava_img_check_file(file, &sum, why, sizeof(why)), 0);
	CHECK(sum.header.session == hdr.session);
	CHECK(sum.header.nthreads == 3 && sum.header.threads == NULL);
	CHECK(sum.header.source == NULL && sum.header.device == NULL);
	CHECK(sum.calls == NCALLS && sum.objects == NOBJ);
	CHECK(sum.live_objects == 4 && sum.drops == 2);
	CHECK(sum.states == 4 && sum.state_bytes == BIG + SMALL);
	CHECK(sum.file_bytes == mem.len);
	CHECK_RC(ava_img_check_file(file, NULL, NULL, 0), 0);

	char missing[4300];
	snprintf(missing, sizeof(missing), "%s/none", dir);
	CHECK_RC(ava_img_check_file(missing, &sum, why, sizeof(why)),
		 -ENOENT);
	CHECK_HAS(why, missing);
	CHECK_HAS(why, "No such file");
	CHECK_RC(ava_img_check_file(dir, &sum, why, sizeof(why)), -EISDIR);
}

/* A header, END, nothing else: the smallest image. */
static void
test_empty(void)
{
	struct mt_sink s = { 0 };
	struct ava_img_writer *w;
	struct ava_img_header h = { .session = 1 };
	CHECK_RC(ava_img_writer_create(mt_sink_write, &s, &w), 0);
	CHECK_RC(ava_img_put_header(w, &h), 0);
	CHECK_RC(ava_img_writer_finish(w), 0);
	ava_img_writer_destroy(w);
	CHECK(s.len == 16 + 24 + 64 + 24 + 16);

	struct mt_src src = { s.p, s.len, 0 };
	struct ava_img_reader *r;
	struct ava_img_rec rec;
	CHECK_RC(ava_img_reader_create(mt_src_read, &src, &r), 0);
	CHECK_RC(ava_img_read(r, &rec), 1);
	CHECK(rec.type == AVA_IMG_HEADER);
	CHECK(strcmp(rec.u.header.source, "") == 0);
	CHECK(rec.u.header.nthreads == 0);
	CHECK_RC(ava_img_read(r, &rec), 0);
	ava_img_reader_destroy(r);
	free(s.p);
}

static struct ava_img_writer *
fresh(struct mt_sink *s, bool with_header)
{
	struct ava_img_writer *w;
	struct ava_img_header h = { .session = 1 };
	s->len = 0;
	CHECK_RC(ava_img_writer_create(mt_sink_write, s, &w), 0);
	if (with_header)
		CHECK_RC(ava_img_put_header(w, &h), 0);
	return w;
}

/* What the reader would refuse, the writer refuses to write; its first
 * error sticks. */
static void
test_writer_refuses(void)
{
	struct mt_sink s = { 0 };
	struct ava_img_call c = { .seq = 1 };
	struct ava_img_writer *w = fresh(&s, false);
	CHECK_RC(ava_img_put_call(w, &c), -EINVAL);   /* before HEADER */
	CHECK_RC(ava_img_put_drop(w, 5), -EINVAL);      /* sticky */
	ava_img_writer_destroy(w);

	w = fresh(&s, true);
	CHECK_RC(ava_img_put_header(w, &hdr), -EINVAL); /* a second one */
	CHECK_RC(ava_img_writer_finish(w), -EINVAL);
	ava_img_writer_destroy(w);

	w = fresh(&s, false);
	CHECK_RC(ava_img_writer_finish(w), -EINVAL);    /* no HEADER */
	ava_img_writer_destroy(w);

	char long_text[AVA_IMG_TEXT_MAX + 2];
	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	struct ava_img_header h = { .source = long_text };
	w = fresh(&s, false);
	CHECK_RC(ava_img_put_header(w, &h), AVA_ETOOBIG);
	ava_img_writer_destroy(w);
	long_text[AVA_IMG_TEXT_MAX] = '\0';             /* exactly the bound */
	w = fresh(&s, false);
	CHECK_RC(ava_img_put_header(w, &h), 0);
	ava_img_writer_destroy(w);

	h = (struct ava_img_header){ .nthreads = AVA_IMG_MAX_THREADS + 1,
				     .threads = threads };
	w = fresh(&s, false);
	CHECK_RC(ava_img_put_header(w, &h), AVA_ETOOBIG);
	ava_img_writer_destroy(w);

	struct ava_img_state st = { 9, 10, 15, small, 6 }; /* 10 + 6 > 15 */
	w = fresh(&s, true);
	CHECK_RC(ava_img_put_state(w, &st), -EINVAL);
	ava_img_writer_destroy(w);
	st = (struct ava_img_state){ 9, 0, UINT64_MAX, small,
				     AVA_IMG_RECORD_MAX - 23 };
	w = fresh(&s, true);
	CHECK_RC(ava_img_put_state(w, &st), AVA_ETOOBIG);
	ava_img_writer_destroy(w);

	const struct ava_img_object bad[] = {
		{ 0, 1, 1, AVA_IMG_OBJ_LIVE, 0, 0 },            /* id 0 */
		{ 5, 1, 0, 1u << 7, 0, 0 },                     /* flags */
		{ 5, 1, 3, 0, 0, 0 },                           /* refs */
		{ 5, 1, 0, 0, 100, 0 },                         /* size */
		{ 5, 1, 0, 0, 0, 4 },                           /* parent */
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		w = fresh(&s, true);
		CHECK_RC(ava_img_put_object(w, &bad[i]), -EINVAL);
		ava_img_writer_destroy(w);
	}
	w = fresh(&s, true);
	CHECK_RC(ava_img_put_drop(w, 0), -EINVAL);
	ava_img_writer_destroy(w);
	c = (struct ava_img_call){ .call = NULL, .call_len = 4 };
	w = fresh(&s, true);
	CHECK_RC(ava_img_put_call(w, &c), -EINVAL);
	ava_img_writer_destroy(w);
	free(s.p);
}

/* A sink that fails: its error comes back and stays. */
static void
test_write_error(void)
{
	struct mt_sink s = { .fail_after = 3 };
	struct ava_img_writer *w;
	CHECK_RC(ava_img_writer_create(mt_sink_write, &s, &w), -ENOSPC);

	s = (struct mt_sink){ .fail_after = (2u << 20) };
	CHECK_RC(ava_img_writer_create(mt_sink_write, &s, &w), 0);
	CHECK_RC(ava_img_put_header(w, &hdr), 0);
	int rc = 0;
	for (uint64_t off = 0; off < BIG && rc == 0; off += AVA_IMG_CHUNK) {
		struct ava_img_state st = { 3, off, BIG, big + off,
					    AVA_IMG_CHUNK };
		rc = ava_img_put_state(w, &st);
	}
	CHECK_RC(rc, -ENOSPC);
	CHECK_RC(ava_img_put_drop(w, 3), -ENOSPC);
	CHECK_RC(ava_img_writer_finish(w), -ENOSPC);
	ava_img_writer_destroy(w);
	free(s.p);
	ava_img_writer_destroy(NULL);
	ava_img_reader_destroy(NULL);
}

int
main(void)
{
	big = malloc(BIG);
	CHECK(big != NULL);
	mt_fill(big, BIG, 42);
	mt_fill(small, SMALL, 7);
	mt_fill(payload, sizeof(payload), 9);
	dir = mt_tmpdir("image");

	RUN(test_memory);
	RUN(test_file);
	RUN(test_pipe);
	RUN(test_check_file);
	RUN(test_empty);
	RUN(test_writer_refuses);
	RUN(test_write_error);

	unlink(file);
	rmdir(dir);
	free(dir);
	free(mem.p);
	free(big);
	return 0;
}
