/*
 * opencl-layout.c - region and image arithmetic (see opencl-layout.h).
 */
#include "opencl-layout.h"

#include <stdint.h>
#include <string.h>

bool
ava_cl_mul(size_t a, size_t b, size_t *out)
{
	if (a != 0 && b > SIZE_MAX / a)
		return false;
	*out = a * b;
	return true;
}

static bool
add(size_t a, size_t b, size_t *out)
{
	if (b > SIZE_MAX - a)
		return false;
	*out = a + b;
	return true;
}

static size_t
channels(cl_channel_order order)
{
	switch (order) {
	case CL_R: case CL_A: case CL_INTENSITY: case CL_LUMINANCE:
	case CL_DEPTH:
		return 1;
	case CL_RG: case CL_RA: case CL_Rx:
		return 2;
	case CL_RGB: case CL_RGx: case CL_sRGB:
		return 3;
	case CL_RGBA: case CL_ARGB: case CL_BGRA: case CL_RGBx:
	case CL_sRGBA: case CL_sBGRA: case CL_sRGBx: case CL_ABGR:
		return 4;
	default:
		return 0;
	}
}

size_t
ava_cl_format_elem_size(const cl_image_format *f)
{
	if (f == NULL)
		return 0;
	/* Packed types hold the whole pixel, whatever the order. */
	switch (f->image_channel_data_type) {
	case CL_UNORM_SHORT_565: case CL_UNORM_SHORT_555:
		return 2;
	case CL_UNORM_INT_101010: case CL_UNORM_INT_101010_2:
	case CL_UNORM_INT24:
		return 4;
	default:
		break;
	}
	size_t n = channels(f->image_channel_order);
	switch (f->image_channel_data_type) {
	case CL_SNORM_INT8: case CL_UNORM_INT8: case CL_SIGNED_INT8:
	case CL_UNSIGNED_INT8:
		return n;
	case CL_SNORM_INT16: case CL_UNORM_INT16: case CL_SIGNED_INT16:
	case CL_UNSIGNED_INT16: case CL_HALF_FLOAT:
		return 2 * n;
	case CL_SIGNED_INT32: case CL_UNSIGNED_INT32: case CL_FLOAT:
		return 4 * n;
	default:
		return 0;
	}
}

bool
ava_cl_region_bytes(const size_t *region, size_t elem, size_t *out)
{
	size_t n = 0;
	if (region != NULL && (!ava_cl_mul(elem, region[0], &n) ||
			       !ava_cl_mul(n, region[1], &n) ||
			       !ava_cl_mul(n, region[2], &n)))
		return false;
	*out = n;
	return true;
}

void
ava_cl_steps(cl_mem_object_type type, size_t row_pitch, size_t slice_pitch,
	     size_t *ystep, size_t *zstep)
{
	if (type == CL_MEM_OBJECT_IMAGE1D_ARRAY) {
		*ystep = slice_pitch;
		*zstep = slice_pitch;
		return;
	}
	*ystep = row_pitch;
	*zstep = slice_pitch;
}

bool
ava_cl_default_pitches(cl_mem_object_type type, size_t row_bytes,
		       size_t rows, size_t *row_pitch, size_t *slice_pitch)
{
	if (*row_pitch == 0)
		*row_pitch = row_bytes;
	if (*slice_pitch != 0)
		return true;
	if (type == CL_MEM_OBJECT_IMAGE1D_ARRAY) {
		*slice_pitch = *row_pitch;
		return true;
	}
	return ava_cl_mul(*row_pitch, rows, slice_pitch);
}

/* Rows and slices of a whole image of this description; false for an
 * unknown type. */
static bool
image_extent(const cl_image_desc *d, size_t *ny, size_t *nz)
{
	switch (d->image_type) {
	case CL_MEM_OBJECT_IMAGE1D: case CL_MEM_OBJECT_IMAGE1D_BUFFER:
		*ny = 1, *nz = 1;
		return true;
	case CL_MEM_OBJECT_IMAGE2D:
		*ny = d->image_height, *nz = 1;
		return true;
	case CL_MEM_OBJECT_IMAGE3D:
		*ny = d->image_height, *nz = d->image_depth;
		return true;
	case CL_MEM_OBJECT_IMAGE1D_ARRAY:
		*ny = d->image_array_size, *nz = 1;
		return true;
	case CL_MEM_OBJECT_IMAGE2D_ARRAY:
		*ny = d->image_height, *nz = d->image_array_size;
		return true;
	default:
		return false;
	}
}

bool
ava_cl_image_host_bytes(const cl_image_desc *d, size_t elem,
			size_t *row_pitch, size_t *slice_pitch, size_t *bytes)
{
	size_t ny, nz, row, slice, ystep, zstep, a, b;
	*bytes = 0;
	if (!image_extent(d, &ny, &nz) ||
	    !ava_cl_mul(elem, d->image_width, &row))
		return false;
	*row_pitch = d->image_row_pitch;
	*slice_pitch = d->image_slice_pitch;
	size_t rows = d->image_type == CL_MEM_OBJECT_IMAGE1D_ARRAY ? 1 : ny;
	if (!ava_cl_default_pitches(d->image_type, row, rows, row_pitch,
				    slice_pitch))
		return false;
	if (row == 0 || ny == 0 || nz == 0)
		return true;
	/* The largest reading of the pitches: a row is at least a row, a
	 * slice at least its rows. A 1D array's images are then at least
	 * row_pitch apart, which PoCL takes for their distance, while
	 * OpenCL says slice_pitch. */
	size_t rp = *row_pitch > row ? *row_pitch : row;
	if (!ava_cl_mul(rp, rows, &slice))
		return false;
	size_t sp = *slice_pitch > slice ? *slice_pitch : slice;
	ava_cl_steps(d->image_type, rp, sp, &ystep, &zstep);
	return ava_cl_mul(ny - 1, ystep, &a) && ava_cl_mul(nz - 1, zstep, &b) &&
	       add(a, b, &a) && add(a, row, bytes);
}

void
ava_cl_copy_region(void *dst, size_t dy, size_t dz, const void *src,
		   size_t sy, size_t sz, size_t row_bytes, size_t ny,
		   size_t nz)
{
	for (size_t z = 0; z < nz; z++)
		for (size_t y = 0; y < ny; y++)
			memcpy((char *)dst + z * dz + y * dy,
			       (const char *)src + z * sz + y * sy, row_bytes);
}
