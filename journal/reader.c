/*
 * reader.c - sessions, calls and blobs, read back.
 *
 * Every value is copied out of LMDB before its read transaction ends (a
 * value's memory dies with the transaction), and checked (checksum, then
 * decoding) before anything in it is believed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "journal-reader.h"

int
ava_journal_reader_open(const char *dir, char *why, size_t why_len,
			struct ava_journal_reader **out)
{
	if (why && why_len)
		why[0] = '\0';
	if (dir == NULL || out == NULL)
		return -EINVAL;
	struct ava_journal_reader *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->st = &r->own;
	r->segfd = -1;
	r->dir = strdup(dir);
	struct ava_journal_options o;
	ava_journal_options_init(&o);
	int err = r->dir ? store_open(dir, false, &o, why, why_len, r->st)
			 : -ENOMEM;
	if (err) {
		free(r->dir);
		free(r);
		return err;
	}
	*out = r;
	return 0;
}

int
ava_journal_reader_from(struct ava_journal *j,
			struct ava_journal_reader **out)
{
	if (j == NULL || out == NULL || j->off)
		return -EINVAL;
	struct ava_journal_reader *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->st = &j->st;
	r->segfd = -1;
	r->dir = strdup(j->dir);
	if (r->dir == NULL) {
		free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

void
ava_journal_reader_close(struct ava_journal_reader *r)
{
	if (r == NULL)
		return;
	if (r->segfd >= 0)
		close(r->segfd);
	if (r->st == &r->own)
		store_close(&r->own);
	free(r->dir);
	free(r);
}

int
reader_txn(struct ava_journal_reader *r, MDB_txn **txn)
{
	return store_err(mdb_txn_begin(r->st->env, NULL, MDB_RDONLY, txn));
}

static int
count_entries(MDB_txn *txn, MDB_dbi dbi, uint64_t *n)
{
	MDB_stat st;
	int rc = mdb_stat(txn, dbi, &st);
	*n = rc == 0 ? st.ms_entries : 0;
	return store_err(rc);
}

/* Segment sizes and the stored bytes of all blobs, from the index. */
static int
blob_totals(MDB_txn *txn, struct jstore *st, struct ava_journal_info *info)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, st->blobs, &c);
	if (rc)
		return store_err(rc);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct jf_blobref b;
		if (k.mv_size == 16 &&
		    jf_blobref_decode(k.mv_data, v.mv_data, v.mv_size, &b) == 0)
			info->blob_bytes += b.stored_len;
	}
	mdb_cursor_close(c);
	uint64_t nseg;
	int err = count_entries(txn, st->segments, &nseg);
	info->segments = (uint32_t)nseg;
	return rc == MDB_NOTFOUND ? err : store_err(rc);
}

int
ava_journal_reader_info(struct ava_journal_reader *r,
			struct ava_journal_info *out)
{
	MDB_txn *txn;
	memset(out, 0, sizeof(*out));
	out->format_version = r->st->info.version;
	out->level = r->st->info.level;
	out->created_ns = r->st->info.created_ns;
	int err = reader_txn(r, &txn);
	if (err)
		return err;
	err = count_entries(txn, r->st->sessions, &out->sessions);
	if (!err)
		err = count_entries(txn, r->st->calls, &out->calls);
	if (!err)
		err = count_entries(txn, r->st->blobs, &out->blobs);
	if (!err)
		err = blob_totals(txn, r->st, out);
	mdb_txn_abort(txn);
	return err;
}

/* ---- sessions ---- */

int
reader_session(const MDB_val *k, const MDB_val *v,
	       struct ava_journal_session *s)
{
	memset(s, 0, sizeof(*s));
	if (k->mv_size != 8 ||
	    !jf_checksum_ok(k->mv_data, 8, v->mv_data, v->mv_size))
		return AVA_ECORRUPT;
	return jf_session_decode(v->mv_data, v->mv_size, get_be64(k->mv_data),
				 s);
}

int
ava_journal_session_foreach(struct ava_journal_reader *r,
			    int (*fn)(const struct ava_journal_session *s,
				      void *data),
			    void *data)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int err = reader_txn(r, &txn);
	if (err)
		return err;
	int rc = mdb_cursor_open(txn, r->st->sessions, &c);
	if (rc) {
		mdb_txn_abort(txn);
		return store_err(rc);
	}
	/* Sessions are few and small: decoding copies them out, so the
	 * callback runs on private memory, even inside the transaction. */
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && !err;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct ava_journal_session s;
		err = reader_session(&k, &v, &s);
		if (!err)
			err = fn(&s, data);
		jf_session_clear(&s);
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	if (!err && rc != MDB_NOTFOUND)
		err = store_err(rc);
	return err;
}

int
ava_journal_session_get(struct ava_journal_reader *r, uint64_t id,
			struct ava_journal_session **out)
{
	MDB_txn *txn;
	uint8_t key[8];
	put_be64(key, id);
	MDB_val k = { 8, key }, v;
	struct ava_journal_session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	int err = reader_txn(r, &txn);
	if (err) {
		free(s);
		return err;
	}
	err = store_err(mdb_get(txn, r->st->sessions, &k, &v));
	if (!err)
		err = reader_session(&k, &v, s);
	mdb_txn_abort(txn);
	if (err) {
		ava_journal_session_free(s);
		return err;
	}
	*out = s;
	return 0;
}

void
ava_journal_session_free(struct ava_journal_session *s)
{
	if (s == NULL)
		return;
	jf_session_clear(s);
	free(s);
}

/* ---- blobs ---- */

static int
seg_fd(struct ava_journal_reader *r, uint32_t id)
{
	if (r->segfd >= 0 && r->segid == id)
		return r->segfd;
	char path[4200];
	snprintf(path, sizeof(path), "%s/blobs/%08u.seg", r->dir, id);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? AVA_ECORRUPT : -errno;
	if (r->segfd >= 0)
		close(r->segfd);
	r->segfd = fd;
	r->segid = id;
	return fd;
}

static int
pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return AVA_ECORRUPT; /* shorter than the index says */
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Turn the stored bytes into the content, checking all the way. */
static int
unpack(const uint8_t hash[16], const struct jf_blobref *b, uint8_t *stored,
       uint8_t **data)
{
	if (XXH3_64bits(stored, b->stored_len) != b->data_sum)
		return AVA_ECORRUPT;
	uint8_t *raw = stored;
	if (b->flags & JF_BLOB_ZSTD) {
		raw = malloc(b->raw_len ? b->raw_len : 1);
		if (raw == NULL)
			return -ENOMEM;
		size_t n = ZSTD_decompress(raw, b->raw_len, stored,
					   b->stored_len);
		if (ZSTD_isError(n) || n != b->raw_len) {
			free(raw);
			return AVA_ECORRUPT;
		}
	} else if (b->raw_len != b->stored_len) {
		return AVA_ECORRUPT;
	}
	XXH128_canonical_t h;
	XXH128_canonicalFromHash(&h, XXH3_128bits(raw, b->raw_len));
	if (memcmp(h.digest, hash, 16) != 0) {
		if (raw != stored)
			free(raw);
		return AVA_ECORRUPT;
	}
	*data = raw;
	return 0;
}

int
reader_blob_fetch(struct ava_journal_reader *r, const uint8_t hash[16],
		  const struct jf_blobref *b, void **data, size_t *len)
{
	uint8_t hb[JF_BLOBHDR_SIZE];
	struct jf_blobhdr h;
	struct stat st;
	int fd = seg_fd(r, b->segment);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) != 0)
		return -errno;
	/* Bound the read by the file before allocating for it. */
	if (b->offset > (uint64_t)st.st_size ||
	    JF_BLOBHDR_SIZE + b->stored_len > (uint64_t)st.st_size - b->offset)
		return AVA_ECORRUPT;
	int err = pread_all(fd, hb, sizeof(hb), b->offset);
	if (!err && (jf_blobhdr_decode(hb, &h) != 0 ||
		     memcmp(h.hash, hash, 16) != 0 ||
		     h.stored_len != b->stored_len || h.raw_len != b->raw_len ||
		     h.data_sum != b->data_sum || h.flags != b->flags))
		err = AVA_ECORRUPT;
	uint8_t *stored = err ? NULL : malloc(b->stored_len ? b->stored_len : 1);
	if (!err && stored == NULL)
		err = -ENOMEM;
	if (!err)
		err = pread_all(fd, stored, b->stored_len,
				b->offset + JF_BLOBHDR_SIZE);
	uint8_t *raw = NULL;
	if (!err)
		err = unpack(hash, b, stored, &raw);
	if (raw != stored)
		free(stored);
	if (err)
		return err;
	*data = raw;
	*len = b->raw_len;
	return 0;
}

int
reader_blobref(struct ava_journal_reader *r, MDB_txn *txn,
	       const uint8_t hash[16], struct jf_blobref *b)
{
	MDB_val k = { 16, (void *)hash }, v;
	int err = store_err(mdb_get(txn, r->st->blobs, &k, &v));
	if (err)
		return err;
	return jf_blobref_decode(hash, v.mv_data, v.mv_size, b);
}

int
ava_journal_blob_read(struct ava_journal_reader *r, const uint8_t hash[16],
		      void **data, size_t *len)
{
	MDB_txn *txn;
	struct jf_blobref b;
	int err = reader_txn(r, &txn);
	if (err)
		return err;
	err = reader_blobref(r, txn, hash, &b);
	mdb_txn_abort(txn);
	return err ? err : reader_blob_fetch(r, hash, &b, data, len);
}

int
ava_journal_payload_read(struct ava_journal_reader *r,
			 const struct ava_journal_payload *p,
			 void **data, size_t *len)
{
	if (p->is_blob)
		return ava_journal_blob_read(r, p->hash, data, len);
	void *d = malloc(p->len ? p->len : 1);
	if (d == NULL)
		return -ENOMEM;
	if (p->len)
		memcpy(d, p->data, p->len);
	*data = d;
	*len = p->len;
	return 0;
}
