/*
 * test-uring.c - blob writes really go through io_uring (its submission
 * counter moves), and AVA_JOURNAL_NO_URING=1 really takes the pwrite
 * fallback, says so in one log line, and reads back the same.
 */
#include <liburing.h>

#include "gen-entry.h"

struct logbuf {
	int lines;
	char last[512];
};

static void
capture(void *data, const char *line)
{
	struct logbuf *l = data;
	l->lines++;
	snprintf(l->last, sizeof(l->last), "%s", line);
}

/* Write 200 records with blobs; return the stats. */
static void
run(const char *dir, struct logbuf *log, bool *uring,
    struct ava_journal_stats *st)
{
	struct ava_journal *j;
	struct ava_journal_options o;
	uint64_t s;
	struct gen_entry *g = calloc(1, sizeof(*g));
	ava_journal_options_init(&o);
	o.log = capture;
	o.log_data = log;
	CHECK_RC(ava_journal_open(dir, &o, NULL, 0, &j), 0);
	*uring = ava_journal_uses_uring(j);
	struct ava_journal_session_info info = { 0 };
	CHECK_RC(ava_journal_session_begin(j, &info, &s), 0);
	for (uint64_t i = 1; i <= 200; i++) {
		gen_make(g, s, i, i);
		CHECK_RC(ava_journal_append(j, &g->e, 0), 0);
	}
	CHECK_RC(ava_journal_flush(j), 0);
	ava_journal_get_stats(j, st);
	CHECK_RC(ava_journal_close(j), 0);
	struct ava_journal_verify_report rep;
	CHECK_RC(ava_journal_verify(dir, &rep), 0);
	CHECK(rep.calls == 200 && rep.blob_refs == 200 / 5 + 200 / 7);
	free(g);
}

int
main(void)
{
	struct io_uring probe;
	if (io_uring_queue_init(4, &probe, 0) < 0) {
		fprintf(stderr, "io_uring unavailable here: skip\n");
		return 77;
	}
	io_uring_queue_exit(&probe);

	char *dir = jt_tmpdir("uring");
	struct logbuf log = { 0 };
	struct ava_journal_stats st;
	bool uring;
	unsetenv("AVA_JOURNAL_NO_URING");
	run(dir, &log, &uring, &st);
	printf("io_uring: %llu submissions, %llu completions, %llu fsyncs\n",
	       (unsigned long long)st.uring_submissions,
	       (unsigned long long)st.uring_completions,
	       (unsigned long long)st.fsyncs);
	CHECK(uring && log.lines == 0);
	CHECK(st.blobs_written == 200 / 5 + 1);
	/* header + body per blob, the segment header, and the fsyncs */
	CHECK(st.uring_submissions >= 2 * st.blobs_written + 1 + st.fsyncs);
	CHECK(st.uring_completions >= st.uring_submissions);
	CHECK(st.pwrite_calls == 0 && st.fsyncs > 0);
	jt_rmrf(dir);
	free(dir);

	dir = jt_tmpdir("pwrite");
	setenv("AVA_JOURNAL_NO_URING", "1", 1);
	run(dir, &log, &uring, &st);
	printf("fallback: %llu pwrite calls; log: %s\n",
	       (unsigned long long)st.pwrite_calls, log.last);
	CHECK(!uring && log.lines == 1);
	CHECK(strstr(log.last, "pwrite") != NULL);
	CHECK(st.uring_submissions == 0);
	CHECK(st.pwrite_calls >= 2 * st.blobs_written + 1);
	unsetenv("AVA_JOURNAL_NO_URING");
	jt_rmrf(dir);
	free(dir);
	printf("ok\n");
	return 0;
}
