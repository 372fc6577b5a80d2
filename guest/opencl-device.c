/*
 * opencl-device.c - guest hooks for devices: clCreateSubDevices.
 *
 * A partition property list is not key/value pairs: a list of counts has
 * its own terminator inside the list. The guest measures it by OpenCL's
 * rules and sends it with its length (avaclCreateSubDevices); the server
 * pads it with zeros, so a list the guest measured wrong cannot make the
 * implementation read past it.
 */
#include "opencl-guest.h"  /* first: it sets the OpenCL version macros */

#include "opencl-ava-calls.h"

/* Longest list measured; beyond it the guest sends what it has. */
#define MAX_PROPS 4096

static cl_uint
measure(const cl_device_partition_property *p)
{
	if (p == NULL)
		return 0;
	if (p[0] == 0)
		return 1;
	if (p[0] != CL_DEVICE_PARTITION_BY_COUNTS)
		return 3;  /* the key, its value, 0 */
	cl_uint i = 1;
	while (i < MAX_PROPS && p[i] != CL_DEVICE_PARTITION_BY_COUNTS_LIST_END)
		i++;
	return i < MAX_PROPS ? i + 2 : MAX_PROPS;
}

cl_int
ava_opencl_guest_hook_clCreateSubDevices(
	cl_device_id in_device, const cl_device_partition_property *properties,
	cl_uint num_devices, cl_device_id *out_devices,
	cl_uint *num_devices_ret)
{
	return avaclCreateSubDevices(in_device, properties, measure(properties),
				     num_devices, out_devices,
				     num_devices_ret);
}
