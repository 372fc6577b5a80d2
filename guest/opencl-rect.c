/*
 * opencl-rect.c - rectangular buffer transfers and image transfers.
 *
 * What these touch in the application's memory depends on its pitches
 * (and, for images, on the format): the guest packs the region's rows
 * (gathers them for a write, scatters them after a read) and sends the
 * packed size with them, which the server checks against the region
 * before the real call (runtime/opencl-calls.c). Host pitches that
 * OpenCL refuses are not packed: the real call gets a NULL pointer and
 * refuses the transfer as natively (CL_INVALID_VALUE).
 */
#include "opencl-mem.h"

#include <stdint.h>
#include <stdlib.h>

#include "opencl-ava-calls.h"
#include "opencl-layout.h"

/* A region of the application's memory, and its packed size. */
struct host_region {
	char *base;
	size_t row_bytes, ny, nz, ystep, zstep, packed;
};

enum { REGION_OK, REGION_INVALID, REGION_TOO_BIG };

static int
finish_region(struct host_region *h, const size_t *region)
{
	size_t n;
	if (!ava_cl_mul(h->row_bytes, region[1], &n) ||
	    !ava_cl_mul(n, region[2], &h->packed))
		return REGION_INVALID;
	h->ny = region[1];
	h->nz = region[2];
	return ava_cl_fits_frame(h->packed) ? REGION_OK : REGION_TOO_BIG;
}

/* clEnqueue{Read,Write}BufferRect's host side, by OpenCL's rules. */
static int
buffer_host_region(const void *ptr, const size_t *origin,
		   const size_t *region, size_t row_pitch, size_t slice_pitch,
		   struct host_region *h)
{
	size_t min_slice, a, b;
	if (ptr == NULL || origin == NULL || region == NULL ||
	    region[0] == 0 || region[1] == 0 || region[2] == 0)
		return REGION_INVALID;
	if (row_pitch == 0)
		row_pitch = region[0];
	if (row_pitch < region[0] ||
	    !ava_cl_mul(row_pitch, region[1], &min_slice))
		return REGION_INVALID;
	if (slice_pitch == 0)
		slice_pitch = min_slice;
	if (slice_pitch < min_slice || slice_pitch % row_pitch != 0 ||
	    !ava_cl_mul(origin[2], slice_pitch, &a) ||
	    !ava_cl_mul(origin[1], row_pitch, &b) || a > SIZE_MAX - b ||
	    a + b > SIZE_MAX - origin[0])
		return REGION_INVALID;
	h->base = (char *)ptr + a + b + origin[0];
	h->row_bytes = region[0];
	h->ystep = row_pitch;
	h->zstep = slice_pitch;
	return finish_region(h, region);
}

/* clEnqueue{Read,Write}Image's host side, by OpenCL's rules. */
static int
image_host_region(cl_mem image, const void *ptr, const size_t *region,
		  size_t row_pitch, size_t slice_pitch, struct host_region *h)
{
	size_t elem, min_slice;
	cl_mem_object_type type;
	if (ptr == NULL || region == NULL || region[0] == 0 ||
	    region[1] == 0 || region[2] == 0 ||
	    !ava_cl_image_info(image, &elem, &type) ||
	    !ava_cl_mul(elem, region[0], &h->row_bytes))
		return REGION_INVALID;
	if (row_pitch == 0)
		row_pitch = h->row_bytes;
	bool flat = type == CL_MEM_OBJECT_IMAGE1D ||
		    type == CL_MEM_OBJECT_IMAGE2D ||
		    type == CL_MEM_OBJECT_IMAGE1D_BUFFER;
	size_t rows = type == CL_MEM_OBJECT_IMAGE1D_ARRAY ? 1 : region[1];
	if (row_pitch < h->row_bytes || (flat && slice_pitch != 0) ||
	    !ava_cl_mul(row_pitch, rows, &min_slice))
		return REGION_INVALID;
	if (slice_pitch == 0)
		slice_pitch = min_slice;
	if (slice_pitch < min_slice)
		return REGION_INVALID;
	h->base = (char *)ptr;
	ava_cl_steps(type, row_pitch, slice_pitch, &h->ystep, &h->zstep);
	return finish_region(h, region);
}

/* The packed copy of a region; NULL if memory is short. */
static void *
gather(const struct host_region *h)
{
	void *p = malloc(h->packed ? h->packed : 1);
	if (p != NULL)
		ava_cl_copy_region(p, h->row_bytes, h->row_bytes * h->ny,
				   h->base, h->ystep, h->zstep, h->row_bytes,
				   h->ny, h->nz);
	return p;
}

static void
scatter(const struct host_region *h, const void *packed)
{
	ava_cl_copy_region(h->base, h->ystep, h->zstep, packed, h->row_bytes,
			   h->row_bytes * h->ny, h->row_bytes, h->ny, h->nz);
}

/*
 * Set up a transfer of the region: *packed gets storage for it (the
 * gathered rows for a write), or NULL where the real call is to refuse
 * the host side. Returns CL_SUCCESS or the error to return at once.
 */
static cl_int
prepare(int r, struct host_region *h, bool write, void **packed)
{
	*packed = NULL;
	if (r == REGION_INVALID) {
		h->packed = 0;
		return CL_SUCCESS;
	}
	if (r == REGION_TOO_BIG)
		return CL_OUT_OF_RESOURCES;  /* more than one frame holds */
	*packed = write ? gather(h) : malloc(h->packed ? h->packed : 1);
	return *packed != NULL ? CL_SUCCESS : CL_OUT_OF_HOST_MEMORY;
}

cl_int
ava_opencl_guest_hook_clEnqueueReadBufferRect(
	cl_command_queue q, cl_mem buffer, cl_bool blocking,
	const size_t *buffer_origin, const size_t *host_origin,
	const size_t *region, size_t buffer_row_pitch,
	size_t buffer_slice_pitch, size_t host_row_pitch,
	size_t host_slice_pitch, void *ptr, cl_uint nev, const cl_event *wl,
	cl_event *event)
{
	(void)blocking;  /* the server reads blocking: the bytes must come */
	struct host_region h;
	void *packed;
	cl_int err = prepare(buffer_host_region(ptr, host_origin, region,
						host_row_pitch,
						host_slice_pitch, &h),
			     &h, false, &packed);
	if (err != CL_SUCCESS)
		return err;
	err = avaclEnqueueReadBufferRect(q, buffer, buffer_origin, region,
					 buffer_row_pitch, buffer_slice_pitch,
					 h.packed, packed, nev, wl, event);
	if (err == CL_SUCCESS && packed != NULL)
		scatter(&h, packed);
	free(packed);
	return err;
}

cl_int
ava_opencl_guest_hook_clEnqueueWriteBufferRect(
	cl_command_queue q, cl_mem buffer, cl_bool blocking,
	const size_t *buffer_origin, const size_t *host_origin,
	const size_t *region, size_t buffer_row_pitch,
	size_t buffer_slice_pitch, size_t host_row_pitch,
	size_t host_slice_pitch, const void *ptr, cl_uint nev,
	const cl_event *wl, cl_event *event)
{
	(void)blocking;  /* the packed copy travels before this returns */
	struct host_region h;
	void *packed;
	cl_int err = prepare(buffer_host_region(ptr, host_origin, region,
						host_row_pitch,
						host_slice_pitch, &h),
			     &h, true, &packed);
	if (err != CL_SUCCESS)
		return err;
	err = avaclEnqueueWriteBufferRect(q, buffer, buffer_origin, region,
					  buffer_row_pitch, buffer_slice_pitch,
					  h.packed, packed, nev, wl, event);
	free(packed);
	return err;
}

cl_int
ava_opencl_guest_hook_clEnqueueReadImage(cl_command_queue q, cl_mem image,
					 cl_bool blocking, const size_t *origin,
					 const size_t *region, size_t row_pitch,
					 size_t slice_pitch, void *ptr,
					 cl_uint nev, const cl_event *wl,
					 cl_event *event)
{
	(void)blocking;
	struct host_region h;
	void *packed;
	cl_int err = prepare(image_host_region(image, ptr, region, row_pitch,
					       slice_pitch, &h),
			     &h, false, &packed);
	if (err != CL_SUCCESS)
		return err;
	err = avaclEnqueueReadImage(q, image, origin, region, h.packed, packed,
				    nev, wl, event);
	if (err == CL_SUCCESS && packed != NULL)
		scatter(&h, packed);
	free(packed);
	return err;
}

cl_int
ava_opencl_guest_hook_clEnqueueWriteImage(cl_command_queue q, cl_mem image,
					  cl_bool blocking,
					  const size_t *origin,
					  const size_t *region,
					  size_t row_pitch, size_t slice_pitch,
					  const void *ptr, cl_uint nev,
					  const cl_event *wl, cl_event *event)
{
	(void)blocking;
	struct host_region h;
	void *packed;
	cl_int err = prepare(image_host_region(image, ptr, region, row_pitch,
					       slice_pitch, &h),
			     &h, true, &packed);
	if (err != CL_SUCCESS)
		return err;
	err = avaclEnqueueWriteImage(q, image, origin, region, h.packed,
				     packed, nev, wl, event);
	free(packed);
	return err;
}
