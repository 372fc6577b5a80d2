/*
 * opencl-mem.c - guest hooks for creating and querying memory objects.
 *
 * A buffer or image created with CL_MEM_USE_HOST_PTR gets a record of the
 * application's host_ptr: CL_MEM_HOST_PTR answers with it (the server has
 * its own copy, see runtime/opencl-hooks.c), and mappings land in it
 * (opencl-map.c). Images go through avaclCreateImage, because their
 * description holds a cl_mem and the size of host_ptr depends on their
 * format.
 */
#include "opencl-mem.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "marshal.h"
#include "opencl-ava-calls.h"
#include "opencl-layout.h"
#include "protocol.h"

static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;

void
ava_cl_mem_lock(void)
{
	pthread_mutex_lock(&mem_lock);
}

void
ava_cl_mem_unlock(void)
{
	pthread_mutex_unlock(&mem_lock);
}

bool
ava_cl_fits_frame(size_t n)
{
	return n <= AVA_FRAME_MAX - 65536;
}

/* Runs when the object goes away: its mappings' shadows go with it. */
static void
mem_destroy(struct ava_guest_ext *ext)
{
	struct ava_cl_mem *rec = (struct ava_cl_mem *)ext;
	for (struct ava_cl_map *m = rec->maps, *next; m != NULL; m = next) {
		next = m->next;
		free(m->packed);
		free(m);
	}
	free(rec);
}

struct ava_cl_mem *
ava_cl_mem_new(void)
{
	struct ava_cl_mem *rec = calloc(1, sizeof(*rec));
	if (rec != NULL)
		rec->ext.destroy = mem_destroy;
	return rec;
}

struct ava_cl_mem *
ava_cl_mem_get(cl_mem mem)
{
	return (struct ava_cl_mem *)ava_guest_ext_get(mem, AVA_OPENCL_H_cl_mem);
}

struct ava_cl_mem *
ava_cl_mem_ensure(cl_mem mem)
{
	struct ava_cl_mem *rec = ava_cl_mem_get(mem);
	if (rec != NULL)
		return rec;
	if ((rec = ava_cl_mem_new()) == NULL)
		return NULL;
	struct ava_guest_ext *now = ava_guest_ext_attach(mem, AVA_OPENCL_H_cl_mem,
							 &rec->ext);
	if (now != &rec->ext)
		free(rec);
	return (struct ava_cl_mem *)now;
}

void
ava_cl_mem_attach(cl_mem mem, struct ava_cl_mem *rec)
{
	if (rec != NULL && ava_guest_ext_attach(mem, AVA_OPENCL_H_cl_mem,
						&rec->ext) != &rec->ext)
		free(rec);
}

/* ---- buffers ---------------------------------------------------------- */

/*
 * Over shm:, the bytes of a large blocking write or read may stream
 * through a window of the shared area, so that the copy here and the
 * driver's overlap (marshal.h, "Streams"). The server's hooks register
 * the same arguments (runtime/opencl-hooks.c): ptr, argument 5 of both.
 */
__attribute__((constructor)) static void
register_streams(void)
{
	ava_marshal_stream_arg(ava_opencl_api.api_id,
			       AVA_OPENCL_FN_clEnqueueWriteBuffer, 5);
	ava_marshal_stream_arg(ava_opencl_api.api_id,
			       AVA_OPENCL_FN_clEnqueueReadBuffer, 5);
}

/* Remember a new buffer that lives in the application's memory. */
static void
remember_host_ptr(cl_mem mem, cl_mem_flags flags, void *host_ptr,
		  size_t size)
{
	if (mem == NULL || !(flags & CL_MEM_USE_HOST_PTR) || host_ptr == NULL)
		return;
	struct ava_cl_mem *rec = ava_cl_mem_new();
	if (rec == NULL)
		return;  /* CL_MEM_HOST_PTR then reads NULL, maps use shadows */
	rec->flags = flags;
	rec->host_ptr = host_ptr;
	rec->size = size;
	ava_cl_mem_attach(mem, rec);
}

cl_mem
ava_opencl_guest_hook_clCreateBuffer(cl_context context, cl_mem_flags flags,
				     size_t size, void *host_ptr,
				     cl_int *errcode_ret)
{
	cl_mem mem = ava_cl_create_staged(context, flags, size, host_ptr,
					  errcode_ret);
	if (mem != NULL)
		return mem;
	mem = ava_opencl_forward_clCreateBuffer(context, flags, size,
						host_ptr, errcode_ret);
	remember_host_ptr(mem, flags, host_ptr, size);
	return mem;
}

cl_mem
ava_opencl_guest_hook_clCreateBufferWithProperties(
	cl_context context, const cl_mem_properties *properties,
	cl_mem_flags flags, size_t size, void *host_ptr, cl_int *errcode_ret)
{
	cl_mem mem = ava_opencl_forward_clCreateBufferWithProperties(
		context, properties, flags, size, host_ptr, errcode_ret);
	remember_host_ptr(mem, flags, host_ptr, size);
	return mem;
}

/* A sub-buffer of a buffer in the application's memory is there too, at
 * its origin. */
cl_mem
ava_opencl_guest_hook_clCreateSubBuffer(cl_mem buffer, cl_mem_flags flags,
					cl_buffer_create_type type,
					const void *info, cl_int *errcode_ret)
{
	cl_mem sub = ava_opencl_forward_clCreateSubBuffer(buffer, flags, type,
							  info, errcode_ret);
	struct ava_cl_mem *parent = ava_cl_mem_get(buffer);
	if (sub == NULL || parent == NULL || parent->host_ptr == NULL ||
	    type != CL_BUFFER_CREATE_TYPE_REGION || info == NULL)
		return sub;
	/* The server accepted the region, so it lies inside the parent. */
	const cl_buffer_region *r = info;
	remember_host_ptr(sub, parent->flags, (char *)parent->host_ptr +
			  r->origin, r->size);
	return sub;
}

cl_int
ava_opencl_guest_hook_clGetMemObjectInfo(cl_mem memobj,
					 cl_mem_info param_name,
					 size_t param_value_size,
					 void *param_value,
					 size_t *param_value_size_ret)
{
	cl_int err = ava_opencl_forward_clGetMemObjectInfo(
		memobj, param_name, param_value_size, param_value,
		param_value_size_ret);
	if (err != CL_SUCCESS || param_name != CL_MEM_HOST_PTR ||
	    param_value == NULL || param_value_size < sizeof(void *))
		return err;
	/* The server sent NULL in place of its own copy's address. */
	struct ava_cl_mem *rec = ava_cl_mem_get(memobj);
	void *p = rec != NULL ? rec->host_ptr : NULL;
	memcpy(param_value, &p, sizeof(p));
	return err;
}

/* ---- images ----------------------------------------------------------- */

bool
ava_cl_image_info(cl_mem image, size_t *elem, cl_mem_object_type *type)
{
	struct ava_cl_mem *rec = ava_cl_mem_get(image);
	if (rec != NULL && rec->elem != 0) {
		*elem = rec->elem;
		*type = rec->type;
		return true;
	}
	if (clGetImageInfo(image, CL_IMAGE_ELEMENT_SIZE, sizeof(*elem), elem,
			   NULL) != CL_SUCCESS || *elem == 0 ||
	    clGetMemObjectInfo(image, CL_MEM_TYPE, sizeof(*type), type,
			       NULL) != CL_SUCCESS)
		return false;
	if ((rec = ava_cl_mem_ensure(image)) != NULL) {
		/* Idempotent: racing threads write the same values. */
		ava_cl_mem_lock();
		rec->elem = *elem;
		rec->type = *type;
		ava_cl_mem_unlock();
	}
	return true;
}

/* What the guest knows of a new image: its layout, and the application's
 * memory under it for USE_HOST_PTR. */
static void
remember_image(cl_mem mem, cl_mem_flags flags, const cl_image_desc *desc,
	       size_t elem, size_t row_pitch, size_t slice_pitch,
	       void *host_ptr)
{
	if (mem == NULL || elem == 0)
		return;
	struct ava_cl_mem *rec = ava_cl_mem_new();
	if (rec == NULL)
		return;
	rec->flags = flags;
	rec->type = desc->image_type;
	rec->elem = elem;
	rec->row_pitch = row_pitch;
	rec->slice_pitch = slice_pitch;
	if (flags & CL_MEM_USE_HOST_PTR)
		rec->host_ptr = host_ptr;
	ava_cl_mem_attach(mem, rec);
}

static cl_mem
create_image(cl_context context, const cl_mem_properties *properties,
	     cl_mem_flags flags, const cl_image_format *format,
	     const cl_image_desc *desc, void *host_ptr, cl_int *errcode_ret)
{
	cl_image_desc d;
	cl_mem buffer = NULL;
	size_t elem = ava_cl_format_elem_size(format), rp = 0, sp = 0, n = 0;
	if (desc != NULL) {
		/* The buffer travels as a handle of its own. */
		d = *desc;
		buffer = d.buffer;
		d.buffer = NULL;
		if (elem == 0 ||
		    !ava_cl_image_host_bytes(desc, elem, &rp, &sp, &n) ||
		    (host_ptr != NULL && !ava_cl_fits_frame(n)))
			n = 0;  /* the server refuses what it cannot size */
	}
	if (!(flags & (CL_MEM_COPY_HOST_PTR | CL_MEM_USE_HOST_PTR)))
		n = host_ptr != NULL;  /* only its presence matters */
	cl_mem mem = avaclCreateImage(context, properties, flags, format,
				      desc ? &d : NULL, buffer, n, host_ptr,
				      errcode_ret);
	if (desc != NULL)
		remember_image(mem, flags, desc, elem, rp, sp, host_ptr);
	return mem;
}

cl_mem
ava_opencl_guest_hook_clCreateImage(cl_context context, cl_mem_flags flags,
				    const cl_image_format *image_format,
				    const cl_image_desc *image_desc,
				    void *host_ptr, cl_int *errcode_ret)
{
	return create_image(context, NULL, flags, image_format, image_desc,
			    host_ptr, errcode_ret);
}

cl_mem
ava_opencl_guest_hook_clCreateImageWithProperties(
	cl_context context, const cl_mem_properties *properties,
	cl_mem_flags flags, const cl_image_format *image_format,
	const cl_image_desc *image_desc, void *host_ptr, cl_int *errcode_ret)
{
	return create_image(context, properties, flags, image_format,
			    image_desc, host_ptr, errcode_ret);
}

cl_mem
ava_opencl_guest_hook_clCreateImage2D(cl_context context, cl_mem_flags flags,
				      const cl_image_format *image_format,
				      size_t width, size_t height,
				      size_t row_pitch, void *host_ptr,
				      cl_int *errcode_ret)
{
	cl_image_desc d = { .image_type = CL_MEM_OBJECT_IMAGE2D,
		.image_width = width, .image_height = height,
		.image_row_pitch = row_pitch };
	return create_image(context, NULL, flags, image_format, &d, host_ptr,
			    errcode_ret);
}

cl_mem
ava_opencl_guest_hook_clCreateImage3D(cl_context context, cl_mem_flags flags,
				      const cl_image_format *image_format,
				      size_t width, size_t height, size_t depth,
				      size_t row_pitch, size_t slice_pitch,
				      void *host_ptr, cl_int *errcode_ret)
{
	cl_image_desc d = { .image_type = CL_MEM_OBJECT_IMAGE3D,
		.image_width = width, .image_height = height,
		.image_depth = depth, .image_row_pitch = row_pitch,
		.image_slice_pitch = slice_pitch };
	return create_image(context, NULL, flags, image_format, &d, host_ptr,
			    errcode_ret);
}
