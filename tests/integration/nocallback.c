/*
 * nocallback.c - preloaded into ava's server by the test
 * ava-async-no-event-callback: clSetEventCallback refuses every event,
 * as an implementation out of resources would. A staged write's range,
 * or a forwarded write's copy, is then freed without the callback, by a
 * later sweep (runtime/opencl-calls.c, ava_cl_late_add()), and the
 * program must run as it does natively, not hang.
 * The program itself sets no event callback, so that the same library
 * in its own process changes nothing there.
 */
#define CL_TARGET_OPENCL_VERSION 300
#include <CL/cl.h>

__attribute__((visibility("default"))) cl_int CL_API_CALL
clSetEventCallback(cl_event event, cl_int type,
		   void (CL_CALLBACK *notify)(cl_event, cl_int, void *),
		   void *user_data)
{
	(void)event;
	(void)type;
	(void)notify;
	(void)user_data;
	return CL_OUT_OF_RESOURCES;
}
