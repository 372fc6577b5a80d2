/*
 * stencil.c - an iterative guest for checkpoint, restore and migration
 * tests: a 1-D heat stencil that rewrites its two buffers every step,
 * with kernel arguments swapped each time, an event per step, and a
 * second kernel that folds the field into a running sum buffer.
 *
 * usage: stencil STEPS N [PAUSE_AT [PAUSE_AGAIN]]
 * With PAUSE_AT and AVA_TEST_PAUSE=DIR, after step PAUSE_AT it finishes
 * the queue, creates DIR/paused and waits until DIR/go exists: the test
 * checkpoints (or migrates, or kills and restores the server) meanwhile.
 * Natively the pause is the same, so both runs make the same calls.
 * Every 256 steps it finishes the queue, so that no more than that is
 * queued when a migration pauses it.
 *
 * Prints the digest of the final field and of the sum buffer, which must
 * match the native run's byte for byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../itest.h"

static const char *src =
	"__kernel void heat(__global const float *in, __global float *out,\n"
	"                   const int n) {\n"
	"    int i = get_global_id(0);\n"
	"    float l = in[i > 0 ? i - 1 : i], r = in[i < n - 1 ? i + 1 : i];\n"
	"    out[i] = 0.25f * l + 0.5f * in[i] + 0.25f * r + 0.001f * i;\n"
	"}\n"
	"__kernel void accum(__global const float *f, __global float *acc) {\n"
	"    int i = get_global_id(0);\n"
	"    acc[i] += f[i];\n"
	"}\n";

static void
pause_here(void)
{
	const char *dir = getenv("AVA_TEST_PAUSE");
	char path[4096];
	struct stat st;
	if (dir == NULL)
		return;
	snprintf(path, sizeof(path), "%s/paused", dir);
	FILE *f = fopen(path, "w");
	if (f != NULL)
		fclose(f);
	snprintf(path, sizeof(path), "%s/go", dir);
	for (int i = 0; i < 60000 && stat(path, &st) != 0; i++)
		usleep(5000);
	remove(path);
}

#define CHECK(x) do { cl_int e_ = (x); if (e_ != CL_SUCCESS) { \
	printf("%s: %s\n", #x, itest_err_name(e_)); return 1; } } while (0)

int
main(int argc, char **argv)
{
	if (argc < 3)
		return 99;
	int steps = atoi(argv[1]), n = atoi(argv[2]);
	int pause_at = argc > 3 ? atoi(argv[3]) : -1;
	int pause_again = argc > 4 ? atoi(argv[4]) : -1;
	cl_platform_id plat;
	cl_device_id dev;
	cl_int err;
	if (!itest_first_device(&plat, &dev))
		return 99;
	cl_context ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
	CHECK(err);
	cl_command_queue q = clCreateCommandQueueWithProperties(ctx, dev, NULL,
								&err);
	CHECK(err);
	cl_program prog = clCreateProgramWithSource(ctx, 1, &src, NULL, &err);
	CHECK(err);
	CHECK(clBuildProgram(prog, 1, &dev, "-cl-fast-relaxed-math", NULL,
			     NULL));
	cl_kernel step = clCreateKernel(prog, "heat", &err);
	CHECK(err);
	cl_kernel fold = clCreateKernel(prog, "accum", &err);
	CHECK(err);
	/* The program is not needed by name any more: restore must keep it
	 * for the kernels all the same. */
	CHECK(clReleaseProgram(prog));
	size_t bytes = (size_t)n * sizeof(float);
	float *init = malloc(bytes);
	for (int i = 0; i < n; i++)
		init[i] = (float)((i * 7919) % 1000) / 10.0f;
	cl_mem a = clCreateBuffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
				  bytes, init, &err);
	CHECK(err);
	cl_mem b = clCreateBuffer(ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
	CHECK(err);
	cl_mem acc = clCreateBuffer(ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
	CHECK(err);
	float zero = 0;
	CHECK(clEnqueueFillBuffer(q, acc, &zero, sizeof(zero), 0, bytes, 0,
				  NULL, NULL));
	CHECK(clSetKernelArg(step, 2, sizeof(int), &n));
	CHECK(clSetKernelArg(fold, 1, sizeof(cl_mem), &acc));
	size_t global = (size_t)n;
	cl_event last = NULL;
	for (int s = 0; s < steps; s++) {
		cl_mem in = s % 2 ? b : a, out = s % 2 ? a : b;
		CHECK(clSetKernelArg(step, 0, sizeof(cl_mem), &in));
		CHECK(clSetKernelArg(step, 1, sizeof(cl_mem), &out));
		CHECK(clSetKernelArg(fold, 0, sizeof(cl_mem), &out));
		if (last != NULL)
			CHECK(clReleaseEvent(last));
		CHECK(clEnqueueNDRangeKernel(q, step, 1, NULL, &global, NULL,
					     0, NULL, &last));
		CHECK(clEnqueueNDRangeKernel(q, fold, 1, NULL, &global, NULL,
					     0, NULL, NULL));
		if (s == pause_at || s == pause_again) {
			CHECK(clFinish(q));
			pause_here();
		}
		/* At most a few hundred steps queued: a migration's pause
		 * drains them, and a long run must not finish inside it. */
		if (s % 256 == 255)
			CHECK(clFinish(q));
	}
	CHECK(clFinish(q));
	cl_int status;
	CHECK(clGetEventInfo(last, CL_EVENT_COMMAND_EXECUTION_STATUS,
			     sizeof(status), &status, NULL));
	printf("last event: %s\n", status == CL_COMPLETE ? "complete" : "?");
	float *out = malloc(bytes);
	CHECK(clEnqueueReadBuffer(q, steps % 2 ? b : a, CL_TRUE, 0, bytes, out,
				  0, NULL, NULL));
	printf("field: %016llx\n",
	       (unsigned long long)itest_digest(out, bytes));
	CHECK(clEnqueueReadBuffer(q, acc, CL_TRUE, 0, bytes, out, 0, NULL,
				  NULL));
	printf("sum: %016llx\n", (unsigned long long)itest_digest(out, bytes));
	clReleaseEvent(last);
	clReleaseMemObject(a);
	clReleaseMemObject(b);
	clReleaseMemObject(acc);
	clReleaseKernel(step);
	clReleaseKernel(fold);
	clReleaseCommandQueue(q);
	clReleaseContext(ctx);
	free(init);
	free(out);
	return 0;
}
