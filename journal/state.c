/*
 * state.c - STATE-level compaction.
 *
 * Two derived tables keep the live object graph's history:
 *   objects: (session, object) -> the seqs of the stored calls that
 *            created or wrote it (a DUPSORT list)
 *   crefs:   (session, seq) -> how many live objects still need that call
 * When an object is released, every call on its list loses a reference;
 * a call nobody needs is deleted with its blob references, and a segment
 * whose blobs are all dead is unlinked. So the journal's size follows the
 * live state, not the length of the run.
 */
#include <errno.h>
#include <stdlib.h>

#include "journal-private.h"

bool
state_keeps(const struct ava_journal_tag *tags, uint32_t ntags)
{
	for (uint32_t i = 0; i < ntags; i++)
		if (tags[i].kind == AVA_JOURNAL_TAG_CREATED ||
		    tags[i].kind == AVA_JOURNAL_TAG_WRITTEN)
			return true;
	return false;
}

/* Drop a stored call: its blob references, then the record. */
static int
drop_call(struct ava_journal *j, MDB_txn *txn, const uint8_t key[16])
{
	MDB_val k = { 16, (void *)key }, v;
	int err = store_err(mdb_get(txn, j->st.calls, &k, &v));
	if (err)
		return err == -ENOENT ? 0 : err;
	/* blob_ref() writes to the transaction, which may move the page
	 * this value lives on: decode a private copy. */
	uint8_t *copy = malloc(v.mv_size);
	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, v.mv_data, v.mv_size);
	struct jf_call c;
	err = jf_call_decode(copy, v.mv_size, get_be64(key),
			     get_be64(key + 8), &c);
	for (uint32_t i = 0; !err && i < c.c.npayloads; i++)
		if (c.payloads[i].is_blob)
			err = blob_ref(j, txn, c.payloads[i].hash, -1);
	if (!err)
		err = store_err(mdb_del(txn, j->st.calls, &k, NULL));
	jf_call_clear(&c);
	free(copy);
	if (!err)
		j->tstats.compacted++;
	return err;
}

/* One live object fewer needs call `key`. */
static int
unref_call(struct ava_journal *j, MDB_txn *txn, const uint8_t key[16])
{
	MDB_val k = { 16, (void *)key }, v;
	int err = store_err(mdb_get(txn, j->st.crefs, &k, &v));
	if (err)
		return err == -ENOENT ? 0 : err;
	uint32_t n = v.mv_size == 4 ? get_le32(v.mv_data) : 0;
	if (n > 1) {
		uint8_t buf[4];
		put_le32(buf, n - 1);
		v = (MDB_val){ 4, buf };
		return store_err(mdb_put(txn, j->st.crefs, &k, &v, 0));
	}
	err = store_err(mdb_del(txn, j->st.crefs, &k, NULL));
	return err ? err : drop_call(j, txn, key);
}

/* Collect the seqs listed for an object, then forget the object. */
static int
take_history(struct ava_journal *j, MDB_txn *txn, const uint8_t okey[16],
	     uint64_t **seqs, size_t *n)
{
	MDB_cursor *cur;
	MDB_val k = { 16, (void *)okey }, v;
	size_t cap = 0;
	*seqs = NULL;
	*n = 0;
	int rc = mdb_cursor_open(txn, j->st.objects, &cur);
	if (rc)
		return store_err(rc);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			uint64_t *s = realloc(*seqs, cap * sizeof(*s));
			if (s == NULL) {
				rc = ENOMEM;
				break;
			}
			*seqs = s;
		}
		(*seqs)[(*n)++] = v.mv_size == 8 ? get_be64(v.mv_data) : 0;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return store_err(rc);
	rc = mdb_del(txn, j->st.objects, &k, NULL);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

static int
release_object(struct ava_journal *j, MDB_txn *txn, uint64_t session,
	       uint64_t object)
{
	uint8_t okey[16], ckey[16];
	uint64_t *seqs;
	size_t n;
	jf_key2(okey, session, object);
	int err = take_history(j, txn, okey, &seqs, &n);
	for (size_t i = 0; i < n && !err; i++) {
		jf_key2(ckey, session, seqs[i]);
		err = unref_call(j, txn, ckey);
	}
	free(seqs);
	return err;
}

/* List call `seq` under each object it created or wrote; count them. */
static int
link_call(struct ava_journal *j, MDB_txn *txn,
	  const struct ava_journal_call *c)
{
	uint8_t okey[16], sv[8], ckey[16], cnt[4];
	uint32_t refs = 0;
	put_be64(sv, c->seq);
	for (uint32_t i = 0; i < c->ntags; i++) {
		if (c->tags[i].kind == AVA_JOURNAL_TAG_RELEASED)
			continue;
		jf_key2(okey, c->session, c->tags[i].object);
		MDB_val k = { 16, okey }, v = { 8, sv };
		int rc = mdb_put(txn, j->st.objects, &k, &v, MDB_NODUPDATA);
		if (rc == MDB_KEYEXIST)
			continue;
		if (rc)
			return store_err(rc);
		refs++;
	}
	jf_key2(ckey, c->session, c->seq);
	put_le32(cnt, refs);
	MDB_val k = { 16, ckey }, v = { 4, cnt };
	return store_err(mdb_put(txn, j->st.crefs, &k, &v, 0));
}

int
state_track(struct ava_journal *j, MDB_txn *txn,
	    const struct ava_journal_call *c, bool stored)
{
	if (j->opt.level != AVA_JOURNAL_LEVEL_STATE)
		return 0;
	int err = stored ? link_call(j, txn, c) : 0;
	for (uint32_t i = 0; i < c->ntags && !err; i++)
		if (c->tags[i].kind == AVA_JOURNAL_TAG_RELEASED)
			err = release_object(j, txn, c->session,
					     c->tags[i].object);
	return err;
}
