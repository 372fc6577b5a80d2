/*
 * replay-opencl.c - which OpenCL results replay compares, and how.
 *
 * The rule (doc/replay.md, "What is compared"): a value the application
 * determined, by what it created and with which arguments, must come back
 * the same; a value the implementation chose (device and platform
 * properties, work-group sizes, build logs, binaries) is compared, and a
 * difference is a note, since it is expected on another device and the
 * recorded calls that follow carry the values the application acted on;
 * a value that differs between any two runs (timestamps, reference
 * counts, host pointers) is not compared. Every status is compared.
 *
 * The table is keyed by function and param_name. It belongs in the spec
 * as an annotation of the query parameters once the spec language has
 * one; until then it lives here, beside the other OpenCL-specific code.
 */
#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 300
#endif
#include <CL/cl.h>
#include <stdint.h>
#include <string.h>

#include "opencl-ava.h"
#include "replay.h"

#define ANY UINT64_MAX

struct rule {
	const char *fn;
	uint64_t param;                 /* ANY: every param_name */
	enum ava_replay_class cls;
	const char *why;
};

static const char IMPL[] = "implementation-defined";
static const char RUN[] = "differs between runs";

/* First match wins: specific params before a function's ANY. */
static const struct rule rules[] = {
	{ "clGetPlatformIDs", ANY, AVA_REPLAY_NOTE, IMPL },
	{ "clGetDeviceIDs", ANY, AVA_REPLAY_NOTE, IMPL },
	{ "clGetPlatformInfo", ANY, AVA_REPLAY_NOTE, IMPL },
	{ "clGetDeviceInfo", CL_DEVICE_REFERENCE_COUNT, AVA_REPLAY_IGNORE, RUN },
	{ "clGetDeviceInfo", ANY, AVA_REPLAY_NOTE, IMPL },
	{ "clGetSupportedImageFormats", ANY, AVA_REPLAY_NOTE, IMPL },
	{ "clGetKernelWorkGroupInfo", ANY, AVA_REPLAY_NOTE, IMPL },
	{ "clGetKernelSubGroupInfo", ANY, AVA_REPLAY_NOTE, IMPL },
	{ "clGetContextInfo", CL_CONTEXT_REFERENCE_COUNT, AVA_REPLAY_IGNORE, RUN },
	{ "clGetCommandQueueInfo", CL_QUEUE_REFERENCE_COUNT, AVA_REPLAY_IGNORE, RUN },
	{ "clGetCommandQueueInfo", CL_QUEUE_SIZE, AVA_REPLAY_NOTE, IMPL },
	{ "clGetMemObjectInfo", CL_MEM_REFERENCE_COUNT, AVA_REPLAY_IGNORE, RUN },
	{ "clGetMemObjectInfo", CL_MEM_MAP_COUNT, AVA_REPLAY_IGNORE, RUN },
	{ "clGetMemObjectInfo", CL_MEM_HOST_PTR, AVA_REPLAY_IGNORE,
	  "a host pointer" },
	{ "clGetProgramInfo", CL_PROGRAM_REFERENCE_COUNT, AVA_REPLAY_IGNORE, RUN },
	{ "clGetProgramInfo", CL_PROGRAM_BINARY_SIZES, AVA_REPLAY_NOTE, IMPL },
	{ "clGetProgramInfo", CL_PROGRAM_BINARIES, AVA_REPLAY_NOTE, IMPL },
	{ "clGetProgramBuildInfo", CL_PROGRAM_BUILD_LOG, AVA_REPLAY_NOTE, IMPL },
	{ "clGetProgramBuildInfo", CL_PROGRAM_BUILD_GLOBAL_VARIABLE_TOTAL_SIZE,
	  AVA_REPLAY_NOTE, IMPL },
	{ "clGetKernelInfo", CL_KERNEL_REFERENCE_COUNT, AVA_REPLAY_IGNORE, RUN },
	{ "clGetEventInfo", CL_EVENT_REFERENCE_COUNT, AVA_REPLAY_IGNORE, RUN },
	/* Queued, submitted, running or complete depends on timing unless
	 * the application waited first. */
	{ "clGetEventInfo", CL_EVENT_COMMAND_EXECUTION_STATUS, AVA_REPLAY_NOTE,
	  "depends on timing" },
	{ "clGetSamplerInfo", CL_SAMPLER_REFERENCE_COUNT, AVA_REPLAY_IGNORE, RUN },
	{ "clGetEventProfilingInfo", ANY, AVA_REPLAY_IGNORE, "a timestamp" },
	{ "clGetDeviceAndHostTimer", ANY, AVA_REPLAY_IGNORE, "a timestamp" },
	{ "clGetHostTimer", ANY, AVA_REPLAY_IGNORE, "a timestamp" },
};

static int
param_arg(const struct ava_fn_desc *fn)
{
	for (int i = 0; i < fn->nargs; i++)
		if (fn->args[i].kind == AVA_ARG_SCALAR &&
		    strcmp(fn->args[i].name, "param_name") == 0)
			return i;
	return -1;
}

static enum ava_replay_class
classify(const struct ava_api_desc *api, const struct ava_fn_desc *fn,
	 const uint64_t *ev, const char **why)
{
	(void)api;
	int p = param_arg(fn);
	uint64_t param = p >= 0 ? ev[p] : ANY;
	/* ava's private per-binary query: the binary is the compiler's. */
	if (strcmp(fn->name, "clGetProgramInfo") == 0 &&
	    param >= AVA_CL_PROGRAM_BINARY_BASE &&
	    param - AVA_CL_PROGRAM_BINARY_BASE < AVA_CL_PROGRAM_BINARY_COUNT)
		param = CL_PROGRAM_BINARIES;
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const struct rule *r = &rules[i];
		if ((r->param != ANY && r->param != param) ||
		    strcmp(r->fn, fn->name) != 0)
			continue;
		if (why != NULL)
			*why = r->why;
		return r->cls;
	}
	return AVA_REPLAY_EXACT;
}

static const char *
hint(const struct ava_api_desc *api, const struct ava_fn_desc *fn,
     int64_t expected, int64_t got)
{
	(void)api;
	(void)expected;
	if (got == CL_INVALID_BINARY)
		return "the program binary in the journal was built for another "
		       "device: replay on the device that recorded it, or record "
		       "a program built from source (clCreateProgramWithSource), "
		       "which replay rebuilds for any device";
	if (got == CL_BUILD_PROGRAM_FAILURE &&
	    strcmp(fn->name, "clBuildProgram") == 0)
		return "the program does not build on this device; `ava journal "
		       "dump` shows its source, and the recorded build options";
	if (got == CL_DEVICE_NOT_FOUND || got == CL_INVALID_DEVICE)
		return "this host's OpenCL devices differ from the recording "
		       "host's";
	return NULL;
}

/* A buffer created on host memory keeps using it: the server's copy in
 * the CALL payload, which replay must not reuse. */
static bool
keeps_args(const struct ava_api_desc *api, const struct ava_fn_desc *fn,
	   const uint64_t *ev)
{
	(void)api;
	if (strcmp(fn->name, "clCreateBuffer") != 0 &&
	    strcmp(fn->name, "clCreateBufferWithProperties") != 0)
		return false;
	for (int i = 0; i < fn->nargs; i++)
		if (strcmp(fn->args[i].name, "flags") == 0)
			return (ev[i] & CL_MEM_USE_HOST_PTR) != 0;
	return false;
}

/* ava's mappings live on the server under ids it counts out itself
 * (runtime/opencl-calls.c): avaclEnqueueMap* hands one out in map_id,
 * avaclEnqueueUnmapMemObject names it. */
static bool
scalar_id(const struct ava_api_desc *api, const struct ava_fn_desc *fn,
	  int i)
{
	(void)api;
	return strcmp(fn->args[i].name, "map_id") == 0 &&
	       strncmp(fn->name, "avaclEnqueue", 12) == 0;
}

/* The ICD loader and PoCL load and probe devices on the first call. */
static void
warm_up(void)
{
	cl_uint n = 0;
	clGetPlatformIDs(0, NULL, &n);
}

const struct ava_replay_rules ava_opencl_replay_rules = {
	.classify = classify,
	.hint = hint,
	.keeps_args = keeps_args,
	.scalar_id = scalar_id,
	.warm_up = warm_up,
};
