/*
 * diag.c - the diagnostic sink.
 */
#include "diag.h"

#include <stdarg.h>

static FILE *stream;
static int stream_set;
static int errors;

void
ava_diag_set_stream(FILE *f)
{
	stream = f;
	stream_set = 1;
}

void
ava_error(struct ava_loc loc, const char *fmt, ...)
{
	FILE *out = stream_set ? stream : stderr;
	errors++;
	if (out == NULL)
		return;
	if (loc.line > 0)
		fprintf(out, "%s:%d:%d: error: ", loc.file, loc.line, loc.col);
	else
		fprintf(out, "%s: error: ", loc.file ? loc.file : "ava-gen");
	va_list ap;
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
}

int
ava_error_count(void)
{
	return errors;
}

void
ava_diag_reset(void)
{
	errors = 0;
}
