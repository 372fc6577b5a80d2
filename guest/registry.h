/*
 * registry.h - the guest's objects: what the application holds instead of
 * real handles.
 *
 * Every object is heap-allocated and begins with the ICD dispatch pointer,
 * as the OpenCL ICD loader requires, followed by its virtual id. One id
 * always yields the same object. The refcount mirrors the server's handle
 * table: 1 at creation, +1/-1 on successful retain/release, freed at 0
 * (objects of static handle types are never freed).
 *
 * Not thread-safe: guest.c holds its lock around every use.
 */
#ifndef AVA_GUEST_REGISTRY_H
#define AVA_GUEST_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "ava-desc.h"
#include "u64map.h"

/*
 * What a guest hook remembers about one object beyond its id (for OpenCL:
 * a buffer's host pointer and its mappings). Embedded first in the hook's
 * own struct; the registry calls destroy when the object goes away.
 */
struct ava_guest_ext {
	void (*destroy)(struct ava_guest_ext *ext);
};

struct ava_guest_obj {
	const void *dispatch;   /* must stay first: the ICD loader reads it */
	uint64_t id;
	uint16_t type;
	uint32_t refs;
	struct ava_guest_ext *ext;  /* owned; NULL until a hook attaches one */
};

struct ava_registry {
	const struct ava_api_desc *api;
	const void *dispatch;
	struct ava_u64map by_id;    /* id -> object */
	struct ava_u64map by_ptr;   /* object address -> id */
	uint64_t removed;           /* objects freed so far; read without the
				     * lock (__atomic) by guest.c's memo */
};

void
ava_registry_init(struct ava_registry *reg, const struct ava_api_desc *api,
		  const void *dispatch);

/* Free every object and the maps (tests; a process at exit). */
void
ava_registry_finish(struct ava_registry *reg);

/* The object for id (nonzero), created if new; creates: the call handed
 * out a reference, so a known object's refcount grows.
 * Returns 0 or -ENOMEM. */
int
ava_registry_obj(struct ava_registry *reg, uint16_t type, uint64_t id,
		 bool creates, struct ava_guest_obj **out);

/* The id of p if p is a live object; never dereferences an unknown p. */
bool
ava_registry_id(const struct ava_registry *reg, const void *p, uint64_t *id);

/* The object p if p is a live object, else NULL; never dereferences an
 * unknown p. */
struct ava_guest_obj *
ava_registry_lookup(const struct ava_registry *reg, const void *p);

/* Apply a retain (+1) or release (-1) that succeeded on the server. */
void
ava_registry_ref(struct ava_registry *reg, uint64_t id, int delta);

#endif
