/*
 * opencl-ava-calls.h - ava's own OpenCL entry points: the spec's
 * private_header.
 *
 * Some OpenCL calls cannot cross the wire as the application makes them:
 * a mapping returns a pointer into memory the server owns, and the host
 * footprint of a rectangular or image transfer depends on values inside
 * the application's arrays and on the image's format, which no size
 * expression of the spec reaches. The spec marks those calls `emulated`:
 * a guest hook (guest/opencl-*.c) builds them from the calls below, whose
 * every buffer has a plain size argument, so that the generic marshaller
 * moves and validates them like any other call. The server implements
 * them (runtime/opencl-calls.c) by calling the real functions, after
 * checking that each size agrees with the call's other arguments.
 *
 * They are not part of the application's API: the guest library does not
 * export them, and they never reach the vendor library by these names.
 * They travel, and are journaled, under their own function ids.
 *
 * Conventions shared by all of them:
 *   - Host data travels packed: the rows of a region one after another,
 *     without the application's pitches, which only the guest sees.
 *   - The server blocks where the real call may not (maps, reads), as the
 *     bytes must travel in the reply.
 *   - A NULL data pointer is passed on as NULL, so that the real function
 *     reports what it reports natively for a NULL host pointer.
 */
#ifndef AVA_OPENCL_AVA_CALLS_H
#define AVA_OPENCL_AVA_CALLS_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 300
#endif
#include <CL/cl.h>

/*
 * Map `size` bytes at `offset` of `buffer` (blocking, on the server) and
 * copy them into data unless data is NULL (a map that reads nothing:
 * CL_MAP_WRITE_INVALIDATE_REGION). The mapping stays on the server under
 * *map_id until avaclEnqueueUnmapMemObject.
 */
cl_int
avaclEnqueueMapBuffer(cl_command_queue command_queue, cl_mem buffer,
		      cl_map_flags map_flags, size_t offset, size_t size,
		      void *data, cl_ulong *map_id,
		      cl_uint num_events_in_wait_list,
		      const cl_event *event_wait_list, cl_event *event);

/*
 * Map a region of `image` likewise; data receives it packed (size must be
 * the region's packed size). The image pitches reported are the server's
 * and mean nothing to the guest, which reports those of its packed copy;
 * they are returned only so that NULL pitches fail as natively.
 */
cl_int
avaclEnqueueMapImage(cl_command_queue command_queue, cl_mem image,
		     cl_map_flags map_flags, const size_t *origin,
		     const size_t *region, size_t *image_row_pitch,
		     size_t *image_slice_pitch, size_t size, void *data,
		     cl_ulong *map_id, cl_uint num_events_in_wait_list,
		     const cl_event *event_wait_list, cl_event *event);

/*
 * Write `size` bytes of data (0: nothing, for a mapping that was not
 * writable) back into mapping map_id of memobj, then unmap it. An unknown
 * map_id unmaps NULL, which fails as the real function does for a pointer
 * it did not map.
 */
cl_int
avaclEnqueueUnmapMemObject(cl_command_queue command_queue, cl_mem memobj,
			   cl_ulong map_id, size_t size, const void *data,
			   cl_uint num_events_in_wait_list,
			   const cl_event *event_wait_list, cl_event *event);

/* clEnqueueReadBufferRect into a packed host region of `size` bytes. */
cl_int
avaclEnqueueReadBufferRect(cl_command_queue command_queue, cl_mem buffer,
			   const size_t *buffer_origin, const size_t *region,
			   size_t buffer_row_pitch, size_t buffer_slice_pitch,
			   size_t size, void *ptr,
			   cl_uint num_events_in_wait_list,
			   const cl_event *event_wait_list, cl_event *event);

/* clEnqueueWriteBufferRect from a packed host region of `size` bytes. */
cl_int
avaclEnqueueWriteBufferRect(cl_command_queue command_queue, cl_mem buffer,
			    const size_t *buffer_origin, const size_t *region,
			    size_t buffer_row_pitch, size_t buffer_slice_pitch,
			    size_t size, const void *ptr,
			    cl_uint num_events_in_wait_list,
			    const cl_event *event_wait_list, cl_event *event);

/* clEnqueueReadImage into a packed host region of `size` bytes. */
cl_int
avaclEnqueueReadImage(cl_command_queue command_queue, cl_mem image,
		      const size_t *origin, const size_t *region, size_t size,
		      void *ptr, cl_uint num_events_in_wait_list,
		      const cl_event *event_wait_list, cl_event *event);

/* clEnqueueWriteImage from a packed host region of `size` bytes. */
cl_int
avaclEnqueueWriteImage(cl_command_queue command_queue, cl_mem image,
		       const size_t *origin, const size_t *region, size_t size,
		       const void *ptr, cl_uint num_events_in_wait_list,
		       const cl_event *event_wait_list, cl_event *event);

/*
 * clCreateImage (properties NULL) or clCreateImageWithProperties. The
 * description's buffer travels as the handle desc_buffer (its field in
 * image_desc is ignored); host_ptr holds host_size bytes, which must be
 * what the format and description make of it.
 */
cl_mem
avaclCreateImage(cl_context context, const cl_mem_properties *properties,
		 cl_mem_flags flags, const cl_image_format *image_format,
		 const cl_image_desc *image_desc, cl_mem desc_buffer,
		 size_t host_size, void *host_ptr, cl_int *errcode_ret);

/*
 * The shared heap's transfers (runtime/shared-heap.h, doc/protocol.md
 * "Shared buffers"): if buffer's storage is in the session's shared heap,
 * map size bytes at offset, blocking, for writing (write: invalidating
 * them) or reading, after the wait list; *heap gets the heap's id, *where
 * the range's offset in it, *map_id the mapping's name. Otherwise *heap
 * is 0, and nothing is enqueued. Only buffers of at least
 * AVA_CL_SHARED_MIN bytes are in the heap, and only transfers of that
 * much are worth it: below, the map and unmap cost more than the copy
 * they save. On a CPU device that shares the host's memory, where a
 * buffer over host memory is that memory, a transfer without a wait list
 * maps nothing: the server finishes the queue, and *map_id is 0 (a read
 * then needs no release). The guest copies, then releases with the
 * same buffer, map_id and heap: *found is 0 if the server has no such
 * mapping, or (map_id 0) heap is not its heap: the session moved since,
 * and a write must be made again. With a journal, only the direct case
 * is taken (*heap 0 otherwise), and a direct write's release finds only
 * the range its acquire gave (doc/journal.md, "Transfers through the
 * shared heap").
 */
#define AVA_CL_SHARED_MIN (256u * 1024u)

cl_int
avaclAcquireBuffer(cl_command_queue command_queue, cl_mem buffer,
		   cl_bool write, size_t offset, size_t size, cl_ulong *heap,
		   cl_ulong *where, cl_ulong *map_id,
		   cl_uint num_events_in_wait_list,
		   const cl_event *event_wait_list);

cl_int
avaclReleaseBuffer(cl_command_queue command_queue, cl_mem buffer,
		   cl_ulong map_id, cl_ulong heap, cl_uint *found);

/*
 * For a non-blocking write of size bytes at offset, without a wait list:
 * if buffer's storage is a range of the shared heap that the guest may
 * write directly (as avaclAcquireBuffer's CPU-device case), the queue
 * has no profiling, and its commands are all over within a short wait,
 * *heap and *where name the range, as avaclAcquireBuffer gives them;
 * otherwise *heap is 0 (the write is then staged or forwarded). Nothing
 * is mapped: the guest copies, then calls avaclReleaseBuffer with
 * map_id 0, and if the application asked for the write's event, sends a
 * one-byte write of the same byte for it.
 */
cl_int
avaclAcquireIdle(cl_command_queue command_queue, cl_mem buffer,
		 size_t offset, size_t size, cl_ulong *heap, cl_ulong *where);

/*
 * A non-blocking clEnqueueWriteBuffer of at least AVA_CL_SHARED_MIN bytes
 * over shm:, staged in the session's shared heap. avaclStageBytes gives
 * a range of size bytes there: the heap's id (its inode), the range's
 * offset and a stage id; heap 0 if there is no heap or no room (the
 * write then goes with its bytes). The
 * guest copies the bytes in, then avaclEnqueueWriteStaged enqueues the
 * write from the range, non-blocking, as clEnqueueWriteBuffer would
 * (and a journal records it as that write, with the range's bytes); the
 * range goes back to the heap when the command completes, or at once if
 * the enqueue fails. A stage the server does not know (the session moved
 * since), or smaller than size, gives CL_INVALID_VALUE and enqueues
 * nothing: the guest then sends the write itself, which answers as it
 * does natively.
 */
cl_int
avaclStageBytes(size_t size, cl_ulong *heap, cl_ulong *where,
		cl_ulong *stage);

cl_int
avaclEnqueueWriteStaged(cl_command_queue command_queue, cl_mem buffer,
			size_t offset, size_t size, cl_ulong stage,
			cl_uint num_events_in_wait_list,
			const cl_event *event_wait_list, cl_event *event);

/*
 * A clCreateBuffer with CL_MEM_COPY_HOST_PTR (and not USE_HOST_PTR) of at
 * least AVA_CL_SHARED_MIN bytes over shm:, its bytes staged by
 * avaclStageBytes as for a write: the buffer is made over the stage's
 * range, which it keeps until the implementation destroys it (a journal
 * records it as that clCreateBuffer, with the range's bytes). The
 * application's flags are kept for CL_MEM_FLAGS. A stage the server does
 * not know, or of another size, gives CL_INVALID_VALUE and makes
 * nothing, except while a session is rebuilt from a captured state: the
 * buffer is then made on zeros, and the state's contents are written
 * back after. A buffer the implementation refuses to make gives its
 * error, and the stage is freed: the guest then sends clCreateBuffer
 * itself, which answers as it does natively.
 */
cl_mem
avaclCreateBufferStaged(cl_context context, cl_mem_flags flags, size_t size,
			cl_ulong stage, cl_int *errcode_ret);

/*
 * clCreateSubDevices with the length of its property list spelled out:
 * num_properties entries, the last of them the terminating 0 (a list of
 * counts has its own terminator before that).
 */
cl_int
avaclCreateSubDevices(cl_device_id in_device,
		      const cl_device_partition_property *properties,
		      cl_uint num_properties, cl_uint num_devices,
		      cl_device_id *out_devices, cl_uint *num_devices_ret);

#endif
