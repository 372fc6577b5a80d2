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
static bool cpu_only;   /* every device the warm-up found is a CPU */

static void
opencl_warm(void)
{
	cl_platform_id p[16];
	cl_device_id d[16];
	cl_uint n = 0, nd = 0, devices = 0;
	bool cpu = true;
	if (clGetPlatformIDs(16, p, &n) != CL_SUCCESS)
		return;
	for (cl_uint i = 0; i < n && i < 16; i++) {
		if (clGetDeviceIDs(p[i], CL_DEVICE_TYPE_ALL, 16, d, &nd) !=
		    CL_SUCCESS)
			continue;
		for (cl_uint k = 0; k < nd && k < 16; k++, devices++) {
			cl_device_type t = 0;
			cpu &= clGetDeviceInfo(d[k], CL_DEVICE_TYPE, sizeof(t), &t,
					       NULL) == CL_SUCCESS &&
			       t == CL_DEVICE_TYPE_CPU;
		}
		cpu &= nd <= 16;
	}
	cpu_only = cpu && n <= 16 && devices > 0;
}

/* Only a warmed worker knows: asking now would load the vendor library
 * into a worker that never used it. */
static bool
opencl_host_only(void)
{
	return cpu_only;
}

int
ava_server_run(const struct ava_server_config *cfg)
{
	ava_marshal_set_trampolines(ava_opencl_trampoline);
	ava_state_set_ops(ava_opencl_state_ops(ava_opencl_server.api));
	ava_server_set_warm(opencl_warm);
	ava_server_set_host_only(opencl_host_only);
	return ava_server_run_api(cfg, &ava_opencl_server);
}
