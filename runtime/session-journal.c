/*
 * session-journal.c - record each call a worker session serves.
 *
 * The call path only splits payloads (a walk over words, no copy of bulk
 * bytes) and hands the record to the journal's ring, which copies it; the
 * journal thread does the hashing, compression and disk I/O.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ava-error.h"
#include "journal.h"
#include "marshal-split.h"
#include "server-private.h"
#include "session-fault.h"
#include "session-journal.h"

/* A place in the journal's order that a guest thread's next call takes
 * (ava_session_journal_call_hold()). */
struct held {
	uint32_t thread;
	uint64_t seq, start_ns, t0;   /* seq 0: a free entry */
};

struct ava_session_journal {
	struct ava_journal *j;
	uint64_t jsession;         /* the journal's own session id */
	uint64_t id;               /* the server's session id, for logs */
	bool dead;                 /* after an error: record nothing more */
	uint64_t next_seq;         /* the session's global call order */
	pthread_mutex_t held_lock;
	unsigned nheld;            /* entries in use; read without the lock */
	struct held held[AVA_JOURNAL_HELD];
};

static uint64_t
ns_of(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

static uint64_t
realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ns_of(&ts);
}

static void
journal_log(void *data, const char *line)
{
	const struct ava_session_journal *sj = data;
	/* The library names itself; the session's prefix already does. */
	static const char own[] = "ava journal: ";
	if (strncmp(line, own, sizeof(own) - 1) == 0)
		line += sizeof(own) - 1;
	ava_session_log(sj->id, getpid(), "journal: %s", line);
}

static int
make_dir(const char *dir, char *why, size_t why_len)
{
	if (mkdir(dir, 0750) == 0 || errno == EEXIST)
		return 0;
	int err = -errno;
	snprintf(why, why_len, "%s: cannot create: %s", dir, strerror(errno));
	return err;
}

static void
session_info(const struct ava_api_desc *api, const char *guest,
	     struct ava_journal_session_info *info, char *host, size_t hlen)
{
	if (gethostname(host, hlen) != 0)
		snprintf(host, hlen, "unknown");
	host[hlen - 1] = '\0';
	*info = (struct ava_journal_session_info){
		.guest = guest, .api = api->name, .host = host,
		.ava_version = AVA_VERSION_STRING, .start_ns = realtime_ns(),
	};
}

int
ava_session_journal_open(const char *dir, enum ava_journal_mode mode,
			 enum ava_journal_sync_mode sync,
			 const struct ava_api_desc *api, uint64_t id,
			 const char *guest, bool defer, char *why,
			 size_t why_len, struct ava_session_journal **out)
{
	char path[4096], host[256];
	int err = make_dir(dir, why, why_len);
	if (err != 0)
		return err;
	snprintf(path, sizeof(path), "%s/" AVA_SESSION_JOURNAL_FMT, dir,
		 (unsigned long long)id);
	struct ava_session_journal *sj = calloc(1, sizeof(*sj));
	if (sj == NULL)
		return -ENOMEM;
	sj->id = id;
	pthread_mutex_init(&sj->held_lock, NULL);

	struct ava_journal_options opts;
	ava_journal_options_init(&opts);
	opts.level = mode == AVA_JOURNAL_STATE ? AVA_JOURNAL_LEVEL_STATE
					       : AVA_JOURNAL_LEVEL_FULL;
	opts.sync = sync == AVA_SYNC_NONE ? AVA_JOURNAL_SYNC_NONE
		    : sync == AVA_SYNC_STRICT ? AVA_JOURNAL_SYNC_STRICT
		    : AVA_JOURNAL_SYNC_BATCH;
	opts.log = journal_log;
	opts.log_data = sj;
	opts.defer_start = defer;
	err = ava_journal_open(path, &opts, why, why_len, &sj->j);
	if (err != 0)
		goto err_free;
	struct ava_journal_session_info info;
	session_info(api, guest, &info, host, sizeof(host));
	err = ava_journal_session_begin(sj->j, &info, &sj->jsession);
	if (err != 0) {
		snprintf(why, why_len, "%s: cannot record the session: %s",
			 path, ava_strerror(err));
		goto err_close;
	}
	/* A driver fault kills the worker: record which call it hit. */
	ava_session_fault_arm(sj->j, sj->jsession, path);
	*out = sj;
	return 0;

err_close:
	ava_journal_close(sj->j);
err_free:
	pthread_mutex_destroy(&sj->held_lock);
	free(sj);
	return err;
}

int
ava_session_journal_start(struct ava_session_journal *sj, char *why,
			  size_t why_len)
{
	int err = ava_journal_start(sj->j);
	if (err != 0)
		snprintf(why, why_len, "cannot start the journal's thread: %s",
			 ava_strerror(err));
	return err;
}

void
ava_journal_rec_init(struct ava_journal_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	ava_buf_init(&rec->args);
	ava_buf_init(&rec->outs);
}

void
ava_journal_rec_finish(struct ava_journal_rec *rec)
{
	ava_buf_finish(&rec->args);
	ava_buf_finish(&rec->outs);
}

static uint64_t
monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ns_of(&ts);
}

static bool
is_dead(struct ava_session_journal *sj)
{
	return __atomic_load_n(&sj->dead, __ATOMIC_RELAXED);
}

/* Does rec's thread hold a place? Then rec takes it. */
static bool
take_held(struct ava_session_journal *sj, struct ava_journal_rec *rec)
{
	if (__atomic_load_n(&sj->nheld, __ATOMIC_ACQUIRE) == 0)
		return false;
	bool took = false;
	pthread_mutex_lock(&sj->held_lock);
	for (unsigned i = 0; i < AVA_JOURNAL_HELD && !took; i++) {
		struct held *h = &sj->held[i];
		if (h->seq == 0 || h->thread != rec->thread)
			continue;
		rec->seq = h->seq;
		rec->start_ns = h->start_ns;
		rec->t0 = h->t0;
		h->seq = 0;
		__atomic_sub_fetch(&sj->nheld, 1, __ATOMIC_RELEASE);
		took = true;
	}
	pthread_mutex_unlock(&sj->held_lock);
	return took;
}

void
ava_session_journal_call_begin(struct ava_session_journal *sj,
			       struct ava_journal_rec *rec,
			       const struct ava_fn_desc *fn, uint32_t thread,
			       uint8_t *payload, size_t len, bool async)
{
	rec->in_call = false;
	if (sj == NULL || is_dead(sj))
		return;
	rec->fn = fn;
	rec->thread = thread;
	rec->async = async;
	rec->deferred_error = 0;
	rec->ntags = 0;
	ava_buf_reset(&rec->args);
	/* A payload that does not split is malformed: the session refuses it
	 * and closes, and the session's end says so. */
	if (ava_marshal_split(fn, false, payload, len, &rec->args, rec->in,
			      AVA_MARSHAL_MAX_SPANS, &rec->nin) != 0)
		return;
	rec->in_call = true;
	if (!take_held(sj, rec)) {
		rec->seq = __atomic_add_fetch(&sj->next_seq, 1,
					      __ATOMIC_RELAXED);
		rec->start_ns = realtime_ns();
		rec->t0 = monotonic_ns();
	}
	ava_session_fault_enter(rec);
}

void
ava_journal_rec_tag(struct ava_journal_rec *rec, uint8_t kind, uint64_t id)
{
	if (!rec->in_call || id == 0 || rec->ntags == AVA_JOURNAL_REC_MAX_TAGS)
		return;
	rec->tags[rec->ntags++] = (struct ava_journal_tag){ kind, id };
}

static void
fail(struct ava_session_journal *sj, uint64_t seq, int err)
{
	if (__atomic_exchange_n(&sj->dead, true, __ATOMIC_RELAXED))
		return;
	ava_session_log(sj->id, getpid(), "journal: stopped recording at "
			"call #%" PRIu64 ": %s; the session goes on unjournaled",
			seq, ava_strerror(err));
}

/* Append rec, whose skeletons and spans are filled, to the journal. */
static int
append(struct ava_session_journal *sj, struct ava_journal_rec *rec,
       uint32_t fn_id, uint64_t duration)
{
	for (uint32_t i = 0; i < rec->nin; i++)
		rec->payloads[i] = (struct ava_journal_buf){ rec->in[i].data,
							     rec->in[i].len };
	for (uint32_t i = 0; i < rec->nout; i++)
		rec->digests[i] = ava_journal_digest(rec->out[i].data,
						     rec->out[i].len);
	/* The return value as the guest saw it: an id, never a pointer. */
	int64_t ret = (int64_t)ava_wire_get_le(rec->outs.data, 8);
	struct ava_journal_entry e = {
		.session = sj->jsession, .seq = rec->seq, .thread = rec->thread,
		.fn = fn_id, .args = rec->args.data,
		.args_len = rec->args.len, .payloads = rec->payloads,
		.npayloads = rec->nin, .ret = ret, .outs = rec->outs.data,
		.outs_len = rec->outs.len, .digests = rec->digests,
		.ndigests = rec->nout, .start_ns = rec->start_ns,
		.duration_ns = duration, .async = rec->async,
		.deferred_error = rec->deferred_error,
		.tags = rec->tags, .ntags = rec->ntags,
	};
	int err = ava_journal_append(sj->j, &e, 0);
	if (err != 0)
		fail(sj, rec->seq, err);
	return err;
}

/* The call rec is over: false if there is nothing to record for it. */
static bool
leave_call(struct ava_session_journal *sj, struct ava_journal_rec *rec)
{
	if (sj == NULL || !rec->in_call || is_dead(sj))
		return false;
	rec->in_call = false;
	ava_session_fault_leave(rec);
	return true;
}

int
ava_session_journal_call_end(struct ava_session_journal *sj,
			     struct ava_journal_rec *rec, uint8_t *reply,
			     size_t rlen)
{
	if (!leave_call(sj, rec))
		return 0;
	uint64_t duration = monotonic_ns() - rec->t0;
	ava_buf_reset(&rec->outs);
	int err = ava_marshal_split(rec->fn, true, reply, rlen, &rec->outs,
				    rec->out, AVA_MARSHAL_MAX_SPANS, &rec->nout);
	if (err != 0) {
		fail(sj, rec->seq, err);
		return err;
	}
	return append(sj, rec, rec->fn->id, duration);
}

/* A buffer's length word in skel, and its bytes as the next span. */
static void
put_span(struct ava_buf *skel, struct ava_span *spans, uint32_t *n,
	 const struct ava_journal_as *as)
{
	ava_buf_put_u64(skel, as->len);
	spans[(*n)++] = (struct ava_span){ as->bytes, as->len };
}

/* A call's in-kinds, absent but for as->buf and as->list: the words a
 * CALL payload of as->fn has, split (marshal-split.h), with as->buf's
 * bytes as the only span. */
static void
skeleton_as(const struct ava_journal_as *as, struct ava_journal_rec *rec)
{
	const struct ava_fn_desc *fn = as->fn;
	ava_buf_reset(&rec->args);
	rec->nin = 0;
	for (unsigned i = 0; i < fn->nargs && i < AVA_MAX_ARGS; i++) {
		bool mine = (int)i == as->buf;
		switch (fn->args[i].kind) {
		case AVA_ARG_SCALAR:
		case AVA_ARG_HANDLE:
			ava_buf_put_u64(&rec->args, as->v[i]);
			break;
		case AVA_ARG_IN_BUF:
		case AVA_ARG_INOUT_BUF:
			if (mine)
				put_span(&rec->args, rec->in, &rec->nin, as);
			else
				ava_buf_put_u64(&rec->args, AVA_WIRE_NULL);
			break;
		case AVA_ARG_IN_HANDLES:
			if ((int)i != as->list) {
				ava_buf_put_u64(&rec->args, AVA_WIRE_NULL);
				break;
			}
			ava_buf_put_u64(&rec->args, as->nids);
			for (uint32_t k = 0; k < as->nids; k++)
				ava_buf_put_u64(&rec->args, as->ids[k]);
			break;
		case AVA_ARG_IN_STRING:
		case AVA_ARG_IN_PROPS:
		case AVA_ARG_IN_BUFS:
			ava_buf_put_u64(&rec->args, AVA_WIRE_NULL);
			break;
		case AVA_ARG_IN_KARG:   /* NULL, and not a handle */
			ava_buf_put_u64(&rec->args, AVA_WIRE_NULL);
			ava_buf_put_u64(&rec->args, 0);
			break;
		case AVA_ARG_USERDATA:
			ava_buf_put_u64(&rec->args, 0);
			break;
		default:   /* out-kinds and callbacks: a presence flag */
			ava_buf_put_u64(&rec->args, mine || as->v[i] != 0);
			break;
		}
	}
}

/* Its REPLY, split: ret, then the out-kinds: as->buf's bytes (only if
 * the call succeeded, as the marshaller sends them), the out-scalars'
 * and out-handles' as->out, every other empty. */
static void
reply_as(const struct ava_journal_as *as, struct ava_journal_rec *rec)
{
	const struct ava_fn_desc *fn = as->fn;
	ava_buf_reset(&rec->outs);
	rec->nout = 0;
	ava_buf_put_u64(&rec->outs, (uint64_t)as->ret);
	for (unsigned i = 0; i < fn->nargs && i < AVA_MAX_ARGS; i++) {
		switch (fn->args[i].kind) {
		case AVA_ARG_OUT_BUF:
		case AVA_ARG_INOUT_BUF:
			if ((int)i == as->buf && as->ok) {
				put_span(&rec->outs, rec->out, &rec->nout, as);
				break;
			}
			ava_buf_put_u64(&rec->outs, 0);
			break;
		case AVA_ARG_OUT_SCALAR:
			ava_buf_put_u64(&rec->outs, as->out[i]);
			break;
		case AVA_ARG_OUT_HANDLE:
			ava_buf_put_u64(&rec->outs, as->ok ? as->out[i] : 0);
			break;
		case AVA_ARG_OUT_HANDLES:
			ava_buf_put_u64(&rec->outs, 0);
			break;
		default:
			break;
		}
	}
}

int
ava_session_journal_call_as(struct ava_session_journal *sj,
			    struct ava_journal_rec *rec,
			    const struct ava_journal_as *as)
{
	if (!leave_call(sj, rec))
		return 0;
	uint64_t duration = monotonic_ns() - rec->t0;
	skeleton_as(as, rec);
	reply_as(as, rec);
	int err = ava_buf_error(&rec->args);
	if (err == 0)
		err = ava_buf_error(&rec->outs);
	if (err != 0) {
		fail(sj, rec->seq, err);
		return err;
	}
	return append(sj, rec, as->fn->id, duration);
}

void
ava_session_journal_call_hold(struct ava_session_journal *sj,
			      struct ava_journal_rec *rec)
{
	if (!leave_call(sj, rec))
		return;
	pthread_mutex_lock(&sj->held_lock);
	struct held *free_h = NULL;
	for (unsigned i = 0; i < AVA_JOURNAL_HELD; i++) {
		struct held *h = &sj->held[i];
		if (h->seq != 0 && h->thread == rec->thread) {
			free_h = NULL;   /* one place per thread: keep the first */
			break;
		}
		if (h->seq == 0 && free_h == NULL)
			free_h = h;
	}
	if (free_h != NULL) {
		*free_h = (struct held){ rec->thread, rec->seq, rec->start_ns,
					 rec->t0 };
		__atomic_add_fetch(&sj->nheld, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&sj->held_lock);
}

/*
 * With AVA_JOURNAL_STATS=1 in the server's environment, a session logs its
 * journal's counters as it closes: which write path ran (io_uring or the
 * pwrite fallback) and how much it did, seen without tracing the worker.
 */
static void
log_stats(struct ava_session_journal *sj)
{
	const char *env = getenv("AVA_JOURNAL_STATS");
	if (env == NULL || strcmp(env, "1") != 0 || is_dead(sj) ||
	    ava_journal_flush(sj->j) != 0)
		return;
	struct ava_journal_stats st;
	ava_journal_get_stats(sj->j, &st);
	ava_session_log(sj->id, getpid(), "journal stats: io=%s appended=%"
			PRIu64 " committed=%" PRIu64 " batches=%" PRIu64
			" inline_payloads=%" PRIu64 " blobs_written=%" PRIu64
			" blobs_deduped=%" PRIu64 " blob_bytes=%" PRIu64
			" uring_submissions=%" PRIu64 " uring_completions=%"
			PRIu64 " pwrite_calls=%" PRIu64 " fsyncs=%" PRIu64
			" backpressure_waits=%" PRIu64 " heap_staged=%" PRIu64
			" arena_rewinds=%" PRIu64 " arena_wraps=%" PRIu64
			" state_skipped=%"
			PRIu64 " compacted=%" PRIu64 " blobs_freed=%" PRIu64
			" segments_deleted=%" PRIu64,
			ava_journal_uses_uring(sj->j) ? "io_uring" : "pwrite",
			st.appended, st.committed, st.batches,
			st.inline_payloads, st.blobs_written, st.blobs_deduped,
			st.blob_bytes_stored, st.uring_submissions,
			st.uring_completions, st.pwrite_calls, st.fsyncs,
			st.backpressure_waits, st.heap_staged, st.arena_rewinds,
			st.arena_wraps,
			st.state_skipped,
			st.compacted,
			st.blobs_freed, st.segments_deleted);
}

void
ava_session_journal_close(struct ava_session_journal *sj, int how,
			  uint64_t fault_seq)
{
	if (sj == NULL)
		return;
	ava_session_fault_disarm();
	int err = ava_journal_session_end(sj->j, sj->jsession,
					  (enum ava_journal_end)how, fault_seq,
					  realtime_ns());
	log_stats(sj);
	if (err == 0)
		err = ava_journal_close(sj->j);
	else
		ava_journal_close(sj->j);
	if (err != 0 && !is_dead(sj))
		ava_session_log(sj->id, getpid(), "journal: closing failed: %s",
				ava_strerror(err));
	pthread_mutex_destroy(&sj->held_lock);
	free(sj);
}
