/*
 * session-async.c - the run order of a session's async calls and the
 * failures its guest threads have yet to hear of (session-async.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ava-error.h"
#include "pretty.h"
#include "server-private.h"
#include "session-async.h"

/* A connection thread waiting in ava_session_async_fence, on its stack. */
struct waiter {
	uint64_t base;
	struct waiter *next;
};

struct ava_session_async {
	uint64_t id;
	pid_t pid;
	pthread_mutex_t lock;
	pthread_cond_t ran_cv;     /* async_done grew, or the waits must end */
	uint64_t done;             /* ASYNC calls of BATCHes that have run */
	uint32_t grace_ms;         /* how long a stuck fence waits anyway */
	uint32_t nconns;           /* live connections of the session */
	uint32_t nwaiting;         /* of which wait in ava_session_async_fence */
	struct waiter *waiters;    /* those, with what they wait for */
	bool stopping;
	uint32_t ndeferred;
	uint64_t lost;             /* failures beyond AVA_SESSION_DEFERRED_MAX */
	struct ava_deferred deferred[AVA_SESSION_DEFERRED_MAX];
};

int
ava_session_async_create(uint64_t id, pid_t pid,
			 struct ava_session_async **out)
{
	struct ava_session_async *sa = calloc(1, sizeof(*sa));
	if (sa == NULL)
		return -ENOMEM;
	sa->id = id;
	sa->pid = pid;
	pthread_mutex_init(&sa->lock, NULL);
	pthread_cond_init(&sa->ran_cv, NULL);
	*out = sa;
	return 0;
}

/* "clFinish" and "CL_INVALID_VALUE (-30)", for a log line. */
static void
describe(const struct ava_api_desc *api, const struct ava_deferred *d,
	 const char **fn, char *ret, size_t n)
{
	const struct ava_fn_desc *f = ava_api_fn(api, d->fn);
	const char *name = f ? ava_pretty_status(api, f, d->ret) : NULL;
	*fn = f ? f->name : "?";
	if (name != NULL)
		snprintf(ret, n, "%s (%" PRId64 ")", name, (int64_t)d->ret);
	else
		snprintf(ret, n, "%" PRId64, (int64_t)d->ret);
}

void
ava_session_async_destroy(struct ava_session_async *sa,
			  const struct ava_api_desc *api)
{
	if (sa == NULL)
		return;
	for (uint32_t i = 0; i < sa->ndeferred && i < 8; i++) {
		const struct ava_deferred *d = &sa->deferred[i];
		const char *fn;
		char ret[96];
		describe(api, d, &fn, ret, sizeof(ret));
		ava_session_log(sa->id, sa->pid, "%s (thread %" PRIu32 ", seq %"
				PRIu64 ", queued) failed with %s; the guest "
				"thread made no synchronizing call after it",
				fn, d->thread, d->seq, ret);
	}
	uint64_t more = sa->lost + (sa->ndeferred > 8 ? sa->ndeferred - 8 : 0);
	if (more > 0)
		ava_session_log(sa->id, sa->pid, "%" PRIu64 " more queued calls "
				"failed without their guest thread hearing of it",
				more);
	pthread_cond_destroy(&sa->ran_cv);
	pthread_mutex_destroy(&sa->lock);
	free(sa);
}

/*
 * Can no wait ever end? The missing calls can only come through a
 * connection that reads: once every connection of the session waits here,
 * and none for calls that have run (a waiter just woken has not left yet),
 * none will ever come (a guest that died between numbering a batch and
 * sending it). Called with sa->lock held.
 */
static bool
stuck(const struct ava_session_async *sa)
{
	if (sa->nwaiting == 0 || sa->nwaiting < sa->nconns)
		return false;
	for (const struct waiter *w = sa->waiters; w != NULL; w = w->next)
		if (sa->done >= w->base)
			return false;
	return true;
}

/* Called with sa->lock held. */
static void
wake_if_stuck(struct ava_session_async *sa)
{
	if (stuck(sa))
		pthread_cond_broadcast(&sa->ran_cv);
}

void
ava_session_async_conns(struct ava_session_async *sa, int delta)
{
	pthread_mutex_lock(&sa->lock);
	sa->nconns += (uint32_t)delta;
	wake_if_stuck(sa);
	pthread_mutex_unlock(&sa->lock);
}

int
ava_session_async_fence(struct ava_session_async *sa, uint64_t base,
			bool exact)
{
	int r = 0;
	pthread_mutex_lock(&sa->lock);
	if (sa->done < base) {
		struct waiter me = { base, sa->waiters };
		sa->waiters = &me;
		sa->nwaiting++;
		wake_if_stuck(sa);
		struct timespec until = { 0, 0 };
		for (;;) {
			if (sa->done >= base || sa->stopping)
				break;
			if (!stuck(sa)) {
				pthread_cond_wait(&sa->ran_cv, &sa->lock);
				continue;
			}
			/* Stuck; but a moved session's guest threads come
			 * back one by one, and one may bring the calls. */
			if (sa->grace_ms == 0)
				break;
			struct timespec now;
			clock_gettime(CLOCK_REALTIME, &now);
			if (until.tv_sec == 0) {
				ava_deadline_in(&until, sa->grace_ms);
			} else if (now.tv_sec > until.tv_sec ||
				   (now.tv_sec == until.tv_sec &&
				    now.tv_nsec >= until.tv_nsec)) {
				break;
			}
			pthread_cond_timedwait(&sa->ran_cv, &sa->lock, &until);
		}
		if (sa->done < base)
			r = AVA_EDEAD;
		struct waiter **p = &sa->waiters;
		while (*p != &me)
			p = &(*p)->next;
		*p = me.next;
		sa->nwaiting--;
	}
	if (r == 0 && exact && sa->done != base)
		r = AVA_EPROTO;
	pthread_mutex_unlock(&sa->lock);
	return r;
}

void
ava_session_async_ran(struct ava_session_async *sa, uint64_t n)
{
	pthread_mutex_lock(&sa->lock);
	sa->done += n;
	if (sa->nwaiting > 0)
		pthread_cond_broadcast(&sa->ran_cv);
	pthread_mutex_unlock(&sa->lock);
}

void
ava_session_async_stop(struct ava_session_async *sa)
{
	pthread_mutex_lock(&sa->lock);
	sa->stopping = true;
	pthread_cond_broadcast(&sa->ran_cv);
	pthread_mutex_unlock(&sa->lock);
}

void
ava_session_async_failed(struct ava_session_async *sa,
			 const struct ava_deferred *d)
{
	pthread_mutex_lock(&sa->lock);
	if (sa->ndeferred < AVA_SESSION_DEFERRED_MAX)
		sa->deferred[sa->ndeferred++] = *d;
	else
		sa->lost++;
	pthread_mutex_unlock(&sa->lock);
}

size_t
ava_session_async_take(struct ava_session_async *sa, uint32_t thread,
		       struct ava_deferred *out, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&sa->lock);
	uint32_t keep = 0;
	for (uint32_t i = 0; i < sa->ndeferred; i++) {
		if (sa->deferred[i].thread == thread && n < max)
			out[n++] = sa->deferred[i];
		else
			sa->deferred[keep++] = sa->deferred[i];
	}
	sa->ndeferred = keep;
	pthread_mutex_unlock(&sa->lock);
	return n;
}

uint64_t
ava_session_async_done(struct ava_session_async *sa)
{
	pthread_mutex_lock(&sa->lock);
	uint64_t n = sa->done;
	pthread_mutex_unlock(&sa->lock);
	return n;
}

void
ava_session_async_seed(struct ava_session_async *sa, uint64_t done)
{
	pthread_mutex_lock(&sa->lock);
	sa->done = done;
	/* Its guest's connections come back one at a time. */
	sa->grace_ms = 10000;
	pthread_mutex_unlock(&sa->lock);
}
