/*
 * info.c - every clGet*Info family, including handle-valued answers.
 *
 * Each query is made twice, as a real program does: once for the size,
 * once for the value. Handle-valued answers (CL_MEM_CONTEXT, CL_DEVICE_
 * PLATFORM, ...) are compared for identity with the object this program
 * created or obtained: a remoting layer must hand back the very handle the
 * application holds, not a fresh one. The platform's name and ICD suffix
 * are not printed: they may legitimately name the remoting layer.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

typedef cl_int (*getter)(const void *obj, cl_uint param, size_t size,
			 void *value, size_t *size_ret);

/* The second object of the two-object queries. */
static cl_device_id cur_device;
static cl_uint cur_arg;

static cl_int
get_platform(const void *o, cl_uint p, size_t s, void *v, size_t *r)
{
	return clGetPlatformInfo((cl_platform_id)o, p, s, v, r);
}

static cl_int
get_device(const void *o, cl_uint p, size_t s, void *v, size_t *r)
{
	return clGetDeviceInfo((cl_device_id)o, p, s, v, r);
}

static cl_int
get_context(const void *o, cl_uint p, size_t s, void *v, size_t *r)
{
	return clGetContextInfo((cl_context)o, p, s, v, r);
}

static cl_int
get_queue(const void *o, cl_uint p, size_t s, void *v, size_t *r)
{
	return clGetCommandQueueInfo((cl_command_queue)o, p, s, v, r);
}

static cl_int
get_mem(const void *o, cl_uint p, size_t s, void *v, size_t *r)
{
	return clGetMemObjectInfo((cl_mem)o, p, s, v, r);
}

static cl_int
get_program(const void *o, cl_uint p, size_t s, void *v, size_t *r)
{
	return clGetProgramInfo((cl_program)o, p, s, v, r);
}

static cl_int
get_build(const void *o, cl_uint p, size_t s, void *v, size_t *r)
{
	return clGetProgramBuildInfo((cl_program)o, cur_device, p, s, v, r);
}

static cl_int
get_kernel(const void *o, cl_uint p, size_t s, void *v, size_t *r)
{
	return clGetKernelInfo((cl_kernel)o, p, s, v, r);
}

static cl_int
get_kernel_arg(const void *o, cl_uint p, size_t s, void *v, size_t *r)
{
	return clGetKernelArgInfo((cl_kernel)o, cur_arg, p, s, v, r);
}

static cl_int
get_work_group(const void *o, cl_uint p, size_t s, void *v, size_t *r)
{
	return clGetKernelWorkGroupInfo((cl_kernel)o, cur_device, p, s, v, r);
}

static cl_int
get_event(const void *o, cl_uint p, size_t s, void *v, size_t *r)
{
	return clGetEventInfo((cl_event)o, p, s, v, r);
}

static cl_int
get_sampler(const void *o, cl_uint p, size_t s, void *v, size_t *r)
{
	return clGetSamplerInfo((cl_sampler)o, p, s, v, r);
}

/*
 * Kinds of answer: u cl_uint, i cl_int, l cl_ulong, x cl_ulong bitfield,
 * z size_t, Z size_t array, b cl_bool, s string, d raw bytes (digest),
 * h one handle, H handle array, each compared with `expect`, r a reference
 * count that the implementation may hold extra references to for a while
 * (commands in flight): printed as "live" when positive.
 */
struct query {
	cl_uint param;
	const char *name;
	char kind;
	const void *expect;
};

#define Q(p, k) { p, #p, k, NULL }
#define QH(p, k, e) { p, #p, k, e }

static void
print_value(const struct query *q, const unsigned char *v, size_t n)
{
	size_t i;

	switch (q->kind) {
	case 'u': printf("%" PRIu32, *(const cl_uint *)v); break;
	case 'r': printf("%s", *(const cl_uint *)v ? "live" : "0"); break;
	case 'i': printf("%" PRId32, *(const cl_int *)v); break;
	case 'b': printf("%s", *(const cl_bool *)v ? "true" : "false"); break;
	case 'l': printf("%" PRIu64, *(const cl_ulong *)v); break;
	case 'x': printf("0x%" PRIx64, *(const cl_ulong *)v); break;
	case 'z': printf("%zu", *(const size_t *)v); break;
	case 'Z':
		for (i = 0; i < n / sizeof(size_t); i++)
			printf("%s%zu", i ? " " : "", ((const size_t *)v)[i]);
		break;
	case 's':
		printf("\"%.*s\"", (int)strnlen((const char *)v, n), v);
		break;
	case 'd': printf("digest %016" PRIx64, itest_digest(v, n)); break;
	case 'h':
	case 'H':
		for (i = 0; i < n / sizeof(void *); i++) {
			const void *h = ((const void *const *)v)[i];
			printf("%s%s", i ? " " : "",
			       h == NULL ? "NULL" :
			       h == q->expect ? "same" : "DIFFERENT");
		}
		break;
	}
}

/* Size query, then value query, as one transcript line. */
static void
show(const char *obj, getter get, const void *o, const struct query *q)
{
	size_t size = 0, size2 = 0;
	cl_int err = get(o, q->param, 0, NULL, &size);

	printf("%s %s: %s", obj, q->name, itest_err_name(err));
	if (err != CL_SUCCESS) {
		printf("\n");
		return;
	}
	/* Room for a NUL and for kinds that read a whole scalar. */
	unsigned char *v = calloc(1, size + 16);
	if (v == NULL)
		exit(99);
	err = get(o, q->param, size, v, &size2);
	printf(" size %zu/%zu %s ", size, size2, itest_err_name(err));
	if (err == CL_SUCCESS)
		print_value(q, v, size);
	printf("\n");
	if ((q->kind == 'h' || q->kind == 'H') && err == CL_SUCCESS) {
		for (size_t i = 0; i < size / sizeof(void *); i++) {
			const void *h = ((const void *const *)v)[i];
			if (h != NULL && h != q->expect)
				itest_check(q->name, false);
		}
	}
	free(v);
}

static void
show_all(const char *obj, getter get, const void *o, const struct query *qs,
	 size_t n)
{
	for (size_t i = 0; i < n; i++)
		show(obj, get, o, &qs[i]);
}

#define SHOW(obj, get, o, qs) \
	show_all(obj, get, o, qs, sizeof(qs) / sizeof(qs[0]))

static void
platform_info(cl_platform_id p)
{
	const struct query qs[] = {
		Q(CL_PLATFORM_PROFILE, 's'),
		Q(CL_PLATFORM_VERSION, 's'),
		Q(CL_PLATFORM_VENDOR, 's'),
		Q(CL_PLATFORM_EXTENSIONS, 's'),
		Q(CL_PLATFORM_HOST_TIMER_RESOLUTION, 'l'),
		Q(CL_PLATFORM_NUMERIC_VERSION, 'u'),
		Q(CL_PLATFORM_EXTENSIONS_WITH_VERSION, 'd'),
	};
	SHOW("platform", get_platform, p, qs);
	printf("platform bogus param: %s\n",
	       itest_err_name(clGetPlatformInfo(p, 0x7fff, 0, NULL, NULL)));
}

static void
device_info(cl_device_id d, cl_platform_id p)
{
	const struct query qs[] = {
		Q(CL_DEVICE_TYPE, 'x'),
		Q(CL_DEVICE_NAME, 's'),
		Q(CL_DEVICE_VENDOR, 's'),
		Q(CL_DEVICE_VENDOR_ID, 'u'),
		Q(CL_DEVICE_VERSION, 's'),
		Q(CL_DRIVER_VERSION, 's'),
		Q(CL_DEVICE_OPENCL_C_VERSION, 's'),
		Q(CL_DEVICE_PROFILE, 's'),
		Q(CL_DEVICE_EXTENSIONS, 's'),
		Q(CL_DEVICE_BUILT_IN_KERNELS, 's'),
		Q(CL_DEVICE_MAX_COMPUTE_UNITS, 'u'),
		Q(CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS, 'u'),
		Q(CL_DEVICE_MAX_WORK_ITEM_SIZES, 'Z'),
		Q(CL_DEVICE_MAX_WORK_GROUP_SIZE, 'z'),
		Q(CL_DEVICE_MAX_CLOCK_FREQUENCY, 'u'),
		Q(CL_DEVICE_ADDRESS_BITS, 'u'),
		Q(CL_DEVICE_MAX_MEM_ALLOC_SIZE, 'l'),
		Q(CL_DEVICE_GLOBAL_MEM_SIZE, 'l'),
		Q(CL_DEVICE_GLOBAL_MEM_CACHE_SIZE, 'l'),
		Q(CL_DEVICE_GLOBAL_MEM_CACHELINE_SIZE, 'u'),
		Q(CL_DEVICE_LOCAL_MEM_SIZE, 'l'),
		Q(CL_DEVICE_LOCAL_MEM_TYPE, 'u'),
		Q(CL_DEVICE_MAX_CONSTANT_BUFFER_SIZE, 'l'),
		Q(CL_DEVICE_MAX_PARAMETER_SIZE, 'z'),
		Q(CL_DEVICE_MEM_BASE_ADDR_ALIGN, 'u'),
		Q(CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT, 'u'),
		Q(CL_DEVICE_NATIVE_VECTOR_WIDTH_INT, 'u'),
		Q(CL_DEVICE_SINGLE_FP_CONFIG, 'x'),
		Q(CL_DEVICE_DOUBLE_FP_CONFIG, 'x'),
		Q(CL_DEVICE_IMAGE_SUPPORT, 'b'),
		Q(CL_DEVICE_IMAGE2D_MAX_WIDTH, 'z'),
		Q(CL_DEVICE_ENDIAN_LITTLE, 'b'),
		Q(CL_DEVICE_AVAILABLE, 'b'),
		Q(CL_DEVICE_COMPILER_AVAILABLE, 'b'),
		Q(CL_DEVICE_LINKER_AVAILABLE, 'b'),
		Q(CL_DEVICE_ERROR_CORRECTION_SUPPORT, 'b'),
		Q(CL_DEVICE_HOST_UNIFIED_MEMORY, 'b'),
		Q(CL_DEVICE_PROFILING_TIMER_RESOLUTION, 'z'),
		Q(CL_DEVICE_EXECUTION_CAPABILITIES, 'x'),
		Q(CL_DEVICE_QUEUE_PROPERTIES, 'x'),
		Q(CL_DEVICE_PRINTF_BUFFER_SIZE, 'z'),
		Q(CL_DEVICE_PREFERRED_INTEROP_USER_SYNC, 'b'),
		Q(CL_DEVICE_PARTITION_MAX_SUB_DEVICES, 'u'),
		Q(CL_DEVICE_PARTITION_PROPERTIES, 'd'),
		Q(CL_DEVICE_REFERENCE_COUNT, 'u'),
		Q(CL_DEVICE_SVM_CAPABILITIES, 'x'),
		Q(CL_DEVICE_NUMERIC_VERSION, 'u'),
		Q(CL_DEVICE_OPENCL_C_ALL_VERSIONS, 'd'),
		QH(CL_DEVICE_PLATFORM, 'h', p),
		QH(CL_DEVICE_PARENT_DEVICE, 'h', NULL),
	};
	SHOW("device", get_device, d, qs);

	/* Too small a buffer, and an unknown name. */
	char small[2];
	size_t ret = 0;
	printf("device CL_DEVICE_NAME into 2 bytes: %s\n",
	       itest_err_name(clGetDeviceInfo(d, CL_DEVICE_NAME, sizeof(small),
					      small, &ret)));
	printf("device bogus param: %s\n",
	       itest_err_name(clGetDeviceInfo(d, 0x7fff, 0, NULL, NULL)));

	cl_uint n = 0;
	cl_int err = clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, NULL, &n);
	printf("clGetDeviceIDs(ALL, count only): %s %u\n", itest_err_name(err),
	       n);
	cl_device_id d2 = NULL;
	err = clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 1, &d2, NULL);
	printf("clGetDeviceIDs(ALL) again: %s %s\n", itest_err_name(err),
	       d2 == d ? "same" : "DIFFERENT");
	itest_check("device id stable", d2 == d);
	printf("clGetDeviceIDs(ACCELERATOR): %s\n",
	       itest_err_name(clGetDeviceIDs(p, CL_DEVICE_TYPE_ACCELERATOR, 1,
					     &d2, &n)));
}

static void
context_info(cl_context ctx, cl_device_id d, cl_platform_id p)
{
	const struct query qs[] = {
		Q(CL_CONTEXT_REFERENCE_COUNT, 'u'),
		Q(CL_CONTEXT_NUM_DEVICES, 'u'),
		QH(CL_CONTEXT_DEVICES, 'H', d),
	};
	SHOW("context", get_context, ctx, qs);
	printf("clRetainContext: %s\n", itest_err_name(clRetainContext(ctx)));
	show("context", get_context, ctx, &qs[0]);
	printf("clReleaseContext: %s\n", itest_err_name(clReleaseContext(ctx)));
	show("context", get_context, ctx, &qs[0]);

	/* A context whose properties name the platform: the answer must too. */
	cl_context_properties props[] = {
		CL_CONTEXT_PLATFORM, (cl_context_properties)p, 0
	};
	cl_int err;
	cl_context c2 = clCreateContext(props, 1, &d, NULL, NULL, &err);
	printf("clCreateContext(props): %s\n", itest_err_name(err));
	if (c2 == NULL)
		return;
	cl_context_properties got[8] = { 0 };
	size_t size = 0;
	err = clGetContextInfo(c2, CL_CONTEXT_PROPERTIES, sizeof(got), got,
			       &size);
	printf("context2 CL_CONTEXT_PROPERTIES: %s size %zu",
	       itest_err_name(err), size);
	size_t nprops = err == CL_SUCCESS ? size / sizeof(got[0]) : 0;
	for (size_t i = 0; i < nprops; i++) {
		if (i % 2 == 1 && got[i - 1] == CL_CONTEXT_PLATFORM)
			printf(" %s", got[i] == (cl_context_properties)p ?
			       "same" : "DIFFERENT");
		else
			printf(" 0x%" PRIx64, (uint64_t)got[i]);
	}
	printf("\n");
	itest_check("context properties", err == CL_SUCCESS &&
		    size == sizeof(props) && got[0] == CL_CONTEXT_PLATFORM &&
		    got[1] == (cl_context_properties)p && got[2] == 0);
	cl_uint n = 0;
	cl_image_format fmts[256];
	err = clGetSupportedImageFormats(c2, CL_MEM_READ_ONLY,
					 CL_MEM_OBJECT_IMAGE2D, 256, fmts, &n);
	printf("clGetSupportedImageFormats: %s %u digest %016" PRIx64 "\n",
	       itest_err_name(err), n,
	       itest_digest(fmts, (n < 256 ? n : 256) * sizeof(fmts[0])));
	printf("clReleaseContext(props): %s\n",
	       itest_err_name(clReleaseContext(c2)));
}

static void
queue_info(cl_command_queue q, cl_context ctx, cl_device_id d)
{
	const struct query qs[] = {
		QH(CL_QUEUE_CONTEXT, 'h', ctx),
		QH(CL_QUEUE_DEVICE, 'h', d),
		Q(CL_QUEUE_REFERENCE_COUNT, 'u'),
		Q(CL_QUEUE_PROPERTIES, 'x'),
	};
	SHOW("queue", get_queue, q, qs);
}

static void
mem_info(cl_context ctx, cl_command_queue q)
{
	cl_int err;
	cl_mem m = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 4096, NULL, &err);
	printf("clCreateBuffer(4096): %s\n", itest_err_name(err));
	if (m == NULL)
		return;
	cl_buffer_region region = { 1024, 512 };
	cl_mem sub = clCreateSubBuffer(m, CL_MEM_READ_ONLY,
				       CL_BUFFER_CREATE_TYPE_REGION, &region,
				       &err);
	printf("clCreateSubBuffer(1024, 512): %s\n", itest_err_name(err));
	const struct query qs[] = {
		Q(CL_MEM_TYPE, 'u'),
		Q(CL_MEM_FLAGS, 'x'),
		Q(CL_MEM_SIZE, 'z'),
		Q(CL_MEM_MAP_COUNT, 'u'),
		Q(CL_MEM_REFERENCE_COUNT, 'u'),
		QH(CL_MEM_HOST_PTR, 'h', NULL),
		QH(CL_MEM_CONTEXT, 'h', ctx),
		QH(CL_MEM_ASSOCIATED_MEMOBJECT, 'h', NULL),
		Q(CL_MEM_OFFSET, 'z'),
		Q(CL_MEM_USES_SVM_POINTER, 'b'),
	};
	SHOW("mem", get_mem, m, qs);
	if (sub != NULL) {
		const struct query sq[] = {
			Q(CL_MEM_FLAGS, 'x'),
			Q(CL_MEM_SIZE, 'z'),
			Q(CL_MEM_OFFSET, 'z'),
			QH(CL_MEM_CONTEXT, 'h', ctx),
			QH(CL_MEM_ASSOCIATED_MEMOBJECT, 'h', m),
			Q(CL_MEM_REFERENCE_COUNT, 'u'),
		};
		SHOW("subbuffer", get_mem, sub, sq);
		/* Data written through the parent shows in the sub-buffer. */
		unsigned char buf[4096], back[512];
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (unsigned char)(i * 31 + 7);
		printf("clEnqueueWriteBuffer(parent): %s\n",
		       itest_err_name(clEnqueueWriteBuffer(q, m, CL_TRUE, 0,
							   sizeof(buf), buf, 0,
							   NULL, NULL)));
		memset(back, 0, sizeof(back));
		printf("clEnqueueReadBuffer(sub): %s\n",
		       itest_err_name(clEnqueueReadBuffer(q, sub, CL_TRUE, 0,
							  sizeof(back), back,
							  0, NULL, NULL)));
		itest_check("sub-buffer sees parent data",
			    memcmp(back, buf + 1024, sizeof(back)) == 0);
		printf("clReleaseMemObject(sub): %s\n",
		       itest_err_name(clReleaseMemObject(sub)));
	}
	/* After transfers the implementation may still hold references. */
	const struct query after = Q(CL_MEM_REFERENCE_COUNT, 'r');
	show("mem", get_mem, m, &after);
	printf("mem bogus param: %s\n",
	       itest_err_name(clGetMemObjectInfo(m, 0x7fff, 0, NULL, NULL)));
	printf("clReleaseMemObject: %s\n",
	       itest_err_name(clReleaseMemObject(m)));
}

static const char *src =
	"__kernel __attribute__((reqd_work_group_size(8, 1, 1)))\n"
	"void fixed(__global float *out, __local float *tmp, const int k)\n"
	"{\n"
	"    tmp[get_local_id(0)] = k;\n"
	"    barrier(CLK_LOCAL_MEM_FENCE);\n"
	"    out[get_global_id(0)] = tmp[7 - get_local_id(0)] * 2.0f;\n"
	"}\n"
	"__kernel void other(__global const uint *restrict in,\n"
	"                    __global uint *out)\n"
	"{\n"
	"    out[get_global_id(0)] = in[get_global_id(0)] ^ 0x5a5a5a5au;\n"
	"}\n";

static void
kernel_info(cl_kernel k, cl_context ctx, cl_program prog, cl_device_id d)
{
	const struct query qs[] = {
		Q(CL_KERNEL_FUNCTION_NAME, 's'),
		Q(CL_KERNEL_NUM_ARGS, 'u'),
		Q(CL_KERNEL_REFERENCE_COUNT, 'u'),
		QH(CL_KERNEL_CONTEXT, 'h', ctx),
		QH(CL_KERNEL_PROGRAM, 'h', prog),
		Q(CL_KERNEL_ATTRIBUTES, 's'),
	};
	SHOW("kernel", get_kernel, k, qs);
	const struct query aq[] = {
		Q(CL_KERNEL_ARG_ADDRESS_QUALIFIER, 'u'),
		Q(CL_KERNEL_ARG_ACCESS_QUALIFIER, 'u'),
		Q(CL_KERNEL_ARG_TYPE_NAME, 's'),
		Q(CL_KERNEL_ARG_TYPE_QUALIFIER, 'l'),
		Q(CL_KERNEL_ARG_NAME, 's'),
	};
	cl_uint nargs = 0;
	clGetKernelInfo(k, CL_KERNEL_NUM_ARGS, sizeof(nargs), &nargs, NULL);
	for (cur_arg = 0; cur_arg <= nargs; cur_arg++) {
		char what[32];
		snprintf(what, sizeof(what), "kernel arg %u", cur_arg);
		SHOW(what, get_kernel_arg, k, aq);
	}
	cur_device = d;
	const struct query wq[] = {
		Q(CL_KERNEL_WORK_GROUP_SIZE, 'z'),
		Q(CL_KERNEL_COMPILE_WORK_GROUP_SIZE, 'Z'),
		Q(CL_KERNEL_LOCAL_MEM_SIZE, 'l'),
		Q(CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE, 'z'),
		Q(CL_KERNEL_PRIVATE_MEM_SIZE, 'l'),
	};
	SHOW("work-group", get_work_group, k, wq);
}

static void
event_info(const char *what, cl_event ev, cl_command_queue q, cl_context ctx)
{
	const struct query qs[] = {
		QH(CL_EVENT_COMMAND_QUEUE, 'h', q),
		QH(CL_EVENT_CONTEXT, 'h', ctx),
		Q(CL_EVENT_COMMAND_TYPE, 'u'),
		Q(CL_EVENT_COMMAND_EXECUTION_STATUS, 'i'),
		Q(CL_EVENT_REFERENCE_COUNT, 'r'),
	};
	SHOW(what, get_event, ev, qs);
}

/* Profiling counters: their values vary, their order must not. */
static void
profile_info(cl_event ev)
{
	static const cl_profiling_info ps[] = {
		CL_PROFILING_COMMAND_QUEUED, CL_PROFILING_COMMAND_SUBMIT,
		CL_PROFILING_COMMAND_START, CL_PROFILING_COMMAND_END,
	};
	cl_ulong t[4] = { 0 };
	printf("profiling:");
	for (size_t i = 0; i < 4; i++)
		printf(" %s", itest_err_name(clGetEventProfilingInfo(
			ev, ps[i], sizeof(t[i]), &t[i], NULL)));
	printf("\n");
	itest_check("profiling counters ordered",
		    t[0] <= t[1] && t[1] <= t[2] && t[2] <= t[3] && t[3] > 0);
}

static void
event_run(cl_command_queue q, cl_context ctx, cl_kernel k)
{
	cl_int err;
	float out[16];
	cl_mem m = clCreateBuffer(ctx, CL_MEM_WRITE_ONLY, sizeof(out), NULL,
				  &err);
	printf("clCreateBuffer(out): %s\n", itest_err_name(err));
	cl_int kk = 3;
	printf("clSetKernelArg(fixed): %s %s %s\n",
	       itest_err_name(clSetKernelArg(k, 0, sizeof(m), &m)),
	       itest_err_name(clSetKernelArg(k, 1, 8 * sizeof(float), NULL)),
	       itest_err_name(clSetKernelArg(k, 2, sizeof(kk), &kk)));
	size_t global = 16, local = 8, wrong = 4;
	printf("clEnqueueNDRangeKernel(local 4 vs reqd 8): %s\n",
	       itest_err_name(clEnqueueNDRangeKernel(q, k, 1, NULL, &global,
						     &wrong, 0, NULL, NULL)));
	cl_event ev = NULL;
	printf("clEnqueueNDRangeKernel(fixed): %s\n",
	       itest_err_name(clEnqueueNDRangeKernel(q, k, 1, NULL, &global,
						     &local, 0, NULL, &ev)));
	printf("clWaitForEvents: %s\n",
	       itest_err_name(ev ? clWaitForEvents(1, &ev) : CL_INVALID_EVENT));
	if (ev != NULL) {
		event_info("event", ev, q, ctx);
		profile_info(ev);
		printf("clReleaseEvent: %s\n",
		       itest_err_name(clReleaseEvent(ev)));
	}
	memset(out, 0, sizeof(out));
	printf("clEnqueueReadBuffer: %s\n",
	       itest_err_name(clEnqueueReadBuffer(q, m, CL_TRUE, 0, sizeof(out),
						  out, 0, NULL, NULL)));
	bool ok = true;
	for (size_t i = 0; i < 16; i++)
		ok = ok && out[i] == 6.0f;
	printf("fixed digest: %016" PRIx64 "\n",
	       itest_digest(out, sizeof(out)));
	itest_check("fixed kernel output", ok);
	clReleaseMemObject(m);

	cl_event ue = clCreateUserEvent(ctx, &err);
	printf("clCreateUserEvent: %s\n", itest_err_name(err));
	if (ue == NULL)
		return;
	event_info("user event", ue, NULL, ctx);
	cl_event mk = NULL;
	printf("clEnqueueMarkerWithWaitList(user event): %s\n",
	       itest_err_name(clEnqueueMarkerWithWaitList(q, 1, &ue, &mk)));
	printf("clSetUserEventStatus: %s\n",
	       itest_err_name(clSetUserEventStatus(ue, CL_COMPLETE)));
	printf("clFinish: %s\n", itest_err_name(clFinish(q)));
	event_info("user event (complete)", ue, NULL, ctx);
	if (mk != NULL) {
		event_info("marker", mk, q, ctx);
		clReleaseEvent(mk);
	}
	printf("clReleaseEvent(user): %s\n",
	       itest_err_name(clReleaseEvent(ue)));
}

static void
sampler_info(cl_context ctx)
{
	cl_int err;
	cl_sampler s = clCreateSampler(ctx, CL_TRUE, CL_ADDRESS_CLAMP,
				       CL_FILTER_NEAREST, &err);
	printf("clCreateSampler: %s\n", itest_err_name(err));
	if (s == NULL)
		return;
	const struct query qs[] = {
		Q(CL_SAMPLER_REFERENCE_COUNT, 'u'),
		QH(CL_SAMPLER_CONTEXT, 'h', ctx),
		Q(CL_SAMPLER_NORMALIZED_COORDS, 'b'),
		Q(CL_SAMPLER_ADDRESSING_MODE, 'u'),
		Q(CL_SAMPLER_FILTER_MODE, 'u'),
	};
	SHOW("sampler", get_sampler, s, qs);
	printf("clReleaseSampler: %s\n", itest_err_name(clReleaseSampler(s)));
}

static void
program_info(cl_context ctx, cl_device_id d, cl_command_queue q)
{
	cl_int err;
	cl_program prog = clCreateProgramWithSource(ctx, 1, &src, NULL, &err);
	printf("clCreateProgramWithSource: %s\n", itest_err_name(err));
	if (prog == NULL)
		return;
	cur_device = d;
	const struct query bq[] = {
		Q(CL_PROGRAM_BUILD_STATUS, 'i'),
		Q(CL_PROGRAM_BUILD_OPTIONS, 's'),
		Q(CL_PROGRAM_BINARY_TYPE, 'u'),
	};
	SHOW("build (before)", get_build, prog, bq);
	printf("clBuildProgram: %s\n",
	       itest_err_name(clBuildProgram(prog, 1, &d, "-cl-kernel-arg-info",
					     NULL, NULL)));
	const struct query qs[] = {
		Q(CL_PROGRAM_REFERENCE_COUNT, 'u'),
		QH(CL_PROGRAM_CONTEXT, 'h', ctx),
		Q(CL_PROGRAM_NUM_DEVICES, 'u'),
		QH(CL_PROGRAM_DEVICES, 'H', d),
		Q(CL_PROGRAM_SOURCE, 's'),
		Q(CL_PROGRAM_NUM_KERNELS, 'z'),
		Q(CL_PROGRAM_KERNEL_NAMES, 's'),
	};
	SHOW("program", get_program, prog, qs);
	SHOW("build", get_build, prog, bq);

	static const char *const names[] = { "fixed", "other" };
	for (size_t i = 0; i < 2; i++) {
		cl_kernel k = clCreateKernel(prog, names[i], &err);
		printf("clCreateKernel(%s): %s\n", names[i],
		       itest_err_name(err));
		if (k == NULL)
			continue;
		kernel_info(k, ctx, prog, d);
		if (i == 0)
			event_run(q, ctx, k);
		printf("clReleaseKernel: %s\n",
		       itest_err_name(clReleaseKernel(k)));
	}
	cl_kernel ks[4] = { 0 };
	cl_uint nk = 0;
	err = clCreateKernelsInProgram(prog, 4, ks, &nk);
	printf("clCreateKernelsInProgram: %s %u\n", itest_err_name(err), nk);
	for (cl_uint i = 0; err == CL_SUCCESS && i < nk && i < 4; i++) {
		char name[32] = "";
		clGetKernelInfo(ks[i], CL_KERNEL_FUNCTION_NAME, sizeof(name),
				name, NULL);
		cl_program kp = NULL;
		clGetKernelInfo(ks[i], CL_KERNEL_PROGRAM, sizeof(kp), &kp,
				NULL);
		printf("  kernel %u: %s program %s\n", i, name,
		       kp == prog ? "same" : "DIFFERENT");
		clReleaseKernel(ks[i]);
	}
	printf("clReleaseProgram: %s\n",
	       itest_err_name(clReleaseProgram(prog)));
}

int
main(void)
{
	cl_platform_id p;
	cl_device_id d;
	cl_int err;

	if (!itest_first_device(&p, &d))
		return 99;
	platform_info(p);
	device_info(d, p);
	cl_context ctx = clCreateContext(NULL, 1, &d, NULL, NULL, &err);
	if (itest_status("clCreateContext", err) != CL_SUCCESS)
		return 99;
	context_info(ctx, d, p);
	cl_command_queue q = clCreateCommandQueue(ctx, d,
						  CL_QUEUE_PROFILING_ENABLE,
						  &err);
	if (itest_status("clCreateCommandQueue(PROFILING)", err) != CL_SUCCESS)
		return 99;
	queue_info(q, ctx, d);
	mem_info(ctx, q);
	program_info(ctx, d, q);
	sampler_info(ctx);
	printf("clReleaseCommandQueue: %s\n",
	       itest_err_name(clReleaseCommandQueue(q)));
	printf("clReleaseContext: %s\n", itest_err_name(clReleaseContext(ctx)));
	return itest_exit_code();
}
