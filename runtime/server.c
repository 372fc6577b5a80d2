/*
 * server.c - the accept loop: listeners, one forked worker per guest
 * session (the first one perhaps forked ahead: "the spare worker" below),
 * clean shutdown on SIGINT/SIGTERM.
 *
 * The parent never touches the vendor library, so every worker starts
 * from a process without driver threads or state; the worker initialises
 * the API lazily on its first call. Signals reach the loop through a
 * self-pipe, so the parent does all its work in ordinary context.
 *
 * The loop runs on io_uring: a multishot accept on each listener that can
 * adopt a socket accepted for it (unix:, tcp:), a poll on the others'
 * (shm: accepts inside its own set-up) and on the self-pipe. Where
 * io_uring or multishot accept is not to be had (a seccomp filter, a
 * kernel before 5.19), or AVA_SERVER_NO_URING=1, the same work runs in a
 * poll() loop. Connections are not read here: each guest thread's
 * connection has its own blocking thread in the session's worker.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ava-error.h"
#include "server-private.h"
#include "session-fault.h"
#include "session-journal.h"
#include "wire.h"

struct worker {
	pid_t pid;
	uint64_t session;
	bool done;              /* said it is done: journal closed, exiting */
	uint8_t code;           /* and its exit code */
};

struct server {
	const struct ava_server_config *cfg;
	const struct ava_server_api *api;
	struct ava_listener **ls;
	size_t nls;
	struct worker *w;
	size_t nw, capw;
	uint64_t next_session;
	pid_t spare;            /* the spare worker, until it is given a
				 * connection or dies; 0: none */
	char spare_name[64];    /* its handoff socket (abstract) */
	bool spare_failed;      /* one died on its own: none is forked again */
	bool ready_said;        /* cfg->ready_fd is closed */
	bool stop;
	bool uring;             /* ring is set up */
	bool draining;          /* uring_finish(): re-arm nothing */
	size_t armed;           /* ring requests that may still complete */
	struct io_uring ring;
};

static int sig_pipe[2] = { -1, -1 };

/*
 * Workers say they are done here, just before they exit: a record of
 * their pid, session and exit code, once their session and journal are
 * closed, and only if their devices hold nothing but host memory
 * (ava_server_set_host_only()). What is left of such a worker is the
 * kernel's teardown of its memory (PoCL's, LLVM's: 5 to 7 ms on the
 * project's VM), which a stopping server need not wait for (doc/
 * architecture.md, "A worker's last word"). Both ends are non-blocking:
 * a worker that finds the pipe full just exits, and is waited for.
 */
static int done_pipe[2] = { -1, -1 };
static bool (*host_only_fn)(void);   /* ava_server_set_host_only() */

#define DONE_RECORD 16  /* u32 pid, u8 code, 3 zero bytes, u64 session */

static void
on_signal(int sig)
{
	int saved = errno;
	uint8_t b = (uint8_t)sig;
	if (write(sig_pipe[1], &b, 1) < 0) {
		/* The pipe is full: a wakeup is already pending. */
	}
	errno = saved;
}

static int
install_signals(struct sigaction old[3])
{
	static const int sigs[3] = { SIGINT, SIGTERM, SIGCHLD };
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return -errno;
	if (pipe2(done_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		int e = -errno;
		close(sig_pipe[0]);
		close(sig_pipe[1]);
		sig_pipe[0] = sig_pipe[1] = -1;
		return e;
	}
	struct sigaction sa = { .sa_handler = on_signal,
				.sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, &old[i]);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void
restore_signals(const struct sigaction old[3])
{
	static const int sigs[3] = { SIGINT, SIGTERM, SIGCHLD };
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &old[i], NULL);
	close(sig_pipe[0]);
	close(sig_pipe[1]);
	sig_pipe[0] = sig_pipe[1] = -1;
	close(done_pipe[0]);
	close(done_pipe[1]);
	done_pipe[0] = done_pipe[1] = -1;
}

static void
log_exit(const struct worker *w, int status, bool verbose)
{
	if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM)
		ava_session_log(w->session, w->pid, "worker died: %s",
				strsignal(WTERMSIG(status)));
	else if (verbose && WIFEXITED(status))
		ava_session_log(w->session, w->pid, "worker exited (%d)",
				WEXITSTATUS(status));
}

/* A worker killed by a signal (a fault in the driver): its journal must
 * say so, and name the call (session-fault.h). */
static void
seal_fault(const struct server *s, const struct worker *w, int status)
{
	const struct ava_server_config *cfg = s->cfg;
	uint64_t seq = 0;
	if (!WIFSIGNALED(status) || cfg->journal_dir == NULL ||
	    cfg->journal_mode == AVA_JOURNAL_OFF)
		return;
	int r = ava_session_fault_seal(cfg->journal_dir, w->session, &seq);
	if (r < 0)
		ava_session_log(w->session, w->pid, "journal: cannot record "
				"the fault: %s", ava_strerror(r));
	else if (seq != 0)
		ava_session_log(w->session, w->pid, "journal: the session "
				"ended in a fault at call #%llu",
				(unsigned long long)seq);
}

static void
forget(struct server *s, pid_t pid, int status)
{
	if (pid == s->spare) {
		/* The server reaps the spares it kills itself (shutdown,
		 * give_spare()) elsewhere: this one died on its own (a crash
		 * in the vendor library, the OOM killer), and would perhaps
		 * die again if forked again. */
		s->spare = 0;
		s->spare_failed = true;
		if (WIFSIGNALED(status))
			fprintf(stderr, "ava server: the spare worker died: %s; "
				"sessions start without it\n",
				strsignal(WTERMSIG(status)));
		else
			fprintf(stderr, "ava server: the spare worker exited "
				"(%d); sessions start without it\n",
				WEXITSTATUS(status));
		return;
	}
	for (size_t i = 0; i < s->nw; i++) {
		if (s->w[i].pid != pid)
			continue;
		log_exit(&s->w[i], status, s->cfg->verbose);
		seal_fault(s, &s->w[i], status);
		s->w[i] = s->w[--s->nw];
		return;
	}
}

/* Take the done records that are there; a record of a worker already
 * reaped, or of none, is dropped. */
static void
read_done(struct server *s)
{
	uint8_t rec[DONE_RECORD];
	while (read(done_pipe[0], rec, sizeof(rec)) == (ssize_t)sizeof(rec)) {
		pid_t pid = (pid_t)ava_wire_get_le(rec, 4);
		uint64_t session = ava_wire_get_le(rec + 8, 8);
		for (size_t i = 0; i < s->nw; i++)
			if (s->w[i].pid == pid && s->w[i].session == session) {
				s->w[i].done = true;
				s->w[i].code = rec[4];
			}
	}
}

/* In a worker: its last word to the server, before _exit(code), if
 * nothing but host memory is left for its exit to give back. */
static void
say_done(uint64_t session, int code)
{
	if (host_only_fn == NULL || !host_only_fn())
		return;
	uint8_t rec[DONE_RECORD] = { 0 };
	ava_wire_put_le(rec, (uint32_t)getpid(), 4);
	rec[4] = (uint8_t)code;
	ava_wire_put_le(rec + 8, session, 8);
	/* Nothing more to say: let go of the standard streams now, not at
	 * the end of the exit, or a pipe that `ava run`'s output goes into
	 * stays open until the worker is gone; and before the record, which
	 * lets the server (and `ava run`) go. */
	close(STDIN_FILENO);
	close(STDOUT_FILENO);
	close(STDERR_FILENO);
	if (write(done_pipe[1], rec, sizeof(rec)) < 0) {
		/* Full, or no server: it waits for the exit instead. */
	}
}

static void refill_spare(struct server *s);

static void
reap(struct server *s)
{
	int status;
	pid_t pid;
	read_done(s);   /* keeps the pipe from filling */
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		forget(s, pid, status);
	refill_spare(s);
}

static void
drain_signals(struct server *s)
{
	uint8_t b[64];
	ssize_t n;
	while ((n = read(sig_pipe[0], b, sizeof(b))) > 0)
		for (ssize_t i = 0; i < n; i++)
			if (b[i] == SIGINT || b[i] == SIGTERM)
				s->stop = true;
	reap(s);
}

static int
remember(struct server *s, pid_t pid, uint64_t session)
{
	if (s->nw == s->capw) {
		size_t cap = s->capw ? 2 * s->capw : 16;
		struct worker *w = realloc(s->w, cap * sizeof(*w));
		if (w == NULL)
			return -ENOMEM;
		s->w = w;
		s->capw = cap;
	}
	s->w[s->nw++] = (struct worker){ .pid = pid, .session = session };
	return 0;
}

/* In a new worker: drop everything of the parent's. */
static void
become_worker(struct server *s)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	/* The session takes SIGTERM/SIGINT in a thread of its own, to end
	 * its calls and its journal cleanly (session.c). */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	close(sig_pipe[0]);
	close(sig_pipe[1]);
	close(done_pipe[0]);
	if (s->uring)
		io_uring_queue_exit(&s->ring);
	for (size_t i = 0; i < s->nls; i++)
		ava_transport_listener_abandon(s->ls[i]);
}

static void
worker_main(struct server *s, struct ava_conn *c, uint64_t session)
{
	become_worker(s);
	int r = ava_session_serve(c, session, s->api, s->cfg);
	say_done(session, r == 0 ? 0 : 1);
	_exit(r == 0 ? 0 : 1);
}

/*
 * ---- the spare worker --------------------------------------------------
 *
 * Where a guest is known to be on its way (`ava run` starts its program
 * right after its server), one worker is forked ahead and loads the
 * vendor library while the program starts, instead of after its first
 * call: the two overlap (on the project's 2-vCPU VM, 1.5 ms of the 4 ms
 * that `ava run` added to a program that only makes a context; more
 * where there are spare cores). The first connection on the first
 * address is handed to it
 * (transport-handoff.c) instead of to a fresh fork; every later one, and
 * any that comes while the spare is gone, is forked as usual, so the
 * spare never stands in for more than one. A spare nobody took is killed
 * at shutdown, and dies with its server.
 *
 * With a journal, the loading runs in a thread of its own (start_warm())
 * and the spare takes its connection beside it: the session reads the
 * HELLO and opens its journal meanwhile (3 to 9 ms), and waits for the
 * loading only before its WELCOME (ava_server_await_warm()). The
 * journal's own thread starts after that: dlopen() holds the loader's
 * locks, and a thread's creation waits for them (12 to 20 ms of the
 * journal's open went there, on the project's VM, when its thread was
 * made beside the loading). Without a journal there is nothing to
 * overlap, and the loading stays on the thread that will serve.
 *
 * A standing server keeps one with --spare (keep_spare): a new spare is
 * forked whenever the last worker has exited (refill_spare()), so guests
 * that come one after another (a developer's runs, CI's replays) each
 * find the vendor library loaded. A spare that dies on its own is not
 * replaced.
 */

static void (*warm_fn)(void);
static pthread_t warm_thread;
static bool warm_running;   /* warm_thread is to be joined */

void
ava_server_set_warm(void (*warm)(void))
{
	warm_fn = warm;
}

/* arg: the server's configuration. */
static void *
warm_main(void *arg)
{
	const struct ava_server_config *cfg = arg;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	warm_fn();
	if (cfg->verbose)
		fprintf(stderr, "ava server: spare worker (pid %d) ready, its "
			"vendor library loaded in %ld ms\n", (int)getpid(),
			ava_ms_since(&t0));
	return NULL;
}

/* The spare's start-up: beside its wait for the connection where the
 * session will open a journal then, else (or if no thread can be made)
 * before it, as the loading then has nothing to overlap and runs best
 * where its session will. */
static void
start_warm(const struct ava_server_config *cfg)
{
	void *arg = (void *)cfg;
	if (warm_fn == NULL)
		return;
	warm_running = cfg->journal_dir != NULL &&
		       cfg->journal_mode != AVA_JOURNAL_OFF &&
		       pthread_create(&warm_thread, NULL, warm_main, arg) == 0;
	if (!warm_running)
		warm_main(arg);
}

void
ava_server_await_warm(void)
{
	if (!warm_running)
		return;
	pthread_join(warm_thread, NULL);
	warm_running = false;
}

void
ava_server_set_host_only(bool (*host_only)(void))
{
	host_only_fn = host_only;
}

static void
spare_main(struct server *s, struct ava_listener *hl, pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	/* Not ours: the server announces ready through it (a spare forked
	 * later finds it closed, its number perhaps reused). */
	if (s->cfg->ready_fd >= 0 && !s->ready_said)
		close(s->cfg->ready_fd);
	char *addr = strdup(ava_transport_listener_addr(s->ls[0]));
	become_worker(s);
	if (addr == NULL)
		_exit(1);
	start_warm(s->cfg);
	uint8_t msg[8];
	struct ava_conn *c;
	int r;
	/* A stranger's message (another user's, a malformed one) is
	 * dropped; the spare waits on for its server's. */
	do
		r = ava_transport_handoff_accept(hl, addr, msg, sizeof(msg), &c);
	while (r == -EINTR || r == -ECONNABORTED || r == AVA_EAUTH ||
	       r == AVA_EPROTO);
	ava_transport_listener_destroy(hl);
	free(addr);
	if (r < 0) {
		fprintf(stderr, "ava server: the spare worker got no "
			"connection: %s\n", ava_strerror(r));
		_exit(1);
	}
	/* A worker now: it outlives its server, as forked ones do. */
	prctl(PR_SET_PDEATHSIG, 0);
	uint64_t session = ava_wire_get_le(msg, 8);
	if (s->cfg->verbose)
		ava_session_log(session, getpid(), "served by the spare "
				"worker, which loads its vendor library ahead");
	r = ava_session_serve(c, session, s->api, s->cfg);
	ava_server_await_warm();  /* say_done() asks what it found */
	say_done(session, r == 0 ? 0 : 1);
	_exit(r == 0 ? 0 : 1);
}

/* Fork the spare, if the configuration asks for one. Without it (no
 * handoff socket, no fork), workers are forked as usual. */
static void
start_spare(struct server *s)
{
	struct ava_listener *hl;
	struct timespec t;
	if (!s->cfg->spare)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t);
	snprintf(s->spare_name, sizeof(s->spare_name), "ava-spare-%ld-%lx",
		 (long)getpid(), (unsigned long)t.tv_nsec);
	if (ava_transport_handoff_listen(s->spare_name, &hl) < 0)
		return;
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0)
		spare_main(s, hl, parent);
	ava_transport_listener_abandon(hl);
	s->spare = pid > 0 ? pid : 0;
}

/* `ava server --spare`: once no worker is left, the next session gets a
 * spare too. Not while one runs: on a small host the spare's loading
 * would take CPU from that session's start, which it cannot speed up. */
static void
refill_spare(struct server *s)
{
	if (!s->cfg->keep_spare || s->spare > 0 || s->spare_failed ||
	    s->stop || s->nw > 0)
		return;
	start_spare(s);
}

/* Hand c to the spare as session's worker; false (c untouched) if there
 * is none or it cannot take c, which then goes to a fork. */
static bool
give_spare(struct server *s, struct ava_conn *c, uint64_t session,
	   const struct ava_listener *l)
{
	pid_t pid = s->spare;
	if (pid == 0 || l != s->ls[0])
		return false;
	s->spare = 0;
	uint8_t msg[8];
	ava_wire_put_le(msg, session, 8);
	if (ava_transport_conn_handoff(c, s->spare_name, msg,
				       sizeof(msg)) < 0) {
		kill(pid, SIGKILL);  /* reaped as any child */
		return false;
	}
	if (remember(s, pid, session) < 0)
		ava_session_log(session, pid, "cannot track the worker: %s",
				strerror(ENOMEM));
	ava_transport_conn_destroy(c);
	return true;
}

/* Start the worker for a new connection on l; c is consumed. */
static void
serve(struct server *s, struct ava_conn *c, const struct ava_listener *l)
{
	uint64_t session = ++s->next_session;
	if (give_spare(s, c, session, l))
		return;
	pid_t pid = fork();
	if (pid == 0)
		worker_main(s, c, session);
	if (pid < 0 || remember(s, pid, session) < 0)
		ava_session_log(session, getpid(), "cannot start worker: %s",
				strerror(pid < 0 ? errno : ENOMEM));
	ava_transport_conn_destroy(c);
}

static void
accept_one(struct server *s, struct ava_listener *l)
{
	struct ava_conn *c;
	if (ava_transport_listener_accept(l, &c) < 0)
		return;  /* the guest went away first; nothing to serve */
	serve(s, c, l);
}

/* fd: a socket the ring accepted on l. */
static void
adopt_one(struct server *s, struct ava_listener *l, int fd)
{
	struct ava_conn *c;
	if (s->stop) {
		close(fd);  /* as a pending connection is dropped at exit */
		return;
	}
	if (ava_transport_listener_adopt(l, fd, &c) == 0)
		serve(s, c, l);
}

static int
poll_once(struct server *s)
{
	struct pollfd pfd[s->nls + 1];
	pfd[0] = (struct pollfd){ .fd = sig_pipe[0], .events = POLLIN };
	for (size_t i = 0; i < s->nls; i++)
		pfd[i + 1] = (struct pollfd){
			.fd = ava_transport_listener_fd(s->ls[i]),
			.events = POLLIN };
	if (poll(pfd, s->nls + 1, -1) < 0)
		return errno == EINTR ? 0 : -errno;
	if (pfd[0].revents)
		drain_signals(s);
	for (size_t i = 0; i < s->nls && !s->stop; i++)
		if (pfd[i + 1].revents & POLLIN)
			accept_one(s, s->ls[i]);
	return 0;
}

/* ---- the io_uring loop ---------------------------------------------- */

/* A completion's user_data: its listener's index, or the self-pipe. */
#define UD_SIGNALS UINT64_MAX
#define UD_CANCEL (UINT64_MAX - 1)

/* A burst of connections can complete faster than the loop reaps them;
 * the kernel keeps what overflows the completion queue and ends the
 * multishot accept there, which the loop then arms again. */
#define RING_SQ 32
#define RING_CQ 256

/* on_listener()'s verdict that the ring cannot accept here. */
#define FALL_BACK 1

static void
log_fallback(const char *why)
{
	fprintf(stderr, "ava server: io_uring unavailable (%s), using poll()\n",
		why);
}

static struct io_uring_sqe *
get_sqe(struct server *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
	if (sqe == NULL && io_uring_submit(&s->ring) >= 0)
		sqe = io_uring_get_sqe(&s->ring);  /* room again */
	return sqe;
}

/* Listener i: a multishot accept, or a one-shot poll for listeners that
 * accept only themselves (re-armed after each accept, so a backlog of
 * several is not left waiting for a next connection). */
static int
arm_listener(struct server *s, size_t i)
{
	struct io_uring_sqe *sqe = get_sqe(s);
	if (sqe == NULL)
		return -EBUSY;
	int fd = ava_transport_listener_fd(s->ls[i]);
	if (ava_transport_listener_can_adopt(s->ls[i]))
		io_uring_prep_multishot_accept(sqe, fd, NULL, NULL,
					       SOCK_CLOEXEC);
	else
		io_uring_prep_poll_add(sqe, fd, POLLIN);
	io_uring_sqe_set_data64(sqe, i);
	s->armed++;
	return 0;
}

/* The self-pipe is polled, then read with read(2): a read through the
 * ring would come back -EAGAIN at once on kernels that honour the pipe's
 * O_NONBLOCK, which the signal handler needs. */
static int
arm_signals(struct server *s)
{
	struct io_uring_sqe *sqe = get_sqe(s);
	if (sqe == NULL)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, sig_pipe[0], POLLIN);
	io_uring_sqe_set_data64(sqe, UD_SIGNALS);
	s->armed++;
	return 0;
}

static int
on_listener(struct server *s, size_t i, int res, unsigned flags)
{
	struct ava_listener *l = s->ls[i];
	bool multishot = ava_transport_listener_can_adopt(l);
	if (!(flags & IORING_CQE_F_MORE))
		s->armed--;
	if (multishot && res == -EINVAL)
		return FALL_BACK;  /* a kernel without multishot accept */
	if (multishot && res >= 0)
		adopt_one(s, l, res);
	else if (!multishot && res > 0 && !s->stop)
		accept_one(s, l);
	/* Errors (EMFILE, ECONNABORTED) end a multishot accept; the poll()
	 * loop would retry them too. */
	if (!(flags & IORING_CQE_F_MORE) && res != -ECANCELED && !s->stop &&
	    !s->draining)
		return arm_listener(s, i);
	return 0;
}

static int
on_cqe(struct server *s, uint64_t ud, int res, unsigned flags)
{
	if (ud == UD_CANCEL)
		return 0;
	if (ud != UD_SIGNALS)
		return on_listener(s, (size_t)ud, res, flags);
	s->armed--;
	drain_signals(s);
	if (s->stop || s->draining || res == -ECANCELED)
		return 0;
	return arm_signals(s);
}

/* Handle what has completed. */
static int
reap_cqes(struct server *s)
{
	struct io_uring_cqe *cqe;
	int r = 0;
	while (r == 0 && io_uring_peek_cqe(&s->ring, &cqe) == 0) {
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		int res = cqe->res;
		unsigned flags = cqe->flags;
		io_uring_cqe_seen(&s->ring, cqe);
		r = on_cqe(s, ud, res, flags);
	}
	return r;
}

/* End every request and wait (1 s at most) until none holds a
 * listener's socket, so that closing one really closes it; a connection
 * accepted meanwhile is still served, unless the server is stopping. */
static void
uring_finish(struct server *s)
{
	for (uint64_t ud = 0; ud <= s->nls; ud++) {
		struct io_uring_sqe *sqe = get_sqe(s);
		if (sqe == NULL)
			break;
		io_uring_prep_cancel64(sqe, ud == s->nls ? UD_SIGNALS : ud, 0);
		io_uring_sqe_set_data64(sqe, UD_CANCEL);
	}
	io_uring_submit(&s->ring);
	s->draining = true;
	while (s->armed > 0) {
		struct __kernel_timespec ts = { .tv_sec = 1 };
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe_timeout(&s->ring, &cqe, &ts);
		if (r < 0 && r != -EINTR)
			break;
		reap_cqes(s);
	}
	s->draining = false;
	io_uring_queue_exit(&s->ring);
	s->uring = false;
}

static int
uring_start(struct server *s)
{
	struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE,
				     .cq_entries = RING_CQ };
	int r = io_uring_queue_init_params(RING_SQ, &s->ring, &p);
	if (r < 0)
		return r;
	s->uring = true;
	s->armed = 0;
	r = arm_signals(s);
	for (size_t i = 0; i < s->nls && r == 0; i++)
		r = arm_listener(s, i);
	if (r < 0)
		uring_finish(s);
	return r;
}

/* Returns 0 once stopped, FALL_BACK, or a negative errno. */
static int
uring_loop(struct server *s)
{
	int r = 0;
	while (r == 0 && !s->stop) {
		r = io_uring_submit_and_wait(&s->ring, 1);
		/* EINTR: a signal, whose byte the self-pipe's poll brings;
		 * EBUSY/EAGAIN: completions to reap first. */
		if (r >= 0 || r == -EINTR || r == -EBUSY || r == -EAGAIN)
			r = reap_cqes(s);
	}
	uring_finish(s);
	return r;
}

/* Serve on io_uring if possible; otherwise (and after a fall back, with
 * nothing lost: the listeners keep their backlogs) in the poll() loop. */
static int
accept_loop(struct server *s)
{
	const char *no = getenv("AVA_SERVER_NO_URING");
	int r;
	if (no != NULL && strcmp(no, "1") == 0) {
		if (s->cfg->verbose)
			fprintf(stderr, "ava server: AVA_SERVER_NO_URING=1: "
				"accepting with poll()\n");
	} else if ((r = uring_start(s)) < 0) {
		log_fallback(strerror(-r));
	} else if ((r = uring_loop(s)) != FALL_BACK) {
		return r;
	} else {
		log_fallback("multishot accept: Invalid argument");
	}
	r = 0;
	while (r == 0 && !s->stop)
		r = poll_once(s);
	return r;
}

static int
listen_all(struct server *s)
{
	s->ls = calloc(s->cfg->nlisten, sizeof(*s->ls));
	if (s->ls == NULL)
		return -ENOMEM;
	for (; s->nls < s->cfg->nlisten; s->nls++) {
		const char *addr = s->cfg->listen[s->nls];
		int r = ava_transport_listen(addr, &s->ls[s->nls]);
		if (r < 0) {
			fprintf(stderr, "ava server: cannot listen on %s: %s\n",
				addr, ava_strerror(r));
			return r;
		}
	}
	return 0;
}

/*
 * A tcp: listener on port 0 has a port only the kernel knew: tell whoever
 * must reach it. A caller that waits on ready_fd is a program, which
 * reads "listening ADDR" lines before "ready"; otherwise a person or a
 * script reads one line on stderr.
 */
static void
announce_bound(const struct server *s)
{
	for (size_t i = 0; i < s->nls; i++) {
		const char *addr = ava_transport_listener_addr(s->ls[i]);
		if (strcmp(addr, s->cfg->listen[i]) == 0)
			continue;
		if (s->cfg->ready_fd < 0) {
			fprintf(stderr, "ava server: listening on %s\n", addr);
			continue;
		}
		if (ava_io_write_full(s->cfg->ready_fd, "listening ", 10) < 0 ||
		    ava_io_write_full(s->cfg->ready_fd, addr, strlen(addr)) < 0 ||
		    ava_io_write_full(s->cfg->ready_fd, "\n", 1) < 0) {
			/* Whoever waits is gone, as in announce_ready(). */
		}
	}
}

static void
announce_ready(int fd)
{
	if (fd < 0)
		return;
	if (ava_io_write_full(fd, "ready\n", 6) < 0) {
		/* Whoever waits is gone; the server serves regardless. */
	}
	close(fd);
}

/* How long workers get to finish their calls and journals on shutdown. */
#define WORKER_STOP_MS 5000

/* Sleep until a signal's byte reaches the self-pipe (SIGCHLD: a worker
 * exited) or a worker says it is done, ms at most (-1: no limit); empty
 * the self-pipe. */
static void
wait_signal(int ms)
{
	struct pollfd p[2] = { { .fd = sig_pipe[0], .events = POLLIN },
			       { .fd = done_pipe[0], .events = POLLIN } };
	uint8_t b[64];
	if (poll(p, 2, ms) > 0)
		while (read(sig_pipe[0], b, sizeof(b)) > 0)
			;
}

/* Every worker left has said it is done: what remains of them is their
 * exit, which the server does not wait for (done_pipe). */
static bool
all_done(struct server *s)
{
	for (size_t i = 0; i < s->nw; i++)
		if (!s->w[i].done)
			return false;
	for (size_t i = 0; i < s->nw; i++)
		if (s->cfg->verbose)
			ava_session_log(s->w[i].session, s->w[i].pid,
					"worker done (%d); its exit not waited "
					"for", s->w[i].code);
	s->nw = 0;
	return true;
}

/*
 * Workers get SIGTERM and WORKER_STOP_MS to end their calls and journals.
 * The wait sleeps on the self-pipe, which SIGCHLD wakes as each worker
 * exits, and on the done pipe: the server is gone as soon as its last
 * worker has exited or said it is done.
 */
static void
shutdown_workers(struct server *s)
{
	if (s->spare > 0) {
		kill(s->spare, SIGKILL);
		waitpid(s->spare, NULL, 0);
		s->spare = 0;
	}
	for (size_t i = 0; i < s->nw; i++)
		kill(s->w[i].pid, SIGTERM);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	bool killed = false;
	while (s->nw > 0) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid > 0) {
			forget(s, pid, status);
			continue;
		}
		if (pid < 0 && errno != EINTR)
			break;
		read_done(s);
		if (all_done(s))
			break;
		long ms = ava_ms_since(&t0);
		if (!killed && ms > WORKER_STOP_MS) {
			/* A call stuck in the driver: end it the hard way. */
			for (size_t i = 0; i < s->nw; i++) {
				ava_session_log(s->w[i].session, s->w[i].pid,
						"did not stop in %d ms; killed",
						WORKER_STOP_MS);
				kill(s->w[i].pid, SIGKILL);
			}
			killed = true;
		}
		/* A byte may be pending from before the waitpid() above: the
		 * loop then only looks once more. */
		wait_signal(killed ? -1 : (int)(WORKER_STOP_MS + 1 - ms));
	}
}

/* Session numbers name journals (DIR/session-N): a restarted server goes
 * on after the last one, never appending to an earlier session's. */
static uint64_t
last_journaled_session(const struct ava_server_config *cfg)
{
	if (cfg->journal_dir == NULL)
		return 0;
	DIR *d = opendir(cfg->journal_dir);
	if (d == NULL)
		return 0;
	uint64_t last = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		unsigned long long n;
		char tail;
		if (sscanf(de->d_name, AVA_SESSION_JOURNAL_FMT "%c", &n,
			   &tail) == 1 && n > last)
			last = n;
	}
	closedir(d);
	return last;
}

/*
 * Verbose: whether this host gives the shared heap and regions 2 MiB
 * pages (ava_map_huge() asks for them), which an operator sets in
 * sysfs; the bracketed word of shmem_enabled is the mode.
 */
static void
log_shared_pages(void)
{
	char line[128], mode[32];
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled",
			"r");
	if (f == NULL)
		return;
	char *got = fgets(line, sizeof(line), f);
	fclose(f);
	const char *bracket = got ? strchr(line, '[') : NULL;
	if (bracket == NULL || sscanf(bracket, "[%31[^]]", mode) != 1)
		return;
	if (strcmp(mode, "never") == 0 || strcmp(mode, "deny") == 0)
		fprintf(stderr, "ava server: shared memory in 4 KiB pages "
			"(shmem_enabled is %s); with 'advise' large buffers "
			"take 2 MiB pages, see doc/performance.md, \"Shared "
			"memory in 2 MiB pages\"\n", mode);
	else
		fprintf(stderr, "ava server: shared memory in 2 MiB pages "
			"where aligned (shmem_enabled is %s)\n", mode);
}

int
ava_server_run_api(const struct ava_server_config *cfg,
		   const struct ava_server_api *api)
{
	struct server s = { .cfg = cfg, .api = api,
			    .next_session = last_journaled_session(cfg) };
	struct sigaction old[3];
	if (cfg->nlisten == 0) {
		fprintf(stderr, "ava server: no address to listen on\n");
		return AVA_EADDR;
	}
	int r = install_signals(old);
	if (r < 0)
		return r;
	r = listen_all(&s);
	if (r == 0) {
		/* The spare first: its loading of the vendor library is
		 * what a program's first call waits for. "ready" after it
		 * costs `ava run` up to 2 ms on 2 CPUs (woken behind the
		 * loading), which the program's own start-up hides; before
		 * it, the spare's fork sometimes came after the program's
		 * first call (doc/performance.md). */
		start_spare(&s);
		announce_bound(&s);
		announce_ready(cfg->ready_fd);
		s.ready_said = true;
		if (cfg->verbose)
			log_shared_pages();
		r = accept_loop(&s);
	}
	shutdown_workers(&s);
	for (size_t i = 0; i < s.nls; i++)
		ava_transport_listener_destroy(s.ls[i]);
	free(s.ls);
	free(s.w);
	restore_signals(old);
	return r;
}
