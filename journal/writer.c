/*
 * writer.c - the call path: a ring of fixed-size slots plus a byte arena
 * that stages each record's variable bytes.
 *
 * The appender copies everything it is given, so the caller's buffers
 * are free again when append returns (the alternative, handing buffers
 * over, would make every server call site track their lifetime). Space
 * is reserved under the lock, filled outside it, and published with a
 * release store; the journal thread consumes slots strictly in ticket
 * order, so a batch is always a prefix of what was appended.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <xxhash.h>

#include "journal-private.h"

#define MAX_BATCH 16384
/* A batch shorter than this waits up to GATHER_NS for more records. */
#define GATHER_MIN 256
#define GATHER_NS 1000000L

/* A record whose staged bytes exceed this share of the arena gets a
 * private heap copy instead, so one huge payload cannot wedge the ring. */
#define HEAP_SHARE 4

/* A record past the arena's first WARM_BYTES (or quarter) starts over at
 * its start when there is room there (arena_skip). */
#define WARM_BYTES (4u << 20)

void
jlog(struct ava_journal *j, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	j->opt.log(j->opt.log_data, line);
}

static uint64_t
staged_size(const struct ava_journal_entry *e)
{
	uint64_t n = e->args_len + e->outs_len + 8ull * e->ndigests +
		     8ull * e->npayloads + (uint64_t)JF_TAG_SIZE * e->ntags;
	for (uint32_t i = 0; i < e->npayloads; i++)
		n += e->payloads[i].len;
	return n;
}

static int
check_entry(const struct ava_journal_entry *e)
{
	if (e->seq == 0 || (e->args_len && e->args == NULL) ||
	    (e->outs_len && e->outs == NULL) ||
	    (e->ndigests && e->digests == NULL) ||
	    (e->npayloads && e->payloads == NULL) ||
	    (e->ntags && e->tags == NULL))
		return -EINVAL;
	if (e->args_len > AVA_JOURNAL_MAX_FIELD ||
	    e->outs_len > AVA_JOURNAL_MAX_FIELD ||
	    e->npayloads > AVA_JOURNAL_MAX_ITEMS ||
	    e->ndigests > AVA_JOURNAL_MAX_ITEMS ||
	    e->ntags > AVA_JOURNAL_MAX_ITEMS)
		return AVA_ETOOBIG;
	for (uint32_t i = 0; i < e->npayloads; i++) {
		if (e->payloads[i].len > AVA_JOURNAL_MAX_PAYLOAD)
			return AVA_ETOOBIG;
		if (e->payloads[i].len && e->payloads[i].data == NULL)
			return -EINVAL;
	}
	for (uint32_t i = 0; i < e->ntags; i++)
		if (e->tags[i].kind < AVA_JOURNAL_TAG_CREATED ||
		    e->tags[i].kind > AVA_JOURNAL_TAG_RELEASED)
			return -EINVAL;
	return 0;
}

static int start_locked(struct ava_journal *j);

/*
 * With nothing in flight, the next record starts at the arena's start
 * again (the positions only grow, so this is a jump to the next lap).
 * The arena's pages are faulted in as records first reach them: calls
 * that come one at a time, as most do, then keep reusing the same warm
 * pages rather than walking through fresh ones (on this project's VM,
 * the journal's step for a 4 MiB write took 2.2 and 3.5 ms in fresh
 * pages, 0.24 and 0.41 ms in warm ones). Lock held.
 */
static void
rewind_arena(struct ava_journal *j)
{
	uint64_t pos = j->arena_tail % j->arena_cap;
	if (j->head != j->tail || pos == 0)
		return;
	j->arena_tail += j->arena_cap - pos;
	j->arena_head = j->arena_tail;
	j->stats.arena_rewinds++;
}

/*
 * Where a record of n bytes starts: 0, or the bytes to skip to the
 * arena's start, for a record that would not fit before its end, or for
 * one past its first WARM_BYTES when the records in flight leave room
 * at the start (they lie in [pos - in_flight, pos), all in this lap).
 * The second keeps a burst of calls whose commits lag behind them in
 * pages an earlier lap faulted in, where it would otherwise walk through
 * fresh ones to the arena's end: a fresh 2 MiB page's first touch clears
 * the whole page, 0.2 ms on this project's VM, and 100 000 journaled
 * launches touched 6 such pages rather than 8 to 11 (doc/journal.md,
 * "Warm pages"). Lock held.
 */
static uint64_t
arena_skip(const struct ava_journal *j, uint64_t n, bool *early)
{
	uint64_t pos = j->arena_tail % j->arena_cap;
	uint64_t in_flight = j->arena_tail - j->arena_head;
	uint64_t warm = j->arena_cap / 4 < WARM_BYTES ? j->arena_cap / 4
						       : WARM_BYTES;
	*early = false;
	if (pos + n > j->arena_cap)
		return j->arena_cap - pos;
	*early = pos >= warm && in_flight + n <= pos;
	return *early ? j->arena_cap - pos : 0;
}

/* Wait for a slot and `n` arena bytes; returns the arena start (or the
 * current tail when heap). Called and returns with the lock held. */
static int
reserve(struct ava_journal *j, uint64_t n, bool heap, uint64_t *ticket,
	uint8_t **data)
{
	for (bool waited = false;; waited = true) {
		if (j->fatal)
			return j->fatal;
		rewind_arena(j);
		bool early = false;
		uint64_t skip = heap ? 0 : arena_skip(j, n, &early);
		uint64_t need = heap ? 0 : skip + n;
		if (j->tail - j->head <= j->mask &&
		    j->arena_tail + need - j->arena_head <= j->arena_cap) {
			j->stats.arena_wraps += early;
			j->arena_tail += skip;
			if (!heap)
				*data = j->arena + j->arena_tail % j->arena_cap;
			j->arena_tail += heap ? 0 : n;
			*ticket = j->tail++;
			j->slots[*ticket & j->mask].arena_end = j->arena_tail;
			return 0;
		}
		if (!waited)
			j->stats.backpressure_waits++;
		int err = start_locked(j);  /* only it makes room */
		if (err)
			return err;
		pthread_cond_wait(&j->space_cv, &j->lock);
	}
}

static void
wake_drainer(struct ava_journal *j)
{
	if (atomic_load(&j->sleeping)) {
		pthread_mutex_lock(&j->lock);
		pthread_cond_signal(&j->work_cv);
		pthread_mutex_unlock(&j->lock);
	}
}

static int
wait_committed(struct ava_journal *j, uint64_t ticket)
{
	pthread_mutex_lock(&j->lock);
	/* Someone waits: the journal thread stops gathering and commits. */
	int err = start_locked(j);
	if (err) {
		pthread_mutex_unlock(&j->lock);
		return err;
	}
	j->waiters++;
	pthread_cond_signal(&j->work_cv);
	while (j->committed <= ticket && !j->fatal)
		pthread_cond_wait(&j->done_cv, &j->lock);
	j->waiters--;
	err = j->committed > ticket ? 0 : j->fatal;
	pthread_mutex_unlock(&j->lock);
	return err;
}

/*
 * Reserve, let fill() copy into the staged bytes, publish. `s` carries
 * the fixed fields; the ticket is returned for durable waits.
 */
static int
enqueue(struct ava_journal *j, const struct slot *s, uint64_t n,
	void (*fill)(uint8_t *dst, const void *src), const void *src,
	uint64_t *ticket)
{
	bool heap = n > j->arena_cap / HEAP_SHARE;
	uint8_t *data = heap ? malloc(n ? n : 1) : NULL;
	if (heap && data == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&j->lock);
	int err = reserve(j, n, heap, ticket, &data);
	if (!err && s->type == SLOT_CALL)
		j->stats.appended++;
	if (!err && heap)
		j->stats.heap_staged++;
	pthread_mutex_unlock(&j->lock);
	if (err) {
		if (heap)
			free(data);
		return err;
	}
	struct slot *slot = &j->slots[*ticket & j->mask];
	uint64_t end = slot->arena_end;
	*slot = *s;
	slot->arena_end = end;
	slot->heap = heap;
	slot->data = data;
	fill(data, src);
	atomic_store(&j->ready[*ticket & j->mask], 1);
	wake_drainer(j);
	return 0;
}

static uint8_t *
copy(uint8_t *dst, const void *src, size_t n)
{
	if (n)
		memcpy(dst, src, n);
	return dst + n;
}

/* Staged call: args | outs | digests (LE u64) | payload lengths (LE u64)
 * | payload bytes | tags (9 bytes each). */
static void
fill_call(uint8_t *d, const void *src)
{
	const struct ava_journal_entry *e = src;
	d = copy(d, e->args, e->args_len);
	d = copy(d, e->outs, e->outs_len);
	for (uint32_t i = 0; i < e->ndigests; i++, d += 8)
		put_le64(d, e->digests[i]);
	for (uint32_t i = 0; i < e->npayloads; i++, d += 8)
		put_le64(d, e->payloads[i].len);
	for (uint32_t i = 0; i < e->npayloads; i++)
		d = copy(d, e->payloads[i].data, e->payloads[i].len);
	for (uint32_t i = 0; i < e->ntags; i++, d += JF_TAG_SIZE) {
		d[0] = e->tags[i].kind;
		put_le64(d + 1, e->tags[i].object);
	}
}

int
ava_journal_append(struct ava_journal *j, const struct ava_journal_entry *e,
		   uint32_t flags)
{
	if (j == NULL || e == NULL)
		return -EINVAL;
	if (j->off)
		return 0;
	int err = check_entry(e);
	if (err)
		return err;
	if (e->session == 0 || e->session >= atomic_load(&j->next_session))
		return -ENOENT;
	struct slot s = {
		.type = SLOT_CALL, .thread = e->thread, .fn = e->fn,
		.session = e->session, .seq = e->seq, .ret = e->ret,
		.deferred = e->deferred_error, .start_ns = e->start_ns,
		.duration_ns = e->duration_ns, .flags = e->async,
		.args_len = (uint32_t)e->args_len,
		.outs_len = (uint32_t)e->outs_len, .ndigests = e->ndigests,
		.npayloads = e->npayloads, .ntags = e->ntags,
	};
	uint64_t ticket;
	err = enqueue(j, &s, staged_size(e), fill_call, e, &ticket);
	if (err)
		return err;
	if ((flags & AVA_JOURNAL_APPEND_DURABLE) ||
	    j->opt.sync == AVA_JOURNAL_SYNC_STRICT)
		return wait_committed(j, ticket);
	return 0;
}

/* Staged session: five LE u32 lengths, then the five strings. */
static void
fill_session(uint8_t *d, const void *src)
{
	const char *const *t = src;
	for (int i = 0; i < 5; i++)
		put_le32(d + 4 * i, t[i] ? (uint32_t)strlen(t[i]) : 0);
	d += 20;
	for (int i = 0; i < 5; i++)
		d = copy(d, t[i], t[i] ? strlen(t[i]) : 0);
}

int
ava_journal_session_begin(struct ava_journal *j,
			  const struct ava_journal_session_info *info,
			  uint64_t *session)
{
	if (j == NULL || info == NULL || session == NULL)
		return -EINVAL;
	const char *t[5] = { info->guest, info->api, info->host,
			     info->ava_version, info->devices };
	uint64_t n = 20;
	for (int i = 0; i < 5; i++) {
		size_t l = t[i] ? strlen(t[i]) : 0;
		if (l > AVA_JOURNAL_MAX_TEXT)
			return AVA_ETOOBIG;
		n += l;
	}
	if (j->off) {
		*session = 0;
		return 0;
	}
	uint64_t id = atomic_fetch_add(&j->next_session, 1);
	struct slot s = { .type = SLOT_BEGIN, .session = id,
			  .start_ns = info->start_ns };
	uint64_t ticket;
	int err = enqueue(j, &s, n, fill_session, t, &ticket);
	if (err)
		return err;
	*session = id;
	return 0;
}

static void
fill_none(uint8_t *d, const void *src)
{
	(void)d;
	(void)src;
}

int
ava_journal_session_end(struct ava_journal *j, uint64_t session,
			enum ava_journal_end how, uint64_t fault_seq,
			uint64_t end_ns)
{
	if (j == NULL || how <= AVA_JOURNAL_END_NONE ||
	    how >= AVA_JOURNAL_END_COUNT)
		return -EINVAL;
	if (j->off)
		return 0;
	if (session == 0 || session >= atomic_load(&j->next_session))
		return -ENOENT;
	struct slot s = { .type = SLOT_END, .session = session,
			  .seq = fault_seq, .start_ns = end_ns,
			  .flags = (uint32_t)how };
	uint64_t ticket;
	int err = enqueue(j, &s, 0, fill_none, NULL, &ticket);
	if (!err && j->opt.sync == AVA_JOURNAL_SYNC_STRICT)
		err = wait_committed(j, ticket);
	return err;
}

int
ava_journal_flush(struct ava_journal *j)
{
	if (j == NULL)
		return -EINVAL;
	if (j->off)
		return 0;
	pthread_mutex_lock(&j->lock);
	uint64_t last = j->tail;
	pthread_mutex_unlock(&j->lock);
	return last ? wait_committed(j, last - 1) : 0;
}

uint64_t
ava_journal_digest(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}

void
ava_journal_get_stats(struct ava_journal *j, struct ava_journal_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (j == NULL || j->off)
		return;
	pthread_mutex_lock(&j->lock);
	*out = j->stats;
	pthread_mutex_unlock(&j->lock);
}

bool
ava_journal_uses_uring(struct ava_journal *j)
{
	return j != NULL && !j->off && j->io.uring;
}

/* ---- the journal thread ---- */

/* How many ready slots from head form the next batch (lock held). */
static uint64_t
batch_len(struct ava_journal *j)
{
	uint64_t n = 0, avail = j->tail - j->head;
	while (n < avail && n < MAX_BATCH && n <= j->mask / 2 &&
	       atomic_load(&j->ready[(j->head + n) & j->mask]))
		n++;
	return n;
}

/* Retire committed (or, after a fatal error, lost) slots; lock held. */
static void
release(struct ava_journal *j, uint64_t n, int err)
{
	for (uint64_t i = 0; i < n; i++) {
		struct slot *s = &j->slots[(j->head + i) & j->mask];
		if (s->heap)
			free(s->data);
		if (err && s->type == SLOT_CALL)
			j->stats.lost++;
		atomic_store(&j->ready[(j->head + i) & j->mask], 0);
	}
	j->arena_head = j->slots[(j->head + n - 1) & j->mask].arena_end;
	j->head += n;
	j->committed = j->head;
	if (err && !j->fatal) {
		j->fatal = err;
		jlog(j, "ava journal: %s: stopped: %s", j->dir,
		     ava_strerror(err));
	}
	pthread_cond_broadcast(&j->space_cv);
	pthread_cond_broadcast(&j->done_cv);
}

static void
merge_stats(struct ava_journal *j)
{
	struct ava_journal_stats *a = &j->stats, *t = &j->tstats;
	a->committed += t->committed;
	a->state_skipped += t->state_skipped;
	a->compacted += t->compacted;
	a->duplicates += t->duplicates;
	a->batches += t->batches;
	a->inline_payloads += t->inline_payloads;
	a->blobs_written += t->blobs_written;
	a->blobs_deduped += t->blobs_deduped;
	a->blobs_freed += t->blobs_freed;
	a->blob_bytes_raw += t->blob_bytes_raw;
	a->blob_bytes_stored += t->blob_bytes_stored;
	a->segments_deleted += t->segments_deleted;
	a->uring_submissions = j->io.submissions;
	a->uring_completions = j->io.completions;
	a->pwrite_calls = j->io.pwrites;
	a->fsyncs = j->io.fsyncs;
	memset(t, 0, sizeof(*t));
}

/*
 * Group commit needs a group: calls that arrive one at a time would
 * otherwise cost one LMDB transaction and two context switches each, which
 * on a small machine competes with the very calls being recorded. A short
 * batch waits up to GATHER_NS for company, unless someone waits for its
 * commit (strict sync, flush, close) or the staging arena is filling up.
 * Lock held; returns the new length.
 */
static uint64_t
gather(struct ava_journal *j, uint64_t n)
{
	if (n >= GATHER_MIN || j->stop || j->waiters > 0 ||
	    j->arena_tail - j->arena_head > j->arena_cap / 2)
		return n;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += GATHER_NS;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	pthread_cond_timedwait(&j->work_cv, &j->lock, &until);
	return batch_len(j);
}

static void *
journal_thread(void *arg)
{
	struct ava_journal *j = arg;
	/* Its own name, so that `top -H` and perf tell its time apart. */
	pthread_setname_np(pthread_self(), "ava-journal");
	pthread_mutex_lock(&j->lock);
	for (;;) {
		uint64_t n = batch_len(j);
		if (n == 0) {
			if (j->stop && j->head == j->tail)
				break;
			atomic_store(&j->sleeping, 1);
			/* Re-check after announcing sleep: an appender that
			 * published before seeing `sleeping` is caught here. */
			if (batch_len(j) == 0 && !(j->stop && j->head == j->tail))
				pthread_cond_wait(&j->work_cv, &j->lock);
			atomic_store(&j->sleeping, 0);
			continue;
		}
		n = gather(j, n);
		int fatal = j->fatal;
		uint64_t first = j->head;
		pthread_mutex_unlock(&j->lock);
		int err = fatal ? fatal : commit_batch(j, first, n);
		pthread_mutex_lock(&j->lock);
		merge_stats(j);
		release(j, n, err);
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

/* Lock held. */
static int
start_locked(struct ava_journal *j)
{
	if (j->thread_started)
		return 0;
	int rc = pthread_create(&j->thread, NULL, journal_thread, j);
	if (rc != 0)
		return -rc;
	j->thread_started = true;
	return 0;
}

int
writer_start(struct ava_journal *j)
{
	pthread_mutex_lock(&j->lock);
	int err = start_locked(j);
	pthread_mutex_unlock(&j->lock);
	return err;
}

/* What is left in the ring is committed first, by a thread started now
 * if it never was (a deferred start); if none can be, it is lost, and
 * the close says so. */
void
writer_stop(struct ava_journal *j)
{
	pthread_mutex_lock(&j->lock);
	int err = j->head == j->tail ? 0 : start_locked(j);
	if (err && !j->fatal)
		j->fatal = err;
	if (!j->thread_started) {
		pthread_mutex_unlock(&j->lock);
		return;
	}
	j->stop = true;
	pthread_cond_signal(&j->work_cv);
	pthread_mutex_unlock(&j->lock);
	pthread_join(j->thread, NULL);
	j->thread_started = false;
}
