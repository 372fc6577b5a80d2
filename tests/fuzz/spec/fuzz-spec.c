/*
 * fuzz-spec.c - libFuzzer target for the spec front end: the lexer, the
 * parser (expressions included) and freeing the tree, on arbitrary bytes.
 * Diagnostics are silenced; only crashes, leaks and sanitizer reports
 * count. The ids-file parser gets the same bytes.
 */
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "spec.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ava_diag_set_stream(NULL);
	struct ava_spec *spec = NULL;
	if (ava_spec_parse("fuzz.spec", (const char *)data, size, &spec) == 0)
		ava_spec_destroy(spec);
	struct ava_vec ids = { 0 };
	ava_ids_read("fuzz.ids", (const char *)data, size, &ids);
	ava_ids_free(&ids);
	ava_diag_reset();
	return 0;
}
