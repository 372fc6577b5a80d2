/*
 * opencl-hooks.c - hand-written server hooks for OpenCL, named by the spec
 * and declared in the generated opencl-server.h. ava's own calls are in
 * opencl-calls.c.
 */
#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 300
#endif
#include <CL/cl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "marshal.h"
#include "opencl-ava.h"
#include "opencl-server-private.h"
#include "opencl-server.h"
#include "server-ctx.h"

/* The sizes of all of the program's binaries; *n gets their number. */
static cl_int
binary_sizes(cl_program prog, size_t **sizes, cl_uint *n)
{
	cl_int err = clGetProgramInfo(prog, CL_PROGRAM_NUM_DEVICES,
				      sizeof(*n), n, NULL);
	if (err != CL_SUCCESS)
		return err;
	*sizes = calloc(*n ? *n : 1, sizeof(**sizes));
	if (*sizes == NULL)
		return CL_OUT_OF_HOST_MEMORY;
	err = clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES,
			       *n * sizeof(**sizes), *sizes, NULL);
	if (err != CL_SUCCESS)
		free(*sizes);
	return err;
}

/* AVA_CL_PROGRAM_BINARY(i): binary i as bytes into server storage that
 * the marshaller sized from `size` and trims to *size_ret. */
static cl_int
one_binary(cl_program prog, cl_uint i, size_t size, void *value,
	   size_t *size_ret)
{
	size_t *sizes;
	cl_uint n;
	cl_int err = binary_sizes(prog, &sizes, &n);
	if (err != CL_SUCCESS)
		return err;
	err = CL_INVALID_VALUE;
	if (i >= n || (value != NULL && size < sizes[i]))
		goto out;
	if (size_ret != NULL)
		*size_ret = sizes[i];
	err = CL_SUCCESS;
	if (value == NULL)
		goto out;
	unsigned char **ptrs = calloc(n, sizeof(*ptrs));
	err = CL_OUT_OF_HOST_MEMORY;
	if (ptrs == NULL)
		goto out;
	ptrs[i] = value;  /* NULL entries are skipped by the implementation */
	err = clGetProgramInfo(prog, CL_PROGRAM_BINARIES, n * sizeof(*ptrs),
			       ptrs, NULL);
	free(ptrs);
out:
	free(sizes);
	return err;
}

uint64_t
ava_opencl_server_hook_clGetProgramInfo(const uint64_t *v,
					struct ava_server_ctx *ctx)
{
	cl_program prog = (cl_program)(uintptr_t)v[0];
	cl_program_info name = (cl_program_info)v[1];
	size_t size = (size_t)v[2];
	void *value = (void *)(uintptr_t)v[3];
	size_t *size_ret = (size_t *)(uintptr_t)v[4];
	if (name >= AVA_CL_PROGRAM_BINARY_BASE &&
	    name - AVA_CL_PROGRAM_BINARY_BASE < AVA_CL_PROGRAM_BINARY_COUNT)
		return (uint64_t)(int64_t)one_binary(
			prog, name - AVA_CL_PROGRAM_BINARY_BASE, size, value,
			size_ret);
	/*
	 * The guest's pointers never arrive here: value is server storage.
	 * Filling it would send server pointers back over the guest's own,
	 * so the guest library asks for each binary as above instead.
	 */
	if (name == CL_PROGRAM_BINARIES && value != NULL)
		return (uint64_t)(int64_t)CL_INVALID_OPERATION;
	return (uint64_t)(int64_t)clGetProgramInfo(prog, name, size, value,
						   size_ret);
}

/* ---- buffers over host memory ---------------------------------------- */

static uint64_t
create_buffer(cl_context ctx, const cl_mem_properties *props, bool with_props,
	      cl_mem_flags flags, size_t size, void *host_ptr, cl_int *err)
{
	cl_mem shared = ava_cl_shared_create(ctx, props, with_props, flags,
					     size, host_ptr, err);
	if (shared != NULL)
		return (uint64_t)(uintptr_t)shared;
	void *copy;
	if (!ava_cl_host_copy(flags, host_ptr, size, &copy)) {
		if (err != NULL)
			*err = CL_OUT_OF_HOST_MEMORY;
		return 0;
	}
	void *hp = copy != NULL ? copy : host_ptr;
	cl_mem mem = with_props
		? clCreateBufferWithProperties(ctx, props, flags, size, hp, err)
		: clCreateBuffer(ctx, flags, size, hp, err);
	ava_cl_host_copy_keep(mem, copy);
	return (uint64_t)(uintptr_t)mem;
}

uint64_t
ava_opencl_server_hook_clCreateBuffer(const uint64_t *v,
				      struct ava_server_ctx *ctx)
{
	return create_buffer((cl_context)(uintptr_t)v[0], NULL, false,
			     (cl_mem_flags)v[1], (size_t)v[2],
			     (void *)(uintptr_t)v[3],
			     (cl_int *)(uintptr_t)v[4]);
}

uint64_t
ava_opencl_server_hook_clCreateBufferWithProperties(
	const uint64_t *v, struct ava_server_ctx *ctx)
{
	return create_buffer((cl_context)(uintptr_t)v[0],
			     (const cl_mem_properties *)(uintptr_t)v[1], true,
			     (cl_mem_flags)v[2], (size_t)v[3],
			     (void *)(uintptr_t)v[4],
			     (cl_int *)(uintptr_t)v[5]);
}

/* CL_MEM_HOST_PTR is a server address: it never leaves the server (the
 * guest answers with the application's own pointer). CL_MEM_FLAGS are
 * the application's, for a buffer in the shared heap. */
uint64_t
ava_opencl_server_hook_clGetMemObjectInfo(const uint64_t *v,
					  struct ava_server_ctx *ctx)
{
	cl_mem_info name = (cl_mem_info)v[1];
	size_t size = (size_t)v[2];
	void *value = (void *)(uintptr_t)v[3];
	cl_int err = clGetMemObjectInfo((cl_mem)(uintptr_t)v[0], name, size,
					value, (size_t *)(uintptr_t)v[4]);
	if (err == CL_SUCCESS && name == CL_MEM_HOST_PTR && value != NULL)
		memset(value, 0, size < sizeof(void *) ? size : sizeof(void *));
	if (err == CL_SUCCESS && name == CL_MEM_FLAGS && value != NULL &&
	    size >= sizeof(cl_mem_flags)) {
		cl_mem_flags f;
		memcpy(&f, value, sizeof(f));
		ava_cl_shared_flags((cl_mem)(uintptr_t)v[0], &f);
		memcpy(value, &f, sizeof(f));
	}
	return (uint64_t)(int64_t)err;
}

/* ---- extension entry points ------------------------------------------ */

/*
 * The vendor's entry point of an extension function, from the first
 * platform that has it. Names come from the generated dispatch (string
 * constants), so a small table keyed by their address remembers each.
 */
ava_fn_ptr
ava_opencl_server_extension(const char *name)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static struct seen { const char *name; ava_fn_ptr fn; } seen[64];
	static size_t nseen;
	ava_fn_ptr fn = NULL;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nseen; i++)
		if (seen[i].name == name) {
			fn = seen[i].fn;
			goto out;
		}
	cl_platform_id p[8];
	cl_uint n = 0;
	if (clGetPlatformIDs(8, p, &n) != CL_SUCCESS)
		n = 0;
	for (cl_uint i = 0; i < n && i < 8 && fn == NULL; i++) {
		void *a = clGetExtensionFunctionAddressForPlatform(p[i], name);
		/* POSIX lets a data pointer hold a function's address. */
		memcpy(&fn, &a, sizeof(fn));
	}
	if (nseen < sizeof(seen) / sizeof(seen[0]))
		seen[nseen++] = (struct seen){ name, fn };
out:
	pthread_mutex_unlock(&lock);
	return fn;
}

/* ---- blocking transfers through a stream ------------------------------ */

/*
 * Over shm:, the bytes of a large blocking write or read pass through a
 * small window of the shared area, piece by piece (marshal.h, "Streams";
 * doc/protocol.md, "shm: bulk data"): the guest copies piece k + 1 in or
 * out of the window while the driver copies piece k, so the two copies
 * overlap. Each piece is a non-blocking command of its own; a piece's
 * window bytes go back to the guest once its command completes, oldest
 * first. The guest library registers the same arguments.
 */
#define ARG_PTR 5                /* ptr, of both functions */
#define IN_FLIGHT_MAX 16         /* pieces: the window holds 4, or 5 */

__attribute__((constructor)) static void
register_streams(void)
{
	ava_marshal_stream_arg(ava_opencl_api.api_id,
			       AVA_OPENCL_FN_clEnqueueWriteBuffer, ARG_PTR);
	ava_marshal_stream_arg(ava_opencl_api.api_id,
			       AVA_OPENCL_FN_clEnqueueReadBuffer, ARG_PTR);
}

/* The pieces in flight, oldest first. */
struct pieces {
	bool write;
	cl_event ev[IN_FLIGHT_MAX];
	size_t len[IN_FLIGHT_MAX];
	unsigned first, n;
	cl_int err;              /* the first failure */
	cl_event last;           /* the last piece's event, kept */
};

/* The oldest piece is done (wait: once it completes): its window bytes
 * go back (a read's are published unless something failed before).
 * false: it has not completed yet. */
static bool
retire(struct pieces *p, bool wait)
{
	unsigned i = p->first;
	cl_int st = CL_COMPLETE;
	if (!wait && clGetEventInfo(p->ev[i], CL_EVENT_COMMAND_EXECUTION_STATUS,
				    sizeof(st), &st, NULL) != CL_SUCCESS)
		st = CL_COMPLETE;  /* then wait below tells */
	if (!wait && st > CL_COMPLETE)
		return false;
	if (clWaitForEvents(1, &p->ev[i]) != CL_SUCCESS && p->err == CL_SUCCESS)
		p->err = CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST;
	if (p->write)
		ava_marshal_stream_release(p->len[i]);
	else if (p->err == CL_SUCCESS)
		ava_marshal_stream_publish(p->len[i]);
	if (p->ev[i] != p->last)
		clReleaseEvent(p->ev[i]);
	p->first = (p->first + 1) % IN_FLIGHT_MAX;
	p->n--;
	return true;
}

/* Whatever has completed, without waiting. */
static void
retire_done(struct pieces *p)
{
	while (p->n > 0 && retire(p, false)) {
	}
}

/*
 * A write's next bytes from the guest, or a read's room for them. A
 * write waits for the guest rather than for the driver, so that each
 * piece is queued as soon as it is there; only when every byte of the
 * window is in flight (the take gives 0) does the oldest piece decide.
 * A read takes room while there is some; else the oldest piece, once
 * done and published, lets the guest free more; with none in flight, it
 * waits for the guest. 0: retired one instead, try again.
 */
static int
next_piece(struct pieces *p, void **at)
{
	int r = p->write ? ava_marshal_stream_take(true, (const void **)at)
			 : ava_marshal_stream_reserve(false, at);
	if (r != 0)
		return r;
	if (p->n > 0) {
		retire(p, true);
		return 0;
	}
	if (p->write)
		return -1;   /* the stream ended early */
	r = ava_marshal_stream_reserve(true, at);
	return r == 0 ? -1 : r;
}

static cl_int
enqueue_piece(struct pieces *p, cl_command_queue q, cl_mem buf, size_t off,
	      size_t len, void *at, cl_uint nwait, const cl_event *wait)
{
	cl_event ev;
	cl_int err = p->write
		? clEnqueueWriteBuffer(q, buf, CL_FALSE, off, len, at, nwait,
				       wait, &ev)
		: clEnqueueReadBuffer(q, buf, CL_FALSE, off, len, at, nwait,
				      wait, &ev);
	if (err != CL_SUCCESS)
		return err;
	clFlush(q);
	unsigned i = (p->first + p->n) % IN_FLIGHT_MAX;
	p->ev[i] = ev;
	p->len[i] = len;
	p->n++;
	return CL_SUCCESS;
}

/* The whole range first: a piece must never fail for what the whole
 * transfer would have, after others were done. */
static cl_int
check_range(cl_mem buf, size_t offset, size_t size)
{
	size_t have;
	cl_int err = clGetMemObjectInfo(buf, CL_MEM_SIZE, sizeof(have), &have,
					NULL);
	if (err != CL_SUCCESS)
		return err == CL_INVALID_MEM_OBJECT ? err : CL_INVALID_VALUE;
	return offset > have || size > have - offset ? CL_INVALID_VALUE
						     : CL_SUCCESS;
}

/*
 * A blocking transfer of size bytes at offset, through the stream. The
 * event, if asked for, is the last piece's: when the call returns, every
 * piece is complete, and so is that event. A piece that fails stops the
 * rest; the pieces before it stay written (a read's are in the guest's
 * memory), as the error says the contents are undefined.
 */
static cl_int
streamed(bool write, cl_command_queue q, cl_mem buf, size_t offset,
	 size_t size, cl_uint nwait, const cl_event *wait, cl_event *event)
{
	struct pieces p = { .write = write };
	size_t done = 0;
	p.err = check_range(buf, offset, size);
	while (p.err == CL_SUCCESS && done < size) {
		void *at;
		retire_done(&p);
		int r = p.n == IN_FLIGHT_MAX ? (retire(&p, true), 0)
					     : next_piece(&p, &at);
		if (r < 0)
			p.err = CL_OUT_OF_RESOURCES;   /* the guest is gone */
		if (r <= 0)
			continue;
		p.err = enqueue_piece(&p, q, buf, offset + done, (size_t)r,
				      at, nwait, wait);
		done += (size_t)r;
		if (p.err == CL_SUCCESS && done == size && event != NULL)
			p.last = p.ev[(p.first + p.n - 1) % IN_FLIGHT_MAX];
	}
	while (p.n > 0)
		retire(&p, true);
	if (p.err == CL_SUCCESS && event != NULL)
		*event = p.last;
	else if (p.last != NULL)
		clReleaseEvent(p.last);
	return p.err;
}

uint64_t
ava_opencl_server_hook_clEnqueueReadBuffer(const uint64_t *v,
					   struct ava_server_ctx *ctx)
{
	cl_command_queue q = (cl_command_queue)(uintptr_t)v[0];
	cl_mem buf = (cl_mem)(uintptr_t)v[1];
	size_t offset = (size_t)v[3], size = (size_t)v[4];
	void *ptr = (void *)(uintptr_t)v[5];
	cl_uint nwait = (cl_uint)v[6];
	const cl_event *wait = (const cl_event *)(uintptr_t)v[7];
	cl_event *event = (cl_event *)(uintptr_t)v[8];
	/* Always blocking: the spec overrides blocking_read. */
	if (ptr != NULL && ava_marshal_stream_out(ptr))
		return (uint64_t)(int64_t)streamed(false, q, buf, offset, size,
						   nwait, wait, event);
	return (uint64_t)(int64_t)clEnqueueReadBuffer(q, buf, (cl_bool)v[2],
		offset, size, ptr, nwait, wait, event);
}

/* ---- non-blocking writes ------------------------------------------------ */

static void CL_CALLBACK
free_staged(cl_event ev, cl_int status, void *data)
{
	free(data);
}

/* A streamed write's bytes, all of them, into storage of their own. */
static cl_int
take_all(void *copy, size_t size)
{
	size_t done = 0;
	while (done < size) {
		const void *at;
		int r = ava_marshal_stream_take(true, &at);
		if (r <= 0)
			return CL_OUT_OF_RESOURCES;   /* the guest is gone */
		memcpy((uint8_t *)copy + done, at, (size_t)r);
		ava_marshal_stream_release((size_t)r);
		done += (size_t)r;
	}
	return CL_SUCCESS;
}

/*
 * A non-blocking write must not wait for its wait list (it may name a
 * user event the same guest thread completes later), so the bytes, which
 * live in the receive buffer only for the call, are staged in a copy that
 * the command's completion frees. A blocking write needs no copy; over
 * shm: a large one streams (above).
 */
uint64_t
ava_opencl_server_hook_clEnqueueWriteBuffer(const uint64_t *v,
					    struct ava_server_ctx *ctx)
{
	cl_command_queue q = (cl_command_queue)(uintptr_t)v[0];
	cl_mem buf = (cl_mem)(uintptr_t)v[1];
	cl_bool blocking = (cl_bool)v[2];
	size_t offset = (size_t)v[3], size = (size_t)v[4];
	const void *ptr = (const void *)(uintptr_t)v[5];
	cl_uint nwait = (cl_uint)v[6];
	const cl_event *wait = (const cl_event *)(uintptr_t)v[7];
	cl_event *event = (cl_event *)(uintptr_t)v[8];
	bool stream = ptr != NULL && ava_marshal_stream_in(ptr, size);
	if (blocking && stream)
		return (uint64_t)(int64_t)streamed(true, q, buf, offset, size,
						   nwait, wait, event);
	if ((blocking || ptr == NULL || size == 0) && !stream)
		return (uint64_t)(int64_t)clEnqueueWriteBuffer(q, buf, blocking,
			offset, size, ptr, nwait, wait, event);
	ava_cl_late_sweep();
	void *copy = malloc(size);
	if (copy == NULL)
		return (uint64_t)(int64_t)CL_OUT_OF_HOST_MEMORY;
	cl_int err = stream ? take_all(copy, size) : CL_SUCCESS;
	if (!stream)
		memcpy(copy, ptr, size);
	cl_event ev;
	if (err == CL_SUCCESS)
		err = clEnqueueWriteBuffer(q, buf, CL_FALSE, offset, size, copy,
					   nwait, wait, &ev);
	if (err != CL_SUCCESS) {
		free(copy);
		return (uint64_t)(int64_t)err;
	}
	/* CL_COMPLETE callbacks also run when the command fails. Refused,
	 * the copy is freed by a later write once the command is over. */
	if (clSetEventCallback(ev, CL_COMPLETE, free_staged, copy) != CL_SUCCESS)
		ava_cl_late_add(ev, free, copy);
	if (event != NULL)
		*event = ev;
	else
		clReleaseEvent(ev);
	return (uint64_t)(int64_t)CL_SUCCESS;
}
