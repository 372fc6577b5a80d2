/*
 * journal-stats.c - `ava journal stats` and `ava journal export`.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ava-error.h"
#include "journal-view.h"
#include "tool.h"

struct fn_stat {
	uint64_t calls, ns, bytes;
};

struct stats {
	const struct ava_api_desc *api;
	struct fn_stat *fns;       /* indexed by function id */
	uint32_t nfns;
	uint64_t session;          /* the session being summed */
	struct fn_stat total;      /* of that session */
};

static uint64_t
payload_bytes(const struct ava_journal_call *c)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < c->npayloads; i++)
		n += c->payloads[i].len;
	return n;
}

static int
session_done(struct stats *st)
{
	if (st->session == 0)
		return 0;
	printf("session %" PRIu64 ": %" PRIu64 " calls, %.3f ms in calls, "
	       "%" PRIu64 " payload bytes\n", st->session, st->total.calls,
	       st->total.ns / 1e6, st->total.bytes);
	st->total = (struct fn_stat){ 0 };
	return 0;
}

static int
stat_call(const struct ava_journal_session *s,
	  const struct ava_journal_call *c, void *data)
{
	struct stats *st = data;
	if (s->id != st->session) {
		session_done(st);
		st->session = s->id;
	}
	if (st->api == NULL) {
		st->api = journal_view_api(s->api);
		if (st->api == NULL) {
			tool_error("journal stats: session %" PRIu64 ": api '%s' "
				   "unknown to this build", s->id, s->api);
			return AVA_EPROTO;
		}
		st->nfns = st->api->nfns;
		st->fns = calloc(st->nfns, sizeof(*st->fns));
		if (st->fns == NULL) {
			tool_error("journal stats: out of memory");
			return -12;
		}
	}
	uint64_t bytes = payload_bytes(c);
	st->total.calls++;
	st->total.ns += c->duration_ns;
	st->total.bytes += bytes;
	if (c->fn < st->nfns) {
		st->fns[c->fn].calls++;
		st->fns[c->fn].ns += c->duration_ns;
		st->fns[c->fn].bytes += bytes;
	}
	return 0;
}

static int
by_time(const void *a, const void *b, void *ctx)
{
	const struct fn_stat *fns = ctx;
	uint64_t x = fns[*(const uint32_t *)a].ns, y = fns[*(const uint32_t *)b].ns;
	return x < y ? 1 : x > y ? -1 : 0;
}

static void
print_functions(const struct stats *st)
{
	uint32_t *order = calloc(st->nfns, sizeof(*order));
	uint32_t n = 0;
	if (order == NULL)
		return;
	for (uint32_t i = 0; i < st->nfns; i++)
		if (st->fns[i].calls != 0)
			order[n++] = i;
	qsort_r(order, n, sizeof(*order), by_time, st->fns);
	printf("\n%-40s %10s %14s %12s %14s\n", "function", "calls",
	       "total ms", "mean us", "payload bytes");
	for (uint32_t k = 0; k < n; k++) {
		const struct fn_stat *f = &st->fns[order[k]];
		printf("%-40s %10" PRIu64 " %14.3f %12.2f %14" PRIu64 "\n",
		       st->api->fns[order[k]].name, f->calls, f->ns / 1e6,
		       f->ns / 1e3 / (double)f->calls, f->bytes);
	}
	free(order);
}

int
journal_view_stats(struct journal_set *r, uint64_t session)
{
	struct stats st = { 0 };
	int err = journal_view_walk(r, "stats", session, 0, 0, stat_call, &st);
	if (err == 0) {
		session_done(&st);
		if (st.fns != NULL)
			print_functions(&st);
		else
			printf("no calls\n");
	}
	free(st.fns);
	return err;
}

/* ---- Chrome trace ------------------------------------------------------ */

struct chrome {
	FILE *f;
	bool first;
	uint64_t session;
	uint32_t threads[64];  /* tracks named so far in this session */
	uint32_t nthreads;
};

static const char *
category(const char *fn)
{
	if (strstr(fn, "NDRangeKernel") != NULL || strstr(fn, "Task") != NULL)
		return "kernel";
	if (strncmp(fn, "clEnqueue", 9) == 0 &&
	    (strstr(fn, "Read") || strstr(fn, "Write") || strstr(fn, "Copy") ||
	     strstr(fn, "Fill") || strstr(fn, "Map")))
		return "transfer";
	return "api";
}

static void
sep(struct chrome *ch)
{
	fputs(ch->first ? "\n" : ",\n", ch->f);
	ch->first = false;
}

static void
name_track(struct chrome *ch, const struct ava_journal_session *s,
	   uint32_t thread)
{
	if (s->id != ch->session) {
		ch->session = s->id;
		ch->nthreads = 0;
		sep(ch);
		fprintf(ch->f, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%"
			PRIu64 ",\"args\":{\"name\":\"session %" PRIu64 "\"}}",
			s->id, s->id);
	}
	for (uint32_t i = 0; i < ch->nthreads; i++)
		if (ch->threads[i] == thread)
			return;
	if (ch->nthreads < 64)
		ch->threads[ch->nthreads++] = thread;
	sep(ch);
	fprintf(ch->f, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%" PRIu64
		",\"tid\":%u,\"args\":{\"name\":\"guest thread %u\"}}", s->id,
		thread, thread);
}

static int
chrome_call(const struct ava_journal_session *s,
	    const struct ava_journal_call *c, void *data)
{
	struct chrome *ch = data;
	const struct ava_api_desc *api = journal_view_api(s->api);
	const struct ava_fn_desc *fn = api ? ava_api_fn(api, c->fn) : NULL;
	const char *name = fn ? fn->name : "unknown";
	name_track(ch, s, c->thread);
	sep(ch);
	fprintf(ch->f, "{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"ts\":%.3f,"
		"\"dur\":%.3f,\"pid\":%" PRIu64 ",\"tid\":%u,\"args\":{\"seq\":%"
		PRIu64 ",\"ret\":%" PRId64 "}}", name, category(name),
		c->start_ns / 1e3, c->duration_ns / 1e3, s->id, c->thread,
		c->seq, c->ret);
	if (ferror(ch->f)) {
		tool_error("journal export: write failed");
		return -5;
	}
	return 0;
}

int
journal_view_chrome(struct journal_set *r, uint64_t session, FILE *f)
{
	struct chrome ch = { .f = f, .first = true };
	fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", f);
	int err = journal_view_walk(r, "export", session, 0, 0, chrome_call,
				    &ch);
	fputs("\n]}\n", f);
	return err;
}
