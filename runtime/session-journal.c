/*
 * session-journal.c - record each call a worker session serves.
 *
 * The call path only splits payloads (a walk over words, no copy of bulk
 * bytes) and hands the record to the journal's ring, which copies it; the
 * journal thread does the hashing, compression and disk I/O.
 */
#include <errno.h>
#include <inttypes.h>
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
#include "session-journal.h"

#define MAX_TAGS 64

struct ava_session_journal {
	struct ava_journal *j;
	uint64_t jsession;         /* the journal's own session id */
	uint64_t id;               /* the server's session id, for logs */
	bool dead;                 /* after an error: record nothing more */
	bool in_call;              /* call_begin split the payload */

	const struct ava_fn_desc *fn;
	uint32_t thread;
	uint64_t seq;
	bool async;
	uint64_t start_ns;         /* CLOCK_REALTIME, for the record */
	struct timespec t0;        /* CLOCK_MONOTONIC, for the duration */

	struct ava_buf args, outs;
	struct ava_span in[AVA_MARSHAL_MAX_SPANS], out[AVA_MARSHAL_MAX_SPANS];
	uint32_t nin, nout;
	struct ava_journal_buf payloads[AVA_MARSHAL_MAX_SPANS];
	uint64_t digests[AVA_MARSHAL_MAX_SPANS];
	struct ava_journal_tag tags[MAX_TAGS];
	uint32_t ntags;
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
			 const struct ava_api_desc *api, uint64_t id,
			 const char *guest, char *why, size_t why_len,
			 struct ava_session_journal **out)
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
	ava_buf_init(&sj->args);
	ava_buf_init(&sj->outs);

	struct ava_journal_options opts;
	ava_journal_options_init(&opts);
	opts.level = mode == AVA_JOURNAL_STATE ? AVA_JOURNAL_LEVEL_STATE
					       : AVA_JOURNAL_LEVEL_FULL;
	opts.log = journal_log;
	opts.log_data = sj;
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
	*out = sj;
	return 0;

err_close:
	ava_journal_close(sj->j);
err_free:
	ava_buf_finish(&sj->args);
	ava_buf_finish(&sj->outs);
	free(sj);
	return err;
}

void
ava_session_journal_call_begin(struct ava_session_journal *sj,
			       const struct ava_fn_desc *fn, uint32_t thread,
			       uint64_t seq, uint8_t *payload, size_t len,
			       bool async)
{
	if (sj == NULL || sj->dead)
		return;
	sj->fn = fn;
	sj->thread = thread;
	sj->seq = seq;
	sj->async = async;
	sj->ntags = 0;
	ava_buf_reset(&sj->args);
	/* A payload that does not split is malformed: the session refuses it
	 * and closes, and the session's end says so. */
	sj->in_call = ava_marshal_split(fn, false, payload, len, &sj->args,
					sj->in, AVA_MARSHAL_MAX_SPANS,
					&sj->nin) == 0;
	sj->start_ns = realtime_ns();
	clock_gettime(CLOCK_MONOTONIC, &sj->t0);
}

void
ava_session_journal_tag(struct ava_session_journal *sj, uint8_t kind,
			uint64_t id)
{
	if (sj == NULL || !sj->in_call || id == 0 || sj->ntags == MAX_TAGS)
		return;
	sj->tags[sj->ntags++] = (struct ava_journal_tag){ kind, id };
}

static void
fail(struct ava_session_journal *sj, int err)
{
	ava_session_log(sj->id, getpid(), "journal: stopped recording after "
			"seq %" PRIu64 ": %s; the session goes on unjournaled",
			sj->seq, ava_strerror(err));
	sj->dead = true;
}

int
ava_session_journal_call_end(struct ava_session_journal *sj, uint8_t *reply,
			     size_t rlen)
{
	if (sj == NULL || sj->dead || !sj->in_call)
		return 0;
	sj->in_call = false;
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ava_buf_reset(&sj->outs);
	int err = ava_marshal_split(sj->fn, true, reply, rlen, &sj->outs,
				    sj->out, AVA_MARSHAL_MAX_SPANS, &sj->nout);
	if (err != 0) {
		fail(sj, err);
		return err;
	}
	for (uint32_t i = 0; i < sj->nin; i++)
		sj->payloads[i] = (struct ava_journal_buf){ sj->in[i].data,
							    sj->in[i].len };
	for (uint32_t i = 0; i < sj->nout; i++)
		sj->digests[i] = ava_journal_digest(sj->out[i].data,
						    sj->out[i].len);
	/* The return value as the guest saw it: an id, never a pointer. */
	int64_t ret = (int64_t)ava_wire_get_le(sj->outs.data, 8);
	struct ava_journal_entry e = {
		.session = sj->jsession, .seq = sj->seq, .thread = sj->thread,
		.fn = sj->fn->id, .args = sj->args.data, .args_len = sj->args.len,
		.payloads = sj->payloads, .npayloads = sj->nin, .ret = ret,
		.outs = sj->outs.data, .outs_len = sj->outs.len,
		.digests = sj->digests, .ndigests = sj->nout,
		.start_ns = sj->start_ns,
		.duration_ns = ns_of(&t1) - ns_of(&sj->t0),
		.async = sj->async, .tags = sj->tags, .ntags = sj->ntags,
	};
	err = ava_journal_append(sj->j, &e, 0);
	if (err != 0)
		fail(sj, err);
	return err;
}

void
ava_session_journal_close(struct ava_session_journal *sj, int how,
			  uint64_t fault_seq)
{
	if (sj == NULL)
		return;
	int err = ava_journal_session_end(sj->j, sj->jsession,
					  (enum ava_journal_end)how, fault_seq,
					  realtime_ns());
	if (err == 0)
		err = ava_journal_close(sj->j);
	else
		ava_journal_close(sj->j);
	if (err != 0 && !sj->dead)
		ava_session_log(sj->id, getpid(), "journal: closing failed: %s",
				ava_strerror(err));
	ava_buf_finish(&sj->args);
	ava_buf_finish(&sj->outs);
	free(sj);
}
