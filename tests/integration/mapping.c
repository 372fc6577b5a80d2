/*
 * mapping.c - mapping buffers, and rectangular transfers.
 *
 * Rectangular reads and writes, mapping for reading and for writing (an
 * ALLOC_HOST_PTR buffer), and mapping a USE_HOST_PTR buffer, which must
 * give back the application's own pointer. A remoting layer has to move
 * the bytes of a mapped region both ways at the right moments; each step is
 * checked against the host's own copy.
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
rect(cl_context ctx, cl_command_queue q)
{
	unsigned char host[N], got[N];
	cl_int err;

	pattern(host, N, 1);
	cl_mem a = clCreateBuffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
				  N, host, &err);
	itest_status("clCreateBuffer(a)", err);
	if (a == NULL)
		exit(99);
	/* A 16 x 8 box out of a 64-byte-pitch image of the buffer. */
	size_t origin[3] = { 8, 4, 0 }, hostorg[3] = { 0, 0, 0 };
	size_t region[3] = { 16, 8, 1 };
	unsigned char box[16 * 8] = { 0 }, boxwant[16 * 8];
	itest_status("clEnqueueReadBufferRect",
		     clEnqueueReadBufferRect(q, a, CL_TRUE, origin, hostorg,
					     region, 64, 0, 16, 0, box, 0,
					     NULL, NULL));
	for (size_t y = 0; y < 8; y++)
		memcpy(boxwant + y * 16, host + (4 + y) * 64 + 8, 16);
	report("read rect", box, boxwant, sizeof(box));

	unsigned char ones[16 * 8];
	memset(ones, 0xee, sizeof(ones));
	itest_status("clEnqueueWriteBufferRect",
		     clEnqueueWriteBufferRect(q, a, CL_TRUE, origin, hostorg,
					      region, 64, 0, 16, 0, ones, 0,
					      NULL, NULL));
	for (size_t y = 0; y < 8; y++)
		memset(host + (4 + y) * 64 + 8, 0xee, 16);
	memset(got, 0, N);
	itest_status("clEnqueueReadBuffer(a)",
		     clEnqueueReadBuffer(q, a, CL_TRUE, 0, N, got, 0, NULL,
					 NULL));
	report("write rect", got, host, N);
	clReleaseMemObject(a);
}

static void
mapping(cl_context ctx, cl_command_queue q, cl_kernel inc)
{
	unsigned char host[N], got[N];
	cl_int err;
	cl_mem m = clCreateBuffer(ctx,
				  CL_MEM_READ_WRITE | CL_MEM_ALLOC_HOST_PTR, N,
				  NULL, &err);
	itest_status("clCreateBuffer(ALLOC_HOST_PTR)", err);
	if (m == NULL)
		exit(99);
	pattern(host, N, 7);
	itest_status("clEnqueueWriteBuffer",
		     clEnqueueWriteBuffer(q, m, CL_TRUE, 0, N, host, 0, NULL,
					  NULL));

	unsigned char *p = clEnqueueMapBuffer(q, m, CL_TRUE, CL_MAP_READ, 256,
					      512, 0, NULL, NULL, &err);
	itest_status("clEnqueueMapBuffer(READ, 256..768)", err);
	if (p != NULL) {
		report("mapped for reading", p, host + 256, 512);
		itest_status("clEnqueueUnmapMemObject",
			     clEnqueueUnmapMemObject(q, m, p, 0, NULL, NULL));
	}
	p = clEnqueueMapBuffer(q, m, CL_TRUE, CL_MAP_WRITE, 1024, 64, 0, NULL,
			       NULL, &err);
	itest_status("clEnqueueMapBuffer(WRITE, 1024..1088)", err);
	if (p != NULL) {
		memset(p, 0x11, 64);
		memset(host + 1024, 0x11, 64);
		itest_status("clEnqueueUnmapMemObject",
			     clEnqueueUnmapMemObject(q, m, p, 0, NULL, NULL));
	}
	cl_uint count = 99;
	err = clGetMemObjectInfo(m, CL_MEM_MAP_COUNT, sizeof(count), &count,
				 NULL);
	printf("CL_MEM_MAP_COUNT after unmaps: %s\n", itest_err_name(err));
	/* The kernel must see what was written through the mapping. */
	size_t n = N;
	itest_status("clSetKernelArg", clSetKernelArg(inc, 0, sizeof(m), &m));
	itest_status("clEnqueueNDRangeKernel(inc)",
		     clEnqueueNDRangeKernel(q, inc, 1, NULL, &n, NULL, 0, NULL,
					    NULL));
	for (size_t i = 0; i < N; i++)
		host[i]++;
	memset(got, 0, N);
	itest_status("clEnqueueReadBuffer",
		     clEnqueueReadBuffer(q, m, CL_TRUE, 0, N, got, 0, NULL,
					 NULL));
	report("map write then kernel", got, host, N);
	clReleaseMemObject(m);
}

static void
map_use_host_ptr(cl_context ctx, cl_command_queue q, cl_kernel inc)
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
	size_t n = N;
	itest_status("clSetKernelArg", clSetKernelArg(inc, 0, sizeof(m), &m));
	itest_status("clEnqueueNDRangeKernel(inc)",
		     clEnqueueNDRangeKernel(q, inc, 1, NULL, &n, NULL, 0, NULL,
					    NULL));
	for (size_t i = 0; i < N; i++)
		want[i]++;
	/* Mapping is the defined way to make the host copy current. */
	unsigned char *p = clEnqueueMapBuffer(q, m, CL_TRUE, CL_MAP_READ, 0, N,
					      0, NULL, NULL, &err);
	itest_status("clEnqueueMapBuffer(USE_HOST_PTR)", err);
	if (p != NULL) {
		printf("mapped pointer: %s\n",
		       p == mine ? "the application's pointer" :
		       "ANOTHER POINTER");
		report("USE_HOST_PTR after kernel, mapped", p, want, N);
		report("USE_HOST_PTR after kernel, host memory", mine, want, N);
		itest_status("clEnqueueUnmapMemObject",
			     clEnqueueUnmapMemObject(q, m, p, 0, NULL, NULL));
	}
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
	rect(ctx, q);
	mapping(ctx, q, inc);
	map_use_host_ptr(ctx, q, inc);
	clReleaseKernel(inc);
	clReleaseProgram(prog);
	clReleaseCommandQueue(q);
	clReleaseContext(ctx);
	return itest_exit_code();
}
