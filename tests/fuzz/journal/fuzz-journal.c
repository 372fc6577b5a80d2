/*
 * fuzz-journal.c - libFuzzer target for the journal's record decoders.
 *
 * The first input byte picks a decoder; the rest is the record. Values
 * are decoded twice: as given (so the checksum gate is fuzzed) and with
 * their checksum fixed up (so the field checks behind it are reached).
 * The bytes sit in an exact-size heap copy so that ASan catches any read
 * past the end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "journal-format.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read every byte a decoded call points at, so a bad pointer shows. */
static unsigned
touch_call(const struct ava_journal_call *c)
{
	unsigned sum = 0;
	for (uint32_t i = 0; i < c->args_len; i++)
		sum += c->args[i];
	for (uint32_t i = 0; i < c->outs_len; i++)
		sum += c->outs[i];
	for (uint32_t i = 0; i < c->ndigests; i++)
		sum += (unsigned)ava_journal_call_digest(c, i);
	for (uint32_t i = 0; i < c->npayloads; i++) {
		const struct ava_journal_payload *p = &c->payloads[i];
		for (uint64_t b = 0; !p->is_blob && b < p->len; b++)
			sum += p->data[b];
		sum += p->hash[15];
	}
	for (uint32_t i = 0; i < c->ntags; i++)
		sum += (unsigned)c->tags[i].object;
	return sum;
}

static void
fuzz_call(uint8_t *v, size_t n)
{
	struct jf_call c;
	uint8_t key[16];
	jf_key2(key, 1, 2);
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1 && n >= 8)
			jf_seal(key, 16, v, n);
		if (!jf_checksum_ok(key, 16, v, n) && pass == 0)
			continue;
		if (jf_call_decode(v, n, 1, 2, &c) == 0) {
			volatile unsigned s = touch_call(&c.c);
			(void)s;
			/* What decodes must encode back to the same bytes. */
			if (jf_call_size(&c.c) != n)
				abort();
			jf_call_clear(&c);
		}
	}
}

static void
fuzz_session(uint8_t *v, size_t n)
{
	struct ava_journal_session s;
	if (n >= 8)
		jf_seal("\0\0\0\0\0\0\0\1", 8, v, n);
	if (jf_session_decode(v, n, 1, &s) == 0) {
		if (jf_session_size(&s) != n)
			abort();
		jf_session_clear(&s);
	}
}

static void
fuzz_small(int which, uint8_t *v, size_t n)
{
	uint8_t hash[16] = { 0 };
	struct jf_meta m;
	struct jf_blobref b;
	struct jf_blobhdr h;
	struct jf_segrec s;
	switch (which) {
	case 2:
		jf_meta_decode(v, n, &m);
		break;
	case 3:
		jf_blobref_decode(hash, v, n, &b);
		if (n >= 8)
			jf_seal(hash, 16, v, n);
		jf_blobref_decode(hash, v, n, &b);
		break;
	case 4:
		if (n >= JF_BLOBHDR_SIZE)
			jf_blobhdr_decode(v, &h);
		if (n >= JF_SEGFILE_HDR)
			jf_segfile_decode(1, v);
		break;
	default:
		jf_segrec_decode(1, v, n, &s);
		if (n >= 8) {
			uint8_t key[4] = { 0, 0, 0, 1 };
			jf_seal(key, 4, v, n);
		}
		jf_segrec_decode(1, v, n, &s);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t *v = malloc(size - 1 ? size - 1 : 1);
	if (v == NULL)
		return 0;
	memcpy(v, data + 1, size - 1);
	switch (data[0] % 6) {
	case 0: fuzz_call(v, size - 1); break;
	case 1: fuzz_session(v, size - 1); break;
	default: fuzz_small(data[0] % 6, v, size - 1); break;
	}
	free(v);
	return 0;
}
