/*
 * journal-tamper.c - test tool: copy a journal with one output digest
 * changed, as a wrong result would have recorded it.
 *
 *   journal-tamper SRC DST SEQ [N]
 *   journal-tamper SRC DST --drop SEQ
 *
 * SRC is one journal (DIR/session-N); DST gets a copy of its first
 * session in which digest N (default 0) of call SEQ has its low bit
 * flipped, or without call SEQ. Exit 0, or 1 with a message (no such
 * call or digest).
 */
#include <string.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "journal-copy.h"

struct tamper {
	uint64_t seq;
	uint32_t index;
	bool drop;
	bool done;
};

static bool
keep(const struct ava_journal_call *c, void *data)
{
	struct tamper *t = data;
	if (!t->drop || c->seq != t->seq)
		return true;
	t->done = true;
	return false;
}

static void
edit(struct ava_journal_entry *e, uint64_t *digests, void *data)
{
	struct tamper *t = data;
	if (t->drop || e->seq != t->seq || t->index >= e->ndigests)
		return;
	digests[t->index] ^= 1;
	t->done = true;
}

int
main(int argc, char **argv)
{
	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: journal-tamper SRC DST SEQ [N]\n"
			"       journal-tamper SRC DST --drop SEQ\n");
		return 2;
	}
	bool drop = strcmp(argv[3], "--drop") == 0;
	struct tamper t = { .seq = strtoull(argv[drop ? 4 : 3], NULL, 10),
			    .index = argc == 5 && !drop ? (uint32_t)atoi(argv[4])
							: 0,
			    .drop = drop };
	struct journal_copy how = { .keep = keep, .edit = edit, .data = &t };
	struct ava_journal_reader *r;
	char why[256] = "";
	int err = ava_journal_reader_open(argv[1], why, sizeof(why), &r);
	if (err == 0)
		err = journal_copy_session(r, argv[1], 1, argv[2], &how, NULL,
					   why, sizeof(why));
	ava_journal_reader_close(r);
	if (err != 0 || !t.done) {
		fprintf(stderr, "journal-tamper: %s\n", err ? why
			: "no such call or digest");
		return 1;
	}
	if (drop)
		printf("journal-tamper: call #%" PRIu64 " left out\n", t.seq);
	else
		printf("journal-tamper: call #%" PRIu64 " digest %u changed\n",
		       t.seq, t.index);
	return 0;
}
