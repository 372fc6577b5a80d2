/*
 * journal-format.h - encoders and decoders of the on-disk records
 * (doc/journal-format.md). Private to journal/ and its tests.
 *
 * Decoders take untrusted bytes: every length is checked against what is
 * left before it is used, and failures return AVA_ECORRUPT (bad bytes) or
 * AVA_EVERSION, never assert.
 */
#ifndef AVA_JOURNAL_FORMAT_H
#define AVA_JOURNAL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "journal.h"

#define JF_META_MAGIC "AVAJOURN"
#define JF_META_SIZE 40
#define JF_CALL_HDR 72
#define JF_SESSION_HDR 84
#define JF_BLOBREF_SIZE 56
#define JF_SEGREC_SIZE 32
#define JF_SEGFILE_MAGIC "AVASEGM1"
#define JF_SEGFILE_HDR 32
#define JF_BLOBHDR_MAGIC 0x42415641u /* "AVAB" */
#define JF_BLOBHDR_SIZE 56
#define JF_TAG_SIZE 9

/* payload kinds inside a call record */
enum { JF_PAYLOAD_INLINE = 0, JF_PAYLOAD_BLOB = 1 };

/* call record flags */
enum { JF_CALL_ASYNC = 1u << 0 };

/* blob flags */
enum { JF_BLOB_ZSTD = 1u << 0 };

/* segment record flags */
enum { JF_SEG_SEALED = 1u << 0 };

/* ---- little-endian / big-endian helpers ---- */

static inline void
put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void
put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t
get_le32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t
get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline void
put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static inline uint64_t
get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static inline void
put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static inline uint32_t
get_be32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v = (v << 8) | p[i];
	return v;
}

/* A (session, seq) or (session, object) key: two big-endian u64, so that
 * LMDB's bytewise order is numeric order. */
static inline void
jf_key2(uint8_t key[16], uint64_t a, uint64_t b)
{
	put_be64(key, a);
	put_be64(key + 8, b);
}

/* The checksum every LMDB value starts with: XXH3-64 of the rest of the
 * value, seeded with XXH3-64 of the key so a record under the wrong key
 * fails too. */
uint64_t
jf_checksum(const void *key, size_t klen, const void *val, size_t vlen);

/* Check the leading checksum of a value; false if short or mismatched. */
bool
jf_checksum_ok(const void *key, size_t klen, const void *val, size_t vlen);

/* Write the checksum into val[0..7]. */
void
jf_seal(const void *key, size_t klen, void *val, size_t vlen);

/* ---- meta ---- */

struct jf_meta {
	uint32_t version;
	uint32_t level;
	uint64_t created_ns;
};

void
jf_meta_encode(const struct jf_meta *m, uint8_t out[JF_META_SIZE]);

/* AVA_ECORRUPT, or AVA_EVERSION with m->version set to the found one. */
int
jf_meta_decode(const void *val, size_t len, struct jf_meta *m);

/* ---- sessions ---- */

/* Encoded size of a session record, or 0 if a text field is too long. */
size_t
jf_session_size(const struct ava_journal_session *s);

void
jf_session_encode(const struct ava_journal_session *s, uint8_t *out,
		  size_t len);

/* Decode into *s; strings are heap copies the caller frees with
 * jf_session_clear(). The checksum is checked by the caller. */
int
jf_session_decode(const void *val, size_t len, uint64_t id,
		  struct ava_journal_session *s);

void
jf_session_clear(struct ava_journal_session *s);

/* ---- calls ---- */

/*
 * A decoded call that owns its arrays: `payloads` and `tags` are heap
 * arrays; byte fields point into the encoded value, which must outlive
 * it (the reader copies values out of LMDB first).
 */
struct jf_call {
	struct ava_journal_call c;
	struct ava_journal_payload *payloads;
	struct ava_journal_tag *tags;
};

/* Encoded size of a call; the encoder seals the checksum with the
 * (session, seq) key. */
size_t
jf_call_size(const struct ava_journal_call *c);

void
jf_call_encode(const struct ava_journal_call *c, uint8_t *out, size_t len);

int
jf_call_decode(const void *val, size_t len, uint64_t session, uint64_t seq,
	       struct jf_call *out);

void
jf_call_clear(struct jf_call *c);

/* ---- blobs ---- */

struct jf_blobref {
	uint32_t segment;
	uint32_t flags;
	uint64_t offset;      /* of the blob header inside the segment */
	uint64_t raw_len;
	uint64_t stored_len;
	uint64_t data_sum;    /* XXH3-64 of the stored bytes */
	uint64_t refcount;
};

void
jf_blobref_encode(const uint8_t hash[16], const struct jf_blobref *b,
		  uint8_t out[JF_BLOBREF_SIZE]);

int
jf_blobref_decode(const uint8_t hash[16], const void *val, size_t len,
		  struct jf_blobref *b);

struct jf_blobhdr {
	uint32_t flags;
	uint8_t hash[16];
	uint64_t raw_len;
	uint64_t stored_len;
	uint64_t data_sum;
};

void
jf_blobhdr_encode(const struct jf_blobhdr *h, uint8_t out[JF_BLOBHDR_SIZE]);

int
jf_blobhdr_decode(const uint8_t in[JF_BLOBHDR_SIZE], struct jf_blobhdr *h);

/* ---- segments ---- */

struct jf_segrec {
	uint64_t size;        /* committed bytes, header included */
	uint64_t live;        /* bytes of blobs still referenced */
	uint32_t flags;
};

void
jf_segrec_encode(uint32_t id, const struct jf_segrec *s,
		 uint8_t out[JF_SEGREC_SIZE]);

int
jf_segrec_decode(uint32_t id, const void *val, size_t len,
		 struct jf_segrec *s);

void
jf_segfile_encode(uint32_t id, uint64_t created_ns,
		  uint8_t out[JF_SEGFILE_HDR]);

int
jf_segfile_decode(uint32_t id, const uint8_t in[JF_SEGFILE_HDR]);

/* "9f3e01ab…" : the first 8 bytes of a hash in hex, for messages. */
void
jf_hash_short(const uint8_t hash[16], char out[17]);

#endif
