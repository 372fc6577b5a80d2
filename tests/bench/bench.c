/*
 * bench.c - the cost of remoting, measured by an ordinary OpenCL program.
 *
 * Usage: bench [--iters N] [--max-mib M] [--reps R] [--unique]
 *              [--launches L]
 *
 * (a) Round trip of a small synchronous call: clGetDeviceInfo(
 *     CL_DEVICE_MAX_COMPUTE_UNITS), timed one call at a time, N times
 *     after a warm-up; prints p50, p99 and the mean (N = 0 skips it).
 * (b) Bandwidth of blocking clEnqueueWriteBuffer and clEnqueueReadBuffer
 *     for 1 MiB up to M MiB (powers of two; M = 0 skips this part); each
 *     size is repeated (after
 *     one untimed warm-up transfer; at most R times if R > 0) and the
 *     median is printed. The data read back is checked against what was
 *     written, once per size. With --unique every write carries different
 *     bytes (a counter in its first 8, set outside the timed call), so a
 *     journal cannot store a repeat once.
 * (c) Launches: L times clSetKernelArg + clEnqueueNDRangeKernel of a
 *     one-work-item kernel, then clFinish, timed as a whole (L = 0, the
 *     default, skips it); the kernel's sum is checked.
 *
 * The output is one line per figure, "key value...", for bench.py to pair
 * a native run with a run through ava. Timing never decides the exit
 * status: 0 measured, 1 data came back wrong, 99 set-up failed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CL_TARGET_OPENCL_VERSION 300
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>

#define MIB (1024u * 1024u)

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The q-quantile of n sorted samples (nearest rank). */
static uint64_t
quantile(const uint64_t *s, size_t n, double q)
{
	size_t i = (size_t)(q * (double)n);
	return s[i < n ? i : n - 1];
}

static int
latency(cl_device_id d, size_t iters)
{
	uint64_t *t = malloc(iters * sizeof(*t));
	cl_uint units;
	if (t == NULL)
		return 99;
	for (size_t i = 0; i < 1000; i++)
		clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof(units),
				&units, NULL);
	uint64_t sum = 0;
	for (size_t i = 0; i < iters; i++) {
		uint64_t t0 = now_ns();
		cl_int err = clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS,
					     sizeof(units), &units, NULL);
		t[i] = now_ns() - t0;
		sum += t[i];
		if (err != CL_SUCCESS) {
			fprintf(stderr, "bench: clGetDeviceInfo: %d\n", err);
			free(t);
			return 99;
		}
	}
	qsort(t, iters, sizeof(*t), cmp_u64);
	printf("latency clGetDeviceInfo n %zu p50_ns %llu p99_ns %llu "
	       "mean_ns %llu\n", iters,
	       (unsigned long long)quantile(t, iters, 0.50),
	       (unsigned long long)quantile(t, iters, 0.99),
	       (unsigned long long)(sum / iters));
	free(t);
	return 0;
}

/* Times `reps` blocking transfers of size bytes; prints the median.
 * unique: a write's first 8 bytes change before each transfer. */
static int
transfer(cl_command_queue q, cl_mem m, unsigned char *host, size_t size,
	 int write, int reps, int unique)
{
	static uint64_t counter;
	uint64_t t[64];
	for (int i = -1; i < reps; i++) {
		if (unique && write && size >= sizeof(counter)) {
			counter++;
			memcpy(host, &counter, sizeof(counter));
		}
		uint64_t t0 = now_ns();
		cl_int err = write ?
			clEnqueueWriteBuffer(q, m, CL_TRUE, 0, size, host, 0,
					     NULL, NULL) :
			clEnqueueReadBuffer(q, m, CL_TRUE, 0, size, host, 0,
					    NULL, NULL);
		uint64_t dt = now_ns() - t0;
		if (err != CL_SUCCESS) {
			fprintf(stderr, "bench: %s of %zu bytes: %d\n",
				write ? "write" : "read", size, err);
			return 99;
		}
		if (i >= 0)
			t[i] = dt;
	}
	qsort(t, (size_t)reps, sizeof(t[0]), cmp_u64);
	uint64_t med = t[reps / 2];
	printf("bw %s bytes %zu reps %d median_ns %llu mbps %.1f\n",
	       write ? "write" : "read", size, reps, (unsigned long long)med,
	       (double)size / ((double)med / 1e9) / 1e6);
	return 0;
}

static int
bandwidth(cl_context ctx, cl_command_queue q, size_t max_mib, int max_reps,
	  int unique)
{
	int rc = 0;
	for (size_t mib = 1; mib <= max_mib && rc == 0; mib *= 2) {
		size_t size = mib * MIB;
		/* Enough repetitions for a stable median, within ~1 GiB. */
		int reps = (int)(1024 / mib);
		reps = reps < 3 ? 3 : reps > 21 ? 21 : reps;
		if (max_reps > 0 && reps > max_reps)
			reps = max_reps;
		unsigned char *src = malloc(size), *back = malloc(size);
		cl_int err;
		cl_mem m = clCreateBuffer(ctx, CL_MEM_READ_WRITE, size, NULL,
					  &err);
		if (src == NULL || back == NULL || m == NULL) {
			fprintf(stderr, "bench: %zu MiB: no memory (%d)\n", mib,
				err);
			free(src);
			free(back);
			return 99;
		}
		for (size_t i = 0; i < size; i++)
			src[i] = (unsigned char)(i * 2654435761u >> 13);
		memset(back, 0, size);
		rc = transfer(q, m, src, size, 1, reps, unique);
		if (rc == 0)
			rc = transfer(q, m, back, size, 0, reps, unique);
		if (rc == 0 && memcmp(src, back, size) != 0) {
			fprintf(stderr,
				"bench: %zu MiB: data read back differs\n",
				mib);
			rc = 1;
		}
		clReleaseMemObject(m);
		free(src);
		free(back);
	}
	return rc;
}

static const char *launch_src =
	"__kernel void tick(__global uint *b, uint k)\n"
	"{\n"
	"    if (get_global_id(0) == 0)\n"
	"        b[0] += k;\n"
	"}\n";

static int
launch_fail(const char *what, cl_int err)
{
	fprintf(stderr, "bench: launches: %s: %d\n", what, err);
	return 99;
}

/* n kernel launches, each with its own argument; the sum comes back. */
static int
launches(cl_context ctx, cl_device_id d, cl_command_queue q, size_t n)
{
	cl_int err;
	cl_uint zero = 0, sum = 0;
	size_t one = 1;
	cl_program p = clCreateProgramWithSource(ctx, 1, &launch_src, NULL,
						 &err);
	if (p == NULL || clBuildProgram(p, 1, &d, "", NULL, NULL) != CL_SUCCESS)
		return launch_fail("build", err);
	cl_kernel k = clCreateKernel(p, "tick", &err);
	cl_mem b = k ? clCreateBuffer(ctx, CL_MEM_READ_WRITE |
				      CL_MEM_COPY_HOST_PTR, sizeof(zero),
				      &zero, &err) : NULL;
	if (b == NULL ||
	    (err = clSetKernelArg(k, 0, sizeof(b), &b)) != CL_SUCCESS)
		return launch_fail("kernel or buffer", err);
	uint64_t t0 = 0;
	/* 100 untimed launches first. */
	for (cl_uint i = 1; i <= n + 100; i++) {
		if (i == 101)
			t0 = now_ns();
		err = clSetKernelArg(k, 1, sizeof(i), &i);
		if (err == CL_SUCCESS)
			err = clEnqueueNDRangeKernel(q, k, 1, NULL, &one, NULL, 0,
						     NULL, NULL);
		if (err != CL_SUCCESS)
			return launch_fail("launch", err);
		sum += i;
	}
	if ((err = clFinish(q)) != CL_SUCCESS)
		return launch_fail("clFinish", err);
	uint64_t dt = now_ns() - t0;
	cl_uint got = 0;
	err = clEnqueueReadBuffer(q, b, CL_TRUE, 0, sizeof(got), &got, 0, NULL,
				  NULL);
	clReleaseMemObject(b);
	clReleaseKernel(k);
	clReleaseProgram(p);
	if (err != CL_SUCCESS)
		return launch_fail("read back", err);
	if (got != sum) {
		fprintf(stderr, "bench: launches: sum %u, want %u\n", got, sum);
		return 1;
	}
	printf("launch n %zu total_ns %llu per_launch_ns %llu\n", n,
	       (unsigned long long)dt, (unsigned long long)(dt / n));
	return 0;
}

static int
usage(void)
{
	fprintf(stderr, "usage: bench [--iters N] [--max-mib M] [--reps R] "
		"[--unique] [--launches L]\n");
	return 99;
}

int
main(int argc, char **argv)
{
	size_t iters = 20000, max_mib = 256, nlaunch = 0;
	int reps = 0, unique = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--unique") == 0)
			unique = 1;
		else if (i + 1 == argc)
			return usage();
		else if (strcmp(argv[i], "--iters") == 0)
			iters = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--max-mib") == 0)
			max_mib = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--reps") == 0)
			reps = atoi(argv[++i]);
		else if (strcmp(argv[i], "--launches") == 0)
			nlaunch = strtoul(argv[++i], NULL, 10);
		else
			return usage();
	}
	if (reps < 0 || reps > 21)
		return usage();

	cl_platform_id p;
	cl_device_id d;
	cl_int err;
	if (clGetPlatformIDs(1, &p, NULL) != CL_SUCCESS ||
	    clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 1, &d, NULL) != CL_SUCCESS) {
		fprintf(stderr, "bench: no OpenCL device\n");
		return 99;
	}
	cl_context ctx = clCreateContext(NULL, 1, &d, NULL, NULL, &err);
	cl_command_queue q = ctx ? clCreateCommandQueue(ctx, d, 0, &err) : NULL;
	if (q == NULL) {
		fprintf(stderr, "bench: context or queue: %d\n", err);
		return 99;
	}
	int rc = iters ? latency(d, iters) : 0;
	if (rc == 0 && nlaunch)
		rc = launches(ctx, d, q, nlaunch);
	if (rc == 0)
		rc = bandwidth(ctx, q, max_mib, reps, unique);
	clReleaseCommandQueue(q);
	clReleaseContext(ctx);
	return rc;
}
