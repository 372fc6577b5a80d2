/*
 * jread.c - read a journal through the reader API (journal/journal.h),
 * for the journal integration tests. It shares no code with `ava journal`,
 * so the tests can hold the two against each other.
 *
 * Usage:
 *   jread calls JDIR
 *       one line per call of every session, in order:
 *       "call SESSION SEQ THREAD FN ASYNC NPAYLOADS P..." where each P is
 *       "i:LEN:DIGEST" (inline) or "b:LEN:DIGEST:HASH" (blob); DIGEST is
 *       the XXH3-64 of the bytes read back (checked by the reader), HASH
 *       the blob's key. Then "session ID NCALLS END".
 *   jread info JDIR
 *       "info sessions N calls N blobs N blob_bytes N segments N level L"
 *   jread extract JDIR SEQ IDX FILE
 *       write payload IDX of call SEQ (first session) to FILE.
 *
 * Exit status: 0, 1 when the journal could not be read (one line on
 * stderr says why), 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "opencl-desc.h"

static const char *
fn_name(uint32_t id)
{
	const struct ava_fn_desc *fn = ava_api_fn(&ava_opencl_api, id);
	return fn != NULL ? fn->name : "?";
}

struct walk {
	struct ava_journal_reader *r;
	int err;
};

static int
print_payload(struct ava_journal_reader *r, const struct ava_journal_payload *p)
{
	void *data;
	size_t len;
	int err = ava_journal_payload_read(r, p, &data, &len);
	if (err != 0)
		return err;
	if (len != p->len) {
		free(data);
		return AVA_ECORRUPT;
	}
	printf(" %s:%" PRIu64 ":%016" PRIx64, p->is_blob ? "b" : "i", p->len,
	       ava_journal_digest(data, len));
	if (p->is_blob) {
		putchar(':');
		for (int i = 0; i < 16; i++)
			printf("%02x", p->hash[i]);
	}
	free(data);
	return 0;
}

static int
print_call(const struct ava_journal_call *c, void *data)
{
	struct walk *w = data;
	printf("call %" PRIu64 " %" PRIu64 " %u %s %d %u", c->session, c->seq,
	       c->thread, fn_name(c->fn), c->async ? 1 : 0, c->npayloads);
	for (uint32_t i = 0; i < c->npayloads; i++) {
		int err = print_payload(w->r, &c->payloads[i]);
		if (err != 0) {
			printf("\n");
			fprintf(stderr, "jread: call #%" PRIu64 " payload %u: %s\n",
				c->seq, i, ava_strerror(err));
			return err;
		}
	}
	printf("\n");
	return 0;
}

static int
print_session(const struct ava_journal_session *s, void *data)
{
	struct walk *w = data;
	int err = ava_journal_call_foreach(w->r, s->id, 0, print_call, w);
	if (err != 0) {
		fprintf(stderr, "jread: session %" PRIu64 ": %s\n", s->id,
			ava_strerror(err));
		return err;
	}
	printf("session %" PRIu64 " %" PRIu64 " %d\n", s->id, s->ncalls,
	       (int)s->end);
	return 0;
}

static int
first_session(const struct ava_journal_session *s, void *data)
{
	*(uint64_t *)data = s->id;
	return 1;
}

static int
extract(struct ava_journal_reader *r, uint64_t seq, uint32_t idx,
	const char *file)
{
	uint64_t session = 0;
	ava_journal_session_foreach(r, first_session, &session);
	struct ava_journal_call *c;
	int err = ava_journal_call_get(r, session, seq, &c);
	if (err != 0) {
		fprintf(stderr, "jread: call #%" PRIu64 ": %s\n", seq,
			ava_strerror(err));
		return 1;
	}
	void *data = NULL;
	size_t len = 0;
	if (idx >= c->npayloads)
		err = -ENOENT;
	else
		err = ava_journal_payload_read(r, &c->payloads[idx], &data,
					       &len);
	ava_journal_call_free(c);
	FILE *f = err == 0 ? fopen(file, "wb") : NULL;
	if (err != 0 || f == NULL || fwrite(data, 1, len, f) != len ||
	    fclose(f) != 0) {
		fprintf(stderr, "jread: call #%" PRIu64 " payload %u: %s\n", seq,
			idx, err ? ava_strerror(err) : "cannot write");
		free(data);
		return 1;
	}
	free(data);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: jread calls|info|extract JDIR ...\n");
		return 2;
	}
	struct ava_journal_reader *r;
	char why[256] = "";
	int err = ava_journal_reader_open(argv[2], why, sizeof(why), &r);
	if (err != 0) {
		fprintf(stderr, "jread: %s: %s\n", argv[2],
			why[0] ? why : ava_strerror(err));
		return 1;
	}
	int rc = 2;
	if (strcmp(argv[1], "calls") == 0 && argc == 3) {
		struct walk w = { .r = r };
		rc = ava_journal_session_foreach(r, print_session, &w) ? 1 : 0;
	} else if (strcmp(argv[1], "info") == 0 && argc == 3) {
		struct ava_journal_info in;
		err = ava_journal_reader_info(r, &in);
		if (err == 0)
			printf("info sessions %" PRIu64 " calls %" PRIu64
			       " blobs %" PRIu64 " blob_bytes %" PRIu64
			       " segments %u level %d\n", in.sessions, in.calls,
			       in.blobs, in.blob_bytes, in.segments,
			       (int)in.level);
		else
			fprintf(stderr, "jread: %s\n", ava_strerror(err));
		rc = err ? 1 : 0;
	} else if (strcmp(argv[1], "extract") == 0 && argc == 6) {
		rc = extract(r, strtoull(argv[3], NULL, 10),
			     (uint32_t)strtoul(argv[4], NULL, 10), argv[5]);
	}
	if (rc == 2)
		fprintf(stderr, "usage: jread calls|info|extract JDIR ...\n");
	ava_journal_reader_close(r);
	fflush(stdout);
	return rc;
}
