/*
 * calltime.c - an LD_PRELOAD library that times a program's OpenCL calls,
 * for calls.py: the same program, native and through `ava run`, call by
 * call, to see where ava's extra time goes (doc/performance.md, "Where a
 * short program's time goes").
 *
 * Each wrapped call is passed on to the next definition (the ICD loader)
 * and logged to $AVA_CALLTIME_LOG as one line:
 *
 *   START_MS DURATION_MS NAME BYTES
 *
 * START_MS on CLOCK_MONOTONIC, so that calls.py can set it against the
 * moment it started the program; BYTES is a transfer's or a buffer's size,
 * else 0. A line "START_MS 0 (loaded) 0" comes when the library is loaded
 * and "START_MS 0 (exit) 0" at exit. Without the variable nothing is
 * logged; a log that cannot be opened is reported once on stderr.
 *
 * Only the calls of the programs that calls.py runs by default are
 * wrapped (the integration programs of tests/integration and e2e.c);
 * others go straight to the loader, untimed.
 */
#define CL_TARGET_OPENCL_VERSION 300
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * The log is this process's alone: the variable is taken out of the
 * environment once the log is open, so that a program a vendor library
 * runs (a linker, on a cold kernel cache) writes no lines of its own, and
 * lines go out whole, from a buffer of our own, only from the process that
 * opened the log (a child forked without exec inherits the buffer, and
 * must not write it a second time).
 */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1;
static pid_t log_pid;
static char log_buf[1 << 16];
static size_t log_used;

static double
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Lock held. */
static void
flush_log(void)
{
	size_t done = 0;
	while (getpid() == log_pid && done < log_used) {
		ssize_t n = write(log_fd, log_buf + done, log_used - done);
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	log_used = 0;
}

/* Lock held. */
static void
log_line(double start, double dur, const char *name, size_t bytes)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "%.4f %.4f %s %zu\n", start, dur,
			 name, bytes);
	if (log_fd < 0 || n <= 0 || (size_t)n >= sizeof(line))
		return;
	if (log_used + (size_t)n > sizeof(log_buf))
		flush_log();
	memcpy(log_buf + log_used, line, (size_t)n);
	log_used += (size_t)n;
}

static void
note(const char *name, double start, size_t bytes)
{
	double end = now_ms();
	pthread_mutex_lock(&log_lock);
	log_line(start, end - start, name, bytes);
	pthread_mutex_unlock(&log_lock);
}

__attribute__((constructor)) static void
open_log(void)
{
	const char *path = getenv("AVA_CALLTIME_LOG");
	if (path == NULL || path[0] == '\0')
		return;
	log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (log_fd < 0) {
		perror(path);
		return;
	}
	log_pid = getpid();
	unsetenv("AVA_CALLTIME_LOG");
	log_line(now_ms(), 0, "(loaded)", 0);
}

__attribute__((destructor)) static void
close_log(void)
{
	pthread_mutex_lock(&log_lock);
	if (log_fd >= 0) {
		log_line(now_ms(), 0, "(exit)", 0);
		flush_log();
		close(log_fd);
		log_fd = -1;
	}
	pthread_mutex_unlock(&log_lock);
}

/* The next definition of name; every thread finds the same one. */
static void *
next(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);
	if (f == NULL) {
		fprintf(stderr, "calltime: no %s after this library\n", name);
		abort();
	}
	return f;
}

/* ret name(params): time the call of the next name(args); bytes is the
 * size to log. */
#define WRAP(ret, name, params, args, bytes)                                 \
	__attribute__((visibility("default")))                               \
	ret CL_API_CALL name params                                          \
	{                                                                    \
		static ret (CL_API_CALL *real) params;                       \
		ret (CL_API_CALL *fn_) params =                              \
			__atomic_load_n(&real, __ATOMIC_RELAXED);            \
		if (fn_ == NULL) {                                           \
			fn_ = (ret (CL_API_CALL *) params)next(#name);       \
			__atomic_store_n(&real, fn_, __ATOMIC_RELAXED);      \
		}                                                            \
		double t0_ = now_ms();                                       \
		ret r_ = fn_ args;                                           \
		note(#name, t0_, bytes);                                     \
		return r_;                                                   \
	}

typedef void (CL_CALLBACK *ctx_notify)(const char *, const void *, size_t,
				       void *);
typedef void (CL_CALLBACK *build_notify)(cl_program, void *);

WRAP(cl_int, clGetPlatformIDs,
     (cl_uint n, cl_platform_id *p, cl_uint *np), (n, p, np), 0)
WRAP(cl_int, clGetDeviceIDs,
     (cl_platform_id p, cl_device_type t, cl_uint n, cl_device_id *d,
      cl_uint *nd), (p, t, n, d, nd), 0)
WRAP(cl_context, clCreateContext,
     (const cl_context_properties *pr, cl_uint n, const cl_device_id *d,
      ctx_notify cb, void *ud, cl_int *e), (pr, n, d, cb, ud, e), 0)
WRAP(cl_command_queue, clCreateCommandQueue,
     (cl_context c, cl_device_id d, cl_command_queue_properties pr,
      cl_int *e), (c, d, pr, e), 0)
WRAP(cl_program, clCreateProgramWithSource,
     (cl_context c, cl_uint n, const char **s, const size_t *l, cl_int *e),
     (c, n, s, l, e), 0)
WRAP(cl_int, clBuildProgram,
     (cl_program p, cl_uint n, const cl_device_id *d, const char *o,
      build_notify cb, void *ud), (p, n, d, o, cb, ud), 0)
WRAP(cl_int, clGetProgramBuildInfo,
     (cl_program p, cl_device_id d, cl_program_build_info i, size_t n,
      void *v, size_t *r), (p, d, i, n, v, r), 0)
WRAP(cl_kernel, clCreateKernel,
     (cl_program p, const char *name, cl_int *e), (p, name, e), 0)
WRAP(cl_kernel, clCloneKernel, (cl_kernel k, cl_int *e), (k, e), 0)
WRAP(cl_int, clGetKernelInfo,
     (cl_kernel k, cl_kernel_info i, size_t n, void *v, size_t *r),
     (k, i, n, v, r), 0)
WRAP(cl_int, clGetKernelWorkGroupInfo,
     (cl_kernel k, cl_device_id d, cl_kernel_work_group_info i, size_t n,
      void *v, size_t *r), (k, d, i, n, v, r), 0)
WRAP(cl_int, clSetKernelArg,
     (cl_kernel k, cl_uint i, size_t n, const void *v), (k, i, n, v), 0)
WRAP(cl_mem, clCreateBuffer,
     (cl_context c, cl_mem_flags f, size_t n, void *h, cl_int *e),
     (c, f, n, h, e), n)
WRAP(cl_int, clGetMemObjectInfo,
     (cl_mem m, cl_mem_info i, size_t n, void *v, size_t *r),
     (m, i, n, v, r), 0)
WRAP(cl_int, clEnqueueWriteBuffer,
     (cl_command_queue q, cl_mem m, cl_bool b, size_t o, size_t n,
      const void *p, cl_uint ne, const cl_event *w, cl_event *ev),
     (q, m, b, o, n, p, ne, w, ev), n)
WRAP(cl_int, clEnqueueReadBuffer,
     (cl_command_queue q, cl_mem m, cl_bool b, size_t o, size_t n, void *p,
      cl_uint ne, const cl_event *w, cl_event *ev),
     (q, m, b, o, n, p, ne, w, ev), n)
WRAP(cl_int, clEnqueueWriteBufferRect,
     (cl_command_queue q, cl_mem m, cl_bool b, const size_t *bo,
      const size_t *ho, const size_t *r, size_t brp, size_t bsp, size_t hrp,
      size_t hsp, const void *p, cl_uint ne, const cl_event *w,
      cl_event *ev), (q, m, b, bo, ho, r, brp, bsp, hrp, hsp, p, ne, w, ev),
     r != NULL ? r[0] * r[1] * r[2] : 0)
WRAP(cl_int, clEnqueueReadBufferRect,
     (cl_command_queue q, cl_mem m, cl_bool b, const size_t *bo,
      const size_t *ho, const size_t *r, size_t brp, size_t bsp, size_t hrp,
      size_t hsp, void *p, cl_uint ne, const cl_event *w, cl_event *ev),
     (q, m, b, bo, ho, r, brp, bsp, hrp, hsp, p, ne, w, ev),
     r != NULL ? r[0] * r[1] * r[2] : 0)
WRAP(cl_int, clEnqueueCopyBuffer,
     (cl_command_queue q, cl_mem s, cl_mem d, size_t so, size_t dof,
      size_t n, cl_uint ne, const cl_event *w, cl_event *ev),
     (q, s, d, so, dof, n, ne, w, ev), n)
WRAP(cl_int, clEnqueueFillBuffer,
     (cl_command_queue q, cl_mem m, const void *pat, size_t ps, size_t o,
      size_t n, cl_uint ne, const cl_event *w, cl_event *ev),
     (q, m, pat, ps, o, n, ne, w, ev), n)
WRAP(void *, clEnqueueMapBuffer,
     (cl_command_queue q, cl_mem m, cl_bool b, cl_map_flags f, size_t o,
      size_t n, cl_uint ne, const cl_event *w, cl_event *ev, cl_int *e),
     (q, m, b, f, o, n, ne, w, ev, e), n)
WRAP(cl_int, clEnqueueUnmapMemObject,
     (cl_command_queue q, cl_mem m, void *p, cl_uint ne, const cl_event *w,
      cl_event *ev), (q, m, p, ne, w, ev), 0)
WRAP(cl_int, clEnqueueMigrateMemObjects,
     (cl_command_queue q, cl_uint n, const cl_mem *m, cl_mem_migration_flags f,
      cl_uint ne, const cl_event *w, cl_event *ev), (q, n, m, f, ne, w, ev), 0)
WRAP(cl_int, clEnqueueNDRangeKernel,
     (cl_command_queue q, cl_kernel k, cl_uint d, const size_t *o,
      const size_t *g, const size_t *l, cl_uint ne, const cl_event *w,
      cl_event *ev), (q, k, d, o, g, l, ne, w, ev), 0)
WRAP(cl_event, clCreateUserEvent, (cl_context c, cl_int *e), (c, e), 0)
WRAP(cl_int, clSetUserEventStatus, (cl_event ev, cl_int s), (ev, s), 0)
WRAP(cl_int, clGetEventInfo,
     (cl_event ev, cl_event_info i, size_t n, void *v, size_t *r),
     (ev, i, n, v, r), 0)
WRAP(cl_int, clWaitForEvents, (cl_uint n, const cl_event *l), (n, l), 0)
WRAP(cl_int, clFlush, (cl_command_queue q), (q), 0)
WRAP(cl_int, clFinish, (cl_command_queue q), (q), 0)
WRAP(cl_int, clRetainKernel, (cl_kernel k), (k), 0)
WRAP(cl_int, clRetainMemObject, (cl_mem m), (m), 0)
WRAP(cl_int, clReleaseEvent, (cl_event ev), (ev), 0)
WRAP(cl_int, clReleaseMemObject, (cl_mem m), (m), 0)
WRAP(cl_int, clReleaseKernel, (cl_kernel k), (k), 0)
WRAP(cl_int, clReleaseProgram, (cl_program p), (p), 0)
WRAP(cl_int, clReleaseCommandQueue, (cl_command_queue q), (q), 0)
WRAP(cl_int, clReleaseContext, (cl_context c), (c), 0)
