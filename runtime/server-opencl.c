/*
 * server-opencl.c - ava_server_run() serves the OpenCL API, the first and
 * so far only one the server is built with.
 */
#include "marshal.h"
#include "opencl-server-private.h"
#include "opencl-server.h"
#include "server-private.h"
#include "session-state.h"

int
ava_server_run(const struct ava_server_config *cfg)
{
	ava_marshal_set_trampolines(ava_opencl_trampoline);
	ava_state_set_ops(ava_opencl_state_ops(ava_opencl_server.api));
	return ava_server_run_api(cfg, &ava_opencl_server);
}
