/*
 * tool.h - shared plumbing of the `ava` command line.
 *
 * Every subcommand is `int cmd_x(int argc, char **argv)` and returns the
 * process exit status: 0 success, 1 failure reported on stderr, 2 usage
 * error. Errors are one line on stderr, prefixed "ava <cmd>: ".
 */
#ifndef AVA_TOOL_H
#define AVA_TOOL_H

#include <stdbool.h>

#include "server.h"

#define AVA_EXIT_FAILURE 1
#define AVA_EXIT_USAGE 2

struct ava_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *synopsis;
	const char *summary;
};

/* Print "ava: <fmt>\n" to stderr. */
void
tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parse "none|batch|strict"; false (and one error line) if it is none. */
bool
tool_parse_sync(const char *s, enum ava_journal_sync_mode *out);

/* Parse "full|state|off"; false (and one error line) if it is none. */
bool
tool_parse_journal_mode(const char *s, enum ava_journal_mode *out);

/*
 * Find ava's OpenCL ICD file (ava.icd): $AVA_ICD if set, else next to the
 * build tree's tools/ava (../guest/ava.icd), else the installed copy.
 * Returns a malloc'd path the caller frees, or NULL with an error printed.
 */
char *
tool_find_icd(void);

/* Reject server settings this version cannot honour; 0 or an exit code. */
int
tool_check_server_config(const struct ava_server_config *cfg);

int
cmd_server(int argc, char **argv);

int
cmd_run(int argc, char **argv);

int
cmd_journal(int argc, char **argv);

int
cmd_replay(int argc, char **argv);

int
cmd_checkpoint(int argc, char **argv);

int
cmd_restore(int argc, char **argv);

int
cmd_migrate(int argc, char **argv);

#endif
