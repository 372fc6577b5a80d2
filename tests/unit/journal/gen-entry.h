/*
 * gen-entry.h - deterministic call records for the journal tests: record
 * i of a run can be rebuilt from i alone, so a reader's output can be
 * compared field by field with what was appended.
 */
#ifndef AVA_GEN_ENTRY_H
#define AVA_GEN_ENTRY_H

#include "jtest.h"

#define GEN_REPEATED_LEN 8192
#define GEN_MAX_BIG 20000

struct gen_entry {
	struct ava_journal_entry e;
	uint8_t args[256], outs[64];
	uint64_t digests[3];
	struct ava_journal_buf pl[3];
	uint8_t small[100], big[GEN_MAX_BIG], rep[GEN_REPEATED_LEN];
	struct ava_journal_tag tags[2];
};

/* Is payload kind k present in record i? */
static inline bool gen_has_small(uint64_t i) { return i % 3 == 0; }
static inline bool gen_has_big(uint64_t i) { return i % 5 == 0; }
static inline bool gen_has_rep(uint64_t i) { return i % 7 == 0; }

static inline size_t
gen_big_len(uint64_t i)
{
	return 5000 + (i * 7919) % (GEN_MAX_BIG - 5000);
}

static inline void
gen_make(struct gen_entry *g, uint64_t session, uint64_t seq, uint64_t i)
{
	struct ava_journal_entry *e = &g->e;
	memset(e, 0, sizeof(*e));
	e->session = session;
	e->seq = seq;
	e->thread = (uint32_t)(i % 4);
	e->fn = (uint32_t)(i % 97);
	e->args_len = 16 + i % 200;
	jt_fill(g->args, e->args_len, i);
	e->args = g->args;
	e->outs_len = i % 65;
	jt_fill(g->outs, e->outs_len, ~i);
	e->outs = e->outs_len ? g->outs : NULL;
	e->ndigests = (uint32_t)(i % 4);
	for (uint32_t d = 0; d < e->ndigests; d++)
		g->digests[d] = i * 1000 + d;
	e->digests = e->ndigests ? g->digests : NULL;
	e->ret = (int64_t)(i % 9) - 4;
	e->start_ns = 1700000000000000000ull + i * 1000;
	e->duration_ns = i * 3;
	e->async = i % 2 == 0;
	e->deferred_error = i % 13 == 0 ? -5 : 0;
	uint32_t np = 0;
	if (gen_has_small(i)) {
		jt_fill(g->small, sizeof(g->small), i + 77);
		g->pl[np++] = (struct ava_journal_buf){ g->small, sizeof(g->small) };
	}
	if (gen_has_big(i)) {
		jt_fill(g->big, gen_big_len(i), i + 99);
		g->pl[np++] = (struct ava_journal_buf){ g->big, gen_big_len(i) };
	}
	if (gen_has_rep(i)) {
		jt_fill(g->rep, sizeof(g->rep), 424242);
		g->pl[np++] = (struct ava_journal_buf){ g->rep, sizeof(g->rep) };
	}
	e->npayloads = np;
	e->payloads = np ? g->pl : NULL;
	e->ntags = i % 11 == 0 ? 2 : 0;
	g->tags[0] = (struct ava_journal_tag){ AVA_JOURNAL_TAG_CREATED, i };
	g->tags[1] = (struct ava_journal_tag){ AVA_JOURNAL_TAG_WRITTEN, i + 1 };
	e->tags = e->ntags ? g->tags : NULL;
}

#endif
