/*
 * launch.c - a launch-heavy OpenCL program: many small kernels, each set
 * up with clSetKernelArg and started with clEnqueueNDRangeKernel, the
 * pattern that API remoting pays a round trip per call for, and that
 * async batching is for.
 *
 * Usage: launch [--launches N] [--finish-every M] [--global G]
 *
 * N launches (default 50 000) of a kernel that adds its argument to G
 * (default 64) integers, a clFinish every M launches (default 1000) and
 * at the end; then the buffer is read back and checked. Prints one line,
 * "launch n N total_ns T per_launch_ns P", for launch.py to pair a native
 * run with runs through ava. Timing never decides the exit status: 0
 * measured, 1 the result came back wrong, 99 set-up failed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CL_TARGET_OPENCL_VERSION 300
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>

static const char *src =
	"__kernel void add(__global int *a, int v)\n"
	"{\n"
	"    a[get_global_id(0)] += v;\n"
	"}\n";

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct setup {
	cl_context ctx;
	cl_command_queue q;
	cl_program prog;
	cl_kernel k;
	cl_mem buf;
};

static int
set_up(struct setup *s, size_t global)
{
	cl_platform_id p;
	cl_device_id d;
	cl_int err;
	if (clGetPlatformIDs(1, &p, NULL) != CL_SUCCESS ||
	    clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 1, &d, NULL) != CL_SUCCESS)
		return 99;
	s->ctx = clCreateContext(NULL, 1, &d, NULL, NULL, &err);
	s->q = s->ctx ? clCreateCommandQueue(s->ctx, d, 0, &err) : NULL;
	s->prog = s->q ? clCreateProgramWithSource(s->ctx, 1, &src, NULL, &err)
		       : NULL;
	if (s->prog == NULL ||
	    clBuildProgram(s->prog, 1, &d, "", NULL, NULL) != CL_SUCCESS)
		return 99;
	s->k = clCreateKernel(s->prog, "add", &err);
	int *zero = calloc(global, sizeof(int));
	s->buf = zero ? clCreateBuffer(s->ctx, CL_MEM_READ_WRITE |
				       CL_MEM_COPY_HOST_PTR, global * sizeof(int),
				       zero, &err) : NULL;
	free(zero);
	if (s->k == NULL || s->buf == NULL ||
	    clSetKernelArg(s->k, 0, sizeof(s->buf), &s->buf) != CL_SUCCESS)
		return 99;
	return 0;
}

int
main(int argc, char **argv)
{
	size_t n = 50000, every = 1000, global = 64;
	for (int i = 1; i + 1 < argc; i += 2) {
		size_t v = strtoul(argv[i + 1], NULL, 10);
		if (strcmp(argv[i], "--launches") == 0)
			n = v;
		else if (strcmp(argv[i], "--finish-every") == 0)
			every = v;
		else if (strcmp(argv[i], "--global") == 0)
			global = v;
	}
	if (n == 0 || every == 0 || global == 0) {
		fprintf(stderr, "usage: launch [--launches N] "
			"[--finish-every M] [--global G]\n");
		return 99;
	}
	struct setup s;
	if (set_up(&s, global) != 0) {
		fprintf(stderr, "launch: OpenCL set-up failed\n");
		return 99;
	}
	uint64_t t0 = now_ns();
	for (size_t i = 0; i < n; i++) {
		cl_int v = (cl_int)(i % 7) + 1;
		cl_int e1 = clSetKernelArg(s.k, 1, sizeof(v), &v);
		cl_int e2 = clEnqueueNDRangeKernel(s.q, s.k, 1, NULL, &global,
						   NULL, 0, NULL, NULL);
		cl_int e3 = (i + 1) % every == 0 ? clFinish(s.q) : CL_SUCCESS;
		if (e1 != CL_SUCCESS || e2 != CL_SUCCESS || e3 != CL_SUCCESS) {
			fprintf(stderr, "launch %zu: %d %d %d\n", i, e1, e2, e3);
			return 1;
		}
	}
	cl_int err = clFinish(s.q);
	uint64_t dt = now_ns() - t0;
	int64_t want = 0;
	for (size_t i = 0; i < n; i++)
		want += (int64_t)(i % 7) + 1;
	int *back = malloc(global * sizeof(int));
	if (back == NULL || err != CL_SUCCESS ||
	    clEnqueueReadBuffer(s.q, s.buf, CL_TRUE, 0, global * sizeof(int),
				back, 0, NULL, NULL) != CL_SUCCESS)
		return 99;
	for (size_t i = 0; i < global; i++) {
		if (back[i] != (int)want) {
			fprintf(stderr, "launch: a[%zu] = %d, expected %d\n", i,
				back[i], (int)want);
			return 1;
		}
	}
	printf("launch n %zu total_ns %llu per_launch_ns %llu\n", n,
	       (unsigned long long)dt, (unsigned long long)(dt / n));
	free(back);
	clReleaseMemObject(s.buf);
	clReleaseKernel(s.k);
	clReleaseProgram(s.prog);
	clReleaseCommandQueue(s.q);
	clReleaseContext(s.ctx);
	return 0;
}
