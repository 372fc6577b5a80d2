/*
 * cmd-journal.c - `ava journal ls|dump|stats|verify|export DIR`: read a
 * journal without any device.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ava-error.h"
#include "journal-calls.h"
#include "journal-view.h"
#include "tool.h"

static void
format_time(uint64_t ns, char *buf, size_t len)
{
	time_t s = (time_t)(ns / 1000000000u);
	struct tm tm;
	if (ns == 0 || gmtime_r(&s, &tm) == NULL)
		snprintf(buf, len, "-");
	else
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *
end_name(const struct ava_journal_session *s, char *buf, size_t len)
{
	switch (s->end) {
	case AVA_JOURNAL_END_CLEAN: return "clean exit";
	case AVA_JOURNAL_END_VANISHED: return "guest vanished";
	case AVA_JOURNAL_END_SERVER_STOP: return "server stopped";
	case AVA_JOURNAL_END_FAULT:
		snprintf(buf, len, "fault at #%" PRIu64, s->fault_seq);
		return buf;
	default: return "running or cut short";
	}
}

static int
ls_one(struct ava_journal_reader *r, const struct ava_journal_session *s,
       uint64_t own_id, void *data)
{
	(void)r;
	(void)own_id;
	char start[32], end[48];
	format_time(s->start_ns, start, sizeof(start));
	double secs = s->end_ns > s->start_ns
		      ? (double)(s->end_ns - s->start_ns) / 1e9 : 0.0;
	printf("%7" PRIu64 "  %-20s  %-8s  %9" PRIu64 "  %9.3f s  %-22s  %s\n",
	       s->id, start, s->api ? s->api : "?", s->ncalls, secs,
	       end_name(s, end, sizeof(end)), s->guest ? s->guest : "");
	(void)data;
	return 0;
}

static int
journal_ls(struct journal_set *set, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("%7s  %-20s  %-8s  %9s  %11s  %-22s  %s\n", "session", "start",
	       "api", "calls", "duration", "ended", "guest");
	return journal_set_sessions(set, "ls", 0, ls_one, NULL) == 0
	       ? 0 : AVA_EXIT_FAILURE;
}

/* Options common to the per-call commands. */
struct call_opts {
	uint64_t session;     /* 0: every session */
	uint64_t from, until; /* until 0: no bound */
	bool json;
	const char *format;
	const char *output;
};

static int
parse_call_opts(const char *sub, int argc, char **argv, struct call_opts *o)
{
	static const struct option opts[] = {
		{ "session", required_argument, NULL, 's' },
		{ "from", required_argument, NULL, 'f' },
		{ "until", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ "format", required_argument, NULL, 'F' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:f:u:jF:o:", opts, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 's': o->session = strtoull(optarg, &end, 10); break;
		case 'f': o->from = strtoull(optarg, &end, 10); break;
		case 'u': o->until = strtoull(optarg, &end, 10); break;
		case 'j': o->json = true; break;
		case 'F': o->format = optarg; break;
		case 'o': o->output = optarg; break;
		default: return AVA_EXIT_USAGE;
		}
		if (end != NULL && (*end != '\0' || end == optarg)) {
			tool_error("journal %s: '%s' is not a number", sub, optarg);
			return AVA_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		tool_error("journal %s: unexpected argument '%s'", sub,
			   argv[optind]);
		return AVA_EXIT_USAGE;
	}
	return 0;
}

static int
dump_call(const struct ava_journal_session *s,
	  const struct ava_journal_call *c, void *data)
{
	const struct call_opts *o = data;
	struct ava_buf line;
	ava_buf_init(&line);
	int err = journal_view_format(s, c, o->json, &line);
	if (err == 0) {
		fwrite(line.data, 1, line.len, stdout);
		fputc('\n', stdout);
	} else {
		tool_error("journal dump: session %" PRIu64 ": call #%" PRIu64
			   ": %s", s->id, c->seq, ava_strerror(err));
	}
	ava_buf_finish(&line);
	return err;
}

static int
journal_dump(struct journal_set *r, int argc, char **argv)
{
	struct call_opts o = { 0 };
	int rc = parse_call_opts("dump", argc, argv, &o);
	if (rc != 0)
		return rc;
	return journal_view_walk(r, "dump", o.session, o.from, o.until,
				 dump_call, &o) == 0 ? 0 : AVA_EXIT_FAILURE;
}

static int
verify_one(const char *dir)
{
	struct ava_journal_verify_report rep;
	journal_view_guard("verify", dir);
	int err = ava_journal_verify(dir, &rep);
	if (err != 0) {
		/* Name the journal: DIR may hold many session-N. */
		const char *why = rep.first[0] ? rep.first : ava_strerror(err);
		if (strncmp(why, dir, strlen(dir)) == 0)
			tool_error("journal verify: %s", why);
		else
			tool_error("journal verify: %s: %s", dir, why);
		return AVA_EXIT_FAILURE;
	}
	printf("%s: ok: %" PRIu64 " sessions, %" PRIu64 " calls, %" PRIu64
	       " blobs (%" PRIu64 " references)", dir, rep.sessions, rep.calls,
	       rep.blobs, rep.blob_refs);
	if (rep.warnings != 0)
		printf(", %" PRIu64 " warnings (%s)", rep.warnings, rep.first);
	printf("\n");
	return 0;
}

static int
journal_stats(struct journal_set *r, int argc, char **argv)
{
	struct call_opts o = { 0 };
	int rc = parse_call_opts("stats", argc, argv, &o);
	if (rc != 0)
		return rc;
	return journal_view_stats(r, o.session) == 0 ? 0 : AVA_EXIT_FAILURE;
}

static int
journal_export(struct journal_set *r, int argc, char **argv)
{
	struct call_opts o = { 0 };
	int rc = parse_call_opts("export", argc, argv, &o);
	if (rc != 0)
		return rc;
	if (o.format == NULL || strcmp(o.format, "chrome") != 0) {
		tool_error("journal export: --format chrome is the format "
			   "supported (Chrome trace JSON for Perfetto)");
		return AVA_EXIT_USAGE;
	}
	FILE *f = stdout;
	if (o.output != NULL && strcmp(o.output, "-") != 0) {
		f = fopen(o.output, "w");
		if (f == NULL) {
			tool_error("journal export: %s: cannot write", o.output);
			return AVA_EXIT_FAILURE;
		}
	}
	int err = journal_view_chrome(r, o.session, f);
	if (f != stdout && fclose(f) != 0 && err == 0) {
		tool_error("journal export: %s: write failed", o.output);
		err = -1;
	}
	return err == 0 ? 0 : AVA_EXIT_FAILURE;
}

static int
journal_verify(struct journal_set *set, int argc, char **argv)
{
	if (argc > 1) {
		tool_error("journal verify: unexpected argument '%s'", argv[1]);
		return AVA_EXIT_USAGE;
	}
	int rc = 0;
	for (size_t i = 0; i < journal_set_count(set); i++)
		if (verify_one(journal_set_path(set, i)) != 0)
			rc = AVA_EXIT_FAILURE;
	return rc;
}

static void
journal_usage(FILE *f)
{
	fprintf(f,
		"DIR is a journal, or a server's --journal DIR of session-N journals.\n"
		"usage: ava journal ls DIR\n"
		"       ava journal dump DIR [--session S] [--from SEQ] [--until SEQ] [--json]\n"
		"       ava journal stats DIR [--session S]\n"
		"       ava journal verify DIR\n"
		"       ava journal export DIR --format chrome [--session S] [-o FILE]\n"
		"       ava journal trim DIR --keep SEQ[,SEQ...] [--session S] -o OUT\n"
		"       ava journal diff A B [--session S]\n");
}

int
cmd_journal(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
			  strcmp(argv[1], "-h") == 0)) {
		journal_usage(stdout);
		return 0;
	}
	if (argc < 3) {
		journal_usage(stderr);
		return AVA_EXIT_USAGE;
	}
	const char *sub = argv[1], *dir = argv[2];
	static const struct {
		const char *name;
		int (*run)(struct journal_set *, int, char **);
	} subs[] = {
		{ "ls", journal_ls }, { "dump", journal_dump },
		{ "stats", journal_stats }, { "verify", journal_verify },
		{ "export", journal_export }, { "trim", journal_trim },
		{ "diff", journal_diff },
	};
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(sub, subs[i].name) != 0)
			continue;
		struct journal_set *set;
		if (journal_set_open(sub, dir, &set) != 0)
			return AVA_EXIT_FAILURE;
		/* The subcommand sees "SUB [OPTION]..." after DIR. */
		argv[2] = argv[1];
		int rc = subs[i].run(set, argc - 2, argv + 2);
		journal_set_close(set);
		return rc;
	}
	tool_error("journal: unknown subcommand '%s' (ls, dump, stats, verify, "
		   "export, trim, diff)", sub);
	return AVA_EXIT_USAGE;
}
