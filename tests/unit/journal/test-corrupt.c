/*
 * test-corrupt.c - damaged or foreign journals give a clear error, never
 * a crash: truncated data.mdb and segments, bit flips in LMDB values and
 * in blob segments, another format version, directories that are not a
 * journal. verify names the first bad record.
 */
#include <fcntl.h>
#include <lmdb.h>

#include "gen-entry.h"
#include "journal-format.h"

#define N 300

static uint64_t seed = 12345;

static void
copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY), out;
	CHECK(in >= 0);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(out >= 0);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		CHECK(write(out, buf, (size_t)n) == n);
	close(in);
	close(out);
}

/* A fresh copy of the pristine journal to damage. */
static char *
clone(const char *src)
{
	char *dst = jt_tmpdir("corrupt-copy");
	char a[4400], b[4400];
	snprintf(a, sizeof(a), "%s/data.mdb", src);
	snprintf(b, sizeof(b), "%s/data.mdb", dst);
	copy_file(a, b);
	snprintf(b, sizeof(b), "%s/blobs", dst);
	CHECK(mkdir(b, 0755) == 0);
	snprintf(a, sizeof(a), "%s/blobs/00000001.seg", src);
	snprintf(b, sizeof(b), "%s/blobs/00000001.seg", dst);
	copy_file(a, b);
	return dst;
}

static void
drop(char *dir)
{
	jt_rmrf(dir);
	free(dir);
}

static void
build(const char *dir)
{
	struct ava_journal *j;
	struct ava_journal_options o;
	uint64_t s;
	struct gen_entry *g = calloc(1, sizeof(*g));
	ava_journal_options_init(&o);
	CHECK_RC(ava_journal_open(dir, &o, NULL, 0, &j), 0);
	struct ava_journal_session_info info = { "g", "opencl" };
	CHECK_RC(ava_journal_session_begin(j, &info, &s), 0);
	for (uint64_t i = 1; i <= N; i++) {
		gen_make(g, s, i, i);
		if (i == 77)
			memcpy(g->args, "MARKER-CALL-77!!", 16);
		CHECK_RC(ava_journal_append(j, &g->e, 0), 0);
	}
	CHECK_RC(ava_journal_close(j), 0);
	free(g);
}

/* Expect verify to fail with `want` and a first problem containing
 * `text`; opening for read must not crash either way. */
static void
expect_verify(const char *dir, int want, const char *text)
{
	struct ava_journal_verify_report rep;
	int rc = ava_journal_verify(dir, &rep);
	printf("  verify: %s: %s\n", ava_strerror(rc), rep.first);
	CHECK_RC(rc, want);
	CHECK(strstr(rep.first, text) != NULL);
}

/* Walk every call; count the ones the cursor flags as corrupt. */
static int
walk_bad(const char *dir)
{
	struct ava_journal_reader *r;
	struct ava_journal_cursor *c;
	const struct ava_journal_call *call;
	int rc, bad = 0, good = 0;
	CHECK_RC(ava_journal_reader_open(dir, NULL, 0, &r), 0);
	CHECK_RC(ava_journal_cursor_create(r, 1, 0, &c), 0);
	while ((rc = ava_journal_cursor_next(c, &call)) != 0) {
		if (rc == 1) {
			for (uint32_t i = 0; i < call->npayloads; i++) {
				void *d;
				size_t l;
				int e = ava_journal_payload_read(
					r, &call->payloads[i], &d, &l);
				if (e == 0)
					free(d);
				CHECK(e == 0 || e == AVA_ECORRUPT);
			}
			good++;
		} else {
			CHECK_RC(rc, AVA_ECORRUPT);
			bad++;
		}
	}
	ava_journal_cursor_destroy(c);
	ava_journal_reader_close(r);
	CHECK(good + bad == N);
	return bad;
}

/* Flip one bit of the value stored under `key` in table `table`. */
static void
flip_value(const char *dir, const char *table, const void *key, size_t klen,
	   size_t at)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	CHECK(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 8);
	mdb_env_set_mapsize(env, 1u << 30); /* valgrind: no 64 GiB maps */
	CHECK(mdb_env_open(env, dir, 0, 0644) == 0);
	CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0);
	CHECK(mdb_dbi_open(txn, table, 0, &dbi) == 0);
	MDB_val k = { klen, (void *)key }, v;
	CHECK(mdb_get(txn, dbi, &k, &v) == 0);
	uint8_t *copy = malloc(v.mv_size);
	memcpy(copy, v.mv_data, v.mv_size);
	at %= v.mv_size;
	copy[at] ^= (uint8_t)(1u << (jt_rand(&seed) % 8));
	v.mv_data = copy;
	CHECK(mdb_put(txn, dbi, &k, &v, 0) == 0);
	CHECK(mdb_txn_commit(txn) == 0);
	mdb_env_close(env);
	free(copy);
}

static void
flips_in_calls(const char *src)
{
	printf("bit flips in call records:\n");
	for (int round = 0; round < 20; round++) {
		char *dir = clone(src);
		uint64_t seq = 1 + jt_rand(&seed) % N;
		uint8_t key[16];
		jf_key2(key, 1, seq);
		flip_value(dir, "calls", key, 16, jt_rand(&seed));
		char want[64];
		snprintf(want, sizeof(want), "session 1 call #%llu:",
			 (unsigned long long)seq);
		expect_verify(dir, AVA_ECORRUPT, want);
		CHECK(walk_bad(dir) == 1);
		drop(dir);
	}
}

static void
flips_elsewhere(const char *src)
{
	uint8_t skey[8];
	put_be64(skey, 1);
	printf("bit flip in a session record:\n");
	char *dir = clone(src);
	flip_value(dir, "sessions", skey, 8, 20);
	expect_verify(dir, AVA_ECORRUPT, "session 1: record corrupt");
	drop(dir);

	printf("bit flip in the format record:\n");
	dir = clone(src);
	flip_value(dir, "meta", "format", 6, 20);
	expect_verify(dir, AVA_ECORRUPT, "format record");
	drop(dir);

	printf("bit flip in a segment record:\n");
	uint8_t gkey[4];
	put_be32(gkey, 1);
	dir = clone(src);
	flip_value(dir, "segments", gkey, 4, 9);
	expect_verify(dir, AVA_ECORRUPT, "segment 1: index entry corrupt");
	drop(dir);
}

/* Flip the first byte of `pattern` in file `name` of the journal. */
static void
flip_in_file(const char *dir, const char *name, const void *pattern,
	     size_t plen, off_t at)
{
	char path[4400];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	struct stat st;
	CHECK(fstat(fd, &st) == 0);
	uint8_t *buf = malloc((size_t)st.st_size);
	CHECK(read(fd, buf, (size_t)st.st_size) == st.st_size);
	if (pattern) {
		uint8_t *hit = memmem(buf, (size_t)st.st_size, pattern, plen);
		CHECK(hit != NULL);
		at = hit - buf;
	}
	buf[at] ^= 0x10;
	CHECK(pwrite(fd, buf + at, 1, at) == 1);
	close(fd);
	free(buf);
}

static void
file_damage(const char *src)
{
	printf("bit flip inside data.mdb, found by content:\n");
	char *dir = clone(src);
	flip_in_file(dir, "data.mdb", "MARKER-CALL-77!!", 16, 0);
	expect_verify(dir, AVA_ECORRUPT, "session 1 call #77: checksum");
	CHECK(walk_bad(dir) == 1);
	drop(dir);

	printf("bit flips in a blob segment:\n");
	for (int round = 0; round < 10; round++) {
		dir = clone(src);
		struct stat st;
		char path[4400];
		snprintf(path, sizeof(path), "%s/blobs/00000001.seg", dir);
		CHECK(stat(path, &st) == 0);
		off_t at = JF_SEGFILE_HDR +
			   (off_t)(jt_rand(&seed) %
				   (uint64_t)(st.st_size - JF_SEGFILE_HDR));
		flip_in_file(dir, "blobs/00000001.seg", NULL, 0, at);
		expect_verify(dir, AVA_ECORRUPT, "checksum mismatch");
		CHECK(walk_bad(dir) == 0);
		drop(dir);
	}
}

static void
truncations(const char *src)
{
	char path[4400];
	struct stat st;
	struct ava_journal_reader *r;
	struct ava_journal *j;
	char why[256];

	printf("truncated data.mdb:\n");
	char *dir = clone(src);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	CHECK(stat(path, &st) == 0);
	CHECK(truncate(path, st.st_size / 2) == 0);
	expect_verify(dir, AVA_ECORRUPT, "truncated");
	CHECK_RC(ava_journal_open(dir, NULL, why, sizeof(why), &j),
		 AVA_ECORRUPT);
	printf("  open: %s\n", why);
	CHECK(truncate(path, 100) == 0);
	expect_verify(dir, AVA_ECORRUPT, "not an LMDB file");
	drop(dir);

	printf("truncated segment:\n");
	dir = clone(src);
	snprintf(path, sizeof(path), "%s/blobs/00000001.seg", dir);
	CHECK(stat(path, &st) == 0);
	CHECK(truncate(path, st.st_size / 2) == 0);
	expect_verify(dir, AVA_ECORRUPT, "segment 1: truncated");
	CHECK(walk_bad(dir) == 0);
	CHECK_RC(ava_journal_open(dir, NULL, why, sizeof(why), &j),
		 AVA_ECORRUPT);
	printf("  open: %s\n", why);
	CHECK(unlink(path) == 0);
	expect_verify(dir, AVA_ECORRUPT, "segment 1: file missing");
	CHECK_RC(ava_journal_reader_open(dir, NULL, 0, &r), 0);
	ava_journal_reader_close(r);
	drop(dir);
}

static void
wrong_version(const char *src)
{
	printf("another format version:\n");
	char *dir = clone(src);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint8_t meta[JF_META_SIZE];
	struct jf_meta m = { 2, AVA_JOURNAL_LEVEL_FULL, 1 };
	jf_meta_encode(&m, meta);
	CHECK(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 8);
	mdb_env_set_mapsize(env, 1u << 30); /* valgrind: no 64 GiB maps */
	CHECK(mdb_env_open(env, dir, 0, 0644) == 0);
	CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0);
	CHECK(mdb_dbi_open(txn, "meta", 0, &dbi) == 0);
	MDB_val k = { 6, "format" }, v = { sizeof(meta), meta };
	CHECK(mdb_put(txn, dbi, &k, &v, 0) == 0);
	CHECK(mdb_txn_commit(txn) == 0);
	mdb_env_close(env);
	expect_verify(dir, AVA_EVERSION, "format version 2");
	struct ava_journal *j;
	char why[256];
	CHECK_RC(ava_journal_open(dir, NULL, why, sizeof(why), &j),
		 AVA_EVERSION);
	printf("  open: %s\n", why);
	drop(dir);
}

static void
not_a_journal(void)
{
	struct ava_journal_reader *r;
	struct ava_journal *j;
	char why[256], path[4400];
	printf("directories that are not journals:\n");
	char *dir = jt_tmpdir("notj");
	expect_verify(dir, -ENOENT, "not a journal");
	snprintf(path, sizeof(path), "%s/missing", dir);
	CHECK_RC(ava_journal_reader_open(path, why, sizeof(why), &r), -ENOENT);
	snprintf(path, sizeof(path), "%s/notes.txt", dir);
	FILE *f = fopen(path, "w");
	fputs("hello\n", f);
	fclose(f);
	CHECK_RC(ava_journal_open(dir, NULL, why, sizeof(why), &j),
		 -ENOTEMPTY);
	printf("  open: %s\n", why);
	CHECK(strstr(why, "not an ava journal") != NULL);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	f = fopen(path, "w");
	uint8_t junk[16384];
	jt_fill(junk, sizeof(junk), 9);
	fwrite(junk, 1, sizeof(junk), f);
	fclose(f);
	expect_verify(dir, AVA_ECORRUPT, "not an LMDB file");
	CHECK_RC(ava_journal_open(dir, NULL, why, sizeof(why), &j),
		 AVA_ECORRUPT);
	drop(dir);

	/* An empty LMDB environment: a creation that never committed. */
	dir = jt_tmpdir("plainlmdb");
	MDB_env *env;
	CHECK(mdb_env_create(&env) == 0);
	CHECK(mdb_env_open(env, dir, 0, 0644) == 0);
	mdb_env_close(env);
	expect_verify(dir, -ENOENT, "creation never completed");
	CHECK_RC(ava_journal_open(dir, NULL, why, sizeof(why), &j), 0);
	CHECK_RC(ava_journal_close(j), 0);
	CHECK_RC(ava_journal_verify(dir, &(struct ava_journal_verify_report){0}),
		 0);
	drop(dir);

	/* Someone else's LMDB environment. */
	dir = jt_tmpdir("otherlmdb");
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 3, "key" }, v = { 5, "value" };
	CHECK(mdb_env_create(&env) == 0);
	CHECK(mdb_env_open(env, dir, 0, 0644) == 0);
	CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0);
	CHECK(mdb_dbi_open(txn, NULL, 0, &dbi) == 0);
	CHECK(mdb_put(txn, dbi, &k, &v, 0) == 0);
	CHECK(mdb_txn_commit(txn) == 0);
	mdb_env_close(env);
	expect_verify(dir, AVA_ECORRUPT, "not an ava journal");
	CHECK(ava_journal_open(dir, NULL, why, sizeof(why), &j) < 0);
	printf("  open: %s\n", why);
	drop(dir);
}

int
main(void)
{
	char *src = jt_tmpdir("corrupt-src");
	build(src);
	struct ava_journal_verify_report rep;
	CHECK_RC(ava_journal_verify(src, &rep), 0);
	flips_in_calls(src);
	flips_elsewhere(src);
	file_damage(src);
	truncations(src);
	wrong_version(src);
	not_a_journal();
	drop(src);
	printf("ok\n");
	return 0;
}
