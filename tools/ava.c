/*
 * ava.c - the `ava` command line: one binary, one subcommand per job.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "tool.h"

static const struct ava_cmd commands[] = {
	{ "server", cmd_server,
	  "[--listen ADDR]... [--journal DIR] [--journal-mode M] [--config FILE]",
	  "serve guests: run their API calls on this host's devices" },
	{ "run", cmd_run,
	  "[--server ADDR] [--journal DIR] [--journal-mode M] -- CMD [ARG...]",
	  "run an unmodified program with its API calls going through ava" },
	{ "replay", cmd_replay,
	  "DIR [--session S] [--until SEQ] [--no-verify] [--speed max|recorded] [--report FILE] [--stall S]",
	  "re-execute a journal without the application; check every result" },
	{ "journal", cmd_journal,
	  "ls|dump|stats|verify|export|trim|diff DIR [OPTION]...",
	  "read a journal: sessions, calls, statistics, checks, traces" },
	{ "checkpoint", cmd_checkpoint,
	  "--server ADDR --session S -o IMAGE [--secret FILE]",
	  "write a running session's whole state to an image" },
	{ "restore", cmd_restore,
	  "IMAGE --server ADDR [--secret FILE] [--check]",
	  "rebuild a session from an image; its guest resumes there" },
	{ "migrate", cmd_migrate,
	  "--server ADDR --session S --to ADDR [--guest-addr ADDR] [--secret FILE]",
	  "move a running session to another server, live" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

void
tool_error(const char *fmt, ...)
{
	va_list ap;
	fputs("ava: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool
tool_parse_journal_mode(const char *s, enum ava_journal_mode *out)
{
	static const struct { const char *name; enum ava_journal_mode mode; }
	modes[] = {
		{ "full", AVA_JOURNAL_FULL },
		{ "state", AVA_JOURNAL_STATE },
		{ "off", AVA_JOURNAL_OFF },
	};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(s, modes[i].name) == 0) {
			*out = modes[i].mode;
			return true;
		}
	}
	tool_error("unknown journal mode '%s' (expected full, state or off)", s);
	return false;
}

bool
tool_parse_sync(const char *s, enum ava_journal_sync_mode *out)
{
	static const char *const names[] = {
		[AVA_SYNC_BATCH] = "batch", [AVA_SYNC_NONE] = "none",
		[AVA_SYNC_STRICT] = "strict",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum ava_journal_sync_mode)i;
			return true;
		}
	}
	tool_error("unknown sync mode '%s' (expected none, batch or strict)", s);
	return false;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: ava COMMAND [OPTION]...\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'ava COMMAND --help' for a command's options;"
		   " see ava(1).\n");
}

/* The library whose malloc this process (and so the vendor library its
 * server loads) uses: meson's server_malloc, doc/performance.md. */
static const char *
allocator(void)
{
	void *(*volatile m)(size_t) = malloc;
	Dl_info info;
	if (dladdr((void *)m, &info) == 0 || info.dli_fname == NULL)
		return "unknown";
	const char *slash = strrchr(info.dli_fname, '/');
	return slash != NULL ? slash + 1 : info.dli_fname;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return AVA_EXIT_USAGE;
	}
	const char *name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 ||
	    strcmp(name, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(name, "--version") == 0) {
		printf("ava %s\nallocator: %s\n", AVA_VERSION, allocator());
		return 0;
	}
	/* Servers this process starts take the operator's commands. */
	ava_server_set_control(&ava_migrate_control);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (strcmp(name, commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	}
	tool_error("unknown command '%s'; run 'ava --help' for the list", name);
	return AVA_EXIT_USAGE;
}
