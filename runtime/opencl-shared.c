/*
 * opencl-shared.c - OpenCL buffers whose storage is in the session's
 * shared heap (shared-heap.h), so that a blocking write or read is one
 * copy, made by the guest (doc/protocol.md, "Shared buffers").
 *
 * A large buffer the guest creates without CL_MEM_USE_HOST_PTR is made
 * with CL_MEM_USE_HOST_PTR over a range of the heap: OpenCL then maps it
 * there (the pointer a map returns "is derived from the host_ptr"), and a
 * CPU device such as PoCL's keeps its contents there. COPY_HOST_PTR's
 * bytes are copied in first; ALLOC_HOST_PTR asks for what the heap gives.
 * The application still sees the flags it asked for. The range goes back
 * to the heap when the implementation destroys the buffer.
 *
 * The heap also holds the bytes of large non-blocking writes, from the
 * guest's copy until the command completes ("staged writes", below); a
 * large buffer made with its contents is made over the range they were
 * staged in (ava_cl_stage_adopt).
 *
 * Buffers the heap cannot hold (none yet, full, too small a buffer to
 * gain) are made as asked. So is one the implementation refuses to make
 * over the heap: the application then gets the answer it gets natively.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "opencl-server-private.h"
#include "server-ctx.h"
#include "shared-heap.h"
#include "u64map.h"

struct shared {
	struct ava_heap *heap;  /* a reference */
	uint64_t off, size;
	cl_mem_flags flags;     /* as the application asked */
	cl_mem mem;
};

static struct {
	pthread_mutex_t lock;
	struct ava_u64map by_mem;   /* cl_mem -> struct shared * */
	bool init;
} T = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void
table_put(struct shared *b)
{
	pthread_mutex_lock(&T.lock);
	if (!T.init) {
		ava_u64map_init(&T.by_mem);
		T.init = true;
	}
	if (ava_u64map_put(&T.by_mem, (uint64_t)(uintptr_t)b->mem,
			   (uint64_t)(uintptr_t)b) < 0) {
		/* Unknown to the table: transfers take the copying path. */
	}
	pthread_mutex_unlock(&T.lock);
}

static struct shared *
table_get(cl_mem mem)
{
	uint64_t v = 0;
	pthread_mutex_lock(&T.lock);
	bool found = T.init && ava_u64map_get(&T.by_mem,
					      (uint64_t)(uintptr_t)mem, &v);
	pthread_mutex_unlock(&T.lock);
	return found ? (struct shared *)(uintptr_t)v : NULL;
}

/* A range and its heap reference go back, and b is freed. */
static void
free_range(void *data)
{
	struct shared *b = data;
	ava_heap_free(b->heap, b->off, b->size);
	ava_heap_put(b->heap);
	free(b);
}

/* The implementation destroys the buffer: its range goes back. */
static void CL_CALLBACK
give_back_range(cl_mem mem, void *data)
{
	pthread_mutex_lock(&T.lock);
	ava_u64map_del(&T.by_mem, (uint64_t)(uintptr_t)mem);
	pthread_mutex_unlock(&T.lock);
	free_range(data);
}

/*
 * Make b's buffer over its range, with the application's flags in
 * b->flags. On failure the range goes back and b is freed: NULL, and *err
 * says why (the implementation's answer, or CL_OUT_OF_HOST_MEMORY). With
 * later, that is once the call's REPLY is out, so that its bytes are
 * still there for the journal.
 */
static cl_mem
make_over(struct shared *b, cl_context ctx, const cl_mem_properties *props,
	  bool with_props, bool later, cl_int *err)
{
	uint8_t *at = ava_heap_base(b->heap) + b->off;
	cl_mem_flags f = (b->flags & ~(cl_mem_flags)(CL_MEM_COPY_HOST_PTR |
						     CL_MEM_ALLOC_HOST_PTR)) |
			 CL_MEM_USE_HOST_PTR;
	cl_int e = CL_OUT_OF_HOST_MEMORY;
	b->mem = with_props
		? clCreateBufferWithProperties(ctx, props, f, b->size, at, &e)
		: clCreateBuffer(ctx, f, b->size, at, &e);
	if (b->mem != NULL &&
	    clSetMemObjectDestructorCallback(b->mem, give_back_range, b) !=
	    CL_SUCCESS) {
		clReleaseMemObject(b->mem);
		b->mem = NULL;
		e = CL_OUT_OF_HOST_MEMORY;
	}
	if (b->mem == NULL) {
		if (later)
			ava_session_after_reply(free_range, b);
		else
			free_range(b);
		if (err != NULL)
			*err = e;
		return NULL;
	}
	table_put(b);
	if (err != NULL)
		*err = CL_SUCCESS;
	return b->mem;
}

cl_mem
ava_cl_shared_create(cl_context ctx, const cl_mem_properties *props,
		     bool with_props, cl_mem_flags flags, size_t size,
		     const void *host_ptr, cl_int *err)
{
	struct ava_heap *h = ava_session_heap();
	if (h == NULL || size < AVA_CL_SHARED_MIN ||
	    (flags & CL_MEM_USE_HOST_PTR) ||
	    ((flags & CL_MEM_COPY_HOST_PTR) && host_ptr == NULL))
		return NULL;
	struct shared *b = calloc(1, sizeof(*b));
	if (b == NULL || ava_heap_alloc(h, size, &b->off) < 0) {
		free(b);
		return NULL;
	}
	ava_heap_get(h);
	b->heap = h;
	b->size = size;
	b->flags = flags;
	if (flags & CL_MEM_COPY_HOST_PTR)
		memcpy(ava_heap_base(h) + b->off, host_ptr, size);
	/* Refused over the heap (NULL, err untouched): the caller makes it
	 * as asked, which answers as natively. */
	cl_mem mem = make_over(b, ctx, props, with_props, false, NULL);
	if (mem != NULL && err != NULL)
		*err = CL_SUCCESS;
	return mem;
}

/* The heap buffer mem is, or is a sub-buffer of; NULL if none. */
static struct shared *
shared_of(cl_mem mem)
{
	struct shared *b = table_get(mem);
	cl_mem parent = NULL;
	if (b == NULL &&
	    clGetMemObjectInfo(mem, CL_MEM_ASSOCIATED_MEMOBJECT,
			       sizeof(parent), &parent, NULL) == CL_SUCCESS &&
	    parent != NULL)
		b = table_get(parent);
	return b;
}

void
ava_cl_shared_flags(cl_mem mem, cl_mem_flags *flags)
{
	if (!(*flags & CL_MEM_USE_HOST_PTR))
		return;
	struct shared *b = shared_of(mem);
	if (b == NULL)
		return;
	const cl_mem_flags host = CL_MEM_USE_HOST_PTR | CL_MEM_COPY_HOST_PTR |
				  CL_MEM_ALLOC_HOST_PTR;
	*flags = (*flags & ~host) | (b->flags & host);
}

bool
ava_cl_shared_in(cl_mem mem, const void *p, size_t size, uint64_t *heap,
		 uint64_t *where)
{
	struct shared *b = shared_of(mem);
	if (b == NULL)
		return false;
	const uint8_t *base = ava_heap_base(b->heap);
	uint64_t hs = ava_heap_size(b->heap);
	if ((const uint8_t *)p < base || (uint64_t)((const uint8_t *)p - base)
	    > hs || size > hs - (uint64_t)((const uint8_t *)p - base))
		return false;
	*heap = ava_heap_id(b->heap);
	*where = (uint64_t)((const uint8_t *)p - base);
	return true;
}

bool
ava_cl_shared(cl_mem mem)
{
	return shared_of(mem) != NULL;
}

uint64_t
ava_cl_shared_heap_id(void)
{
	struct ava_heap *h = ava_session_heap();
	return h != NULL ? ava_heap_id(h) : 0;
}

/* A CPU device that says it shares the host's memory; remembered for
 * the few devices a session has. */
static bool
device_direct(cl_device_id d)
{
	static struct seen { cl_device_id d; bool ok; } seen[8];
	static unsigned nseen;
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < nseen; i++) {
		if (seen[i].d == d) {
			bool ok = seen[i].ok;
			pthread_mutex_unlock(&lock);
			return ok;
		}
	}
	cl_device_type type = 0;
	cl_bool unified = CL_FALSE;
	bool ok = clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof(type), &type,
				  NULL) == CL_SUCCESS &&
		  clGetDeviceInfo(d, CL_DEVICE_HOST_UNIFIED_MEMORY,
				  sizeof(unified), &unified, NULL) ==
		  CL_SUCCESS &&
		  (type & CL_DEVICE_TYPE_CPU) && unified;
	if (nseen < 8)
		seen[nseen++] = (struct seen){ d, ok };
	pthread_mutex_unlock(&lock);
	return ok;
}

bool
ava_cl_shared_direct(cl_command_queue q, cl_mem mem, bool write,
		     size_t offset, size_t size, uint64_t *heap,
		     uint64_t *where)
{
	struct shared *b = shared_of(mem);
	cl_device_id d;
	cl_context qc, mc;
	cl_mem_flags f;
	size_t msize, origin = 0;
	if (b == NULL ||
	    clGetCommandQueueInfo(q, CL_QUEUE_DEVICE, sizeof(d), &d, NULL) !=
	    CL_SUCCESS || !device_direct(d) ||
	    clGetCommandQueueInfo(q, CL_QUEUE_CONTEXT, sizeof(qc), &qc,
				  NULL) != CL_SUCCESS ||
	    clGetMemObjectInfo(mem, CL_MEM_CONTEXT, sizeof(mc), &mc, NULL) !=
	    CL_SUCCESS || qc != mc ||
	    clGetMemObjectInfo(mem, CL_MEM_FLAGS, sizeof(f), &f, NULL) !=
	    CL_SUCCESS ||
	    clGetMemObjectInfo(mem, CL_MEM_SIZE, sizeof(msize), &msize,
			       NULL) != CL_SUCCESS ||
	    (b->mem != mem &&
	     clGetMemObjectInfo(mem, CL_MEM_OFFSET, sizeof(origin), &origin,
				NULL) != CL_SUCCESS))
		return false;
	cl_mem_flags refused = CL_MEM_HOST_NO_ACCESS |
			       (write ? CL_MEM_HOST_READ_ONLY
				      : CL_MEM_HOST_WRITE_ONLY);
	/* The range within mem, and mem (a sub-buffer at origin) within
	 * the heap's range of its buffer. */
	if ((f & refused) || offset > msize || size > msize - offset ||
	    origin > b->size || msize > b->size - origin)
		return false;
	*heap = ava_heap_id(b->heap);
	*where = b->off + origin + offset;
	return true;
}

/* ---- staged writes ------------------------------------------------------ */

/* A range of the heap that holds a non-blocking write's bytes, from the
 * guest's copy until the command that reads them completes, or a new
 * buffer's, until the buffer takes the range over. */
struct ava_cl_stage {
	struct ava_heap *heap;  /* a reference */
	uint64_t off, size;
};

static struct {
	pthread_mutex_t lock;
	struct ava_u64map by_id;   /* stage id -> struct ava_cl_stage * */
	uint64_t next;
	bool init;
} S = { .lock = PTHREAD_MUTEX_INITIALIZER };

bool
ava_cl_stage_new(size_t size, uint64_t *heap, uint64_t *where,
		 uint64_t *id)
{
	struct ava_heap *h = ava_session_heap();
	struct ava_cl_stage *st;
	if (h == NULL || size == 0 || (st = calloc(1, sizeof(*st))) == NULL)
		return false;
	if (ava_heap_alloc(h, size, &st->off) < 0) {
		free(st);
		return false;
	}
	ava_heap_get(h);
	st->heap = h;
	st->size = size;
	pthread_mutex_lock(&S.lock);
	if (!S.init) {
		ava_u64map_init(&S.by_id);
		S.init = true;
	}
	*id = ++S.next;
	bool kept = ava_u64map_put(&S.by_id, *id, (uint64_t)(uintptr_t)st) == 0;
	pthread_mutex_unlock(&S.lock);
	if (!kept) {
		ava_cl_stage_free(st);
		return false;
	}
	*heap = ava_heap_id(h);
	*where = st->off;
	return true;
}

struct ava_cl_stage *
ava_cl_stage_take(uint64_t id, size_t size, void **at)
{
	uint64_t v = 0;
	pthread_mutex_lock(&S.lock);
	bool found = S.init && ava_u64map_get(&S.by_id, id, &v) &&
		     size <= ((struct ava_cl_stage *)(uintptr_t)v)->size;
	if (found)
		ava_u64map_del(&S.by_id, id);
	pthread_mutex_unlock(&S.lock);
	if (!found)
		return NULL;
	struct ava_cl_stage *st = (struct ava_cl_stage *)(uintptr_t)v;
	*at = ava_heap_base(st->heap) + st->off;
	return st;
}

cl_mem
ava_cl_stage_adopt(struct ava_cl_stage *st, cl_context ctx,
		   cl_mem_flags flags, size_t size, cl_int *err)
{
	/* A journal records a refused creation with the stage's bytes:
	 * they go back once the call's REPLY is out. */
	bool later = ava_session_journaled();
	struct shared *b = calloc(1, sizeof(*b));
	if (b == NULL || size != st->size) {
		if (err != NULL)
			*err = b == NULL ? CL_OUT_OF_HOST_MEMORY
					 : CL_INVALID_VALUE;
		free(b);
		if (later)
			ava_session_after_reply(ava_cl_stage_free, st);
		else
			ava_cl_stage_free(st);
		return NULL;
	}
	/* The stage's range and heap reference pass to the buffer. */
	b->heap = st->heap;
	b->off = st->off;
	b->size = st->size;
	b->flags = flags;
	free(st);
	return make_over(b, ctx, NULL, false, later, err);
}

void
ava_cl_stage_free(void *data)
{
	struct ava_cl_stage *st = data;
	ava_heap_free(st->heap, st->off, st->size);
	ava_heap_put(st->heap);
	free(st);
}
