/*
 * opencl-ava.h - OpenCL values private to ava, shared by the guest
 * library and the server hooks. They never reach the vendor library.
 */
#ifndef AVA_OPENCL_AVA_H
#define AVA_OPENCL_AVA_H

/*
 * clGetProgramInfo(program, AVA_CL_PROGRAM_BINARY(i), size, value, ret)
 * returns the binary of the program's device i as plain bytes: size must
 * be at least CL_PROGRAM_BINARY_SIZES[i]. CL_PROGRAM_BINARIES itself is an
 * array of guest pointers that cannot cross the wire, so the guest hook
 * fetches each binary with this query instead. The range sits far from
 * every Khronos and vendor cl_program_info value.
 */
#define AVA_CL_PROGRAM_BINARY_BASE 0x4A560000u
#define AVA_CL_PROGRAM_BINARY_COUNT 0x10000u
#define AVA_CL_PROGRAM_BINARY(i) (AVA_CL_PROGRAM_BINARY_BASE + (i))

/* The platform name prefix and ICD suffix ava reports (guest side). */
#define AVA_CL_PLATFORM_NAME_PREFIX "ava: "
#define AVA_CL_ICD_SUFFIX "AVA"

#endif
