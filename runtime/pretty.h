/*
 * pretty.h - print a recorded call the way `ava journal dump` shows it.
 *
 *   #42 t1 clEnqueueWriteBuffer(command_queue=command_queue1, buffer=mem3,
 *       blocking_write=CL_TRUE, offset=0, size=4096, ptr=blob:9f3e0c1d…,
 *       ...) = CL_SUCCESS  12.3 µs
 *
 * The printer reads a call's skeletons (runtime/marshal-split.h) through
 * the descriptor tables alone: enum and flag names come from the header's
 * constants grouped by type, handles print as their type and index. Replay
 * uses the same printer for its divergence reports.
 *
 * Thread safety: stateless.
 */
#ifndef AVA_PRETTY_H
#define AVA_PRETTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ava-desc.h"
#include "wire.h"

/* A buffer of the call as the printer should name it. */
struct ava_pretty_span {
	const uint8_t *data;   /* the bytes if at hand (short ones print), or NULL */
	uint64_t len;
	const uint8_t *hash;   /* 16-byte content hash of a blob, or NULL */
};

struct ava_pretty_call {
	const struct ava_api_desc *api;
	const struct ava_fn_desc *fn;
	uint64_t seq;
	uint32_t thread;
	const uint8_t *args;           /* CALL skeleton */
	size_t args_len;
	const struct ava_pretty_span *in; /* its spans, in order */
	uint32_t nin;
	const uint8_t *outs;           /* REPLY skeleton, or NULL: none was
					* recorded (the call faulted) */
	size_t outs_len;
	const uint64_t *digests;       /* one per REPLY span, or NULL */
	uint32_t ndigests;
	int64_t ret;
	uint64_t duration_ns;
	bool async;
	int64_t deferred_error;
};

/*
 * Append one line (no newline) describing c to out: text, or a JSON
 * object if json. A malformed skeleton does not fail: the printer says
 * "<malformed: ...>" where it stopped, since dump must show damaged
 * journals too. Returns the buffer's error (0 or -ENOMEM).
 */
int
ava_pretty_call_format(const struct ava_pretty_call *c, bool json,
		       struct ava_buf *out);

/*
 * The name of value as a constant of group (a C type name such as
 * "cl_device_info"), or NULL. Flag groups are not decomposed here.
 */
const char *
ava_pretty_const(const struct ava_api_desc *api, const char *group,
		 uint64_t value);

/* The name of fn's status v (its return value, or what its error
 * out-argument holds, for a function that returns an object), or NULL. */
const char *
ava_pretty_status(const struct ava_api_desc *api,
		  const struct ava_fn_desc *fn, uint64_t v);

/* Append the short name of handle id, e.g. "mem3" (or "NULL"). */
void
ava_pretty_handle(const struct ava_api_desc *api, uint64_t id,
		  struct ava_buf *out);

#endif
