/*
 * session-fault.c - a worker's fault handlers and the fault note
 * (session-fault.h).
 *
 * Everything the handler reads is set up beforehand: the note's path,
 * the journal, and a fixed table of the connection threads' current
 * records with an in-flight flag each. The note is written with open()
 * and write() only, both async-signal-safe.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ava-error.h"
#include "journal.h"
#include "session-fault.h"
#include "session-journal.h"

#define MAX_SLOTS 512
#define ALT_STACK (256u << 10)   /* the handler appends to the journal */
#define SEAL_ALARM_S 10

struct slot {
	struct ava_journal_rec *rec;
	int flight;                  /* rec holds a call that has not ended */
	int used;
};

static const int fault_sigs[] = {
	SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP,
};
#define NSIGS (sizeof(fault_sigs) / sizeof(fault_sigs[0]))

static struct slot slots[MAX_SLOTS];
static _Thread_local int my_slot = -1;
static _Thread_local void *my_stack;
static _Thread_local bool looked;   /* rearm() ran in this frame */
static pthread_key_t thread_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static struct ava_journal *fault_j;
static uint64_t fault_session;
static char note_path[4096];
static int armed;
static pid_t handler_tid;           /* the thread recording a fault */
static uint64_t last_seq;

/* ---- async-signal-safe output ------------------------------------------ */

static void
put(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

static void
put_str(int fd, const char *s)
{
	put(fd, s, strlen(s));
}

/* "key value\n" with the number formatted by hand. */
static void
put_kv(int fd, const char *key, uint64_t v)
{
	char num[24];
	int i = (int)sizeof(num);
	num[--i] = '\n';
	do {
		num[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 && i > 0);
	num[--i] = ' ';
	put_str(fd, key);
	put(fd, num + i, sizeof(num) - (size_t)i);
}

static uint64_t
clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the handler ---------------------------------------------------------- */

/* The call to blame: this thread's, else the latest in flight. */
static struct ava_journal_rec *
blamed_call(int *in_call)
{
	*in_call = 0;
	if (my_slot >= 0 && __atomic_load_n(&slots[my_slot].flight,
					     __ATOMIC_ACQUIRE)) {
		*in_call = 1;
		return slots[my_slot].rec;
	}
	struct ava_journal_rec *best = NULL;
	for (int i = 0; i < MAX_SLOTS; i++) {
		if (!__atomic_load_n(&slots[i].flight, __ATOMIC_ACQUIRE))
			continue;
		struct ava_journal_rec *r = slots[i].rec;
		if (best == NULL || r->seq > best->seq)
			best = r;
	}
	return best;
}

static void
write_note(int sig, const struct ava_journal_rec *rec, int in_call,
	   uint64_t dur)
{
	int fd = open(note_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		      0640);
	if (fd < 0)
		return;
	put_str(fd, "ava-fault-note 1\n");
	put_kv(fd, "signal", (uint64_t)sig);
	put_kv(fd, "in_call", (uint64_t)in_call);
	put_kv(fd, "call", rec != NULL);
	put_kv(fd, "seq", rec != NULL ? rec->seq
			  : __atomic_load_n(&last_seq, __ATOMIC_RELAXED));
	if (rec != NULL) {
		put_kv(fd, "thread", rec->thread);
		put_kv(fd, "fn", rec->fn->id);
		put_kv(fd, "start_ns", rec->start_ns);
		put_kv(fd, "duration_ns", dur);
		put_kv(fd, "async", rec->async);
		put_kv(fd, "args", rec->args.len);
		put(fd, rec->args.data, rec->args.len);
		put_kv(fd, "payloads", rec->nin);
		for (uint32_t i = 0; i < rec->nin; i++) {
			put_kv(fd, "payload", rec->in[i].len);
			put(fd, rec->in[i].data, rec->in[i].len);
		}
	}
	put_str(fd, "end 0\n");
	close(fd);
}

/* Append the faulting call (if one was in flight), end the session as a
 * fault at seq, and wait for the journal thread to commit. */
static void
seal_here(const struct ava_journal_rec *rec, uint64_t seq, uint64_t dur)
{
	struct ava_journal_buf payloads[AVA_MARSHAL_MAX_SPANS];
	for (uint32_t i = 0; rec != NULL && i < rec->nin; i++)
		payloads[i] = (struct ava_journal_buf){ rec->in[i].data,
							rec->in[i].len };
	if (rec != NULL) {
		struct ava_journal_entry e = {
			.session = fault_session, .seq = rec->seq,
			.thread = rec->thread, .fn = rec->fn->id,
			.args = rec->args.data, .args_len = rec->args.len,
			.payloads = payloads, .npayloads = rec->nin,
			.start_ns = rec->start_ns, .duration_ns = dur,
			.async = rec->async,
		};
		if (ava_journal_append(fault_j, &e, 0) != 0)
			return;
	}
	if (seq != 0 &&
	    ava_journal_session_end(fault_j, fault_session,
				    AVA_JOURNAL_END_FAULT, seq,
				    clock_ns(CLOCK_REALTIME)) == 0)
		ava_journal_flush(fault_j);
}

static void
die(int sig)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	raise(sig);  /* delivered, by default, once the handler returns */
}

/*
 * Several threads may fault at once (a kernel faulting in every driver
 * thread): the first records, the others wait for it to end the process.
 * A fault inside the handler itself (same thread) dies at once.
 */
static void
on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	int saved = errno;
	pid_t me = (pid_t)syscall(SYS_gettid), none = 0;
	if (!__atomic_compare_exchange_n(&handler_tid, &none, me, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		if (handler_tid == me) {
			die(sig);
			return;
		}
		for (;;)
			pause();
	}
	if (__atomic_load_n(&armed, __ATOMIC_ACQUIRE)) {
		int in_call;
		const struct ava_journal_rec *rec = blamed_call(&in_call);
		uint64_t dur = rec != NULL
			       ? clock_ns(CLOCK_MONOTONIC) - rec->t0 : 0;
		uint64_t seq = rec != NULL ? rec->seq
			       : __atomic_load_n(&last_seq, __ATOMIC_RELAXED);
		write_note(sig, rec, in_call, dur);
		/* A connection thread outside a call may be inside the
		 * journal's own code: then the note alone must do. A driver
		 * thread (a kernel that faulted) is not: the calls before
		 * still in the ring must be committed. */
		if (in_call || my_slot < 0) {
			alarm(SEAL_ALARM_S);
			seal_here(rec, seq, dur);
			alarm(0);
		}
	}
	die(sig);
	errno = saved;
}

/* ---- threads ---------------------------------------------------------------- */

static void
thread_gone(void *arg)
{
	(void)arg;
	if (my_slot >= 0) {
		__atomic_store_n(&slots[my_slot].flight, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&slots[my_slot].used, 0, __ATOMIC_RELEASE);
		my_slot = -1;
	}
	if (my_stack != NULL) {
		stack_t ss = { .ss_flags = SS_DISABLE };
		sigaltstack(&ss, NULL);
		munmap(my_stack, ALT_STACK);
		my_stack = NULL;
	}
}

static void
make_key(void)
{
	pthread_key_create(&thread_key, thread_gone);
}

/* First call on this thread: a slot in the table and an alternate stack,
 * released when the thread exits. */
static void
join_thread(void)
{
	pthread_once(&key_once, make_key);
	for (int i = 0; i < MAX_SLOTS && my_slot < 0; i++) {
		int zero = 0;
		if (__atomic_compare_exchange_n(&slots[i].used, &zero, 1, false,
						__ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			my_slot = i;
	}
	void *st = mmap(NULL, ALT_STACK, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (st != MAP_FAILED) {
		stack_t ss = { .ss_sp = st, .ss_size = ALT_STACK };
		if (sigaltstack(&ss, NULL) == 0)
			my_stack = st;
		else
			munmap(st, ALT_STACK);
	}
	pthread_setspecific(thread_key, (void *)1);
}

static void
install(void)
{
	struct sigaction sa = { .sa_sigaction = on_fault,
		.sa_flags = SA_SIGINFO | SA_ONSTACK };
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NSIGS; i++)
		sigaction(fault_sigs[i], &sa, NULL);
}

/*
 * The driver's compiler (LLVM, inside PoCL) installs handlers of its own
 * for the same signals when it starts and around each compilation, and
 * puts back what it found when it is done; two compilations at once, or
 * a fault meanwhile, leave ours out. The first call of each frame from
 * the guest makes sure they are ours again: one sigaction() to look, more
 * only if they were replaced. Once a frame, not once a call: a batch of
 * launches and arguments would otherwise pay a system call for each (a
 * third of the journal's cost on the serving thread), and its calls come
 * one after another, with no compilation of the guest's own between them
 * (a build is synchronous, so it ends a batch).
 */
static void
rearm(void)
{
	struct sigaction cur;
	if (sigaction(SIGSEGV, NULL, &cur) != 0 ||
	    cur.sa_sigaction != on_fault || !(cur.sa_flags & SA_SIGINFO))
		install();
}

void
ava_session_fault_enter(struct ava_journal_rec *rec)
{
	if (!__atomic_load_n(&armed, __ATOMIC_RELAXED))
		return;
	if (my_slot < 0)
		join_thread();
	if (!looked) {
		rearm();
		looked = true;
	}
	uint64_t prev = __atomic_load_n(&last_seq, __ATOMIC_RELAXED);
	while (rec->seq > prev &&
	       !__atomic_compare_exchange_n(&last_seq, &prev, rec->seq, true,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	if (my_slot < 0)
		return;  /* more threads than slots: still noted by last_seq */
	slots[my_slot].rec = rec;
	__atomic_store_n(&slots[my_slot].flight, 1, __ATOMIC_RELEASE);
}

void
ava_session_fault_frame(void)
{
	looked = false;
}

void
ava_session_fault_leave(struct ava_journal_rec *rec)
{
	(void)rec;
	if (my_slot >= 0)
		__atomic_store_n(&slots[my_slot].flight, 0, __ATOMIC_RELEASE);
}

void
ava_session_fault_arm(struct ava_journal *j, uint64_t jsession,
		      const char *path)
{
	if ((size_t)snprintf(note_path, sizeof(note_path), "%s/%s", path,
			     AVA_SESSION_FAULT_NOTE) >= sizeof(note_path))
		return;
	fault_j = j;
	fault_session = jsession;
	install();
	__atomic_store_n(&armed, 1, __ATOMIC_RELEASE);
}

void
ava_session_fault_disarm(void)
{
	__atomic_store_n(&armed, 0, __ATOMIC_RELEASE);
}
