/*
 * migbench.c - the guest of the migration benchmark (migrate_bench.py):
 * LIVE_MIB of buffer state, of which a HOT_MIB buffer is rewritten by a
 * kernel ITERS times, each followed by clFinish, as a simulation step
 * would. Prints a digest of every buffer at the end, which must equal the
 * native run's whatever happened to the session meanwhile.
 *
 * usage: migbench LIVE_MIB HOT_MIB ITERS
 *        migbench --memcpy MIB     (memcpy bandwidth, GB/s, for ratios)
 * With AVA_TEST_PAUSE=DIR it writes DIR/running after its set-up, so the
 * benchmark knows when to migrate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../integration/itest.h"

static const char *src =
	"__kernel void churn(__global uint *x, uint k) {\n"
	"    size_t i = get_global_id(0);\n"
	"    x[i] = x[i] * 1664525u + 1013904223u + k;\n"
	"}\n";

static double
now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int
memcpy_bw(size_t mib)
{
	size_t n = mib << 20;
	char *a = malloc(n), *b = malloc(n);
	if (a == NULL || b == NULL)
		return 99;
	memset(a, 1, n);
	memset(b, 2, n);
	double best = 1e9;
	for (int i = 0; i < 5; i++) {
		double t0 = now();
		memcpy(b, a, n);
		double t = now() - t0;
		if (t < best)
			best = t;
	}
	printf("memcpy %.2f GB/s\n", n / best / 1e9 + (b[n / 2] - 1) * 0.0);
	free(a);
	free(b);
	return 0;
}

#define CHECK(x) do { cl_int e_ = (x); if (e_ != CL_SUCCESS) { \
	printf("%s: %s\n", #x, itest_err_name(e_)); return 1; } } while (0)

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--memcpy") == 0)
		return memcpy_bw((size_t)atol(argv[2]));
	if (argc != 4)
		return 99;
	size_t live = (size_t)atol(argv[1]) << 20;
	size_t hot = (size_t)atol(argv[2]) << 20;
	int iters = atoi(argv[3]);
	cl_platform_id plat;
	cl_device_id dev;
	cl_context ctx;
	cl_command_queue q;
	cl_int err;
	if (!itest_open(&plat, &dev, &ctx, &q))
		return 99;
	cl_program prog = clCreateProgramWithSource(ctx, 1, &src, NULL, &err);
	CHECK(err);
	CHECK(clBuildProgram(prog, 1, &dev, NULL, NULL, NULL));
	cl_kernel k = clCreateKernel(prog, "churn", &err);
	CHECK(err);
	/* The cold state in 64 MiB buffers, each with its own pattern. */
	size_t chunk = 64u << 20, ncold = (live - hot) / chunk;
	cl_mem *cold = calloc(ncold ? ncold : 1, sizeof(*cold));
	for (size_t i = 0; i < ncold; i++) {
		cl_uint pat = (cl_uint)(0x9e3779b9u * (i + 1));
		cold[i] = clCreateBuffer(ctx, CL_MEM_READ_WRITE, chunk, NULL, &err);
		CHECK(err);
		CHECK(clEnqueueFillBuffer(q, cold[i], &pat, sizeof(pat), 0, chunk,
					  0, NULL, NULL));
	}
	cl_mem h = clCreateBuffer(ctx, CL_MEM_READ_WRITE, hot, NULL, &err);
	CHECK(err);
	cl_uint seed = 7;
	CHECK(clEnqueueFillBuffer(q, h, &seed, sizeof(seed), 0, hot, 0, NULL,
				  NULL));
	CHECK(clFinish(q));
	const char *dir = getenv("AVA_TEST_PAUSE");
	if (dir != NULL) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/running", dir);
		FILE *f = fopen(path, "w");
		if (f != NULL)
			fclose(f);
	}
	size_t global = hot / sizeof(cl_uint);
	double t0 = now();
	CHECK(clSetKernelArg(k, 0, sizeof(cl_mem), &h));
	for (int it = 0; it < iters; it++) {
		cl_uint kk = (cl_uint)it;
		CHECK(clSetKernelArg(k, 1, sizeof(kk), &kk));
		CHECK(clEnqueueNDRangeKernel(q, k, 1, NULL, &global, NULL, 0,
					     NULL, NULL));
		CHECK(clFinish(q));
	}
	double dt = now() - t0;
	char *buf = malloc(chunk > hot ? chunk : hot);
	CHECK(clEnqueueReadBuffer(q, h, CL_TRUE, 0, hot, buf, 0, NULL, NULL));
	uint64_t d = itest_digest(buf, hot);
	for (size_t i = 0; i < ncold; i++) {
		CHECK(clEnqueueReadBuffer(q, cold[i], CL_TRUE, 0, chunk, buf, 0,
					  NULL, NULL));
		d ^= itest_digest(buf, chunk) * (i + 3);
	}
	printf("digest %016llx\n", (unsigned long long)d);
	fprintf(stderr, "steps %d in %.2f s\n", iters, dt);
	return 0;
}
