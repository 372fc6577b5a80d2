/*
 * opencl-callbacks.c - the server's trampolines for OpenCL's `remote`
 * callbacks (session-callback.h): what the driver calls instead of the
 * application's function, with the guest's cookie as user data.
 *
 * Each sends a CALLBACK frame: the cookie, then the callback's arguments
 * that the guest cannot know by itself, as u64 words (guest/
 * opencl-callbacks.c reads them). Objects are not sent: the guest knows
 * which object it registered the callback on (or, for clLinkProgram,
 * which one the call made). So:
 *
 *   context notify (clCreateContext*)  u64 nbytes, the error text with its
 *                                      NUL, padded to 8; private_info is
 *                                      the driver's and stays here
 *   program built (clBuildProgram, clCompileProgram, clLinkProgram),
 *   object gone (clSetMemObjectDestructorCallback,
 *   clSetContextDestructorCallback, clSetProgramReleaseCallback)
 *                                      nothing
 *   event (clSetEventCallback)         u64 the execution status
 */
#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 300
#endif
#include <CL/cl.h>
#include <stdint.h>
#include <string.h>

#include "marshal.h"
#include "opencl-desc.h"
#include "opencl-server-private.h"
#include "session-callback.h"
#include "wire.h"

static uint64_t
cookie_of(void *user_data)
{
	return (uint64_t)(uintptr_t)user_data;
}

static void
send_words(void *user_data, const uint8_t *body, size_t len)
{
	if (ava_session_callback_send(cookie_of(user_data), body, len) < 0) {
		/* No channel, or the guest is gone: nobody to tell. */
	}
}

static void CL_CALLBACK
context_notify(const char *errinfo, const void *private_info, size_t cb,
	       void *user_data)
{
	(void)private_info;
	(void)cb;
	struct ava_buf b;
	ava_buf_init(&b);
	size_t n = errinfo ? strlen(errinfo) + 1 : 0;
	ava_buf_put_u64(&b, n);
	ava_buf_put_padded(&b, errinfo ? errinfo : "", n);
	if (ava_buf_error(&b) == 0)
		send_words(user_data, b.data, b.len);
	ava_buf_finish(&b);
}

static void CL_CALLBACK
program_done(cl_program program, void *user_data)
{
	(void)program;
	send_words(user_data, NULL, 0);
}

static void CL_CALLBACK
mem_gone(cl_mem memobj, void *user_data)
{
	(void)memobj;
	send_words(user_data, NULL, 0);
}

static void CL_CALLBACK
context_gone(cl_context context, void *user_data)
{
	(void)context;
	send_words(user_data, NULL, 0);
}

static void CL_CALLBACK
event_status(cl_event event, cl_int status, void *user_data)
{
	(void)event;
	uint8_t w[8];
	ava_wire_put_le(w, (uint64_t)(int64_t)status, 8);
	send_words(user_data, w, sizeof(w));
}

/* Every process with the OpenCL server in it (`ava server`, and `ava
 * replay`, whose calls must get the same callbacks) hands these out. */
__attribute__((constructor)) static void
register_trampolines(void)
{
	ava_marshal_set_trampolines(ava_opencl_trampoline);
}

void *
ava_opencl_trampoline(uint32_t fn, int arg)
{
	(void)arg;   /* each function has one callback */
	switch (fn) {
	case AVA_OPENCL_FN_clCreateContext:
	case AVA_OPENCL_FN_clCreateContextFromType:
		return (void *)(uintptr_t)context_notify;
	case AVA_OPENCL_FN_clBuildProgram:
	case AVA_OPENCL_FN_clCompileProgram:
	case AVA_OPENCL_FN_clLinkProgram:
	case AVA_OPENCL_FN_clSetProgramReleaseCallback:
		return (void *)(uintptr_t)program_done;
	case AVA_OPENCL_FN_clSetMemObjectDestructorCallback:
		return (void *)(uintptr_t)mem_gone;
	case AVA_OPENCL_FN_clSetContextDestructorCallback:
		return (void *)(uintptr_t)context_gone;
	case AVA_OPENCL_FN_clSetEventCallback:
		return (void *)(uintptr_t)event_status;
	default:
		return NULL;
	}
}
