/*
 * idle.c - a guest that is idle in one of the two ways a remoted program
 * can be, for measuring what being idle costs (transports.py):
 *
 *   between  the program is between calls (through ava: its server thread
 *            waits for the next call);
 *   call     in addition, a second thread is blocked in a call that takes
 *            long: clWaitForEvents on a user event (through ava: the guest
 *            waits for a reply, a server thread waits in the driver).
 *
 * Usage: ava-bench-idle between|call
 * Prints "ready" once idle, then waits for a line on stdin, completes the
 * event and exits: 0, or 99 if the set-up failed.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CL_TARGET_OPENCL_VERSION 300
#include <CL/cl.h>

static cl_event ev;
static cl_int wait_err = 1;

static void *
waiter(void *arg)
{
	(void)arg;
	wait_err = clWaitForEvents(1, &ev);
	return NULL;
}

int
main(int argc, char **argv)
{
	if (argc != 2 || (strcmp(argv[1], "between") != 0 &&
			  strcmp(argv[1], "call") != 0)) {
		fprintf(stderr, "usage: ava-bench-idle between|call\n");
		return 99;
	}
	bool call = strcmp(argv[1], "call") == 0;
	cl_platform_id p;
	cl_device_id d;
	cl_int err;
	if (clGetPlatformIDs(1, &p, NULL) != CL_SUCCESS ||
	    clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 1, &d, NULL) != CL_SUCCESS) {
		fprintf(stderr, "idle: no OpenCL device\n");
		return 99;
	}
	cl_context ctx = clCreateContext(NULL, 1, &d, NULL, NULL, &err);
	if (ctx != NULL)
		ev = clCreateUserEvent(ctx, &err);
	pthread_t t;
	if (ev == NULL || (call && pthread_create(&t, NULL, waiter, NULL))) {
		fprintf(stderr, "idle: set-up failed (%d)\n", err);
		return 99;
	}
	/* Let the waiter get into its call, and every spin end. */
	nanosleep(&(struct timespec){ .tv_nsec = 300000000 }, NULL);
	printf("ready\n");
	fflush(stdout);
	char line[16];
	if (fgets(line, sizeof(line), stdin) == NULL) {
		/* The driver went away: finish all the same. */
	}
	clSetUserEventStatus(ev, CL_COMPLETE);
	if (call)
		pthread_join(t, NULL);
	clReleaseEvent(ev);
	clReleaseContext(ctx);
	return !call || wait_err == CL_SUCCESS ? 0 : 99;
}
