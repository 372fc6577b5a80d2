/*
 * server-opencl.c - ava_server_run() serves the OpenCL API, the first and
 * so far only one the server is built with.
 */
#include "marshal.h"
#include "opencl-server-private.h"
#include "opencl-server.h"
#include "server-private.h"
#include "session-state.h"

/* A spare worker's start-up (server-private.h): what a program's first
 * calls make the ICD loader and the vendor library do, platforms and
 * then devices, so that they are done before the program asks. */
static void
opencl_warm(void)
{
	cl_platform_id p[16];
	cl_uint n = 0, nd;
	if (clGetPlatformIDs(16, p, &n) != CL_SUCCESS)
		return;
	for (cl_uint i = 0; i < n && i < 16; i++)
		clGetDeviceIDs(p[i], CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
}

int
ava_server_run(const struct ava_server_config *cfg)
{
	ava_marshal_set_trampolines(ava_opencl_trampoline);
	ava_state_set_ops(ava_opencl_state_ops(ava_opencl_server.api));
	ava_server_set_warm(opencl_warm);
	return ava_server_run_api(cfg, &ava_opencl_server);
}
