/*
 * buffers.c - buffer traffic beyond plain read and write.
 *
 * Fill, copy (and the overlap error), and a buffer over the application's
 * own memory (USE_HOST_PTR): the implementation may use that memory as the
 * buffer's storage for the buffer's whole life, so a remoting layer must
 * keep a copy alive on its side for as long. Each step is checked against
 * the host's own copy. Mapping and rectangular transfers are in mapping.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

#define N 4096 /* bytes in each buffer */

static const char *src =
	"__kernel void inc(__global uchar *p)\n"
	"{\n"
	"    p[get_global_id(0)] += 1;\n"
	"}\n";

static void
pattern(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 131u + seed);
}

static void
report(const char *what, const unsigned char *got, const unsigned char *want,
       size_t n)
{
	printf("%s digest %016" PRIx64 "\n", what, itest_digest(got, n));
	itest_check(what, memcmp(got, want, n) == 0);
}

static void
copy_and_fill(cl_context ctx, cl_command_queue q)
{
	unsigned char host[N], want[N], got[N];
	cl_int err;
	cl_mem a = clCreateBuffer(ctx, CL_MEM_READ_WRITE, N, NULL, &err);
	itest_status("clCreateBuffer(a)", err);
	cl_mem b = clCreateBuffer(ctx, CL_MEM_READ_WRITE, N, NULL, &err);
	itest_status("clCreateBuffer(b)", err);
	if (a == NULL || b == NULL)
		exit(99);

	pattern(host, N, 1);
	itest_status("clEnqueueWriteBuffer(a)",
		     clEnqueueWriteBuffer(q, a, CL_TRUE, 0, N, host, 0, NULL,
					  NULL));
	cl_uint fill = 0xa5c3e1f7u;
	itest_status("clEnqueueFillBuffer(b, 4-byte pattern)",
		     clEnqueueFillBuffer(q, b, &fill, sizeof(fill), 0, N, 0,
					 NULL, NULL));
	itest_status("clEnqueueCopyBuffer(a[100..1100) -> b[2000..))",
		     clEnqueueCopyBuffer(q, a, b, 100, 2000, 1000, 0, NULL,
					 NULL));
	itest_status("clEnqueueCopyBuffer(overlap)",
		     clEnqueueCopyBuffer(q, a, a, 0, 10, 100, 0, NULL, NULL));
	memset(got, 0, N);
	itest_status("clEnqueueReadBuffer(b)",
		     clEnqueueReadBuffer(q, b, CL_TRUE, 0, N, got, 0, NULL,
					 NULL));
	for (size_t i = 0; i < N; i += 4)
		memcpy(want + i, &fill, 4);
	memcpy(want + 2000, host + 100, 1000);
	report("fill + copy", got, want, N);

	clReleaseMemObject(a);
	clReleaseMemObject(b);
}

static void
use_host_ptr(cl_context ctx, cl_command_queue q, cl_kernel inc)
{
	static unsigned char mine[N], want[N];
	cl_int err;

	pattern(mine, N, 3);
	memcpy(want, mine, N);
	cl_mem m = clCreateBuffer(ctx, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR,
				  N, mine, &err);
	itest_status("clCreateBuffer(USE_HOST_PTR)", err);
	if (m == NULL)
		return;
	void *hp = NULL;
	err = clGetMemObjectInfo(m, CL_MEM_HOST_PTR, sizeof(hp), &hp, NULL);
	printf("CL_MEM_HOST_PTR: %s %s\n", itest_err_name(err),
	       hp == mine ? "the application's pointer" : "ANOTHER POINTER");
	size_t n = N;
	itest_status("clSetKernelArg", clSetKernelArg(inc, 0, sizeof(m), &m));
	itest_status("clEnqueueNDRangeKernel(inc)",
		     clEnqueueNDRangeKernel(q, inc, 1, NULL, &n, NULL, 0, NULL,
					    NULL));
	for (size_t i = 0; i < N; i++)
		want[i]++;
	/* Other buffers come and go in between: the host memory under this
	 * one must stay the application's. */
	for (int i = 0; i < 8; i++) {
		unsigned char junk[N];
		memset(junk, i, N);
		cl_mem t = clCreateBuffer(ctx, CL_MEM_COPY_HOST_PTR, N, junk,
					  &err);
		if (t != NULL)
			clReleaseMemObject(t);
	}
	unsigned char got[N];
	memset(got, 0, N);
	itest_status("clEnqueueReadBuffer(USE_HOST_PTR)",
		     clEnqueueReadBuffer(q, m, CL_TRUE, 0, N, got, 0, NULL,
					 NULL));
	report("USE_HOST_PTR after kernel, read back", got, want, N);
	itest_status("clFinish", clFinish(q));
	clReleaseMemObject(m);
}

int
main(void)
{
	cl_platform_id platform;
	cl_device_id d;
	cl_int err;
	cl_context ctx;
	cl_command_queue q;
	if (!itest_open(&platform, &d, &ctx, &q))
		return 99;
	cl_program prog = itest_build(ctx, d, src, "");
	if (prog == NULL)
		return 99;
	cl_kernel inc = clCreateKernel(prog, "inc", &err);
	if (itest_status("clCreateKernel(inc)", err) != CL_SUCCESS)
		return 99;
	copy_and_fill(ctx, q);
	use_host_ptr(ctx, q, inc);
	clReleaseKernel(inc);
	clReleaseProgram(prog);
	clReleaseCommandQueue(q);
	clReleaseContext(ctx);
	return itest_exit_code();
}
