/*
 * opencl-callbacks.c - calling the application's OpenCL callbacks with
 * what the server's trampolines sent (runtime/opencl-callbacks.c gives
 * the encoding): the API glue of guest/callback.c.
 *
 * The object a callback gets is the one the application registered it
 * on, or that the registering call made (clLinkProgram, clCreateContext
 * have none to pass). A context's error notification gets the driver's
 * text, but not its private_info: those are the driver's bytes, in the
 * server; the guest passes NULL and 0.
 */
#include "opencl-guest.h"  /* first: it sets the OpenCL version macros */

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "guest-private.h"
#include "wire.h"

bool
ava_guest_callback_oneshot(uint32_t fn)
{
	/* A context may report many errors; everything else happens once. */
	return fn != AVA_OPENCL_FN_clCreateContext &&
	       fn != AVA_OPENCL_FN_clCreateContextFromType;
}

bool
ava_guest_callback_despite(uint32_t fn, int64_t err)
{
	switch (fn) {
	case AVA_OPENCL_FN_clBuildProgram:
		return err == CL_BUILD_PROGRAM_FAILURE;
	case AVA_OPENCL_FN_clCompileProgram:
		return err == CL_COMPILE_PROGRAM_FAILURE;
	case AVA_OPENCL_FN_clLinkProgram:
		return err == CL_LINK_PROGRAM_FAILURE;
	default:
		return false;
	}
}

typedef void (CL_CALLBACK *notify_fn)(const char *, const void *, size_t,
				      void *);
typedef void (CL_CALLBACK *program_fn)(cl_program, void *);
typedef void (CL_CALLBACK *mem_fn)(cl_mem, void *);
typedef void (CL_CALLBACK *context_fn)(cl_context, void *);
typedef void (CL_CALLBACK *event_fn)(cl_event, cl_int, void *);

static void
context_notify(notify_fn f, void *user_data, const uint8_t *p, size_t n)
{
	if (n < 8)
		return;
	uint64_t len = ava_wire_get_le(p, 8);
	if (len == 0 || len > n - 8 || p[8 + len - 1] != '\0')
		return;
	f((const char *)p + 8, NULL, 0, user_data);
}

void
ava_guest_callback_invoke(uint32_t fn, void *pfn, void *user_data,
			  void *obj, const uint8_t *body, size_t len)
{
	switch (fn) {
	case AVA_OPENCL_FN_clCreateContext:
	case AVA_OPENCL_FN_clCreateContextFromType:
		context_notify((notify_fn)pfn, user_data, body, len);
		break;
	case AVA_OPENCL_FN_clBuildProgram:
	case AVA_OPENCL_FN_clCompileProgram:
	case AVA_OPENCL_FN_clLinkProgram:
	case AVA_OPENCL_FN_clSetProgramReleaseCallback:
		((program_fn)pfn)((cl_program)obj, user_data);
		break;
	case AVA_OPENCL_FN_clSetMemObjectDestructorCallback:
		((mem_fn)pfn)((cl_mem)obj, user_data);
		break;
	case AVA_OPENCL_FN_clSetContextDestructorCallback:
		((context_fn)pfn)((cl_context)obj, user_data);
		break;
	case AVA_OPENCL_FN_clSetEventCallback:
		if (len >= 8)
			((event_fn)pfn)((cl_event)obj,
					(cl_int)ava_wire_get_le(body, 8),
					user_data);
		break;
	default:
		break;
	}
}
