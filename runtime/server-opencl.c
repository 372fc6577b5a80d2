/*
 * server-opencl.c - ava_server_run() serves the OpenCL API, the first and
 * so far only one the server is built with.
 */
#include "marshal.h"
#include "opencl-server-private.h"
#include "opencl-server.h"
#include "server-private.h"

int
ava_server_run(const struct ava_server_config *cfg)
{
	ava_marshal_set_trampolines(ava_opencl_trampoline);
	return ava_server_run_api(cfg, &ava_opencl_server);
}
