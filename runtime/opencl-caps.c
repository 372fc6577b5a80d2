/*
 * opencl-caps.c - what the server reports of the platform and devices:
 * the vendor's answer, less what ava does not forward.
 *
 * A capability that an application finds advertised must work through
 * ava. The spec hides some functions (doc/opencl-coverage.md), and these
 * hooks hide what would lead an application to them:
 *   - extensions: only those in `kept` below are advertised, the ones
 *     whose use needs no host entry point that ava lacks (kernel language
 *     features, queries, image formats) and cl_khr_icd, which ava's own
 *     ICD provides. An extension with entry points of its own (reached
 *     through clGetExtensionFunctionAddressForPlatform, which ava answers
 *     only for clIcdGetPlatformIDsKHR) or unknown to ava is hidden;
 *   - CL_DEVICE_SVM_CAPABILITIES: 0, as no SVM function is forwarded;
 *   - CL_DEVICE_EXECUTION_CAPABILITIES: no native kernels, which would run
 *     guest code on the server;
 *   - CL_DEVICE_HOST_UNIFIED_MEMORY: false, because the application's
 *     memory is not the device's: mapping copies.
 * The hooks run on the server, so the journal records, and replay
 * compares, what the guest saw.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "opencl-server-private.h"
#include "opencl-server.h"
#include "server-ctx.h"

static const char *const kept[] = {
	"cl_khr_icd",
	/* forwarded: every entry point of its version 0.9 (opencl.spec) */
	"cl_khr_command_buffer",
	"cl_khr_byte_addressable_store",
	"cl_khr_fp16",
	"cl_khr_fp64",
	"cl_khr_global_int32_base_atomics",
	"cl_khr_global_int32_extended_atomics",
	"cl_khr_local_int32_base_atomics",
	"cl_khr_local_int32_extended_atomics",
	"cl_khr_int64_base_atomics",
	"cl_khr_int64_extended_atomics",
	"cl_khr_3d_image_writes",
	"cl_khr_image2d_from_buffer",
	"cl_khr_depth_images",
	"cl_khr_srgb_image_writes",
	"cl_khr_spir",
	"cl_khr_device_uuid",
	"cl_khr_pci_bus_info",
	"cl_khr_priority_hints",
	"cl_khr_throttle_hints",
	"cl_khr_integer_dot_product",
	"cl_khr_extended_bit_ops",
	"cl_khr_extended_async_copies",
	"cl_khr_expect_assume",
	"cl_khr_work_group_uniform_arithmetic",
	"cl_khr_subgroup_extended_types",
	"cl_khr_subgroup_non_uniform_vote",
	"cl_khr_subgroup_ballot",
	"cl_khr_subgroup_non_uniform_arithmetic",
	"cl_khr_subgroup_shuffle",
	"cl_khr_subgroup_shuffle_relative",
	"cl_khr_subgroup_clustered_reduce",
	"cl_khr_subgroup_rotate",
	"cl_ext_float_atomics",
	"cl_ext_atomic_counters_32",
	"cl_ext_atomic_counters_64",
	"cl_ext_cxx_for_opencl",
};

static bool
is_kept(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		if (strlen(kept[i]) == n && memcmp(kept[i], name, n) == 0)
			return true;
	return false;
}

/* Keep the words of s that name kept extensions, in place, each with
 * the separators that followed it (so a list with nothing hidden reads as
 * the vendor wrote it); returns the bytes kept, with the NUL. */
static size_t
filter_string(char *s)
{
	size_t out = 0, len = strlen(s);
	bool trailing = len > 0 && s[len - 1] == ' ';
	for (char *p = s + strspn(s, " "); *p != '\0';) {
		size_t n = strcspn(p, " "), gap = strspn(p + n, " ");
		if (is_kept(p, n)) {
			memmove(s + out, p, n + gap);
			out += n + gap;
		}
		p += n + gap;
	}
	while (!trailing && out > 0 && s[out - 1] == ' ')
		out--;
	s[out] = '\0';
	return out + 1;
}

/* Keep the entries that name kept extensions, in place; bytes kept. */
static size_t
filter_versions(cl_name_version *v, size_t n)
{
	size_t out = 0;
	for (size_t i = 0; i < n; i++) {
		v[i].name[CL_NAME_VERSION_MAX_NAME_SIZE - 1] = '\0';
		if (is_kept(v[i].name, strlen(v[i].name)))
			v[out++] = v[i];
	}
	return out * sizeof(*v);
}

/* Answer a query from n bytes at data, by the rules of clGet*Info. */
static cl_int
answer(const void *data, size_t n, size_t size, void *value,
       size_t *size_ret)
{
	if (value != NULL && size < n)
		return CL_INVALID_VALUE;
	if (value != NULL)
		memcpy(value, data, n);
	if (size_ret != NULL)
		*size_ret = n;
	return CL_SUCCESS;
}

/* One query's real answer, whole, in a buffer of its own. */
typedef cl_int (*info_fn)(void *obj, cl_uint name, size_t size, void *value,
			  size_t *size_ret);

static cl_int
platform_info(void *obj, cl_uint name, size_t size, void *value,
	      size_t *size_ret)
{
	return clGetPlatformInfo(obj, name, size, value, size_ret);
}

static cl_int
device_info(void *obj, cl_uint name, size_t size, void *value,
	    size_t *size_ret)
{
	return clGetDeviceInfo(obj, name, size, value, size_ret);
}

static cl_int
filtered(info_fn fn, void *obj, cl_uint name, bool versions, size_t size,
	 void *value, size_t *size_ret)
{
	size_t n = 0;
	cl_int err = fn(obj, name, 0, NULL, &n);
	if (err != CL_SUCCESS)
		return err;
	char *buf = calloc(1, n + 1);  /* +1: a string always ends */
	if (buf == NULL)
		return CL_OUT_OF_HOST_MEMORY;
	if ((err = fn(obj, name, n, buf, NULL)) == CL_SUCCESS) {
		size_t m = versions
			? filter_versions((cl_name_version *)buf,
					  n / sizeof(cl_name_version))
			: filter_string(buf);
		err = answer(buf, m, size, value, size_ret);
	}
	free(buf);
	return err;
}

uint64_t
ava_opencl_server_hook_clGetPlatformInfo(const uint64_t *v,
					 struct ava_server_ctx *ctx)
{
	cl_platform_id p = (cl_platform_id)(uintptr_t)v[0];
	cl_platform_info name = (cl_platform_info)v[1];
	size_t size = (size_t)v[2];
	void *value = (void *)(uintptr_t)v[3];
	size_t *size_ret = (size_t *)(uintptr_t)v[4];
	if (name == CL_PLATFORM_EXTENSIONS ||
	    name == CL_PLATFORM_EXTENSIONS_WITH_VERSION)
		return (uint64_t)(int64_t)filtered(
			platform_info, p, name,
			name == CL_PLATFORM_EXTENSIONS_WITH_VERSION, size,
			value, size_ret);
	return (uint64_t)(int64_t)clGetPlatformInfo(p, name, size, value,
						    size_ret);
}

/* A scalar answer with some bits taken away, or replaced. */
static cl_int
masked(cl_device_id d, cl_device_info name, uint64_t keep, size_t size,
       void *value, size_t *size_ret)
{
	uint64_t x = 0;
	size_t n = 0;
	cl_int err = clGetDeviceInfo(d, name, sizeof(x), &x, &n);
	if (err != CL_SUCCESS || n > sizeof(x))
		return err != CL_SUCCESS ? err : CL_INVALID_VALUE;
	x &= keep;  /* little-endian: the low n bytes hold the value */
	return answer(&x, n, size, value, size_ret);
}

uint64_t
ava_opencl_server_hook_clGetDeviceInfo(const uint64_t *v,
				       struct ava_server_ctx *ctx)
{
	cl_device_id d = (cl_device_id)(uintptr_t)v[0];
	cl_device_info name = (cl_device_info)v[1];
	size_t size = (size_t)v[2];
	void *value = (void *)(uintptr_t)v[3];
	size_t *size_ret = (size_t *)(uintptr_t)v[4];
	cl_int err;
	switch (name) {
	case CL_DEVICE_EXTENSIONS:
	case CL_DEVICE_EXTENSIONS_WITH_VERSION:
		err = filtered(device_info, d, name,
			       name == CL_DEVICE_EXTENSIONS_WITH_VERSION, size,
			       value, size_ret);
		break;
	case CL_DEVICE_SVM_CAPABILITIES:
	case CL_DEVICE_HOST_UNIFIED_MEMORY:
		err = masked(d, name, 0, size, value, size_ret);
		break;
	case CL_DEVICE_EXECUTION_CAPABILITIES:
		err = masked(d, name, ~(uint64_t)CL_EXEC_NATIVE_KERNEL, size,
			     value, size_ret);
		break;
	default:
		err = clGetDeviceInfo(d, name, size, value, size_ret);
		break;
	}
	return (uint64_t)(int64_t)err;
}
