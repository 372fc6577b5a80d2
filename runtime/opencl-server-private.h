/*
 * opencl-server-private.h - helpers shared by the OpenCL server hooks
 * (opencl-hooks.c) and ava's own calls (opencl-calls.c). Server only.
 */
#ifndef AVA_OPENCL_SERVER_PRIVATE_H
#define AVA_OPENCL_SERVER_PRIVATE_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 300
#endif
#include <CL/cl.h>
#include <stdbool.h>
#include <stdint.h>

#include "opencl-ava-calls.h"

/*
 * CL_MEM_USE_HOST_PTR lets the implementation keep using host_ptr as the
 * object's storage for the object's whole life, but a host_ptr that came
 * in a CALL points into a receive buffer that the next call reuses. For
 * such flags *copy receives a copy of the size bytes at host_ptr (4096-byte
 * aligned) to create the object with instead; otherwise NULL. Returns
 * false if out of memory (answer CL_OUT_OF_HOST_MEMORY).
 */
bool
ava_cl_host_copy(cl_mem_flags flags, const void *host_ptr, size_t size,
		 void **copy);

/* Tie the copy's life to mem (NULL: creation failed, free it now). */
void
ava_cl_host_copy_keep(cl_mem mem, void *copy);

/* Buffers in the session's shared heap (opencl-shared.c), from
 * AVA_CL_SHARED_MIN bytes (opencl-ava-calls.h). */

/* Make the buffer over the heap, as clCreateBuffer[WithProperties]
 * would; NULL if it is not to be there (then make it as asked). */
cl_mem
ava_cl_shared_create(cl_context ctx, const cl_mem_properties *props,
		     bool with_props, cl_mem_flags flags, size_t size,
		     const void *host_ptr, cl_int *err);

/* CL_MEM_FLAGS as the application asked them, for a buffer in the heap
 * or a sub-buffer of one (others' flags are left as they are). */
void
ava_cl_shared_flags(cl_mem mem, cl_mem_flags *flags);

/* Is mem (or its parent) in the heap? */
bool
ava_cl_shared(cl_mem mem);

/* May the guest copy size bytes at offset of mem straight, without a
 * mapping, once q is finished? Then the heap's id and the range's offset
 * there. Only for a transfer the real one would accept (q and mem of one
 * context, the host flags, the range) on a CPU device that shares the
 * host's memory (CL_DEVICE_HOST_UNIFIED_MEMORY), where a buffer over host
 * memory is that memory; anything else maps. */
bool
ava_cl_shared_direct(cl_command_queue q, cl_mem mem, bool write,
		     size_t offset, size_t size, uint64_t *heap,
		     uint64_t *where);

/* The id of this session's heap, 0 if none. */
uint64_t
ava_cl_shared_heap_id(void);

/* Does [p, p+size) of mem's mapping lie in its heap? Then its heap's id
 * and p's offset there. */
bool
ava_cl_shared_in(cl_mem mem, const void *p, size_t size, uint64_t *heap,
		 uint64_t *where);

/* Run done(data) once ev's command is over, where the implementation
 * refused clSetEventCallback: from a later ava_cl_late_sweep(), which
 * runs it for the commands over by then (opencl-calls.c). For the host
 * storage a non-blocking write reads, which the call cannot wait for. */
void
ava_cl_late_add(cl_event ev, void (*done)(void *), void *data);

void
ava_cl_late_sweep(void);

/* Ranges of the heap that hold a non-blocking write's bytes, or a new
 * buffer's (avaclStageBytes, avaclEnqueueWriteStaged,
 * avaclCreateBufferStaged: opencl-ava-calls.h). */
struct ava_cl_stage;

/* A new stage of size bytes, known by *id until taken; false if there is
 * no heap or no room. Then the heap's id and the range's offset. */
bool
ava_cl_stage_new(size_t size, uint64_t *heap, uint64_t *where,
		 uint64_t *id);

/* Take stage id for size bytes from *at; NULL if there is no such stage
 * or it is smaller. The taker frees it (or adopts it). */
struct ava_cl_stage *
ava_cl_stage_take(uint64_t id, size_t size, void **at);

/* Make a buffer of size bytes over stage st's range, which passes to it
 * (avaclCreateBufferStaged), with flags as the application's; NULL and
 * *err on failure, the range then given back. st is gone either way. */
cl_mem
ava_cl_stage_adopt(struct ava_cl_stage *st, cl_context ctx,
		   cl_mem_flags flags, size_t size, cl_int *err);

/* Give a stage's range back; st a struct ava_cl_stage, untyped so that
 * the function serves as a callback too (ava_cl_late_add(),
 * ava_session_after_reply()). */
void
ava_cl_stage_free(void *st);

/* The trampoline for a `remote` callback of function fn
 * (opencl-callbacks.c, session-callback.h); NULL if none. */
void *
ava_opencl_trampoline(uint32_t fn, int arg);

/* Checkpoint and restore's knowledge of OpenCL (opencl-state.c). */
struct ava_api_desc;
struct ava_state_ops;

const struct ava_state_ops *
ava_opencl_state_ops(const struct ava_api_desc *api);

#endif
