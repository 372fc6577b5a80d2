/*
 * conformance-ext.c - extension entry points for the conformance-style
 * suite (see conformance.h): those reached through
 * clGetExtensionFunctionAddressForPlatform that ava forwards, today
 * cl_khr_command_buffer. An extension the device does not advertise is
 * reported and skipped.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"

#include <CL/cl_ext.h>

/* The entry points, looked up by name as an application does. */
struct cb_fns {
	clCreateCommandBufferKHR_fn create;
	clFinalizeCommandBufferKHR_fn finalize;
	clRetainCommandBufferKHR_fn retain;
	clReleaseCommandBufferKHR_fn release;
	clEnqueueCommandBufferKHR_fn enqueue;
	clCommandBarrierWithWaitListKHR_fn barrier;
	clCommandCopyBufferKHR_fn copy;
	clCommandCopyBufferRectKHR_fn copy_rect;
	clCommandFillBufferKHR_fn fill;
	clCommandNDRangeKernelKHR_fn ndrange;
	clGetCommandBufferInfoKHR_fn info;
};

static bool
advertised(struct env *e, const char *ext)
{
	size_t n = 0;
	if (clGetDeviceInfo(e->device, CL_DEVICE_EXTENSIONS, 0, NULL, &n) !=
	    CL_SUCCESS)
		return false;
	char *s = calloc(1, n + 1);
	if (s == NULL)
		exit(99);
	clGetDeviceInfo(e->device, CL_DEVICE_EXTENSIONS, n, s, NULL);
	bool yes = strstr(s, ext) != NULL;
	free(s);
	return yes;
}

static void *
address(struct env *e, const char *name, int *missing)
{
	void *p = clGetExtensionFunctionAddressForPlatform(e->platform, name);
	if (p == NULL) {
		printf("address of %s: NULL\n", name);
		(*missing)++;
	}
	return p;
}

static bool
lookup(struct env *e, struct cb_fns *f)
{
	int missing = 0;
#define GET(field, name) f->field = (name##_fn)address(e, #name, &missing)
	GET(create, clCreateCommandBufferKHR);
	GET(finalize, clFinalizeCommandBufferKHR);
	GET(retain, clRetainCommandBufferKHR);
	GET(release, clReleaseCommandBufferKHR);
	GET(enqueue, clEnqueueCommandBufferKHR);
	GET(barrier, clCommandBarrierWithWaitListKHR);
	GET(copy, clCommandCopyBufferKHR);
	GET(copy_rect, clCommandCopyBufferRectKHR);
	GET(fill, clCommandFillBufferKHR);
	GET(ndrange, clCommandNDRangeKernelKHR);
	GET(info, clGetCommandBufferInfoKHR);
#undef GET
	printf("cl_khr_command_buffer entry points: %d missing\n", missing);
	return missing == 0;
}

static void
buffer_info(const struct cb_fns *f, cl_command_buffer_khr cb)
{
	cl_command_buffer_state_khr st = 99;
	cl_int err = f->info(cb, CL_COMMAND_BUFFER_STATE_KHR, sizeof(st), &st,
			     NULL);
	print_u64("CL_COMMAND_BUFFER_STATE_KHR", err, st);
	cl_uint n = 0;
	err = f->info(cb, CL_COMMAND_BUFFER_NUM_QUEUES_KHR, sizeof(n), &n, NULL);
	print_u64("CL_COMMAND_BUFFER_NUM_QUEUES_KHR", err, n);
	/* CL_COMMAND_BUFFER_QUEUES_KHR is forwarded (a handle answer), but
	 * PoCL 3.1 answers it with a pointer that is no queue: not asked. */
	itest_status("clGetCommandBufferInfoKHR(bogus)",
		     f->info(cb, 0x4242, sizeof(n), &n, NULL));
}

/* Record: kernel, then copy a -> b after it, fill, rect copy, barrier. */
static cl_int
record(const struct cb_fns *f, struct env *e, cl_command_buffer_khr cb,
       cl_kernel k, cl_mem a, cl_mem b)
{
	size_t g = 64;
	cl_sync_point_khr s1 = 0, s2 = 0, s3 = 0;
	cl_int err = f->ndrange(cb, NULL, NULL, k, 1, NULL, &g, NULL, 0, NULL,
				&s1, NULL);
	itest_status("clCommandNDRangeKernelKHR", err);
	itest_status("clCommandCopyBufferKHR",
		     f->copy(cb, NULL, a, b, 0, 0, 64, 1, &s1, &s2, NULL));
	cl_uchar pat = 0x5a;
	itest_status("clCommandFillBufferKHR",
		     f->fill(cb, NULL, b, &pat, 1, 64, 64, 1, &s2, &s3, NULL));
	size_t o[3] = { 0, 0, 0 }, d[3] = { 128, 0, 0 }, r[3] = { 16, 2, 1 };
	itest_status("clCommandCopyBufferRectKHR",
		     f->copy_rect(cb, NULL, a, b, o, d, r, 16, 32, 16, 32, 1,
				  &s3, NULL, NULL));
	itest_status("clCommandBarrierWithWaitListKHR",
		     f->barrier(cb, NULL, 0, NULL, NULL, NULL));
	cl_sync_point_khr bad = 999;
	itest_status("clCommandCopyBufferKHR(bad sync point)",
		     f->copy(cb, NULL, a, b, 0, 0, 8, 1, &bad, NULL, NULL));
	return err;
}

void
conformance_extensions(struct env *e)
{
	if (!advertised(e, "cl_khr_command_buffer")) {
		printf("cl_khr_command_buffer: not advertised\n");
		return;
	}
	struct cb_fns f;
	if (!lookup(e, &f))
		return;
	cl_int err;
	cl_command_buffer_khr cb = f.create(1, &e->q, NULL, &err);
	itest_status("clCreateCommandBufferKHR", err);
	f.create(0, NULL, NULL, &err);
	itest_status("clCreateCommandBufferKHR(no queue)", err);
	if (cb == NULL)
		return;
	cl_kernel k = clCreateKernel(e->prog, "inc", &err);
	unsigned char host[256];
	for (size_t i = 0; i < sizeof(host); i++)
		host[i] = (unsigned char)i;
	cl_mem a = clCreateBuffer(e->ctx, CL_MEM_COPY_HOST_PTR, sizeof(host),
				  host, &err);
	unsigned char zero[256] = { 0 };
	cl_mem b = clCreateBuffer(e->ctx, CL_MEM_COPY_HOST_PTR, sizeof(zero),
				  zero, &err);
	clSetKernelArg(k, 0, sizeof(a), &a);
	record(&f, e, cb, k, a, b);
	itest_status("clEnqueueCommandBufferKHR(not finalized)",
		     f.enqueue(0, NULL, cb, 0, NULL, NULL));
	buffer_info(&f, cb);
	itest_status("clFinalizeCommandBufferKHR", f.finalize(cb));
	itest_status("clFinalizeCommandBufferKHR(again)", f.finalize(cb));
	itest_status("clCommandBarrierWithWaitListKHR(finalized)",
		     f.barrier(cb, NULL, 0, NULL, NULL, NULL));
	buffer_info(&f, cb);
	cl_event ev = NULL;
	for (int i = 0; i < 3; i++) {
		err = f.enqueue(0, NULL, cb, 0, NULL, i == 2 ? &ev : NULL);
		itest_status("clEnqueueCommandBufferKHR", err);
		clFinish(e->q);
	}
	cl_command_type t = 0;
	err = clGetEventInfo(ev, CL_EVENT_COMMAND_TYPE, sizeof(t), &t, NULL);
	printf("command buffer event type: %s %#x\n", itest_err_name(err),
	       (unsigned)t);
	clReleaseEvent(ev);
	unsigned char got[256];
	clEnqueueReadBuffer(e->q, b, CL_TRUE, 0, sizeof(got), got, 0, NULL,
			    NULL);
	printf("command buffer result digest %016" PRIx64 "\n",
	       itest_digest(got, sizeof(got)));
	itest_check("kernel ran three times", got[10] == 13);
	itest_status("clRetainCommandBufferKHR", f.retain(cb));
	itest_status("clReleaseCommandBufferKHR", f.release(cb));
	itest_status("clReleaseCommandBufferKHR(last)", f.release(cb));
	clReleaseKernel(k);
	clReleaseMemObject(a);
	clReleaseMemObject(b);
}
