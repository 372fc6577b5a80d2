/*
 * opencl-map.c - mapping emulated with guest shadow memory.
 *
 * A map becomes a real mapping on the server (avaclEnqueueMapBuffer or
 * ...MapImage), which sends the region back unless the flags say the
 * host will overwrite it (CL_MAP_WRITE_INVALIDATE_REGION). The
 * application gets a shadow copy, or, for an object over its own memory
 * (CL_MEM_USE_HOST_PTR), a pointer into that memory, as OpenCL requires;
 * the region's bytes land there. An unmap sends back what the mapping let
 * the host write, and the server writes it into its mapping and unmaps.
 *
 * Image regions travel packed; a shadow reports packed pitches, and a
 * mapping in the application's image memory is scattered over (and at
 * unmap gathered from) the pitches the image was created with.
 */
#include "opencl-mem.h"

#include <stdlib.h>
#include <string.h>

#include "opencl-ava-calls.h"
#include "opencl-layout.h"

/* Does a mapping with these flags read the region, or write it back? */
static bool
map_reads(cl_map_flags flags)
{
	return !(flags & CL_MAP_WRITE_INVALIDATE_REGION);
}

static bool
map_writes(cl_map_flags flags)
{
	/* 0 is taken as read and write, the widest reading. */
	return flags == 0 ||
	       (flags & (CL_MAP_WRITE | CL_MAP_WRITE_INVALIDATE_REGION));
}

static void
set_err(cl_int *errcode_ret, cl_int err)
{
	if (errcode_ret != NULL)
		*errcode_ret = err;
}

/* A shadow, aligned as devices align buffers (CL_DEVICE_MEM_BASE_ADDR_ALIGN:
 * 128 bytes on PoCL), which applications may count on for vector loads. */
static void *
shadow(size_t size)
{
	void *p = NULL;
	return posix_memalign(&p, 128, size ? size : 1) == 0 ? p : NULL;
}

static void
add_map(struct ava_cl_mem *rec, struct ava_cl_map *m)
{
	ava_cl_mem_lock();
	m->next = rec->maps;
	rec->maps = m;
	ava_cl_mem_unlock();
}

/* The latest mapping of rec at ptr, out of its list; NULL if none. */
static struct ava_cl_map *
take_map(struct ava_cl_mem *rec, const void *ptr)
{
	ava_cl_mem_lock();
	struct ava_cl_map **pp = &rec->maps, *m;
	while ((m = *pp) != NULL && m->ptr != ptr)
		pp = &m->next;
	if (m != NULL)
		*pp = m->next;
	ava_cl_mem_unlock();
	return m;
}

/* Map into m->packed (or straight to m->ptr), then record m. */
static void *
finish_map(struct ava_cl_mem *rec, struct ava_cl_map *m, cl_int err,
	   cl_int *errcode_ret)
{
	set_err(errcode_ret, err);
	if (err != CL_SUCCESS) {
		free(m->packed);
		free(m);
		return NULL;
	}
	if (m->packed != NULL && m->packed != m->ptr && map_reads(m->flags))
		ava_cl_copy_region(m->ptr, m->ystep, m->zstep, m->packed,
				   m->row_bytes, m->row_bytes * m->ny,
				   m->row_bytes, m->ny, m->nz);
	add_map(rec, m);
	return m->ptr;
}

void *
ava_opencl_guest_hook_clEnqueueMapBuffer(cl_command_queue q, cl_mem buffer,
					 cl_bool blocking, cl_map_flags flags,
					 size_t offset, size_t size,
					 cl_uint nev, const cl_event *wl,
					 cl_event *event, cl_int *errcode_ret)
{
	(void)blocking;  /* the server maps blocking: the bytes must come */
	struct ava_cl_mem *rec = ava_cl_mem_ensure(buffer);
	struct ava_cl_map *m = calloc(1, sizeof(*m));
	if (m == NULL || rec == NULL || !ava_cl_fits_frame(size)) {
		/* Not one of ours: the server says what it is (a map of 0
		 * bytes fails there without mapping anything). */
		free(m);
		cl_ulong id;
		cl_int err = rec == NULL
			? avaclEnqueueMapBuffer(q, buffer, flags, offset, 0,
						NULL, &id, nev, wl, event)
			: m == NULL ? CL_OUT_OF_HOST_MEMORY : CL_MAP_FAILURE;
		set_err(errcode_ret, err == CL_SUCCESS ? CL_MAP_FAILURE : err);
		return NULL;
	}
	m->flags = flags;
	m->size = size;
	if (rec->host_ptr != NULL)
		m->ptr = (char *)rec->host_ptr + offset;
	else if ((m->ptr = m->packed = shadow(size)) == NULL) {
		free(m);
		set_err(errcode_ret, CL_OUT_OF_HOST_MEMORY);
		return NULL;
	}
	/* The server checked offset and size against the buffer before any
	 * byte lands in the application's memory. */
	cl_int err = avaclEnqueueMapBuffer(q, buffer, flags, offset, size,
					   map_reads(flags) ? m->ptr : NULL,
					   &m->id, nev, wl, event);
	return finish_map(rec, m, err, errcode_ret);
}

/*
 * Where the packed region lands: a shadow with packed pitches, or the
 * application's image memory at origin, with the image's host pitches.
 * The pitches reported to the application are those of where it lands.
 */
static bool
place_image_map(struct ava_cl_mem *rec, struct ava_cl_map *m,
		const size_t *origin, const size_t *region, size_t elem,
		cl_mem_object_type type, size_t *row_pitch, size_t *slice_pitch)
{
	m->row_bytes = elem * region[0];
	m->ny = region[1];
	m->nz = region[2];
	if ((m->packed = shadow(m->size)) == NULL)
		return false;
	size_t rp = m->row_bytes;
	size_t sp = type == CL_MEM_OBJECT_IMAGE1D_ARRAY ? rp : rp * m->ny;
	m->ptr = m->packed;
	if (rec->host_ptr != NULL) {
		rp = rec->row_pitch;
		sp = rec->slice_pitch;
		ava_cl_steps(type, rp, sp, &m->ystep, &m->zstep);
		m->ptr = (char *)rec->host_ptr + origin[0] * elem +
			 origin[1] * m->ystep + origin[2] * m->zstep;
	}
	*row_pitch = rp;
	*slice_pitch = type == CL_MEM_OBJECT_IMAGE3D ||
		       type == CL_MEM_OBJECT_IMAGE2D_ARRAY ||
		       type == CL_MEM_OBJECT_IMAGE1D_ARRAY ? sp : 0;
	return true;
}

/* A map that cannot be placed: memory is short, or the real call tells
 * what is wrong (a NULL region, not an image), as it would natively. */
static void *
refuse_image_map(cl_command_queue q, cl_mem image, cl_map_flags flags,
		 const size_t *origin, bool row_pitch, bool slice_pitch,
		 cl_uint nev, const cl_event *wl, cl_event *event,
		 cl_int err, cl_int *errcode_ret)
{
	cl_ulong id;
	size_t r, s;
	if (err == CL_SUCCESS)
		err = avaclEnqueueMapImage(q, image, flags, origin, NULL,
					   row_pitch ? &r : NULL,
					   slice_pitch ? &s : NULL, 0, NULL,
					   &id, nev, wl, event);
	set_err(errcode_ret, err == CL_SUCCESS ? CL_MAP_FAILURE : err);
	return NULL;
}

void *
ava_opencl_guest_hook_clEnqueueMapImage(cl_command_queue q, cl_mem image,
					cl_bool blocking, cl_map_flags flags,
					const size_t *origin,
					const size_t *region,
					size_t *image_row_pitch,
					size_t *image_slice_pitch, cl_uint nev,
					const cl_event *wl, cl_event *event,
					cl_int *errcode_ret)
{
	(void)blocking;
	size_t elem = 0, rp, sp, r, s;
	cl_mem_object_type type = 0;
	struct ava_cl_mem *rec = NULL;
	struct ava_cl_map *m = calloc(1, sizeof(*m));
	cl_int err = m == NULL ? CL_OUT_OF_HOST_MEMORY : CL_SUCCESS;
	bool ok = m != NULL && origin != NULL && region != NULL &&
		  ava_cl_image_info(image, &elem, &type) &&
		  (rec = ava_cl_mem_ensure(image)) != NULL &&
		  ava_cl_region_bytes(region, elem, &m->size);
	if (ok && !ava_cl_fits_frame(m->size))
		ok = false, err = CL_MAP_FAILURE;
	if (ok && !place_image_map(rec, m, origin, region, elem, type, &rp,
				   &sp))
		ok = false, err = CL_OUT_OF_HOST_MEMORY;
	if (!ok) {
		free(m);
		return refuse_image_map(q, image, flags, origin,
					image_row_pitch != NULL,
					image_slice_pitch != NULL, nev, wl,
					event, err, errcode_ret);
	}
	m->flags = flags;
	err = avaclEnqueueMapImage(q, image, flags, origin, region,
				   image_row_pitch ? &r : NULL,
				   image_slice_pitch ? &s : NULL, m->size,
				   map_reads(flags) ? m->packed : NULL,
				   &m->id, nev, wl, event);
	if (err == CL_SUCCESS) {
		*image_row_pitch = rp;
		if (image_slice_pitch != NULL)
			*image_slice_pitch = sp;
	}
	return finish_map(rec, m, err, errcode_ret);
}

cl_int
ava_opencl_guest_hook_clEnqueueUnmapMemObject(cl_command_queue q, cl_mem mem,
					      void *ptr, cl_uint nev,
					      const cl_event *wl,
					      cl_event *event)
{
	struct ava_cl_mem *rec = ava_cl_mem_get(mem);
	struct ava_cl_map *m = rec != NULL ? take_map(rec, ptr) : NULL;
	if (m == NULL)  /* the server answers as natively for a stray ptr */
		return avaclEnqueueUnmapMemObject(q, mem, 0, 0, NULL, nev, wl,
						  event);
	const void *data = NULL;
	size_t n = 0;
	if (map_writes(m->flags)) {
		if (m->packed != NULL && m->packed != m->ptr)
			ava_cl_copy_region(m->packed, m->row_bytes,
					   m->row_bytes * m->ny, m->ptr,
					   m->ystep, m->zstep, m->row_bytes,
					   m->ny, m->nz);
		data = m->packed != NULL ? m->packed : m->ptr;
		n = m->size;
	}
	cl_int err = avaclEnqueueUnmapMemObject(q, mem, m->id, n, data, nev,
						wl, event);
	if (err != CL_SUCCESS) {
		add_map(rec, m);  /* still mapped, as natively */
		return err;
	}
	free(m->packed);
	free(m);
	return CL_SUCCESS;
}
