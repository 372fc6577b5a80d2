/*
 * blob.c - the content-addressed blob store: append-only segment files
 * indexed by the `blobs` and `segments` tables.
 *
 * A blob's bytes are written (and, unless sync is NONE, fsynced) before
 * the transaction that indexes them commits, so an index entry never
 * points at bytes that are not on disk. Bytes written by a batch that
 * never committed sit past the segment's committed size and are cut off
 * when the writer next opens the journal.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "journal-private.h"

static void
seg_name(uint32_t id, char out[32])
{
	snprintf(out, 32, "%08u.seg", id);
}

static struct seginfo *
seg_find(struct blobstore *bs, uint32_t id)
{
	size_t lo = 0, hi = bs->nsegs;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (bs->segs[mid].id == id)
			return &bs->segs[mid];
		if (bs->segs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static struct seginfo *
seg_add(struct blobstore *bs, uint32_t id, const struct jf_segrec *rec)
{
	if (bs->nsegs == bs->cap) {
		size_t cap = bs->cap ? bs->cap * 2 : 16;
		struct seginfo *s = realloc(bs->segs, cap * sizeof(*s));
		if (s == NULL)
			return NULL;
		bs->segs = s;
		bs->cap = cap;
	}
	struct seginfo *s = &bs->segs[bs->nsegs++];
	*s = (struct seginfo){ .id = id, .rec = *rec, .fd = -1 };
	if (id > bs->last_id)
		bs->last_id = id;
	return s;
}

/* Keep a buffer alive until the batch's writes are done. */
static int
scratch_keep(struct blobstore *bs, void *p)
{
	if (bs->nscratch == bs->scratch_cap) {
		size_t cap = bs->scratch_cap ? bs->scratch_cap * 2 : 64;
		void **s = realloc(bs->scratch, cap * sizeof(*s));
		if (s == NULL)
			return -ENOMEM;
		bs->scratch = s;
		bs->scratch_cap = cap;
	}
	bs->scratch[bs->nscratch++] = p;
	return 0;
}

static int
load_segments(struct blobstore *bs, struct jstore *st, MDB_txn *txn)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, st->segments, &cur);
	if (rc != 0)
		return store_err(rc);
	int err = 0;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !err;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct jf_segrec rec;
		uint32_t id = k.mv_size == 4 ? get_be32(k.mv_data) : 0;
		err = id ? jf_segrec_decode(id, v.mv_data, v.mv_size, &rec)
			 : AVA_ECORRUPT;
		if (!err && seg_add(bs, id, &rec) == NULL)
			err = -ENOMEM;
	}
	mdb_cursor_close(cur);
	if (!err && rc != MDB_NOTFOUND)
		err = store_err(rc);
	return err;
}

/* Reopen the unsealed last segment and cut uncommitted bytes off it. */
static int
resume_current(struct blobstore *bs, char *why, size_t why_len)
{
	bs->cur = -1;
	if (bs->nsegs == 0 || (bs->segs[bs->nsegs - 1].rec.flags &
			       JF_SEG_SEALED))
		return 0;
	struct seginfo *s = &bs->segs[bs->nsegs - 1];
	char name[32];
	uint8_t hdr[JF_SEGFILE_HDR];
	seg_name(s->id, name);
	s->fd = openat(bs->dirfd, name, O_RDWR | O_CLOEXEC);
	if (s->fd < 0 && errno == ENOENT) {
		set_why(why, why_len, "segment %u: file missing", s->id);
		return AVA_ECORRUPT;
	}
	if (s->fd < 0)
		return -errno;
	if (pread(s->fd, hdr, sizeof(hdr), 0) != sizeof(hdr) ||
	    jf_segfile_decode(s->id, hdr) != 0) {
		set_why(why, why_len, "segment %u: bad file header", s->id);
		return AVA_ECORRUPT;
	}
	/* Shorter than committed is damage, not a torn append: refuse
	 * rather than paper over it with zeros. */
	struct stat st;
	if (fstat(s->fd, &st) != 0)
		return -errno;
	if ((uint64_t)st.st_size < s->rec.size) {
		set_why(why, why_len, "segment %u: truncated: %lld bytes, "
			"index says %llu", s->id, (long long)st.st_size,
			(unsigned long long)s->rec.size);
		return AVA_ECORRUPT;
	}
	if (ftruncate(s->fd, (off_t)s->rec.size) != 0)
		return -errno;
	bs->cur = (int)(bs->nsegs - 1);
	return 0;
}

/* Segment files the index does not know were created by a batch that
 * never committed, or left by a deletion a crash interrupted. */
static void
remove_orphans(struct blobstore *bs)
{
	int fd = dup(bs->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		unsigned id;
		char tail[8];
		if (sscanf(de->d_name, "%8u.se%1s", &id, tail) == 2 &&
		    seg_find(bs, id) == NULL)
			unlinkat(bs->dirfd, de->d_name, 0);
	}
	closedir(d);
}

int
blob_open(struct ava_journal *j, MDB_txn *txn, char *why, size_t why_len)
{
	struct blobstore *bs = &j->bs;
	char path[4096];
	memset(bs, 0, sizeof(*bs));
	bs->cur = -1;
	snprintf(path, sizeof(path), "%s/blobs", j->dir);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return -errno;
	bs->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (bs->dirfd < 0)
		return -errno;
	int err = load_segments(bs, &j->st, txn);
	if (err)
		set_why(why, why_len, "segment table corrupt");
	if (!err)
		err = resume_current(bs, why, why_len);
	if (!err)
		remove_orphans(bs);
	return err;
}

void
blob_close(struct blobstore *bs)
{
	for (size_t i = 0; i < bs->nsegs; i++)
		if (bs->segs[i].fd >= 0)
			close(bs->segs[i].fd);
	for (size_t i = 0; i < bs->nscratch; i++)
		free(bs->scratch[i]);
	free(bs->scratch);
	free(bs->segs);
	if (bs->dirfd > 0)
		close(bs->dirfd);
	memset(bs, 0, sizeof(*bs));
}

static int
seg_new(struct ava_journal *j)
{
	struct blobstore *bs = &j->bs;
	/* A deleted segment's id is not reused while the journal is open:
	 * a reader holding an older snapshot must not find another file
	 * under the name its blob index gives. */
	uint32_t id = bs->last_id + 1;
	char name[32];
	seg_name(id, name);
	uint8_t *hdr = malloc(JF_SEGFILE_HDR);
	if (hdr == NULL || scratch_keep(bs, hdr) != 0) {
		free(hdr);
		return -ENOMEM;
	}
	jf_segfile_encode(id, now_ns(), hdr);
	int fd = openat(bs->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
			0644);
	if (fd < 0)
		return -errno;
	struct jf_segrec rec = { JF_SEGFILE_HDR, 0, 0 };
	struct seginfo *s = seg_add(bs, id, &rec);
	if (s == NULL) {
		close(fd);
		return -ENOMEM;
	}
	s->fd = fd;
	s->dirty = s->touched = true;
	bs->cur = (int)(bs->nsegs - 1);
	bs->new_file = true;
	return jio_write(&j->io, fd, hdr, JF_SEGFILE_HDR, 0);
}

/* The segment that takes the next `need` bytes, rolling over if full. */
static int
seg_for(struct ava_journal *j, uint64_t need, struct seginfo **out)
{
	struct blobstore *bs = &j->bs;
	if (bs->cur >= 0) {
		struct seginfo *s = &bs->segs[bs->cur];
		if (s->rec.size == JF_SEGFILE_HDR ||
		    s->rec.size + need <= j->opt.segment_bytes) {
			*out = s;
			return 0;
		}
		s->rec.flags |= JF_SEG_SEALED;
		s->dirty = true;
		/* Every blob in it may have died before it filled (STATE). */
		if (s->rec.live == 0)
			s->dead = true;
		bs->cur = -1;
	}
	int err = seg_new(j);
	*out = err ? NULL : &bs->segs[bs->cur];
	return err;
}

/* zstd level 1, kept only when it saves at least 1/16. */
static const uint8_t *
maybe_compress(struct ava_journal *j, const uint8_t *data, uint64_t len,
	       uint64_t *stored, uint32_t *flags)
{
	*stored = len;
	*flags = 0;
	if (!j->opt.compress || len < 256)
		return data;
	size_t cap = ZSTD_compressBound(len);
	uint8_t *out = malloc(cap);
	if (out == NULL)
		return data;
	size_t n = ZSTD_compress(out, cap, data, len, 1);
	if (ZSTD_isError(n) || n > len - len / 16 ||
	    scratch_keep(&j->bs, out) != 0) {
		free(out);
		return data;
	}
	*stored = n;
	*flags = JF_BLOB_ZSTD;
	return out;
}

static int
write_blob(struct ava_journal *j, const uint8_t *data,
	   const struct ava_journal_payload *p, struct jf_blobref *ref)
{
	struct jf_blobhdr h = { .raw_len = p->len };
	const uint8_t *body = maybe_compress(j, data, p->len, &h.stored_len,
					     &h.flags);
	memcpy(h.hash, p->hash, 16);
	h.data_sum = XXH3_64bits(body, h.stored_len);
	uint8_t *hb = malloc(JF_BLOBHDR_SIZE);
	if (hb == NULL || scratch_keep(&j->bs, hb) != 0) {
		free(hb);
		return -ENOMEM;
	}
	jf_blobhdr_encode(&h, hb);
	struct seginfo *s;
	uint64_t need = JF_BLOBHDR_SIZE + h.stored_len;
	int err = seg_for(j, need, &s);
	if (err)
		return err;
	*ref = (struct jf_blobref){ s->id, h.flags, s->rec.size, p->len,
				    h.stored_len, h.data_sum, 0 };
	err = jio_write(&j->io, s->fd, hb, JF_BLOBHDR_SIZE, s->rec.size);
	if (!err && h.stored_len)
		err = jio_write(&j->io, s->fd, body, h.stored_len,
				s->rec.size + JF_BLOBHDR_SIZE);
	s->rec.size += need;
	s->rec.live += need;
	s->dirty = s->touched = true;
	j->tstats.blobs_written++;
	j->tstats.blob_bytes_raw += p->len;
	j->tstats.blob_bytes_stored += h.stored_len;
	return err;
}

int
blob_add(struct ava_journal *j, MDB_txn *txn, const uint8_t *data,
	 const struct ava_journal_payload *p)
{
	MDB_val k = { 16, (void *)p->hash }, v;
	int rc = mdb_get(txn, j->st.blobs, &k, &v);
	if (rc == 0) {
		j->tstats.blobs_deduped++;
		return blob_ref(j, txn, p->hash, 1);
	}
	if (rc != MDB_NOTFOUND)
		return store_err(rc);
	struct jf_blobref ref;
	int err = write_blob(j, data, p, &ref);
	if (err)
		return err;
	ref.refcount = 1;
	uint8_t buf[JF_BLOBREF_SIZE];
	jf_blobref_encode(p->hash, &ref, buf);
	v = (MDB_val){ sizeof(buf), buf };
	return store_err(mdb_put(txn, j->st.blobs, &k, &v, 0));
}

static void
seg_release(struct ava_journal *j, const struct jf_blobref *ref)
{
	struct seginfo *s = seg_find(&j->bs, ref->segment);
	uint64_t n = JF_BLOBHDR_SIZE + ref->stored_len;
	if (s == NULL)
		return;
	s->rec.live = s->rec.live > n ? s->rec.live - n : 0;
	s->dirty = true;
	if (s->rec.live == 0 && (s->rec.flags & JF_SEG_SEALED))
		s->dead = true;
}

int
blob_ref(struct ava_journal *j, MDB_txn *txn, const uint8_t hash[16],
	 int delta)
{
	MDB_val k = { 16, (void *)hash }, v;
	struct jf_blobref ref;
	int err = store_err(mdb_get(txn, j->st.blobs, &k, &v));
	if (!err)
		err = jf_blobref_decode(hash, v.mv_data, v.mv_size, &ref);
	if (err)
		return err;
	if (delta < 0 && ref.refcount <= 1) {
		seg_release(j, &ref);
		j->tstats.blobs_freed++;
		return store_err(mdb_del(txn, j->st.blobs, &k, NULL));
	}
	ref.refcount += (uint64_t)(int64_t)delta;
	uint8_t buf[JF_BLOBREF_SIZE];
	jf_blobref_encode(hash, &ref, buf);
	v = (MDB_val){ sizeof(buf), buf };
	return store_err(mdb_put(txn, j->st.blobs, &k, &v, 0));
}

static int
sync_segments(struct ava_journal *j)
{
	struct blobstore *bs = &j->bs;
	for (size_t i = 0; i < bs->nsegs; i++)
		if (bs->segs[i].touched && !bs->segs[i].dead)
			jio_fsync(&j->io, bs->segs[i].fd);
	int err = jio_wait(&j->io);
	/* A new file's name must be durable too, or the blob is lost. */
	if (!err && bs->new_file && fsync(bs->dirfd) != 0)
		err = -errno;
	return err;
}

static int
put_segrec(struct ava_journal *j, MDB_txn *txn, struct seginfo *s)
{
	uint8_t key[4], buf[JF_SEGREC_SIZE];
	put_be32(key, s->id);
	MDB_val k = { 4, key }, v = { sizeof(buf), buf };
	if (s->dead) {
		int rc = mdb_del(txn, j->st.segments, &k, NULL);
		return rc == MDB_NOTFOUND ? 0 : store_err(rc);
	}
	jf_segrec_encode(s->id, &s->rec, buf);
	return store_err(mdb_put(txn, j->st.segments, &k, &v, 0));
}

/*
 * At STATE level blobs die with their objects, and a sealed segment with
 * no live blob is deleted. A run that keeps creating, writing and
 * releasing objects would still grow the open segment to its full size
 * with dead bytes, so the open one is sealed early, and so deleted, once
 * no blob in it lives and it holds 1/64 of a segment.
 */
static void
retire_open_segment(struct ava_journal *j)
{
	struct blobstore *bs = &j->bs;
	if (bs->cur < 0 || j->opt.level != AVA_JOURNAL_LEVEL_STATE)
		return;
	struct seginfo *s = &bs->segs[bs->cur];
	if (s->rec.live != 0 || s->rec.size < j->opt.segment_bytes / 64)
		return;
	s->rec.flags |= JF_SEG_SEALED;
	s->dirty = s->dead = true;
	bs->cur = -1;
}

int
blob_precommit(struct ava_journal *j, MDB_txn *txn)
{
	int err = jio_wait(&j->io);
	if (!err)
		retire_open_segment(j);
	if (!err && j->opt.sync != AVA_JOURNAL_SYNC_NONE)
		err = sync_segments(j);
	for (size_t i = 0; i < j->bs.nsegs && !err; i++)
		if (j->bs.segs[i].dirty)
			err = put_segrec(j, txn, &j->bs.segs[i]);
	return err;
}

static void
drop_scratch(struct blobstore *bs)
{
	for (size_t i = 0; i < bs->nscratch; i++)
		free(bs->scratch[i]);
	bs->nscratch = 0;
	bs->new_file = false;
}

void
blob_postcommit(struct ava_journal *j)
{
	struct blobstore *bs = &j->bs;
	size_t w = 0;
	drop_scratch(bs);
	for (size_t i = 0; i < bs->nsegs; i++) {
		struct seginfo s = bs->segs[i];
		bool cur = (int)i == bs->cur;
		if (s.fd >= 0 && (s.dead || !cur)) {
			close(s.fd);
			s.fd = -1;
		}
		if (s.dead) {
			char name[32];
			seg_name(s.id, name);
			unlinkat(bs->dirfd, name, 0);
			j->tstats.segments_deleted++;
			continue;
		}
		s.dirty = s.touched = false;
		if (cur)
			bs->cur = (int)w;
		bs->segs[w++] = s;
	}
	bs->nsegs = w;
}

void
blob_abort(struct ava_journal *j)
{
	jio_wait(&j->io);
	drop_scratch(&j->bs);
}
