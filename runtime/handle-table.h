/*
 * handle-table.h - a session's virtual handle ids and the real handles
 * behind them.
 *
 * An id is 64 bits:
 *
 *   63      56 55         40 39        24 23           0
 *   +---------+-------------+------------+-------------+
 *   | type tag|  owner tag  | generation |    index    |
 *   +---------+-------------+------------+-------------+
 *
 * The type tag is the handle type's ava_handle_desc.tag (never 0, so no id
 * is 0 and 0 stays NULL); the owner tag is random and nonzero per session,
 * so an id from another session is refused; the generation changes each
 * time a slot is reused, so a stale id is refused.
 *
 * Refcounts follow what the guest sees: an entry is created at 1, a
 * successful retain adds one, a successful release drops one and frees
 * the entry at 0. Entries of AVA_HANDLE_STATIC types are never freed.
 * Every operation is O(1) (expected, for the reverse map).
 *
 * Thread safety: none; one table belongs to one session, and the session
 * serializes its calls.
 */
#ifndef AVA_HANDLE_TABLE_H
#define AVA_HANDLE_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "ava-desc.h"

#define AVA_HANDLE_INDEX_BITS 24
#define AVA_HANDLE_MAX_ENTRIES (1u << AVA_HANDLE_INDEX_BITS)
/*
 * Guest-named ids (doc/protocol.md, "Named creations"): the index's top
 * bit set. The server never hands out such an index; the guest picks the
 * rest of the index and the generation, never twice, and a call that
 * creates an object may carry one for the object to take. Such an entry
 * is found by its whole id, not by its index.
 */
#define AVA_HANDLE_NAMED (1u << (AVA_HANDLE_INDEX_BITS - 1))

struct ava_handle_table;

/*
 * Create an empty table for api's handle types; ids carry owner (nonzero).
 * api must outlive the table. Returns 0, -EINVAL (owner 0, or an api whose
 * tags are 0 or repeat) or -ENOMEM.
 */
int
ava_handle_table_create(const struct ava_api_desc *api, uint16_t owner,
			struct ava_handle_table **out);

/* Free the table (not the real handles). Accepts NULL. */
void
ava_handle_table_destroy(struct ava_handle_table *t);

uint16_t
ava_handle_table_owner(const struct ava_handle_table *t);

/* Live entries, for tests and `ava status`. */
uint32_t
ava_handle_table_count(const struct ava_handle_table *t);

/*
 * Translate id to its real handle. type is the expected handle type, or 0
 * for any (kernel arguments); *type_out (may be NULL) gets the entry's type.
 * Returns 0, or AVA_EHANDLE for a forged, stale, foreign, freed or
 * wrongly typed id. id 0 is AVA_EHANDLE too: callers map NULL themselves.
 */
int
ava_handle_table_lookup(const struct ava_handle_table *t, uint64_t id,
			uint16_t type, uint64_t *real, uint16_t *type_out);

/* Reverse map: the id of real as type. Returns 0 or -ENOENT. */
int
ava_handle_table_find(const struct ava_handle_table *t, uint64_t real,
		      uint16_t type, uint64_t *id);

/*
 * Give real (nonzero) of type an id. If it is already known, the same id
 * is returned and, if creates, its refcount is incremented (the real
 * object handed out a new reference); otherwise a new entry at refcount 1.
 * Returns 0, -EINVAL (real 0, bad type), -ENOSPC (table full) or -ENOMEM.
 */
int
ava_handle_table_intern(struct ava_handle_table *t, uint16_t type,
			uint64_t real, bool creates, uint64_t *id);

/*
 * Whether a call may create an object of type under the guest-named id:
 * this table's owner, type's tag, the named bit, and not taken. Returns
 * 0, -EINVAL or -EEXIST.
 */
int
ava_handle_table_claimable(const struct ava_handle_table *t, uint64_t id,
			   uint16_t type);

/*
 * Give real (nonzero, not known to the table) of type the guest-named id,
 * at refcount 1. Returns 0, -EINVAL, -EEXIST (the id, or real, is
 * known) or -ENOMEM.
 */
int
ava_handle_table_claim(struct ava_handle_table *t, uint64_t id,
		       uint16_t type, uint64_t real);

/*
 * Add delta (+1 retain, -1 release) to id's refcount. At 0 the entry is
 * freed (static types excepted) and *freed (may be NULL) is set.
 * Returns 0 or AVA_EHANDLE.
 */
int
ava_handle_table_ref(struct ava_handle_table *t, uint64_t id, int delta,
		     bool *freed);

/*
 * Call fn for every live entry, in index order, guest-named ones last in
 * the order they were named; stops at the first
 * nonzero return, which it returns. fn must not change the table.
 */
int
ava_handle_table_each(const struct ava_handle_table *t,
		      int (*fn)(void *ctx, uint64_t id, uint16_t type,
				uint64_t real, uint32_t refs),
		      void *ctx);

/*
 * Restore (migrate/): give real exactly the id it had in another
 * session's table (guest-named or not), at refcount refs. Every bind
 * comes before the first intern, and ava_handle_table_bind_done() ends
 * them. Returns 0,
 * -EINVAL (an id of another owner or type, refs 0), -EEXIST (taken),
 * -EBUSY (after bind_done) or -ENOMEM.
 */
int
ava_handle_table_bind(struct ava_handle_table *t, uint64_t id, uint16_t type,
		      uint64_t real, uint32_t refs);

void
ava_handle_table_bind_done(struct ava_handle_table *t);

/* Pieces of an id, for logs and tests. */
static inline uint8_t
ava_handle_id_tag(uint64_t id)
{
	return (uint8_t)(id >> 56);
}

static inline uint16_t
ava_handle_id_owner(uint64_t id)
{
	return (uint16_t)(id >> 40);
}

static inline uint16_t
ava_handle_id_gen(uint64_t id)
{
	return (uint16_t)(id >> 24);
}

static inline uint32_t
ava_handle_id_index(uint64_t id)
{
	return (uint32_t)(id & (AVA_HANDLE_MAX_ENTRIES - 1));
}

#endif
