/*
 * errors.c - the error paths an application relies on.
 *
 * A kernel that fails to build (with its build log), and calls with
 * invalid arguments. Each prints its status by name; through ava the codes
 * must be the very same as natively. A call that should fail but returns an
 * object prints "object" so that a difference shows in the transcript.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

static const char *bad_src =
	"__kernel void broken(__global int *out)\n"
	"{\n"
	"    out[get_global_id(0)] = undeclared_thing + 1;\n"
	"}\n";

static const char *good_src =
	"__kernel void k(__global int *out, int v)\n"
	"{\n"
	"    out[get_global_id(0)] = v;\n"
	"}\n";

/*
 * "<what>: <status> <NULL|object>"; the status must be `want`, the one the
 * OpenCL specification names, and no object may come back.
 */
static void
created(const char *what, cl_int err, void *obj, cl_int (*release)(void *),
	cl_int want)
{
	printf("%s: %s %s\n", what, itest_err_name(err),
	       obj == NULL ? "NULL" : "object");
	if (obj != NULL)
		release(obj);
	if (err != want || obj != NULL)
		itest_check(what, false);
}

/* "<what>: <status>"; the status must be `want` (from the specification). */
static void
expect(const char *what, cl_int err, cl_int want)
{
	printf("%s: %s\n", what, itest_err_name(err));
	if (err != want)
		itest_check(what, false);
}

static cl_int rel_mem(void *o) { return clReleaseMemObject(o); }
static cl_int rel_ctx(void *o) { return clReleaseContext(o); }
static cl_int rel_kernel(void *o) { return clReleaseKernel(o); }
static cl_int rel_queue(void *o) { return clReleaseCommandQueue(o); }
static cl_int rel_program(void *o) { return clReleaseProgram(o); }

static void
build_failure(cl_context ctx, cl_device_id d)
{
	cl_program p = itest_build(ctx, d, bad_src, "");
	itest_check("broken kernel does not build", p == NULL);

	/* Unknown build options are an error of their own. */
	cl_int err;
	p = clCreateProgramWithSource(ctx, 1, &good_src, NULL, &err);
	printf("clCreateProgramWithSource(good): %s\n", itest_err_name(err));
	if (p == NULL)
		return;
	expect("clBuildProgram(bad options)",
	       clBuildProgram(p, 1, &d, "-no-such-option-x", NULL, NULL),
	       CL_INVALID_BUILD_OPTIONS);
	cl_kernel k = clCreateKernel(p, "k", &err);
	created("clCreateKernel(unbuilt program)", err, k, rel_kernel,
		CL_INVALID_PROGRAM_EXECUTABLE);
	clReleaseProgram(p);
}

static void
bad_objects(cl_context ctx, cl_device_id d)
{
	cl_int err;
	char host[64] = { 0 };
	cl_mem m;

	m = clCreateBuffer(NULL, CL_MEM_READ_WRITE, 64, NULL, &err);
	created("clCreateBuffer(NULL context)", err, m, rel_mem,
		CL_INVALID_CONTEXT);
	m = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 0, NULL, &err);
	created("clCreateBuffer(size 0)", err, m, rel_mem,
		CL_INVALID_BUFFER_SIZE);
	m = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 0, NULL, NULL);
	created("clCreateBuffer(size 0, no errcode_ret)", CL_SUCCESS, m,
		rel_mem,
		CL_SUCCESS);
	m = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_WRITE_ONLY, 64, NULL,
			   &err);
	created("clCreateBuffer(READ_ONLY|WRITE_ONLY)", err, m, rel_mem,
		CL_INVALID_VALUE);
	m = clCreateBuffer(ctx, CL_MEM_USE_HOST_PTR, 64, NULL, &err);
	created("clCreateBuffer(USE_HOST_PTR, NULL)", err, m, rel_mem,
		CL_INVALID_HOST_PTR);
	m = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 64, host, &err);
	created("clCreateBuffer(host_ptr without flag)", err, m, rel_mem,
		CL_INVALID_HOST_PTR);
	m = clCreateBuffer(ctx, (cl_mem_flags)1 << 40, 64, NULL, &err);
	created("clCreateBuffer(unknown flag)", err, m, rel_mem,
		CL_INVALID_VALUE);

	cl_context c = clCreateContext(NULL, 0, &d, NULL, NULL, &err);
	created("clCreateContext(0 devices)", err, c, rel_ctx,
		CL_INVALID_VALUE);
	c = clCreateContext(NULL, 1, NULL, NULL, NULL, &err);
	created("clCreateContext(NULL devices)", err, c, rel_ctx,
		CL_INVALID_VALUE);
	cl_command_queue q = clCreateCommandQueue(
		ctx, d, (cl_command_queue_properties)1 << 20, &err);
	created("clCreateCommandQueue(unknown property)", err, q, rel_queue,
		CL_INVALID_VALUE);
	q = clCreateCommandQueue(NULL, d, 0, &err);
	created("clCreateCommandQueue(NULL context)", err, q, rel_queue,
		CL_INVALID_CONTEXT);

	cl_program p = clCreateProgramWithSource(ctx, 0, &good_src, NULL, &err);
	created("clCreateProgramWithSource(count 0)", err, p, rel_program,
		CL_INVALID_VALUE);

	expect("clReleaseMemObject(NULL)",
	       clReleaseMemObject(NULL),
	       CL_INVALID_MEM_OBJECT);
	expect("clGetPlatformIDs(0, NULL, NULL)",
	       clGetPlatformIDs(0, NULL, NULL),
	       CL_INVALID_VALUE);
	expect("clWaitForEvents(0, NULL)",
	       clWaitForEvents(0, NULL),
	       CL_INVALID_VALUE);
	expect("clFinish(NULL)",
	       clFinish(NULL),
	       CL_INVALID_COMMAND_QUEUE);
}

static void
bad_kernel_use(cl_context ctx, cl_device_id d, cl_command_queue q)
{
	cl_int err;
	cl_program p = itest_build(ctx, d, good_src, "");
	if (p == NULL)
		exit(99);
	cl_kernel k = clCreateKernel(p, "no_such_kernel", &err);
	created("clCreateKernel(invalid name)", err, k, rel_kernel,
		CL_INVALID_KERNEL_NAME);
	k = clCreateKernel(p, NULL, &err);
	created("clCreateKernel(NULL name)", err, k, rel_kernel,
		CL_INVALID_VALUE);
	k = clCreateKernel(p, "k", &err);
	printf("clCreateKernel(k): %s\n", itest_err_name(err));
	if (k == NULL)
		exit(99);

	size_t one = 1;
	expect("clEnqueueNDRangeKernel(args unset)",
	       clEnqueueNDRangeKernel(q, k, 1, NULL, &one, NULL, 0, NULL, NULL),
	       CL_INVALID_KERNEL_ARGS);
	cl_int v = 42;
	cl_long wide = 42;
	expect("clSetKernelArg(index 2 of 2)",
	       clSetKernelArg(k, 2, sizeof(v), &v),
	       CL_INVALID_ARG_INDEX);
	expect("clSetKernelArg(index 99)",
	       clSetKernelArg(k, 99, sizeof(v), &v),
	       CL_INVALID_ARG_INDEX);
	expect("clSetKernelArg(int arg, 8 bytes)",
	       clSetKernelArg(k, 1, sizeof(wide), &wide),
	       CL_INVALID_ARG_SIZE);
	expect("clSetKernelArg(int arg, NULL value)",
	       clSetKernelArg(k, 1, sizeof(v), NULL),
	       CL_INVALID_ARG_VALUE);
	expect("clSetKernelArg(buffer arg, 4 bytes)",
	       clSetKernelArg(k, 0, sizeof(v), &v),
	       CL_INVALID_ARG_SIZE);
	expect("clSetKernelArg(NULL kernel)",
	       clSetKernelArg(NULL, 0, sizeof(v), &v),
	       CL_INVALID_KERNEL);

	cl_mem m = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 16 * sizeof(cl_int),
				  NULL, &err);
	printf("clCreateBuffer(16 ints): %s\n", itest_err_name(err));
	if (m == NULL)
		exit(99);
	printf("clSetKernelArg(valid): %s %s\n",
	       itest_err_name(clSetKernelArg(k, 0, sizeof(m), &m)),
	       itest_err_name(clSetKernelArg(k, 1, sizeof(v), &v)));
	size_t g = 16, zero = 0, three = 3;
	expect("clEnqueueNDRangeKernel(work_dim 0)",
	       clEnqueueNDRangeKernel(q, k, 0, NULL, &g, NULL, 0, NULL, NULL),
	       CL_INVALID_WORK_DIMENSION);
	expect("clEnqueueNDRangeKernel(work_dim 4)",
	       clEnqueueNDRangeKernel(q, k, 4, NULL, &g, NULL, 0, NULL, NULL),
	       CL_INVALID_WORK_DIMENSION);
	printf("clEnqueueNDRangeKernel(global 0): %s\n",
	       itest_err_name(clEnqueueNDRangeKernel(q, k, 1, NULL, &zero, NULL,
						     0, NULL, NULL)));
	printf("clEnqueueNDRangeKernel(NULL global): %s\n",
	       itest_err_name(clEnqueueNDRangeKernel(q, k, 1, NULL, NULL, NULL,
						     0, NULL, NULL)));
	expect("clEnqueueNDRangeKernel(local 3 of 16)",
	       clEnqueueNDRangeKernel(q, k, 1, NULL, &g, &three, 0, NULL, NULL),
	       CL_INVALID_WORK_GROUP_SIZE);
	expect("clEnqueueNDRangeKernel(NULL queue)",
	       clEnqueueNDRangeKernel(NULL, k, 1, NULL, &g, NULL, 0, NULL,
			      NULL),
	       CL_INVALID_COMMAND_QUEUE);
	expect("clEnqueueNDRangeKernel(valid)",
	       clEnqueueNDRangeKernel(q, k, 1, NULL, &g, NULL, 0, NULL, NULL),
	       CL_SUCCESS);

	/* Errors of calls that a remoting layer may queue rather than send
	 * at once: the application still gets them from the call itself. */
	/* 8 bytes: the write below is given 8, and ava's guest reads what a
	 * call is given before the driver can refuse it. */
	cl_long pat3 = 0;
	expect("clEnqueueFillBuffer(pattern size 3)",
	       clEnqueueFillBuffer(q, m, &pat3, 3, 0, 16, 0, NULL, NULL),
	       CL_INVALID_VALUE);
	expect("clEnqueueCopyBuffer(source past the end)",
	       clEnqueueCopyBuffer(q, m, m, 60, 0, 8, 0, NULL, NULL),
	       CL_INVALID_VALUE);
	expect("clEnqueueWriteBuffer(non-blocking, past the end)",
	       clEnqueueWriteBuffer(q, m, CL_FALSE, 60, 8, &pat3, 0, NULL,
				    NULL),
	       CL_INVALID_VALUE);
	cl_context not_a_mem = ctx;
	printf("clSetKernelArg(buffer arg, a context): %s\n",
	       itest_err_name(clSetKernelArg(k, 0, sizeof(not_a_mem),
					     &not_a_mem)));
	printf("clSetKernelArg(buffer arg, restored): %s\n",
	       itest_err_name(clSetKernelArg(k, 0, sizeof(m), &m)));
	/* None of the failed calls above may surface here. */
	expect("clFinish", clFinish(q), CL_SUCCESS);

	cl_int out[16];
	expect("clEnqueueReadBuffer(past the end)",
	       clEnqueueReadBuffer(q, m, CL_TRUE, 8, sizeof(out), out, 0, NULL,
			      NULL),
	       CL_INVALID_VALUE);
	expect("clEnqueueReadBuffer(NULL ptr)",
	       clEnqueueReadBuffer(q, m, CL_TRUE, 0, sizeof(out), NULL, 0,
			      NULL, NULL),
	       CL_INVALID_VALUE);
	expect("clEnqueueWriteBuffer(past the end)",
	       clEnqueueWriteBuffer(q, m, CL_TRUE, 64, 8, out, 0, NULL, NULL),
	       CL_INVALID_VALUE);
	expect("clEnqueueWriteBuffer(NULL buffer)",
	       clEnqueueWriteBuffer(q, NULL, CL_TRUE, 0, 8, out, 0, NULL, NULL),
	       CL_INVALID_MEM_OBJECT);
	memset(out, 0, sizeof(out));
	expect("clEnqueueReadBuffer(valid)",
	       clEnqueueReadBuffer(q, m, CL_TRUE, 0, sizeof(out), out, 0, NULL,
			      NULL),
	       CL_SUCCESS);
	bool ok = true;
	for (size_t i = 0; i < 16; i++)
		ok = ok && out[i] == 42;
	itest_check("kernel wrote 42 after the errors", ok);

	/* The objects stay usable after failed calls on them. */
	cl_uint refs = 0;
	err = clGetKernelInfo(k, CL_KERNEL_REFERENCE_COUNT, sizeof(refs), &refs,
			      NULL);
	/* PoCL may still hold references for retired commands: >= 1. */
	printf("clGetKernelInfo(REFERENCE_COUNT): %s %s\n",
	       itest_err_name(err), refs >= 1 ? "live" : "0");
	printf("release: %s %s %s\n", itest_err_name(clReleaseMemObject(m)),
	       itest_err_name(clReleaseKernel(k)),
	       itest_err_name(clReleaseProgram(p)));
}

/*
 * A guest may queue a new kernel's clSetKernelArg for what another kernel
 * of the same function took: a size the function never took must still
 * fail from the call itself, and so must one that a program built again
 * (with other argument types) no longer takes.
 */
static void
sibling_arguments(cl_context ctx, cl_device_id d)
{
	static const char *typed =
		"__kernel void put(__global T *y, T v)\n"
		"{\n"
		"    y[get_global_id(0)] = v;\n"
		"}\n";
	cl_int err, v = 7;
	cl_long wide = 7;
	cl_program p = clCreateProgramWithSource(ctx, 1, &typed, NULL, &err);
	expect("clBuildProgram(T int)",
	       clBuildProgram(p, 1, &d, "-DT=int", NULL, NULL), CL_SUCCESS);
	cl_kernel k = clCreateKernel(p, "put", &err);
	expect("clSetKernelArg(put, an int)", clSetKernelArg(k, 1, sizeof(v),
							     &v), CL_SUCCESS);
	cl_kernel k2 = clCreateKernel(p, "put", &err);
	expect("clSetKernelArg(another put, an int)",
	       clSetKernelArg(k2, 1, sizeof(v), &v), CL_SUCCESS);
	expect("clSetKernelArg(another put, a long)",
	       clSetKernelArg(k2, 1, sizeof(wide), &wide),
	       CL_INVALID_ARG_SIZE);
	clReleaseKernel(k);
	clReleaseKernel(k2);
	expect("clBuildProgram(T long)",
	       clBuildProgram(p, 1, &d, "-DT=long", NULL, NULL), CL_SUCCESS);
	k = clCreateKernel(p, "put", &err);
	expect("clSetKernelArg(put built again, an int)",
	       clSetKernelArg(k, 1, sizeof(v), &v), CL_INVALID_ARG_SIZE);
	expect("clSetKernelArg(put built again, a long)",
	       clSetKernelArg(k, 1, sizeof(wide), &wide), CL_SUCCESS);
	clReleaseKernel(k);
	clReleaseProgram(p);
}

/* wide's first n arguments: the buffer, then ints; the first error. */
static cl_int
set_wide(cl_kernel k, cl_mem m, cl_int v, cl_uint n)
{
	cl_int all = CL_SUCCESS;
	for (cl_uint i = 0; i < n; i++) {
		cl_int r = i == 0 ? clSetKernelArg(k, 0, sizeof(m), &m)
				  : clSetKernelArg(k, i, sizeof(v), &v);
		all = all != CL_SUCCESS ? all : r;
	}
	return all;
}

/*
 * And its launch for how another kernel of the function launched: a
 * launch with an argument unset must still fail from the call, also for
 * a kernel of 65 arguments, one more than the guest follows per kernel.
 */
static void
sibling_launches(cl_context ctx, cl_device_id d, cl_command_queue q)
{
	cl_int err, v = 7;
	size_t g = 16;
	cl_program p = itest_build(ctx, d, good_src, "");
	cl_mem m = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 16 * sizeof(cl_int),
				  NULL, &err);
	if (p == NULL || m == NULL)
		exit(99);
	cl_kernel k = clCreateKernel(p, "k", &err);
	cl_kernel k2 = clCreateKernel(p, "k", &err);
	expect("clSetKernelArg(k, the buffer)",
	       clSetKernelArg(k, 0, sizeof(m), &m), CL_SUCCESS);
	expect("clSetKernelArg(k, the int)",
	       clSetKernelArg(k, 1, sizeof(v), &v), CL_SUCCESS);
	expect("clEnqueueNDRangeKernel(k)",
	       clEnqueueNDRangeKernel(q, k, 1, NULL, &g, NULL, 0, NULL, NULL),
	       CL_SUCCESS);
	expect("clSetKernelArg(another k, the buffer only)",
	       clSetKernelArg(k2, 0, sizeof(m), &m), CL_SUCCESS);
	expect("clEnqueueNDRangeKernel(another k, an argument unset)",
	       clEnqueueNDRangeKernel(q, k2, 1, NULL, &g, NULL, 0, NULL, NULL),
	       CL_INVALID_KERNEL_ARGS);
	expect("clSetKernelArg(another k, the int)",
	       clSetKernelArg(k2, 1, sizeof(v), &v), CL_SUCCESS);
	expect("clEnqueueNDRangeKernel(another k, both set)",
	       clEnqueueNDRangeKernel(q, k2, 1, NULL, &g, NULL, 0, NULL, NULL),
	       CL_SUCCESS);
	expect("clFinish(after the kernels)", clFinish(q), CL_SUCCESS);
	clReleaseKernel(k);
	clReleaseKernel(k2);
	clReleaseProgram(p);

	char src65[2048];
	int n = snprintf(src65, sizeof(src65), "__kernel void wide(__global "
			 "int *out");
	for (int i = 1; i <= 64; i++)
		n += snprintf(src65 + n, sizeof(src65) - (size_t)n, ", int a%d",
			      i);
	snprintf(src65 + n, sizeof(src65) - (size_t)n,
		 ")\n{\n    out[0] = a1 + a64;\n}\n");
	p = itest_build(ctx, d, src65, "");
	if (p == NULL)
		exit(99);
	k = clCreateKernel(p, "wide", &err);
	k2 = clCreateKernel(p, "wide", &err);
	expect("clSetKernelArg(wide, all 65)", set_wide(k, m, v, 65),
	       CL_SUCCESS);
	expect("clEnqueueNDRangeKernel(wide)",
	       clEnqueueNDRangeKernel(q, k, 1, NULL, &g, NULL, 0, NULL, NULL),
	       CL_SUCCESS);
	expect("clSetKernelArg(another wide, the first 64)",
	       set_wide(k2, m, v, 64), CL_SUCCESS);
	expect("clEnqueueNDRangeKernel(another wide, the 65th unset)",
	       clEnqueueNDRangeKernel(q, k2, 1, NULL, &g, NULL, 0, NULL, NULL),
	       CL_INVALID_KERNEL_ARGS);
	expect("clFinish(after the wide kernels)", clFinish(q), CL_SUCCESS);
	clReleaseKernel(k);
	clReleaseKernel(k2);
	clReleaseMemObject(m);
	clReleaseProgram(p);
}

int
main(void)
{
	cl_platform_id platform;
	cl_device_id d;
	cl_context ctx;
	cl_command_queue q;
	if (!itest_open(&platform, &d, &ctx, &q))
		return 99;
	build_failure(ctx, d);
	bad_objects(ctx, d);
	bad_kernel_use(ctx, d, q);
	sibling_arguments(ctx, d);
	sibling_launches(ctx, d, q);
	printf("clReleaseCommandQueue: %s\n",
	       itest_err_name(clReleaseCommandQueue(q)));
	printf("clReleaseContext: %s\n", itest_err_name(clReleaseContext(ctx)));
	return itest_exit_code();
}
