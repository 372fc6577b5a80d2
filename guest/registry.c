#include <errno.h>
#include <stdlib.h>

#include "registry.h"

void
ava_registry_init(struct ava_registry *reg, const struct ava_api_desc *api,
		  const void *dispatch)
{
	reg->api = api;
	reg->dispatch = dispatch;
	ava_u64map_init(&reg->by_id);
	ava_u64map_init(&reg->by_ptr);
}

static void
free_obj(struct ava_guest_obj *o)
{
	if (o->ext != NULL)
		o->ext->destroy(o->ext);
	free(o);
}

void
ava_registry_finish(struct ava_registry *reg)
{
	for (size_t i = 0; i < reg->by_id.cap; i++)
		if (reg->by_id.slots[i].key != 0)
			free_obj((void *)(uintptr_t)reg->by_id.slots[i].val);
	ava_u64map_finish(&reg->by_id);
	ava_u64map_finish(&reg->by_ptr);
	__atomic_add_fetch(&reg->removed, 1, __ATOMIC_RELEASE);
}

static int
add(struct ava_registry *reg, uint16_t type, uint64_t id,
    struct ava_guest_obj **out)
{
	struct ava_guest_obj *o = calloc(1, sizeof(*o));
	if (o == NULL)
		return -ENOMEM;
	o->dispatch = reg->dispatch;
	o->id = id;
	o->type = type;
	o->refs = 1;
	if (ava_u64map_put(&reg->by_id, id, (uintptr_t)o) < 0)
		goto err_free;
	if (ava_u64map_put(&reg->by_ptr, (uintptr_t)o, id) < 0)
		goto err_unmap;
	*out = o;
	return 0;
err_unmap:
	ava_u64map_del(&reg->by_id, id);
err_free:
	free(o);
	return -ENOMEM;
}

int
ava_registry_obj(struct ava_registry *reg, uint16_t type, uint64_t id,
		 bool creates, struct ava_guest_obj **out)
{
	uint64_t p;
	if (!ava_u64map_get(&reg->by_id, id, &p))
		return add(reg, type, id, out);
	*out = (struct ava_guest_obj *)(uintptr_t)p;
	if (creates && (*out)->refs < UINT32_MAX)
		(*out)->refs++;
	return 0;
}

bool
ava_registry_id(const struct ava_registry *reg, const void *p, uint64_t *id)
{
	return p != NULL && ava_u64map_get(&reg->by_ptr, (uintptr_t)p, id);
}

struct ava_guest_obj *
ava_registry_lookup(const struct ava_registry *reg, const void *p)
{
	uint64_t id;
	return ava_registry_id(reg, p, &id) ? (struct ava_guest_obj *)p : NULL;
}

static bool
is_static(const struct ava_registry *reg, uint16_t type)
{
	return type < reg->api->nhandles &&
	       (reg->api->handles[type].flags & AVA_HANDLE_STATIC);
}

void
ava_registry_ref(struct ava_registry *reg, uint64_t id, int delta)
{
	uint64_t p;
	if (!ava_u64map_get(&reg->by_id, id, &p))
		return;
	struct ava_guest_obj *o = (struct ava_guest_obj *)(uintptr_t)p;
	if (is_static(reg, o->type))
		return;
	if (delta > 0) {
		o->refs += o->refs < UINT32_MAX;
		return;
	}
	if (--o->refs > 0)
		return;
	ava_u64map_del(&reg->by_id, id);
	ava_u64map_del(&reg->by_ptr, (uintptr_t)o);
	__atomic_add_fetch(&reg->removed, 1, __ATOMIC_RELEASE);
	free_obj(o);
}
