/*
 * cmd-replay.c - `ava replay DIR`: re-execute a recorded session without
 * the application and check every result against the record.
 *
 * The replay runs in a child process. A driver that faults takes down
 * only the child; the parent then knows from shared memory which call
 * was in flight and reports it, and a journal whose recorded run died in
 * that same call by the same signal counts as reproduced.
 *
 * Exit status: 0 every call matched; 1 a divergence, or a crash the
 * record does not have, or an error; 2 usage; 3 the recorded fault was
 * reproduced at the same call (doc/replay.md).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ava-error.h"
#include "journal-calls.h"
#include "journal-view.h"
#include "opencl-server.h"
#include "replay-report.h"
#include "replay.h"
#include "tool.h"

#define EXIT_REPRODUCED 3
/* How long the replay waits for a driver thread's recorded fault. */
#define DRIVER_FAULT_WAIT_S 5

struct replay_opts {
	const char *dir;
	uint64_t session;
	struct ava_replay_options o;
	const char *report;
};

static int
usage(FILE *f)
{
	fprintf(f, "usage: ava replay DIR [--session S] [--until SEQ] "
		"[--no-verify] [--speed max|recorded] [--report FILE] "
		"[--stall S]\n");
	return f == stdout ? 0 : AVA_EXIT_USAGE;
}

static int
parse_num(const char *s, uint64_t *out)
{
	char *end = NULL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0') {
		tool_error("replay: '%s' is not a number", s);
		return AVA_EXIT_USAGE;
	}
	return 0;
}

static int
parse(int argc, char **argv, struct replay_opts *p)
{
	static const struct option opts[] = {
		{ "session", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "no-verify", no_argument, NULL, 'n' },
		{ "speed", required_argument, NULL, 'S' },
		{ "report", required_argument, NULL, 'r' },
		{ "stall", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc = 0;
	p->o.verify = true;
	optind = 1;
	uint64_t stall;
	while (rc == 0 && (c = getopt_long(argc, argv, "s:u:nS:r:t:h", opts,
					   NULL)) != -1) {
		switch (c) {
		case 's': rc = parse_num(optarg, &p->session); break;
		case 'u': rc = parse_num(optarg, &p->o.until); break;
		case 'n': p->o.verify = false; break;
		case 'r': p->report = optarg; break;
		case 't':
			rc = parse_num(optarg, &stall);
			if (rc == 0 && (stall == 0 || stall > 86400)) {
				tool_error("replay: --stall takes 1 to 86400 "
					   "seconds");
				rc = AVA_EXIT_USAGE;
			}
			p->o.stall_s = (uint32_t)stall;
			break;
		case 'h': return usage(stdout) - 1;
		case 'S':
			if (strcmp(optarg, "recorded") == 0)
				p->o.recorded_speed = true;
			else if (strcmp(optarg, "max") != 0) {
				tool_error("replay: unknown speed '%s' (expected "
					   "max or recorded)", optarg);
				return AVA_EXIT_USAGE;
			}
			break;
		default: return AVA_EXIT_USAGE;
		}
	}
	if (rc != 0)
		return rc;
	if (optind + 1 != argc)
		return usage(stderr);
	p->dir = argv[optind];
	return 0;
}

/* ---- which session ------------------------------------------------------ */

static int
take_target(struct ava_journal_reader *r, const struct ava_journal_session *s,
	    uint64_t own_id, const char *path, void *data)
{
	(void)r;
	return replay_target_set(data, path, s, s->id, own_id) == 0
	       ? 0 : AVA_EXIT_FAILURE;
}

/* ---- the child: replay and report ---------------------------------------- */

static int
child(const struct replay_opts *p, struct replay_target *t)
{
	struct rlimit no_core = { 0, 0 };
	setrlimit(RLIMIT_CORE, &no_core);  /* a reproduced fault is expected */
	struct ava_journal_reader *r;
	char why[256] = "";
	int err = ava_journal_reader_open(t->path, why, sizeof(why), &r);
	if (err != 0) {
		tool_error("replay: %s", why[0] ? why : ava_strerror(err));
		return AVA_EXIT_FAILURE;
	}
	struct ava_journal_info info;
	if (ava_journal_reader_info(r, &info) == 0 &&
	    info.level != AVA_JOURNAL_LEVEL_FULL) {
		tool_error("replay: %s records at level state: it keeps only "
			   "what live objects need, and replay needs every call "
			   "(record with --journal-mode full)", t->path);
		ava_journal_reader_close(r);
		return AVA_EXIT_FAILURE;
	}
	struct ava_replay_options o = p->o;
	o.fault_elsewhere = t->fault_seq != 0 && t->fault_noted &&
			    !t->fault_in_call;
	struct ava_replay_result res;
	err = ava_replay_session(r, t->own_id, &ava_opencl_server,
				 &ava_opencl_replay_rules, &o, &res);
	/* A driver thread's fault comes when the work it runs does: give
	 * it time before saying it did not come. */
	if (err == 0 && o.fault_elsewhere && !res.diverged &&
	    (o.until == 0 || o.until >= t->fault_seq))
		sleep(DRIVER_FAULT_WAIT_S);
	int rc;
	if (err != 0) {
		tool_error("replay: session %" PRIu64 ": %s", t->id,
			   res.why[0] ? res.why : ava_strerror(err));
		rc = AVA_EXIT_FAILURE;
	} else {
		rc = replay_report(t, r, &p->o, &res, p->report);
	}
	ava_journal_reader_close(r);
	return rc;
}

/* ---- the parent: a child that died ---------------------------------------- */

static int
crashed(const struct replay_opts *p, struct replay_target *t,
	const struct ava_replay_progress *prog, int sig)
{
	/* The call in flight: the recorded fault's own if it is one of
	 * them, else the earliest, else the latest started. */
	uint64_t seq = 0;
	for (int i = 0; i < AVA_REPLAY_MAX_THREADS; i++) {
		uint64_t s = prog->in_flight[i];
		if (s == 0)
			continue;
		if (s == t->fault_seq || seq == 0 ||
		    (s < seq && seq != t->fault_seq))
			seq = s;
	}
	bool in_flight = seq != 0;
	if (seq == 0)
		seq = prog->last_started;
	struct replay_crash c = { .sig = sig, .seq = seq,
				  .in_flight = in_flight,
				  .completed = prog->completed };
	/* A fault in a driver thread (a kernel) comes when it comes: the
	 * call it was blamed on, or its neighbour, may be the one in flight
	 * at the same point of the replay. */
	uint64_t slack = t->fault_noted && !t->fault_in_call ? 1 : 0;
	c.reproduced = t->fault_seq != 0 && seq + slack >= t->fault_seq &&
		       seq <= t->fault_seq + slack &&
		       (t->fault_sig == 0 || t->fault_sig == sig);
	replay_report_crash(t, &p->o, &c, p->report);
	return c.reproduced ? EXIT_REPRODUCED : AVA_EXIT_FAILURE;
}

static int
run(const struct replay_opts *p, struct replay_target *t)
{
	struct ava_replay_progress *prog = mmap(NULL, sizeof(*prog),
		PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (prog == MAP_FAILED) {
		tool_error("replay: %s", strerror(errno));
		return AVA_EXIT_FAILURE;
	}
	struct replay_opts cp = *p;
	cp.o.progress = prog;
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		tool_error("replay: cannot fork: %s", strerror(errno));
		return AVA_EXIT_FAILURE;
	}
	if (pid == 0) {
		int rc = child(&cp, t);
		fflush(stdout);
		fflush(stderr);
		/* Threads blocked in the driver may remain: no teardown. */
		_exit(rc);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	int rc = AVA_EXIT_FAILURE;
	if (WIFEXITED(status))
		rc = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		rc = crashed(p, t, prog, WTERMSIG(status));
	munmap(prog, sizeof(*prog));
	return rc;
}

int
cmd_replay(int argc, char **argv)
{
	struct replay_opts p = { 0 };
	int rc = parse(argc, argv, &p);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	struct journal_set *set;
	if (journal_set_open("replay", p.dir, &set) != 0)
		return AVA_EXIT_FAILURE;
	struct replay_target t = { .dir = p.dir };
	rc = journal_pick_session(set, p.dir, "replay", p.session, take_target,
				  &t);
	journal_set_close(set);
	if (rc == 0) {
		replay_target_load_fault(&t);
		rc = run(&p, &t);
	}
	replay_target_finish(&t);
	return rc;
}
