/*
 * deferred.c - calls that fail after the application got CL_SUCCESS for
 * them, because a remoting layer queued them: run by deferred.py through
 * ava only (natively such a call fails at once, and a call on a pointer
 * that is no object is undefined).
 *
 * Usage: itest-deferred errors|timer
 *
 * errors: the main thread writes to a pointer that is no buffer, makes a
 *   query, and then calls clFinish twice; a second thread sets argument
 *   99 of a two-argument kernel and calls clFinish. Each prints the
 *   status of each call. Under AVA_BATCH=all the failing calls are
 *   queued: each thread's own first clFinish returns its own error, and
 *   nothing else does.
 * timer: one valid queued write, then 200 ms of sleep and _exit(): no
 *   synchronous call ever follows, so only the batch timer can have sent
 *   the write (deferred.py finds it in the journal).
 * reuse: a kernel is looked up, released (its guest object freed), and a
 *   buffer made at once, which the allocator puts at the kernel's old
 *   address; the buffer's queries must answer as a buffer's, not with
 *   what the guest remembered of the kernel there. Prints whether the
 *   address was reused, then each query's status and the size.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

static const char *src =
	"__kernel void k(__global int *out, int v)\n"
	"{\n"
	"    out[get_global_id(0)] = v;\n"
	"}\n";

struct env {
	cl_context ctx;
	cl_device_id dev;
	cl_command_queue q;
};

struct other {
	struct env *e;
	cl_int set, finish, finish2;
};

static void *
other_thread(void *arg)
{
	struct other *o = arg;
	cl_int err, v = 1;
	cl_program p = itest_build(o->e->ctx, o->e->dev, src, "");
	cl_kernel k = p ? clCreateKernel(p, "k", &err) : NULL;
	if (k == NULL)
		exit(99);
	o->set = clSetKernelArg(k, 99, sizeof(v), &v);
	o->finish = clFinish(o->e->q);
	o->finish2 = clFinish(o->e->q);
	clReleaseKernel(k);
	clReleaseProgram(p);
	return NULL;
}

static int
errors(struct env *e)
{
	cl_int x = 42;
	cl_mem not_a_buffer = (cl_mem)(void *)&x;
	printf("write to a non-buffer: %s\n", itest_err_name(
		clEnqueueWriteBuffer(e->q, not_a_buffer, CL_FALSE, 0,
				     sizeof(x), &x, 0, NULL, NULL)));
	cl_uint units;
	printf("clGetDeviceInfo: %s\n", itest_err_name(
		clGetDeviceInfo(e->dev, CL_DEVICE_MAX_COMPUTE_UNITS,
				sizeof(units), &units, NULL)));
	printf("clFinish: %s\n", itest_err_name(clFinish(e->q)));
	printf("clFinish again: %s\n", itest_err_name(clFinish(e->q)));

	struct other o = { .e = e };
	pthread_t t;
	if (pthread_create(&t, NULL, other_thread, &o) != 0)
		return 99;
	pthread_join(t, NULL);
	printf("other thread: clSetKernelArg(index 99): %s\n",
	       itest_err_name(o.set));
	printf("other thread: clFinish: %s\n", itest_err_name(o.finish));
	printf("other thread: clFinish again: %s\n",
	       itest_err_name(o.finish2));
	printf("main thread: clFinish: %s\n", itest_err_name(clFinish(e->q)));
	return 0;
}

static int
timer(struct env *e)
{
	cl_int err, x[16] = { 7 };
	cl_mem m = clCreateBuffer(e->ctx, CL_MEM_READ_WRITE, sizeof(x), NULL,
				  &err);
	if (m == NULL)
		return 99;
	printf("write: %s\n", itest_err_name(clEnqueueWriteBuffer(
		e->q, m, CL_FALSE, 0, sizeof(x), x, 0, NULL, NULL)));
	fflush(stdout);
	nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000 * 1000 }, NULL);
	_exit(0);
}

static int
reuse(struct env *e)
{
	cl_int err;
	cl_program p = itest_build(e->ctx, e->dev, src, "");
	if (p == NULL)
		return 99;
	/* The guest's objects are small heap blocks of one size: a freed
	 * kernel's block goes to the next object made, unless something
	 * of that size came first; a few rounds find one that does. */
	bool reused = false;
	cl_mem m = NULL;
	for (int round = 0; round < 32 && !reused; round++) {
		cl_kernel k = clCreateKernel(p, "k", &err);
		cl_uint nargs = 0;
		if (k == NULL || clGetKernelInfo(k, CL_KERNEL_NUM_ARGS,
						 sizeof(nargs), &nargs,
						 NULL) != CL_SUCCESS)
			return 99;
		void *old = (void *)k;
		if (m != NULL)
			clReleaseMemObject(m);
		clReleaseKernel(k);   /* freed last: the next block made */
		m = clCreateBuffer(e->ctx, CL_MEM_READ_WRITE, 4096, NULL, &err);
		if (m == NULL)
			return 99;
		reused = (void *)m == old;
	}
	printf("address reused: %s\n", reused ? "yes" : "no");
	size_t size = 0;
	err = clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof(size), &size, NULL);
	printf("buffer query: %s, size %zu\n", itest_err_name(err), size);
	cl_int x[4] = { 1, 2, 3, 4 };
	printf("buffer write: %s\n", itest_err_name(clEnqueueWriteBuffer(
		e->q, m, CL_TRUE, 0, sizeof(x), x, 0, NULL, NULL)));
	clReleaseMemObject(m);
	clReleaseProgram(p);
	return 0;
}

int
main(int argc, char **argv)
{
	struct env e;
	cl_platform_id platform;
	cl_int err;
	if (argc != 2 || (strcmp(argv[1], "errors") != 0 &&
			  strcmp(argv[1], "timer") != 0 &&
			  strcmp(argv[1], "reuse") != 0)) {
		fprintf(stderr, "usage: itest-deferred errors|timer|reuse\n");
		return 99;
	}
	if (!itest_first_device(&platform, &e.dev))
		return 99;
	e.ctx = clCreateContext(NULL, 1, &e.dev, NULL, NULL, &err);
	e.q = e.ctx ? clCreateCommandQueue(e.ctx, e.dev, 0, &err) : NULL;
	if (e.q == NULL)
		return 99;
	int rc = strcmp(argv[1], "timer") == 0 ? timer(&e)
		 : strcmp(argv[1], "reuse") == 0 ? reuse(&e) : errors(&e);
	clReleaseCommandQueue(e.q);
	clReleaseContext(e.ctx);
	return rc;
}
