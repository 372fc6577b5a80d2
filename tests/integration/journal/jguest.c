/*
 * jguest.c - an OpenCL program that keeps its own account of the calls it
 * makes, so that a journal of it can be checked against the guest's view.
 *
 * Usage:
 *   jguest probe N
 *       N calls of clGetPlatformIDs and nothing else. The ICD loader
 *       makes calls of its own as it loads ava's ICD, and may answer
 *       clGetPlatformIDs itself: journals of probe 1 and probe 3 tell the
 *       driver both things, so that it assumes neither.
 *   jguest faithful DUMPDIR
 *       a fixed sequence of calls from the main thread, then from two
 *       threads at once, then from the main thread again. Prints every
 *       call in order per thread ("call THREAD N FN"), then per-function
 *       counts, and the guest's own handle pointers ("ptr 0x..."), which
 *       must never show in the journal. Each input buffer it passes is
 *       also written to DUMPDIR/THREAD-N-ARG.bin (N: the thread's call
 *       number), so the driver can compare payloads byte for byte.
 *   jguest heavy N
 *       N rounds of writes (small, and every 4th round 64 KiB, unique),
 *       kernel arguments and launches, with a clFinish every 16 rounds.
 *       Before each call it prints "c N FN DIGEST" (the XXH3-64 of its
 *       input buffer, or "-"), after it "a N STATUS", unbuffered, so a
 *       driver that kills the server knows which calls had returned.
 *   jguest churn N SIZE
 *       N rounds of create buffer, write SIZE bytes (unique), small write,
 *       release buffer.
 *
 * Exit status: 0 done, 1 a call failed (heavy: expected once the server
 * is killed), 99 set-up failed.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

static const char *src =
	"__kernel void bump(__global uint *b, uint k)\n"
	"{\n"
	"    size_t i = get_global_id(0);\n"
	"    b[i] = b[i] * 3u + k;\n"
	"}\n";

/* ---- the guest's own account ------------------------------------------ */

#define MAX_CALLS 4096

struct account {
	const char *name;          /* "main", "A", "B" */
	const char *calls[MAX_CALLS];
	unsigned n;
	const char *dumpdir;
};

static struct account acc_main = { .name = "main" };

/* Note the call about to be made; returns its number in this thread. */
static unsigned
note(struct account *a, const char *fn)
{
	if (a->n == MAX_CALLS) {
		fprintf(stderr, "jguest: too many calls\n");
		exit(99);
	}
	a->calls[a->n++] = fn;
	return a->n;
}

/* Keep a copy of an input buffer of call n (argument name arg). */
static void
dump(const struct account *a, unsigned n, const char *arg, const void *p,
     size_t len)
{
	if (a->dumpdir == NULL)
		return;
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s-%u-%s.bin", a->dumpdir, a->name, n,
		 arg);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "jguest: %s: %s\n", path, strerror(errno));
		exit(99);
	}
}

static void
fill(void *p, size_t len, uint32_t seed)
{
	uint8_t *b = p;
	uint32_t x = seed * 2654435761u + 12345u;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (uint8_t)x;
	}
}

static void
must(cl_int err, const char *what)
{
	if (err != CL_SUCCESS) {
		printf("FAIL %s: %s\n", what, itest_err_name(err));
		exit(1);
	}
}

/* CALL(account, fn, args...): note, then call, then insist on success. */
#define CALL(a, fn, ...) must((note((a), #fn), fn(__VA_ARGS__)), #fn)
/* For creators: note, call, and check *errp. */
#define MAKE(a, fn, errp, ...) (note((a), #fn), fn(__VA_ARGS__))

struct setup {
	cl_platform_id p;
	cl_device_id d;
	cl_context ctx;
	cl_command_queue q;
	cl_program prog;
};

static void
set_up(struct account *a, struct setup *s)
{
	cl_uint n = 0, units = 0;
	cl_int err;
	CALL(a, clGetPlatformIDs, 0, NULL, &n);
	if (n == 0)
		exit(99);
	CALL(a, clGetPlatformIDs, 1, &s->p, NULL);
	CALL(a, clGetDeviceIDs, s->p, CL_DEVICE_TYPE_ALL, 1, &s->d, NULL);
	CALL(a, clGetDeviceInfo, s->d, CL_DEVICE_MAX_COMPUTE_UNITS,
	     sizeof(units), &units, NULL);
	s->ctx = MAKE(a, clCreateContext, &err, NULL, 1, &s->d, NULL, NULL,
		      &err);
	must(err, "clCreateContext");
	s->q = MAKE(a, clCreateCommandQueue, &err, s->ctx, s->d, 0, &err);
	must(err, "clCreateCommandQueue");
	s->prog = MAKE(a, clCreateProgramWithSource, &err, s->ctx, 1, &src,
		       NULL, &err);
	must(err, "clCreateProgramWithSource");
	CALL(a, clBuildProgram, s->prog, 1, &s->d, "", NULL, NULL);
}

/* ---- faithful ----------------------------------------------------------- */

#define SMALL 64
#define MID (8u << 10)
#define BIG (1u << 20)
#define ROUNDS_A 25
#define ROUNDS_B 17
#define B_BYTES 256

struct worker {
	struct account acc;
	const struct setup *s;
	pthread_t t;
	bool ok;
	uintptr_t ptrs[4];
};

/* Thread A: its own queue, kernel and buffer; launches. */
static void *
thread_a(void *arg)
{
	struct worker *w = arg;
	struct account *a = &w->acc;
	cl_int err;
	uint32_t host[16] = { 0 }, back[16];
	cl_command_queue q = MAKE(a, clCreateCommandQueue, &err, w->s->ctx,
				  w->s->d, 0, &err);
	must(err, "clCreateCommandQueue");
	cl_kernel k = MAKE(a, clCreateKernel, &err, w->s->prog, "bump", &err);
	must(err, "clCreateKernel");
	cl_mem m = MAKE(a, clCreateBuffer, &err, w->s->ctx,
			CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof(host),
			host, &err);
	must(err, "clCreateBuffer");
	dump(a, a->n, "host_ptr", host, sizeof(host));
	size_t gsz = 16;
	for (cl_uint i = 1; i <= ROUNDS_A; i++) {
		CALL(a, clSetKernelArg, k, 0, sizeof(m), &m);
		unsigned n = note(a, "clSetKernelArg");
		dump(a, n, "arg_value", &i, sizeof(i));
		must(clSetKernelArg(k, 1, sizeof(i), &i), "clSetKernelArg");
		CALL(a, clEnqueueNDRangeKernel, q, k, 1, NULL, &gsz, NULL, 0,
		     NULL, NULL);
	}
	CALL(a, clFinish, q);
	CALL(a, clEnqueueReadBuffer, q, m, CL_TRUE, 0, sizeof(back), back, 0,
	     NULL, NULL);
	/* b = 3b + k, from 0, for k = 1..ROUNDS_A. */
	uint32_t want = 0;
	for (uint32_t i = 1; i <= ROUNDS_A; i++)
		want = want * 3u + i;
	w->ok = back[0] == want && back[15] == want;
	w->ptrs[0] = (uintptr_t)q;
	w->ptrs[1] = (uintptr_t)k;
	w->ptrs[2] = (uintptr_t)m;
	CALL(a, clReleaseMemObject, m);
	CALL(a, clReleaseKernel, k);
	CALL(a, clReleaseCommandQueue, q);
	return NULL;
}

/* Thread B: its own queue and buffer; write and read back. */
static void *
thread_b(void *arg)
{
	struct worker *w = arg;
	struct account *a = &w->acc;
	cl_int err;
	uint8_t host[B_BYTES], back[B_BYTES];
	cl_command_queue q = MAKE(a, clCreateCommandQueue, &err, w->s->ctx,
				  w->s->d, 0, &err);
	must(err, "clCreateCommandQueue");
	cl_mem m = MAKE(a, clCreateBuffer, &err, w->s->ctx, CL_MEM_READ_WRITE,
			sizeof(host), NULL, &err);
	must(err, "clCreateBuffer");
	w->ok = true;
	for (uint32_t i = 1; i <= ROUNDS_B; i++) {
		fill(host, sizeof(host), 100 + i);
		unsigned n = note(a, "clEnqueueWriteBuffer");
		dump(a, n, "ptr", host, sizeof(host));
		must(clEnqueueWriteBuffer(q, m, CL_TRUE, 0, sizeof(host), host,
					  0, NULL, NULL),
		     "clEnqueueWriteBuffer");
		CALL(a, clEnqueueReadBuffer, q, m, CL_TRUE, 0, sizeof(back),
		     back, 0, NULL, NULL);
		w->ok = w->ok && memcmp(host, back, sizeof(host)) == 0;
	}
	CALL(a, clFinish, q);
	w->ptrs[0] = (uintptr_t)q;
	w->ptrs[1] = (uintptr_t)m;
	CALL(a, clReleaseMemObject, m);
	CALL(a, clReleaseCommandQueue, q);
	return NULL;
}

static void
print_account(const struct account *a)
{
	printf("thread %s %u\n", a->name, a->n);
	for (unsigned i = 0; i < a->n; i++)
		printf("call %s %u %s\n", a->name, i + 1, a->calls[i]);
}

/* Per-function totals over every thread, in first-seen order. */
static void
print_counts(const struct account *const *accs, int naccs)
{
	const char *names[64];
	unsigned counts[64], n = 0;
	for (int t = 0; t < naccs; t++)
		for (unsigned i = 0; i < accs[t]->n; i++) {
			unsigned j = 0;
			while (j < n && strcmp(names[j], accs[t]->calls[i]) != 0)
				j++;
			if (j == n) {
				names[n] = accs[t]->calls[i];
				counts[n++] = 0;
			}
			counts[j]++;
		}
	for (unsigned j = 0; j < n; j++)
		printf("count %s %u\n", names[j], counts[j]);
}

static int
faithful(const char *dumpdir)
{
	struct account *a = &acc_main;
	struct setup s;
	cl_int err;
	a->dumpdir = dumpdir;
	set_up(a, &s);
	cl_kernel k = MAKE(a, clCreateKernel, &err, s.prog, "bump", &err);
	must(err, "clCreateKernel");
	cl_mem small = MAKE(a, clCreateBuffer, &err, s.ctx, CL_MEM_READ_WRITE,
			    SMALL, NULL, &err);
	must(err, "clCreateBuffer");
	cl_mem mid = MAKE(a, clCreateBuffer, &err, s.ctx, CL_MEM_READ_WRITE,
			  MID, NULL, &err);
	must(err, "clCreateBuffer");
	cl_mem big = MAKE(a, clCreateBuffer, &err, s.ctx, CL_MEM_READ_WRITE,
			  BIG, NULL, &err);
	must(err, "clCreateBuffer");

	uint8_t *buf = malloc(BIG), back[SMALL];
	if (buf == NULL)
		return 99;
	/* Known bytes, inline-sized, then one 1 MiB buffer 10 times (the
	 * journal must store it once), then two different 8 KiB ones. */
	fill(buf, SMALL, 1);
	unsigned n = note(a, "clEnqueueWriteBuffer");
	dump(a, n, "ptr", buf, SMALL);
	must(clEnqueueWriteBuffer(s.q, small, CL_TRUE, 0, SMALL, buf, 0, NULL,
				  NULL), "clEnqueueWriteBuffer");
	uint8_t first[SMALL];
	memcpy(first, buf, SMALL);
	fill(buf, BIG, 2);
	for (int i = 0; i < 10; i++) {
		n = note(a, "clEnqueueWriteBuffer");
		dump(a, n, "ptr", buf, BIG);
		must(clEnqueueWriteBuffer(s.q, big, CL_TRUE, 0, BIG, buf, 0,
					  NULL, NULL), "clEnqueueWriteBuffer");
	}
	for (uint32_t seed = 3; seed <= 4; seed++) {
		fill(buf, MID, seed);
		n = note(a, "clEnqueueWriteBuffer");
		dump(a, n, "ptr", buf, MID);
		must(clEnqueueWriteBuffer(s.q, mid, CL_TRUE, 0, MID, buf, 0,
					  NULL, NULL), "clEnqueueWriteBuffer");
	}
	cl_uint five = 5;
	size_t gsz = SMALL / 4;
	CALL(a, clSetKernelArg, k, 0, sizeof(small), &small);
	n = note(a, "clSetKernelArg");
	dump(a, n, "arg_value", &five, sizeof(five));
	must(clSetKernelArg(k, 1, sizeof(five), &five), "clSetKernelArg");
	CALL(a, clEnqueueNDRangeKernel, s.q, k, 1, NULL, &gsz, NULL, 0, NULL,
	     NULL);
	CALL(a, clFinish, s.q);
	CALL(a, clEnqueueReadBuffer, s.q, small, CL_TRUE, 0, SMALL, back, 0,
	     NULL, NULL);
	size_t size = 0;
	CALL(a, clGetMemObjectInfo, big, CL_MEM_SIZE, sizeof(size), &size,
	     NULL);
	bool ok = size == BIG;
	for (int i = 0; i < SMALL / 4; i++) {
		uint32_t x, y;
		memcpy(&x, first + 4 * i, 4);
		memcpy(&y, back + 4 * i, 4);
		ok = ok && y == x * 3u + 5u;
	}

	/* Two threads at once; the main thread only waits. */
	struct worker wa = { .acc = { .name = "A", .dumpdir = dumpdir },
			     .s = &s };
	struct worker wb = { .acc = { .name = "B", .dumpdir = dumpdir },
			     .s = &s };
	unsigned before_threads = a->n;
	if (pthread_create(&wa.t, NULL, thread_a, &wa) != 0 ||
	    pthread_create(&wb.t, NULL, thread_b, &wb) != 0)
		return 99;
	pthread_join(wa.t, NULL);
	pthread_join(wb.t, NULL);

	uintptr_t ptrs[] = { (uintptr_t)s.p, (uintptr_t)s.d, (uintptr_t)s.ctx,
			     (uintptr_t)s.q, (uintptr_t)s.prog, (uintptr_t)k,
			     (uintptr_t)small, (uintptr_t)mid, (uintptr_t)big };
	CALL(a, clReleaseKernel, k);
	CALL(a, clReleaseProgram, s.prog);
	CALL(a, clReleaseMemObject, small);
	CALL(a, clReleaseMemObject, mid);
	CALL(a, clReleaseMemObject, big);
	CALL(a, clReleaseCommandQueue, s.q);
	CALL(a, clReleaseContext, s.ctx);
	free(buf);

	const struct account *accs[] = { a, &wa.acc, &wb.acc };
	for (int t = 0; t < 3; t++)
		print_account(accs[t]);
	print_counts(accs, 3);
	printf("split main %u\n", before_threads);
	for (size_t i = 0; i < sizeof(ptrs) / sizeof(ptrs[0]); i++)
		printf("ptr %" PRIxPTR "\n", ptrs[i]);
	for (int i = 0; i < 4; i++) {
		if (wa.ptrs[i] != 0)
			printf("ptr %" PRIxPTR "\n", wa.ptrs[i]);
		if (wb.ptrs[i] != 0)
			printf("ptr %" PRIxPTR "\n", wb.ptrs[i]);
	}
	printf("results %s\n", ok && wa.ok && wb.ok ? "ok" : "WRONG");
	return ok && wa.ok && wb.ok ? 0 : 1;
}

/* ---- heavy -------------------------------------------------------------- */

static unsigned heavy_n;

/* One line, one write(): the driver may kill us at any moment. */
static void
say(const char *fmt, ...)
{
	char line[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (write(STDOUT_FILENO, line, (size_t)n) != n)
		exit(1);
}

static void
before(const char *fn, const void *p, size_t len)
{
	heavy_n++;
	if (p != NULL)
		say("c %u %s %016" PRIx64 "\n", heavy_n, fn,
		    itest_digest(p, len));
	else
		say("c %u %s -\n", heavy_n, fn);
}

static void
after(cl_int err)
{
	say("a %u %s\n", heavy_n, itest_err_name(err));
	if (err != CL_SUCCESS)
		exit(1);
}

#define HEAVY_SMALL 64
#define HEAVY_BIG (64u << 10)

static int
heavy(unsigned rounds)
{
	struct setup s;
	struct account a = { .name = "main" };
	cl_int err;
	set_up(&a, &s);
	/* The set-up calls have all returned: report them, then go on. */
	for (unsigned i = 0; i < a.n; i++) {
		before(a.calls[i], NULL, 0);
		after(CL_SUCCESS);
	}
	before("clCreateKernel", NULL, 0);
	cl_kernel k = clCreateKernel(s.prog, "bump", &err);
	after(err);
	before("clCreateBuffer", NULL, 0);
	cl_mem m = clCreateBuffer(s.ctx, CL_MEM_READ_WRITE, HEAVY_BIG, NULL,
				  &err);
	after(err);
	uint8_t *buf = malloc(HEAVY_BIG), *same = malloc(HEAVY_BIG);
	if (buf == NULL || same == NULL)
		return 99;
	fill(same, HEAVY_BIG, 7);
	size_t gsz = HEAVY_SMALL / 4;
	before("clSetKernelArg", NULL, 0);
	after(clSetKernelArg(k, 0, sizeof(m), &m));
	for (cl_uint i = 1; i <= rounds; i++) {
		fill(buf, HEAVY_SMALL, i);
		before("clEnqueueWriteBuffer", buf, HEAVY_SMALL);
		after(clEnqueueWriteBuffer(s.q, m, CL_TRUE, 0, HEAVY_SMALL, buf,
					   0, NULL, NULL));
		if (i % 4 == 0) {
			fill(buf, HEAVY_BIG, i);
			before("clEnqueueWriteBuffer", buf, HEAVY_BIG);
			after(clEnqueueWriteBuffer(s.q, m, CL_TRUE, 0,
						   HEAVY_BIG, buf, 0, NULL,
						   NULL));
		}
		if (i % 32 == 0) {
			before("clEnqueueWriteBuffer", same, HEAVY_BIG);
			after(clEnqueueWriteBuffer(s.q, m, CL_TRUE, 0,
						   HEAVY_BIG, same, 0, NULL,
						   NULL));
		}
		before("clSetKernelArg", &i, sizeof(i));
		after(clSetKernelArg(k, 1, sizeof(i), &i));
		before("clEnqueueNDRangeKernel", NULL, 0);
		after(clEnqueueNDRangeKernel(s.q, k, 1, NULL, &gsz, NULL, 0,
					     NULL, NULL));
		if (i % 16 == 0) {
			before("clFinish", NULL, 0);
			after(clFinish(s.q));
		}
	}
	say("done %u\n", heavy_n);
	free(buf);
	free(same);
	return 0;
}

/* ---- churn -------------------------------------------------------------- */

static int
churn(unsigned rounds, size_t size)
{
	struct setup s;
	struct account a = { .name = "main" };
	cl_int err;
	set_up(&a, &s);
	uint8_t *buf = malloc(size);
	if (buf == NULL)
		return 99;
	for (uint32_t i = 1; i <= rounds; i++) {
		cl_mem m = clCreateBuffer(s.ctx, CL_MEM_READ_WRITE, size, NULL,
					  &err);
		must(err, "clCreateBuffer");
		fill(buf, size, i);
		must(clEnqueueWriteBuffer(s.q, m, CL_TRUE, 0, size, buf, 0,
					  NULL, NULL), "clEnqueueWriteBuffer");
		must(clEnqueueWriteBuffer(s.q, m, CL_TRUE, 0, 16, buf + 16, 0,
					  NULL, NULL), "clEnqueueWriteBuffer");
		must(clReleaseMemObject(m), "clReleaseMemObject");
	}
	free(buf);
	must(clReleaseProgram(s.prog), "clReleaseProgram");
	must(clReleaseCommandQueue(s.q), "clReleaseCommandQueue");
	must(clReleaseContext(s.ctx), "clReleaseContext");
	printf("churn %u rounds of %zu bytes\n", rounds, size);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "probe") == 0) {
		unsigned times = (unsigned)strtoul(argv[2], NULL, 10);
		printf("thread main %u\n", times);
		for (unsigned i = 1; i <= times; i++) {
			cl_uint n = 0;
			must(clGetPlatformIDs(0, NULL, &n), "clGetPlatformIDs");
			printf("call main %u clGetPlatformIDs\n", i);
		}
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "faithful") == 0)
		return faithful(argv[2]);
	if (argc == 3 && strcmp(argv[1], "heavy") == 0)
		return heavy((unsigned)strtoul(argv[2], NULL, 10));
	if (argc == 4 && strcmp(argv[1], "churn") == 0)
		return churn((unsigned)strtoul(argv[2], NULL, 10),
			     (size_t)strtoull(argv[3], NULL, 10));
	fprintf(stderr, "usage: jguest probe N | faithful DUMPDIR | heavy N | "
		"churn N SIZE\n");
	return 99;
}
