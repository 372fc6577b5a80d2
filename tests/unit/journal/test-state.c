/*
 * test-state.c - STATE level keeps what the live objects need and drops
 * the rest: calls that created or wrote a dead object, their blobs, and
 * segments left empty. A long create/write/release run keeps a flat
 * journal size; the same run at FULL level grows.
 */
#include "jtest.h"

#define LIVE 8
#define CYCLES 6000
#define WARM 1000

static struct ava_journal *
open_level(const char *dir, enum ava_journal_level level)
{
	struct ava_journal *j;
	struct ava_journal_options o;
	ava_journal_options_init(&o);
	o.level = level;
	o.sync = AVA_JOURNAL_SYNC_NONE;
	o.segment_bytes = 256 * 1024;
	CHECK_RC(ava_journal_open(dir, &o, NULL, 0, &j), 0);
	return j;
}

/* One call touching `obj` as `kind` (0: a query), with a payload. */
static void
call(struct ava_journal *j, uint64_t s, uint64_t seq, int kind, uint64_t obj,
     size_t payload)
{
	static uint8_t buf[8192];
	uint64_t args[2] = { obj, seq };
	struct ava_journal_tag tag = { (uint8_t)kind, obj };
	struct ava_journal_buf b = { buf, payload };
	jt_fill(buf, payload, seq * 31 + obj);
	struct ava_journal_entry e = {
		.session = s, .seq = seq, .fn = (uint32_t)kind,
		.args = args, .args_len = sizeof(args),
		.payloads = &b, .npayloads = payload ? 1 : 0,
		.tags = &tag, .ntags = kind ? 1 : 0,
	};
	CHECK_RC(ava_journal_append(j, &e, 0), 0);
}

static int
list_cb(const struct ava_journal_call *c, void *data)
{
	uint64_t *seqs = data;
	seqs[++seqs[0]] = c->seq;
	return 0;
}

static void
semantics(void)
{
	char *dir = jt_tmpdir("state-sem");
	struct ava_journal *j = open_level(dir, AVA_JOURNAL_LEVEL_STATE);
	struct ava_journal_session_info info = { 0 };
	uint64_t s;
	CHECK_RC(ava_journal_session_begin(j, &info, &s), 0);
	call(j, s, 1, AVA_JOURNAL_TAG_CREATED, 100, 8192);
	call(j, s, 2, AVA_JOURNAL_TAG_WRITTEN, 100, 8192);
	call(j, s, 3, AVA_JOURNAL_TAG_CREATED, 200, 8192);
	call(j, s, 4, 0, 0, 8192);                  /* a query: not kept */
	CHECK_RC(ava_journal_flush(j), 0);
	call(j, s, 5, AVA_JOURNAL_TAG_RELEASED, 100, 0);
	CHECK_RC(ava_journal_flush(j), 0);
	struct ava_journal_stats st;
	ava_journal_get_stats(j, &st);
	CHECK(st.appended == 5 && st.committed == 5);
	CHECK(st.state_skipped == 2 && st.compacted == 2);
	CHECK(st.blobs_written == 3 && st.blobs_freed == 2);
	CHECK_RC(ava_journal_close(j), 0);

	struct ava_journal_reader *r;
	uint64_t seqs[8] = { 0 };
	CHECK_RC(ava_journal_reader_open(dir, NULL, 0, &r), 0);
	CHECK_RC(ava_journal_call_foreach(r, s, 0, list_cb, seqs), 0);
	CHECK(seqs[0] == 1 && seqs[1] == 3);
	struct ava_journal_info ji;
	CHECK_RC(ava_journal_reader_info(r, &ji), 0);
	CHECK(ji.level == AVA_JOURNAL_LEVEL_STATE && ji.blobs == 1);
	ava_journal_reader_close(r);
	struct ava_journal_verify_report rep;
	CHECK_RC(ava_journal_verify(dir, &rep), 0);
	jt_rmrf(dir);
	free(dir);
}

/*
 * Each cycle creates an object with a payload, writes it with another,
 * queries it, and releases the object created LIVE cycles earlier.
 * Returns the on-disk size after the warm-up and the largest after it.
 */
static void
churn(enum ava_journal_level level, uint64_t *warm, uint64_t *peak,
      uint64_t *final)
{
	char *dir = jt_tmpdir("state-churn");
	struct ava_journal *j = open_level(dir, level);
	struct ava_journal_session_info info = { 0 };
	uint64_t s, seq = 0;
	CHECK_RC(ava_journal_session_begin(j, &info, &s), 0);
	*peak = 0;
	for (uint64_t c = 1; c <= CYCLES; c++) {
		call(j, s, ++seq, AVA_JOURNAL_TAG_CREATED, c, 4096);
		call(j, s, ++seq, AVA_JOURNAL_TAG_WRITTEN, c, 8192);
		call(j, s, ++seq, 0, c, 100);
		if (c > LIVE)
			call(j, s, ++seq, AVA_JOURNAL_TAG_RELEASED, c - LIVE, 0);
		if (c % 500 != 0)
			continue;
		CHECK_RC(ava_journal_flush(j), 0);
		uint64_t now = jt_disk_bytes(dir, NULL, NULL);
		if (c == WARM)
			*warm = now;
		if (c > WARM && now > *peak)
			*peak = now;
	}
	CHECK_RC(ava_journal_close(j), 0);
	unsigned nseg;
	*final = jt_disk_bytes(dir, NULL, &nseg);
	struct ava_journal_verify_report rep;
	CHECK_RC(ava_journal_verify(dir, &rep), 0);
	if (level == AVA_JOURNAL_LEVEL_STATE) {
		/* Only the LIVE objects' create and write calls remain. */
		CHECK(rep.calls == 2 * LIVE);
		CHECK(rep.blobs == 2 * LIVE);
		CHECK(nseg <= 3);
	}
	jt_rmrf(dir);
	free(dir);
}

int
main(void)
{
	semantics();
	uint64_t warm, peak, final, fwarm, fpeak, ffinal;
	churn(AVA_JOURNAL_LEVEL_STATE, &warm, &peak, &final);
	churn(AVA_JOURNAL_LEVEL_FULL, &fwarm, &fpeak, &ffinal);
	printf("state: %llu KiB after %d cycles, peak %llu KiB, final %llu "
	       "KiB after %d\n", (unsigned long long)warm >> 10, WARM,
	       (unsigned long long)peak >> 10, (unsigned long long)final >> 10,
	       CYCLES);
	printf("full:  %llu KiB after %d cycles, final %llu KiB\n",
	       (unsigned long long)fwarm >> 10, WARM,
	       (unsigned long long)ffinal >> 10);
	/* Flat: six times the cycles, no real growth. */
	CHECK(peak <= warm + warm / 2 + (1 << 20));
	CHECK(final <= warm + warm / 2 + (1 << 20));
	/* And the same run unpruned grows with the history. */
	CHECK(ffinal > 4 * fwarm);
	printf("ok\n");
	return 0;
}
