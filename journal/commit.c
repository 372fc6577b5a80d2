/*
 * commit.c - group commit: one LMDB write transaction per batch of ring
 * slots. Runs on the journal thread only.
 *
 * Order inside a batch: each call record is reserved in LMDB, its blobs
 * are queued for writing, session records are rewritten, and only after
 * every blob write (and fsync, per sync mode) has completed does the
 * transaction commit. A crash at any point leaves either the whole batch
 * or none of it.
 */
#include <errno.h>
#include <stdlib.h>
#include <xxhash.h>

#include "journal-private.h"

/* ---- sessions touched by the batch ---- */

static struct batch_session *
bsess_slot(struct ava_journal *j)
{
	if (j->nbsess == j->bsess_cap) {
		size_t cap = j->bsess_cap ? j->bsess_cap * 2 : 8;
		struct batch_session *b = realloc(j->bsess, cap * sizeof(*b));
		if (b == NULL)
			return NULL;
		j->bsess = b;
		j->bsess_cap = cap;
	}
	struct batch_session *b = &j->bsess[j->nbsess++];
	memset(b, 0, sizeof(*b));
	return b;
}

/* The batch's copy of session `id`, loaded from LMDB on first use. */
static struct batch_session *
bsess_get(struct ava_journal *j, MDB_txn *txn, uint64_t id)
{
	for (size_t i = 0; i < j->nbsess; i++)
		if (j->bsess[i].s.id == id)
			return &j->bsess[i];
	struct batch_session *b = bsess_slot(j);
	if (b == NULL)
		return NULL;
	uint8_t key[8];
	put_be64(key, id);
	MDB_val k = { 8, key }, v;
	b->s.id = id;
	if (mdb_get(txn, j->st.sessions, &k, &v) == 0 &&
	    jf_checksum_ok(key, 8, v.mv_data, v.mv_size) &&
	    jf_session_decode(v.mv_data, v.mv_size, id, &b->s) == 0)
		b->found = true;
	return b;
}

static char *
dup_text(const uint8_t *p, uint32_t n)
{
	char *t = malloc(n + 1);
	if (t) {
		memcpy(t, p, n);
		t[n] = '\0';
	}
	return t;
}

static int
do_begin(struct ava_journal *j, const struct slot *s)
{
	struct batch_session *b = bsess_slot(j);
	if (b == NULL)
		return -ENOMEM;
	char **f[5] = { &b->s.guest, &b->s.api, &b->s.host,
			&b->s.ava_version, &b->s.devices };
	const uint8_t *p = s->data + 20;
	b->s.id = s->session;
	b->s.start_ns = s->start_ns;
	b->found = true;
	for (int i = 0; i < 5; i++) {
		uint32_t n = get_le32(s->data + 4 * i);
		*f[i] = dup_text(p, n);
		if (*f[i] == NULL)
			return -ENOMEM;
		p += n;
	}
	return 0;
}

static int
do_end(struct ava_journal *j, MDB_txn *txn, const struct slot *s)
{
	struct batch_session *b = bsess_get(j, txn, s->session);
	if (b == NULL)
		return -ENOMEM;
	b->s.end = (enum ava_journal_end)s->flags;
	b->s.fault_seq = s->seq;
	b->s.end_ns = s->start_ns;
	return 0;
}

static int
count_call(struct ava_journal *j, MDB_txn *txn, const struct slot *s)
{
	struct batch_session *b = bsess_get(j, txn, s->session);
	if (b == NULL)
		return -ENOMEM;
	struct ava_journal_session *x = &b->s;
	x->ncalls++;
	if (x->first_seq == 0 || s->seq < x->first_seq)
		x->first_seq = s->seq;
	if (s->seq > x->last_seq)
		x->last_seq = s->seq;
	return 0;
}

static int
flush_sessions(struct ava_journal *j, MDB_txn *txn)
{
	int err = 0;
	for (size_t i = 0; i < j->nbsess && !err; i++) {
		struct batch_session *b = &j->bsess[i];
		size_t n = jf_session_size(&b->s);
		uint8_t key[8];
		put_be64(key, b->s.id);
		MDB_val k = { 8, key }, v = { n, NULL };
		/* A session whose record is missing or unreadable keeps it
		 * that way: verify must see the damage, not a blank. */
		if (!b->found || n == 0)
			continue;
		err = store_err(mdb_put(txn, j->st.sessions, &k, &v,
					MDB_RESERVE));
		if (!err) {
			jf_session_encode(&b->s, v.mv_data, n);
			jf_seal(key, 8, v.mv_data, n);
		}
	}
	return err;
}

static void
clear_sessions(struct ava_journal *j)
{
	for (size_t i = 0; i < j->nbsess; i++)
		jf_session_clear(&j->bsess[i].s);
	j->nbsess = 0;
}

/* ---- calls ---- */

static int
payload_scratch(struct ava_journal *j, uint32_t n)
{
	if (n <= j->pl_cap)
		return 0;
	struct ava_journal_payload *p = realloc(j->pl, n * sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	j->pl = p;
	j->pl_cap = n;
	return 0;
}

/* Rebuild the call from its staged bytes (see fill_call in writer.c). */
static int
unstage(struct ava_journal *j, const struct slot *s,
	struct ava_journal_call *c, struct ava_journal_tag *tags)
{
	const uint8_t *d = s->data;
	*c = (struct ava_journal_call){
		.session = s->session, .seq = s->seq, .thread = s->thread,
		.fn = s->fn, .ret = s->ret, .deferred_error = s->deferred,
		.start_ns = s->start_ns, .duration_ns = s->duration_ns,
		.async = s->flags & 1, .args = d, .args_len = s->args_len,
		.outs_len = s->outs_len, .ndigests = s->ndigests,
		.npayloads = s->npayloads, .ntags = s->ntags, .tags = tags,
	};
	c->outs = d += s->args_len;
	c->digests = d += s->outs_len;
	const uint8_t *lens = d += 8 * (size_t)s->ndigests;
	d += 8 * (size_t)s->npayloads;
	if (payload_scratch(j, s->npayloads) != 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->npayloads; i++) {
		uint64_t len = get_le64(lens + 8 * i);
		j->pl[i] = (struct ava_journal_payload){
			.len = len, .data = d,
			.is_blob = len >= j->opt.blob_threshold,
		};
		d += len;
	}
	c->payloads = j->pl;
	for (uint32_t i = 0; i < s->ntags; i++, d += JF_TAG_SIZE)
		tags[i] = (struct ava_journal_tag){ d[0], get_le64(d + 1) };
	return 0;
}

static void
hash_blobs(struct ava_journal *j, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct ava_journal_payload *p = &j->pl[i];
		if (!p->is_blob)
			continue;
		XXH128_canonical_t h;
		XXH128_canonicalFromHash(&h, XXH3_128bits(p->data, p->len));
		memcpy(p->hash, h.digest, 16);
	}
}

/* Reserve the record's value; 1 if (session, seq) already exists. */
static int
reserve_call(struct ava_journal *j, MDB_txn *txn,
	     const struct ava_journal_call *c, uint8_t **val, size_t len)
{
	uint8_t key[16];
	jf_key2(key, c->session, c->seq);
	bool append = !j->have_last_key || memcmp(key, j->last_key, 16) > 0;
	MDB_val k = { 16, key }, v = { len, NULL };
	unsigned f = MDB_RESERVE | (append ? MDB_APPEND : MDB_NOOVERWRITE);
	int rc = mdb_put(txn, j->st.calls, &k, &v, f);
	if (rc == MDB_KEYEXIST)
		return 1;
	if (rc != 0)
		return store_err(rc);
	if (append) {
		memcpy(j->last_key, key, 16);
		j->have_last_key = true;
	}
	*val = v.mv_data;
	return 0;
}

/* Encode into the reserved value before any other put (MDB_RESERVE). */
static int
store_call(struct ava_journal *j, MDB_txn *txn,
	   const struct ava_journal_call *c)
{
	uint8_t *val = NULL;
	size_t len = jf_call_size(c);
	int rc = reserve_call(j, txn, c, &val, len);
	if (rc == 1) {
		j->tstats.duplicates++;
		return 1;
	}
	if (rc)
		return rc;
	jf_call_encode(c, val, len);
	for (uint32_t i = 0; i < c->npayloads; i++) {
		const struct ava_journal_payload *p = &c->payloads[i];
		int err = p->is_blob ? blob_add(j, txn, p->data, p) : 0;
		if (err)
			return err;
		if (!p->is_blob)
			j->tstats.inline_payloads++;
	}
	return 0;
}

static int
do_call(struct ava_journal *j, MDB_txn *txn, const struct slot *s)
{
	struct ava_journal_call c;
	struct ava_journal_tag stack_tags[16];
	struct ava_journal_tag *tags = s->ntags <= 16 ? stack_tags
			: malloc(s->ntags * sizeof(*tags));
	if (tags == NULL)
		return -ENOMEM;
	int err = unstage(j, s, &c, tags);
	bool keep = j->opt.level == AVA_JOURNAL_LEVEL_FULL ||
		    state_keeps(c.tags, c.ntags);
	int stored = 0;
	if (!err && keep) {
		hash_blobs(j, c.npayloads);
		stored = store_call(j, txn, &c);
		err = stored < 0 ? stored : 0;
	}
	if (!err && !keep)
		j->tstats.state_skipped++;
	/* A duplicate (session, seq) is counted once, in `duplicates`. */
	if (!err && stored == 0)
		err = state_track(j, txn, &c, keep);
	if (!err && stored == 0)
		err = count_call(j, txn, s);
	if (tags != stack_tags)
		free(tags);
	return err;
}

static int
do_slot(struct ava_journal *j, MDB_txn *txn, const struct slot *s)
{
	switch (s->type) {
	case SLOT_BEGIN: return do_begin(j, s);
	case SLOT_END: return do_end(j, txn, s);
	default: return do_call(j, txn, s);
	}
}

int
commit_batch(struct ava_journal *j, uint64_t first, uint64_t n)
{
	MDB_txn *txn;
	int err = store_err(mdb_txn_begin(j->st.env, NULL, 0, &txn));
	if (err)
		return err;
	uint64_t calls = 0;
	for (uint64_t i = 0; i < n && !err; i++) {
		const struct slot *s = &j->slots[(first + i) & j->mask];
		err = do_slot(j, txn, s);
		calls += s->type == SLOT_CALL;
	}
	if (!err)
		err = flush_sessions(j, txn);
	clear_sessions(j);
	if (!err)
		err = blob_precommit(j, txn);
	if (!err)
		err = store_err(mdb_txn_commit(txn));
	else
		mdb_txn_abort(txn);
	if (err) {
		blob_abort(j);
		return err;
	}
	blob_postcommit(j);
	j->tstats.committed += calls;
	j->tstats.batches++;
	return 0;
}
