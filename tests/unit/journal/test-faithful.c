/*
 * test-faithful.c - what goes in comes out: every field, every byte, in
 * order; a repeated payload is stored once; bad input is refused; the
 * counters add up; calls committed one at a time reuse the arena's start.
 */
#include <pthread.h>

#include "gen-entry.h"

#define N 6000

static void
check_payload(struct ava_journal_reader *r, const struct ava_journal_payload *p,
	      const struct ava_journal_buf *want)
{
	void *data;
	size_t len;
	CHECK_RC(ava_journal_payload_read(r, p, &data, &len), 0);
	CHECK(len == want->len && p->len == want->len);
	CHECK(memcmp(data, want->data, len) == 0);
	free(data);
}

static void
check_call(struct ava_journal_reader *r, const struct ava_journal_call *c,
	   struct gen_entry *g)
{
	const struct ava_journal_entry *e = &g->e;
	CHECK(c->session == e->session && c->seq == e->seq);
	CHECK(c->thread == e->thread && c->fn == e->fn);
	CHECK(c->ret == e->ret && c->deferred_error == e->deferred_error);
	CHECK(c->start_ns == e->start_ns && c->duration_ns == e->duration_ns);
	CHECK(c->async == e->async);
	CHECK(c->args_len == e->args_len);
	CHECK(memcmp(c->args, e->args, e->args_len) == 0);
	CHECK(c->outs_len == e->outs_len);
	CHECK(e->outs_len == 0 || memcmp(c->outs, e->outs, e->outs_len) == 0);
	CHECK(c->ndigests == e->ndigests);
	for (uint32_t d = 0; d < e->ndigests; d++)
		CHECK(ava_journal_call_digest(c, d) == e->digests[d]);
	CHECK(c->npayloads == e->npayloads);
	for (uint32_t p = 0; p < e->npayloads; p++) {
		CHECK(c->payloads[p].is_blob == (e->payloads[p].len >= 4096));
		check_payload(r, &c->payloads[p], &e->payloads[p]);
	}
	CHECK(c->ntags == e->ntags);
	for (uint32_t t = 0; t < e->ntags; t++)
		CHECK(c->tags[t].kind == e->tags[t].kind &&
		      c->tags[t].object == e->tags[t].object);
}

static int
session_cb(const struct ava_journal_session *s, void *data)
{
	int *n = data;
	(*n)++;
	CHECK(s->id == (uint64_t)*n);
	CHECK(strcmp(s->api, "opencl") == 0);
	CHECK(strcmp(s->devices, "pocl: cpu\nfake: gpu") == 0);
	CHECK(s->ncalls == N / 2 && s->first_seq == 1 && s->last_seq == N / 2);
	if (s->id == 1) {
		CHECK(s->end == AVA_JOURNAL_END_CLEAN);
		CHECK(strcmp(s->guest, "pid:1") == 0);
	} else {
		CHECK(s->end == AVA_JOURNAL_END_FAULT && s->fault_seq == 17);
		CHECK(strcmp(s->host, "") == 0);
	}
	return 0;
}

static void
write_run(const char *dir, struct gen_entry *g)
{
	struct ava_journal *j;
	struct ava_journal_options o;
	char why[256];
	uint64_t s1, s2;
	ava_journal_options_init(&o);
	CHECK_RC(ava_journal_open(dir, &o, why, sizeof(why), &j), 0);
	struct ava_journal_session_info a = { "pid:1", "opencl", "hostA",
		"0.1.0", "pocl: cpu\nfake: gpu", 1 };
	struct ava_journal_session_info b = { "vm:7", "opencl", NULL,
		"0.1.0", "pocl: cpu\nfake: gpu", 2 };
	CHECK_RC(ava_journal_session_begin(j, &a, &s1), 0);
	CHECK_RC(ava_journal_session_begin(j, &b, &s2), 0);
	CHECK(s1 == 1 && s2 == 2);
	for (uint64_t i = 1; i <= N; i++) {
		gen_make(g, i % 2 ? s1 : s2, (i + 1) / 2, i);
		CHECK_RC(ava_journal_append(j, &g->e, 0), 0);
	}
	CHECK_RC(ava_journal_session_end(j, s1, AVA_JOURNAL_END_CLEAN, 0, 5), 0);
	CHECK_RC(ava_journal_session_end(j, s2, AVA_JOURNAL_END_FAULT, 17, 6), 0);
	CHECK_RC(ava_journal_flush(j), 0);

	/* A repeated payload is stored once; unique ones each once. */
	struct ava_journal_stats st;
	ava_journal_get_stats(j, &st);
	CHECK(st.appended == N && st.committed == N && st.lost == 0);
	CHECK(st.blobs_written == N / 5 + 1);
	CHECK(st.blobs_deduped == N / 7 - 1);
	CHECK(st.inline_payloads == N / 3);
	printf("faithful: %llu batches, %llu blobs, %llu deduped\n",
	       (unsigned long long)st.batches,
	       (unsigned long long)st.blobs_written,
	       (unsigned long long)st.blobs_deduped);

	/* Reading while the writer holds the journal open. */
	struct ava_journal_reader *r;
	struct ava_journal_call *c;
	CHECK_RC(ava_journal_reader_from(j, &r), 0);
	CHECK_RC(ava_journal_call_get(r, s2, 10, &c), 0);
	gen_make(g, s2, 10, 20);
	check_call(r, c, g);
	ava_journal_call_free(c);
	ava_journal_reader_close(r);
	CHECK_RC(ava_journal_close(j), 0);
}

static int
count_cb(const struct ava_journal_call *c, void *data)
{
	uint64_t *n = data;
	CHECK(c->seq == *n + 100);
	(*n)++;
	return 0;
}

static void
read_run(const char *dir, struct gen_entry *g)
{
	struct ava_journal_reader *r;
	struct ava_journal_info info;
	char why[256];
	CHECK_RC(ava_journal_reader_open(dir, why, sizeof(why), &r), 0);
	CHECK_RC(ava_journal_reader_info(r, &info), 0);
	CHECK(info.format_version == AVA_JOURNAL_FORMAT_VERSION);
	CHECK(info.level == AVA_JOURNAL_LEVEL_FULL);
	CHECK(info.sessions == 2 && info.calls == N);
	CHECK(info.blobs == N / 5 + 1 && info.segments == 1);
	int ns = 0;
	CHECK_RC(ava_journal_session_foreach(r, session_cb, &ns), 0);
	CHECK(ns == 2);
	for (uint64_t s = 1; s <= 2; s++) {
		struct ava_journal_cursor *cur;
		const struct ava_journal_call *c;
		uint64_t seq = 0;
		CHECK_RC(ava_journal_cursor_create(r, s, 0, &cur), 0);
		int rc;
		while ((rc = ava_journal_cursor_next(cur, &c)) == 1) {
			seq++;
			gen_make(g, s, seq, s == 1 ? 2 * seq - 1 : 2 * seq);
			check_call(r, c, g);
		}
		CHECK_RC(rc, 0);
		CHECK(seq == N / 2);
		ava_journal_cursor_destroy(cur);
	}
	uint64_t n = 0;
	CHECK_RC(ava_journal_call_foreach(r, 1, 100, count_cb, &n), 0);
	CHECK(n == N / 2 - 99);
	struct ava_journal_session *s;
	CHECK_RC(ava_journal_session_get(r, 3, &s), -ENOENT);
	CHECK_RC(ava_journal_session_get(r, 2, &s), 0);
	CHECK(strcmp(s->guest, "vm:7") == 0 && s->start_ns == 2);
	ava_journal_session_free(s);
	ava_journal_reader_close(r);
}

static void
bad_input(const char *dir, struct gen_entry *g)
{
	struct ava_journal *j;
	struct ava_journal_options o;
	uint64_t s;
	ava_journal_options_init(&o);
	o.level = AVA_JOURNAL_LEVEL_STATE;
	CHECK_RC(ava_journal_open(dir, &o, NULL, 0, &j), -EINVAL);
	o.level = AVA_JOURNAL_LEVEL_FULL;
	CHECK_RC(ava_journal_open(dir, &o, NULL, 0, &j), 0);
	struct ava_journal_session_info info = { 0 };
	CHECK_RC(ava_journal_session_begin(j, &info, &s), 0);
	CHECK(s == 3); /* ids continue across reopen */
	gen_make(g, s, 0, 1);
	CHECK_RC(ava_journal_append(j, &g->e, 0), -EINVAL);
	gen_make(g, 99, 1, 1);
	CHECK_RC(ava_journal_append(j, &g->e, 0), -ENOENT);
	gen_make(g, s, 1, 1);
	g->e.args_len = AVA_JOURNAL_MAX_FIELD + 1;
	CHECK_RC(ava_journal_append(j, &g->e, 0), AVA_ETOOBIG);
	gen_make(g, s, 1, 11);
	g->tags[0].kind = 9;
	CHECK_RC(ava_journal_append(j, &g->e, 0), -EINVAL);
	gen_make(g, s, 1, 1);
	CHECK_RC(ava_journal_append(j, &g->e, AVA_JOURNAL_APPEND_DURABLE), 0);
	gen_make(g, s, 1, 2);
	CHECK_RC(ava_journal_append(j, &g->e, 0), 0);
	CHECK_RC(ava_journal_flush(j), 0);
	struct ava_journal_stats st;
	ava_journal_get_stats(j, &st);
	CHECK(st.duplicates == 1 && st.appended == 2 && st.committed == 2);
	CHECK_RC(ava_journal_session_end(j, s, AVA_JOURNAL_END_NONE, 0, 0),
		 -EINVAL);
	CHECK_RC(ava_journal_close(j), 0);
	CHECK(ava_journal_close(NULL) == 0);
}

struct thr {
	struct ava_journal *j;
	uint64_t session;
};

static void *
appender(void *arg)
{
	struct thr *t = arg;
	struct gen_entry *g = calloc(1, sizeof(*g));
	CHECK(g != NULL);
	for (uint64_t i = 1; i <= 2000; i++) {
		gen_make(g, t->session, i, i);
		CHECK_RC(ava_journal_append(t->j, &g->e, 0), 0);
	}
	free(g);
	return NULL;
}

/* Four threads, a tiny ring and arena: back-pressure, heap staging. */
static void
threads_and_pressure(void)
{
	char *dir = jt_tmpdir("threads");
	struct ava_journal *j;
	struct ava_journal_options o;
	ava_journal_options_init(&o);
	o.sync = AVA_JOURNAL_SYNC_NONE;
	o.ring_capacity = 16;
	o.arena_bytes = 64 * 1024;
	CHECK_RC(ava_journal_open(dir, &o, NULL, 0, &j), 0);
	struct thr t[4];
	pthread_t th[4];
	struct ava_journal_session_info info = { 0 };
	for (int i = 0; i < 4; i++) {
		t[i].j = j;
		CHECK_RC(ava_journal_session_begin(j, &info, &t[i].session), 0);
		CHECK(pthread_create(&th[i], NULL, appender, &t[i]) == 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CHECK_RC(ava_journal_flush(j), 0);
	struct ava_journal_stats st;
	ava_journal_get_stats(j, &st);
	CHECK(st.appended == 8000 && st.committed == 8000 && st.lost == 0);
	CHECK(st.backpressure_waits > 0 && st.heap_staged > 0);
	printf("threads: %llu back-pressure waits, %llu heap-staged\n",
	       (unsigned long long)st.backpressure_waits,
	       (unsigned long long)st.heap_staged);
	CHECK_RC(ava_journal_close(j), 0);
	struct ava_journal_verify_report rep;
	CHECK_RC(ava_journal_verify(dir, &rep), 0);
	CHECK(rep.calls == 8000 && rep.sessions == 4);
	jt_rmrf(dir);
	free(dir);
}

/* Read back session s's calls 1..n as gen_make() made them. */
static void
read_back(const char *dir, struct gen_entry *g, uint64_t s, uint64_t n)
{
	struct ava_journal_reader *r;
	struct ava_journal_cursor *cur;
	const struct ava_journal_call *c;
	CHECK_RC(ava_journal_reader_open(dir, NULL, 0, &r), 0);
	CHECK_RC(ava_journal_cursor_create(r, s, 0, &cur), 0);
	uint64_t seq = 0;
	int rc;
	while ((rc = ava_journal_cursor_next(cur, &c)) == 1) {
		seq++;
		gen_make(g, s, seq, seq);
		check_call(r, c, g);
	}
	CHECK_RC(rc, 0);
	CHECK(seq == n);
	ava_journal_cursor_destroy(cur);
	ava_journal_reader_close(r);
}

/* A journal in a fresh directory named for what, with no fsync, a ring
 * of ring slots and an arena of arena bytes, and a session in it; the
 * directory's path is returned, for the caller to remove and free. */
static char *
open_small(const char *what, uint32_t ring, uint64_t arena,
	   struct ava_journal **j, uint64_t *s)
{
	char *dir = jt_tmpdir(what);
	struct ava_journal_options o;
	ava_journal_options_init(&o);
	o.sync = AVA_JOURNAL_SYNC_NONE;
	o.ring_capacity = ring;
	o.arena_bytes = arena;
	CHECK_RC(ava_journal_open(dir, &o, NULL, 0, j), 0);
	struct ava_journal_session_info info = { 0 };
	CHECK_RC(ava_journal_session_begin(*j, &info, s), 0);
	return dir;
}

/*
 * Calls one at a time, each committed before the next: every one starts
 * the arena over (after the session's record, the first), so its pages
 * stay warm, and all of them read back whole.
 */
static void
one_at_a_time(struct gen_entry *g)
{
	enum { CALLS = 200 };
	struct ava_journal *j;
	uint64_t s;
	char *dir = open_small("rewind", 16, 256 * 1024, &j, &s);
	CHECK_RC(ava_journal_flush(j), 0);
	struct ava_journal_stats st;
	ava_journal_get_stats(j, &st);
	uint64_t before = st.arena_rewinds;
	for (uint64_t i = 1; i <= CALLS; i++) {
		gen_make(g, s, i, i);
		CHECK_RC(ava_journal_append(j, &g->e, 0), 0);
		CHECK_RC(ava_journal_flush(j), 0);
	}
	ava_journal_get_stats(j, &st);
	CHECK(st.arena_rewinds - before == CALLS && st.heap_staged == 0);
	CHECK(st.arena_wraps == 0);   /* never a record in flight to wrap by */
	CHECK(st.committed == CALLS && st.lost == 0);
	CHECK_RC(ava_journal_close(j), 0);
	read_back(dir, g, s, CALLS);
	jt_rmrf(dir);
	free(dir);
}

/*
 * A stream of calls that outruns its commits: with records in flight,
 * one past the arena's warm part starts over at its start whenever the
 * records in flight leave room there (arena_wraps), and every record
 * still reads back whole, so no wrap wrote over one in flight. Whether
 * a commit lands while the stream goes on is the scheduler's to say: a
 * run of 20 000 calls here gave 14 to 36 wraps (valgrind's slower run
 * once none), and up to five runs are made before the wraps are missed.
 */
static uint64_t
burst_once(struct gen_entry *g)
{
	enum { CALLS = 20000 };
	struct ava_journal *j;
	uint64_t s;
	char *dir = open_small("wraps", 4096, 4 * 1024 * 1024, &j, &s);
	for (uint64_t i = 1; i <= CALLS; i++) {
		gen_make(g, s, i, i);
		CHECK_RC(ava_journal_append(j, &g->e, 0), 0);
	}
	CHECK_RC(ava_journal_flush(j), 0);
	struct ava_journal_stats st;
	ava_journal_get_stats(j, &st);
	CHECK(st.committed == CALLS && st.lost == 0);
	printf("wraps: %llu early, %llu rewinds, %llu batches\n",
	       (unsigned long long)st.arena_wraps,
	       (unsigned long long)st.arena_rewinds,
	       (unsigned long long)st.batches);
	CHECK_RC(ava_journal_close(j), 0);
	read_back(dir, g, s, CALLS);
	jt_rmrf(dir);
	free(dir);
	return st.arena_wraps;
}

static void
burst_wraps(struct gen_entry *g)
{
	uint64_t wraps = 0;
	for (int run = 0; run < 5 && wraps == 0; run++)
		wraps = burst_once(g);
	CHECK(wraps > 0);
}

static void
compression(struct gen_entry *g)
{
	char *dir = jt_tmpdir("zstd");
	struct ava_journal *j;
	struct ava_journal_options o;
	uint64_t s;
	static uint8_t text[64 * 1024];
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = "kernel void add(global int *a) { a[0]++; }\n"[i % 44];
	ava_journal_options_init(&o);
	o.compress = true;
	CHECK_RC(ava_journal_open(dir, &o, NULL, 0, &j), 0);
	struct ava_journal_session_info info = { 0 };
	CHECK_RC(ava_journal_session_begin(j, &info, &s), 0);
	gen_make(g, s, 1, 1);
	struct ava_journal_buf b = { text, sizeof(text) };
	g->e.payloads = &b;
	g->e.npayloads = 1;
	CHECK_RC(ava_journal_append(j, &g->e, 0), 0);
	CHECK_RC(ava_journal_flush(j), 0);
	struct ava_journal_stats st;
	ava_journal_get_stats(j, &st);
	CHECK(st.blob_bytes_raw == sizeof(text));
	CHECK(st.blob_bytes_stored * 10 < st.blob_bytes_raw);
	CHECK_RC(ava_journal_close(j), 0);
	struct ava_journal_reader *r;
	struct ava_journal_call *c;
	CHECK_RC(ava_journal_reader_open(dir, NULL, 0, &r), 0);
	CHECK_RC(ava_journal_call_get(r, s, 1, &c), 0);
	check_payload(r, &c->payloads[0], &b);
	ava_journal_call_free(c);
	ava_journal_reader_close(r);
	struct ava_journal_verify_report rep;
	CHECK_RC(ava_journal_verify(dir, &rep), 0);
	jt_rmrf(dir);
	free(dir);
}

/*
 * defer_start: nothing is committed before the thread starts, and it
 * starts on its own where something needs it: the close, a flush, a ring
 * too small for what is appended (which would otherwise wait forever).
 */
static void
deferred_start(struct gen_entry *g)
{
	enum { RING = 16, MANY = 3 * RING };
	struct ava_journal_options o;
	struct ava_journal_session_info info = { 0 };
	struct ava_journal_stats st;
	struct ava_journal *j;
	uint64_t s;
	ava_journal_options_init(&o);
	o.sync = AVA_JOURNAL_SYNC_NONE;
	o.ring_capacity = RING;
	o.defer_start = true;
	for (int how = 0; how < 3; how++) {
		char *dir = jt_tmpdir("deferred");
		uint64_t n = how == 2 ? MANY : 5;
		CHECK_RC(ava_journal_open(dir, &o, NULL, 0, &j), 0);
		CHECK_RC(ava_journal_session_begin(j, &info, &s), 0);
		for (uint64_t i = 1; i <= n; i++) {
			gen_make(g, s, i, i);
			CHECK_RC(ava_journal_append(j, &g->e, 0), 0);
		}
		ava_journal_get_stats(j, &st);
		if (how == 0)
			CHECK(st.committed == 0 && st.batches == 0);
		if (how == 1) {
			CHECK_RC(ava_journal_flush(j), 0);
			ava_journal_get_stats(j, &st);
			CHECK(st.committed == n);
			CHECK_RC(ava_journal_start(j), 0);  /* runs already */
		}
		CHECK_RC(ava_journal_close(j), 0);
		read_back(dir, g, s, n);
		jt_rmrf(dir);
		free(dir);
	}
}

static void
level_off(void)
{
	char *dir = jt_tmpdir("off");
	char sub[4200];
	struct ava_journal *j;
	struct ava_journal_options o;
	uint64_t s;
	snprintf(sub, sizeof(sub), "%s/never", dir);
	ava_journal_options_init(&o);
	o.level = AVA_JOURNAL_LEVEL_OFF;
	CHECK_RC(ava_journal_open(sub, &o, NULL, 0, &j), 0);
	CHECK_RC(ava_journal_start(j), 0);
	struct ava_journal_session_info info = { 0 };
	CHECK_RC(ava_journal_session_begin(j, &info, &s), 0);
	struct gen_entry *g = calloc(1, sizeof(*g));
	gen_make(g, s, 1, 5);
	CHECK_RC(ava_journal_append(j, &g->e, 0), 0);
	CHECK_RC(ava_journal_close(j), 0);
	CHECK(access(sub, F_OK) != 0);
	free(g);
	jt_rmrf(dir);
	free(dir);
}

int
main(void)
{
	struct gen_entry *g = calloc(1, sizeof(*g));
	CHECK(g != NULL);
	char *dir = jt_tmpdir("faithful");
	write_run(dir, g);
	read_run(dir, g);
	struct ava_journal_verify_report rep;
	CHECK_RC(ava_journal_verify(dir, &rep), 0);
	CHECK(rep.calls == N && rep.blobs == N / 5 + 1 && rep.problems == 0);
	bad_input(dir, g);
	CHECK_RC(ava_journal_verify(dir, &rep), 0);
	jt_rmrf(dir);
	free(dir);
	threads_and_pressure();
	one_at_a_time(g);
	burst_wraps(g);
	deferred_start(g);
	compression(g);
	level_off();
	free(g);
	printf("ok\n");
	return 0;
}
