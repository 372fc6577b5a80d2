/*
 * reduce.c - a two-pass sum reduction through __local scratch memory.
 *
 * The scratch space is a kernel argument set with a size and a NULL value,
 * the case a remoting layer must not mistake for a NULL buffer. The first
 * pass leaves one partial sum per work-group; the second pass reduces the
 * partials on the device again. Both passes are checked on the host.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

static const char *src =
	"__kernel void reduce(__global const uint *in, __global uint *out,\n"
	"                     __local uint *scratch, uint n)\n"
	"{\n"
	"    size_t gid = get_global_id(0), lid = get_local_id(0);\n"
	"    scratch[lid] = gid < n ? in[gid] : 0;\n"
	"    barrier(CLK_LOCAL_MEM_FENCE);\n"
	"    for (size_t s = get_local_size(0) / 2; s > 0; s >>= 1) {\n"
	"        if (lid < s)\n"
	"            scratch[lid] += scratch[lid + s];\n"
	"        barrier(CLK_LOCAL_MEM_FENCE);\n"
	"    }\n"
	"    if (lid == 0)\n"
	"        out[get_group_id(0)] = scratch[0];\n"
	"}\n";

static void
fill(uint32_t *v, size_t n)
{
	uint32_t x = 12345;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		v[i] = x & 0x7ff;
	}
}

/* One pass: in[0..n) -> out[0..groups). Returns the number of groups. */
static size_t
pass(cl_command_queue q, cl_kernel k, cl_mem in, cl_mem out, size_t n,
     size_t local, const char *tag)
{
	size_t groups = (n + local - 1) / local, global = groups * local;
	cl_uint n32 = (cl_uint)n;

	printf("%s clSetKernelArg: %s %s %s %s\n", tag,
	       itest_err_name(clSetKernelArg(k, 0, sizeof(in), &in)),
	       itest_err_name(clSetKernelArg(k, 1, sizeof(out), &out)),
	       itest_err_name(clSetKernelArg(k, 2, local * sizeof(cl_uint),
					     NULL)),
	       itest_err_name(clSetKernelArg(k, 3, sizeof(n32), &n32)));
	printf("%s clEnqueueNDRangeKernel(global %zu, local %zu): %s\n", tag,
	       global, local,
	       itest_err_name(clEnqueueNDRangeKernel(q, k, 1, NULL, &global,
						     &local, 0, NULL, NULL)));
	return groups;
}

int
main(void)
{
	cl_platform_id platform;
	cl_device_id device;
	cl_int err;
	cl_context ctx;
	cl_command_queue q;
	if (!itest_open(&platform, &device, &ctx, &q))
		return 99;
	cl_program prog = itest_build(ctx, device, src, "");
	if (prog == NULL)
		return 99;
	cl_kernel k = clCreateKernel(prog, "reduce", &err);
	if (itest_status("clCreateKernel(reduce)", err) != CL_SUCCESS)
		return 99;

	size_t wg = 0;
	err = clGetKernelWorkGroupInfo(k, device, CL_KERNEL_WORK_GROUP_SIZE,
				       sizeof(wg), &wg, NULL);
	printf("clGetKernelWorkGroupInfo(WORK_GROUP_SIZE): %s %zu\n",
	       itest_err_name(err), wg);
	size_t local = 64;
	while (local > wg && local > 1)
		local /= 2;

	/* The __local argument's misuses, before the real setting. */
	cl_uint dummy = 0;
	printf("clSetKernelArg(local, size 0, NULL): %s\n",
	       itest_err_name(clSetKernelArg(k, 2, 0, NULL)));
	printf("clSetKernelArg(local, value given): %s\n",
	       itest_err_name(clSetKernelArg(k, 2, sizeof(dummy), &dummy)));

	const size_t n = 1000003;
	uint32_t *in = malloc(n * sizeof(uint32_t));
	uint32_t *part = calloc(n, sizeof(uint32_t));
	if (in == NULL || part == NULL)
		return 99;
	fill(in, n);
	uint64_t want = 0;
	for (size_t i = 0; i < n; i++)
		want += in[i];

	cl_mem min = clCreateBuffer(ctx,
				    CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
				    n * sizeof(uint32_t), in, &err);
	itest_status("clCreateBuffer(in, COPY_HOST_PTR)", err);
	size_t g1 = (n + local - 1) / local;
	cl_mem mp = clCreateBuffer(ctx, CL_MEM_READ_WRITE,
				   g1 * sizeof(uint32_t), NULL, &err);
	itest_status("clCreateBuffer(partials)", err);
	cl_mem mt = clCreateBuffer(ctx, CL_MEM_READ_WRITE,
				   g1 * sizeof(uint32_t), NULL, &err);
	itest_status("clCreateBuffer(totals)", err);
	if (min == NULL || mp == NULL || mt == NULL)
		return 99;

	size_t groups = pass(q, k, min, mp, n, local, "pass 1");
	size_t lmem = 0;
	err = clGetKernelWorkGroupInfo(k, device, CL_KERNEL_LOCAL_MEM_SIZE,
				       sizeof(lmem), &lmem, NULL);
	printf("clGetKernelWorkGroupInfo(LOCAL_MEM_SIZE): %s %s\n",
	       itest_err_name(err), lmem >= local * sizeof(cl_uint) ?
	       "covers scratch" : "too small");
	printf("clEnqueueReadBuffer(partials): %s\n",
	       itest_err_name(clEnqueueReadBuffer(q, mp, CL_TRUE, 0,
						  groups * sizeof(uint32_t),
						  part, 0, NULL, NULL)));
	printf("partials: %zu, digest %016" PRIx64 "\n", groups,
	       itest_digest(part, groups * sizeof(uint32_t)));
	bool ok = true;
	uint64_t got = 0;
	for (size_t gi = 0; gi < groups; gi++) {
		uint64_t s = 0;
		for (size_t i = gi * local; i < n && i < (gi + 1) * local; i++)
			s += in[i];
		ok = ok && part[gi] == s;
		got += part[gi];
	}
	itest_check("pass 1 partial sums", ok);

	/* Pass 2 on the device, ping-ponging until one value is left. */
	cl_mem from = mp, to = mt;
	size_t left = groups;
	char tag[32];
	for (int round = 2; left > 1; round++) {
		snprintf(tag, sizeof(tag), "pass %d", round);
		left = pass(q, k, from, to, left, local, tag);
		cl_mem t = from;
		from = to;
		to = t;
	}
	uint32_t total = 0;
	printf("clEnqueueReadBuffer(total): %s\n",
	       itest_err_name(clEnqueueReadBuffer(q, from, CL_TRUE, 0,
						  sizeof(total), &total, 0,
						  NULL, NULL)));
	printf("sum: %" PRIu64 " device %" PRIu32 "\n", want, total);
	itest_check("host sum of partials", got == want);
	/* Each input is < 2^11 and n < 2^20, so the sum fits in 32 bits. */
	itest_check("device total", total == want);

	printf("release: %s %s %s %s %s %s %s\n",
	       itest_err_name(clReleaseMemObject(min)),
	       itest_err_name(clReleaseMemObject(mp)),
	       itest_err_name(clReleaseMemObject(mt)),
	       itest_err_name(clReleaseKernel(k)),
	       itest_err_name(clReleaseProgram(prog)),
	       itest_err_name(clReleaseCommandQueue(q)),
	       itest_err_name(clReleaseContext(ctx)));
	free(in);
	free(part);
	return itest_exit_code();
}
