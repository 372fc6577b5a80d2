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
