/*
 * cursor.c - walking the calls of a session in sequence order.
 *
 * A cursor keeps one read transaction, but renews it every RENEW_EVERY
 * steps: a reader that holds one snapshot for a whole long dump would
 * stop a live writer from reusing freed pages.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "journal-reader.h"

#define RENEW_EVERY 1024

struct ava_journal_cursor {
	struct ava_journal_reader *r;
	MDB_txn *txn;
	MDB_cursor *cur;
	uint64_t session;
	uint64_t next_seq;   /* the next key looked up is >= (session, this) */
	bool done;
	unsigned steps;
	uint8_t *buf;        /* the current value, copied out of LMDB */
	size_t cap;
	struct jf_call call;
};

int
reader_call(const MDB_val *k, const void *val, size_t len,
	    struct jf_call *out)
{
	memset(out, 0, sizeof(*out));
	if (k->mv_size != 16)
		return AVA_ECORRUPT;
	out->c.session = get_be64(k->mv_data);
	out->c.seq = get_be64((const uint8_t *)k->mv_data + 8);
	if (!jf_checksum_ok(k->mv_data, 16, val, len))
		return AVA_ECORRUPT;
	return jf_call_decode(val, len, out->c.session, out->c.seq, out);
}

static void
end_txn(struct ava_journal_cursor *c)
{
	if (c->cur)
		mdb_cursor_close(c->cur);
	if (c->txn)
		mdb_txn_abort(c->txn);
	c->cur = NULL;
	c->txn = NULL;
}

static int
begin_txn(struct ava_journal_cursor *c)
{
	int err = reader_txn(c->r, &c->txn);
	if (err)
		return err;
	err = store_err(mdb_cursor_open(c->txn, c->r->st->calls, &c->cur));
	if (err)
		end_txn(c);
	return err;
}

int
ava_journal_cursor_create(struct ava_journal_reader *r, uint64_t session,
			  uint64_t from_seq, struct ava_journal_cursor **out)
{
	if (r == NULL || out == NULL)
		return -EINVAL;
	struct ava_journal_cursor *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->r = r;
	c->session = session;
	c->next_seq = from_seq;
	*out = c;
	return 0;
}

void
ava_journal_cursor_destroy(struct ava_journal_cursor *c)
{
	if (c == NULL)
		return;
	end_txn(c);
	jf_call_clear(&c->call);
	free(c->buf);
	free(c);
}

static int
keep_value(struct ava_journal_cursor *c, const MDB_val *v)
{
	if (v->mv_size > c->cap) {
		uint8_t *b = realloc(c->buf, v->mv_size);
		if (b == NULL)
			return -ENOMEM;
		c->buf = b;
		c->cap = v->mv_size;
	}
	memcpy(c->buf, v->mv_data, v->mv_size);
	return 0;
}

/* Position on the first key >= (session, next_seq); 0 at the end. */
static int
seek(struct ava_journal_cursor *c, MDB_val *k, MDB_val *v)
{
	uint8_t key[16];
	jf_key2(key, c->session, c->next_seq);
	*k = (MDB_val){ 16, key };
	int rc = mdb_cursor_get(c->cur, k, v, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return store_err(rc);
	/* MDB_SET_RANGE lands on a key at or after the one asked for,
	 * unless damage has broken the tree's order; seeking on from a key
	 * behind could then go round for ever. */
	if (k->mv_size != 16 || memcmp(k->mv_data, key, 16) < 0) {
		c->done = true;
		return AVA_ECORRUPT;
	}
	return get_be64(k->mv_data) == c->session ? 1 : 0;
}

int
ava_journal_cursor_next(struct ava_journal_cursor *c,
			const struct ava_journal_call **call)
{
	MDB_val k, v;
	jf_call_clear(&c->call);
	memset(&c->call, 0, sizeof(c->call));
	if (c->done)
		return 0;
	if (c->txn && ++c->steps % RENEW_EVERY == 0)
		end_txn(c);
	int err = c->txn ? 0 : begin_txn(c);
	int found = err ? err : seek(c, &k, &v);
	if (found <= 0)
		return found;
	err = keep_value(c, &v);
	if (err)
		return err;
	/* A bad record is still reported with its (session, seq), and the
	 * cursor moves past it, so a walk can name it and go on. */
	err = reader_call(&k, c->buf, v.mv_size, &c->call);
	c->next_seq = c->call.c.seq + 1;
	c->done = c->call.c.seq == UINT64_MAX;
	*call = &c->call.c;
	return err ? err : 1;
}

int
ava_journal_call_foreach(struct ava_journal_reader *r, uint64_t session,
			 uint64_t from_seq,
			 int (*fn)(const struct ava_journal_call *c, void *data),
			 void *data)
{
	struct ava_journal_cursor *c;
	const struct ava_journal_call *call;
	int err = ava_journal_cursor_create(r, session, from_seq, &c);
	if (err)
		return err;
	while ((err = ava_journal_cursor_next(c, &call)) == 1) {
		err = fn(call, data);
		if (err)
			break;
	}
	ava_journal_cursor_destroy(c);
	return err;
}

/* A call handed to the caller: the struct comes first so that
 * ava_journal_call_free() can find the rest. */
struct owned_call {
	struct ava_journal_call c;
	struct jf_call jc;
	uint8_t val[];
};

int
ava_journal_call_get(struct ava_journal_reader *r, uint64_t session,
		     uint64_t seq, struct ava_journal_call **out)
{
	MDB_txn *txn;
	uint8_t key[16];
	jf_key2(key, session, seq);
	MDB_val k = { 16, key }, v;
	int err = reader_txn(r, &txn);
	if (err)
		return err;
	err = store_err(mdb_get(txn, r->st->calls, &k, &v));
	struct owned_call *oc = err ? NULL : malloc(sizeof(*oc) + v.mv_size);
	if (!err && oc == NULL)
		err = -ENOMEM;
	if (!err) {
		memcpy(oc->val, v.mv_data, v.mv_size);
		err = reader_call(&k, oc->val, v.mv_size, &oc->jc);
	}
	mdb_txn_abort(txn);
	if (err) {
		if (oc)
			jf_call_clear(&oc->jc);
		free(oc);
		return err;
	}
	oc->c = oc->jc.c;
	*out = &oc->c;
	return 0;
}

void
ava_journal_call_free(struct ava_journal_call *c)
{
	if (c == NULL)
		return;
	struct owned_call *oc = (struct owned_call *)c;
	jf_call_clear(&oc->jc);
	free(oc);
}
