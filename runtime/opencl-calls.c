/*
 * opencl-calls.c - the server side of ava's own OpenCL calls
 * (opencl-ava-calls.h), which the generated dispatch calls by name.
 *
 * The marshaller has checked every buffer against its size argument
 * already; what is left to check here is that the size agrees with the
 * call's other arguments (a region, an image's format) before the real
 * function reads or writes that many bytes. A size that does not agree
 * makes the real call see a NULL host pointer, so it fails as it would
 * natively, without touching memory.
 *
 * Mappings live on as real mappings until the guest unmaps them: a table
 * of this worker process (one session) remembers each one by the id the
 * guest got, with a reference on its memory object.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opencl-ava-calls.h"
#include "opencl-desc.h"
#include "opencl-layout.h"
#include "opencl-server-private.h"
#include "server-ctx.h"
#include "shared-heap.h"

struct mapping {
	cl_ulong id;
	cl_mem mem;             /* retained while mapped */
	void *ptr;              /* the real mapping */
	size_t size;            /* packed bytes the guest sees */
	size_t row_bytes;       /* images: a packed row */
	size_t ny, nz;          /* images: rows and slices */
	size_t ystep, zstep;    /* images: of the real mapping */
	bool image;
};

static struct {
	pthread_mutex_t lock;
	struct mapping *v;
	size_t n, cap;
	cl_ulong next_id;
} maps = { .lock = PTHREAD_MUTEX_INITIALIZER, .next_id = 1 };

static cl_int
map_add(struct mapping *m, cl_ulong *id)
{
	cl_int err = CL_SUCCESS;
	pthread_mutex_lock(&maps.lock);
	if (maps.n == maps.cap) {
		size_t cap = maps.cap ? 2 * maps.cap : 16;
		struct mapping *v = realloc(maps.v, cap * sizeof(*v));
		if (v == NULL) {
			err = CL_OUT_OF_HOST_MEMORY;
			goto out;
		}
		maps.v = v;
		maps.cap = cap;
	}
	m->id = maps.next_id++;
	maps.v[maps.n++] = *m;
	if (id != NULL)
		*id = m->id;
out:
	pthread_mutex_unlock(&maps.lock);
	return err;
}

/* Take mapping id of mem out of the table into *m. */
static bool
map_take(cl_mem mem, cl_ulong id, struct mapping *m)
{
	bool found = false;
	pthread_mutex_lock(&maps.lock);
	for (size_t i = 0; i < maps.n && !found; i++) {
		if (maps.v[i].id != id || maps.v[i].mem != mem)
			continue;
		*m = maps.v[i];
		maps.v[i] = maps.v[--maps.n];
		found = true;
	}
	pthread_mutex_unlock(&maps.lock);
	return found;
}

/* A mapping whose unmap failed stays, as it does natively. */
static void
map_put_back(struct mapping *m)
{
	pthread_mutex_lock(&maps.lock);
	if (maps.n < maps.cap)  /* its slot is still there */
		maps.v[maps.n++] = *m;
	pthread_mutex_unlock(&maps.lock);
}

/* Record a mapping the real call made; undo it if it cannot be kept. */
static cl_int
keep_mapping(cl_command_queue q, struct mapping *m, cl_ulong *map_id)
{
	clRetainMemObject(m->mem);
	cl_int err = map_add(m, map_id);
	if (err != CL_SUCCESS) {
		clEnqueueUnmapMemObject(q, m->mem, m->ptr, 0, NULL, NULL);
		clReleaseMemObject(m->mem);
	}
	return err;
}

cl_int
avaclEnqueueMapBuffer(cl_command_queue q, cl_mem buffer, cl_map_flags flags,
		      size_t offset, size_t size, void *data, cl_ulong *map_id,
		      cl_uint nev, const cl_event *wl, cl_event *event)
{
	cl_int err;
	void *p = clEnqueueMapBuffer(q, buffer, CL_TRUE, flags, offset, size,
				     nev, wl, event, &err);
	if (p == NULL || err != CL_SUCCESS)
		return err != CL_SUCCESS ? err : CL_MAP_FAILURE;
	/* data holds `size` bytes: the marshaller sized it from `size`. */
	if (data != NULL)
		memcpy(data, p, size);
	struct mapping m = { .mem = buffer, .ptr = p, .size = size };
	return keep_mapping(q, &m, map_id);
}

/* End a mapping taken out of the table: it goes back if the unmap
 * fails, as it stays natively. */
static cl_int
unmap(cl_command_queue q, struct mapping *m, cl_uint nev, const cl_event *wl,
      cl_event *event)
{
	cl_int err = clEnqueueUnmapMemObject(q, m->mem, m->ptr, nev, wl,
					     event);
	if (err != CL_SUCCESS) {
		map_put_back(m);
		return err;
	}
	clReleaseMemObject(m->mem);
	return CL_SUCCESS;
}

/*
 * With a journal, the guest's copies into and out of the heap are no
 * calls, so a direct transfer is recorded as the plain calls that do the
 * same (doc/journal.md, "Transfers through the shared heap"): a read as
 * the read, at its acquire, when the buffer's bytes are final; a write
 * as the write, at its release, once the guest has copied, in its
 * acquire's place in the journal's order; between the two, this thread
 * keeps the write's range. An acquire, a release or a stage that the
 * guest must follow with the plain call (no heap for it, or a journal)
 * records nothing, and the plain call takes its place. A transfer that
 * would map is not made with a journal: the guest forwards it, and the
 * journal sees its bytes.
 */
static _Thread_local struct {
	cl_mem buffer;
	cl_bool blocking;
	size_t offset, size;
	const uint8_t *at;
} pending;

/* The heap's bytes at where, in the heap named heap. */
static const uint8_t *
heap_at(uint64_t heap, uint64_t where)
{
	struct ava_heap *h = ava_session_heap();
	return h != NULL && ava_heap_id(h) == heap ? ava_heap_base(h) + where
						   : NULL;
}

/* clEnqueueRead/WriteBuffer(q, buffer, blocking, offset, size, ptr, 0,
 * NULL, NULL), whose ptr's bytes are at. */
static void
journal_transfer(bool write, cl_command_queue q, cl_mem buffer,
		 cl_bool blocking, size_t offset, size_t size,
		 const uint8_t *at, cl_int ret)
{
	struct ava_session_as as = {
		.fn = write ? AVA_OPENCL_FN_clEnqueueWriteBuffer
			    : AVA_OPENCL_FN_clEnqueueReadBuffer,
		.v = { (uintptr_t)q, (uintptr_t)buffer, blocking, offset,
		       size },
		.buf = 5, .bytes = at, .len = size, .list = -1, .ret = ret };
	ava_session_journal_as(&as);
}

/* A direct transfer's acquire, journaled: a read is recorded now, a
 * write's range kept for its release. */
static void
journal_acquire(bool write, cl_command_queue q, cl_mem buffer,
		cl_bool blocking, size_t offset, size_t size, uint64_t heap,
		uint64_t where, cl_int ret)
{
	const uint8_t *at = heap_at(heap, where);
	pending.buffer = NULL;
	if (at == NULL)
		return;
	if (!write || ret != CL_SUCCESS) {
		journal_transfer(write, q, buffer, blocking, offset, size, at,
				 ret);
		return;
	}
	ava_session_journal_hold();
	pending = (__typeof__(pending)){ buffer, blocking, offset, size, at };
}

cl_int
avaclAcquireBuffer(cl_command_queue q, cl_mem buffer, cl_bool write,
		   size_t offset, size_t size, cl_ulong *heap, cl_ulong *where,
		   cl_ulong *map_id, cl_uint nev, const cl_event *wl)
{
	bool journaled = ava_session_journaled();
	*heap = *where = *map_id = 0;
	if (!ava_cl_shared(buffer)) {
		ava_session_journal_hold();
		return CL_SUCCESS;
	}
	uint64_t dh, dw;
	if (nev == 0 &&
	    ava_cl_shared_direct(q, buffer, write, offset, size, &dh, &dw)) {
		/* The queue's commands done, the buffer's storage is the
		 * range itself: nothing to map. */
		cl_int e = clFinish(q);
		if (journaled)
			journal_acquire(write, q, buffer, CL_TRUE, offset, size,
					dh, dw, e);
		if (e != CL_SUCCESS)
			return e;
		*heap = dh;
		*where = dw;
		/* A write's release follows the guest's copy: at 1 GB/s or
		 * faster, it is due within size / 1000 us. */
		if (write)
			ava_session_expect_next((unsigned)(size / 1000u > 1 ?
							   size / 1000u : 1));
		return CL_SUCCESS;
	}
	if (journaled) {
		ava_session_journal_hold();
		return CL_SUCCESS;
	}
	cl_int err;
	cl_map_flags flags = write ? CL_MAP_WRITE_INVALIDATE_REGION
				   : CL_MAP_READ;
	void *p = clEnqueueMapBuffer(q, buffer, CL_TRUE, flags, offset, size,
				     nev, wl, NULL, &err);
	if (p == NULL || err != CL_SUCCESS)
		return err != CL_SUCCESS ? err : CL_MAP_FAILURE;
	uint64_t h, w;
	if (!ava_cl_shared_in(buffer, p, size, &h, &w)) {
		/* Mapped elsewhere after all: the guest copies its way. */
		clEnqueueUnmapMemObject(q, buffer, p, 0, NULL, NULL);
		return CL_SUCCESS;
	}
	struct mapping m = { .mem = buffer, .ptr = p, .size = size };
	if ((err = keep_mapping(q, &m, map_id)) != CL_SUCCESS)
		return err;
	*heap = h;
	*where = w;
	return CL_SUCCESS;
}

/*
 * Are q's commands all over? A marker without a wait list completes once
 * every command before it has. On the project's PoCL a marker enqueued
 * into an idle queue is CL_RUNNING at once, and CL_COMPLETE 16 to 60 us
 * later, when the driver's worker has seen it; behind any command not
 * yet over (a kernel, a write, one that waits for a user event the guest
 * sets later) it is CL_QUEUED. So a queued marker answers "busy" without
 * a wait, and a running one is waited for by yielding, as long as a copy
 * of size bytes would take at 4 GB/s (1 ms for 4 MiB), in case another
 * implementation runs a marker before the commands it follows. A marker
 * left behind changes nothing.
 */
static bool
queue_idle(cl_command_queue q, size_t size)
{
	cl_event mk;
	cl_int st = CL_QUEUED;
	if (clEnqueueMarkerWithWaitList(q, 0, NULL, &mk) != CL_SUCCESS)
		return false;
	if (clGetEventInfo(mk, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof(st),
			   &st, NULL) != CL_SUCCESS)
		st = CL_QUEUED;
	if (st != CL_QUEUED)
		clFlush(q);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int64_t budget_ns = (int64_t)(size / 4096u) * 1000 + 20000;
	while (st > CL_COMPLETE && st != CL_QUEUED) {
		sched_yield();
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((int64_t)(t.tv_sec - t0.tv_sec) * 1000000000 +
		    (t.tv_nsec - t0.tv_nsec) > budget_ns ||
		    clGetEventInfo(mk, CL_EVENT_COMMAND_EXECUTION_STATUS,
				   sizeof(st), &st, NULL) != CL_SUCCESS)
			break;
	}
	clReleaseEvent(mk);
	return st == CL_COMPLETE;
}

cl_int
avaclAcquireIdle(cl_command_queue q, cl_mem buffer, size_t offset,
		 size_t size, cl_ulong *heap, cl_ulong *where)
{
	cl_command_queue_properties props;
	uint64_t dh, dw;
	*heap = *where = 0;
	if (!ava_cl_shared(buffer) ||
	    clGetCommandQueueInfo(q, CL_QUEUE_PROPERTIES, sizeof(props),
				  &props, NULL) != CL_SUCCESS ||
	    (props & CL_QUEUE_PROFILING_ENABLE) ||
	    !ava_cl_shared_direct(q, buffer, true, offset, size, &dh, &dw) ||
	    !queue_idle(q, size)) {
		ava_session_journal_hold();
		return CL_SUCCESS;
	}
	*heap = dh;
	*where = dw;
	if (ava_session_journaled())
		journal_acquire(true, q, buffer, CL_FALSE, offset, size, dh, dw,
				CL_SUCCESS);
	ava_session_expect_next((unsigned)(size / 1000u > 1 ? size / 1000u
							    : 1));
	return CL_SUCCESS;
}

cl_int
avaclReleaseBuffer(cl_command_queue q, cl_mem buffer, cl_ulong map_id,
		   cl_ulong heap, cl_uint *found)
{
	struct mapping m;
	if (map_id == 0) {   /* a direct transfer: was it into our heap? */
		*found = heap != 0 && heap == ava_cl_shared_heap_id() &&
			 ava_cl_shared(buffer);
		if (!ava_session_journaled())
			return CL_SUCCESS;
		/* A write the journal has no range for is not taken: the
		 * guest sends it again as a call. */
		*found = *found && pending.buffer == buffer;
		if (*found)
			journal_transfer(true, q, buffer, pending.blocking,
					 pending.offset, pending.size,
					 pending.at, CL_SUCCESS);
		else
			ava_session_journal_hold();
		pending.buffer = NULL;
		return CL_SUCCESS;
	}
	*found = map_take(buffer, map_id, &m);
	return *found ? unmap(q, &m, 0, NULL, NULL) : CL_SUCCESS;
}

/*
 * Host storage that a non-blocking write reads (a stage, a copy of the
 * received bytes) and that no callback will free, because the
 * implementation refused clSetEventCallback: kept here with the write's
 * event, and freed by a later ava_cl_late_sweep() once the command is
 * over. The call cannot wait for the command itself: a staged write's
 * gate opens only after the reply, and any write may wait for a user
 * event that the guest sets after this call.
 */
struct late {
	cl_event ev;
	void (*done)(void *);
	void *data;
	struct late *next;
};

static struct {
	pthread_mutex_t lock;
	struct late *list;
} Late = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Without memory to keep it, the storage stays taken until the session
 * ends: lost memory, never bytes. */
void
ava_cl_late_add(cl_event ev, void (*done)(void *), void *data)
{
	struct late *l = malloc(sizeof(*l));
	if (l == NULL)
		return;
	clRetainEvent(ev);
	*l = (struct late){ .ev = ev, .done = done, .data = data };
	pthread_mutex_lock(&Late.lock);
	l->next = Late.list;
	Late.list = l;
	pthread_mutex_unlock(&Late.lock);
}

void
ava_cl_late_sweep(void)
{
	pthread_mutex_lock(&Late.lock);
	for (struct late **p = &Late.list; *p != NULL;) {
		struct late *l = *p;
		/* Not known to be over: kept, as the command may yet read. */
		cl_int st = CL_QUEUED;
		if (clGetEventInfo(l->ev, CL_EVENT_COMMAND_EXECUTION_STATUS,
				   sizeof(st), &st, NULL) != CL_SUCCESS ||
		    st > CL_COMPLETE) {
			p = &l->next;
			continue;
		}
		*p = l->next;
		clReleaseEvent(l->ev);
		l->done(l->data);
		free(l);
	}
	pthread_mutex_unlock(&Late.lock);
}

cl_int
avaclStageBytes(size_t size, cl_ulong *heap, cl_ulong *where,
		cl_ulong *stage)
{
	uint64_t h, w, id;
	*heap = *where = *stage = 0;
	ava_cl_late_sweep();
	/* Recorded as nothing: the staged write or creation that follows
	 * is recorded as the plain call, with the stage's bytes, in this
	 * one's place; a plain call that follows a refusal, likewise. */
	ava_session_journal_hold();
	if (ava_cl_stage_new(size, &h, &w, &id)) {
		*heap = h;
		*where = w;
		*stage = id;
	}
	return CL_SUCCESS;
}

/* The stage's range goes back once the command is over (CL_COMPLETE
 * callbacks also run when it fails), or, where the callback is refused,
 * from ava_cl_late_sweep(). */
static void CL_CALLBACK
stage_done(cl_event ev, cl_int status, void *data)
{
	ava_cl_stage_free(data);
}

#define GATED_WAIT_MAX 63   /* a longer wait list: the write is not gated */
_Static_assert(GATED_WAIT_MAX <= AVA_SESSION_AS_LIST,
	       "a gated write's wait list fits a journal's record of it");

/* The gate of a staged write opens: its command may start. */
static void
open_gate(void *gate)
{
	clSetUserEventStatus(gate, CL_COMPLETE);
	clReleaseEvent(gate);
}

/*
 * The write waits for a user event of our own, a gate, which opens once
 * the REPLY is out. Started at once, the driver's worker would wake to
 * copy while the guest waits for its answer: with as many CPUs as there
 * are busy threads, the copy could hold the guest off its CPU for its
 * whole length (3 ms for 4 MiB on the project's VM). Opened after the
 * reply, the worker copies while the guest goes on, as natively. Where
 * no gate can be made, the write starts at once, unless must (a journal,
 * which copies the stage's bytes after the call, and needs them there
 * until then): nothing is enqueued then, CL_OUT_OF_RESOURCES.
 */
static cl_int
enqueue_gated(cl_command_queue q, cl_mem buffer, size_t offset, size_t size,
	      const void *at, cl_uint nev, const cl_event *wl, cl_event *ev,
	      bool must)
{
	cl_context ctx;
	cl_event gate = NULL, all[GATED_WAIT_MAX + 1];
	/* A wait list the real call refuses (a count without a list, a list
	 * without a count) stays as it is, so that it is refused. */
	if (nev <= GATED_WAIT_MAX && (nev == 0) == (wl == NULL) &&
	    clGetCommandQueueInfo(q, CL_QUEUE_CONTEXT, sizeof(ctx), &ctx,
				  NULL) == CL_SUCCESS)
		gate = clCreateUserEvent(ctx, NULL);
	if (gate == NULL)
		return must ? CL_OUT_OF_RESOURCES
			    : clEnqueueWriteBuffer(q, buffer, CL_FALSE, offset,
						   size, at, nev, wl, ev);
	all[0] = gate;
	if (nev > 0)
		memcpy(all + 1, wl, nev * sizeof(*wl));
	cl_int err = clEnqueueWriteBuffer(q, buffer, CL_FALSE, offset, size,
					  at, nev + 1, all, ev);
	/* Refused: the guest sends the write as it is, which answers as
	 * natively. */
	if (err == CL_SUCCESS)
		ava_session_after_reply(open_gate, gate);
	else
		clReleaseEvent(gate);
	return err;
}

cl_int
avaclEnqueueWriteStaged(cl_command_queue q, cl_mem buffer, size_t offset,
			size_t size, cl_ulong stage, cl_uint nev,
			const cl_event *wl, cl_event *event)
{
	void *at;
	struct ava_cl_stage *st = ava_cl_stage_take(stage, size, &at);
	if (st == NULL) {
		/* The session moved since the stage: the guest sends the
		 * plain write, which takes this place. */
		ava_session_journal_hold();
		return CL_INVALID_VALUE;
	}
	cl_event ev;
	cl_int err = enqueue_gated(q, buffer, offset, size, at, nev, wl, &ev,
				   ava_session_journaled());
	if (err != CL_SUCCESS) {
		/* The guest sends the plain write, which takes this place. */
		ava_session_journal_hold();
		ava_cl_stage_free(st);
		return err;
	}
	/* Recorded as the plain write, from the stage's bytes, which stay
	 * there until the write is over, after the REPLY (its gate); its
	 * wait list, at most GATED_WAIT_MAX, fits a record's. */
	struct ava_session_as as = {
		.fn = AVA_OPENCL_FN_clEnqueueWriteBuffer,
		.v = { (uintptr_t)q, (uintptr_t)buffer, CL_FALSE, offset, size,
		       0, nev, 0, event != NULL ? (uintptr_t)ev : 0 },
		.buf = 5, .bytes = at, .len = size,
		.list = nev > 0 ? 7 : -1, .objs = (const void *const *)wl,
		.nobjs = nev,
		.ret = CL_SUCCESS };
	ava_session_journal_as(&as);
	if (clSetEventCallback(ev, CL_COMPLETE, stage_done, st) !=
	    CL_SUCCESS)
		ava_cl_late_add(ev, ava_cl_stage_free, st);
	if (event != NULL)
		*event = ev;
	else
		clReleaseEvent(ev);
	return CL_SUCCESS;
}

cl_mem
avaclCreateBufferStaged(cl_context context, cl_mem_flags flags, size_t size,
			cl_ulong stage, cl_int *errcode_ret)
{
	cl_int e;
	cl_int *err = errcode_ret != NULL ? errcode_ret : &e;
	const cl_mem_flags host = CL_MEM_COPY_HOST_PTR | CL_MEM_USE_HOST_PTR;
	void *at;
	struct ava_cl_stage *st = NULL;
	if ((flags & host) != CL_MEM_COPY_HOST_PTR || size == 0 ||
	    (!ava_session_rebuilding() &&
	     (st = ava_cl_stage_take(stage, size, &at)) == NULL)) {
		*err = CL_INVALID_VALUE;
		return NULL;
	}
	if (st != NULL) {
		cl_mem mem = ava_cl_stage_adopt(st, context, flags, size, err);
		/* Recorded as the plain creation, with the stage's bytes, which
		 * are the buffer's now. */
		struct ava_session_as as = {
			.fn = AVA_OPENCL_FN_clCreateBuffer,
			.v = { (uintptr_t)context, flags, size, 0,
			       errcode_ret != NULL },
			.out = { [4] = (uint64_t)(int64_t)*err },
			.buf = 3, .bytes = at, .len = size, .list = -1,
			.ret = (int64_t)(uintptr_t)mem };
		ava_session_journal_as(&as);
		return mem;
	}
	/* A kept call run again: its stage is long gone, and the contents
	 * are written back after it. */
	void *zeros = calloc(1, size);
	if (zeros == NULL) {
		*err = CL_OUT_OF_HOST_MEMORY;
		return NULL;
	}
	cl_mem mem = ava_cl_shared_create(context, NULL, false, flags, size,
					  zeros, err);
	if (mem == NULL)
		mem = clCreateBuffer(context, flags, size, zeros, err);
	free(zeros);
	return mem;
}

/* The element size and type of an image; false if it is none. */
static bool
image_info(cl_mem image, size_t *elem, cl_mem_object_type *type)
{
	return clGetImageInfo(image, CL_IMAGE_ELEMENT_SIZE, sizeof(*elem),
			      elem, NULL) == CL_SUCCESS &&
	       clGetMemObjectInfo(image, CL_MEM_TYPE, sizeof(*type), type,
				  NULL) == CL_SUCCESS && *elem > 0;
}

/* Does size hold exactly the packed region of an image? */
static bool
image_packed(cl_mem image, const size_t *region, size_t size,
	     cl_mem_object_type *type, size_t *elem)
{
	size_t n;
	return region != NULL && image_info(image, elem, type) &&
	       ava_cl_region_bytes(region, *elem, &n) && n == size;
}

cl_int
avaclEnqueueMapImage(cl_command_queue q, cl_mem image, cl_map_flags flags,
		     const size_t *origin, const size_t *region,
		     size_t *row_pitch, size_t *slice_pitch, size_t size,
		     void *data, cl_ulong *map_id, cl_uint nev,
		     const cl_event *wl, cl_event *event)
{
	cl_mem_object_type type = 0;
	size_t elem = 0;
	/* A NULL region makes the real call refuse, as natively; so does a
	 * NULL row pitch, which the packing below needs. */
	if (!image_packed(image, region, size, &type, &elem) ||
	    row_pitch == NULL)
		region = NULL;
	cl_int err;
	void *p = clEnqueueMapImage(q, image, CL_TRUE, flags, origin, region,
				    row_pitch, slice_pitch, nev, wl, event,
				    &err);
	if (p == NULL || err != CL_SUCCESS)
		return err != CL_SUCCESS ? err : CL_MAP_FAILURE;
	struct mapping m = { .mem = image, .ptr = p, .size = size,
		.image = true, .row_bytes = elem * region[0],
		.ny = region[1], .nz = region[2] };
	ava_cl_steps(type, *row_pitch, slice_pitch ? *slice_pitch : 0,
		     &m.ystep, &m.zstep);
	if (data != NULL)
		ava_cl_copy_region(data, m.row_bytes, m.row_bytes * m.ny, p,
				   m.ystep, m.zstep, m.row_bytes, m.ny, m.nz);
	return keep_mapping(q, &m, map_id);
}

cl_int
avaclEnqueueUnmapMemObject(cl_command_queue q, cl_mem mem, cl_ulong map_id,
			   size_t size, const void *data, cl_uint nev,
			   const cl_event *wl, cl_event *event)
{
	struct mapping m;
	if (!map_take(mem, map_id, &m))
		return clEnqueueUnmapMemObject(q, mem, NULL, nev, wl, event);
	if (size != 0 && size != m.size) {
		map_put_back(&m);
		return CL_INVALID_VALUE;
	}
	if (size != 0 && m.image)
		ava_cl_copy_region(m.ptr, m.ystep, m.zstep, data, m.row_bytes,
				   m.row_bytes * m.ny, m.row_bytes, m.ny, m.nz);
	else if (size != 0)
		memcpy(m.ptr, data, size);
	return unmap(q, &m, nev, wl, event);
}

/* The real call gets ptr only if size is the region's packed size. */
static const void *
checked(const size_t *region, size_t elem, size_t size, const void *ptr)
{
	size_t n;
	if (ptr == NULL || region == NULL ||
	    !ava_cl_region_bytes(region, elem, &n) || n != size)
		return NULL;
	return ptr;
}

static const size_t zero_origin[3];

cl_int
avaclEnqueueReadBufferRect(cl_command_queue q, cl_mem buffer,
			   const size_t *buffer_origin, const size_t *region,
			   size_t buffer_row_pitch, size_t buffer_slice_pitch,
			   size_t size, void *ptr, cl_uint nev,
			   const cl_event *wl, cl_event *event)
{
	/* Packed host rows: pitches of 0 are the tight defaults. */
	return clEnqueueReadBufferRect(q, buffer, CL_TRUE, buffer_origin,
				       zero_origin, region, buffer_row_pitch,
				       buffer_slice_pitch, 0, 0,
				       (void *)checked(region, 1, size, ptr),
				       nev, wl, event);
}

cl_int
avaclEnqueueWriteBufferRect(cl_command_queue q, cl_mem buffer,
			    const size_t *buffer_origin, const size_t *region,
			    size_t buffer_row_pitch, size_t buffer_slice_pitch,
			    size_t size, const void *ptr, cl_uint nev,
			    const cl_event *wl, cl_event *event)
{
	/* Blocking: ptr is the call's payload, which dies with the call. */
	return clEnqueueWriteBufferRect(q, buffer, CL_TRUE, buffer_origin,
					zero_origin, region, buffer_row_pitch,
					buffer_slice_pitch, 0, 0,
					checked(region, 1, size, ptr), nev, wl,
					event);
}

cl_int
avaclEnqueueReadImage(cl_command_queue q, cl_mem image, const size_t *origin,
		      const size_t *region, size_t size, void *ptr,
		      cl_uint nev, const cl_event *wl, cl_event *event)
{
	cl_mem_object_type type;
	size_t elem = 0;
	if (!image_info(image, &elem, &type))
		ptr = NULL;
	return clEnqueueReadImage(q, image, CL_TRUE, origin, region, 0, 0,
				  (void *)checked(region, elem, size, ptr),
				  nev, wl, event);
}

cl_int
avaclEnqueueWriteImage(cl_command_queue q, cl_mem image,
		       const size_t *origin, const size_t *region, size_t size,
		       const void *ptr, cl_uint nev, const cl_event *wl,
		       cl_event *event)
{
	cl_mem_object_type type;
	size_t elem = 0;
	if (!image_info(image, &elem, &type))
		ptr = NULL;
	return clEnqueueWriteImage(q, image, CL_TRUE, origin, region, 0, 0,
				   checked(region, elem, size, ptr), nev, wl,
				   event);
}

static void CL_CALLBACK
free_host_copy(cl_mem mem, void *copy)
{
	(void)mem;
	free(copy);
}

bool
ava_cl_host_copy(cl_mem_flags flags, const void *host_ptr, size_t size,
		 void **copy)
{
	*copy = NULL;
	if (!(flags & CL_MEM_USE_HOST_PTR) || host_ptr == NULL)
		return true;
	/* Aligned as generously as any device asks a host pointer to be. */
	if (posix_memalign(copy, 4096, size ? size : 1) != 0) {
		*copy = NULL;
		return false;
	}
	memcpy(*copy, host_ptr, size);
	return true;
}

void
ava_cl_host_copy_keep(cl_mem mem, void *copy)
{
	if (copy == NULL)
		return;
	if (mem == NULL)
		free(copy);
	else if (clSetMemObjectDestructorCallback(mem, free_host_copy, copy) !=
		 CL_SUCCESS) {
		/* The buffer uses the copy for its whole life, and nothing
		 * would tell us when that ends: it stays allocated. */
	}
}

/* host_ptr only if host_size is what the format and description make of
 * it (flags without COPY/USE: whatever the marshaller passed). */
static void *
image_host_ptr(cl_mem_flags flags, const cl_image_format *format,
	       const cl_image_desc *desc, size_t host_size, void *host_ptr)
{
	size_t rp, sp, n;
	if (host_ptr == NULL ||
	    !(flags & (CL_MEM_COPY_HOST_PTR | CL_MEM_USE_HOST_PTR)))
		return host_ptr;
	size_t elem = ava_cl_format_elem_size(format);
	if (desc == NULL || elem == 0 ||
	    !ava_cl_image_host_bytes(desc, elem, &rp, &sp, &n) ||
	    n != host_size)
		return NULL;
	return host_ptr;
}

cl_mem
avaclCreateImage(cl_context context, const cl_mem_properties *properties,
		 cl_mem_flags flags, const cl_image_format *format,
		 const cl_image_desc *desc, cl_mem desc_buffer,
		 size_t host_size, void *host_ptr, cl_int *errcode_ret)
{
	cl_image_desc d;
	if (desc != NULL) {
		d = *desc;
		d.buffer = desc_buffer;
	}
	void *hp = image_host_ptr(flags, format, desc, host_size, host_ptr);
	void *copy;
	if (!ava_cl_host_copy(flags, hp, host_size, &copy)) {
		if (errcode_ret != NULL)
			*errcode_ret = CL_OUT_OF_HOST_MEMORY;
		return NULL;
	}
	if (copy != NULL)
		hp = copy;
	const cl_image_desc *dp = desc ? &d : NULL;
	cl_mem mem = properties != NULL
		? clCreateImageWithProperties(context, properties, flags,
					      format, dp, hp, errcode_ret)
		: clCreateImage(context, flags, format, dp, hp, errcode_ret);
	ava_cl_host_copy_keep(mem, copy);
	return mem;
}

cl_int
avaclCreateSubDevices(cl_device_id in_device,
		      const cl_device_partition_property *properties,
		      cl_uint n, cl_uint num_devices, cl_device_id *out_devices,
		      cl_uint *num_devices_ret)
{
	if (properties == NULL)
		return clCreateSubDevices(in_device, NULL, num_devices,
					  out_devices, num_devices_ret);
	if (n == 0 || properties[n - 1] != 0)
		return CL_INVALID_VALUE;
	/* The implementation scans the list for its terminators: two more
	 * zeros keep a list that lacks the inner one from running off. */
	cl_device_partition_property *p = calloc((size_t)n + 2, sizeof(*p));
	if (p == NULL)
		return CL_OUT_OF_HOST_MEMORY;
	memcpy(p, properties, n * sizeof(*p));
	cl_int err = clCreateSubDevices(in_device, p, num_devices, out_devices,
					num_devices_ret);
	free(p);
	return err;
}
