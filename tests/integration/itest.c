/*
 * itest.c - helpers shared by the integration programs (see itest.h).
 */
#include "itest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

int itest_failures;

#define E(name) { name, #name }
static const struct {
	cl_int code;
	const char *name;
} err_names[] = {
	E(CL_SUCCESS),
	E(CL_DEVICE_NOT_FOUND),
	E(CL_DEVICE_NOT_AVAILABLE),
	E(CL_COMPILER_NOT_AVAILABLE),
	E(CL_MEM_OBJECT_ALLOCATION_FAILURE),
	E(CL_OUT_OF_RESOURCES),
	E(CL_OUT_OF_HOST_MEMORY),
	E(CL_PROFILING_INFO_NOT_AVAILABLE),
	E(CL_MEM_COPY_OVERLAP),
	E(CL_IMAGE_FORMAT_MISMATCH),
	E(CL_IMAGE_FORMAT_NOT_SUPPORTED),
	E(CL_BUILD_PROGRAM_FAILURE),
	E(CL_MAP_FAILURE),
	E(CL_MISALIGNED_SUB_BUFFER_OFFSET),
	E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST),
	E(CL_COMPILE_PROGRAM_FAILURE),
	E(CL_LINKER_NOT_AVAILABLE),
	E(CL_LINK_PROGRAM_FAILURE),
	E(CL_DEVICE_PARTITION_FAILED),
	E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE),
	E(CL_INVALID_VALUE),
	E(CL_INVALID_DEVICE_TYPE),
	E(CL_INVALID_PLATFORM),
	E(CL_INVALID_DEVICE),
	E(CL_INVALID_CONTEXT),
	E(CL_INVALID_QUEUE_PROPERTIES),
	E(CL_INVALID_COMMAND_QUEUE),
	E(CL_INVALID_HOST_PTR),
	E(CL_INVALID_MEM_OBJECT),
	E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR),
	E(CL_INVALID_IMAGE_SIZE),
	E(CL_INVALID_SAMPLER),
	E(CL_INVALID_BINARY),
	E(CL_INVALID_BUILD_OPTIONS),
	E(CL_INVALID_PROGRAM),
	E(CL_INVALID_PROGRAM_EXECUTABLE),
	E(CL_INVALID_KERNEL_NAME),
	E(CL_INVALID_KERNEL_DEFINITION),
	E(CL_INVALID_KERNEL),
	E(CL_INVALID_ARG_INDEX),
	E(CL_INVALID_ARG_VALUE),
	E(CL_INVALID_ARG_SIZE),
	E(CL_INVALID_KERNEL_ARGS),
	E(CL_INVALID_WORK_DIMENSION),
	E(CL_INVALID_WORK_GROUP_SIZE),
	E(CL_INVALID_WORK_ITEM_SIZE),
	E(CL_INVALID_GLOBAL_OFFSET),
	E(CL_INVALID_EVENT_WAIT_LIST),
	E(CL_INVALID_EVENT),
	E(CL_INVALID_OPERATION),
	E(CL_INVALID_GL_OBJECT),
	E(CL_INVALID_BUFFER_SIZE),
	E(CL_INVALID_MIP_LEVEL),
	E(CL_INVALID_GLOBAL_WORK_SIZE),
	E(CL_INVALID_PROPERTY),
	E(CL_INVALID_IMAGE_DESCRIPTOR),
	E(CL_INVALID_COMPILER_OPTIONS),
	E(CL_INVALID_LINKER_OPTIONS),
	E(CL_INVALID_DEVICE_PARTITION_COUNT),
	E(CL_INVALID_PIPE_SIZE),
	E(CL_INVALID_DEVICE_QUEUE),
	E(CL_INVALID_SPEC_ID),
	E(CL_MAX_SIZE_RESTRICTION_EXCEEDED),
};
#undef E

const char *
itest_err_name(cl_int err)
{
	/* Rotating buffers: several names may appear in one printf. */
	static char bufs[8][32];
	static unsigned next;
	char *buf = bufs[next++ % 8];

	for (size_t i = 0; i < sizeof(err_names) / sizeof(err_names[0]); i++)
		if (err_names[i].code == err)
			return err_names[i].name;
	snprintf(buf, sizeof(bufs[0]), "CL_%d", (int)err);
	return buf;
}

uint64_t
itest_digest(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}

cl_int
itest_status(const char *what, cl_int err)
{
	printf("%s: %s\n", what, itest_err_name(err));
	return err;
}

bool
itest_first_device(cl_platform_id *platform, cl_device_id *device)
{
	cl_uint n = 0;
	cl_int err;

	/* Every program calls this first. Line buffering keeps the
	 * transcript up to the last line if the program dies. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	err = clGetPlatformIDs(1, platform, &n);

	if (err != CL_SUCCESS || n == 0) {
		fprintf(stderr, "no OpenCL platform: %s, %u platforms\n",
			itest_err_name(err), n);
		return false;
	}
	err = clGetDeviceIDs(*platform, CL_DEVICE_TYPE_ALL, 1, device, &n);
	if (err != CL_SUCCESS || n == 0) {
		fprintf(stderr, "no OpenCL device: %s\n", itest_err_name(err));
		return false;
	}
	return true;
}

/*
 * PoCL names the source file it compiles after a random temporary
 * ("tempfile_YL0nhZ.cl"); mask the random part so that two runs of the
 * same build print the same log.
 */
static void
mask_temp_names(char *log)
{
	static const char key[] = "tempfile_";
	char *p = log;

	while ((p = strstr(p, key)) != NULL) {
		p += sizeof(key) - 1;
		for (; isalnum((unsigned char)*p); p++)
			*p = 'X';
	}
}

static void
print_build_log(cl_program prog, cl_device_id device)
{
	size_t len = 0;
	cl_int err = clGetProgramBuildInfo(prog, device, CL_PROGRAM_BUILD_LOG,
					   0, NULL, &len);
	itest_status("clGetProgramBuildInfo(LOG size)", err);
	if (err != CL_SUCCESS || len == 0)
		return;
	char *log = calloc(1, len + 1);
	if (log == NULL)
		return;
	err = clGetProgramBuildInfo(prog, device, CL_PROGRAM_BUILD_LOG, len,
				    log, NULL);
	itest_status("clGetProgramBuildInfo(LOG)", err);
	mask_temp_names(log);
	if (err == CL_SUCCESS)
		printf("build log (%zu bytes):\n%s\n-- end of build log\n",
		       len, log);
	free(log);
}

cl_program
itest_build(cl_context ctx, cl_device_id device, const char *src,
	    const char *options)
{
	cl_int err;
	cl_program prog = clCreateProgramWithSource(ctx, 1, &src, NULL, &err);

	itest_status("clCreateProgramWithSource", err);
	if (prog == NULL)
		return NULL;
	err = itest_status("clBuildProgram",
			   clBuildProgram(prog, 1, &device, options, NULL,
					  NULL));
	cl_build_status st = 0;
	cl_int qerr = clGetProgramBuildInfo(prog, device,
					    CL_PROGRAM_BUILD_STATUS,
					    sizeof(st), &st, NULL);
	printf("build status: %s %d\n", itest_err_name(qerr), (int)st);
	if (err != CL_SUCCESS) {
		print_build_log(prog, device);
		clReleaseProgram(prog);
		return NULL;
	}
	return prog;
}

void
itest_check(const char *what, bool ok)
{
	printf("check %s: %s\n", what, ok ? "ok" : "FAIL");
	if (!ok)
		itest_failures++;
}

int
itest_exit_code(void)
{
	return itest_failures == 0 ? 0 : 1;
}

bool
itest_open(cl_platform_id *platform, cl_device_id *device, cl_context *ctx,
	   cl_command_queue *q)
{
	cl_int err;
	if (!itest_first_device(platform, device))
		return false;
	*ctx = clCreateContext(NULL, 1, device, NULL, NULL, &err);
	if (itest_status("clCreateContext", err) != CL_SUCCESS)
		return false;
	*q = clCreateCommandQueue(*ctx, *device, 0, &err);
	return itest_status("clCreateCommandQueue", err) == CL_SUCCESS;
}
