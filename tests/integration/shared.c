/*
 * shared.c - large blocking transfers, the traffic that over shm: goes
 * through the session's shared heap (doc/protocol.md, "Shared buffers"):
 * buffers on both sides of the size where that starts, offsets that are
 * not page-aligned, COPY_HOST_PTR and ALLOC_HOST_PTR (and the flags the
 * application sees), a sub-buffer, a write the buffer's host flags
 * forbid, out-of-range transfers, a wait list, transfers mixed with
 * non-blocking ones and kernels, buffers made and released in turn (the
 * heap's ranges reused), and threads transferring at once. Every result
 * is checked against the host's own arithmetic and printed as a digest.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

#define KIB 1024u
#define MIB (1024u * 1024u)

static const char *src =
	"__kernel void scramble(__global uint *p)\n"
	"{\n"
	"    size_t i = get_global_id(0);\n"
	"    p[i] = p[i] * 3u + (uint)i;\n"
	"}\n";

static cl_context ctx;
static cl_command_queue q;
static cl_kernel mix;

static void
pattern(uint32_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint32_t)i * 2654435761u + seed;
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL) {
		printf("out of memory\n");
		exit(99);
	}
	return p;
}

static cl_mem
buffer(const char *what, cl_mem_flags flags, size_t n, void *host)
{
	cl_int err;
	cl_mem m = clCreateBuffer(ctx, flags, n, host, &err);
	char line[160];
	snprintf(line, sizeof(line), "clCreateBuffer(%s, %zu bytes)", what, n);
	itest_status(line, err);
	if (m == NULL)
		exit(99);
	return m;
}

static void
report(const char *what, const void *got, const void *want, size_t n)
{
	printf("%s digest %016" PRIx64 "\n", what, itest_digest(got, n));
	itest_check(what, memcmp(got, want, n) == 0);
}

/* Write n words at word offset off, run mix over all of them, read them
 * back whole and at an odd byte offset. */
static void
round_trip(const char *what, size_t words, size_t off_bytes)
{
	size_t n = words * 4;
	uint32_t *in = xmalloc(n), *out = xmalloc(n), *want = xmalloc(n);
	pattern(in, words, (uint32_t)words);
	cl_mem m = buffer(what, CL_MEM_READ_WRITE, n, NULL);
	char line[200];
	snprintf(line, sizeof(line), "write %s", what);
	itest_status(line, clEnqueueWriteBuffer(q, m, CL_TRUE, 0, n, in, 0,
						NULL, NULL));
	size_t g = words;
	itest_status("clSetKernelArg", clSetKernelArg(mix, 0, sizeof(m), &m));
	itest_status("clEnqueueNDRangeKernel(scramble)",
		     clEnqueueNDRangeKernel(q, mix, 1, NULL, &g, NULL, 0, NULL,
					    NULL));
	for (size_t i = 0; i < words; i++)
		want[i] = in[i] * 3u + (uint32_t)i;
	snprintf(line, sizeof(line), "read %s", what);
	itest_status(line, clEnqueueReadBuffer(q, m, CL_TRUE, 0, n, out, 0,
					       NULL, NULL));
	report(line, out, want, n);
	/* A part of it, from an offset that is no multiple of a page. */
	size_t part = n - off_bytes;
	memset(out, 0, n);
	snprintf(line, sizeof(line), "read %s from byte %zu", what, off_bytes);
	itest_status(line, clEnqueueReadBuffer(q, m, CL_TRUE, off_bytes, part,
					       out, 0, NULL, NULL));
	report(line, out, (const char *)want + off_bytes, part);
	/* And a write there, read back whole. */
	pattern(in, words, 7);
	snprintf(line, sizeof(line), "write %s at byte %zu", what, off_bytes);
	itest_status(line, clEnqueueWriteBuffer(q, m, CL_TRUE, off_bytes, part,
						in, 0, NULL, NULL));
	memcpy((char *)want + off_bytes, in, part);
	snprintf(line, sizeof(line), "read %s after it", what);
	itest_status(line, clEnqueueReadBuffer(q, m, CL_TRUE, 0, n, out, 0,
					       NULL, NULL));
	report(line, out, want, n);
	clReleaseMemObject(m);
	free(in);
	free(out);
	free(want);
}

static void
print_flags(const char *what, cl_mem m)
{
	cl_mem_flags f = 0;
	cl_int err = clGetMemObjectInfo(m, CL_MEM_FLAGS, sizeof(f), &f, NULL);
	printf("%s CL_MEM_FLAGS: %s 0x%" PRIx64 "\n", what,
	       itest_err_name(err), (uint64_t)f);
}

static void
host_flags(void)
{
	size_t n = 1 * MIB;
	uint32_t *init = xmalloc(n), *out = xmalloc(n);
	pattern(init, n / 4, 99);
	cl_mem c = buffer("COPY_HOST_PTR", CL_MEM_READ_WRITE |
			  CL_MEM_COPY_HOST_PTR, n, init);
	print_flags("COPY_HOST_PTR", c);
	itest_status("read COPY_HOST_PTR", clEnqueueReadBuffer(q, c, CL_TRUE,
			0, n, out, 0, NULL, NULL));
	report("COPY_HOST_PTR contents", out, init, n);

	cl_mem a = buffer("ALLOC_HOST_PTR", CL_MEM_READ_WRITE |
			  CL_MEM_ALLOC_HOST_PTR, n, NULL);
	print_flags("ALLOC_HOST_PTR", a);
	itest_status("write ALLOC_HOST_PTR", clEnqueueWriteBuffer(q, a,
			CL_TRUE, 0, n, init, 0, NULL, NULL));
	memset(out, 0, n);
	itest_status("read ALLOC_HOST_PTR", clEnqueueReadBuffer(q, a, CL_TRUE,
			0, n, out, 0, NULL, NULL));
	report("ALLOC_HOST_PTR contents", out, init, n);
	void *hp = (void *)1;
	cl_int err = clGetMemObjectInfo(a, CL_MEM_HOST_PTR, sizeof(hp), &hp,
					NULL);
	printf("ALLOC_HOST_PTR CL_MEM_HOST_PTR: %s %s\n", itest_err_name(err),
	       hp == NULL ? "NULL" : "set");

	/* A sub-buffer: written through it, read through its parent. */
	cl_buffer_region r = { .origin = 256 * KIB, .size = 512 * KIB };
	cl_mem sub = clCreateSubBuffer(a, CL_MEM_READ_WRITE,
				       CL_BUFFER_CREATE_TYPE_REGION, &r, &err);
	itest_status("clCreateSubBuffer(ALLOC_HOST_PTR, 256 KiB + 512 KiB)",
		     err);
	print_flags("sub-buffer", sub);
	uint32_t *w = xmalloc(r.size);
	pattern(w, r.size / 4, 5);
	itest_status("write sub-buffer", clEnqueueWriteBuffer(q, sub, CL_TRUE,
			0, r.size, w, 0, NULL, NULL));
	memcpy((char *)init + r.origin, w, r.size);
	itest_status("read parent", clEnqueueReadBuffer(q, a, CL_TRUE, 0, n,
			out, 0, NULL, NULL));
	report("parent after the sub-buffer's write", out, init, n);
	clReleaseMemObject(sub);

	/* The host may only read this one: a write is refused, a read not. */
	cl_mem ro = buffer("HOST_READ_ONLY", CL_MEM_READ_WRITE |
			   CL_MEM_HOST_READ_ONLY | CL_MEM_COPY_HOST_PTR, n,
			   init);
	print_flags("HOST_READ_ONLY", ro);
	itest_status("write HOST_READ_ONLY", clEnqueueWriteBuffer(q, ro,
			CL_TRUE, 0, n, out, 0, NULL, NULL));
	itest_status("read HOST_READ_ONLY", clEnqueueReadBuffer(q, ro,
			CL_TRUE, 0, n, out, 0, NULL, NULL));
	report("HOST_READ_ONLY contents", out, init, n);

	/* Out of range, and a NULL pointer. */
	itest_status("write past the end", clEnqueueWriteBuffer(q, a, CL_TRUE,
			4 * KIB, n, init, 0, NULL, NULL));
	itest_status("read past the end", clEnqueueReadBuffer(q, a, CL_TRUE,
			n - 4 * KIB, 8 * KIB, out, 0, NULL, NULL));
	itest_status("read into NULL", clEnqueueReadBuffer(q, a, CL_TRUE, 0,
			n, NULL, 0, NULL, NULL));
	clReleaseMemObject(c);
	clReleaseMemObject(a);
	clReleaseMemObject(ro);
	free(init);
	free(out);
	free(w);
}

/* After a wait list, between non-blocking writes and a kernel. */
static void
ordering(void)
{
	size_t words = 512 * KIB / 4, n = words * 4;
	uint32_t *a = xmalloc(n), *b = xmalloc(n), *out = xmalloc(n);
	uint32_t *want = xmalloc(n);
	pattern(a, words, 1);
	pattern(b, words, 2);
	cl_mem m = buffer("ordering", CL_MEM_READ_WRITE, n, NULL);
	cl_event ev;
	itest_status("non-blocking write (event)",
		     clEnqueueWriteBuffer(q, m, CL_FALSE, 0, n, a, 0, NULL,
					  &ev));
	size_t g = words;
	itest_status("clSetKernelArg", clSetKernelArg(mix, 0, sizeof(m), &m));
	itest_status("clEnqueueNDRangeKernel(scramble)",
		     clEnqueueNDRangeKernel(q, mix, 1, NULL, &g, NULL, 1, &ev,
					    NULL));
	/* The blocking read waits for both. */
	itest_status("read after the kernel, waiting on the write",
		     clEnqueueReadBuffer(q, m, CL_TRUE, 0, n, out, 1, &ev,
					 NULL));
	for (size_t i = 0; i < words; i++)
		want[i] = a[i] * 3u + (uint32_t)i;
	report("write, kernel, read", out, want, n);
	clReleaseEvent(ev);
	/* A blocking write with an event for the application. */
	itest_status("blocking write with an event",
		     clEnqueueWriteBuffer(q, m, CL_TRUE, 0, n, b, 0, NULL,
					  &ev));
	cl_command_type type = 0;
	itest_status("clGetEventInfo(CL_EVENT_COMMAND_TYPE)",
		     clGetEventInfo(ev, CL_EVENT_COMMAND_TYPE, sizeof(type),
				    &type, NULL));
	printf("command type 0x%x\n", (unsigned)type);
	clReleaseEvent(ev);
	itest_status("read it", clEnqueueReadBuffer(q, m, CL_TRUE, 0, n, out,
						    0, NULL, NULL));
	report("blocking write with an event", out, b, n);
	clReleaseMemObject(m);
	free(a);
	free(b);
	free(out);
	free(want);
}

/* Buffers made and released in turn: the heap reuses their ranges. */
static void
churn(void)
{
	size_t sizes[] = { 300 * KIB, 1 * MIB, 2 * MIB + 12 * KIB, 640 * KIB };
	uint64_t all = 0;
	int bad = 0;
	for (int round = 0; round < 24; round++) {
		size_t n = sizes[round % 4];
		uint32_t *in = xmalloc(n), *out = xmalloc(n);
		pattern(in, n / 4, (uint32_t)round);
		cl_int err;
		cl_mem m = clCreateBuffer(ctx, CL_MEM_READ_WRITE, n, NULL,
					  &err);
		if (m == NULL ||
		    clEnqueueWriteBuffer(q, m, CL_TRUE, 0, n, in, 0, NULL,
					 NULL) != CL_SUCCESS ||
		    clEnqueueReadBuffer(q, m, CL_TRUE, 0, n, out, 0, NULL,
					NULL) != CL_SUCCESS ||
		    memcmp(in, out, n) != 0)
			bad++;
		all ^= itest_digest(out, n) + (uint64_t)round;
		if (m != NULL)
			clReleaseMemObject(m);
		free(in);
		free(out);
	}
	printf("24 buffers made, written, read, released: digest %016" PRIx64
	       "\n", all);
	itest_check("each buffer read back what was written", bad == 0);
}

struct worker {
	int id;
	int bad;
};

static void *
transfers(void *arg)
{
	struct worker *w = arg;
	size_t n = 768 * KIB;
	uint32_t *in = xmalloc(n), *out = xmalloc(n);
	cl_int err;
	cl_mem m = clCreateBuffer(ctx, CL_MEM_READ_WRITE, n, NULL, &err);
	for (int i = 0; i < 40 && m != NULL; i++) {
		pattern(in, n / 4, (uint32_t)(w->id * 1000 + i));
		if (clEnqueueWriteBuffer(q, m, CL_TRUE, 0, n, in, 0, NULL,
					 NULL) != CL_SUCCESS ||
		    clEnqueueReadBuffer(q, m, CL_TRUE, 0, n, out, 0, NULL,
					NULL) != CL_SUCCESS ||
		    memcmp(in, out, n) != 0)
			w->bad++;
	}
	if (m == NULL)
		w->bad++;
	else
		clReleaseMemObject(m);
	free(in);
	free(out);
	return NULL;
}

static void
threads(void)
{
	struct worker w[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .id = i };
		if (pthread_create(&th[i], NULL, transfers, &w[i]) != 0)
			exit(99);
	}
	int bad = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		bad += w[i].bad;
	}
	printf("4 threads, 40 transfers each: %d wrong\n", bad);
	itest_check("threads' transfers", bad == 0);
}

int
main(void)
{
	cl_platform_id p;
	cl_device_id d;
	if (!itest_open(&p, &d, &ctx, &q))
		return 99;
	cl_program prog = itest_build(ctx, d, src, "");
	cl_int err;
	mix = prog != NULL ? clCreateKernel(prog, "scramble", &err) : NULL;
	if (mix == NULL)
		return 99;
	/* Below the heap's threshold, at it, and well above. */
	round_trip("255 KiB", (255 * KIB) / 4, 4099);
	round_trip("256 KiB", (256 * KIB) / 4, 4100);
	round_trip("3 MiB + 4 KiB", (3 * MIB + 4 * KIB) / 4, 12345 & ~3u);
	host_flags();
	ordering();
	churn();
	threads();
	clReleaseKernel(mix);
	clReleaseProgram(prog);
	clReleaseCommandQueue(q);
	clReleaseContext(ctx);
	return itest_exit_code();
}
