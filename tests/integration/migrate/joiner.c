/*
 * joiner.c - a guest whose second thread makes its first call while its
 * session moves (mtest.py join-race). The main thread calls every few
 * milliseconds, so it hears MOVED at once; its files in DIR say when to
 * go on:
 *
 *   go     start the second thread, which writes "calling" just before
 *          its first call (whose join to the session may be held back
 *          by AVA_TEST_JOIN_PAUSE_MS, past a migration)
 *   queue  queue calls, so that the batch flusher's connection follows
 *          the session too and the old place lets the session go
 *   stop   join the second thread and end
 *
 * Prints "second thread: CL_SUCCESS" (or the error) and "ok"; exits 0 only
 * if every call succeeded.
 */
#define CL_TARGET_OPENCL_VERSION 300
#include <CL/cl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *dir;
static cl_context ctx;

static int
has(const char *name)
{
	char p[4096];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) == 0;
}

/* A buffer made and released: a call, and a queued one. */
static cl_int
make_one(void)
{
	cl_int err;
	cl_mem m = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 4096, NULL, &err);
	if (err != CL_SUCCESS)
		return err;
	return clReleaseMemObject(m);
}

/* Its first call waits for its answer, so the thread joins the session
 * on a connection of its own (a queued call would go with the batch
 * flusher's). */
static void *
second(void *arg)
{
	cl_int *err = arg;
	cl_uint n;
	char p[4096];
	snprintf(p, sizeof(p), "%s/calling", dir);
	/* Just before the call, which reads where the session is at once. */
	FILE *f = fopen(p, "w");
	if (f != NULL)
		fclose(f);
	*err = clGetContextInfo(ctx, CL_CONTEXT_NUM_DEVICES, sizeof(n), &n,
				NULL);
	if (*err == CL_SUCCESS)
		*err = make_one();
	return NULL;
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: joiner DIR\n");
		return 2;
	}
	dir = argv[1];
	cl_platform_id plat;
	cl_device_id dev;
	cl_int err;
	if (clGetPlatformIDs(1, &plat, NULL) != CL_SUCCESS ||
	    clGetDeviceIDs(plat, CL_DEVICE_TYPE_ALL, 1, &dev, NULL) !=
	    CL_SUCCESS)
		return 99;
	ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
	if (err != CL_SUCCESS)
		return 99;
	pthread_t th;
	cl_int second_err = CL_SUCCESS;
	int started = 0, queued = 0;
	while (!has("stop")) {
		cl_uint n;
		err = clGetContextInfo(ctx, CL_CONTEXT_NUM_DEVICES, sizeof(n), &n,
				       NULL);
		if (err != CL_SUCCESS) {
			printf("main thread: %d\n", err);
			return 1;
		}
		if (!started && has("go")) {
			if (pthread_create(&th, NULL, second, &second_err) != 0)
				return 99;
			started = 1;
		}
		if (!queued && has("queue")) {
			queued = 1;
			err = make_one();
			printf("queued: %s\n", err == CL_SUCCESS ? "CL_SUCCESS"
							 : "an error");
			if (err != CL_SUCCESS)
				return 1;
		}
		usleep(5000);
	}
	if (!started)
		return 99;
	pthread_join(th, NULL);
	if (second_err == CL_SUCCESS)
		printf("second thread: CL_SUCCESS\n");
	else
		printf("second thread: %d\n", second_err);
	clReleaseContext(ctx);
	printf("ok\n");
	return second_err == CL_SUCCESS ? 0 : 1;
}
