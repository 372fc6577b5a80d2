/*
 * threads.c - an OpenCL program with several host threads.
 *
 * 1. Four threads share one context; each has its own queue, buffers and
 *    kernel object, and runs a scaled add many times. Results are checked
 *    per thread and printed after the threads are joined (so the
 *    transcript does not depend on scheduling).
 * 2. One thread blocks in clWaitForEvents on a user event that the main
 *    thread completes 100 ms later. Natively this always finishes; a
 *    remoting layer that serializes all threads over one call channel
 *    deadlocks here, which the driver's timeout turns into a failure.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest.h"

#define NTHREADS 4
#define N 65536
#define ROUNDS 8

static const char *src =
	"__kernel void axpy(uint k, __global const uint *x, __global uint *y)\n"
	"{\n"
	"    size_t i = get_global_id(0);\n"
	"    y[i] = k * x[i] + y[i];\n"
	"}\n";

struct worker {
	cl_context ctx;
	cl_device_id dev;
	cl_program prog;
	unsigned id;
	cl_int err;          /* first failure, by status */
	const char *where;   /* and the call that failed */
	uint64_t digest;
	bool ok;
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	static const char *const none = "none";
	uint32_t *x = malloc(N * sizeof(uint32_t));
	uint32_t *y = malloc(N * sizeof(uint32_t));
	uint32_t *want = malloc(N * sizeof(uint32_t));
	cl_int err;
	size_t n = N;

	w->where = none;
	w->err = CL_SUCCESS;
	if (x == NULL || y == NULL || want == NULL)
		exit(99);
	for (uint32_t i = 0; i < N; i++) {
		x[i] = i * (w->id + 1);
		want[i] = y[i] = i ^ w->id;
	}
/* On failure remember the call and its status, and stop. */
#define TRY(call, name)                 \
	do {                            \
		err = (call);           \
		if (err != CL_SUCCESS) { \
			w->err = err;   \
			w->where = name; \
			goto out;       \
		}                       \
	} while (0)
	cl_command_queue q = clCreateCommandQueue(w->ctx, w->dev, 0, &err);
	TRY(err, "clCreateCommandQueue");
	cl_kernel k = clCreateKernel(w->prog, "axpy", &err);
	TRY(err, "clCreateKernel");
	cl_mem mx = clCreateBuffer(w->ctx,
				   CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
				   N * sizeof(uint32_t), x, &err);
	TRY(err, "clCreateBuffer(x)");
	cl_mem my = clCreateBuffer(w->ctx,
				   CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
				   N * sizeof(uint32_t), y, &err);
	TRY(err, "clCreateBuffer(y)");
	TRY(clSetKernelArg(k, 1, sizeof(mx), &mx), "clSetKernelArg(1)");
	TRY(clSetKernelArg(k, 2, sizeof(my), &my), "clSetKernelArg(2)");
	for (cl_uint r = 1; r <= ROUNDS; r++) {
		cl_uint kk = r + w->id;
		TRY(clSetKernelArg(k, 0, sizeof(kk), &kk), "clSetKernelArg(0)");
		TRY(clEnqueueNDRangeKernel(q, k, 1, NULL, &n, NULL, 0, NULL,
					   NULL), "clEnqueueNDRangeKernel");
		for (uint32_t i = 0; i < N; i++)
			want[i] += kk * x[i];
	}
	TRY(clEnqueueReadBuffer(q, my, CL_TRUE, 0, N * sizeof(uint32_t), y, 0,
				NULL, NULL), "clEnqueueReadBuffer");
	w->ok = memcmp(y, want, N * sizeof(uint32_t)) == 0;
	w->digest = itest_digest(y, N * sizeof(uint32_t));
	clReleaseMemObject(mx);
	clReleaseMemObject(my);
	clReleaseKernel(k);
	clReleaseCommandQueue(q);
#undef TRY
out:
	free(x);
	free(y);
	free(want);
	return NULL;
}

static void
concurrent_queues(cl_context ctx, cl_device_id d, cl_program prog)
{
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];

	for (unsigned i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .ctx = ctx, .dev = d, .prog = prog,
					.id = i };
		if (pthread_create(&t[i], NULL, work, &w[i]) != 0)
			exit(99);
	}
	for (unsigned i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	for (unsigned i = 0; i < NTHREADS; i++) {
		printf("thread %u: first error %s in %s, digest %016" PRIx64
		       "\n", i, itest_err_name(w[i].err), w[i].where,
		       w[i].digest);
		char what[32];
		snprintf(what, sizeof(what), "thread %u result", i);
		itest_check(what, w[i].ok);
	}
}

struct waiter {
	cl_event ev;
	cl_int err;
};

static void *
wait_event(void *arg)
{
	struct waiter *w = arg;
	w->err = clWaitForEvents(1, &w->ev);
	return NULL;
}

static void
cross_thread_event(cl_context ctx)
{
	struct waiter w = { .err = 1 };
	cl_int err;
	pthread_t t;

	w.ev = clCreateUserEvent(ctx, &err);
	printf("clCreateUserEvent: %s\n", itest_err_name(err));
	if (w.ev == NULL)
		return;
	if (pthread_create(&t, NULL, wait_event, &w) != 0)
		exit(99);
	/* Let the waiter block first (not needed for correctness). */
	nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL);
	printf("clSetUserEventStatus (other thread waiting): %s\n",
	       itest_err_name(clSetUserEventStatus(w.ev, CL_COMPLETE)));
	pthread_join(t, NULL);
	printf("clWaitForEvents in the waiting thread: %s\n",
	       itest_err_name(w.err));
	itest_check("waiter released", w.err == CL_SUCCESS);
	clReleaseEvent(w.ev);
}

int
main(void)
{
	cl_platform_id platform;
	cl_device_id d;
	cl_int err;

	if (!itest_first_device(&platform, &d))
		return 99;
	cl_context ctx = clCreateContext(NULL, 1, &d, NULL, NULL, &err);
	if (itest_status("clCreateContext", err) != CL_SUCCESS)
		return 99;
	cl_program prog = itest_build(ctx, d, src, "");
	if (prog == NULL)
		return 99;
	concurrent_queues(ctx, d, prog);
	cross_thread_event(ctx);
	clReleaseProgram(prog);
	printf("clReleaseContext: %s\n", itest_err_name(clReleaseContext(ctx)));
	return itest_exit_code();
}
