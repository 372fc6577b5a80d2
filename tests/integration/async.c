/*
 * async.c - the calls a remoting layer may queue rather than send at once
 * (clSetKernelArg, enqueues without an event, releases, clFlush), in the
 * patterns programs use them, with every result checked. Through ava they
 * travel in batches; the transcript must be the native one.
 *
 * 1. Launches: one kernel launched 2000 times, its scalar arguments new
 *    each time, a clFlush every 100, its buffer read back at the end.
 * 2. Buffer commands: non-blocking writes at many offsets, fills, copies
 *    and a migration between reads, each read checked.
 * 3. Objects made and released in a loop (buffers, kernels, clones,
 *    events), which the guest names and queues, then two it may not
 *    (a larger buffer, a kernel of no function), and retains and
 *    releases of one object: the driver's reference count after them
 *    is the native one.
 * 4. A new kernel of a function other kernels set up: its arguments may
 *    be queued for what the function took.
 * 5. Queued calls between calls with events: the order holds; a small
 *    non-blocking write that waits for a user event set after it.
 * 6. Large non-blocking writes (over shm: ava stages them in the shared
 *    heap, or writes them straight into an idle queue's buffer): one
 *    that waits for a user event returns at once and writes nothing
 *    until the event completes, nor does one without a wait list queued
 *    behind it; one into part of a buffer that a kernel then reads;
 *    ones with a wait list the call refuses; one after 65 user events;
 *    and one past the buffer's end, refused as natively with nothing
 *    written.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

#define N 256

static const char *src =
	"__kernel void axpb(__global int *y, __global const int *x, int a,\n"
	"                   int b)\n"
	"{\n"
	"    size_t i = get_global_id(0);\n"
	"    y[i] = a * x[i] + y[i] + b;\n"
	"}\n";

struct env {
	cl_context ctx;
	cl_device_id dev;
	cl_command_queue q;
	cl_program prog;
};

static cl_mem
buffer(struct env *e, const cl_int *init)
{
	cl_int err;
	cl_mem m = clCreateBuffer(e->ctx, CL_MEM_READ_WRITE |
				  (init ? CL_MEM_COPY_HOST_PTR : 0),
				  N * sizeof(cl_int), (void *)init, &err);
	if (m == NULL) {
		printf("clCreateBuffer: %s\n", itest_err_name(err));
		exit(99);
	}
	return m;
}

static void
read_check(struct env *e, cl_mem m, const cl_int *want, const char *what)
{
	cl_int got[N];
	cl_int err = clEnqueueReadBuffer(e->q, m, CL_TRUE, 0, sizeof(got), got,
					 0, NULL, NULL);
	printf("%s: read %s, digest %016" PRIx64 "\n", what,
	       itest_err_name(err), itest_digest(got, sizeof(got)));
	itest_check(what, err == CL_SUCCESS &&
		    memcmp(got, want, sizeof(got)) == 0);
}

static void
launches(struct env *e)
{
	cl_int x[N], y[N], err, bad = CL_SUCCESS;
	for (int i = 0; i < N; i++) {
		x[i] = i - 100;
		y[i] = 3 * i;
	}
	cl_mem mx = buffer(e, x), my = buffer(e, y);
	cl_kernel k = clCreateKernel(e->prog, "axpb", &err);
	printf("clCreateKernel: %s\n", itest_err_name(err));
	if (k == NULL)
		exit(99);
	clSetKernelArg(k, 0, sizeof(my), &my);
	clSetKernelArg(k, 1, sizeof(mx), &mx);
	size_t g = N;
	for (cl_int r = 0; r < 2000; r++) {
		cl_int a = r % 5 - 2, b = r % 11;
		cl_int e1 = clSetKernelArg(k, 2, sizeof(a), &a);
		cl_int e2 = clSetKernelArg(k, 3, sizeof(b), &b);
		cl_int e3 = clEnqueueNDRangeKernel(e->q, k, 1, NULL, &g, NULL, 0,
						   NULL, NULL);
		cl_int e4 = r % 100 == 99 ? clFlush(e->q) : CL_SUCCESS;
		cl_int first = e1 ? e1 : e2 ? e2 : e3 ? e3 : e4;
		if (bad == CL_SUCCESS)
			bad = first;
		for (int i = 0; i < N; i++)
			y[i] = a * x[i] + y[i] + b;
	}
	printf("2000 launches: first error %s\n", itest_err_name(bad));
	printf("clFinish: %s\n", itest_err_name(clFinish(e->q)));
	read_check(e, my, y, "launches");
	printf("release: %s %s %s\n", itest_err_name(clReleaseKernel(k)),
	       itest_err_name(clReleaseMemObject(mx)),
	       itest_err_name(clReleaseMemObject(my)));
}

static void
buffer_commands(struct env *e)
{
	cl_int want[N] = { 0 }, a[N], b[N], zero[N] = { 0 };
	cl_mem ma = buffer(e, zero), mb = buffer(e, zero);
	cl_int bad = CL_SUCCESS;
	for (int i = 0; i < N; i++)
		a[i] = i * 7 + 1;
	/* Non-blocking writes, one int at a time at first, then runs. */
	for (int i = 0; i < N; i += 1 + i / 16) {
		cl_int err = clEnqueueWriteBuffer(e->q, ma, CL_FALSE,
						  i * sizeof(cl_int),
						  sizeof(cl_int), &a[i], 0,
						  NULL, NULL);
		bad = bad ? bad : err;
		want[i] = a[i];
	}
	printf("writes: first error %s\n", itest_err_name(bad));
	read_check(e, ma, want, "non-blocking writes");

	/* One call after the other: never two calls in one printf, whose
	 * arguments C evaluates in no set order. */
	cl_int pat = 0x5a5a, pat2[2] = { 9, -9 };
	cl_int f1 = clEnqueueFillBuffer(e->q, mb, &pat, sizeof(pat), 0,
					N * sizeof(cl_int), 0, NULL, NULL);
	cl_int f2 = clEnqueueFillBuffer(e->q, mb, pat2, sizeof(pat2),
					64 * sizeof(cl_int), 32 * sizeof(cl_int),
					0, NULL, NULL);
	printf("fill: %s %s\n", itest_err_name(f1), itest_err_name(f2));
	for (int i = 0; i < N; i++)
		b[i] = i >= 64 && i < 96 ? pat2[i % 2] : pat;
	read_check(e, mb, b, "fills");

	cl_int c1 = clEnqueueCopyBuffer(e->q, ma, mb, 0, 128 * sizeof(cl_int),
					64 * sizeof(cl_int), 0, NULL, NULL);
	cl_int c2 = clEnqueueCopyBuffer(e->q, mb, mb, 128 * sizeof(cl_int), 0,
					16 * sizeof(cl_int), 0, NULL, NULL);
	printf("copy: %s %s\n", itest_err_name(c1), itest_err_name(c2));
	memcpy(&b[128], want, 64 * sizeof(cl_int));
	memcpy(&b[0], &b[128], 16 * sizeof(cl_int));
	cl_mem both[2] = { ma, mb };
	printf("migrate: %s\n",
	       itest_err_name(clEnqueueMigrateMemObjects(e->q, 2, both, 0, 0,
							NULL, NULL)));
	read_check(e, mb, b, "copies");
	clReleaseMemObject(ma);
	clReleaseMemObject(mb);
}

/* Objects made and dropped in a loop; the driver's count afterwards. */
static void
churn(struct env *e)
{
	cl_int err, bad = CL_SUCCESS;
	size_t g = N;
	for (int r = 0; r < 200; r++) {
		cl_mem m = buffer(e, NULL);
		cl_kernel k = clCreateKernel(e->prog, "axpb", &err);
		cl_int v = r;
		cl_int e1 = clSetKernelArg(k, 0, sizeof(m), &m);
		cl_int e2 = clSetKernelArg(k, 1, sizeof(m), &m);
		cl_int e3 = clSetKernelArg(k, 2, sizeof(v), &v);
		cl_int e4 = clSetKernelArg(k, 3, sizeof(v), &v);
		cl_kernel c = clCloneKernel(k, &err);
		cl_event ev = NULL;
		cl_int e5 = clEnqueueNDRangeKernel(e->q, c, 1, NULL, &g, NULL, 0,
						   NULL, &ev);
		cl_int e6 = clEnqueueNDRangeKernel(e->q, k, 1, NULL, &g, NULL, 1,
						   &ev, NULL);
		cl_int e7 = clReleaseEvent(ev);
		cl_int e8 = clReleaseKernel(c);
		cl_int e9 = clReleaseKernel(k);
		cl_int e10 = clReleaseMemObject(m);
		cl_int all[] = { e1, e2, e3, e4, e5, e6, e7, e8, e9, e10 };
		for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
			bad = bad ? bad : all[i];
	}
	printf("200 rounds of objects: first error %s\n", itest_err_name(bad));
	printf("clFinish: %s\n", itest_err_name(clFinish(e->q)));
	/* Creations the guest may not name: a buffer larger than any plain
	 * one before, a kernel of a function the program lacks. */
	cl_mem big = clCreateBuffer(e->ctx, CL_MEM_READ_WRITE,
				    2 * N * sizeof(cl_int), NULL, &err);
	printf("a larger plain buffer: %s\n", itest_err_name(err));
	if (big != NULL)
		clReleaseMemObject(big);
	cl_kernel none = clCreateKernel(e->prog, "nosuch", &err);
	printf("clCreateKernel(nosuch): %s %s\n", itest_err_name(err),
	       none == NULL ? "NULL" : "an object");
	/* Retains and queued releases of objects no command holds: the
	 * driver's counts are exact. */
	cl_mem m = buffer(e, NULL);
	cl_kernel k = clCreateKernel(e->prog, "axpb", &err);
	for (int i = 0; i < 5; i++) {
		clRetainMemObject(m);
		clRetainKernel(k);
	}
	for (int i = 0; i < 5; i++) {
		bad = bad ? bad : clReleaseMemObject(m);
		bad = bad ? bad : clReleaseKernel(k);
	}
	cl_uint mrefs = 0, krefs = 0;
	cl_int e1 = clGetMemObjectInfo(m, CL_MEM_REFERENCE_COUNT,
				       sizeof(mrefs), &mrefs, NULL);
	cl_int e2 = clGetKernelInfo(k, CL_KERNEL_REFERENCE_COUNT,
				    sizeof(krefs), &krefs, NULL);
	printf("after 5 retains and 5 releases: %s %s, reference counts "
	       "%u %u\n", itest_err_name(e1), itest_err_name(e2), mrefs,
	       krefs);
	clReleaseKernel(k);
	clReleaseMemObject(m);
}

/* A new kernel of a function whose arguments other kernels set: its
 * own settings may be queued; its results are the native ones. */
static void
siblings(struct env *e)
{
	cl_int err, a = 3, b = 4, y[N], x[N];
	for (int i = 0; i < N; i++)
		x[i] = y[i] = i;
	cl_mem my = buffer(e, y), mx = buffer(e, x);
	cl_kernel k = clCreateKernel(e->prog, "axpb", &err);
	printf("sibling: %s\n", itest_err_name(err));
	cl_int e1 = clSetKernelArg(k, 0, sizeof(my), &my);
	cl_int e2 = clSetKernelArg(k, 1, sizeof(mx), &mx);
	cl_int e3 = clSetKernelArg(k, 2, sizeof(a), &a);
	cl_int e4 = clSetKernelArg(k, 3, sizeof(b), &b);
	printf("sibling, its arguments: %s %s %s %s\n", itest_err_name(e1),
	       itest_err_name(e2), itest_err_name(e3), itest_err_name(e4));
	size_t g = N;
	printf("sibling, launch: %s\n", itest_err_name(clEnqueueNDRangeKernel(
		e->q, k, 1, NULL, &g, NULL, 0, NULL, NULL)));
	for (int i = 0; i < N; i++)
		y[i] = a * x[i] + y[i] + b;
	read_check(e, my, y, "sibling");
	clReleaseKernel(k);
	clReleaseMemObject(my);
	clReleaseMemObject(mx);
}

/* A kernel of axpb with its four arguments set: y = a * x + y + b. */
static cl_kernel
axpb(struct env *e, cl_mem y, cl_mem x, cl_int a, cl_int b)
{
	cl_int err;
	cl_kernel k = clCreateKernel(e->prog, "axpb", &err);
	clSetKernelArg(k, 0, sizeof(y), &y);
	clSetKernelArg(k, 1, sizeof(x), &x);
	clSetKernelArg(k, 2, sizeof(a), &a);
	clSetKernelArg(k, 3, sizeof(b), &b);
	return k;
}

static void
ordering(struct env *e)
{
	/* x and y are the sources of non-blocking writes: they stay as they
	 * are until the read; want is what y becomes. */
	cl_int x[N], y[N], want[N];
	for (int i = 0; i < N; i++)
		x[i] = y[i] = want[i] = i;
	cl_mem mx = buffer(e, NULL), my = buffer(e, NULL);
	cl_int a = 2, b = 1;
	cl_kernel k = axpb(e, my, mx, a, b);
	size_t g = N;
	cl_event ev;
	/* queued writes, a launch that waits with an event, queued ones */
	printf("write x: %s\n", itest_err_name(clEnqueueWriteBuffer(
		e->q, mx, CL_FALSE, 0, sizeof(x), x, 0, NULL, NULL)));
	printf("write y: %s\n", itest_err_name(clEnqueueWriteBuffer(
		e->q, my, CL_FALSE, 0, sizeof(y), y, 0, NULL, NULL)));
	printf("launch with event: %s\n", itest_err_name(
		clEnqueueNDRangeKernel(e->q, k, 1, NULL, &g, NULL, 0, NULL,
				       &ev)));
	for (int i = 0; i < N; i++)
		want[i] = a * x[i] + want[i] + b;
	a = -1;
	printf("set arg: %s\n",
	       itest_err_name(clSetKernelArg(k, 2, sizeof(a), &a)));
	printf("launch after event: %s\n", itest_err_name(
		clEnqueueNDRangeKernel(e->q, k, 1, NULL, &g, NULL, 1, &ev,
				       NULL)));
	for (int i = 0; i < N; i++)
		want[i] = a * x[i] + want[i] + b;
	printf("clWaitForEvents: %s\n", itest_err_name(clWaitForEvents(1, &ev)));
	read_check(e, my, want, "ordering");
	clReleaseEvent(ev);
	clReleaseKernel(k);
	clReleaseMemObject(mx);
	clReleaseMemObject(my);
}

/*
 * A small non-blocking write that waits for a user event, set after it:
 * the write's call must not wait for its command (over ava, where the
 * implementation refuses the callback that frees the server's copy of
 * the bytes, the copy is freed later instead).
 */
static void
small_behind_user_event(struct env *e)
{
	cl_int x[N], want[N], err;
	for (int i = 0; i < N; i++)
		x[i] = want[i] = 3 * i - 100;
	cl_mem m = buffer(e, NULL);
	cl_event u = clCreateUserEvent(e->ctx, &err), w;
	printf("small: user event: %s\n", itest_err_name(err));
	if (u == NULL)
		exit(99);
	printf("small: write after the user event: %s\n", itest_err_name(
		clEnqueueWriteBuffer(e->q, m, CL_FALSE, 0, sizeof(x), x, 1, &u,
				     &w)));
	printf("small: user event complete: %s\n", itest_err_name(
		clSetUserEventStatus(u, CL_COMPLETE)));
	printf("small: wait: %s\n", itest_err_name(clWaitForEvents(1, &w)));
	read_check(e, m, want, "small write after a user event");
	clReleaseEvent(w);
	clReleaseEvent(u);
	clReleaseMemObject(m);
}

#define BIG (1u << 18)   /* ints: 1 MiB, above the guest's staging size */

/* Does m hold want (n ints)? */
static void
read_check_big(struct env *e, cl_mem m, const cl_int *want, size_t n,
	       const char *what)
{
	cl_int *got = malloc(n * sizeof(cl_int));
	if (got == NULL)
		exit(99);
	cl_int err = clEnqueueReadBuffer(e->q, m, CL_TRUE, 0, n * sizeof(cl_int),
					 got, 0, NULL, NULL);
	printf("%s: read %s, digest %016" PRIx64 "\n", what,
	       itest_err_name(err), itest_digest(got, n * sizeof(cl_int)));
	itest_check(what, err == CL_SUCCESS &&
		    memcmp(got, want, n * sizeof(cl_int)) == 0);
	free(got);
}

/* Has w's command not run yet? Printed after line, checked as what. */
static void
still_waits(cl_event w, const char *line, const char *what)
{
	cl_int st = CL_COMPLETE;
	clGetEventInfo(w, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof(st), &st,
		       NULL);
	printf("%s: %s\n", line, st > CL_COMPLETE ? "yes" : "no");
	itest_check(what, st > CL_COMPLETE);
}

/*
 * Two large writes into m while the queue waits for a user event: the
 * first waits for it, the second has no wait list but queues behind the
 * first, so it must not write before it (over shm: ava writes a large
 * write into an idle queue's buffer straight away, and must see that
 * this queue is not idle). m ends with the second's bytes, want, which
 * it held before.
 */
static void
behind_user_event(struct env *e, cl_mem m, const cl_int *want)
{
	cl_int err, *first = malloc(BIG * sizeof(cl_int)),
	       *second = malloc(BIG * sizeof(cl_int));
	if (first == NULL || second == NULL)
		exit(99);
	for (cl_uint i = 0; i < BIG; i++)
		first[i] = (cl_int)(i * 3u) + 11;
	memcpy(second, want, BIG * sizeof(cl_int));
	cl_event u = clCreateUserEvent(e->ctx, &err), w1, w2;
	printf("behind: user event: %s\n", itest_err_name(err));
	if (u == NULL)
		exit(99);
	printf("behind: write after the user event: %s\n", itest_err_name(
		clEnqueueWriteBuffer(e->q, m, CL_FALSE, 0, BIG * sizeof(cl_int),
				     first, 1, &u, &w1)));
	printf("behind: write without a wait list: %s\n", itest_err_name(
		clEnqueueWriteBuffer(e->q, m, CL_FALSE, 0, BIG * sizeof(cl_int),
				     second, 0, NULL, &w2)));
	still_waits(w2, "behind: the second write waits too",
		    "second write waits");
	printf("behind: user event complete: %s\n", itest_err_name(
		clSetUserEventStatus(u, CL_COMPLETE)));
	printf("behind: wait: %s\n", itest_err_name(clWaitForEvents(1, &w2)));
	read_check_big(e, m, want, BIG, "the second write last");
	clReleaseEvent(w1);
	clReleaseEvent(w2);
	clReleaseEvent(u);
	free(first);
	free(second);
}

static void
large_writes(struct env *e)
{
	cl_int err, *x = malloc(BIG * sizeof(cl_int)),
	       *want = malloc(BIG * sizeof(cl_int));
	if (x == NULL || want == NULL)
		exit(99);
	for (cl_uint i = 0; i < BIG; i++)
		x[i] = want[i] = (cl_int)((i * 7919u) % 1000003u) - 500000;
	cl_mem m = clCreateBuffer(e->ctx, CL_MEM_READ_WRITE, BIG * sizeof(cl_int),
				  NULL, &err);
	cl_event u = clCreateUserEvent(e->ctx, &err);
	printf("large: buffer and user event: %s\n", itest_err_name(err));
	if (m == NULL || u == NULL)
		exit(99);
	/* It waits for u: the call must not. */
	cl_event w;
	printf("large: write after a user event: %s\n", itest_err_name(
		clEnqueueWriteBuffer(e->q, m, CL_FALSE, 0, BIG * sizeof(cl_int),
				     x, 1, &u, &w)));
	still_waits(w, "large: the write waits for the user event",
		    "large write waits");
	cl_command_type type = 0;
	clGetEventInfo(w, CL_EVENT_COMMAND_TYPE, sizeof(type), &type, NULL);
	printf("large: its event's command: %s\n",
	       type == CL_COMMAND_WRITE_BUFFER ? "CL_COMMAND_WRITE_BUFFER"
					       : "another");
	printf("large: user event complete: %s\n", itest_err_name(
		clSetUserEventStatus(u, CL_COMPLETE)));
	printf("large: wait: %s\n", itest_err_name(clWaitForEvents(1, &w)));
	read_check_big(e, m, want, BIG, "large write");
	behind_user_event(e, m, want);
	/* Part of the buffer, without an event, then a kernel over it. */
	size_t half = BIG / 2;
	for (cl_uint i = 0; i < half; i++)
		x[i] = (cl_int)i - 7;
	printf("large: write half at an offset: %s\n", itest_err_name(
		clEnqueueWriteBuffer(e->q, m, CL_FALSE, half * sizeof(cl_int),
				     half * sizeof(cl_int), x, 0, NULL, NULL)));
	cl_int a = 3, b = 1;
	cl_kernel k = axpb(e, m, m, a, b);
	size_t g = BIG;
	printf("large: kernel over it: %s\n", itest_err_name(
		clEnqueueNDRangeKernel(e->q, k, 1, NULL, &g, NULL, 0, NULL,
				       NULL)));
	for (cl_uint i = 0; i < BIG; i++) {
		cl_int v = i < half ? want[i] : (cl_int)(i - half) - 7;
		want[i] = a * v + v + b;
	}
	read_check_big(e, m, want, BIG, "large write, then a kernel");
	/* Wait lists the call refuses: a count without a list, a list
	 * without a count. */
	printf("large: write, a count without a list: %s\n", itest_err_name(
		clEnqueueWriteBuffer(e->q, m, CL_FALSE, 0, BIG * sizeof(cl_int),
				     x, 1, NULL, NULL)));
	printf("large: write, a list without a count: %s\n", itest_err_name(
		clEnqueueWriteBuffer(e->q, m, CL_FALSE, 0, BIG * sizeof(cl_int),
				     x, 0, &w, NULL)));
	read_check_big(e, m, want, BIG, "after the refused writes");
	/* A long wait list: more user events than a staged write's gate
	 * takes beside them (with a journal, ava then sends the plain
	 * write). */
	enum { LONG = 65 };
	cl_event many[LONG], w2 = NULL;
	for (cl_uint i = 0; i < LONG; i++)
		if ((many[i] = clCreateUserEvent(e->ctx, &err)) == NULL)
			exit(99);
	for (cl_uint i = 0; i < BIG; i++)
		x[i] = want[i] = (cl_int)(i % 4099u) - 2000;
	printf("large: write after %d user events: %s\n", LONG,
	       itest_err_name(clEnqueueWriteBuffer(e->q, m, CL_FALSE, 0,
						   BIG * sizeof(cl_int), x,
						   LONG, many, &w2)));
	for (cl_uint i = 0; i < LONG; i++)
		clSetUserEventStatus(many[i], CL_COMPLETE);
	printf("large: wait for it: %s\n",
	       itest_err_name(clWaitForEvents(1, &w2)));
	read_check_big(e, m, want, BIG, "a write after many events");
	for (cl_uint i = 0; i < LONG; i++)
		clReleaseEvent(many[i]);
	clReleaseEvent(w2);
	/* Past the end: refused, and nothing written. */
	printf("large: write past the end: %s\n", itest_err_name(
		clEnqueueWriteBuffer(e->q, m, CL_FALSE, sizeof(cl_int),
				     BIG * sizeof(cl_int), x, 0, NULL, NULL)));
	read_check_big(e, m, want, BIG, "after the refused write");
	clReleaseKernel(k);
	clReleaseEvent(w);
	clReleaseEvent(u);
	clReleaseMemObject(m);
	free(x);
	free(want);
}

int
main(void)
{
	struct env e;
	cl_platform_id platform;
	cl_int err;

	if (!itest_first_device(&platform, &e.dev))
		return 99;
	e.ctx = clCreateContext(NULL, 1, &e.dev, NULL, NULL, &err);
	if (itest_status("clCreateContext", err) != CL_SUCCESS)
		return 99;
	e.q = clCreateCommandQueue(e.ctx, e.dev, 0, &err);
	if (itest_status("clCreateCommandQueue", err) != CL_SUCCESS)
		return 99;
	e.prog = itest_build(e.ctx, e.dev, src, "");
	if (e.prog == NULL)
		return 99;
	launches(&e);
	buffer_commands(&e);
	churn(&e);
	siblings(&e);
	ordering(&e);
	small_behind_user_event(&e);
	large_writes(&e);
	printf("release: %s %s %s\n", itest_err_name(clReleaseProgram(e.prog)),
	       itest_err_name(clReleaseCommandQueue(e.q)),
	       itest_err_name(clReleaseContext(e.ctx)));
	return itest_exit_code();
}
