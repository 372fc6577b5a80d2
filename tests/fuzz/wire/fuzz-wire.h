/*
 * fuzz-wire.h - the session state the wire fuzzer decodes against, shared
 * with the corpus generator so that corpus frames carry live ids.
 */
#ifndef AVA_FUZZ_WIRE_H
#define AVA_FUZZ_WIRE_H

#include "handle-table.h"

/* Fixed owner and entries, so ids are the same in every run. */
#define FUZZ_OWNER 0x0a0a

struct fuzz_ids {
	uint64_t plat, ctx, buf;
};

/* A table holding a platform, a context and a buffer (fake reals). */
struct ava_handle_table *
fuzz_table(struct fuzz_ids *ids);

#endif
