/*
 * verify.c - check a journal end to end and name the first problem.
 *
 * One read transaction gives a consistent snapshot even while a writer
 * runs. Each blob's bytes are read and hashed once, however many calls
 * reference it; references are counted and compared with the stored
 * refcounts afterwards.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "journal-reader.h"

/* hash -> references seen, and whether the bytes were checked */
struct ref_entry {
	uint8_t hash[16];
	uint64_t refs;
	bool used, checked, bad;
};

struct sess_entry {
	uint64_t id, ncalls, first, last, seen;
};

struct vctx {
	struct ava_journal_reader *r;
	struct ava_journal_verify_report *rep;
	MDB_txn *txn;
	struct ref_entry *refs;
	size_t nrefs, refcap;   /* refcap is a power of two */
	struct sess_entry *sess;
	size_t nsess, sesscap;
};

static void
problem(struct vctx *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
problem(struct vctx *v, const char *fmt, ...)
{
	if (v->rep->problems++ == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(v->rep->first, sizeof(v->rep->first), fmt, ap);
		va_end(ap);
	}
}

static int
refs_grow(struct vctx *v)
{
	size_t cap = v->refcap ? v->refcap * 2 : 1024;
	struct ref_entry *n = calloc(cap, sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < v->refcap; i++) {
		if (!v->refs[i].used)
			continue;
		size_t h = get_le64(v->refs[i].hash) & (cap - 1);
		while (n[h].used)
			h = (h + 1) & (cap - 1);
		n[h] = v->refs[i];
	}
	free(v->refs);
	v->refs = n;
	v->refcap = cap;
	return 0;
}

static struct ref_entry *
refs_get(struct vctx *v, const uint8_t hash[16])
{
	if ((v->nrefs + 1) * 2 > v->refcap && refs_grow(v) != 0)
		return NULL;
	size_t h = get_le64(hash) & (v->refcap - 1);
	while (v->refs[h].used && memcmp(v->refs[h].hash, hash, 16) != 0)
		h = (h + 1) & (v->refcap - 1);
	if (!v->refs[h].used) {
		v->refs[h].used = true;
		memcpy(v->refs[h].hash, hash, 16);
		v->nrefs++;
	}
	return &v->refs[h];
}

static struct sess_entry *
sess_find(struct vctx *v, uint64_t id)
{
	size_t lo = 0, hi = v->nsess;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v->sess[mid].id == id)
			return &v->sess[mid];
		if (v->sess[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Walk a whole table; fn returns <0 to abort. */
static int
walk(struct vctx *v, MDB_dbi dbi,
     int (*fn)(struct vctx *v, const MDB_val *k, const MDB_val *val))
{
	MDB_cursor *c;
	MDB_val k, val;
	int rc = mdb_cursor_open(v->txn, dbi, &c);
	if (rc)
		return store_err(rc);
	int err = 0;
	for (rc = mdb_cursor_get(c, &k, &val, MDB_FIRST); rc == 0 && !err;
	     rc = mdb_cursor_get(c, &k, &val, MDB_NEXT))
		err = fn(v, &k, &val);
	mdb_cursor_close(c);
	if (!err && rc != MDB_NOTFOUND)
		err = store_err(rc);
	return err;
}

static int
check_session(struct vctx *v, const MDB_val *k, const MDB_val *val)
{
	struct ava_journal_session s;
	uint64_t id = k->mv_size == 8 ? get_be64(k->mv_data) : 0;
	v->rep->sessions++;
	int err = reader_session(k, val, &s);
	if (err == -ENOMEM)
		return err;
	if (err) {
		problem(v, "session %llu: record corrupt",
			(unsigned long long)id);
	} else if (s.end != AVA_JOURNAL_END_NONE && s.end_ns < s.start_ns) {
		problem(v, "session %llu: ends before it starts",
			(unsigned long long)id);
	} else if (s.first_seq > s.last_seq) {
		problem(v, "session %llu: first seq after last",
			(unsigned long long)id);
	}
	if (v->nsess == v->sesscap) {
		size_t cap = v->sesscap ? v->sesscap * 2 : 64;
		struct sess_entry *n = realloc(v->sess, cap * sizeof(*n));
		if (n == NULL) {
			jf_session_clear(&s);
			return -ENOMEM;
		}
		v->sess = n;
		v->sesscap = cap;
	}
	v->sess[v->nsess++] = (struct sess_entry){ id, s.ncalls, s.first_seq,
						   s.last_seq, 0 };
	jf_session_clear(&s);
	return 0;
}

static void
check_blob_ref(struct vctx *v, const struct ava_journal_call *c,
	       const struct ava_journal_payload *p)
{
	char hs[17];
	struct jf_blobref b;
	struct ref_entry *e = refs_get(v, p->hash);
	jf_hash_short(p->hash, hs);
	v->rep->blob_refs++;
	if (e)
		e->refs++;
	int err = reader_blobref(v->r, v->txn, p->hash, &b);
	const char *what = err == -ENOENT ? "missing"
			   : err ? "index entry corrupt"
			   : b.raw_len != p->len ? "length mismatch" : NULL;
	if (what == NULL && e && !e->checked) {
		void *data;
		size_t len;
		e->checked = true;
		err = reader_blob_fetch(v->r, p->hash, &b, &data, &len);
		if (err == 0)
			free(data);
		e->bad = err != 0;
	}
	if (what == NULL && e && e->bad)
		what = "checksum mismatch";
	if (what)
		problem(v, "session %llu call #%llu: blob %s…: %s",
			(unsigned long long)c->session,
			(unsigned long long)c->seq, hs, what);
}

static int
check_call(struct vctx *v, const MDB_val *k, const MDB_val *val)
{
	struct jf_call c;
	v->rep->calls++;
	int err = reader_call(k, val->mv_data, val->mv_size, &c);
	unsigned long long s = c.c.session, q = c.c.seq;
	if (err == -ENOMEM)
		return err;
	if (err) {
		problem(v, "session %llu call #%llu: %s", s, q,
			jf_checksum_ok(k->mv_data, k->mv_size, val->mv_data,
				       val->mv_size) ? "does not decode"
						     : "checksum mismatch");
		return 0;
	}
	struct sess_entry *se = sess_find(v, c.c.session);
	if (se == NULL)
		problem(v, "session %llu call #%llu: no such session", s, q);
	else if (q < se->first || q > se->last)
		problem(v, "session %llu call #%llu: outside the session's "
			"range %llu..%llu", s, q, (unsigned long long)se->first,
			(unsigned long long)se->last);
	if (se)
		se->seen++;
	for (uint32_t i = 0; i < c.c.npayloads; i++)
		if (c.payloads[i].is_blob)
			check_blob_ref(v, &c.c, &c.payloads[i]);
	jf_call_clear(&c);
	return 0;
}

static int
check_blob(struct vctx *v, const MDB_val *k, const MDB_val *val)
{
	struct jf_blobref b;
	char hs[17] = "?";
	v->rep->blobs++;
	if (k->mv_size != 16 ||
	    jf_blobref_decode(k->mv_data, val->mv_data, val->mv_size, &b)) {
		if (k->mv_size == 16)
			jf_hash_short(k->mv_data, hs);
		problem(v, "blob %s…: index entry corrupt", hs);
		return 0;
	}
	jf_hash_short(k->mv_data, hs);
	struct ref_entry *e = refs_get(v, k->mv_data);
	uint64_t seen = e ? e->refs : 0;
	if (e && seen != b.refcount)
		problem(v, "blob %s…: refcount %llu, referenced %llu", hs,
			(unsigned long long)b.refcount,
			(unsigned long long)seen);
	return 0;
}

static int
check_segment(struct vctx *v, const MDB_val *k, const MDB_val *val)
{
	struct jf_segrec s;
	uint32_t id = k->mv_size == 4 ? get_be32(k->mv_data) : 0;
	if (id == 0 || jf_segrec_decode(id, val->mv_data, val->mv_size, &s)) {
		problem(v, "segment %u: index entry corrupt", id);
		return 0;
	}
	char path[4200];
	struct stat st;
	snprintf(path, sizeof(path), "%s/blobs/%08u.seg", v->r->dir, id);
	if (stat(path, &st) != 0)
		problem(v, "segment %u: file missing", id);
	else if ((uint64_t)st.st_size < s.size)
		problem(v, "segment %u: truncated: %lld bytes, index says "
			"%llu", id, (long long)st.st_size,
			(unsigned long long)s.size);
	return 0;
}

static void
check_counts(struct vctx *v)
{
	if (v->r->st->info.level != AVA_JOURNAL_LEVEL_FULL)
		return;
	for (size_t i = 0; i < v->nsess; i++)
		if (v->sess[i].seen != v->sess[i].ncalls)
			problem(v, "session %llu: %llu calls stored, its "
				"record says %llu",
				(unsigned long long)v->sess[i].id,
				(unsigned long long)v->sess[i].seen,
				(unsigned long long)v->sess[i].ncalls);
}

/* Segment files no index entry names: harmless leftovers. */
static void
count_orphans(struct vctx *v)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/blobs", v->r->dir);
	DIR *d = opendir(path);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		unsigned id;
		char tail[8];
		uint8_t key[4];
		MDB_val k = { 4, key }, val;
		if (sscanf(de->d_name, "%8u.se%1s", &id, tail) != 2)
			continue;
		put_be32(key, id);
		if (mdb_get(v->txn, v->r->st->segments, &k, &val) != 0)
			v->rep->warnings++;
	}
	if (d)
		closedir(d);
}

static int
run_checks(struct vctx *v)
{
	struct jstore *st = v->r->st;
	int err = walk(v, st->sessions, check_session);
	if (!err)
		err = walk(v, st->segments, check_segment);
	if (!err)
		err = walk(v, st->calls, check_call);
	if (!err)
		err = walk(v, st->blobs, check_blob);
	if (!err) {
		check_counts(v);
		count_orphans(v);
	}
	return err;
}

int
ava_journal_verify(const char *dir, struct ava_journal_verify_report *rep)
{
	struct vctx v = { .rep = rep };
	memset(rep, 0, sizeof(*rep));
	int err = ava_journal_reader_open(dir, rep->first, sizeof(rep->first),
					  &v.r);
	if (err)
		return err;
	err = reader_txn(v.r, &v.txn);
	if (!err) {
		err = run_checks(&v);
		mdb_txn_abort(v.txn);
	}
	if (err && rep->first[0] == '\0')
		snprintf(rep->first, sizeof(rep->first), "%s: %s", dir,
			 ava_strerror(err));
	free(v.refs);
	free(v.sess);
	ava_journal_reader_close(v.r);
	if (err)
		return err;
	return rep->problems ? AVA_ECORRUPT : 0;
}
