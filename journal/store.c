/*
 * store.c - the LMDB environment: opening, the format check, and the
 * sanity check that keeps a truncated data.mdb from faulting the mmap.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal-private.h"

#define LMDB_MAGIC 0xBEEFC0DEu
#define LMDB_PAGEHDR 16

void
set_why(char *why, size_t why_len, const char *fmt, ...)
{
	if (why == NULL || why_len == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
store_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS: return 0;
	case MDB_NOTFOUND: return -ENOENT;
	case MDB_KEYEXIST: return -EEXIST;
	case MDB_MAP_FULL: return -ENOSPC;
	case MDB_READERS_FULL: return -EAGAIN;
	case MDB_BAD_VALSIZE: return -EINVAL;
	case MDB_DBS_FULL: return -EMFILE;
	}
	if (rc > 0)
		return -rc;
	/* MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_INVALID, MDB_VERSION_MISMATCH
	 * and the rest all mean the file is not what LMDB expects. */
	return AVA_ECORRUPT;
}

/*
 * LMDB maps data.mdb and trusts it: a file cut shorter than its newest
 * meta page says would fault (SIGBUS) on first touch. So read the two
 * meta pages ourselves (layout of LMDB 0.9 on a 64-bit host: a 16-byte
 * page header, then magic, version, address, mapsize, two 48-byte db
 * records of which the first's md_pad is the page size, last_pg, txnid)
 * and check the size first.
 */
static int
lmdb_precheck(const char *path, char *why, size_t why_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	uint8_t m[LMDB_PAGEHDR + 136];
	int err = AVA_ECORRUPT;
	if (fstat(fd, &st) != 0 || pread(fd, m, sizeof(m), 0) != sizeof(m) ||
	    get_le32(m + LMDB_PAGEHDR) != LMDB_MAGIC) {
		set_why(why, why_len, "%s: not an LMDB file", path);
		goto out;
	}
	uint32_t psize = get_le32(m + LMDB_PAGEHDR + 24);
	uint64_t need = 0, best_txn = 0;
	for (int i = 0; i < 2; i++) {
		if (psize < 512 || psize > 65536 ||
		    pread(fd, m, sizeof(m), (off_t)psize * i) != sizeof(m))
			break;
		if (get_le32(m + LMDB_PAGEHDR) != LMDB_MAGIC)
			continue;
		uint64_t last = get_le64(m + LMDB_PAGEHDR + 120);
		uint64_t txn = get_le64(m + LMDB_PAGEHDR + 128);
		if (txn >= best_txn && last < (UINT64_MAX / psize) - 1) {
			best_txn = txn;
			need = (last + 1) * psize;
		}
	}
	if (need == 0) {
		set_why(why, why_len, "%s: no valid LMDB meta page", path);
	} else if ((uint64_t)st.st_size < need) {
		set_why(why, why_len, "%s: truncated: %lld bytes, needs %llu",
			path, (long long)st.st_size,
			(unsigned long long)need);
	} else {
		err = 0;
	}
out:
	close(fd);
	return err;
}

static int
open_dbis(struct jstore *st, MDB_txn *txn, bool create)
{
	static const struct { const char *name; size_t off; unsigned f; } t[] = {
		{ "meta", offsetof(struct jstore, meta), 0 },
		{ "sessions", offsetof(struct jstore, sessions), 0 },
		{ "calls", offsetof(struct jstore, calls), 0 },
		{ "blobs", offsetof(struct jstore, blobs), 0 },
		{ "segments", offsetof(struct jstore, segments), 0 },
		{ "objects", offsetof(struct jstore, objects),
		  MDB_DUPSORT | MDB_DUPFIXED },
		{ "crefs", offsetof(struct jstore, crefs), 0 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		MDB_dbi *d = (MDB_dbi *)((char *)st + t[i].off);
		int rc = mdb_dbi_open(txn, t[i].name,
				      t[i].f | (create ? MDB_CREATE : 0), d);
		if (rc != 0)
			return rc == MDB_NOTFOUND ? AVA_ECORRUPT : store_err(rc);
	}
	return 0;
}

static bool
env_is_empty(MDB_txn *txn)
{
	MDB_dbi main;
	MDB_stat st;
	return mdb_dbi_open(txn, NULL, 0, &main) == 0 &&
	       mdb_stat(txn, main, &st) == 0 && st.ms_entries == 0;
}

/* Read the meta record, or write it into a brand-new journal. */
static int
load_meta(struct jstore *st, MDB_txn *txn, bool writer,
	  const struct ava_journal_options *o, char *why, size_t why_len)
{
	MDB_val k = { 6, "format" }, v;
	int rc = mdb_get(txn, st->meta, &k, &v);
	if (rc == MDB_NOTFOUND && writer) {
		uint8_t buf[JF_META_SIZE];
		st->info = (struct jf_meta){ AVA_JOURNAL_FORMAT_VERSION,
					     o->level, now_ns() };
		jf_meta_encode(&st->info, buf);
		v = (MDB_val){ sizeof(buf), buf };
		return store_err(mdb_put(txn, st->meta, &k, &v, 0));
	}
	if (rc != 0) {
		set_why(why, why_len, "no format record: not an ava journal");
		return rc == MDB_NOTFOUND ? AVA_ECORRUPT : store_err(rc);
	}
	int err = jf_meta_decode(v.mv_data, v.mv_size, &st->info);
	if (err == AVA_EVERSION)
		set_why(why, why_len,
			"journal format version %u; this build reads version %u",
			st->info.version, AVA_JOURNAL_FORMAT_VERSION);
	else if (err)
		set_why(why, why_len, "format record is corrupt");
	return err;
}

static int
open_env_sized(struct jstore *st, const char *dir, bool writer,
	       const struct ava_journal_options *o, uint64_t map)
{
	int rc = mdb_env_create(&st->env);
	if (rc != 0)
		return store_err(rc);
	mdb_env_set_maxdbs(st->env, 8);
	mdb_env_set_maxreaders(st->env, 126);
	if (map)
		mdb_env_set_mapsize(st->env, map);
	unsigned flags = MDB_NOTLS;
	if (!writer)
		flags |= MDB_RDONLY;
	else if (o->sync == AVA_JOURNAL_SYNC_NONE)
		flags |= MDB_NOSYNC;
	rc = mdb_env_open(st->env, dir, flags, 0644);
	if (rc == 0 && writer) {
		int dead;
		mdb_reader_check(st->env, &dead);
	}
	if (rc != 0) {
		mdb_env_close(st->env);
		st->env = NULL;
	}
	return store_err(rc);
}

/*
 * The map is address space, not memory, but a process under a limit
 * (ulimit -v, valgrind) may not get 64 GiB of it: retry smaller. LMDB
 * never maps less than the data already in the file.
 */
static int
open_env(struct jstore *st, const char *dir, bool writer,
	 const struct ava_journal_options *o)
{
	const uint64_t sizes[] = { writer ? o->map_bytes : 0, 4ull << 30,
				   1ull << 30 };
	int err = 0;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		err = open_env_sized(st, dir, writer, o, sizes[i]);
		if (err != -ENOMEM && err != -EINVAL)
			break;
	}
	return err;
}

int
store_open(const char *dir, bool writer, const struct ava_journal_options *o,
	   char *why, size_t why_len, struct jstore *st)
{
	char path[4096];
	memset(st, 0, sizeof(*st));
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	int err = lmdb_precheck(path, why, why_len);
	if (err == -ENOENT && !writer)
		set_why(why, why_len, "%s: not a journal (no data.mdb)", dir);
	if (err && !(err == -ENOENT && writer))
		return err;
	err = open_env(st, dir, writer, o);
	if (err) {
		set_why(why, why_len, "%s: cannot open LMDB: %s", dir,
			ava_strerror(err));
		return err;
	}
	MDB_txn *txn;
	err = store_err(mdb_txn_begin(st->env, NULL,
				      writer ? 0 : MDB_RDONLY, &txn));
	if (err)
		goto err_env;
	err = open_dbis(st, txn, false);
	if (err == AVA_ECORRUPT && env_is_empty(txn) && writer) {
		err = open_dbis(st, txn, true);
	} else if (err == AVA_ECORRUPT && env_is_empty(txn)) {
		/* A writer killed while creating the journal leaves LMDB's
		 * files with no table in them: nothing was ever recorded. */
		set_why(why, why_len, "%s: not a journal (its creation never "
			"completed)", dir);
		err = -ENOENT;
	} else if (err) {
		set_why(why, why_len, "%s: missing tables: not an ava journal",
			dir);
	}
	if (!err)
		err = load_meta(st, txn, writer, o, why, why_len);
	if (err) {
		mdb_txn_abort(txn);
		goto err_env;
	}
	err = store_err(mdb_txn_commit(txn));
	if (err)
		goto err_env;
	return 0;
err_env:
	mdb_env_close(st->env);
	st->env = NULL;
	return err;
}

void
store_close(struct jstore *st)
{
	if (st->env)
		mdb_env_close(st->env);
	st->env = NULL;
}
