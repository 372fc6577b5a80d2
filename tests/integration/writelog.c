/*
 * writelog.c - preloaded by the tests ava-direct-write and
 * ava-direct-write-journal into the program and ava's server alike: each
 * clEnqueueWriteBuffer is logged to the file $AVA_TEST_WRITE_LOG as one
 * line, "COMM SIZE BLOCKING EVENT" (the process's name, the size in
 * bytes, 0 or 1, and 1 if an event was asked for), and each
 * clCreateBuffer with CL_MEM_COPY_HOST_PTR as "COMM SIZE create 0"; then
 * the call is made as it would be without the library. The test tells
 * the server's calls from the program's by the name.
 */
#define CL_TARGET_OPENCL_VERSION 300
#include <CL/cl.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef cl_int (CL_API_CALL *write_fn)(cl_command_queue, cl_mem, cl_bool,
				       size_t, size_t, const void *, cl_uint,
				       const cl_event *, cl_event *);

static void
log_line(size_t size, const char *blocking, int event)
{
	const char *path = getenv("AVA_TEST_WRITE_LOG");
	char comm[64] = "?", line[160];
	if (path == NULL)
		return;
	int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, comm, sizeof(comm) - 1);
		comm[n > 0 ? n : 0] = '\0';
		comm[strcspn(comm, "\n")] = '\0';
		close(fd);
	}
	int len = snprintf(line, sizeof(line), "%s %zu %s %d\n", comm, size,
			   blocking, event);
	/* One write(2) per line, appended: the processes' lines do not mix. */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, line, (size_t)len) != len)
			fprintf(stderr, "writelog: %s: short write\n", path);
		close(fd);
	}
}

__attribute__((visibility("default"))) cl_int CL_API_CALL
clEnqueueWriteBuffer(cl_command_queue q, cl_mem buffer, cl_bool blocking,
		     size_t offset, size_t size, const void *ptr, cl_uint nev,
		     const cl_event *wl, cl_event *event)
{
	static write_fn next;
	if (next == NULL)
		next = (write_fn)dlsym(RTLD_NEXT, "clEnqueueWriteBuffer");
	if (next == NULL)
		return CL_OUT_OF_RESOURCES;
	log_line(size, blocking ? "1" : "0", event != NULL);
	return next(q, buffer, blocking, offset, size, ptr, nev, wl, event);
}

typedef cl_mem (CL_API_CALL *create_fn)(cl_context, cl_mem_flags, size_t,
					void *, cl_int *);

__attribute__((visibility("default"))) cl_mem CL_API_CALL
clCreateBuffer(cl_context ctx, cl_mem_flags flags, size_t size,
	       void *host_ptr, cl_int *err)
{
	static create_fn next;
	if (next == NULL)
		next = (create_fn)dlsym(RTLD_NEXT, "clCreateBuffer");
	if (next == NULL) {
		if (err != NULL)
			*err = CL_OUT_OF_RESOURCES;
		return NULL;
	}
	if (flags & CL_MEM_COPY_HOST_PTR)
		log_line(size, "create", 0);
	return next(ctx, flags, size, host_ptr, err);
}
