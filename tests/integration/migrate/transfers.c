/*
 * transfers.c - a guest of large blocking transfers for migration over
 * shm:, where they go through the session's shared heap (doc/protocol.md,
 * "Shared buffers"): every step writes a 1 MiB buffer, folds it into a
 * second one (made with its first contents) with a kernel, and reads the
 * second back, so that a migration lands between a transfer's map and its
 * copy as often as not.
 *
 * usage: transfers STEPS
 * Prints the digest of what it read back, step after step, which must
 * match the native run's byte for byte.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../itest.h"

#define WORDS (256u * 1024u)   /* 1 MiB of uint */

static const char *src =
	"__kernel void fold(__global const uint *in, __global uint *acc) {\n"
	"    size_t i = get_global_id(0);\n"
	"    acc[i] = acc[i] * 31u + in[i];\n"
	"}\n";

#define CHECK(x) do { cl_int e_ = (x); if (e_ != CL_SUCCESS) { \
	printf("%s: %s\n", #x, itest_err_name(e_)); return 1; } } while (0)

int
main(int argc, char **argv)
{
	if (argc < 2)
		return 99;
	int steps = atoi(argv[1]);
	cl_platform_id plat;
	cl_device_id dev;
	cl_int err;
	if (!itest_first_device(&plat, &dev))
		return 99;
	cl_context ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
	CHECK(err);
	cl_command_queue q = clCreateCommandQueue(ctx, dev, 0, &err);
	CHECK(err);
	cl_program prog = clCreateProgramWithSource(ctx, 1, &src, NULL, &err);
	CHECK(err);
	CHECK(clBuildProgram(prog, 1, &dev, "", NULL, NULL));
	cl_kernel fold = clCreateKernel(prog, "fold", &err);
	CHECK(err);
	size_t bytes = WORDS * sizeof(uint32_t);
	uint32_t *in = malloc(bytes), *out = malloc(bytes);
	if (in == NULL || out == NULL)
		return 99;
	cl_mem a = clCreateBuffer(ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
	CHECK(err);
	/* Made with its contents: over shm: they are staged in the heap
	 * (avaclCreateBufferStaged), and a migration makes the buffer again
	 * on zeros before it writes them back. */
	for (size_t i = 0; i < WORDS; i++)
		in[i] = (uint32_t)i * 7u + 1u;
	cl_mem acc = clCreateBuffer(ctx, CL_MEM_READ_WRITE |
				    CL_MEM_COPY_HOST_PTR, bytes, in, &err);
	CHECK(err);
	CHECK(clSetKernelArg(fold, 0, sizeof(cl_mem), &a));
	CHECK(clSetKernelArg(fold, 1, sizeof(cl_mem), &acc));
	size_t global = WORDS;
	uint64_t all = 0;
	for (int s = 0; s < steps; s++) {
		for (size_t i = 0; i < WORDS; i++)
			in[i] = (uint32_t)(i * 2654435761u) ^ (uint32_t)s;
		CHECK(clEnqueueWriteBuffer(q, a, CL_TRUE, 0, bytes, in, 0, NULL,
					   NULL));
		CHECK(clEnqueueNDRangeKernel(q, fold, 1, NULL, &global, NULL,
					     0, NULL, NULL));
		CHECK(clEnqueueReadBuffer(q, acc, CL_TRUE, 0, bytes, out, 0,
					  NULL, NULL));
		all = all * 1099511628211u ^ itest_digest(out, bytes);
	}
	printf("%d steps: %016llx\n", steps, (unsigned long long)all);
	clReleaseMemObject(a);
	clReleaseMemObject(acc);
	clReleaseKernel(fold);
	clReleaseProgram(prog);
	clReleaseCommandQueue(q);
	clReleaseContext(ctx);
	free(in);
	free(out);
	return 0;
}
