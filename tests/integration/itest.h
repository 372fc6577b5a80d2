/*
 * itest.h - helpers shared by the integration programs.
 *
 * Every integration program prints a deterministic transcript on stdout:
 * one line per OpenCL call with its status by name, and results as digests
 * computed here. The driver runs the same program natively and through
 * `ava run --` and compares the transcripts byte for byte, so nothing that
 * legitimately differs between two runs (pointers, timings, the platform's
 * own name) may be printed.
 *
 * Exit status: 0 when the program's own checks held, 1 when a result was
 * wrong (the transcript says which), 99 when setup failed before anything
 * could be checked.
 */
#ifndef ITEST_H
#define ITEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CL_TARGET_OPENCL_VERSION 300
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>

/* The name of an OpenCL status code ("CL_INVALID_VALUE"), or "CL_<n>". */
const char *
itest_err_name(cl_int err);

/* 64-bit digest of bytes (XXH3); stable across runs and machines. */
uint64_t
itest_digest(const void *data, size_t len);

/* Print "<what>: <status name>" and return err unchanged. */
cl_int
itest_status(const char *what, cl_int err);

/*
 * The first platform and its first device. On failure prints why and
 * returns false; the program should exit 99.
 */
bool
itest_first_device(cl_platform_id *platform, cl_device_id *device);

/*
 * The usual start: the first device, a context on it and an in-order
 * queue, each creation's status printed. False (a hard error) if any step
 * failed.
 */
bool
itest_open(cl_platform_id *platform, cl_device_id *device, cl_context *ctx,
	   cl_command_queue *q);

/*
 * Build `src` for `device`. Prints the build status and, when the build
 * failed, the build log. Returns the program or NULL.
 */
cl_program
itest_build(cl_context ctx, cl_device_id device, const char *src,
	    const char *options);

/* Count of failed checks; main() returns itest_exit_code(). */
extern int itest_failures;

/* Record a check: prints "check <what>: ok|FAIL". */
void
itest_check(const char *what, bool ok);

int
itest_exit_code(void);

#endif
