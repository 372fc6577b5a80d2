/*
 * opencl-icd.c - what makes libava-opencl.so an OpenCL ICD, and the
 * guest hooks the spec names.
 *
 * The ICD loader (ocl-icd) finds clIcdGetPlatformIDsKHR through
 * clGetExtensionFunctionAddress, lists our platforms, and then reaches
 * every other function through the dispatch table at the start of each
 * object. Platform names read "ava: <real name>" and the ICD suffix is
 * "AVA", so a user can tell that calls go through ava.
 */
#include "opencl-guest.h"  /* first: it sets the OpenCL version macros */

#include <CL/cl_ext.h>
#include <stdlib.h>
#include <string.h>

#include "opencl-ava.h"

CL_API_ENTRY cl_int CL_API_CALL
clIcdGetPlatformIDsKHR(cl_uint num_entries, cl_platform_id *platforms,
		       cl_uint *num_platforms)
{
	return clGetPlatformIDs(num_entries, platforms, num_platforms);
}

/* Our own entry point for name: the ICD's, or a forwarded extension
 * function's stub (the spec's extension functions). */
static void *
extension_address(const char *name)
{
	if (name == NULL)
		return NULL;
	if (strcmp(name, "clIcdGetPlatformIDsKHR") == 0)
		return (void *)(uintptr_t)clIcdGetPlatformIDsKHR;
	for (const struct ava_guest_extension *e = ava_opencl_extensions;
	     e->name != NULL; e++)
		if (strcmp(name, e->name) == 0)
			return (void *)(uintptr_t)e->fn;
	return NULL;
}

void *
ava_opencl_guest_hook_clGetExtensionFunctionAddress(const char *name)
{
	return extension_address(name);
}

void *
ava_opencl_guest_hook_clGetExtensionFunctionAddressForPlatform(
	cl_platform_id platform, const char *name)
{
	return extension_address(name);
}

/* Answer a string query locally, with clGetPlatformInfo's rules. */
static cl_int
answer_string(const char *s, size_t size, void *value, size_t *size_ret)
{
	size_t n = strlen(s) + 1;
	if (value != NULL && size < n)
		return CL_INVALID_VALUE;
	if (value != NULL)
		memcpy(value, s, n);
	if (size_ret != NULL)
		*size_ret = n;
	return CL_SUCCESS;
}

static cl_int
prefixed_name(cl_platform_id platform, size_t size, void *value,
	      size_t *size_ret)
{
	size_t n;
	cl_int err = ava_opencl_forward_clGetPlatformInfo(
		platform, CL_PLATFORM_NAME, 0, NULL, &n);
	if (err != CL_SUCCESS)
		return err;
	size_t plen = strlen(AVA_CL_PLATFORM_NAME_PREFIX);
	char *s = malloc(plen + n + 1);
	if (s == NULL)
		return CL_OUT_OF_HOST_MEMORY;
	memcpy(s, AVA_CL_PLATFORM_NAME_PREFIX, plen);
	err = ava_opencl_forward_clGetPlatformInfo(
		platform, CL_PLATFORM_NAME, n, s + plen, NULL);
	s[plen + n] = '\0';
	if (err == CL_SUCCESS)
		err = answer_string(s, size, value, size_ret);
	free(s);
	return err;
}

cl_int
ava_opencl_guest_hook_clGetPlatformInfo(cl_platform_id platform,
					cl_platform_info name, size_t size,
					void *value, size_t *size_ret)
{
	if (name == CL_PLATFORM_ICD_SUFFIX_KHR)
		return answer_string(AVA_CL_ICD_SUFFIX, size, value, size_ret);
	if (name == CL_PLATFORM_NAME)
		return prefixed_name(platform, size, value, size_ret);
	return ava_opencl_forward_clGetPlatformInfo(platform, name, size,
						    value, size_ret);
}

/*
 * CL_PROGRAM_BINARIES is an array of the application's pointers. They
 * cannot cross the wire, so each binary is fetched as plain bytes with
 * the private AVA_CL_PROGRAM_BINARY(i) query (served by the server hook)
 * and copied where the application's pointer says.
 */
static cl_int
fetch_binaries(cl_program program, size_t size, void *value)
{
	cl_uint n;
	cl_int err = ava_opencl_forward_clGetProgramInfo(
		program, CL_PROGRAM_NUM_DEVICES, sizeof(n), &n, NULL);
	if (err != CL_SUCCESS)
		return err;
	if (size < n * sizeof(unsigned char *))
		return CL_INVALID_VALUE;
	size_t *sizes = calloc(n ? n : 1, sizeof(*sizes));
	if (sizes == NULL)
		return CL_OUT_OF_HOST_MEMORY;
	err = ava_opencl_forward_clGetProgramInfo(
		program, CL_PROGRAM_BINARY_SIZES, n * sizeof(*sizes), sizes,
		NULL);
	unsigned char **ptrs = value;
	for (cl_uint i = 0; i < n && err == CL_SUCCESS; i++)
		if (ptrs[i] != NULL && sizes[i] > 0)
			err = ava_opencl_forward_clGetProgramInfo(
				program, AVA_CL_PROGRAM_BINARY(i), sizes[i],
				ptrs[i], NULL);
	free(sizes);
	return err;
}

cl_int
ava_opencl_guest_hook_clGetProgramInfo(cl_program program,
				       cl_program_info name, size_t size,
				       void *value, size_t *size_ret)
{
	if (name != CL_PROGRAM_BINARIES || value == NULL)
		return ava_opencl_forward_clGetProgramInfo(program, name, size,
							   value, size_ret);
	cl_int err = fetch_binaries(program, size, value);
	if (err == CL_SUCCESS && size_ret != NULL)
		return ava_opencl_forward_clGetProgramInfo(
			program, CL_PROGRAM_BINARIES, 0, NULL, size_ret);
	return err;
}
