/*
 * bench.c - the cost of remoting, measured by an ordinary OpenCL program.
 *
 * Usage: bench [--iters N] [--max-mib M]
 *
 * (a) Round trip of a small synchronous call: clGetDeviceInfo(
 *     CL_DEVICE_MAX_COMPUTE_UNITS), timed one call at a time, N times
 *     after a warm-up; prints p50, p99 and the mean.
 * (b) Bandwidth of blocking clEnqueueWriteBuffer and clEnqueueReadBuffer
 *     for 1 MiB up to M MiB (powers of two; M = 0 skips this part); each
 *     size is repeated (after
 *     one untimed warm-up transfer) and the median is printed. The data read
 *     back is checked against what was written, once per size.
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

/* Times `reps` blocking transfers of size bytes; prints the median. */
static int
transfer(cl_command_queue q, cl_mem m, unsigned char *host, size_t size,
	 int write, int reps)
{
	uint64_t t[64];
	for (int i = -1; i < reps; i++) {
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
bandwidth(cl_context ctx, cl_command_queue q, size_t max_mib)
{
	int rc = 0;
	for (size_t mib = 1; mib <= max_mib && rc == 0; mib *= 2) {
		size_t size = mib * MIB;
		/* Enough repetitions for a stable median, within ~1 GiB. */
		int reps = (int)(1024 / mib);
		reps = reps < 3 ? 3 : reps > 21 ? 21 : reps;
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
		rc = transfer(q, m, src, size, 1, reps);
		if (rc == 0)
			rc = transfer(q, m, back, size, 0, reps);
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

int
main(int argc, char **argv)
{
	size_t iters = 20000, max_mib = 256;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--iters") == 0)
			iters = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--max-mib") == 0)
			max_mib = strtoul(argv[i + 1], NULL, 10);
	}
	if (iters == 0) {
		fprintf(stderr, "usage: bench [--iters N] [--max-mib M]\n");
		return 99;
	}

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
	int rc = latency(d, iters);
	if (rc == 0)
		rc = bandwidth(ctx, q, max_mib);
	clReleaseCommandQueue(q);
	clReleaseContext(ctx);
	return rc;
}
