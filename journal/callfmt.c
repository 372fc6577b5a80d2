/*
 * callfmt.c - the call record: the one value the journal writes most and
 * the one the fuzzer hammers hardest.
 */
#include <errno.h>
#include <stdlib.h>

#include "journal-format.h"

#define PAYLOAD_INLINE_HDR 5  /* kind + u32 len */
#define PAYLOAD_BLOB_SIZE 25  /* kind + u64 len + hash */

size_t
jf_call_size(const struct ava_journal_call *c)
{
	size_t n = JF_CALL_HDR + (size_t)c->args_len + c->outs_len +
		   8 * (size_t)c->ndigests + JF_TAG_SIZE * (size_t)c->ntags;
	for (uint32_t i = 0; i < c->npayloads; i++) {
		const struct ava_journal_payload *p = &c->payloads[i];
		n += p->is_blob ? PAYLOAD_BLOB_SIZE
				: PAYLOAD_INLINE_HDR + (size_t)p->len;
	}
	return n;
}

static uint8_t *
put_bytes(uint8_t *o, const void *src, size_t n)
{
	if (n)
		memcpy(o, src, n);
	return o + n;
}

static uint8_t *
put_payload(uint8_t *o, const struct ava_journal_payload *p)
{
	*o++ = p->is_blob ? JF_PAYLOAD_BLOB : JF_PAYLOAD_INLINE;
	if (p->is_blob) {
		put_le64(o, p->len);
		memcpy(o + 8, p->hash, 16);
		return o + 24;
	}
	put_le32(o, (uint32_t)p->len);
	return put_bytes(o + 4, p->data, p->len);
}

void
jf_call_encode(const struct ava_journal_call *c, uint8_t *out, size_t len)
{
	put_le32(out + 8, c->fn);
	put_le32(out + 12, c->thread);
	put_le64(out + 16, (uint64_t)c->ret);
	put_le64(out + 24, (uint64_t)c->deferred_error);
	put_le64(out + 32, c->start_ns);
	put_le64(out + 40, c->duration_ns);
	put_le32(out + 48, c->async ? JF_CALL_ASYNC : 0);
	put_le32(out + 52, c->args_len);
	put_le32(out + 56, c->outs_len);
	put_le32(out + 60, c->ndigests);
	put_le32(out + 64, c->npayloads);
	put_le32(out + 68, c->ntags);
	uint8_t *o = out + JF_CALL_HDR;
	o = put_bytes(o, c->args, c->args_len);
	o = put_bytes(o, c->outs, c->outs_len);
	o = put_bytes(o, c->digests, 8 * (size_t)c->ndigests);
	for (uint32_t i = 0; i < c->npayloads; i++)
		o = put_payload(o, &c->payloads[i]);
	for (uint32_t i = 0; i < c->ntags; i++) {
		*o = c->tags[i].kind;
		put_le64(o + 1, c->tags[i].object);
		o += JF_TAG_SIZE;
	}
	uint8_t key[16];
	jf_key2(key, c->session, c->seq);
	jf_seal(key, 16, out, len);
}

/* A bounded reader over untrusted bytes. */
struct rd {
	const uint8_t *p;
	size_t left;
};

static const uint8_t *
take(struct rd *r, size_t n)
{
	if (n > r->left)
		return NULL;
	const uint8_t *p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

static int
take_payload(struct rd *r, struct ava_journal_payload *p)
{
	const uint8_t *k = take(r, 1);
	if (k == NULL)
		return AVA_ECORRUPT;
	memset(p, 0, sizeof(*p));
	if (*k == JF_PAYLOAD_BLOB) {
		const uint8_t *b = take(r, 24);
		if (b == NULL)
			return AVA_ECORRUPT;
		p->is_blob = true;
		p->len = get_le64(b);
		memcpy(p->hash, b + 8, 16);
		return p->len <= AVA_JOURNAL_MAX_PAYLOAD ? 0 : AVA_ECORRUPT;
	}
	const uint8_t *l = take(r, 4);
	if (*k != JF_PAYLOAD_INLINE || l == NULL)
		return AVA_ECORRUPT;
	p->len = get_le32(l);
	p->data = take(r, p->len);
	return p->data != NULL || p->len == 0 ? 0 : AVA_ECORRUPT;
}

static int
take_tag(struct rd *r, struct ava_journal_tag *t)
{
	const uint8_t *b = take(r, JF_TAG_SIZE);
	if (b == NULL || b[0] < AVA_JOURNAL_TAG_CREATED ||
	    b[0] > AVA_JOURNAL_TAG_RELEASED)
		return AVA_ECORRUPT;
	t->kind = b[0];
	t->object = get_le64(b + 1);
	return 0;
}

static void
decode_header(const uint8_t *p, struct ava_journal_call *c)
{
	c->fn = get_le32(p + 8);
	c->thread = get_le32(p + 12);
	c->ret = (int64_t)get_le64(p + 16);
	c->deferred_error = (int64_t)get_le64(p + 24);
	c->start_ns = get_le64(p + 32);
	c->duration_ns = get_le64(p + 40);
	c->async = (get_le32(p + 48) & JF_CALL_ASYNC) != 0;
	c->args_len = get_le32(p + 52);
	c->outs_len = get_le32(p + 56);
	c->ndigests = get_le32(p + 60);
	c->npayloads = get_le32(p + 64);
	c->ntags = get_le32(p + 68);
}

/* Counts are bounded before the arrays they size are allocated. */
static int
check_header(const uint8_t *p, const struct ava_journal_call *c)
{
	if ((get_le32(p + 48) & ~(uint32_t)JF_CALL_ASYNC) != 0 ||
	    c->args_len > AVA_JOURNAL_MAX_FIELD ||
	    c->outs_len > AVA_JOURNAL_MAX_FIELD ||
	    c->ndigests > AVA_JOURNAL_MAX_ITEMS ||
	    c->npayloads > AVA_JOURNAL_MAX_ITEMS ||
	    c->ntags > AVA_JOURNAL_MAX_ITEMS)
		return AVA_ECORRUPT;
	return 0;
}

static int
decode_arrays(struct rd *r, struct jf_call *out)
{
	struct ava_journal_call *c = &out->c;
	if (c->npayloads > r->left / PAYLOAD_INLINE_HDR ||
	    c->ntags > r->left / JF_TAG_SIZE)
		return AVA_ECORRUPT;
	out->payloads = calloc(c->npayloads ? c->npayloads : 1,
			       sizeof(*out->payloads));
	out->tags = calloc(c->ntags ? c->ntags : 1, sizeof(*out->tags));
	if (out->payloads == NULL || out->tags == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->npayloads; i++)
		if (take_payload(r, &out->payloads[i]) != 0)
			return AVA_ECORRUPT;
	for (uint32_t i = 0; i < c->ntags; i++)
		if (take_tag(r, &out->tags[i]) != 0)
			return AVA_ECORRUPT;
	c->payloads = out->payloads;
	c->tags = out->tags;
	return r->left == 0 ? 0 : AVA_ECORRUPT;
}

int
jf_call_decode(const void *val, size_t len, uint64_t session, uint64_t seq,
	       struct jf_call *out)
{
	struct rd r = { val, len };
	struct ava_journal_call *c = &out->c;
	memset(out, 0, sizeof(*out));
	c->session = session;
	c->seq = seq;
	const uint8_t *p = take(&r, JF_CALL_HDR);
	if (p == NULL)
		return AVA_ECORRUPT;
	decode_header(p, c);
	int err = check_header(p, c);
	if (err)
		return err;
	c->args = take(&r, c->args_len);
	c->outs = take(&r, c->outs_len);
	c->digests = take(&r, 8 * (size_t)c->ndigests);
	if (c->args == NULL || c->outs == NULL || c->digests == NULL)
		return AVA_ECORRUPT;
	err = decode_arrays(&r, out);
	if (err)
		jf_call_clear(out);
	return err;
}

void
jf_call_clear(struct jf_call *c)
{
	free(c->payloads);
	free(c->tags);
	c->payloads = NULL;
	c->tags = NULL;
	c->c.payloads = NULL;
	c->c.tags = NULL;
}

uint64_t
ava_journal_call_digest(const struct ava_journal_call *c, uint32_t i)
{
	if (i >= c->ndigests)
		return 0;
	return get_le64(c->digests + 8 * (size_t)i);
}
