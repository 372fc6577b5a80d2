/*
 * loop.h - a guest and a server marshaller back to back, without a
 * socket: guest encode -> server decode -> fake driver -> server encode ->
 * guest decode. The guest side uses the real guest object registry.
 */
#ifndef AVA_TEST_LOOP_H
#define AVA_TEST_LOOP_H

#include "handle-table.h"
#include "marshal.h"
#include "registry.h"

struct loop {
	struct ava_registry reg;
	struct ava_handle_ops gops;
	struct ava_handle_table *tab;
	struct ava_handle_ops sops;
	int decode_r;    /* the server's decode result of the last call */
	int encode_r;    /* the guest's encode result */
};

extern const char loop_dispatch[];

void
loop_init(struct loop *l);

void
loop_finish(struct loop *l);

/* Run fn with guest arguments v; returns the guest-visible result. */
uint64_t
loop_call(struct loop *l, uint32_t fn, uint64_t *v);

/* Server-decode a hand-made payload of n bytes for fn. */
int
loop_decode_raw(struct loop *l, uint32_t fn, const void *p, size_t n);

#endif
