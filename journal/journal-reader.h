/*
 * journal-reader.h - the reader's internals, shared by reader.c,
 * cursor.c and verify.c.
 */
#ifndef AVA_JOURNAL_READER_H
#define AVA_JOURNAL_READER_H

#include "journal-private.h"

struct ava_journal_reader {
	struct jstore *st;   /* &own, or a writer's store (reader_from) */
	struct jstore own;
	char *dir;
	int segfd;           /* the last segment read, kept open */
	uint32_t segid;
};

int
reader_txn(struct ava_journal_reader *r, MDB_txn **txn);

/* Check and decode a session value; strings are heap copies. */
int
reader_session(const MDB_val *k, const MDB_val *v,
	       struct ava_journal_session *s);

/* Look a blob up in the index (checksummed). */
int
reader_blobref(struct ava_journal_reader *r, MDB_txn *txn,
	       const uint8_t hash[16], struct jf_blobref *b);

/* Read, check and decompress the blob `b` describes into a heap buffer. */
int
reader_blob_fetch(struct ava_journal_reader *r, const uint8_t hash[16],
		  const struct jf_blobref *b, void **data, size_t *len);

/* Check a call value under its key and decode it; `val` must outlive
 * `out` (its byte fields point into it). */
int
reader_call(const MDB_val *k, const void *val, size_t len,
	    struct jf_call *out);

#endif
