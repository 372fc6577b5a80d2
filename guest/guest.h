/*
 * guest.h - what the guest core (guest.c) offers hand-written guest
 * hooks beyond ava_guest_call() (ava-generated.h).
 *
 * Hooks may attach an extension to an object the application holds: what
 * the hook must remember about it (an OpenCL buffer's host pointer and its
 * mappings). The registry owns an attached extension and calls its
 * destroy function, under the registry lock, when the object goes away;
 * destroy must not call back into the guest core.
 *
 * Thread safety: both functions take the registry lock. The returned
 * pointer stays valid as long as the application holds the object, so a
 * hook must guard the extension's own fields with a lock of its own.
 */
#ifndef AVA_GUEST_H
#define AVA_GUEST_H

#include "registry.h"

/* The extension of obj, or NULL if obj is not a live object of handle
 * type `type` (an index into the api's handles) or has none. */
struct ava_guest_ext *
ava_guest_ext_get(const void *obj, uint16_t type);

/*
 * Attach ext to the live object obj of handle type `type` unless it has
 * one. Returns the extension now attached: ext, or the one attached before
 * (the caller then still owns ext); NULL if obj is no live object of that
 * type (likewise).
 */
struct ava_guest_ext *
ava_guest_ext_attach(const void *obj, uint16_t type,
		     struct ava_guest_ext *ext);

/*
 * The session's shared heap (runtime/shared-heap.h) with a reference the
 * caller puts back (ava_heap_put), or NULL if there is none (not shm:, a
 * journaled session, a server without one).
 */
struct ava_heap;

struct ava_heap *
ava_guest_heap(void);

/*
 * For a hook that makes a call the API counts as synchronizing out of
 * others: the first failure of this thread's queued calls not yet
 * returned, in ret's place if ret is success (as a `sync` call would).
 */
uint64_t
ava_guest_sync_point(uint64_t ret);

#endif
