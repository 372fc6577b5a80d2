/*
 * replay-report.c - `ava replay`'s summary, divergence and crash reports,
 * as text on stdout and as JSON (--report FILE).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ava-error.h"
#include "journal-view.h"
#include "replay-report.h"
#include "tool.h"

#define FAULT_NOTE "fault.note"

int
replay_target_set(struct replay_target *t, const char *path,
		  const struct ava_journal_session *s, uint64_t id,
		  uint64_t own_id)
{
	t->path = strdup(path);
	t->api = strdup(s->api ? s->api : "");
	if (t->path == NULL || t->api == NULL)
		return -ENOMEM;
	t->id = id;
	t->own_id = own_id;
	t->end = s->end;
	t->ncalls = s->ncalls;
	t->first_seq = s->first_seq;
	t->last_seq = s->last_seq;
	t->fault_seq = s->end == AVA_JOURNAL_END_FAULT ? s->fault_seq : 0;
	return 0;
}

void
replay_target_load_fault(struct replay_target *t)
{
	char path[4096], key[32];
	long long v;
	snprintf(path, sizeof(path), "%s/" FAULT_NOTE, t->path);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	t->fault_noted = true;
	/* "key value" lines up to the first binary section. */
	while (fscanf(f, "%31s %lld\n", key, &v) == 2) {
		if (strcmp(key, "signal") == 0)
			t->fault_sig = (int)v;
		else if (strcmp(key, "in_call") == 0)
			t->fault_in_call = v != 0;
		else if (strcmp(key, "seq") == 0 && t->fault_seq == 0 &&
			 t->end == AVA_JOURNAL_END_NONE)
			t->fault_seq = (uint64_t)v;  /* not sealed: the note */
		else if (strcmp(key, "args") == 0)
			break;
	}
	fclose(f);
}

void
replay_target_finish(struct replay_target *t)
{
	free(t->path);
	free(t->api);
}

/* ---- pieces ----------------------------------------------------------- */

static const char *
sig_name(int sig)
{
	static const struct { int sig; const char *name; } names[] = {
		{ SIGSEGV, "SIGSEGV" }, { SIGBUS, "SIGBUS" },
		{ SIGFPE, "SIGFPE" }, { SIGILL, "SIGILL" },
		{ SIGABRT, "SIGABRT" }, { SIGTRAP, "SIGTRAP" },
		{ SIGKILL, "SIGKILL" }, { SIGTERM, "SIGTERM" },
		{ SIGALRM, "SIGALRM" }, { SIGSYS, "SIGSYS" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].sig == sig)
			return names[i].name;
	return "signal";
}

static void
recorded_end(const struct replay_target *t, char *buf, size_t len)
{
	switch (t->end) {
	case AVA_JOURNAL_END_CLEAN:
		snprintf(buf, len, "clean exit");
		break;
	case AVA_JOURNAL_END_VANISHED:
		snprintf(buf, len, "guest vanished after #%" PRIu64 " (the "
			 "application crashed or was killed while no call was "
			 "in the server)", t->last_seq);
		break;
	case AVA_JOURNAL_END_SERVER_STOP:
		snprintf(buf, len, "server stopped");
		break;
	case AVA_JOURNAL_END_FAULT:
		if (t->fault_sig != 0)
			snprintf(buf, len, "fault at #%" PRIu64 " (%s)",
				 t->fault_seq, sig_name(t->fault_sig));
		else
			snprintf(buf, len, "fault at #%" PRIu64, t->fault_seq);
		break;
	default:
		snprintf(buf, len, "not ended (still running, or its worker was "
			 "killed)");
		break;
	}
}

/* The call as `ava journal dump` prints it. */
static void
dump_line(const struct replay_target *t, struct ava_journal_reader *r,
	  uint64_t seq, struct ava_buf *out)
{
	struct ava_journal_call *c = NULL;
	struct ava_journal_session s = { .id = t->id, .api = t->api };
	if (ava_journal_call_get(r, t->own_id, seq, &c) != 0 ||
	    journal_view_format(&s, c, false, out) != 0) {
		char tmp[64];
		int n = snprintf(tmp, sizeof(tmp), "#%" PRIu64 " (unreadable)",
				 seq);
		ava_buf_reset(out);
		ava_buf_put_bytes(out, tmp, (size_t)n);
	}
	if (c != NULL)
		ava_journal_call_free(c);
	ava_buf_put_bytes(out, "", 1);
}

/* "#9 t1 clX(args) = R  1.2 µs" -> "#9 clX(args)": the call alone. */
static void
short_call(const char *line, char *buf, size_t len)
{
	const char *sp = strchr(line, ' ');
	const char *name = sp && sp[1] == 't' ? strchr(sp + 1, ' ') : NULL;
	const char *end = strrchr(line, ')');
	if (sp == NULL || name == NULL || end == NULL || end < name) {
		snprintf(buf, len, "%s", line);
		return;
	}
	snprintf(buf, len, "%.*s%.*s", (int)(sp - line), line,
		 (int)(end + 1 - name), name);
}

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static FILE *
open_report(const char *path)
{
	if (path == NULL)
		return NULL;
	FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
	if (f == NULL)
		tool_error("replay: %s: cannot write the report: %s", path,
			   strerror(errno));
	return f;
}

static int
close_report(FILE *f, const char *path)
{
	if (f == NULL || f == stdout)
		return 0;
	if (fclose(f) != 0) {
		tool_error("replay: %s: writing the report failed", path);
		return -1;
	}
	return 0;
}

static void
json_head(FILE *f, const struct replay_target *t,
	  const struct ava_replay_options *o, const char *result)
{
	char end[160];
	recorded_end(t, end, sizeof(end));
	fprintf(f, "{\"journal\":");
	json_str(f, t->path);
	fprintf(f, ",\"session\":%" PRIu64 ",\"result\":\"%s\","
		"\"verify\":%s,\"until\":%" PRIu64 ",\"recorded_end\":", t->id,
		result, o->verify ? "true" : "false", o->until);
	json_str(f, end);
	if (t->fault_seq != 0)
		fprintf(f, ",\"recorded_fault\":{\"seq\":%" PRIu64 ",\"signal\":"
			"%d}", t->fault_seq, t->fault_sig);
}

/* ---- a replay that ran ---------------------------------------------------- */

static double
secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static void
text_time(const struct ava_replay_result *res)
{
	printf("  time:      %.3f s replaying, %.3f s recorded (first call to "
	       "last)", secs(res->replay_ns), secs(res->recorded_span_ns));
	if (res->replay_ns > 0 && res->recorded_span_ns > 0)
		printf(": %.2fx the recorded speed",
		       (double)res->recorded_span_ns / (double)res->replay_ns);
	printf("\n             %.3f s inside calls, %.3f s recorded",
	       secs(res->replay_busy_ns), secs(res->recorded_busy_ns));
	if (res->replay_busy_ns > 0 && res->recorded_busy_ns > 0)
		printf(" (%.2fx)", (double)res->recorded_busy_ns /
		       (double)res->replay_busy_ns);
	printf("\n");
	if (res->startup_ns > 0)
		printf("             (not counted: %.3f s starting the driver "
		       "before the first call)\n", secs(res->startup_ns));
}

static void
text_notes(const struct ava_replay_result *res)
{
	if (res->notes == 0)
		return;
	printf("  notes:     %" PRIu64 " value%s differ%s from the record, as "
	       "may be (not a divergence):\n", res->notes,
	       res->notes == 1 ? "" : "s", res->notes == 1 ? "s" : "");
	uint64_t n = res->notes < 10 ? res->notes : 10;
	for (uint64_t i = 0; i < n; i++)
		printf("             #%" PRIu64 " %s\n", res->note[i].seq,
		       res->note[i].text);
	if (res->notes > n)
		printf("             ... (%" PRIu64 " more; --report lists %d)\n",
		       res->notes - n, AVA_REPLAY_NOTES_KEPT);
}

static void
text_success(const struct replay_target *t, const struct ava_replay_options *o,
	     const struct ava_replay_result *res)
{
	char end[160];
	printf("ava replay: session %" PRIu64 " of %s: %" PRIu64 " calls "
	       "replayed%s, %s\n", t->id, t->dir, res->calls,
	       o->until ? " (up to --until)" : "",
	       o->verify ? "every result as recorded" : "not verified");
	if (o->verify) {
		printf("  compared:  %" PRIu64 " statuses, %" PRIu64
		       " out-values, %" PRIu64 " handles, %" PRIu64
		       " out buffers (digests)\n", res->returns, res->values,
		       res->handles, res->buffers);
		if (res->not_compared || res->unverified)
			printf("  skipped:   %" PRIu64 " values that differ "
			       "between runs (timestamps, reference counts, "
			       "pointers), %" PRIu64 " unverifiable buffers\n",
			       res->not_compared, res->unverified);
	}
	text_notes(res);
	text_time(res);
	recorded_end(t, end, sizeof(end));
	printf("  recorded:  the session ended: %s\n", end);
	if (t->end == AVA_JOURNAL_END_VANISHED && o->until == 0)
		printf("             every call the application made before it "
		       "ended was replayed\n");
}

static void
text_divergence(const struct replay_target *t, const struct ava_replay_result *res,
		const char *call)
{
	const struct ava_replay_divergence *d = &res->div;
	printf("ava replay: session %" PRIu64 " of %s: divergence at #%" PRIu64
	       " (thread %u), after %" PRIu64 " calls replayed\n", t->id,
	       t->dir, d->seq, d->thread,
	       res->calls - (res->calls > 0 && !d->stalled));
	printf("  call:      %s\n", call);
	printf("  differs:   %s\n", d->what);
	printf("  expected:  %s\n", d->expected);
	printf("  got:       %s\n", d->got);
	if (d->offset >= 0)
		printf("  offset:    first differing byte at %" PRId64 "\n",
		       d->offset);
	if (d->hint[0])
		printf("  hint:      %s\n", d->hint);
	text_notes(res);
}

static void
json_result(FILE *f, const struct ava_replay_result *res, const char *call)
{
	fprintf(f, ",\"calls\":%" PRIu64 ",\"calls_recorded\":%" PRIu64
		",\"threads\":%u,\"compared\":{\"statuses\":%" PRIu64
		",\"values\":%" PRIu64 ",\"handles\":%" PRIu64 ",\"buffers\":%"
		PRIu64 ",\"not_compared\":%" PRIu64 ",\"unverified\":%" PRIu64
		",\"lazy_binds\":%" PRIu64 "}", res->calls, res->calls_recorded,
		res->threads, res->returns, res->values, res->handles,
		res->buffers, res->not_compared, res->unverified,
		res->lazy_binds);
	fprintf(f, ",\"time\":{\"startup_s\":%.6f,\"replay_s\":%.6f,"
		"\"replay_busy_s\":%.6f,\"recorded_span_s\":%.6f,"
		"\"recorded_busy_s\":%.6f,\"speedup\":%.3f}",
		secs(res->startup_ns), secs(res->replay_ns),
		secs(res->replay_busy_ns), secs(res->recorded_span_ns),
		secs(res->recorded_busy_ns), res->replay_ns
		? (double)res->recorded_span_ns / (double)res->replay_ns : 0.0);
	fprintf(f, ",\"notes\":[");
	uint64_t n = res->notes < AVA_REPLAY_NOTES_KEPT ? res->notes
						       : AVA_REPLAY_NOTES_KEPT;
	for (uint64_t i = 0; i < n; i++) {
		fprintf(f, "%s{\"seq\":%" PRIu64 ",\"text\":", i ? "," : "",
			res->note[i].seq);
		json_str(f, res->note[i].text);
		fprintf(f, "}");
	}
	fprintf(f, "],\"notes_total\":%" PRIu64, res->notes);
	if (!res->diverged)
		return;
	const struct ava_replay_divergence *d = &res->div;
	fprintf(f, ",\"divergence\":{\"seq\":%" PRIu64 ",\"thread\":%u,"
		"\"call\":", d->seq, d->thread);
	json_str(f, call);
	fprintf(f, ",\"what\":");
	json_str(f, d->what);
	fprintf(f, ",\"expected\":");
	json_str(f, d->expected);
	fprintf(f, ",\"got\":");
	json_str(f, d->got);
	fprintf(f, ",\"offset\":%" PRId64 ",\"hint\":", d->offset);
	json_str(f, d->hint);
	fprintf(f, ",\"stalled\":%s}", d->stalled ? "true" : "false");
}

/* The record ends in a fault the replay ran past without one. */
static bool
fault_missed(const struct replay_target *t, const struct ava_replay_options *o,
	     const struct ava_replay_result *res)
{
	return !res->diverged && t->fault_seq != 0 &&
	       (o->until == 0 || o->until >= t->fault_seq);
}

int
replay_report(const struct replay_target *t, struct ava_journal_reader *r,
	      const struct ava_replay_options *o,
	      const struct ava_replay_result *res, const char *report_path)
{
	struct ava_buf line;
	ava_buf_init(&line);
	const char *call = "";
	bool missed = fault_missed(t, o, res);
	if (res->diverged) {
		dump_line(t, r, res->div.seq, &line);
		call = line.err ? "" : (const char *)line.data;
		text_divergence(t, res, call);
	} else {
		text_success(t, o, res);
	}
	if (missed)
		printf("  differs:   the recorded run faulted at #%" PRIu64 "%s; "
		       "the replay did not\n", t->fault_seq,
		       !t->fault_noted || t->fault_in_call ? ""
		       : " (in a driver thread, while it ran or after it)");
	fflush(stdout);
	FILE *f = open_report(report_path);
	if (f != NULL) {
		json_head(f, t, o, res->diverged ? "diverged"
			  : missed ? "fault-not-reproduced" : "ok");
		json_result(f, res, call);
		fprintf(f, "}\n");
	}
	int bad = close_report(f, report_path);
	ava_buf_finish(&line);
	return res->diverged || missed || bad ? AVA_EXIT_FAILURE : 0;
}

/* ---- a replay that died --------------------------------------------------- */

void
replay_report_crash(const struct replay_target *t,
		    const struct ava_replay_options *o,
		    const struct replay_crash *c, const char *report_path)
{
	struct ava_buf line;
	char call[1024] = "", end[160];
	struct ava_journal_reader *r;
	ava_buf_init(&line);
	if (c->seq != 0 &&
	    ava_journal_reader_open(t->path, NULL, 0, &r) == 0) {
		dump_line(t, r, c->seq, &line);
		if (!line.err)
			short_call((const char *)line.data, call, sizeof(call));
		ava_journal_reader_close(r);
	}
	recorded_end(t, end, sizeof(end));
	if (c->reproduced) {
		printf("ava replay: session %" PRIu64 " of %s: reproduced: crash "
		       "at %s\n", t->id, t->dir, call);
		printf("  signal:    %s (%s), as recorded\n", sig_name(c->sig),
		       strsignal(c->sig));
		printf("  replayed:  %" PRIu64 " calls before it, every result "
		       "as recorded\n", c->completed);
	} else {
		printf("ava replay: session %" PRIu64 " of %s: the replay "
		       "crashed (%s) %s %s\n", t->id, t->dir, sig_name(c->sig),
		       c->in_flight ? "in" : "after", call[0] ? call : "the "
		       "first call");
		printf("  expected:  %s\n", t->fault_seq == c->seq &&
		       t->fault_seq != 0 ? "the recorded fault's signal"
		       : t->fault_seq != 0 ? "the recorded fault, at another call"
		       : "the call returns, as in the recorded run");
		printf("  recorded:  the session ended: %s\n", end);
		printf("  replayed:  %" PRIu64 " calls before it\n", c->completed);
	}
	fflush(stdout);
	FILE *f = open_report(report_path);
	if (f != NULL) {
		json_head(f, t, o, c->reproduced ? "reproduced" : "crashed");
		fprintf(f, ",\"crash\":{\"seq\":%" PRIu64 ",\"signal\":%d,"
			"\"signal_name\":\"%s\",\"in_flight\":%s,\"completed\":%"
			PRIu64 ",\"call\":", c->seq, c->sig, sig_name(c->sig),
			c->in_flight ? "true" : "false", c->completed);
		json_str(f, call);
		fprintf(f, "}}\n");
	}
	close_report(f, report_path);
	ava_buf_finish(&line);
}
