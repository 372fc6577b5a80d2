/*
 * diag.h - diagnostics in the house format `file:line:col: error: message`.
 *
 * Diagnostics go to one stream (stderr by default; NULL silences them, as
 * the fuzz target does). The error count is global: ava-gen is a
 * single-threaded tool and every stage reports into the same run.
 */
#ifndef AVA_GEN_DIAG_H
#define AVA_GEN_DIAG_H

#include <stdio.h>

struct ava_loc {
	const char *file;   /* borrowed; lives as long as the run */
	int line;           /* 1-based; 0: no position in the file */
	int col;            /* 1-based */
};

void
ava_diag_set_stream(FILE *f);

void
ava_error(struct ava_loc loc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Errors reported since the last reset. */
int
ava_error_count(void);

void
ava_diag_reset(void);

#endif
