/*
 * test-crash.c - SIGKILL a writer at random points, many times, into one
 * journal. After each kill: verify passes, every session's calls are a
 * prefix (seq 1..k, no gap), and every record the child reported as
 * committed (strict: each append; other modes: after a flush) is there.
 * SIGKILL is a process crash, which every sync mode survives.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "gen-entry.h"

#define ITERATIONS 21
#define MAX_RECORDS 20000

static void
report(int fd, uint64_t seq)
{
	if (write(fd, &seq, sizeof(seq)) != sizeof(seq))
		_exit(3);
}

static void
child(const char *dir, enum ava_journal_sync sync, int fd)
{
	struct ava_journal *j;
	struct ava_journal_options o;
	char why[256];
	uint64_t s;
	struct gen_entry *g = calloc(1, sizeof(*g));
	ava_journal_options_init(&o);
	o.sync = sync;
	o.segment_bytes = 1 << 20; /* several segments per run */
	if (ava_journal_open(dir, &o, why, sizeof(why), &j) != 0) {
		fprintf(stderr, "child: open: %s\n", why);
		_exit(2);
	}
	struct ava_journal_session_info info = { "crash-child", "test" };
	if (ava_journal_session_begin(j, &info, &s) != 0)
		_exit(2);
	report(fd, s);
	for (uint64_t i = 1; i <= MAX_RECORDS; i++) {
		gen_make(g, s, i, i);
		if (ava_journal_append(j, &g->e, 0) != 0)
			_exit(2);
		if (sync == AVA_JOURNAL_SYNC_STRICT)
			report(fd, i);
		else if (i % 64 == 0 && ava_journal_flush(j) == 0)
			report(fd, i);
	}
	ava_journal_flush(j);
	for (;;)
		pause();
}

struct prefix {
	uint64_t n;
	bool gap;
};

static int
prefix_cb(const struct ava_journal_call *c, void *data)
{
	struct prefix *p = data;
	if (c->seq != ++p->n)
		p->gap = true;
	return 0;
}

/* Read what the child reported: its session id (unless already read
 * into *session), then seqs. */
static void
drain(int fd, uint64_t *session, uint64_t *durable)
{
	uint64_t v;
	*durable = 0;
	while (read(fd, &v, sizeof(v)) == sizeof(v)) {
		if (*session == 0)
			*session = v;
		else
			*durable = v;
	}
}

static void
check_after_kill(const char *dir, uint64_t session, uint64_t durable,
		 uint64_t *total)
{
	struct ava_journal_verify_report rep;
	int rc = ava_journal_verify(dir, &rep);
	/* Killed while creating the journal: there is none yet. */
	if (rc == -ENOENT && session == 0 && *total == 0)
		return;
	if (rc != 0)
		fprintf(stderr, "verify: %s\n", rep.first);
	CHECK_RC(rc, 0);
	if (session == 0)
		return; /* killed before the session began */
	struct ava_journal_reader *r;
	struct prefix p = { 0, false };
	CHECK_RC(ava_journal_reader_open(dir, NULL, 0, &r), 0);
	rc = ava_journal_call_foreach(r, session, 0, prefix_cb, &p);
	CHECK_RC(rc, 0);
	ava_journal_reader_close(r);
	CHECK(!p.gap);
	if (p.n < durable)
		fprintf(stderr, "session %llu: %llu calls, %llu reported\n",
			(unsigned long long)session,
			(unsigned long long)p.n, (unsigned long long)durable);
	CHECK(p.n >= durable);
	*total += p.n;
}

int
main(void)
{
	alarm(240); /* a wedged child must not hang the suite */
	char *dir = jt_tmpdir("crash");
	uint64_t seed = (uint64_t)time(NULL), total = 0, reported = 0;
	printf("seed %llu\n", (unsigned long long)seed);
	for (int it = 0; it < ITERATIONS; it++) {
		int pfd[2];
		enum ava_journal_sync sync = (enum ava_journal_sync)(it % 3);
		CHECK(pipe(pfd) == 0);
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			child(dir, sync, pfd[1]);
		}
		close(pfd[1]);
		/* Most kills land after the session began (the parent waits
		 * for its id, however slow a loaded disk makes the open),
		 * 2..150 ms later: mid-batch, mid-blob, mid-fsync, idle. Every
		 * seventh lands at once: during open or creation. */
		uint64_t first = 0, ms = 2 + jt_rand(&seed) % 149;
		if (it % 7 == 6)
			ms = jt_rand(&seed) % 3;
		else
			CHECK(read(pfd[0], &first, sizeof(first)) ==
			      sizeof(first));
		struct timespec ts = { 0, (long)(ms * 1000000) };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int status;
		CHECK(waitpid(pid, &status, 0) == pid);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		uint64_t session = first, durable;
		drain(pfd[0], &session, &durable);
		close(pfd[0]);
		check_after_kill(dir, session, durable, &total);
		reported += durable;
		printf("kill %2d (sync %d) at %3llu ms: session %llu, "
		       "%llu reported durable\n", it, (int)sync,
		       (unsigned long long)ms, (unsigned long long)session,
		       (unsigned long long)durable);
	}
	printf("%llu records survived in all, %llu were reported\n",
	       (unsigned long long)total, (unsigned long long)reported);
	CHECK(total > 0);
	jt_rmrf(dir);
	free(dir);
	printf("ok\n");
	return 0;
}
