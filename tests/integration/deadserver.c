/*
 * deadserver.c - an OpenCL program whose server dies under it.
 *
 * Usage: deadserver idle|midcall
 *
 * Sets up a context, a queue and a buffer, then prints "ready" and lets
 * the harness kill the server (SIGKILL):
 *   idle     the program waits for a line on stdin, sent once the server
 *            is dead, then makes its next calls;
 *   midcall  the program is inside a blocking call (waiting on a user
 *            event that nothing completes) when the server dies.
 * Every call after the death must fail with an error code, promptly; the
 * harness enforces "promptly" with a timeout, and checks that the guest
 * library said so in one line on stderr.
 *
 * Exit status: 0 every call after the death failed; 1 one of them
 * succeeded; 99 the set-up failed.
 */
#include <stdio.h>
#include <string.h>

#include "itest.h"

static int succeeded;

static void
after(const char *what, cl_int err)
{
	printf("after: %s: %s\n", what, itest_err_name(err));
	if (err == CL_SUCCESS)
		succeeded++;
}

int
main(int argc, char **argv)
{
	cl_platform_id platform;
	cl_device_id d;
	cl_int err;
	bool midcall = argc == 2 && strcmp(argv[1], "midcall") == 0;

	if (argc != 2 || (!midcall && strcmp(argv[1], "idle") != 0)) {
		fprintf(stderr, "usage: deadserver idle|midcall\n");
		return 99;
	}
	cl_context ctx;
	cl_command_queue q;
	if (!itest_open(&platform, &d, &ctx, &q))
		return 99;
	unsigned char data[4096] = { 1, 2, 3 };
	cl_mem m = clCreateBuffer(ctx, CL_MEM_READ_WRITE, sizeof(data), NULL,
				  &err);
	if (itest_status("clCreateBuffer", err) != CL_SUCCESS)
		return 99;
	err = clEnqueueWriteBuffer(q, m, CL_TRUE, 0, sizeof(data), data, 0,
				   NULL, NULL);
	if (itest_status("clEnqueueWriteBuffer", err) != CL_SUCCESS)
		return 99;

	if (midcall) {
		cl_event ue = clCreateUserEvent(ctx, &err);
		if (itest_status("clCreateUserEvent", err) != CL_SUCCESS)
			return 99;
		printf("ready\n");
		fflush(stdout);
		/* Blocks until the server is gone: nothing completes ue. */
		after("clWaitForEvents(never completed)",
		      clWaitForEvents(1, &ue));
	} else {
		char line[16];
		printf("ready\n");
		fflush(stdout);
		if (fgets(line, sizeof(line), stdin) == NULL)
			return 99;
	}

	cl_uint units = 0;
	after("clGetDeviceInfo",
	      clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof(units),
			      &units, NULL));
	cl_mem m2 = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 64, NULL, &err);
	after("clCreateBuffer", m2 == NULL ? err : CL_SUCCESS);
	after("clEnqueueWriteBuffer(blocking)",
	      clEnqueueWriteBuffer(q, m, CL_TRUE, 0, sizeof(data), data, 0,
				   NULL, NULL));
	after("clEnqueueReadBuffer(blocking)",
	      clEnqueueReadBuffer(q, m, CL_TRUE, 0, sizeof(data), data, 0,
				  NULL, NULL));
	/* A non-blocking write may be queued in the guest: the failure
	 * must then show at the next synchronizing call. */
	cl_int nb = clEnqueueWriteBuffer(q, m, CL_FALSE, 0, sizeof(data), data,
					 0, NULL, NULL);
	printf("after: clEnqueueWriteBuffer(non-blocking): %s\n",
	       itest_err_name(nb));
	after("clFinish", clFinish(q));
	after("clReleaseMemObject", clReleaseMemObject(m));
	after("clReleaseCommandQueue", clReleaseCommandQueue(q));
	after("clReleaseContext", clReleaseContext(ctx));
	printf("calls that succeeded after the server died: %d\n", succeeded);
	return succeeded == 0 ? 0 : 1;
}
