/*
 * bench.c - journal throughput (suite 'bench'; prints figures, never
 * fails on time).
 *
 *   small records/s: one appender, 64-byte args, no payloads, sync none;
 *                    call-path rate (appends returned) and end-to-end
 *                    rate (until the last batch committed). Goal >= 1M/s.
 *   blob ingest:     1 MiB unique payloads through the blob store, sync
 *                    batch, against a dd-style sequential write + fsync
 *                    of the same bytes to the same file system, measured
 *                    in the same run. Goal >= 80% of dd.
 */
#include <fcntl.h>
#include <time.h>

#include "jtest.h"

#define SMALL_N 2000000
#define BLOB_SIZE (1u << 20)
#define BLOB_MB 256

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
median3(const double *v)
{
	double a = v[0], b = v[1], c = v[2];
	if ((a <= b && b <= c) || (c <= b && b <= a))
		return b;
	if ((b <= a && a <= c) || (c <= a && a <= b))
		return a;
	return c;
}

static struct ava_journal *
open_bench(const char *dir, enum ava_journal_sync sync)
{
	struct ava_journal *j;
	struct ava_journal_options o;
	char why[256];
	ava_journal_options_init(&o);
	o.sync = sync;
	o.ring_capacity = 1u << 17;
	o.arena_bytes = 256u << 20;
	CHECK_RC(ava_journal_open(dir, &o, why, sizeof(why), &j), 0);
	return j;
}

static void
small_records(const char *base)
{
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/small", base);
	struct ava_journal *j = open_bench(dir, AVA_JOURNAL_SYNC_NONE);
	struct ava_journal_session_info info = { "bench" };
	uint64_t s, args[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	CHECK_RC(ava_journal_session_begin(j, &info, &s), 0);
	struct ava_journal_entry e = { .session = s, .fn = 7,
				       .args = args, .args_len = sizeof(args) };
	double t0 = now_s();
	for (uint64_t i = 1; i <= SMALL_N; i++) {
		e.seq = i;
		args[0] = i;
		CHECK_RC(ava_journal_append(j, &e, 0), 0);
	}
	double t1 = now_s();
	CHECK_RC(ava_journal_flush(j), 0);
	double t2 = now_s();
	struct ava_journal_stats st;
	ava_journal_get_stats(j, &st);
	CHECK(st.committed == SMALL_N && st.lost == 0);
	CHECK_RC(ava_journal_close(j), 0);
	printf("small records: %d appended: call path %.2f M/s, committed "
	       "end to end %.2f M/s (%llu batches, %.0f records/batch; "
	       "goal >= 1 M/s)\n", SMALL_N, SMALL_N / (t1 - t0) / 1e6,
	       SMALL_N / (t2 - t0) / 1e6, (unsigned long long)st.batches,
	       (double)SMALL_N / (double)st.batches);
}

static double
dd_write(const char *base, const uint8_t *buf)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/dd.out", base);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	double t0 = now_s();
	for (int i = 0; i < BLOB_MB; i++)
		CHECK(write(fd, buf, BLOB_SIZE) == BLOB_SIZE);
	CHECK(fsync(fd) == 0);
	double t = now_s() - t0;
	close(fd);
	unlink(path);
	return BLOB_MB / t;
}

static double
blob_ingest(const char *base, const char *name, enum ava_journal_sync sync,
	    uint8_t *buf)
{
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/%s", base, name);
	struct ava_journal *j = open_bench(dir, sync);
	struct ava_journal_session_info info = { "bench" };
	uint64_t s, args[2];
	CHECK_RC(ava_journal_session_begin(j, &info, &s), 0);
	struct ava_journal_buf b = { buf, BLOB_SIZE };
	struct ava_journal_entry e = { .session = s, .fn = 9, .args = args,
				       .args_len = sizeof(args),
				       .payloads = &b, .npayloads = 1 };
	double t0 = now_s();
	for (int i = 1; i <= BLOB_MB; i++) {
		memcpy(buf, &i, sizeof(i)); /* unique content: no dedup */
		e.seq = (uint64_t)i;
		CHECK_RC(ava_journal_append(j, &e, 0), 0);
	}
	/* The figure includes the final fsync, as dd's does. */
	CHECK_RC(ava_journal_flush(j), 0);
	double t = now_s() - t0;
	struct ava_journal_stats st;
	ava_journal_get_stats(j, &st);
	CHECK(st.blobs_written == BLOB_MB);
	CHECK_RC(ava_journal_close(j), 0);
	jt_rmrf(dir);
	return BLOB_MB / t;
}

int
main(void)
{
	char *base = jt_tmpdir("bench");
	uint8_t *buf = malloc(BLOB_SIZE);
	CHECK(buf != NULL);
	jt_fill(buf, BLOB_SIZE, 1);
	small_records(base);
	printf("blob ingest, %d x 1 MiB unique payloads, 3 rounds "
	       "alternating with dd:\n", BLOB_MB);
	double dd[3], jb[3], jn[3];
	for (int r = 0; r < 3; r++) {
		dd[r] = dd_write(base, buf);
		jb[r] = blob_ingest(base, "batch", AVA_JOURNAL_SYNC_BATCH, buf);
		jn[r] = blob_ingest(base, "none", AVA_JOURNAL_SYNC_NONE, buf);
		printf("  round %d: dd-style write + fsync %.0f MB/s, journal "
		       "sync batch %.0f MB/s, sync none %.0f MB/s\n", r,
		       dd[r], jb[r], jn[r]);
	}
	double mdd = median3(dd), mjb = median3(jb), mjn = median3(jn);
	printf("blob ingest (medians): journal sync batch %.0f MB/s = %.0f%% "
	       "of dd-style %.0f MB/s (goal >= 80%%); sync none %.0f MB/s = "
	       "%.0f%%\n", mjb, 100 * mjb / mdd, mdd, mjn, 100 * mjn / mdd);
	free(buf);
	jt_rmrf(base);
	free(base);
	return 0;
}
