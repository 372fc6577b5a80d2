/*
 * opencl-mem.h - what the guest remembers about an OpenCL memory object,
 * shared by the guest hooks of opencl-mem.c (creation and queries),
 * opencl-map.c (mapping) and opencl-rect.c (rectangular and image
 * transfers).
 *
 * The record is a registry extension (guest.h) of the cl_mem: it dies
 * with the object. One process-wide lock guards the fields of every
 * record that can change (the mappings); take it only around them, never
 * across a call to the server or the guest core.
 */
#ifndef AVA_GUEST_OPENCL_MEM_H
#define AVA_GUEST_OPENCL_MEM_H

#include "opencl-guest.h"  /* first: it sets the OpenCL version macros */

#include <stdbool.h>
#include <stddef.h>

#include "guest.h"

/* One mapping the application holds. */
struct ava_cl_map {
	struct ava_cl_map *next;
	void *ptr;              /* what the application got */
	void *packed;           /* owned: the region packed (the shadow); NULL
				 * when the bytes travel straight to ptr */
	cl_ulong id;            /* the server's name for the mapping */
	cl_map_flags flags;
	size_t size;            /* packed bytes */
	/* When packed != ptr (a USE_HOST_PTR image): where its rows go. */
	size_t row_bytes, ny, nz, ystep, zstep;
};

struct ava_cl_mem {
	struct ava_guest_ext ext;
	cl_mem_flags flags;
	void *host_ptr;         /* USE_HOST_PTR: the application's memory */
	size_t size;            /* buffers: bytes */
	/* Images: 0 until known. The pitches are the host memory's, for
	 * USE_HOST_PTR. */
	cl_mem_object_type type;
	size_t elem, row_pitch, slice_pitch;
	struct ava_cl_map *maps;  /* most recent first; under the lock */
	bool unshared;          /* not in the shared heap (opencl-shared.c):
				 * seen once, never asked again */
};

/* The record of mem, or NULL if it has none or is no object of ours. */
struct ava_cl_mem *
ava_cl_mem_get(cl_mem mem);

/* The record of mem, attached empty if it had none; NULL if mem is no
 * live object or memory is short. */
struct ava_cl_mem *
ava_cl_mem_ensure(cl_mem mem);

/* Attach a record for a new object; it takes rec (freed on failure). */
void
ava_cl_mem_attach(cl_mem mem, struct ava_cl_mem *rec);

/* A zeroed record, or NULL. */
struct ava_cl_mem *
ava_cl_mem_new(void);

void
ava_cl_mem_lock(void);
void
ava_cl_mem_unlock(void);

/*
 * An image's element size and type, from its record or else from the
 * server (and then remembered). False if mem is not an image.
 */
bool
ava_cl_image_info(cl_mem image, size_t *elem, cl_mem_object_type *type);

/* The size of buffer m, if this process made it with clCreateBuffer*
 * (opencl-async.c); false if that is not known. */
bool
ava_cl_buffer_size(cl_mem m, size_t *size);

/* clCreateBuffer with CL_MEM_COPY_HOST_PTR, its bytes staged in the shared
 * heap (opencl-shared.c); NULL if they were not (no heap, no room, too
 * small, refused): the caller then sends the call as it is. */
cl_mem
ava_cl_create_staged(cl_context context, cl_mem_flags flags, size_t size,
		     const void *host_ptr, cl_int *errcode_ret);

/* Bytes one call may carry, leaving room for the rest of the frame. */
bool
ava_cl_fits_frame(size_t n);

#endif
