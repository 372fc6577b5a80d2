/*
 * vecadd.c - vector add and scaled add over several sizes.
 *
 * Exercises the common path: buffers written blocking and non-blocking
 * (the latter chained to the kernel through an event wait list, its
 * event a write's), scalar and handle kernel arguments, a global work
 * offset, and a blocking read.
 * Every result is checked against the host and printed as a digest.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

static const char *src =
	"__kernel void vadd(__global const uint *a, __global const uint *b,\n"
	"                   __global uint *c)\n"
	"{\n"
	"    size_t i = get_global_id(0);\n"
	"    c[i] = a[i] + b[i];\n"
	"}\n"
	"__kernel void saxpy(uint k, __global const uint *a,\n"
	"                    __global uint *c)\n"
	"{\n"
	"    size_t i = get_global_id(0);\n"
	"    c[i] = k * a[i] + c[i];\n"
	"}\n";

static void
fill(uint32_t *v, size_t n, uint32_t seed)
{
	/* A fixed LCG: the same inputs on every run and machine. */
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		v[i] = seed >> 8;
	}
}

struct env {
	cl_context ctx;
	cl_command_queue q;
	cl_kernel vadd, saxpy;
};

static cl_mem
make_buffer(struct env *e, cl_mem_flags flags, size_t bytes, const char *tag)
{
	cl_int err;
	cl_mem m = clCreateBuffer(e->ctx, flags, bytes, NULL, &err);
	char what[64];

	snprintf(what, sizeof(what), "%s clCreateBuffer", tag);
	itest_status(what, err);
	return m;
}

/* c = a + b, then c = k*a + c over [off, n), checked on the host. */
static void
run_size(struct env *e, size_t n)
{
	size_t bytes = n * sizeof(uint32_t);
	uint32_t *a = malloc(bytes), *b = malloc(bytes), *c = malloc(bytes);
	char tag[32];
	cl_int err;

	if (a == NULL || b == NULL || c == NULL) {
		fprintf(stderr, "out of host memory\n");
		exit(99);
	}
	snprintf(tag, sizeof(tag), "n=%zu", n);
	fill(a, n, (uint32_t)n);
	fill(b, n, (uint32_t)n * 7u + 1u);

	cl_mem ma = make_buffer(e, CL_MEM_READ_ONLY, bytes, tag);
	cl_mem mb = make_buffer(e, CL_MEM_READ_ONLY, bytes, tag);
	cl_mem mc = make_buffer(e, CL_MEM_READ_WRITE, bytes, tag);
	if (ma == NULL || mb == NULL || mc == NULL)
		exit(99);

	cl_event wev = NULL, kev = NULL;
	printf("%s clEnqueueWriteBuffer(a, blocking): %s\n", tag,
	       itest_err_name(clEnqueueWriteBuffer(e->q, ma, CL_TRUE, 0, bytes,
						   a, 0, NULL, NULL)));
	printf("%s clEnqueueWriteBuffer(b, non-blocking): %s\n", tag,
	       itest_err_name(clEnqueueWriteBuffer(e->q, mb, CL_FALSE, 0,
						   bytes, b, 0, NULL, &wev)));
	cl_command_type wtype = 0;
	if (wev != NULL)
		clGetEventInfo(wev, CL_EVENT_COMMAND_TYPE, sizeof(wtype), &wtype,
			       NULL);
	printf("%s its event's command: %s\n", tag,
	       wtype == CL_COMMAND_WRITE_BUFFER ? "CL_COMMAND_WRITE_BUFFER"
						: "another");
	printf("%s clSetKernelArg(vadd): %s %s %s\n", tag,
	       itest_err_name(clSetKernelArg(e->vadd, 0, sizeof(ma), &ma)),
	       itest_err_name(clSetKernelArg(e->vadd, 1, sizeof(mb), &mb)),
	       itest_err_name(clSetKernelArg(e->vadd, 2, sizeof(mc), &mc)));
	err = clEnqueueNDRangeKernel(e->q, e->vadd, 1, NULL, &n, NULL,
				     wev ? 1 : 0, wev ? &wev : NULL, &kev);
	printf("%s clEnqueueNDRangeKernel(vadd): %s\n", tag,
	       itest_err_name(err));
	err = kev ? clWaitForEvents(1, &kev) : CL_INVALID_EVENT;
	printf("%s clWaitForEvents(kernel): %s\n", tag, itest_err_name(err));
	cl_int st = 1;
	if (kev != NULL)
		clGetEventInfo(kev, CL_EVENT_COMMAND_EXECUTION_STATUS,
			       sizeof(st), &st, NULL);
	printf("%s kernel event status: %d\n", tag, (int)st);

	memset(c, 0, bytes);
	printf("%s clEnqueueReadBuffer: %s\n", tag,
	       itest_err_name(clEnqueueReadBuffer(e->q, mc, CL_TRUE, 0, bytes,
						  c, 0, NULL, NULL)));
	bool ok = true;
	for (size_t i = 0; i < n; i++)
		ok = ok && c[i] == a[i] + b[i];
	printf("%s vadd digest: %016" PRIx64 "\n", tag,
	       itest_digest(c, bytes));
	snprintf(tag + strlen(tag), sizeof(tag) - strlen(tag), " vadd");
	itest_check(tag, ok);
	*strrchr(tag, ' ') = '\0';

	/* saxpy over the upper half only, through a global work offset. */
	cl_uint k = 3;
	size_t off = n / 2, cnt = n - n / 2;
	printf("%s clSetKernelArg(saxpy): %s %s %s\n", tag,
	       itest_err_name(clSetKernelArg(e->saxpy, 0, sizeof(k), &k)),
	       itest_err_name(clSetKernelArg(e->saxpy, 1, sizeof(ma), &ma)),
	       itest_err_name(clSetKernelArg(e->saxpy, 2, sizeof(mc), &mc)));
	printf("%s clEnqueueNDRangeKernel(saxpy, offset %zu): %s\n", tag, off,
	       itest_err_name(clEnqueueNDRangeKernel(e->q, e->saxpy, 1, &off,
						     &cnt, NULL, 0, NULL,
						     NULL)));
	printf("%s clFinish: %s\n", tag, itest_err_name(clFinish(e->q)));
	uint32_t *d = malloc(bytes);
	if (d == NULL)
		exit(99);
	memset(d, 0, bytes);
	printf("%s clEnqueueReadBuffer: %s\n", tag,
	       itest_err_name(clEnqueueReadBuffer(e->q, mc, CL_TRUE, 0, bytes,
						  d, 0, NULL, NULL)));
	ok = true;
	for (size_t i = 0; i < n; i++)
		ok = ok && d[i] == (i < off ? c[i] : k * a[i] + c[i]);
	printf("%s saxpy digest: %016" PRIx64 "\n", tag,
	       itest_digest(d, bytes));
	snprintf(tag + strlen(tag), sizeof(tag) - strlen(tag), " saxpy");
	itest_check(tag, ok);

	if (wev != NULL)
		clReleaseEvent(wev);
	if (kev != NULL)
		clReleaseEvent(kev);
	printf("release: %s %s %s\n", itest_err_name(clReleaseMemObject(ma)),
	       itest_err_name(clReleaseMemObject(mb)),
	       itest_err_name(clReleaseMemObject(mc)));
	free(a);
	free(b);
	free(c);
	free(d);
}

int
main(void)
{
	cl_platform_id platform;
	cl_device_id device;
	struct env e;
	cl_int err;

	if (!itest_first_device(&platform, &device))
		return 99;
	e.ctx = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
	if (itest_status("clCreateContext", err) != CL_SUCCESS)
		return 99;
	e.q = clCreateCommandQueue(e.ctx, device, 0, &err);
	if (itest_status("clCreateCommandQueue", err) != CL_SUCCESS)
		return 99;
	cl_program prog = itest_build(e.ctx, device, src, "");
	if (prog == NULL)
		return 99;
	e.vadd = clCreateKernel(prog, "vadd", &err);
	itest_status("clCreateKernel(vadd)", err);
	e.saxpy = clCreateKernel(prog, "saxpy", &err);
	itest_status("clCreateKernel(saxpy)", err);
	if (e.vadd == NULL || e.saxpy == NULL)
		return 99;

	static const size_t sizes[] = { 1, 1000, 4096, 1u << 20 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		run_size(&e, sizes[i]);

	printf("release: %s %s %s %s %s\n",
	       itest_err_name(clReleaseKernel(e.vadd)),
	       itest_err_name(clReleaseKernel(e.saxpy)),
	       itest_err_name(clReleaseProgram(prog)),
	       itest_err_name(clReleaseCommandQueue(e.q)),
	       itest_err_name(clReleaseContext(e.ctx)));
	return itest_exit_code();
}
