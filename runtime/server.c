/*
 * server.c - the accept loop: listeners, one forked worker per guest
 * session, clean shutdown on SIGINT/SIGTERM.
 *
 * The parent never touches the vendor library, so every worker starts
 * from a process without driver threads or state; the worker initialises
 * the API lazily on its first call. Signals reach the poll() loop through
 * a self-pipe, so the parent does all its work in ordinary context.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ava-error.h"
#include "server-private.h"
#include "session-fault.h"
#include "session-journal.h"

struct worker {
	pid_t pid;
	uint64_t session;
};

struct server {
	const struct ava_server_config *cfg;
	const struct ava_server_api *api;
	struct ava_listener **ls;
	size_t nls;
	struct worker *w;
	size_t nw, capw;
	uint64_t next_session;
	bool stop;
};

static int sig_pipe[2] = { -1, -1 };

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
	for (size_t i = 0; i < s->nw; i++) {
		if (s->w[i].pid != pid)
			continue;
		log_exit(&s->w[i], status, s->cfg->verbose);
		seal_fault(s, &s->w[i], status);
		s->w[i] = s->w[--s->nw];
		return;
	}
}

static void
reap(struct server *s)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		forget(s, pid, status);
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

/* In the worker: drop everything of the parent's, then serve. */
static void
worker_main(struct server *s, struct ava_conn *c, uint64_t session)
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
	for (size_t i = 0; i < s->nls; i++)
		ava_transport_listener_abandon(s->ls[i]);
	int r = ava_session_serve(c, session, s->api, s->cfg);
	_exit(r == 0 ? 0 : 1);
}

static void
accept_one(struct server *s, struct ava_listener *l)
{
	struct ava_conn *c;
	if (ava_transport_listener_accept(l, &c) < 0)
		return;  /* the guest went away first; nothing to serve */
	uint64_t session = ++s->next_session;
	pid_t pid = fork();
	if (pid == 0)
		worker_main(s, c, session);
	if (pid < 0 || remember(s, pid, session) < 0)
		ava_session_log(session, getpid(), "cannot start worker: %s",
				strerror(pid < 0 ? errno : ENOMEM));
	ava_transport_conn_destroy(c);
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

static void
shutdown_workers(struct server *s)
{
	for (size_t i = 0; i < s->nw; i++)
		kill(s->w[i].pid, SIGTERM);
	struct timespec t0, now;
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
		clock_gettime(CLOCK_MONOTONIC, &now);
		long ms = (now.tv_sec - t0.tv_sec) * 1000 +
			  (now.tv_nsec - t0.tv_nsec) / 1000000;
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
		usleep(2000);
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
	if (r == 0)
		announce_ready(cfg->ready_fd);
	while (r == 0 && !s.stop)
		r = poll_once(&s);
	shutdown_workers(&s);
	for (size_t i = 0; i < s.nls; i++)
		ava_transport_listener_destroy(s.ls[i]);
	free(s.ls);
	free(s.w);
	restore_signals(old);
	return r;
}
