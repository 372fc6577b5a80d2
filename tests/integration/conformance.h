/*
 * conformance.h - the parts of the conformance-style suite
 * (conformance.c: platforms to events; conformance-mem.c: buffers,
 * mapping, images and samplers).
 *
 * The suite calls every function that ava forwards or emulates at least
 * once, with valid and with invalid arguments, and prints each status by
 * name and each result as a value or a digest (itest.h): the transcript
 * must be the same natively and through ava. Functions that ava hides
 * (doc/opencl-coverage.md) are not called, as they work natively.
 */
#ifndef CONFORMANCE_H
#define CONFORMANCE_H

/* The suite calls the deprecated entry points too. */
#define CL_USE_DEPRECATED_OPENCL_1_0_APIS
#define CL_USE_DEPRECATED_OPENCL_1_1_APIS
#include "itest.h"

struct env {
	cl_platform_id platform;
	cl_device_id device;
	cl_context ctx;
	cl_command_queue q;
	cl_program prog;  /* built from conformance_src */
};

/* Kernels the sections share, built into env.prog. */
extern const char *conformance_src;

/* "<what>: <status>" and an itest_check that the status is `want`. */
void
expect(const char *what, cl_int err, cl_int want);

/* One scalar query result: "<what>: <status> <value>". */
void
print_u64(const char *what, cl_int err, uint64_t value);

/* "<what>: <status> same|DIFFERENT": a handle-valued answer against the
 * object the program holds. */
void
print_same(const char *what, cl_int err, const void *got, const void *want);

/* conformance-mem.c */
void
conformance_buffers(struct env *e);
void
conformance_mapping(struct env *e);
void
conformance_images(struct env *e);
void
conformance_samplers(struct env *e);

/* conformance-ext.c */
void
conformance_extensions(struct env *e);

#endif
