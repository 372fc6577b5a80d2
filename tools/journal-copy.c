/*
 * journal-copy.c - copy (part of) a recorded session into a new journal.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ava-error.h"
#include "journal-copy.h"

#define FAULT_NOTE "fault.note"

static int
begin(struct ava_journal *j, const struct ava_journal_session *s,
      uint64_t *sid)
{
	struct ava_journal_session_info info = {
		.guest = s->guest, .api = s->api, .host = s->host,
		.ava_version = s->ava_version, .devices = s->devices,
		.start_ns = s->start_ns,
	};
	return ava_journal_session_begin(j, &info, sid);
}

/* Append call c, its payloads read back from r. */
static int
copy_call(struct ava_journal_reader *r, struct ava_journal *j, uint64_t sid,
	  const struct ava_journal_call *c, const struct journal_copy *how)
{
	struct ava_journal_buf *bufs = calloc(c->npayloads + 1, sizeof(*bufs));
	uint64_t *dig = calloc(c->ndigests + 1, sizeof(*dig));
	int err = bufs == NULL || dig == NULL ? -ENOMEM : 0;
	uint32_t n = 0;
	for (; err == 0 && n < c->npayloads; n++) {
		void *data;
		size_t len;
		err = ava_journal_payload_read(r, &c->payloads[n], &data, &len);
		if (err == 0)
			bufs[n] = (struct ava_journal_buf){ data, len };
		else
			break;
	}
	for (uint32_t i = 0; i < c->ndigests && dig != NULL; i++)
		dig[i] = ava_journal_call_digest(c, i);
	struct ava_journal_entry e = {
		.session = sid, .seq = c->seq, .thread = c->thread, .fn = c->fn,
		.args = c->args, .args_len = c->args_len, .payloads = bufs,
		.npayloads = c->npayloads, .ret = c->ret, .outs = c->outs,
		.outs_len = c->outs_len, .digests = dig,
		.ndigests = c->ndigests, .start_ns = c->start_ns,
		.duration_ns = c->duration_ns, .async = c->async,
		.deferred_error = c->deferred_error, .tags = c->tags,
		.ntags = c->ntags,
	};
	if (err == 0 && how != NULL && how->edit != NULL)
		how->edit(&e, dig, how->data);
	if (err == 0)
		err = ava_journal_append(j, &e, 0);
	for (uint32_t i = 0; i < n; i++)
		free((void *)bufs[i].data);
	free(bufs);
	free(dig);
	return err;
}

static int
copy_calls(struct ava_journal_reader *r, uint64_t own_id,
	   struct ava_journal *j, uint64_t sid, const struct journal_copy *how,
	   uint64_t fault_seq, bool *fault_kept, uint64_t *copied, char *why,
	   size_t why_len)
{
	struct ava_journal_cursor *cur;
	const struct ava_journal_call *c;
	uint64_t last = 0;
	int err = ava_journal_cursor_create(r, own_id, 1, &cur);
	while (err == 0 && (err = ava_journal_cursor_next(cur, &c)) == 1) {
		last = c->seq;
		err = 0;
		if (how != NULL && how->keep != NULL && !how->keep(c, how->data))
			continue;
		if ((err = copy_call(r, j, sid, c, how)) == 0)
			(*copied)++;
		if (c->seq == fault_seq)
			*fault_kept = true;
	}
	if (err < 0)
		snprintf(why, why_len, "copying the call after #%" PRIu64 ": %s",
			 last, ava_strerror(err));
	ava_journal_cursor_destroy(cur);
	return err < 0 ? err : 0;
}

/* The fault note travels with the session it describes. */
static void
copy_note(const char *src, const char *dst)
{
	char from[4200], to[4200], buf[65536];
	snprintf(from, sizeof(from), "%s/" FAULT_NOTE, src);
	snprintf(to, sizeof(to), "%s/" FAULT_NOTE, dst);
	FILE *in = fopen(from, "rb"), *out = NULL;
	if (in == NULL)
		return;
	if ((out = fopen(to, "wb")) != NULL) {
		size_t n;
		while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
			fwrite(buf, 1, n, out);
		fclose(out);
	}
	fclose(in);
}

int
journal_copy_session(struct ava_journal_reader *r, const char *src,
		     uint64_t own_id, const char *dst,
		     const struct journal_copy *how, uint64_t *copied,
		     char *why, size_t why_len)
{
	struct ava_journal_session *s;
	struct ava_journal *j;
	struct ava_journal_options o;
	uint64_t sid = 0, n = 0;
	int err = ava_journal_session_get(r, own_id, &s);
	if (err != 0) {
		snprintf(why, why_len, "session %" PRIu64 ": %s", own_id,
			 ava_strerror(err));
		return err;
	}
	ava_journal_options_init(&o);
	o.sync = AVA_JOURNAL_SYNC_NONE;  /* close() commits everything */
	err = ava_journal_open(dst, &o, why, why_len, &j);
	if (err != 0)
		goto out;
	err = begin(j, s, &sid);
	bool fault_kept = false;
	if (err == 0)
		err = copy_calls(r, own_id, j, sid, how, s->fault_seq,
				 &fault_kept, &n, why, why_len);
	/* A fault at a call left out is not this journal's end. */
	if (s->end == AVA_JOURNAL_END_FAULT && !fault_kept)
		s->end = AVA_JOURNAL_END_NONE;
	if (err == 0 && s->end != AVA_JOURNAL_END_NONE)
		err = ava_journal_session_end(j, sid, s->end, s->fault_seq,
					      s->end_ns);
	int cerr = ava_journal_close(j);
	if (err == 0 && cerr != 0) {
		err = cerr;
		snprintf(why, why_len, "%s: %s", dst, ava_strerror(err));
	} else if (err != 0 && why[0] == '\0') {
		snprintf(why, why_len, "%s: %s", dst, ava_strerror(err));
	}
	if (err == 0 && s->end == AVA_JOURNAL_END_FAULT)
		copy_note(src, dst);
out:
	if (copied != NULL)
		*copied = n;
	ava_journal_session_free(s);
	return err;
}
