/*
 * replay-undef.c - buffers whose contents the application never defined
 * (replay-private.h).
 *
 * Driven by the descriptors alone: a handle type with extractable
 * `state buffer` holds contents; a call defines them when it creates such
 * an object from input bytes, when it `writes` it, or when it passes it to
 * a kernel as an argument (the kernel may write it; replay cannot tell).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replay-private.h"
#include "u64map.h"

struct replay_undef {
	const struct ava_api_desc *api;
	struct ava_u64map live;      /* recorded id -> 1 defined, 2 not */
};

#define DEFINED 1
#define UNDEFINED 2

static bool
has_contents(const struct ava_api_desc *api, uint16_t type)
{
	return type != 0 && type < api->nhandles &&
	       api->handles[type].state != NULL &&
	       strcmp(api->handles[type].state, "buffer") == 0;
}

int
replay_undef_create(const struct ava_api_desc *api, struct replay_undef **out)
{
	struct replay_undef *u = calloc(1, sizeof(*u));
	if (u == NULL)
		return -ENOMEM;
	u->api = api;
	ava_u64map_init(&u->live);
	*out = u;
	return 0;
}

void
replay_undef_destroy(struct replay_undef *u)
{
	if (u == NULL)
		return;
	ava_u64map_finish(&u->live);
	free(u);
}

bool
replay_undef_reads(struct replay_undef *u, const struct ava_call *c,
		   const struct replay_map *m)
{
	(void)m;
	for (int i = 0; i < c->fn->nargs; i++) {
		const struct ava_arg_desc *a = &c->fn->args[i];
		uint64_t v;
		if (a->kind == AVA_ARG_HANDLE && !(a->flags & AVA_ARGF_WRITES) &&
		    has_contents(u->api, a->handle_type) &&
		    ava_u64map_get(&u->live, c->ev[i], &v) && v == UNDEFINED)
			return true;
	}
	return false;
}

/* Did the call send bytes for the object it creates (host_ptr)? */
static bool
sends_bytes(const struct ava_call *c)
{
	for (int i = 0; i < c->fn->nargs; i++)
		if (c->fn->args[i].kind == AVA_ARG_IN_BUF && c->rawn[i] > 0)
			return true;
	return false;
}

static void
mark(struct replay_undef *u, uint64_t id, uint64_t how)
{
	if (id != 0)
		ava_u64map_put(&u->live, id, how);
}

void
replay_undef_update(struct replay_undef *u, const struct ava_call *c,
		    const struct replay_map *m, const uint8_t *outs,
		    size_t outs_len)
{
	const struct ava_fn_desc *fn = c->fn;
	if (fn->ret == AVA_RET_HANDLE && outs_len >= 8 &&
	    has_contents(u->api, fn->ret_handle_type))
		mark(u, ava_wire_get_le(outs, 8),
		     sends_bytes(c) ? DEFINED : UNDEFINED);
	for (int i = 0; i < fn->nargs; i++) {
		const struct ava_arg_desc *a = &fn->args[i];
		uint16_t type = 0;
		if (a->kind == AVA_ARG_HANDLE && (a->flags & AVA_ARGF_WRITES) &&
		    has_contents(u->api, a->handle_type))
			mark(u, c->ev[i], DEFINED);
		/* a kernel argument: the real handle, back to its id */
		if (a->kind == AVA_ARG_IN_KARG && c->karg_id[i]) {
			for (uint16_t t = 1; t < u->api->nhandles; t++)
				if (has_contents(u->api, t))
					type = t;
			mark(u, replay_map_recorded_id(m, type, c->scratch[i]),
			     DEFINED);
		}
	}
}
