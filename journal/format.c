/*
 * format.c - the on-disk records of doc/journal-format.md.
 *
 * Every value is little-endian and written field by field, never by
 * casting a struct, so the layout does not depend on the compiler.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

#include "journal-format.h"
#include "journal-private.h"

uint64_t
jf_checksum(const void *key, size_t klen, const void *val, size_t vlen)
{
	uint64_t seed = XXH3_64bits(key, klen);
	return XXH3_64bits_withSeed((const uint8_t *)val + 8, vlen - 8, seed);
}

bool
jf_checksum_ok(const void *key, size_t klen, const void *val, size_t vlen)
{
	if (vlen < 8)
		return false;
	return get_le64(val) == jf_checksum(key, klen, val, vlen);
}

void
jf_seal(const void *key, size_t klen, void *val, size_t vlen)
{
	put_le64(val, jf_checksum(key, klen, val, vlen));
}

void
jf_hash_short(const uint8_t hash[16], char out[17])
{
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", hash[i]);
}

/* ---- meta ---- */

void
jf_meta_encode(const struct jf_meta *m, uint8_t out[JF_META_SIZE])
{
	memset(out, 0, JF_META_SIZE);
	memcpy(out, JF_META_MAGIC, 8);
	put_le32(out + 8, m->version);
	put_le32(out + 12, m->level);
	put_le64(out + 16, m->created_ns);
	put_le64(out + 32, XXH3_64bits(out, 32));
}

int
jf_meta_decode(const void *val, size_t len, struct jf_meta *m)
{
	const uint8_t *p = val;
	if (len < 12 || memcmp(p, JF_META_MAGIC, 8) != 0)
		return AVA_ECORRUPT;
	/* The version is read before anything else is trusted, so that a
	 * future format with a longer meta record is named, not misread. */
	m->version = get_le32(p + 8);
	if (m->version != AVA_JOURNAL_FORMAT_VERSION)
		return AVA_EVERSION;
	if (len != JF_META_SIZE || get_le64(p + 32) != XXH3_64bits(p, 32))
		return AVA_ECORRUPT;
	m->level = get_le32(p + 12);
	m->created_ns = get_le64(p + 16);
	if (m->level != AVA_JOURNAL_LEVEL_STATE &&
	    m->level != AVA_JOURNAL_LEVEL_FULL)
		return AVA_ECORRUPT;
	return 0;
}

/* ---- sessions ---- */

static const size_t text_off[5] = {
	offsetof(struct ava_journal_session, guest),
	offsetof(struct ava_journal_session, api),
	offsetof(struct ava_journal_session, host),
	offsetof(struct ava_journal_session, ava_version),
	offsetof(struct ava_journal_session, devices),
};

static char **
text_field(struct ava_journal_session *s, int i)
{
	return (char **)((char *)s + text_off[i]);
}

static size_t
text_len(const struct ava_journal_session *s, int i)
{
	const char *t = *text_field((struct ava_journal_session *)s, i);
	return t ? strlen(t) : 0;
}

size_t
jf_session_size(const struct ava_journal_session *s)
{
	size_t n = JF_SESSION_HDR;
	for (int i = 0; i < 5; i++) {
		size_t l = text_len(s, i);
		if (l > AVA_JOURNAL_MAX_TEXT)
			return 0;
		n += l;
	}
	return n;
}

void
jf_session_encode(const struct ava_journal_session *s, uint8_t *out,
		  size_t len)
{
	memset(out, 0, JF_SESSION_HDR);
	put_le32(out + 8, (uint32_t)s->end);
	put_le64(out + 16, s->start_ns);
	put_le64(out + 24, s->end_ns);
	put_le64(out + 32, s->fault_seq);
	put_le64(out + 40, s->ncalls);
	put_le64(out + 48, s->first_seq);
	put_le64(out + 56, s->last_seq);
	size_t off = JF_SESSION_HDR;
	for (int i = 0; i < 5; i++) {
		size_t l = text_len(s, i);
		put_le32(out + 64 + 4 * i, (uint32_t)l);
		if (l)
			memcpy(out + off, *text_field((void *)s, i), l);
		off += l;
	}
	(void)len;
}

void
jf_session_clear(struct ava_journal_session *s)
{
	for (int i = 0; i < 5; i++) {
		free(*text_field(s, i));
		*text_field(s, i) = NULL;
	}
}

int
jf_session_decode(const void *val, size_t len, uint64_t id,
		  struct ava_journal_session *s)
{
	const uint8_t *p = val;
	memset(s, 0, sizeof(*s));
	if (len < JF_SESSION_HDR)
		return AVA_ECORRUPT;
	s->id = id;
	s->end = get_le32(p + 8);
	if (s->end >= AVA_JOURNAL_END_COUNT)
		return AVA_ECORRUPT;
	s->start_ns = get_le64(p + 16);
	s->end_ns = get_le64(p + 24);
	s->fault_seq = get_le64(p + 32);
	s->ncalls = get_le64(p + 40);
	s->first_seq = get_le64(p + 48);
	s->last_seq = get_le64(p + 56);
	size_t off = JF_SESSION_HDR;
	for (int i = 0; i < 5; i++) {
		uint32_t l = get_le32(p + 64 + 4 * i);
		/* Text is stored without NULs; one inside is damage. */
		if (l > AVA_JOURNAL_MAX_TEXT || l > len - off ||
		    memchr(p + off, 0, l) != NULL)
			goto err_corrupt;
		char *t = malloc(l + 1);
		if (t == NULL) {
			jf_session_clear(s);
			return -ENOMEM;
		}
		memcpy(t, p + off, l);
		t[l] = '\0';
		*text_field(s, i) = t;
		off += l;
	}
	if (off != len)
		goto err_corrupt;
	return 0;
err_corrupt:
	jf_session_clear(s);
	return AVA_ECORRUPT;
}

/* ---- blob index and headers ---- */

void
jf_blobref_encode(const uint8_t hash[16], const struct jf_blobref *b,
		  uint8_t out[JF_BLOBREF_SIZE])
{
	put_le32(out + 8, b->segment);
	put_le32(out + 12, b->flags);
	put_le64(out + 16, b->offset);
	put_le64(out + 24, b->raw_len);
	put_le64(out + 32, b->stored_len);
	put_le64(out + 40, b->data_sum);
	put_le64(out + 48, b->refcount);
	jf_seal(hash, 16, out, JF_BLOBREF_SIZE);
}

int
jf_blobref_decode(const uint8_t hash[16], const void *val, size_t len,
		  struct jf_blobref *b)
{
	const uint8_t *p = val;
	if (len != JF_BLOBREF_SIZE || !jf_checksum_ok(hash, 16, val, len))
		return AVA_ECORRUPT;
	b->segment = get_le32(p + 8);
	b->flags = get_le32(p + 12);
	b->offset = get_le64(p + 16);
	b->raw_len = get_le64(p + 24);
	b->stored_len = get_le64(p + 32);
	b->data_sum = get_le64(p + 40);
	b->refcount = get_le64(p + 48);
	if ((b->flags & ~(uint32_t)JF_BLOB_ZSTD) != 0 ||
	    b->raw_len > AVA_JOURNAL_MAX_PAYLOAD ||
	    b->stored_len > AVA_JOURNAL_MAX_PAYLOAD + (1u << 20))
		return AVA_ECORRUPT;
	return 0;
}

void
jf_blobhdr_encode(const struct jf_blobhdr *h, uint8_t out[JF_BLOBHDR_SIZE])
{
	put_le32(out, JF_BLOBHDR_MAGIC);
	put_le32(out + 4, h->flags);
	memcpy(out + 8, h->hash, 16);
	put_le64(out + 24, h->raw_len);
	put_le64(out + 32, h->stored_len);
	put_le64(out + 40, h->data_sum);
	put_le64(out + 48, XXH3_64bits(out, 48));
}

int
jf_blobhdr_decode(const uint8_t in[JF_BLOBHDR_SIZE], struct jf_blobhdr *h)
{
	if (get_le32(in) != JF_BLOBHDR_MAGIC ||
	    get_le64(in + 48) != XXH3_64bits(in, 48))
		return AVA_ECORRUPT;
	h->flags = get_le32(in + 4);
	memcpy(h->hash, in + 8, 16);
	h->raw_len = get_le64(in + 24);
	h->stored_len = get_le64(in + 32);
	h->data_sum = get_le64(in + 40);
	return 0;
}

void
jf_segrec_encode(uint32_t id, const struct jf_segrec *s,
		 uint8_t out[JF_SEGREC_SIZE])
{
	uint8_t key[4];
	put_be32(key, id);
	memset(out, 0, JF_SEGREC_SIZE);
	put_le64(out + 8, s->size);
	put_le64(out + 16, s->live);
	put_le32(out + 24, s->flags);
	jf_seal(key, 4, out, JF_SEGREC_SIZE);
}

int
jf_segrec_decode(uint32_t id, const void *val, size_t len,
		 struct jf_segrec *s)
{
	uint8_t key[4];
	const uint8_t *p = val;
	put_be32(key, id);
	if (len != JF_SEGREC_SIZE || !jf_checksum_ok(key, 4, val, len))
		return AVA_ECORRUPT;
	s->size = get_le64(p + 8);
	s->live = get_le64(p + 16);
	s->flags = get_le32(p + 24);
	if (s->size < JF_SEGFILE_HDR || s->live > s->size)
		return AVA_ECORRUPT;
	return 0;
}

void
jf_segfile_encode(uint32_t id, uint64_t created_ns,
		  uint8_t out[JF_SEGFILE_HDR])
{
	memcpy(out, JF_SEGFILE_MAGIC, 8);
	put_le32(out + 8, AVA_JOURNAL_FORMAT_VERSION);
	put_le32(out + 12, id);
	put_le64(out + 16, created_ns);
	put_le64(out + 24, XXH3_64bits(out, 24));
}

int
jf_segfile_decode(uint32_t id, const uint8_t in[JF_SEGFILE_HDR])
{
	if (memcmp(in, JF_SEGFILE_MAGIC, 8) != 0)
		return AVA_ECORRUPT;
	if (get_le32(in + 8) != AVA_JOURNAL_FORMAT_VERSION)
		return AVA_EVERSION;
	if (get_le64(in + 24) != XXH3_64bits(in, 24) ||
	    get_le32(in + 12) != id)
		return AVA_ECORRUPT;
	return 0;
}
