/*
 * opencl-shared.c - blocking transfers of buffers in the session's
 * shared heap (runtime/shared-heap.h, doc/protocol.md "Shared buffers"):
 * one copy, made here, between the application's memory and the buffer's
 * own storage, which the server mapped for the purpose.
 *
 * A write or read of at least AVA_CL_SHARED_MIN bytes, blocking, without
 * an event for the application, asks the server to map the range
 * (avaclAcquireBuffer: it waits for the queue as the real transfer
 * would), copies, and has it unmapped (avaclReleaseBuffer). On a CPU
 * device the server maps nothing (the buffer's storage is the range) and
 * only finishes the queue: a read is then over once copied, and a write's
 * release only confirms where it went. Anything else,
 * and a buffer the server says is not in the heap, takes the forwarded
 * call, as does a write whose mapping the server no longer has at release:
 * the session moved after the map, perhaps before the copy reached the
 * buffer, so the write is made again where it went. A read's bytes were
 * right whenever it was.
 *
 * A non-blocking write of at least AVA_CL_SHARED_MIN bytes, to any
 * buffer, is staged: copied here into a range of the heap, from which the
 * server enqueues it (avaclStageBytes, avaclEnqueueWriteStaged). The
 * server then never copies the bytes, as it must for a forwarded
 * non-blocking write, whose bytes die with the call. A buffer of that
 * size made with CL_MEM_COPY_HOST_PTR is staged alike, and made over the
 * stage's range (avaclCreateBufferStaged).
 */
#include "opencl-mem.h"

#include <string.h>
#include <sys/mman.h>

#include "guest-private.h"
#include "opencl-ava-calls.h"
#include "shared-heap.h"

enum { SHARED_DONE, SHARED_NOT, SHARED_AGAIN };

static bool
known_unshared(cl_mem buffer)
{
	struct ava_cl_mem *rec = ava_cl_mem_get(buffer);
	return rec != NULL && rec->unshared;
}

static void
note_unshared(cl_mem buffer)
{
	struct ava_cl_mem *rec = ava_cl_mem_ensure(buffer);
	if (rec != NULL)
		rec->unshared = true;   /* a plain store: only ever set */
}

/* Does [where, where + size) lie in h, the heap the server named? */
static bool
in_heap(const struct ava_heap *h, cl_ulong heap, cl_ulong where, size_t size)
{
	return heap == ava_heap_id(h) && where <= ava_heap_size(h) &&
	       size <= ava_heap_size(h) - where;
}

/*
 * Copy into the heap. Its pages are shared memory, which the kernel makes
 * one fault at a time on first touch, at about twice the cost of a
 * private page's; MADV_POPULATE_WRITE takes the faults of a whole range
 * in one call. `itest-vecadd`'s blocking 4 MiB write into a new buffer
 * took 3.37 and 3.46 ms without it, 2.81 and 3.08 ms with it (medians of
 * 20 runs, two sets, on the project's VM). On pages already there it
 * costs about 0.15 us a page for nothing (2.5 ms for 64 MiB, against a
 * 5.9 ms copy), so it is only asked for when the range's first page is
 * not in memory yet: a new range, not one written before or kept.
 */
static void
copy_in(uint8_t *dst, const void *src, size_t n)
{
#ifdef MADV_POPULATE_WRITE
	uintptr_t page = (uintptr_t)dst & ~(uintptr_t)(AVA_HEAP_ALIGN - 1);
	unsigned char in = 1;
	if (mincore((void *)page, AVA_HEAP_ALIGN, &in) == 0 && !(in & 1))
		(void)madvise((void *)page, (uintptr_t)dst + n - page,
			      MADV_POPULATE_WRITE);
#endif
	memcpy(dst, src, n);
}

/* One transfer through the heap; *err is the call's answer if DONE. */
static int
transfer(bool write, cl_command_queue q, cl_mem buffer, size_t offset,
	 size_t size, void *ptr, cl_uint nev, const cl_event *wl,
	 cl_int *err)
{
	struct ava_heap *h = ava_guest_heap();
	if (h == NULL)
		return SHARED_NOT;
	cl_ulong heap = 0, where = 0, id = 0;
	cl_uint found = 0;
	int r = SHARED_NOT;
	*err = avaclAcquireBuffer(q, buffer, write, offset, size, &heap,
				  &where, &id, nev, wl);
	if (*err != CL_SUCCESS || heap == 0) {
		/* Not in the heap, or refused: the forwarded call answers as
		 * it answers natively. */
		if (*err == CL_SUCCESS)
			note_unshared(buffer);
		goto out;
	}
	bool here = in_heap(h, heap, where, size);
	if (here && write)
		copy_in(ava_heap_base(h) + where, ptr, size);
	else if (here)
		memcpy(ptr, ava_heap_base(h) + where, size);
	/* A direct read (no mapping) is over once copied. */
	if (here && !write && id == 0) {
		r = SHARED_DONE;
		goto out;
	}
	*err = avaclReleaseBuffer(q, buffer, id, heap, &found);
	if (*err != CL_SUCCESS)
		r = SHARED_DONE;
	else if (!here || (write && !found))
		r = SHARED_AGAIN;
	else
		r = SHARED_DONE;
out:
	ava_heap_put(h);
	return r;
}

/* Is p a live handle of this type? A stage is only asked for calls whose
 * handles the server will take: one given to a call the guest refuses
 * itself would hold its range until the session ends. */
static bool
live(const void *p, uint16_t type)
{
	uint64_t id;
	return p != NULL && ava_guest_object(p, &id) == type;
}

/* Stage size bytes from src: true once they are copied into the range
 * avaclStageBytes gave (*stage); false for want of a heap or of room. */
static bool
stage_in(const void *src, size_t size, cl_ulong *stage)
{
	struct ava_heap *h = ava_guest_heap();
	if (h == NULL)
		return false;
	cl_ulong heap = 0, where = 0;
	bool ok = avaclStageBytes(size, &heap, &where, stage) == CL_SUCCESS &&
		  heap != 0 && in_heap(h, heap, where, size);
	if (ok)
		copy_in(ava_heap_base(h) + where, src, size);
	ava_heap_put(h);
	return ok;
}

/*
 * A non-blocking write, staged: the server gives a range of the heap,
 * the bytes are copied there, and the server enqueues the write from the
 * range (avaclStageBytes, avaclEnqueueWriteStaged). false: not staged,
 * for want of a heap or of room, or because the staged write was refused;
 * the forwarded call then answers as natively. A refusal enqueued
 * nothing, so nothing is written twice. A range that is outside a buffer
 * of known size is not staged, nor is a wait list that the call refuses
 * (a count without a list, a list without a count, an entry that is no
 * live event): the copy would be for nothing.
 */
static bool
staged(cl_command_queue q, cl_mem buffer, size_t offset, size_t size,
       const void *ptr, cl_uint nev, const cl_event *wl, cl_event *event,
       cl_int *err)
{
	size_t have;
	cl_ulong stage;
	if ((nev == 0) != (wl == NULL))
		return false;
	for (cl_uint i = 0; i < nev; i++)
		if (!live(wl[i], AVA_OPENCL_H_cl_event))
			return false;
	if (!live(q, AVA_OPENCL_H_cl_command_queue) ||
	    !live(buffer, AVA_OPENCL_H_cl_mem) ||
	    (ava_cl_buffer_size(buffer, &have) &&
	     (offset > have || size > have - offset)) ||
	    !stage_in(ptr, size, &stage))
		return false;
	*err = avaclEnqueueWriteStaged(q, buffer, offset, size, stage, nev, wl,
				       event);
	return *err == CL_SUCCESS;
}

/*
 * A non-blocking write without a wait list, into a buffer in the heap
 * that the guest may write directly, while its queue is idle
 * (avaclAcquireIdle): copied straight into the buffer, once, as a
 * blocking write is. Staged, the bytes would be copied twice, the second
 * time into the buffer on the driver's thread, which the command waiting
 * for the write then waits for too. An event asked for is a one-byte
 * write of the same byte, enqueued after: a real write's event, complete
 * once the bytes are there. false: not written here (the queue is busy,
 * the buffer is elsewhere, or the session moved before the release); the
 * write is then staged or forwarded, and bytes written here are written
 * again.
 */
static bool
direct(cl_command_queue q, cl_mem buffer, size_t offset, size_t size,
       const void *ptr, cl_event *event, cl_int *err)
{
	struct ava_heap *h = ava_guest_heap();
	if (h == NULL)
		return false;
	cl_ulong heap = 0, where = 0;
	cl_uint found = 0;
	bool done = avaclAcquireIdle(q, buffer, offset, size, &heap,
				     &where) == CL_SUCCESS &&
		    heap != 0 && in_heap(h, heap, where, size);
	if (done) {
		copy_in(ava_heap_base(h) + where, ptr, size);
		done = avaclReleaseBuffer(q, buffer, 0, heap, &found) ==
		       CL_SUCCESS && found;
	}
	ava_heap_put(h);
	if (!done)
		return false;
	*err = event == NULL ? CL_SUCCESS
			     : ava_opencl_forward_clEnqueueWriteBuffer(
				       q, buffer, CL_FALSE, offset, 1, ptr, 0,
				       NULL, event);
	return true;
}

cl_mem
ava_cl_create_staged(cl_context context, cl_mem_flags flags, size_t size,
		     const void *host_ptr, cl_int *errcode_ret)
{
	const cl_mem_flags host = CL_MEM_COPY_HOST_PTR | CL_MEM_USE_HOST_PTR;
	cl_ulong stage;
	if ((flags & host) != CL_MEM_COPY_HOST_PTR || host_ptr == NULL ||
	    size < AVA_CL_SHARED_MIN || !live(context, AVA_OPENCL_H_cl_context) ||
	    !stage_in(host_ptr, size, &stage))
		return NULL;
	return avaclCreateBufferStaged(context, flags, size, stage,
				       errcode_ret);
}

static bool
worth_it(cl_bool blocking, size_t size, const void *ptr, cl_event *event,
	 cl_mem buffer)
{
	return blocking && event == NULL && ptr != NULL &&
	       size >= AVA_CL_SHARED_MIN && !known_unshared(buffer);
}

cl_int
ava_opencl_guest_hook_clEnqueueWriteBuffer(cl_command_queue q, cl_mem buffer,
					   cl_bool blocking, size_t offset,
					   size_t size, const void *ptr,
					   cl_uint nev, const cl_event *wl,
					   cl_event *event)
{
	cl_int err;
	if (worth_it(blocking, size, ptr, event, buffer) &&
	    transfer(true, q, buffer, offset, size, (void *)ptr, nev, wl,
		     &err) == SHARED_DONE)
		return err;
	if (!blocking && ptr != NULL && size >= AVA_CL_SHARED_MIN &&
	    ((nev == 0 && wl == NULL && !known_unshared(buffer) &&
	      direct(q, buffer, offset, size, ptr, event, &err)) ||
	     staged(q, buffer, offset, size, ptr, nev, wl, event, &err)))
		return err;
	return ava_opencl_forward_clEnqueueWriteBuffer(q, buffer, blocking,
						       offset, size, ptr, nev,
						       wl, event);
}

cl_int
ava_opencl_guest_hook_clEnqueueReadBuffer(cl_command_queue q, cl_mem buffer,
					  cl_bool blocking, size_t offset,
					  size_t size, void *ptr, cl_uint nev,
					  const cl_event *wl, cl_event *event)
{
	cl_int err;
	/* A read synchronizes: it answers for the thread's queued calls. */
	if (worth_it(blocking, size, ptr, event, buffer) &&
	    transfer(false, q, buffer, offset, size, ptr, nev, wl, &err) ==
	    SHARED_DONE)
		return err != CL_SUCCESS ? err
					 : (cl_int)ava_guest_sync_point(
						   (uint64_t)(int64_t)err);
	return ava_opencl_forward_clEnqueueReadBuffer(q, buffer, blocking,
						      offset, size, ptr, nev,
						      wl, event);
}
