/*
 * replay-job.c - recorded calls turned into jobs the replay engine runs,
 * and the search for recorded bytes that names a divergence's offset.
 *
 * Jobs are made in the reading thread, so that joining payloads and
 * reading blobs overlap the calls running on the replay threads.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ava-error.h"
#include "marshal-split.h"
#include "replay-private.h"

void
replay_job_free(struct replay_job *j)
{
	if (j == NULL)
		return;
	ava_buf_finish(&j->call);
	free(j->outs);
	free(j->digests);
	free(j);
}

static int
copy_out(const void *src, size_t n, void **dst)
{
	*dst = malloc(n ? n : 1);
	if (*dst == NULL)
		return -ENOMEM;
	if (n)
		memcpy(*dst, src, n);
	return 0;
}

/* Join the CALL payload from the skeleton and the recorded input
 * payloads (blobs read from the journal), in the reader's thread. */
static int
join_call(struct ava_journal_reader *r, const struct ava_journal_call *c,
	  struct replay_job *j)
{
	struct ava_span stack[16], *spans = stack;
	void *blobs[16] = { NULL }, **blob = blobs;
	int err = 0;
	if (c->npayloads > 16) {
		spans = calloc(c->npayloads, sizeof(*spans));
		blob = calloc(c->npayloads, sizeof(*blob));
		if (spans == NULL || blob == NULL)
			err = -ENOMEM;
	}
	for (uint32_t i = 0; err == 0 && i < c->npayloads; i++) {
		const struct ava_journal_payload *p = &c->payloads[i];
		size_t len = p->len;
		if (p->is_blob)
			err = ava_journal_payload_read(r, p, &blob[i], &len);
		spans[i] = (struct ava_span){ p->is_blob ? blob[i] : p->data,
					      len };
		j->bytes += len;
	}
	if (err == 0)
		err = ava_marshal_join(j->fn, false, c->args, c->args_len,
				       spans, c->npayloads, &j->call);
	for (uint32_t i = 0; i < c->npayloads && blob != NULL; i++)
		free(blob[i]);
	if (spans != stack)
		free(spans);
	if (blob != blobs)
		free(blob);
	return err;
}

int
replay_job_make(struct ava_journal_reader *r, const struct ava_journal_call *c,
		const struct ava_fn_desc *fn, uint64_t index,
		struct replay_job **out)
{
	struct replay_job *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return -ENOMEM;
	*j = (struct replay_job){ .index = index, .seq = c->seq,
		.thread = c->thread, .fn = fn, .start_ns = c->start_ns,
		.end_ns = c->start_ns + c->duration_ns,
		.dur_ns = c->duration_ns, .outs_len = c->outs_len,
		.ndigests = c->ndigests };
	ava_buf_init(&j->call);
	void *outs = NULL;
	int err = copy_out(c->outs, c->outs_len, &outs);
	j->outs = outs;
	j->digests = calloc(c->ndigests ? c->ndigests : 1, sizeof(uint64_t));
	if (err == 0 && j->digests == NULL)
		err = -ENOMEM;
	for (uint32_t i = 0; err == 0 && i < c->ndigests; i++)
		j->digests[i] = ava_journal_call_digest(c, i);
	if (err == 0)
		err = join_call(r, c, j);
	j->bytes += c->args_len + c->outs_len;
	if (err != 0) {
		replay_job_free(j);
		return err;
	}
	*out = j;
	return 0;
}

/* ---- the first differing byte ----------------------------------------- */

struct find {
	struct ava_journal_reader *r;
	const uint8_t *got;
	uint64_t len, digest;
	int64_t offset;
	bool found;
};

static void
find_one(const struct ava_journal_call *c, struct find *f)
{
	for (uint32_t i = 0; i < c->npayloads && !f->found; i++) {
		const struct ava_journal_payload *p = &c->payloads[i];
		void *data = NULL;
		size_t len = 0;
		if (p->len != f->len ||
		    ava_journal_payload_read(f->r, p, &data, &len) != 0)
			continue;
		if (len == f->len && ava_journal_digest(data, len) == f->digest) {
			const uint8_t *a = data;
			for (size_t k = 0; k < len && f->offset < 0; k++)
				if (a[k] != f->got[k])
					f->offset = (int64_t)k;
			f->found = true;
		}
		free(data);
	}
}

int64_t
replay_find_offset(struct ava_journal_reader *r, uint64_t session,
		   const uint8_t *got, uint64_t len, uint64_t digest)
{
	struct ava_journal_cursor *cur;
	const struct ava_journal_call *c;
	struct find f = { .r = r, .got = got, .len = len, .digest = digest,
			  .offset = -1 };
	if (ava_journal_cursor_create(r, session, 1, &cur) != 0)
		return -1;
	while (!f.found && ava_journal_cursor_next(cur, &c) == 1)
		find_one(c, &f);
	ava_journal_cursor_destroy(cur);
	return f.offset;
}
