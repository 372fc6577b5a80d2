/*
 * opencl-layout.h - the arithmetic of OpenCL host regions and images,
 * shared by the guest hooks (which pack an application's region for the
 * wire) and the server (which checks a packed size against the call
 * before trusting it). Compiled into both; no state, thread-safe.
 *
 * A region is region[0] bytes (buffers) or pixels (images) wide,
 * region[1] rows high and region[2] slices deep. Packed, its rows follow
 * one another without gaps. Every size is computed with overflow checks:
 * a function that returns false has found a size that does not fit in a
 * size_t, which the callers answer with CL_INVALID_VALUE.
 */
#ifndef AVA_OPENCL_LAYOUT_H
#define AVA_OPENCL_LAYOUT_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 300
#endif
#include <CL/cl.h>
#include <stdbool.h>
#include <stddef.h>

/* a * b into *out; false on overflow. */
bool
ava_cl_mul(size_t a, size_t b, size_t *out);

/* Bytes per pixel of an image format (OpenCL's element size); 0 if the
 * format is NULL or not one OpenCL defines. */
size_t
ava_cl_format_elem_size(const cl_image_format *format);

/* The packed size of region (region[0] elements of elem bytes per row);
 * 0 for a NULL region. */
bool
ava_cl_region_bytes(const size_t *region, size_t elem, size_t *out);

/*
 * Where rows and slices of a region start in memory laid out with these
 * pitches: *ystep between rows, *zstep between slices. A 1D image array
 * keeps its images (its "rows") slice_pitch apart, as OpenCL says.
 */
void
ava_cl_steps(cl_mem_object_type type, size_t row_pitch, size_t slice_pitch,
	     size_t *ystep, size_t *zstep);

/*
 * Host pitches as OpenCL defaults them: a row_pitch of 0 is the row's
 * bytes, a slice_pitch of 0 is row_pitch * region[1] (row_pitch for a 1D
 * image array). False on overflow.
 */
bool
ava_cl_default_pitches(cl_mem_object_type type, size_t row_bytes,
		       size_t rows, size_t *row_pitch, size_t *slice_pitch);

/*
 * The bytes an image of this description spans at its host_ptr, from the
 * pitches it gives (or their defaults), which *row_pitch and *slice_pitch
 * receive. Pitches smaller than a row or slice count as a row or slice,
 * and a 1D array's images as the larger pitch apart, so the span covers
 * whatever an implementation may read. False for an unknown image type or
 * on overflow; 0 bytes for a zero dimension.
 */
bool
ava_cl_image_host_bytes(const cl_image_desc *desc, size_t elem,
			size_t *row_pitch, size_t *slice_pitch, size_t *bytes);

/*
 * Copy a region of ny rows by nz slices of row_bytes each, from src (rows
 * sy apart, slices sz apart) to dst (dy, dz). The regions must not
 * overlap.
 */
void
ava_cl_copy_region(void *dst, size_t dy, size_t dz, const void *src,
		   size_t sy, size_t sz, size_t row_bytes, size_t ny,
		   size_t nz);

#endif
