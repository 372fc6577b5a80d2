/*
 * e2e.c - a compute-bound OpenCL program, run end to end natively and
 * through ava by e2e.py: a batch of dense matrix products.
 *
 * Usage: ava-bench-e2e [--n N] [--reps R] [--tile T]
 *
 * One N x N matrix A (default N = 1024) is written to the device once;
 * then R times (default 3) a fresh N x N matrix B_r is written, C_r =
 * A * B_r is computed by a tiled kernel (T x T work-groups, default 16,
 * each staging tiles of A and B in __local memory), and C_r is read back.
 * This is the shape of a real offload: set-up and a kernel build, then
 * rounds of upload, compute and download, compute-bound at these sizes.
 *
 * The inputs are small integers (-8..8) stored as floats, so every product
 * and every partial sum is exact in single precision (N * 64 < 2^24 for N
 * up to 2^18): the result does not depend on the order of the sums, and a
 * sample of each C_r (64 entries) is checked for exact equality against
 * the host. The checksum is XXH64 over all C_r, in order.
 *
 * Prints two lines on stdout:
 *   checksum xxh64 <16 hex digits>
 *   e2e n N reps R tile T wall_ns W compute_ns K
 * where W is the program's own wall time from its first OpenCL call to
 * its last, and K the compute part alone: from the upload of A to the
 * last round's check (after set-up and the build). With --reps 0 only the
 * set-up, the build and the upload of A run.
 * Exit status: 0 checked, 1 a result was wrong, 99 set-up failed or bad
 * usage. Timing never decides the exit status.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#define CL_TARGET_OPENCL_VERSION 300
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>

#define SAMPLES 64

static const char *src =
	"__kernel void matmul(int n, __global const float *a,\n"
	"                     __global const float *b, __global float *c)\n"
	"{\n"
	"    __local float at[TS][TS], bt[TS][TS];\n"
	"    int lr = get_local_id(1), lc = get_local_id(0);\n"
	"    int row = get_global_id(1), col = get_global_id(0);\n"
	"    float acc = 0.0f;\n"
	"    for (int t = 0; t < n; t += TS) {\n"
	"        at[lr][lc] = a[row * n + t + lc];\n"
	"        bt[lr][lc] = b[(t + lr) * n + col];\n"
	"        barrier(CLK_LOCAL_MEM_FENCE);\n"
	"        for (int k = 0; k < TS; k++)\n"
	"            acc += at[lr][k] * bt[k][lc];\n"
	"        barrier(CLK_LOCAL_MEM_FENCE);\n"
	"    }\n"
	"    c[row * n + col] = acc;\n"
	"}\n";

struct opts {
	size_t n, reps, tile;
};

struct gpu {
	cl_context ctx;
	cl_command_queue q;
	cl_program prog;
	cl_kernel k;
	cl_mem a, b, c;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A fixed LCG: the same inputs on every run and machine. */
static uint32_t
lcg(uint32_t *state)
{
	*state = *state * 1664525u + 1013904223u;
	return *state >> 8;
}

/* Small integers -8..8 as floats: every product and sum stays exact. */
static void
fill(float *m, size_t count, uint32_t seed)
{
	uint32_t s = seed * 2654435761u + 1u;
	for (size_t i = 0; i < count; i++)
		m[i] = (float)((int)(lcg(&s) % 17u) - 8);
}

static int
parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ .n = 1024, .reps = 3, .tile = 16 };
	for (int i = 1; i < argc; i += 2) {
		char *end;
		if (i + 1 >= argc)
			return -1;
		unsigned long long v = strtoull(argv[i + 1], &end, 10);
		if (*end != '\0')
			return -1;
		if (strcmp(argv[i], "--n") == 0)
			o->n = (size_t)v;
		else if (strcmp(argv[i], "--reps") == 0)
			o->reps = (size_t)v;
		else if (strcmp(argv[i], "--tile") == 0)
			o->tile = (size_t)v;
		else
			return -1;
	}
	/* The kernel has no bounds checks: N must be a multiple of the tile,
	 * and the sums must stay exact (N * 64 < 2^24). */
	if (o->tile == 0 || o->tile > 64 || o->n == 0 || o->n % o->tile != 0 ||
	    o->n > (1u << 17))
		return -1;
	return 0;
}

static int
build(struct gpu *g, cl_device_id d, size_t tile)
{
	char options[32];
	cl_int err;
	snprintf(options, sizeof(options), "-DTS=%zu", tile);
	g->prog = clCreateProgramWithSource(g->ctx, 1, &src, NULL, &err);
	if (g->prog == NULL)
		return -1;
	err = clBuildProgram(g->prog, 1, &d, options, NULL, NULL);
	if (err != CL_SUCCESS) {
		char log[4096] = "";
		clGetProgramBuildInfo(g->prog, d, CL_PROGRAM_BUILD_LOG,
				      sizeof(log) - 1, log, NULL);
		fprintf(stderr, "e2e: build failed (%d):\n%s\n", err, log);
		return -1;
	}
	g->k = clCreateKernel(g->prog, "matmul", &err);
	return g->k != NULL ? 0 : -1;
}

static int
set_up(struct gpu *g, size_t n, size_t tile)
{
	cl_platform_id p;
	cl_device_id d;
	cl_int err;
	size_t bytes = n * n * sizeof(float);
	if (clGetPlatformIDs(1, &p, NULL) != CL_SUCCESS ||
	    clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 1, &d, NULL) != CL_SUCCESS)
		return -1;
	g->ctx = clCreateContext(NULL, 1, &d, NULL, NULL, &err);
	g->q = g->ctx ? clCreateCommandQueue(g->ctx, d, 0, &err) : NULL;
	if (g->q == NULL || build(g, d, tile) != 0)
		return -1;
	g->a = clCreateBuffer(g->ctx, CL_MEM_READ_ONLY, bytes, NULL, &err);
	g->b = clCreateBuffer(g->ctx, CL_MEM_READ_ONLY, bytes, NULL, &err);
	g->c = clCreateBuffer(g->ctx, CL_MEM_WRITE_ONLY, bytes, NULL, &err);
	if (g->a == NULL || g->b == NULL || g->c == NULL)
		return -1;
	cl_int ni = (cl_int)n;
	if (clSetKernelArg(g->k, 0, sizeof(ni), &ni) != CL_SUCCESS ||
	    clSetKernelArg(g->k, 1, sizeof(cl_mem), &g->a) != CL_SUCCESS ||
	    clSetKernelArg(g->k, 2, sizeof(cl_mem), &g->b) != CL_SUCCESS ||
	    clSetKernelArg(g->k, 3, sizeof(cl_mem), &g->c) != CL_SUCCESS)
		return -1;
	return 0;
}

static void
tear_down(struct gpu *g)
{
	if (g->c)
		clReleaseMemObject(g->c);
	if (g->b)
		clReleaseMemObject(g->b);
	if (g->a)
		clReleaseMemObject(g->a);
	if (g->k)
		clReleaseKernel(g->k);
	if (g->prog)
		clReleaseProgram(g->prog);
	if (g->q)
		clReleaseCommandQueue(g->q);
	if (g->ctx)
		clReleaseContext(g->ctx);
}

/* Compare SAMPLES entries of c = a * b with the host's exact product. */
static int
check(const float *a, const float *b, const float *c, size_t n, size_t rep)
{
	uint32_t s = (uint32_t)rep + 7u;
	for (int i = 0; i < SAMPLES; i++) {
		size_t row = lcg(&s) % n, col = lcg(&s) % n;
		double want = 0.0;
		for (size_t k = 0; k < n; k++)
			want += (double)a[row * n + k] * (double)b[k * n + col];
		if ((double)c[row * n + col] != want) {
			fprintf(stderr, "e2e: rep %zu: C[%zu][%zu] = %.1f, "
				"expected %.1f\n", rep, row, col,
				(double)c[row * n + col], want);
			return -1;
		}
	}
	return 0;
}

/* One round: upload B_r, compute, download C_r, check and hash it. */
static int
round_trip(struct gpu *g, const struct opts *o, size_t rep, const float *a,
	   float *b, float *c, XXH64_state_t *h)
{
	size_t bytes = o->n * o->n * sizeof(float);
	size_t global[2] = { o->n, o->n }, local[2] = { o->tile, o->tile };
	fill(b, o->n * o->n, (uint32_t)rep + 1u);
	cl_int e1 = clEnqueueWriteBuffer(g->q, g->b, CL_FALSE, 0, bytes, b, 0,
					 NULL, NULL);
	cl_int e2 = clEnqueueNDRangeKernel(g->q, g->k, 2, NULL, global, local,
					   0, NULL, NULL);
	cl_int e3 = clEnqueueReadBuffer(g->q, g->c, CL_TRUE, 0, bytes, c, 0,
					NULL, NULL);
	if (e1 != CL_SUCCESS || e2 != CL_SUCCESS || e3 != CL_SUCCESS) {
		fprintf(stderr, "e2e: rep %zu: write %d, kernel %d, read %d\n",
			rep, e1, e2, e3);
		return 99;
	}
	XXH64_update(h, c, bytes);
	return check(a, b, c, o->n, rep) == 0 ? 0 : 1;
}

static int
run(struct gpu *g, const struct opts *o, uint64_t *compute_ns,
    uint64_t *digest)
{
	size_t count = o->n * o->n;
	float *a = malloc(count * sizeof(float));
	float *b = malloc(count * sizeof(float));
	float *c = malloc(count * sizeof(float));
	XXH64_state_t *h = XXH64_createState();
	int rc = 99;
	if (a == NULL || b == NULL || c == NULL || h == NULL)
		goto err_free;
	XXH64_reset(h, 0);
	fill(a, count, 0);
	uint64_t t0 = now_ns();
	if (clEnqueueWriteBuffer(g->q, g->a, CL_TRUE, 0, count * sizeof(float),
				 a, 0, NULL, NULL) != CL_SUCCESS)
		goto err_free;
	rc = 0;
	for (size_t r = 0; r < o->reps && rc == 0; r++)
		rc = round_trip(g, o, r, a, b, c, h);
	*compute_ns = now_ns() - t0;
	*digest = XXH64_digest(h);
err_free:
	XXH64_freeState(h);
	free(c);
	free(b);
	free(a);
	return rc;
}

int
main(int argc, char **argv)
{
	struct opts o;
	if (parse(argc, argv, &o) != 0) {
		fprintf(stderr, "usage: ava-bench-e2e [--n N] [--reps R] "
			"[--tile T]\n(N a multiple of T, T <= 64, "
			"N <= 131072)\n");
		return 99;
	}
	uint64_t t0 = now_ns();
	struct gpu g = { 0 };
	if (set_up(&g, o.n, o.tile) != 0) {
		fprintf(stderr, "e2e: OpenCL set-up failed\n");
		tear_down(&g);
		return 99;
	}
	uint64_t compute_ns = 0, digest = 0;
	int rc = run(&g, &o, &compute_ns, &digest);
	tear_down(&g);
	uint64_t wall = now_ns() - t0;
	if (rc == 99)
		fprintf(stderr, "e2e: a transfer or the kernel failed\n");
	if (rc != 0)
		return rc;
	printf("checksum xxh64 %016" PRIx64 "\n", digest);
	printf("e2e n %zu reps %zu tile %zu wall_ns %" PRIu64
	       " compute_ns %" PRIu64 "\n", o.n, o.reps, o.tile, wall,
	       compute_ns);
	return 0;
}
