/*
 * replay-map.c - recorded virtual ids bound to the real handles of a
 * replay.
 *
 * The replay keeps a handle table of its own, fed exactly as the server
 * fed the recorded session's: the same interning of every handle a reply
 * carries, the same retain/release effects, the same freeing at 0. So
 * liveness follows the record (an id the application released is refused
 * again, a stale handle is never passed to the driver), and, because the
 * table hands out slots and generations deterministically, its ids equal
 * the recorded ones but for the random owner field whenever the same
 * handles arrive in the same order (replay_map_predict).
 */
#include <errno.h>
#include <stdlib.h>

#include "ava-error.h"
#include "handle-table.h"
#include "replay-private.h"
#include "u64map.h"

#define OWNER_SHIFT 40
#define OWNER_MASK (UINT64_C(0xffff) << OWNER_SHIFT)
#define MAX_PROV 256
#define MAX_DEFERRED 4096

/* Any nonzero owner: replay ids never reach the wire as they are. */
#define REPLAY_OWNER 0x7ea1

struct replay_map {
	const struct ava_api_desc *api;
	struct ava_handle_table *t;
	struct ava_u64map fwd;      /* recorded id -> replay id */
	struct ava_u64map rev;      /* replay id -> recorded id */
	uint16_t rec_owner;         /* owner of the recorded ids, once seen */
	uint64_t prov[MAX_PROV];    /* replay ids handed out unbound, this call */
	uint32_t nprov;
	uint64_t deferred[MAX_DEFERRED]; /* replay ids awaiting a first use */
	uint32_t ndeferred;
	uint64_t lazy;
};

static uint64_t
to_prov(uint64_t id)
{
	return id & ~OWNER_MASK;
}

static uint64_t
from_prov(uint64_t w)
{
	return w | (uint64_t)REPLAY_OWNER << OWNER_SHIFT;
}

bool
replay_map_is_provisional(uint64_t w)
{
	return w != 0 && (w & OWNER_MASK) == 0;
}

static void
note_prov(struct replay_map *m, uint64_t y)
{
	for (uint32_t i = 0; i < m->nprov; i++)
		if (m->prov[i] == y)
			return;
	if (m->nprov < MAX_PROV)
		m->prov[m->nprov++] = y;
}

static int
op_to_wire(void *ctx, uint16_t type, uint64_t real, bool creates,
	   uint64_t *id)
{
	struct replay_map *m = ctx;
	uint64_t y, x;
	int r = ava_handle_table_intern(m->t, type, real, creates, &y);
	if (r < 0)
		return r;
	if (ava_u64map_get(&m->rev, y, &x)) {
		*id = x;
		return 0;
	}
	note_prov(m, y);
	*id = to_prov(y);
	return 0;
}

/* An unknown recorded id: bind it to the first deferred handle of its
 * type, if any (a handle first seen inside an out buffer). */
static bool
bind_deferred(struct replay_map *m, uint64_t x)
{
	for (uint32_t i = 0; i < m->ndeferred; i++) {
		uint64_t y = m->deferred[i], real;
		if (ava_handle_id_tag(y) != ava_handle_id_tag(x))
			continue;
		for (uint32_t k = i + 1; k < m->ndeferred; k++)
			m->deferred[k - 1] = m->deferred[k];
		m->ndeferred--;
		if (ava_handle_table_lookup(m->t, y, 0, &real, NULL) != 0 ||
		    ava_u64map_get(&m->rev, y, NULL))
			return bind_deferred(m, x);
		if (replay_map_bind(m, x, to_prov(y)) != 0)
			return false;
		m->lazy++;
		return true;
	}
	return false;
}

static int
op_from_wire(void *ctx, uint16_t type, uint64_t id, bool creates,
	     uint64_t *real, uint16_t *type_out)
{
	struct replay_map *m = ctx;
	uint64_t y;
	if (!ava_u64map_get(&m->fwd, id, &y) &&
	    !(bind_deferred(m, id) && ava_u64map_get(&m->fwd, id, &y)))
		return AVA_EHANDLE;
	return ava_handle_table_lookup(m->t, y, type, real, type_out);
}

static void
op_ref(void *ctx, uint64_t id, int delta)
{
	struct replay_map *m = ctx;
	uint64_t y, x;
	bool freed = false;
	if (!ava_u64map_get(&m->fwd, id, &y))
		return;
	ava_handle_table_ref(m->t, y, delta, &freed);
	if (!freed)
		return;
	ava_u64map_del(&m->fwd, id);
	if (ava_u64map_get(&m->rev, y, &x) && x == id)
		ava_u64map_del(&m->rev, y);
}

int
replay_map_create(const struct ava_api_desc *api, struct replay_map **out)
{
	struct replay_map *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	m->api = api;
	ava_u64map_init(&m->fwd);
	ava_u64map_init(&m->rev);
	int r = ava_handle_table_create(api, REPLAY_OWNER, &m->t);
	if (r < 0) {
		free(m);
		return r;
	}
	*out = m;
	return 0;
}

void
replay_map_destroy(struct replay_map *m)
{
	if (m == NULL)
		return;
	ava_handle_table_destroy(m->t);
	ava_u64map_finish(&m->fwd);
	ava_u64map_finish(&m->rev);
	free(m);
}

void
replay_map_ops(struct replay_map *m, struct ava_handle_ops *ops)
{
	*ops = (struct ava_handle_ops){ .to_wire = op_to_wire,
		.from_wire = op_from_wire, .ref = op_ref, .ctx = m };
}

void
replay_map_call_begin(struct replay_map *m)
{
	m->nprov = 0;
}

int
replay_map_bind(struct replay_map *m, uint64_t rec, uint64_t prov)
{
	uint64_t y = from_prov(prov), old, x;
	if (ava_handle_id_tag(y) != ava_handle_id_tag(rec))
		return AVA_EHANDLE;
	/* A recorded id bound before (its object freed in the record but
	 * not here, say) moves to the new handle. */
	if (ava_u64map_get(&m->fwd, rec, &old) &&
	    ava_u64map_get(&m->rev, old, &x) && x == rec)
		ava_u64map_del(&m->rev, old);
	if (ava_u64map_put(&m->fwd, rec, y) < 0 ||
	    ava_u64map_put(&m->rev, y, rec) < 0)
		return -ENOMEM;
	if (m->rec_owner == 0)
		m->rec_owner = ava_handle_id_owner(rec);
	return 0;
}

uint32_t
replay_map_unbound(struct replay_map *m, uint64_t *ids, uint32_t max)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < m->nprov && n < max; i++)
		if (!ava_u64map_get(&m->rev, m->prov[i], NULL))
			ids[n++] = to_prov(m->prov[i]);
	return n;
}

uint64_t
replay_map_predict(const struct replay_map *m, uint64_t prov)
{
	if (m->rec_owner == 0)
		return 0;
	return prov | (uint64_t)m->rec_owner << OWNER_SHIFT;
}

void
replay_map_defer(struct replay_map *m, uint64_t prov)
{
	uint64_t y = from_prov(prov);
	for (uint32_t i = 0; i < m->ndeferred; i++)
		if (m->deferred[i] == y)
			return;
	if (m->ndeferred < MAX_DEFERRED)
		m->deferred[m->ndeferred++] = y;
}

uint64_t
replay_map_lazy_binds(const struct replay_map *m)
{
	return m->lazy;
}

uint64_t
replay_map_recorded_id(const struct replay_map *m, uint16_t type,
		       uint64_t real)
{
	uint64_t y, x;
	if (ava_handle_table_find(m->t, real, type, &y) != 0 ||
	    !ava_u64map_get(&m->rev, y, &x))
		return 0;
	return x;
}
