/*
 * replay-prog.c - small OpenCL programs whose journals the replay tests
 * need, one per mode:
 *
 *   crash-self      some work, a thread that makes a call and ends (its
 *                   connection says goodbye for itself alone), then the
 *                   program kills itself (SIGSEGV)
 *   vendor-fault    an enqueue with a wait-list count of 1 and a NULL
 *                   list: PoCL dereferences it and faults
 *   kernel-fault    a kernel that writes far outside its buffer (2^47
 *                   bytes and more past it, beyond any user address, so
 *                   that no mapping can take the write): it faults in a
 *                   driver thread, after its launch returned
 *   buggy           a kernel with a deliberate bug (element 7 is off by
 *                   one), among unrelated work; exits 1, as a failing CI
 *                   job would
 *   fixed           the same with the bug fixed (doc/replay.md)
 *   input SEED      vector addition of inputs made from SEED
 *   binary          a program built from source, then rebuilt from its
 *                   binary, and run
 *   launches N      N tiny kernel launches (the replay benchmark)
 *
 * Exit status: 0, 1 (a result was wrong), 2 (usage), 99 (setup failed).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

#define N 256

struct cl {
	cl_platform_id platform;
	cl_device_id device;
	cl_context ctx;
	cl_command_queue q;
};

#define SCALE(bug) \
	"__kernel void scale(__global const uint *in, __global uint *out)\n" \
	"{\n" \
	"    size_t i = get_global_id(0);\n" \
	"    out[i] = in[i] * 2u" bug ";\n" \
	"}\n"

#define OTHERS \
	"__kernel void add(__global const uint *a, __global const uint *b,\n" \
	"                  __global uint *c)\n" \
	"{\n" \
	"    size_t i = get_global_id(0);\n" \
	"    c[i] = a[i] + b[i];\n" \
	"}\n" \
	"__kernel void bump(__global uint *a, uint v)\n" \
	"{\n" \
	"    a[get_global_id(0)] += v;\n" \
	"}\n"

static const char *kernels = SCALE(" + (i == 7)") OTHERS;  /* the bug */
static const char *fixed_kernels = SCALE("") OTHERS;

static bool
setup(struct cl *c)
{
	cl_int err;
	if (!itest_first_device(&c->platform, &c->device))
		return false;
	c->ctx = clCreateContext(NULL, 1, &c->device, NULL, NULL, &err);
	if (c->ctx == NULL)
		return false;
	c->q = clCreateCommandQueue(c->ctx, c->device, 0, &err);
	return c->q != NULL;
}

static cl_mem
buffer(struct cl *c, const cl_uint *init)
{
	cl_int err;
	cl_mem m = clCreateBuffer(c->ctx, CL_MEM_READ_WRITE |
				  (init ? CL_MEM_COPY_HOST_PTR : 0),
				  N * sizeof(cl_uint), (void *)init, &err);
	itest_status("clCreateBuffer", err);
	return m;
}

static void
run(struct cl *c, cl_kernel k)
{
	size_t global = N;
	itest_status("clEnqueueNDRangeKernel",
		     clEnqueueNDRangeKernel(c->q, k, 1, NULL, &global, NULL, 0,
					    NULL, NULL));
}

static void
read_back(struct cl *c, cl_mem m, cl_uint *out)
{
	itest_status("clEnqueueReadBuffer",
		     clEnqueueReadBuffer(c->q, m, CL_TRUE, 0,
					 N * sizeof(cl_uint), out, 0, NULL,
					 NULL));
}

/* Unrelated work around the buggy kernel, which trim must leave out. */
static void
noise(struct cl *c, cl_program p)
{
	cl_uint a[N], b[N], r[N];
	for (int i = 0; i < N; i++) {
		a[i] = (cl_uint)i;
		b[i] = (cl_uint)(3 * i);
	}
	cl_int err;
	cl_kernel k = clCreateKernel(p, "add", &err);
	cl_mem ma = buffer(c, a), mb = buffer(c, b), mc = buffer(c, NULL);
	clSetKernelArg(k, 0, sizeof(ma), &ma);
	clSetKernelArg(k, 1, sizeof(mb), &mb);
	clSetKernelArg(k, 2, sizeof(mc), &mc);
	run(c, k);
	read_back(c, mc, r);
	printf("noise digest: %016llx\n",
	       (unsigned long long)itest_digest(r, sizeof(r)));
	clReleaseMemObject(ma);
	clReleaseMemObject(mb);
	clReleaseMemObject(mc);
	clReleaseKernel(k);
}

static int
buggy(struct cl *c, const char *src)
{
	cl_program p = itest_build(c->ctx, c->device, src, "");
	if (p == NULL)
		return 99;
	noise(c, p);
	cl_uint in[N], out[N];
	for (int i = 0; i < N; i++)
		in[i] = (cl_uint)(i * 5 + 1);
	cl_int err;
	cl_kernel k = clCreateKernel(p, "scale", &err);
	cl_mem mi = buffer(c, NULL), mo = buffer(c, NULL);
	itest_status("clEnqueueWriteBuffer",
		     clEnqueueWriteBuffer(c->q, mi, CL_TRUE, 0, sizeof(in), in,
					  0, NULL, NULL));
	clSetKernelArg(k, 0, sizeof(mi), &mi);
	clSetKernelArg(k, 1, sizeof(mo), &mo);
	run(c, k);
	noise(c, p);
	read_back(c, mo, out);
	int wrong = -1;
	for (int i = 0; i < N && wrong < 0; i++)
		if (out[i] != in[i] * 2u)
			wrong = i;
	printf("scale digest: %016llx\n",
	       (unsigned long long)itest_digest(out, sizeof(out)));
	itest_check("scale", wrong < 0);
	if (wrong >= 0)
		printf("first wrong element: %d\n", wrong);
	return itest_exit_code();
}

static int
input(struct cl *c, unsigned seed)
{
	cl_program p = itest_build(c->ctx, c->device, kernels, "");
	if (p == NULL)
		return 99;
	cl_uint a[N], b[N], r[N];
	for (int i = 0; i < N; i++) {
		a[i] = (cl_uint)(i + seed);
		b[i] = (cl_uint)(i * 7);
	}
	cl_int err;
	cl_kernel k = clCreateKernel(p, "add", &err);
	cl_mem ma = buffer(c, NULL), mb = buffer(c, b), mc = buffer(c, NULL);
	itest_status("clEnqueueWriteBuffer",
		     clEnqueueWriteBuffer(c->q, ma, CL_TRUE, 0, sizeof(a), a, 0,
					  NULL, NULL));
	clSetKernelArg(k, 0, sizeof(ma), &ma);
	clSetKernelArg(k, 1, sizeof(mb), &mb);
	clSetKernelArg(k, 2, sizeof(mc), &mc);
	run(c, k);
	read_back(c, mc, r);
	printf("add digest: %016llx\n",
	       (unsigned long long)itest_digest(r, sizeof(r)));
	return 0;
}

static void *
one_call(void *arg)
{
	struct cl *c = arg;
	cl_uint units = 0;
	clGetDeviceInfo(c->device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof(units),
			&units, NULL);
	return NULL;
}

static int
crash_self(struct cl *c)
{
	cl_uint v[N] = { 1 }, r[N];
	cl_mem m = buffer(c, v);
	read_back(c, m, r);
	pthread_t th;
	if (pthread_create(&th, NULL, one_call, c) != 0 ||
	    pthread_join(th, NULL) != 0)
		return 99;
	printf("about to crash\n");
	fflush(stdout);
	raise(SIGSEGV);
	return 0;
}

static int
vendor_fault(struct cl *c)
{
	cl_program p = itest_build(c->ctx, c->device, kernels, "");
	if (p == NULL)
		return 99;
	cl_int err;
	cl_kernel k = clCreateKernel(p, "bump", &err);
	cl_mem m = buffer(c, NULL);
	cl_uint v = 1;
	clSetKernelArg(k, 0, sizeof(m), &m);
	clSetKernelArg(k, 1, sizeof(v), &v);
	size_t global = N;
	printf("enqueue with a NULL wait list of 1 event\n");
	fflush(stdout);
	err = clEnqueueNDRangeKernel(c->q, k, 1, NULL, &global, NULL, 1, NULL,
				     NULL);
	printf("clEnqueueNDRangeKernel: %s\n", itest_err_name(err));
	return 0;
}

static int
kernel_fault(struct cl *c)
{
	static const char *src =
		"__kernel void far(__global uint *a)\n"
		"{\n"
		"    a[(get_global_id(0) + 1) * (1L << 45)] = 1u;\n"
		"}\n";
	cl_program p = itest_build(c->ctx, c->device, src, "");
	if (p == NULL)
		return 99;
	cl_int err;
	cl_kernel k = clCreateKernel(p, "far", &err);
	cl_mem m = buffer(c, NULL);
	clSetKernelArg(k, 0, sizeof(m), &m);
	printf("launching a kernel that writes far outside its buffer\n");
	fflush(stdout);
	run(c, k);
	printf("clFinish: %s\n", itest_err_name(clFinish(c->q)));
	return 0;
}

static int
binary(struct cl *c)
{
	cl_program p = itest_build(c->ctx, c->device, kernels, "");
	if (p == NULL)
		return 99;
	size_t size = 0;
	itest_status("clGetProgramInfo(BINARY_SIZES)",
		     clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof(size),
				      &size, NULL));
	unsigned char *bin = malloc(size ? size : 1);
	itest_status("clGetProgramInfo(BINARIES)",
		     clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof(bin), &bin,
				      NULL));
	const unsigned char *bins[1] = { bin };
	cl_int st, err;
	cl_program pb = clCreateProgramWithBinary(c->ctx, 1, &c->device, &size,
						  bins, &st, &err);
	itest_status("clCreateProgramWithBinary", err);
	free(bin);
	if (pb == NULL)
		return 1;
	itest_status("clBuildProgram(binary)",
		     clBuildProgram(pb, 1, &c->device, "", NULL, NULL));
	return input(c, 5);
}

static int
launches(struct cl *c, int n)
{
	cl_program p = itest_build(c->ctx, c->device, kernels, "");
	if (p == NULL)
		return 99;
	cl_int err;
	cl_kernel k = clCreateKernel(p, "bump", &err);
	static const cl_uint zeros[N];
	cl_mem m = buffer(c, zeros);  /* defined contents: replay checks them */
	size_t global = 64;
	for (int i = 0; i < n; i++) {
		cl_uint v = (cl_uint)i;
		clSetKernelArg(k, 0, sizeof(m), &m);
		clSetKernelArg(k, 1, sizeof(v), &v);
		clEnqueueNDRangeKernel(c->q, k, 1, NULL, &global, NULL, 0, NULL,
				       NULL);
	}
	cl_uint r[N];
	itest_status("clFinish", clFinish(c->q));
	read_back(c, m, r);
	printf("launches: %d, a[0] = %u\n", n, r[0]);
	return 0;
}

int
main(int argc, char **argv)
{
	struct cl c;
	if (argc < 2) {
		fprintf(stderr, "usage: replay-prog MODE [ARG]\n");
		return 2;
	}
	if (!setup(&c))
		return 99;
	const char *m = argv[1];
	if (strcmp(m, "crash-self") == 0)
		return crash_self(&c);
	if (strcmp(m, "vendor-fault") == 0)
		return vendor_fault(&c);
	if (strcmp(m, "kernel-fault") == 0)
		return kernel_fault(&c);
	if (strcmp(m, "buggy") == 0)
		return buggy(&c, kernels);
	if (strcmp(m, "fixed") == 0)
		return buggy(&c, fixed_kernels);
	if (strcmp(m, "input") == 0 && argc == 3)
		return input(&c, (unsigned)atoi(argv[2]));
	if (strcmp(m, "binary") == 0)
		return binary(&c);
	if (strcmp(m, "launches") == 0 && argc == 3)
		return launches(&c, atoi(argv[2]));
	fprintf(stderr, "replay-prog: unknown mode '%s'\n", m);
	return 2;
}
