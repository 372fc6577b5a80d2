/*
 * conformance.c - a conformance-style walk over the OpenCL API: every
 * function that ava forwards or emulates, called at least once with valid
 * and with invalid arguments (see conformance.h). This part: platforms,
 * devices and sub-devices, contexts, queues, programs (source, binaries
 * obtained through the API, separate compilation with headers, built-in
 * kernels, IL), kernels and events; conformance-mem.c and
 * conformance-image.c do memory objects.
 *
 * Objects of the wrong kind are not passed: PoCL 3.1 does not check an
 * object's kind and crashes (ava refuses them: tests bad-input-*).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"

const char *conformance_src =
	"__kernel void inc(__global uchar *p)\n"
	"{\n"
	"    p[get_global_id(0)] += 1;\n"
	"}\n"
	"__kernel void fill(__global int *p, int v, __local int *scratch)\n"
	"{\n"
	"    scratch[get_local_id(0)] = v + (int)get_global_id(0);\n"
	"    barrier(CLK_LOCAL_MEM_FENCE);\n"
	"    p[get_global_id(0)] = scratch[get_local_id(0)];\n"
	"}\n"
	"__kernel void one(__global int *p)\n"
	"{\n"
	"    p[0] = 42;\n"
	"}\n"
	"__kernel void sample(__read_only image2d_t img, sampler_t s,\n"
	"                     __global float4 *out)\n"
	"{\n"
	"    int x = get_global_id(0), y = get_global_id(1);\n"
	"    out[y * get_global_size(0) + x] = read_imagef(img, s, (int2)(x, y));\n"
	"}\n";

void
expect(const char *what, cl_int err, cl_int want)
{
	itest_status(what, err);
	if (err != want)
		itest_check(what, false);
}

void
print_u64(const char *what, cl_int err, uint64_t value)
{
	printf("%s: %s %" PRIu64 "\n", what, itest_err_name(err),
	       err == CL_SUCCESS ? value : 0);
}

void
print_same(const char *what, cl_int err, const void *got, const void *want)
{
	printf("%s: %s %s\n", what, itest_err_name(err),
	       err != CL_SUCCESS ? "-" : got == want ? "same" : "DIFFERENT");
	if (err == CL_SUCCESS && got != want)
		itest_failures++;
}

/* ---- platforms and devices -------------------------------------------- */

static void
platforms(struct env *e)
{
	cl_uint n = 0;
	print_u64("clGetPlatformIDs(count)", clGetPlatformIDs(0, NULL, &n), n);
	expect("clGetPlatformIDs(0, NULL, NULL)", clGetPlatformIDs(0, NULL, NULL),
	       CL_INVALID_VALUE);
	char buf[256];
	cl_int err = clGetPlatformInfo(e->platform, CL_PLATFORM_PROFILE,
				       sizeof(buf), buf, NULL);
	printf("CL_PLATFORM_PROFILE: %s %s\n", itest_err_name(err),
	       err == CL_SUCCESS ? buf : "-");
	itest_status("clGetPlatformInfo(bogus)",
		     clGetPlatformInfo(e->platform, 0x4242, sizeof(buf), buf,
				       NULL));
	print_u64("clGetDeviceIDs(ALL)", clGetDeviceIDs(e->platform,
							CL_DEVICE_TYPE_ALL, 0,
							NULL, &n), n);
	itest_status("clGetDeviceIDs(ACCELERATOR)",
		     clGetDeviceIDs(e->platform, CL_DEVICE_TYPE_ACCELERATOR, 0,
				    NULL, &n));
	cl_device_type t = 0;
	err = clGetDeviceInfo(e->device, CL_DEVICE_TYPE, sizeof(t), &t, NULL);
	print_u64("CL_DEVICE_TYPE", err, t);
	cl_platform_id p = NULL;
	err = clGetDeviceInfo(e->device, CL_DEVICE_PLATFORM, sizeof(p), &p,
			      NULL);
	print_same("CL_DEVICE_PLATFORM", err, p, e->platform);
	cl_ulong dt = 0, ht = 0;
	itest_status("clGetDeviceAndHostTimer",
		     clGetDeviceAndHostTimer(e->device, &dt, &ht));
	itest_status("clGetHostTimer", clGetHostTimer(e->device, &ht));
	itest_status("clGetHostTimer(NULL)", clGetHostTimer(e->device, NULL));
	void *f = clGetExtensionFunctionAddressForPlatform(
		e->platform, "clIcdGetPlatformIDsKHR");
	printf("address of clIcdGetPlatformIDsKHR: %s\n", f ? "found" : "NULL");
	f = clGetExtensionFunctionAddressForPlatform(e->platform, "clNoSuchKHR");
	printf("address of clNoSuchKHR: %s\n", f ? "found" : "NULL");
	f = clGetExtensionFunctionAddress("clNoSuchKHR");
	printf("address of clNoSuchKHR (1.1): %s\n", f ? "found" : "NULL");
}

static void
sub_devices(struct env *e)
{
	cl_uint max = 0, n = 0;
	cl_int err = clGetDeviceInfo(e->device, CL_DEVICE_PARTITION_MAX_SUB_DEVICES,
				     sizeof(max), &max, NULL);
	print_u64("CL_DEVICE_PARTITION_MAX_SUB_DEVICES", err, max);
	cl_device_partition_property eq[] = { CL_DEVICE_PARTITION_EQUALLY, 1, 0 };
	cl_device_id sub[8];
	err = clCreateSubDevices(e->device, eq, 8, sub, &n);
	print_u64("clCreateSubDevices(EQUALLY 1)", err, n);
	if (err == CL_SUCCESS && n > 0) {
		cl_device_id parent = NULL;
		err = clGetDeviceInfo(sub[0], CL_DEVICE_PARENT_DEVICE,
				      sizeof(parent), &parent, NULL);
		print_same("CL_DEVICE_PARENT_DEVICE", err, parent, e->device);
		cl_uint cu = 0;
		err = clGetDeviceInfo(sub[0], CL_DEVICE_MAX_COMPUTE_UNITS,
				      sizeof(cu), &cu, NULL);
		print_u64("sub-device CL_DEVICE_MAX_COMPUTE_UNITS", err, cu);
		cl_device_partition_property pt[4] = { 0 };
		size_t sz = 0;
		err = clGetDeviceInfo(sub[0], CL_DEVICE_PARTITION_TYPE,
				      sizeof(pt), pt, &sz);
		printf("CL_DEVICE_PARTITION_TYPE: %s %zu bytes %#" PRIxPTR "\n",
		       itest_err_name(err), sz, (uintptr_t)pt[0]);
		cl_context c = clCreateContext(NULL, 1, sub, NULL, NULL, &err);
		itest_status("clCreateContext(sub-device)", err);
		if (c != NULL)
			clReleaseContext(c);
		itest_status("clRetainDevice", clRetainDevice(sub[0]));
		itest_status("clReleaseDevice", clReleaseDevice(sub[0]));
		for (cl_uint i = 0; i < n; i++)
			clReleaseDevice(sub[i]);
	}
	cl_device_partition_property counts[] = {
		CL_DEVICE_PARTITION_BY_COUNTS, 1, 1,
		CL_DEVICE_PARTITION_BY_COUNTS_LIST_END, 0 };
	err = clCreateSubDevices(e->device, counts, 0, NULL, &n);
	print_u64("clCreateSubDevices(BY_COUNTS 1 1, count)", err, n);
	cl_device_partition_property bad[] = { 0x4242, 1, 0 };
	itest_status("clCreateSubDevices(bad property)",
		     clCreateSubDevices(e->device, bad, 8, sub, &n));
	itest_status("clCreateSubDevices(NULL)",
		     clCreateSubDevices(e->device, NULL, 8, sub, &n));
	itest_status("clRetainDevice(root)", clRetainDevice(e->device));
	itest_status("clReleaseDevice(root)", clReleaseDevice(e->device));
}

/* ---- contexts and queues ---------------------------------------------- */

static void
contexts(struct env *e)
{
	cl_int err;
	cl_context_properties props[] = {
		CL_CONTEXT_PLATFORM, (cl_context_properties)e->platform, 0 };
	cl_context c = clCreateContextFromType(props, CL_DEVICE_TYPE_ALL, NULL,
					       NULL, &err);
	itest_status("clCreateContextFromType(ALL)", err);
	clCreateContextFromType(props, CL_DEVICE_TYPE_ACCELERATOR, NULL, NULL,
				&err);
	itest_status("clCreateContextFromType(ACCELERATOR)", err);
	clCreateContext(NULL, 0, NULL, NULL, NULL, &err);
	itest_status("clCreateContext(no devices)", err);
	if (c == NULL)
		exit(99);
	cl_uint n = 0;
	err = clGetContextInfo(c, CL_CONTEXT_NUM_DEVICES, sizeof(n), &n, NULL);
	print_u64("CL_CONTEXT_NUM_DEVICES", err, n);
	cl_device_id d = NULL;
	err = clGetContextInfo(c, CL_CONTEXT_DEVICES, sizeof(d), &d, NULL);
	print_same("CL_CONTEXT_DEVICES", err, d, e->device);
	cl_context_properties got[3] = { 0 };
	err = clGetContextInfo(c, CL_CONTEXT_PROPERTIES, sizeof(got), got,
			       NULL);
	print_same("CL_CONTEXT_PROPERTIES platform", err, (void *)got[1],
		   e->platform);
	itest_status("clRetainContext", clRetainContext(c));
	itest_status("clReleaseContext", clReleaseContext(c));
	itest_status("clReleaseContext(last)", clReleaseContext(c));
	itest_status("clReleaseContext(NULL)", clReleaseContext(NULL));
}

static void
queues(struct env *e)
{
	cl_int err;
	cl_queue_properties props[] = {
		CL_QUEUE_PROPERTIES, CL_QUEUE_PROFILING_ENABLE, 0 };
	cl_command_queue q = clCreateCommandQueueWithProperties(
		e->ctx, e->device, props, &err);
	itest_status("clCreateCommandQueueWithProperties(PROFILING)", err);
	cl_queue_properties bad[] = { 0x4242, 0, 0 };
	clCreateCommandQueueWithProperties(e->ctx, e->device, bad, &err);
	itest_status("clCreateCommandQueueWithProperties(bad key)", err);
	/* PoCL aborts the process on a device-side queue: a host queue. */
	itest_status("clSetDefaultDeviceCommandQueue(host queue)",
		     clSetDefaultDeviceCommandQueue(e->ctx, e->device, e->q));
	if (q == NULL)
		exit(99);
	cl_command_queue_properties qp = 0;
	err = clGetCommandQueueInfo(q, CL_QUEUE_PROPERTIES, sizeof(qp), &qp,
				    NULL);
	print_u64("CL_QUEUE_PROPERTIES", err, qp);
	cl_context c = NULL;
	err = clGetCommandQueueInfo(q, CL_QUEUE_CONTEXT, sizeof(c), &c, NULL);
	print_same("CL_QUEUE_CONTEXT", err, c, e->ctx);
	cl_device_id d = NULL;
	err = clGetCommandQueueInfo(q, CL_QUEUE_DEVICE, sizeof(d), &d, NULL);
	print_same("CL_QUEUE_DEVICE", err, d, e->device);
	itest_status("clRetainCommandQueue", clRetainCommandQueue(q));
	itest_status("clReleaseCommandQueue", clReleaseCommandQueue(q));
	itest_status("clFlush", clFlush(q));
	itest_status("clFinish", clFinish(q));
	itest_status("clReleaseCommandQueue(last)", clReleaseCommandQueue(q));
	cl_command_queue q1 = clCreateCommandQueue(e->ctx, e->device,
						   CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE,
						   &err);
	itest_status("clCreateCommandQueue(out of order)", err);
	if (q1 != NULL)
		clReleaseCommandQueue(q1);
	clCreateCommandQueue(e->ctx, e->device, 0x4242, &err);
	itest_status("clCreateCommandQueue(bad properties)", err);
}

/* ---- programs ---------------------------------------------------------- */

static cl_program
from_binary(struct env *e, cl_program prog)
{
	size_t size = 0;
	cl_int err = clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES,
				      sizeof(size), &size, NULL);
	itest_status("CL_PROGRAM_BINARY_SIZES", err);
	unsigned char *bin = malloc(size ? size : 1);
	if (bin == NULL)
		exit(99);
	unsigned char *bins[1] = { bin };
	err = clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof(bins), bins,
			       NULL);
	itest_status("CL_PROGRAM_BINARIES", err);
	const unsigned char *cbins[1] = { bin };
	cl_int status = 99;
	cl_program p = clCreateProgramWithBinary(e->ctx, 1, &e->device, &size,
						 cbins, &status, &err);
	printf("clCreateProgramWithBinary: %s, binary status %s\n",
	       itest_err_name(err), itest_err_name(status));
	unsigned char junk[16] = "not a binary";
	size_t jn = sizeof(junk);
	const unsigned char *jb[1] = { junk };
	clCreateProgramWithBinary(e->ctx, 1, &e->device, &jn, jb, &status,
				  &err);
	printf("clCreateProgramWithBinary(junk): %s, binary status %s\n",
	       itest_err_name(err), itest_err_name(status));
	free(bin);
	if (p != NULL)
		itest_status("clBuildProgram(binary)",
			     clBuildProgram(p, 1, &e->device, NULL, NULL, NULL));
	return p;
}

static void CL_CALLBACK
built(cl_program p, void *user)
{
	(*(int *)user)++;
}

static void
separate_compilation(struct env *e)
{
	const char *hdr = "#define ANSWER 42\n";
	const char *src = "#include \"answer.h\"\n"
			  "__kernel void answer(__global int *p)\n"
			  "{ p[0] = ANSWER; }\n";
	cl_int err;
	cl_program h = clCreateProgramWithSource(e->ctx, 1, &hdr, NULL, &err);
	cl_program s = clCreateProgramWithSource(e->ctx, 1, &src, NULL, &err);
	const char *names[] = { "answer.h" };
	int calls = 0;
	itest_status("clCompileProgram(with header)",
		     clCompileProgram(s, 1, &e->device, "", 1, &h, names,
				      built, &calls));
	printf("compile callback calls: %d\n", calls);
	itest_status("clCompileProgram(no headers)",
		     clCompileProgram(h, 1, &e->device, "", 0, NULL, NULL,
				      NULL, NULL));
	cl_program l = clLinkProgram(e->ctx, 1, &e->device, "", 1, &s, NULL,
				     NULL, &err);
	itest_status("clLinkProgram", err);
	if (l != NULL) {
		cl_kernel k = clCreateKernel(l, "answer", &err);
		itest_status("clCreateKernel(answer)", err);
		cl_int v = 0;
		cl_mem m = clCreateBuffer(e->ctx, CL_MEM_USE_HOST_PTR,
					  sizeof(v), &v, &err);
		clSetKernelArg(k, 0, sizeof(m), &m);
		itest_status("clEnqueueTask(answer)",
			     clEnqueueTask(e->q, k, 0, NULL, NULL));
		clEnqueueReadBuffer(e->q, m, CL_TRUE, 0, sizeof(v), &v, 0, NULL,
				    NULL);
		print_u64("linked kernel wrote", CL_SUCCESS, (uint64_t)v);
		clReleaseMemObject(m);
		clReleaseKernel(k);
		clReleaseProgram(l);
	}
	clLinkProgram(e->ctx, 1, &e->device, "", 0, NULL, NULL, NULL, &err);
	itest_status("clLinkProgram(nothing)", err);
	clReleaseProgram(h);
	clReleaseProgram(s);
}

static void
programs(struct env *e)
{
	cl_int err;
	cl_uint n = 0;
	err = clGetProgramInfo(e->prog, CL_PROGRAM_NUM_DEVICES, sizeof(n), &n,
			       NULL);
	print_u64("CL_PROGRAM_NUM_DEVICES", err, n);
	char names[256] = "";
	err = clGetProgramInfo(e->prog, CL_PROGRAM_KERNEL_NAMES, sizeof(names),
			       names, NULL);
	printf("CL_PROGRAM_KERNEL_NAMES: %s %s\n", itest_err_name(err), names);
	size_t len = 0;
	err = clGetProgramInfo(e->prog, CL_PROGRAM_SOURCE, 0, NULL, &len);
	print_u64("CL_PROGRAM_SOURCE size", err, len);
	cl_build_status st = 0;
	err = clGetProgramBuildInfo(e->prog, e->device, CL_PROGRAM_BUILD_STATUS,
				    sizeof(st), &st, NULL);
	print_u64("CL_PROGRAM_BUILD_STATUS", err, (uint64_t)(int64_t)st);
	err = clGetProgramBuildInfo(e->prog, e->device, CL_PROGRAM_BUILD_OPTIONS,
				    sizeof(names), names, NULL);
	printf("CL_PROGRAM_BUILD_OPTIONS: %s \"%s\"\n", itest_err_name(err),
	       names);
	itest_status("clRetainProgram", clRetainProgram(e->prog));
	itest_status("clReleaseProgram", clReleaseProgram(e->prog));

	cl_program b = from_binary(e, e->prog);
	if (b != NULL) {
		cl_kernel k = clCreateKernel(b, "one", &err);
		itest_status("clCreateKernel(from binary)", err);
		if (k != NULL)
			clReleaseKernel(k);
		clReleaseProgram(b);
	}
	separate_compilation(e);

	const char *bad = "__kernel void broken( { }";
	cl_program p = clCreateProgramWithSource(e->ctx, 1, &bad, NULL, &err);
	itest_status("clBuildProgram(broken)",
		     clBuildProgram(p, 1, &e->device, NULL, NULL, NULL));
	clReleaseProgram(p);
	p = clCreateProgramWithSource(e->ctx, 1, &conformance_src, NULL, &err);
	itest_status("clBuildProgram(bad options)",
		     clBuildProgram(p, 1, &e->device, "-no-such-option", NULL,
				    NULL));
	clReleaseProgram(p);
	p = clCreateProgramWithBuiltInKernels(e->ctx, 1, &e->device,
					      "pocl.add.i8", &err);
	itest_status("clCreateProgramWithBuiltInKernels", err);
	if (p != NULL)
		clReleaseProgram(p);
	clCreateProgramWithBuiltInKernels(e->ctx, 1, &e->device, "no.such",
					  &err);
	itest_status("clCreateProgramWithBuiltInKernels(unknown)", err);
	static const unsigned char spirv[20] = { 0x03, 0x02, 0x23, 0x07 };
	p = clCreateProgramWithIL(e->ctx, spirv, sizeof(spirv), &err);
	itest_status("clCreateProgramWithIL", err);
	cl_uint one = 1;
	itest_status("clSetProgramSpecializationConstant",
		     clSetProgramSpecializationConstant(p ? p : e->prog, 1,
							sizeof(one), &one));
	if (p != NULL)
		clReleaseProgram(p);
	itest_status("clUnloadPlatformCompiler",
		     clUnloadPlatformCompiler(e->platform));
	itest_status("clUnloadCompiler", clUnloadCompiler());
}

/* ---- kernels ----------------------------------------------------------- */

static void
kernel_info(struct env *e, cl_kernel k)
{
	char name[64] = "";
	cl_int err = clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof(name),
				     name, NULL);
	printf("CL_KERNEL_FUNCTION_NAME: %s %s\n", itest_err_name(err), name);
	cl_uint n = 0;
	err = clGetKernelInfo(k, CL_KERNEL_NUM_ARGS, sizeof(n), &n, NULL);
	print_u64("CL_KERNEL_NUM_ARGS", err, n);
	cl_program p = NULL;
	err = clGetKernelInfo(k, CL_KERNEL_PROGRAM, sizeof(p), &p, NULL);
	print_same("CL_KERNEL_PROGRAM", err, p, e->prog);
	err = clGetKernelArgInfo(k, 1, CL_KERNEL_ARG_NAME, sizeof(name), name,
				 NULL);
	printf("CL_KERNEL_ARG_NAME: %s %s\n", itest_err_name(err),
	       err == CL_SUCCESS ? name : "-");
	cl_kernel_arg_address_qualifier aq = 0;
	err = clGetKernelArgInfo(k, 2, CL_KERNEL_ARG_ADDRESS_QUALIFIER,
				 sizeof(aq), &aq, NULL);
	print_u64("CL_KERNEL_ARG_ADDRESS_QUALIFIER", err, aq);
	itest_status("clGetKernelArgInfo(bad index)",
		     clGetKernelArgInfo(k, 9, CL_KERNEL_ARG_NAME, sizeof(name),
					name, NULL));
	size_t wg = 0;
	err = clGetKernelWorkGroupInfo(k, e->device, CL_KERNEL_WORK_GROUP_SIZE,
				       sizeof(wg), &wg, NULL);
	itest_status("CL_KERNEL_WORK_GROUP_SIZE", err);
	size_t cwg[3] = { 9, 9, 9 };
	err = clGetKernelWorkGroupInfo(k, e->device,
				       CL_KERNEL_COMPILE_WORK_GROUP_SIZE,
				       sizeof(cwg), cwg, NULL);
	printf("CL_KERNEL_COMPILE_WORK_GROUP_SIZE: %s %zu %zu %zu\n",
	       itest_err_name(err), cwg[0], cwg[1], cwg[2]);
	size_t local[1] = { 8 }, sg = 0;
	err = clGetKernelSubGroupInfo(k, e->device,
				      CL_KERNEL_MAX_SUB_GROUP_SIZE_FOR_NDRANGE,
				      sizeof(local), local, sizeof(sg), &sg,
				      NULL);
	itest_status("clGetKernelSubGroupInfo", err);
}

static void
kernels(struct env *e)
{
	cl_int err;
	cl_kernel ks[8];
	cl_uint n = 0;
	err = clCreateKernelsInProgram(e->prog, 8, ks, &n);
	print_u64("clCreateKernelsInProgram", err, n);
	for (cl_uint i = 0; err == CL_SUCCESS && i < n; i++)
		clReleaseKernel(ks[i]);
	clCreateKernel(e->prog, "no_such_kernel", &err);
	itest_status("clCreateKernel(unknown)", err);
	cl_kernel k = clCreateKernel(e->prog, "fill", &err);
	itest_status("clCreateKernel(fill)", err);
	if (k == NULL)
		exit(99);
	kernel_info(e, k);
	enum { G = 64, L = 16 };
	cl_mem m = clCreateBuffer(e->ctx, CL_MEM_READ_WRITE, G * sizeof(cl_int),
				  NULL, &err);
	cl_int v = 1000;
	itest_status("clSetKernelArg(buffer)", clSetKernelArg(k, 0, sizeof(m),
							      &m));
	itest_status("clSetKernelArg(int)", clSetKernelArg(k, 1, sizeof(v), &v));
	itest_status("clSetKernelArg(local)",
		     clSetKernelArg(k, 2, L * sizeof(cl_int), NULL));
	itest_status("clSetKernelArg(bad index)",
		     clSetKernelArg(k, 7, sizeof(v), &v));
	itest_status("clSetKernelArg(bad size)", clSetKernelArg(k, 1, 2, &v));
	itest_status("clRetainKernel", clRetainKernel(k));
	itest_status("clReleaseKernel", clReleaseKernel(k));
	size_t g = G, l = L;
	itest_status("clEnqueueNDRangeKernel(fill)",
		     clEnqueueNDRangeKernel(e->q, k, 1, NULL, &g, &l, 0, NULL,
					    NULL));
	cl_int got[G];
	clEnqueueReadBuffer(e->q, m, CL_TRUE, 0, sizeof(got), got, 0, NULL,
			    NULL);
	bool ok = true;
	for (int i = 0; i < G; i++)
		ok &= got[i] == 1000 + i;
	itest_check("kernel with a local argument", ok);
	size_t bad_l = 5;
	itest_status("clEnqueueNDRangeKernel(bad local size)",
		     clEnqueueNDRangeKernel(e->q, k, 1, NULL, &g, &bad_l, 0,
					    NULL, NULL));
	itest_status("clEnqueueNDRangeKernel(work_dim 0)",
		     clEnqueueNDRangeKernel(e->q, k, 0, NULL, &g, NULL, 0,
					    NULL, NULL));
	/* A clone of a kernel with a local argument makes PoCL 3.1 read past
	 * an allocation when it runs: the clone is of one without. */
	cl_kernel one = clCreateKernel(e->prog, "one", &err);
	clSetKernelArg(one, 0, sizeof(m), &m);
	cl_kernel c = clCloneKernel(one, &err);
	itest_status("clCloneKernel", err);
	itest_status("clEnqueueTask(clone)",
		     clEnqueueTask(e->q, c ? c : one, 0, NULL, NULL));
	clEnqueueReadBuffer(e->q, m, CL_TRUE, 0, sizeof(v), &v, 0, NULL, NULL);
	print_u64("cloned kernel wrote (its argument kept)", CL_SUCCESS,
		  (uint64_t)v);
	v = 0;
	clEnqueueWriteBuffer(e->q, m, CL_TRUE, 0, sizeof(v), &v, 0, NULL, NULL);
	itest_status("clEnqueueTask", clEnqueueTask(e->q, one, 0, NULL, NULL));
	clEnqueueReadBuffer(e->q, m, CL_TRUE, 0, sizeof(v), &v, 0, NULL, NULL);
	print_u64("task wrote", CL_SUCCESS, (uint64_t)v);
	clReleaseKernel(one);
	if (c != NULL)
		clReleaseKernel(c);
	clReleaseKernel(k);
	clReleaseMemObject(m);
}

/* ---- events ------------------------------------------------------------ */

static void
event_info(const char *what, cl_event ev)
{
	cl_int st = 99;
	cl_int err = clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS,
				    sizeof(st), &st, NULL);
	printf("%s status: %s %d\n", what, itest_err_name(err), (int)st);
	cl_command_type t = 0;
	err = clGetEventInfo(ev, CL_EVENT_COMMAND_TYPE, sizeof(t), &t, NULL);
	printf("%s type: %s %#x\n", what, itest_err_name(err), (unsigned)t);
}

static void
events(struct env *e)
{
	cl_int err;
	cl_event u = clCreateUserEvent(e->ctx, &err);
	itest_status("clCreateUserEvent", err);
	if (u == NULL)
		exit(99);
	event_info("user event", u);
	cl_context c = NULL;
	err = clGetEventInfo(u, CL_EVENT_CONTEXT, sizeof(c), &c, NULL);
	print_same("CL_EVENT_CONTEXT", err, c, e->ctx);
	/* Commands gated on the user event; nothing here blocks on them. */
	cl_kernel k = clCreateKernel(e->prog, "one", &err);
	cl_mem m = clCreateBuffer(e->ctx, CL_MEM_READ_WRITE, 64, NULL, &err);
	clSetKernelArg(k, 0, sizeof(m), &m);
	cl_event kev = NULL, mk = NULL, br = NULL, mk1 = NULL;
	itest_status("clEnqueueNDRangeKernel(after user event)",
		     clEnqueueTask(e->q, k, 1, &u, &kev));
	itest_status("clEnqueueMarkerWithWaitList",
		     clEnqueueMarkerWithWaitList(e->q, 1, &kev, &mk));
	itest_status("clEnqueueBarrierWithWaitList",
		     clEnqueueBarrierWithWaitList(e->q, 0, NULL, &br));
	itest_status("clEnqueueMarker", clEnqueueMarker(e->q, &mk1));
	/* clEnqueueWaitForEvents is forwarded, but PoCL 3.1 aborts the
	 * process in it ("unimplemented"): not called. */
	itest_status("clEnqueueBarrier", clEnqueueBarrier(e->q));
	itest_status("clSetUserEventStatus(bad)",
		     clSetUserEventStatus(u, 42));
	itest_status("clSetUserEventStatus(COMPLETE)",
		     clSetUserEventStatus(u, CL_COMPLETE));
	itest_status("clSetUserEventStatus(again)",
		     clSetUserEventStatus(u, CL_COMPLETE));
	cl_event all[] = { kev, mk, br, mk1 };
	itest_status("clWaitForEvents", clWaitForEvents(4, all));
	event_info("user event", u);
	event_info("kernel", kev);
	event_info("marker", mk);
	event_info("barrier", br);
	event_info("marker (1.x)", mk1);
	cl_command_queue q = NULL;
	err = clGetEventInfo(kev, CL_EVENT_COMMAND_QUEUE, sizeof(q), &q, NULL);
	print_same("CL_EVENT_COMMAND_QUEUE", err, q, e->q);
	cl_ulong t = 0;
	itest_status("clGetEventProfilingInfo(no profiling)",
		     clGetEventProfilingInfo(kev, CL_PROFILING_COMMAND_END,
					     sizeof(t), &t, NULL));
	itest_status("clRetainEvent", clRetainEvent(kev));
	itest_status("clReleaseEvent", clReleaseEvent(kev));
	itest_status("clWaitForEvents(none)", clWaitForEvents(0, NULL));
	for (size_t i = 0; i < 4; i++)
		clReleaseEvent(all[i]);
	clReleaseEvent(u);

	/* Profiling times: only their order is stable. */
	cl_queue_properties props[] = {
		CL_QUEUE_PROPERTIES, CL_QUEUE_PROFILING_ENABLE, 0 };
	cl_command_queue pq = clCreateCommandQueueWithProperties(
		e->ctx, e->device, props, &err);
	cl_event ev = NULL;
	clEnqueueTask(pq, k, 0, NULL, &ev);
	clFinish(pq);
	cl_ulong s = 0, end = 0;
	err = clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof(s),
				      &s, NULL);
	itest_status("CL_PROFILING_COMMAND_START", err);
	err = clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof(end),
				      &end, NULL);
	printf("CL_PROFILING_COMMAND_END: %s %s\n", itest_err_name(err),
	       end >= s ? "after start" : "BEFORE START");
	clReleaseEvent(ev);
	clReleaseCommandQueue(pq);
	clReleaseKernel(k);
	clReleaseMemObject(m);
}

int
main(void)
{
	struct env e;
	cl_int err;
	if (!itest_first_device(&e.platform, &e.device))
		return 99;
	platforms(&e);
	sub_devices(&e);
	contexts(&e);
	e.ctx = clCreateContext(NULL, 1, &e.device, NULL, NULL, &err);
	if (itest_status("clCreateContext", err) != CL_SUCCESS)
		return 99;
	e.q = clCreateCommandQueue(e.ctx, e.device, 0, &err);
	if (itest_status("clCreateCommandQueue", err) != CL_SUCCESS)
		return 99;
	queues(&e);
	e.prog = itest_build(e.ctx, e.device, conformance_src,
			     "-cl-kernel-arg-info");
	if (e.prog == NULL)
		return 99;
	programs(&e);
	kernels(&e);
	events(&e);
	conformance_buffers(&e);
	conformance_mapping(&e);
	conformance_images(&e);
	conformance_samplers(&e);
	conformance_extensions(&e);
	itest_status("clFinish", clFinish(e.q));
	clReleaseProgram(e.prog);
	clReleaseCommandQueue(e.q);
	clReleaseContext(e.ctx);
	return itest_exit_code();
}
