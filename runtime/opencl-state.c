/*
 * opencl-state.c - what checkpoint and restore need to know of OpenCL
 * that the spec does not say (session-state.h, struct ava_state_ops):
 * which calls are commands, how to drain a queue, and how to read and
 * write a memory object's contents.
 *
 * Contents go through a private queue per call on the object's own
 * context and its first device, so the application's queues see no extra
 * commands. Images are read and written whole, by region.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ava-error.h"
#include "opencl-server-private.h"
#include "session-state.h"
#include "wire.h"

/* A command: it takes a queue and hands out an event. */
static bool
is_command(const struct ava_fn_desc *fn)
{
	bool queue = false, event = false;
	for (unsigned i = 0; i < fn->nargs; i++) {
		const struct ava_arg_desc *a = &fn->args[i];
		if (a->kind == AVA_ARG_HANDLE &&
		    strcmp(a->type, "cl_command_queue") == 0)
			queue = true;
		if (a->kind == AVA_ARG_OUT_HANDLE &&
		    (a->flags & AVA_ARGF_CREATES) &&
		    strcmp(a->type, "cl_event *") == 0)
			event = true;
	}
	return queue && event;
}

static int
cl_fail(cl_int err, char *why, size_t nwhy, const char *what)
{
	snprintf(why, nwhy, "%s failed (OpenCL error %d)", what, (int)err);
	return AVA_EDEAD;
}

/* A marker per queue, waited for with a deadline: clFinish could wait
 * forever on a command gated by a user event nobody will set. */
static int
quiesce(const uint64_t *reals, size_t n, int timeout_ms, char *why,
	size_t nwhy)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < n; i++) {
		cl_command_queue q = (cl_command_queue)(uintptr_t)reals[i];
		cl_event ev;
		cl_int err = clEnqueueMarkerWithWaitList(q, 0, NULL, &ev);
		if (err != CL_SUCCESS)
			return cl_fail(err, why, nwhy, "draining a queue");
		clFlush(q);
		cl_int st = CL_QUEUED;
		for (;;) {
			err = clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS,
					     sizeof(st), &st, NULL);
			if (err != CL_SUCCESS || st <= CL_COMPLETE)
				break;
			if (ava_ms_since(&t0) > timeout_ms) {
				clReleaseEvent(ev);
				snprintf(why, nwhy, "a device queue did not "
					 "drain within %d ms (a command waits "
					 "on a user event?)", timeout_ms);
				return -ETIMEDOUT;
			}
			struct timespec nap = { 0, 200000 };
			nanosleep(&nap, NULL);
		}
		clReleaseEvent(ev);
		if (err != CL_SUCCESS)
			return cl_fail(err, why, nwhy, "draining a queue");
	}
	return 0;
}

static int
mem_info(cl_mem m, cl_mem_object_type *type, size_t *size, cl_mem *parent)
{
	cl_int err = clGetMemObjectInfo(m, CL_MEM_TYPE, sizeof(*type), type,
					NULL);
	if (err == CL_SUCCESS)
		err = clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof(*size), size,
					 NULL);
	if (err == CL_SUCCESS)
		err = clGetMemObjectInfo(m, CL_MEM_ASSOCIATED_MEMOBJECT,
					 sizeof(*parent), parent, NULL);
	return err;
}

static int
state_size(uint64_t real, uint64_t *size, char *why, size_t nwhy)
{
	cl_mem m = (cl_mem)(uintptr_t)real;
	cl_mem_object_type type;
	size_t n;
	cl_mem parent;
	cl_int err = mem_info(m, &type, &n, &parent);
	if (err != CL_SUCCESS)
		return cl_fail(err, why, nwhy, "clGetMemObjectInfo");
	/* A sub-buffer's bytes are its parent's; a pipe's packets cannot be
	 * read from the host. */
	if (parent != NULL || type == CL_MEM_OBJECT_PIPE)
		n = 0;
	*size = n;
	return 0;
}

/*
 * A queue on m's context and first device. One is kept for the context
 * of the last transfer, since a capture moves its contents in many
 * chunks; state_done() lets it go, so that the application's release of
 * the context is not held up past the capture or the restore.
 */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cl_context cache_ctx;
static cl_command_queue cache_q;

static cl_command_queue
private_queue(cl_mem m, cl_int *err)
{
	cl_context ctx;
	cl_device_id dev;
	*err = clGetMemObjectInfo(m, CL_MEM_CONTEXT, sizeof(ctx), &ctx, NULL);
	if (*err != CL_SUCCESS)
		return NULL;
	pthread_mutex_lock(&cache_lock);
	if (cache_q != NULL && cache_ctx == ctx) {
		cl_command_queue q = cache_q;
		clRetainCommandQueue(q);
		pthread_mutex_unlock(&cache_lock);
		return q;
	}
	pthread_mutex_unlock(&cache_lock);
	*err = clGetContextInfo(ctx, CL_CONTEXT_DEVICES, sizeof(dev), &dev,
				NULL);
	if (*err != CL_SUCCESS)
		return NULL;
	cl_command_queue q = clCreateCommandQueueWithProperties(ctx, dev, NULL,
								 err);
	if (q == NULL)
		return NULL;
	pthread_mutex_lock(&cache_lock);
	if (cache_q != NULL)
		clReleaseCommandQueue(cache_q);
	cache_ctx = ctx;
	cache_q = q;
	clRetainCommandQueue(q);
	pthread_mutex_unlock(&cache_lock);
	return q;
}

static void
state_done(void)
{
	pthread_mutex_lock(&cache_lock);
	if (cache_q != NULL)
		clReleaseCommandQueue(cache_q);
	cache_q = NULL;
	cache_ctx = NULL;
	pthread_mutex_unlock(&cache_lock);
}

/* An image's whole region, and the bytes one element takes. */
static cl_int
image_region(cl_mem m, size_t region[3], size_t *elem)
{
	size_t w = 0, h = 0, d = 0, a = 0;
	cl_mem_object_type type;
	cl_int err = clGetMemObjectInfo(m, CL_MEM_TYPE, sizeof(type), &type,
					NULL);
	if (err == CL_SUCCESS)
		err = clGetImageInfo(m, CL_IMAGE_WIDTH, sizeof(w), &w, NULL);
	if (err == CL_SUCCESS)
		err = clGetImageInfo(m, CL_IMAGE_HEIGHT, sizeof(h), &h, NULL);
	if (err == CL_SUCCESS)
		err = clGetImageInfo(m, CL_IMAGE_DEPTH, sizeof(d), &d, NULL);
	if (err == CL_SUCCESS)
		err = clGetImageInfo(m, CL_IMAGE_ARRAY_SIZE, sizeof(a), &a,
				     NULL);
	if (err == CL_SUCCESS)
		err = clGetImageInfo(m, CL_IMAGE_ELEMENT_SIZE, sizeof(*elem),
				     elem, NULL);
	region[0] = w;
	region[1] = h ? h : 1;
	region[2] = d ? d : 1;
	if (type == CL_MEM_OBJECT_IMAGE1D_ARRAY)
		region[1] = a;
	else if (type == CL_MEM_OBJECT_IMAGE2D_ARRAY)
		region[2] = a;
	return err;
}

/* Move n bytes at offset between p and m: a buffer by range; an image
 * only whole (the checkpoint's chunks are then whole images). */
static int
transfer(uint64_t real, uint64_t offset, void *p, size_t n, bool write,
	 char *why, size_t nwhy)
{
	cl_mem m = (cl_mem)(uintptr_t)real;
	cl_mem_object_type type;
	cl_int err = clGetMemObjectInfo(m, CL_MEM_TYPE, sizeof(type), &type,
					NULL);
	if (err != CL_SUCCESS)
		return cl_fail(err, why, nwhy, "clGetMemObjectInfo");
	cl_command_queue q = private_queue(m, &err);
	if (q == NULL)
		return cl_fail(err, why, nwhy, "a queue for the contents");
	if (type == CL_MEM_OBJECT_BUFFER) {
		err = write ? clEnqueueWriteBuffer(q, m, CL_TRUE, offset, n, p,
						   0, NULL, NULL)
			    : clEnqueueReadBuffer(q, m, CL_TRUE, offset, n, p,
						  0, NULL, NULL);
	} else {
		size_t origin[3] = { 0, 0, 0 }, region[3], elem;
		err = image_region(m, region, &elem);
		if (err == CL_SUCCESS && (offset != 0 ||
		    n != region[0] * region[1] * region[2] * elem)) {
			clReleaseCommandQueue(q);
			snprintf(why, nwhy, "an image's contents must move "
				 "whole (%zu bytes at %" PRIu64 ")", n, offset);
			return AVA_ENOTSUP;
		}
		if (err == CL_SUCCESS)
			err = write ? clEnqueueWriteImage(q, m, CL_TRUE, origin,
							  region, 0, 0, p, 0,
							  NULL, NULL)
				    : clEnqueueReadImage(q, m, CL_TRUE, origin,
							 region, 0, 0, p, 0,
							 NULL, NULL);
	}
	clReleaseCommandQueue(q);
	if (err != CL_SUCCESS)
		return cl_fail(err, why, nwhy, write ? "writing the contents"
						     : "reading the contents");
	return 0;
}

static int
state_read(uint64_t real, uint64_t offset, void *p, size_t n, char *why,
	   size_t nwhy)
{
	return transfer(real, offset, p, n, false, why, nwhy);
}

static int
state_write(uint64_t real, uint64_t offset, const void *p, size_t n,
	    char *why, size_t nwhy)
{
	return transfer(real, offset, (void *)p, n, true, why, nwhy);
}

static uint16_t context_type;

static int
event_parent(uint64_t real, uint64_t *parent, uint16_t *type, char *why,
	     size_t nwhy)
{
	cl_context ctx;
	cl_int err = clGetEventInfo((cl_event)(uintptr_t)real,
				    CL_EVENT_CONTEXT, sizeof(ctx), &ctx, NULL);
	if (err != CL_SUCCESS)
		return cl_fail(err, why, nwhy, "clGetEventInfo");
	*parent = (uintptr_t)ctx;
	*type = context_type;
	return 0;
}

/* A command's event comes back as a user event, already complete: the
 * command ran before the checkpoint. */
static int
event_make(uint64_t parent, uint64_t *real, char *why, size_t nwhy)
{
	cl_int err;
	cl_event ev = clCreateUserEvent((cl_context)(uintptr_t)parent, &err);
	if (ev == NULL)
		return cl_fail(err, why, nwhy, "clCreateUserEvent");
	err = clSetUserEventStatus(ev, CL_COMPLETE);
	if (err != CL_SUCCESS) {
		clReleaseEvent(ev);
		return cl_fail(err, why, nwhy, "clSetUserEventStatus");
	}
	*real = (uintptr_t)ev;
	return 0;
}

static struct ava_state_ops ops = {
	.is_command = is_command,
	.quiesce = quiesce,
	.state_size = state_size,
	.state_read = state_read,
	.state_write = state_write,
	.state_done = state_done,
	.event_parent = event_parent,
	.event_make = event_make,
};

static uint16_t
handle_type(const struct ava_api_desc *api, const char *name)
{
	for (uint16_t t = 1; t < api->nhandles; t++)
		if (strcmp(api->handles[t].name, name) == 0)
			return t;
	return 0;
}

const struct ava_state_ops *
ava_opencl_state_ops(const struct ava_api_desc *api)
{
	ops.queue_type = handle_type(api, "cl_command_queue");
	ops.event_type = handle_type(api, "cl_event");
	context_type = handle_type(api, "cl_context");
	return &ops;
}
