/*
 * journal-view.c - reading a journal for people: dump lines, statistics
 * and the Chrome trace.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ava-error.h"
#include "journal-view.h"
#include "opencl-desc.h"
#include "pretty.h"
#include "tool.h"

const struct ava_api_desc *
journal_view_api(const char *name)
{
	if (name != NULL && strcmp(name, ava_opencl_api.name) == 0)
		return &ava_opencl_api;
	return NULL;
}

struct walk {
	const char *sub;
	uint64_t session, from, until;
	int (*fn)(const struct ava_journal_session *s,
		  const struct ava_journal_call *c, void *data);
	void *data;
	struct ava_journal_reader *r;
};

static int
walk_session(const struct ava_journal_session *s, void *data)
{
	struct walk *w = data;
	if (w->session != 0 && s->id != w->session)
		return 0;
	struct ava_journal_cursor *cur;
	int err = ava_journal_cursor_create(w->r, s->id, w->from, &cur);
	if (err != 0) {
		tool_error("journal %s: session %" PRIu64 ": %s", w->sub, s->id,
			   ava_strerror(err));
		return err;
	}
	const struct ava_journal_call *c;
	uint64_t last = 0;
	while ((err = ava_journal_cursor_next(cur, &c)) == 1) {
		last = c->seq;
		if (w->until != 0 && c->seq > w->until)
			break;
		err = w->fn(s, c, w->data);
		if (err != 0)
			break;
	}
	if (err < 0)
		tool_error("journal %s: session %" PRIu64 ": the record after "
			   "#%" PRIu64 ": %s", w->sub, s->id, last,
			   ava_strerror(err));
	ava_journal_cursor_destroy(cur);
	return err < 0 ? err : 0;
}

int
journal_view_walk(struct ava_journal_reader *r, const char *sub,
		  uint64_t session, uint64_t from, uint64_t until,
		  int (*fn)(const struct ava_journal_session *s,
			    const struct ava_journal_call *c, void *data),
		  void *data)
{
	struct walk w = {
		.sub = sub, .session = session, .from = from, .until = until,
		.fn = fn, .data = data, .r = r,
	};
	int err = ava_journal_session_foreach(r, walk_session, &w);
	if (err == 0 && session != 0) {
		struct ava_journal_session *s;
		err = ava_journal_session_get(r, session, &s);
		if (err == 0)
			ava_journal_session_free(s);
		else
			tool_error("journal %s: no session %" PRIu64, sub,
				   session);
	}
	return err;
}

int
journal_view_format(const struct ava_journal_session *s,
		    const struct ava_journal_call *c, bool json,
		    struct ava_buf *out)
{
	const struct ava_api_desc *api = journal_view_api(s->api);
	const struct ava_fn_desc *fn = api ? ava_api_fn(api, c->fn) : NULL;
	if (fn == NULL) {
		ava_buf_put_bytes(out, "#", 1);
		char tmp[96];
		int n = snprintf(tmp, sizeof(tmp), "%" PRIu64 " t%u <function %u "
				 "of api '%s' unknown to this build>", c->seq,
				 c->thread, c->fn, s->api ? s->api : "?");
		ava_buf_put_bytes(out, tmp, (size_t)n);
		return ava_buf_error(out);
	}
	struct ava_pretty_span spans[AVA_JOURNAL_MAX_ITEMS];
	uint32_t nin = c->npayloads < AVA_JOURNAL_MAX_ITEMS
		       ? c->npayloads : AVA_JOURNAL_MAX_ITEMS;
	for (uint32_t i = 0; i < nin; i++) {
		const struct ava_journal_payload *p = &c->payloads[i];
		spans[i] = (struct ava_pretty_span){
			.data = p->is_blob ? NULL : p->data,
			.len = p->len,
			.hash = p->is_blob ? p->hash : NULL,
		};
	}
	uint64_t digests[64];
	uint32_t nd = c->ndigests < 64 ? c->ndigests : 64;
	for (uint32_t i = 0; i < nd; i++)
		digests[i] = ava_journal_call_digest(c, i);
	struct ava_pretty_call pc = {
		.api = api, .fn = fn, .seq = c->seq, .thread = c->thread,
		.args = c->args, .args_len = c->args_len,
		.in = spans, .nin = nin,
		.outs = c->outs_len ? c->outs : NULL, .outs_len = c->outs_len,
		.digests = digests, .ndigests = nd,
		.ret = c->ret, .duration_ns = c->duration_ns,
		.async = c->async, .deferred_error = c->deferred_error,
	};
	return ava_pretty_call_format(&pc, json, out);
}
