/*
 * threads8.c - eight host threads on one context.
 *
 * 1. Each thread has its own queue, kernel and buffers, and runs many
 *    small launches (clSetKernelArg + clEnqueueNDRangeKernel, new
 *    arguments each time) with non-blocking writes between them, then
 *    reads its result back. Results are checked per thread and printed
 *    after the threads are joined, so the transcript does not depend on
 *    scheduling.
 * 2. Hand-offs between threads on one queue and one kernel: one thread
 *    sets the kernel's arguments and writes its input, then hands over
 *    (a mutex and a condition variable, which no OpenCL layer sees); the
 *    other launches the kernel and reads the result. Natively the second
 *    thread's calls come after the first one's; a layer that queues calls
 *    per thread and sends them late would break that.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

#define NTHREADS 8
#define N 1024
#define ROUNDS 300
#define HANDOFFS 200

static const char *src =
	"__kernel void axpy(int k, __global const int *x, __global int *y)\n"
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

#define TRY(w, call, name)                      \
	do {                                    \
		cl_int err_ = (call);           \
		if (err_ != CL_SUCCESS && (w)->err == CL_SUCCESS) { \
			(w)->err = err_;        \
			(w)->where = name;      \
		}                               \
	} while (0)

static void
run_rounds(struct worker *w, cl_command_queue q, cl_kernel k, cl_mem mx,
	   cl_mem my, int *x, int *want)
{
	size_t n = N;
	for (int r = 0; r < ROUNDS; r++) {
		cl_int kk = (cl_int)(r % 9) - 4 + (cl_int)w->id;
		TRY(w, clSetKernelArg(k, 0, sizeof(kk), &kk), "clSetKernelArg");
		TRY(w, clEnqueueNDRangeKernel(q, k, 1, NULL, &n, NULL, 0, NULL,
					      NULL), "clEnqueueNDRangeKernel");
		for (int i = 0; i < N; i++)
			want[i] += kk * x[i];
		if (r % 50 == 49) {
			/* new x, written without waiting */
			for (int i = 0; i < N; i++)
				x[i] = (i * 13 + r + (int)w->id) % 101;
			TRY(w, clEnqueueWriteBuffer(q, mx, CL_FALSE, 0,
						    N * sizeof(int), x, 0, NULL,
						    NULL), "clEnqueueWriteBuffer");
			/* x must stay until the write is done: a queued
			 * write took its copy, a native one needs clFinish */
			TRY(w, clFinish(q), "clFinish");
		}
	}
}

static void *
work(void *arg)
{
	struct worker *w = arg;
	int *x = malloc(N * sizeof(int)), *y = malloc(N * sizeof(int));
	int *want = malloc(N * sizeof(int));
	cl_int err;
	w->err = CL_SUCCESS;
	w->where = "none";
	if (x == NULL || y == NULL || want == NULL)
		exit(99);
	for (int i = 0; i < N; i++) {
		x[i] = i % 17;
		want[i] = y[i] = (int)(i ^ w->id);
	}
	cl_command_queue q = clCreateCommandQueue(w->ctx, w->dev, 0, &err);
	cl_kernel k = clCreateKernel(w->prog, "axpy", &err);
	cl_mem mx = clCreateBuffer(w->ctx, CL_MEM_READ_ONLY |
				   CL_MEM_COPY_HOST_PTR, N * sizeof(int), x,
				   &err);
	cl_mem my = clCreateBuffer(w->ctx, CL_MEM_READ_WRITE |
				   CL_MEM_COPY_HOST_PTR, N * sizeof(int), y,
				   &err);
	if (q == NULL || k == NULL || mx == NULL || my == NULL)
		exit(99);
	TRY(w, clSetKernelArg(k, 1, sizeof(mx), &mx), "clSetKernelArg(1)");
	TRY(w, clSetKernelArg(k, 2, sizeof(my), &my), "clSetKernelArg(2)");
	run_rounds(w, q, k, mx, my, x, want);
	TRY(w, clEnqueueReadBuffer(q, my, CL_TRUE, 0, N * sizeof(int), y, 0,
				   NULL, NULL), "clEnqueueReadBuffer");
	w->ok = w->err == CL_SUCCESS && memcmp(y, want, N * sizeof(int)) == 0;
	w->digest = itest_digest(y, N * sizeof(int));
	clReleaseMemObject(mx);
	clReleaseMemObject(my);
	clReleaseKernel(k);
	clReleaseCommandQueue(q);
	free(x);
	free(y);
	free(want);
	return NULL;
}

static void
eight_threads(cl_context ctx, cl_device_id d, cl_program prog)
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

/* ---- hand-offs ---------------------------------------------------------- */

struct handoff {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int turn;            /* 0: the setter's, 1: the launcher's */
	cl_command_queue q;
	cl_kernel k;
	cl_mem mx, my;
	int x[N];
	int wrong;           /* rounds whose result was wrong */
	cl_int err;
};

static void
pass(struct handoff *h, int to)
{
	pthread_mutex_lock(&h->lock);
	h->turn = to;
	pthread_cond_broadcast(&h->cv);
	while (h->turn == to)
		pthread_cond_wait(&h->cv, &h->lock);
	pthread_mutex_unlock(&h->lock);
}

static void *
launcher(void *arg)
{
	struct handoff *h = arg;
	size_t n = N;
	int y[N];
	for (int r = 0; r < HANDOFFS; r++) {
		pthread_mutex_lock(&h->lock);
		while (h->turn != 1)
			pthread_cond_wait(&h->cv, &h->lock);
		pthread_mutex_unlock(&h->lock);
		cl_int e1 = clEnqueueNDRangeKernel(h->q, h->k, 1, NULL, &n, NULL,
						   0, NULL, NULL);
		cl_int e2 = clEnqueueReadBuffer(h->q, h->my, CL_TRUE, 0,
						sizeof(y), y, 0, NULL, NULL);
		if (h->err == CL_SUCCESS)
			h->err = e1 ? e1 : e2;
		bool right = true;
		for (int i = 0; i < N; i++)
			right = right && y[i] == r * h->x[i];
		h->wrong += !right;
		pthread_mutex_lock(&h->lock);
		h->turn = 0;
		pthread_cond_broadcast(&h->cv);
		pthread_mutex_unlock(&h->lock);
	}
	return NULL;
}

static void
handoffs(cl_context ctx, cl_device_id d, cl_program prog)
{
	static struct handoff h = { .lock = PTHREAD_MUTEX_INITIALIZER,
				    .cv = PTHREAD_COND_INITIALIZER };
	cl_int err;
	int zero[N] = { 0 };
	h.q = clCreateCommandQueue(ctx, d, 0, &err);
	h.k = clCreateKernel(prog, "axpy", &err);
	h.mx = clCreateBuffer(ctx, CL_MEM_READ_WRITE, sizeof(h.x), NULL, &err);
	h.my = clCreateBuffer(ctx, CL_MEM_READ_WRITE, sizeof(zero), NULL, &err);
	if (h.q == NULL || h.k == NULL || h.mx == NULL || h.my == NULL)
		exit(99);
	pthread_t t;
	if (pthread_create(&t, NULL, launcher, &h) != 0)
		exit(99);
	for (int r = 0; r < HANDOFFS; r++) {
		cl_int kk = r;
		for (int i = 0; i < N; i++)
			h.x[i] = (i * 7 + r) % 23;
		/* y = 0, x new, k = r: then y = r * x after the launch */
		cl_int e[5] = {
			clEnqueueWriteBuffer(h.q, h.mx, CL_FALSE, 0, sizeof(h.x),
					     h.x, 0, NULL, NULL),
			clEnqueueWriteBuffer(h.q, h.my, CL_FALSE, 0, sizeof(zero),
					     zero, 0, NULL, NULL),
			clSetKernelArg(h.k, 0, sizeof(kk), &kk),
			clSetKernelArg(h.k, 1, sizeof(h.mx), &h.mx),
			clSetKernelArg(h.k, 2, sizeof(h.my), &h.my),
		};
		for (int i = 0; i < 5 && h.err == CL_SUCCESS; i++)
			h.err = e[i];
		/* Natively the writes may still run: they read x and zero,
		 * which stay unchanged until the launcher is done. */
		pass(&h, 1);
	}
	pthread_join(t, NULL);
	printf("%d hand-offs: first error %s, %d wrong\n", HANDOFFS,
	       itest_err_name(h.err), h.wrong);
	itest_check("hand-offs", h.err == CL_SUCCESS && h.wrong == 0);
	clReleaseMemObject(h.mx);
	clReleaseMemObject(h.my);
	clReleaseKernel(h.k);
	clReleaseCommandQueue(h.q);
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
	eight_threads(ctx, d, prog);
	handoffs(ctx, d, prog);
	clReleaseProgram(prog);
	printf("clReleaseContext: %s\n", itest_err_name(clReleaseContext(ctx)));
	return itest_exit_code();
}
