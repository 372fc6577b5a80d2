/*
 * callbacks.c - OpenCL callbacks: each one is called with its own user
 * data and its object, as often as the API says, and destructor callbacks
 * in the reverse order of their registration.
 *
 * Covers the pfn_notify of clBuildProgram (a build that succeeds and one
 * that fails), clCompileProgram and clLinkProgram; clSetEventCallback on
 * a user event and on a kernel's event (per execution status);
 * clSetMemObjectDestructorCallback (three on one buffer);
 * clSetContextDestructorCallback; clSetProgramReleaseCallback (whatever
 * the driver answers); and a clCreateContext pfn_notify that must not be
 * called without an error. Callbacks may come on any thread, at any time
 * after the event: the program waits for each (10 s at most) before it
 * prints, so the transcript does not depend on timing.
 */
#define CL_USE_DEPRECATED_OPENCL_2_2_APIS   /* clSetProgramReleaseCallback */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest.h"

static const char *good_src =
	"__kernel void k(__global int *out) { out[get_global_id(0)] = 7; }\n";
static const char *bad_src = "__kernel void k(__global int *out) { nope; }\n";
static const char *lib_src = "int twice(int x) { return 2 * x; }\n";
static const char *main_src =
	"int twice(int x);\n"
	"__kernel void m(__global int *o) { o[0] = twice(21); }\n";

/* What the callbacks saw, guarded by lock. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int calls;             /* every callback, for wait_calls() */
	int order[8];          /* destructor callbacks, by tag */
	int norder;
	int bad;               /* a wrong object or user data */
	int notify;            /* context notifications */
} S = { .lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* The user data every callback gets: which object it expects, a tag. */
struct tag {
	void *obj;
	int id;
};

static void
seen(bool right)
{
	pthread_mutex_lock(&S.lock);
	S.calls++;
	S.bad += !right;
	pthread_cond_broadcast(&S.cv);
	pthread_mutex_unlock(&S.lock);
}

/* Wait until `n` callbacks in all were called; false after 10 s. */
static bool
wait_calls(int n)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 10;
	pthread_mutex_lock(&S.lock);
	while (S.calls < n &&
	       pthread_cond_timedwait(&S.cv, &S.lock, &dl) == 0)
		;
	bool ok = S.calls >= n;
	pthread_mutex_unlock(&S.lock);
	return ok;
}

static void CL_CALLBACK
program_cb(cl_program p, void *ud)
{
	struct tag *t = ud;
	bool right = t->obj == NULL || (void *)p == t->obj;
	if (t->obj == NULL)
		t->obj = p;   /* clLinkProgram: checked against the return */
	seen(right);
}

static void CL_CALLBACK
event_cb(cl_event e, cl_int status, void *ud)
{
	struct tag *t = ud;
	seen((void *)e == t->obj && status >= CL_COMPLETE &&
	     status <= CL_QUEUED);
}

static void CL_CALLBACK
mem_cb(cl_mem m, void *ud)
{
	struct tag *t = ud;
	pthread_mutex_lock(&S.lock);
	if (S.norder < 8)
		S.order[S.norder++] = t->id;
	pthread_mutex_unlock(&S.lock);
	seen((void *)m == t->obj);
}

static void CL_CALLBACK
context_cb(cl_context c, void *ud)
{
	struct tag *t = ud;
	seen((void *)c == t->obj);
}

static void CL_CALLBACK
notify_cb(const char *errinfo, const void *priv, size_t cb, void *ud)
{
	(void)errinfo;
	(void)priv;
	(void)cb;
	(void)ud;
	pthread_mutex_lock(&S.lock);
	S.notify++;
	pthread_mutex_unlock(&S.lock);
}

static int expected;   /* callbacks that should have come so far */

static void
expect(const char *what, int more)
{
	expected += more;
	bool ok = wait_calls(expected);
	pthread_mutex_lock(&S.lock);
	int bad = S.bad;
	pthread_mutex_unlock(&S.lock);
	printf("%s: %s, wrong object or user data: %d\n", what,
	       ok ? "called" : "NOT CALLED", bad);
	itest_check(what, ok && bad == 0);
}

static void
builds(cl_context ctx, cl_device_id d)
{
	static struct tag t1, t2, t3, t4;
	cl_int err;
	cl_program p = clCreateProgramWithSource(ctx, 1, &good_src, NULL, &err);
	t1.obj = p;
	printf("clBuildProgram(callback): %s\n", itest_err_name(
		clBuildProgram(p, 1, &d, "", program_cb, &t1)));
	expect("build callback", 1);
	cl_program b = clCreateProgramWithSource(ctx, 1, &bad_src, NULL, &err);
	t2.obj = b;
	printf("clBuildProgram(bad source, callback): %s\n", itest_err_name(
		clBuildProgram(b, 1, &d, "", program_cb, &t2)));
	expect("failed build callback", 1);

	cl_program lib = clCreateProgramWithSource(ctx, 1, &lib_src, NULL, &err);
	cl_program mp = clCreateProgramWithSource(ctx, 1, &main_src, NULL,
						  &err);
	t3.obj = lib;
	printf("clCompileProgram(callback): %s %s\n",
	       itest_err_name(clCompileProgram(lib, 1, &d, "", 0, NULL, NULL,
					       program_cb, &t3)),
	       itest_err_name(clCompileProgram(mp, 1, &d, "", 0, NULL, NULL,
					       NULL, NULL)));
	expect("compile callback", 1);
	cl_program both[2] = { lib, mp };
	cl_program linked = clLinkProgram(ctx, 1, &d, "", 2, both, program_cb,
					  &t4, &err);
	printf("clLinkProgram(callback): %s\n", itest_err_name(err));
	expect("link callback", 1);
	printf("link callback's program is the linked one: %s\n",
	       t4.obj == linked ? "yes" : "no");
	itest_check("link callback's program", t4.obj == linked);
	clReleaseProgram(linked);
	clReleaseProgram(lib);
	clReleaseProgram(mp);
	clReleaseProgram(b);
	clReleaseProgram(p);
}

static void
events(cl_context ctx, cl_device_id d, cl_command_queue q)
{
	static struct tag tu, tk;
	cl_int err;
	cl_event u = clCreateUserEvent(ctx, &err);
	tu.obj = u;
	printf("clSetEventCallback(user event): %s\n", itest_err_name(
		clSetEventCallback(u, CL_COMPLETE, event_cb, &tu)));
	printf("clSetUserEventStatus: %s\n", itest_err_name(
		clSetUserEventStatus(u, CL_COMPLETE)));
	expect("user event callback", 1);
	clReleaseEvent(u);

	cl_program p = itest_build(ctx, d, good_src, "");
	cl_kernel k = p ? clCreateKernel(p, "k", &err) : NULL;
	cl_mem m = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 64 * sizeof(int),
				  NULL, &err);
	if (k == NULL || m == NULL)
		exit(99);
	clSetKernelArg(k, 0, sizeof(m), &m);
	size_t g = 64;
	cl_event e;
	printf("clEnqueueNDRangeKernel: %s\n", itest_err_name(
		clEnqueueNDRangeKernel(q, k, 1, NULL, &g, NULL, 0, NULL, &e)));
	tk.obj = e;
	cl_int st[3] = { CL_SUBMITTED, CL_RUNNING, CL_COMPLETE };
	for (int i = 0; i < 3; i++)
		printf("clSetEventCallback(kernel event, %d): %s\n", st[i],
		       itest_err_name(clSetEventCallback(e, st[i], event_cb,
							 &tk)));
	printf("clFinish: %s\n", itest_err_name(clFinish(q)));
	/* Which status each gets depends on how far the command is when
	 * the callback is registered: not printed. */
	expect("kernel event callbacks", 3);
	clReleaseEvent(e);
	clReleaseMemObject(m);
	clReleaseKernel(k);
	clReleaseProgram(p);
}

static void
destructors(cl_context ctx, cl_device_id d)
{
	static struct tag tm[3], tc, tp;
	cl_int err;
	cl_mem m = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 64, NULL, &err);
	for (int i = 0; i < 3; i++) {
		tm[i] = (struct tag){ m, i + 1 };
		printf("clSetMemObjectDestructorCallback(%d): %s\n", i + 1,
		       itest_err_name(clSetMemObjectDestructorCallback(
			       m, mem_cb, &tm[i])));
	}
	printf("clReleaseMemObject: %s\n", itest_err_name(clReleaseMemObject(m)));
	expect("buffer destructor callbacks", 3);
	pthread_mutex_lock(&S.lock);
	printf("destructor order:");
	for (int i = 0; i < S.norder; i++)
		printf(" %d", S.order[i]);
	printf("\n");
	bool reverse = S.norder == 3 && S.order[0] == 3 && S.order[1] == 2 &&
		       S.order[2] == 1;
	pthread_mutex_unlock(&S.lock);
	itest_check("destructor callbacks in reverse order", reverse);

	cl_program p = clCreateProgramWithSource(ctx, 1, &good_src, NULL, &err);
	tp.obj = p;
	err = clSetProgramReleaseCallback(p, program_cb, &tp);
	printf("clSetProgramReleaseCallback: %s\n", itest_err_name(err));
	printf("clReleaseProgram: %s\n", itest_err_name(clReleaseProgram(p)));
	if (err == CL_SUCCESS)
		expect("program release callback", 1);

	cl_context c2 = clCreateContext(NULL, 1, &d, notify_cb, NULL, &err);
	tc.obj = c2;
	err = clSetContextDestructorCallback(c2, context_cb, &tc);
	printf("clSetContextDestructorCallback: %s\n", itest_err_name(err));
	printf("clReleaseContext: %s\n", itest_err_name(clReleaseContext(c2)));
	if (err == CL_SUCCESS)
		expect("context destructor callback", 1);
}

int
main(void)
{
	cl_platform_id platform;
	cl_device_id d;
	cl_int err;
	if (!itest_first_device(&platform, &d))
		return 99;
	cl_context ctx = clCreateContext(NULL, 1, &d, notify_cb, NULL, &err);
	if (itest_status("clCreateContext(notify)", err) != CL_SUCCESS)
		return 99;
	cl_command_queue q = clCreateCommandQueue(ctx, d, 0, &err);
	if (itest_status("clCreateCommandQueue", err) != CL_SUCCESS)
		return 99;
	builds(ctx, d);
	events(ctx, d, q);
	destructors(ctx, d);
	pthread_mutex_lock(&S.lock);
	printf("context notifications: %d\n", S.notify);
	pthread_mutex_unlock(&S.lock);
	clReleaseCommandQueue(q);
	printf("clReleaseContext: %s\n", itest_err_name(clReleaseContext(ctx)));
	return itest_exit_code();
}
