/*
 * session-seal.c - seal a session's journal from its fault note, in the
 * server's accept loop after the worker died (session-fault.h).
 *
 * Normally the worker's handler sealed the journal itself; this is the
 * fallback for a handler that could not (the journal thread was the one
 * that faulted, or the commit did not finish in time).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ava-error.h"
#include "journal.h"
#include "marshal-split.h"
#include "session-fault.h"
#include "session-journal.h"

/* A note read back: the header's numbers and the call's bytes. */
struct note {
	uint64_t seq, thread, fn, start_ns, duration_ns, async;
	bool call;
	uint8_t *args;
	size_t args_len;
	struct ava_journal_buf payloads[AVA_MARSHAL_MAX_SPANS];
	uint32_t npayloads;
	uint8_t *data;          /* the file */
	size_t len;
};

static int
read_file(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	if (f == NULL)
		return -errno;
	int err = fstat(fileno(f), &st) == 0 ? 0 : -errno;
	if (err == 0 && (st.st_size < 0 || (uint64_t)st.st_size >
			 (uint64_t)AVA_JOURNAL_MAX_PAYLOAD * 2))
		err = AVA_ETOOBIG;
	*out = err ? NULL : malloc((size_t)st.st_size + 1);
	if (err == 0 && *out == NULL)
		err = -ENOMEM;
	if (err == 0 && fread(*out, 1, (size_t)st.st_size, f) !=
	    (size_t)st.st_size)
		err = -EIO;
	*len = err ? 0 : (size_t)st.st_size;
	fclose(f);
	return err;
}

/* One "key value\n" line at *p; the key must be `want`. */
static bool
line(struct note *n, size_t *p, const char *want, uint64_t *v)
{
	size_t k = strlen(want);
	if (*p + k + 2 > n->len || memcmp(n->data + *p, want, k) != 0 ||
	    n->data[*p + k] != ' ')
		return false;
	char *end;
	*v = strtoull((const char *)n->data + *p + k + 1, &end, 10);
	if (*end != '\n')
		return false;
	*p = (size_t)((uint8_t *)end - n->data) + 1;
	return true;
}

static bool
bytes(struct note *n, size_t *p, uint64_t len, const uint8_t **at)
{
	if (len > n->len - *p)
		return false;
	*at = n->data + *p;
	*p += len;
	return true;
}

static bool
parse_call(struct note *n, size_t *p)
{
	uint64_t v, np;
	const uint8_t *at;
	if (!line(n, p, "thread", &n->thread) || !line(n, p, "fn", &n->fn) ||
	    !line(n, p, "start_ns", &n->start_ns) ||
	    !line(n, p, "duration_ns", &n->duration_ns) ||
	    !line(n, p, "async", &n->async) || !line(n, p, "args", &v) ||
	    !bytes(n, p, v, &at))
		return false;
	n->args = (uint8_t *)at;
	n->args_len = v;
	if (!line(n, p, "payloads", &np) || np > AVA_MARSHAL_MAX_SPANS)
		return false;
	for (uint64_t i = 0; i < np; i++) {
		if (!line(n, p, "payload", &v) || !bytes(n, p, v, &at))
			return false;
		n->payloads[i] = (struct ava_journal_buf){ at, v };
	}
	n->npayloads = (uint32_t)np;
	return true;
}

static int
parse(struct note *n)
{
	size_t p = 0;
	uint64_t v, sig, in_call, call;
	static const char magic[] = "ava-fault-note 1\n";
	if (n->len < sizeof(magic) - 1 ||
	    memcmp(n->data, magic, sizeof(magic) - 1) != 0)
		return AVA_ECORRUPT;
	p = sizeof(magic) - 1;
	if (!line(n, &p, "signal", &sig) || !line(n, &p, "in_call", &in_call) ||
	    !line(n, &p, "call", &call) || !line(n, &p, "seq", &n->seq))
		return AVA_ECORRUPT;
	n->call = call != 0;
	if (n->call && !parse_call(n, &p))
		n->call = false;  /* torn: the handler died writing it */
	(void)v;
	return 0;
}

/* The worker's journal holds one session. Its id, end and whether the
 * faulting call is recorded. */
static int
inspect(const char *path, uint64_t seq, uint64_t *sid, bool *ended,
	bool *have_call)
{
	struct ava_journal_reader *r;
	struct ava_journal_session *s = NULL;
	int err = ava_journal_reader_open(path, NULL, 0, &r);
	if (err != 0)
		return err;
	for (uint64_t id = 1; id <= 4 && s == NULL; id++)
		if (ava_journal_session_get(r, id, &s) == 0)
			*sid = id;
	if (s == NULL) {
		ava_journal_reader_close(r);
		return -ENOENT;
	}
	*ended = s->end != AVA_JOURNAL_END_NONE;
	ava_journal_session_free(s);
	struct ava_journal_call *c;
	*have_call = ava_journal_call_get(r, *sid, seq, &c) == 0;
	if (*have_call)
		ava_journal_call_free(c);
	ava_journal_reader_close(r);
	return 0;
}

static int
seal(const char *path, const struct note *n, uint64_t sid, bool have_call)
{
	struct ava_journal_options o;
	struct ava_journal *j;
	ava_journal_options_init(&o);
	int err = ava_journal_open(path, &o, NULL, 0, &j);
	if (err == -EINVAL) {
		o.level = AVA_JOURNAL_LEVEL_STATE;
		err = ava_journal_open(path, &o, NULL, 0, &j);
	}
	if (err != 0)
		return err;
	if (n->call && !have_call) {
		struct ava_journal_entry e = {
			.session = sid, .seq = n->seq,
			.thread = (uint32_t)n->thread, .fn = (uint32_t)n->fn,
			.args = n->args, .args_len = n->args_len,
			.payloads = n->payloads, .npayloads = n->npayloads,
			.start_ns = n->start_ns, .duration_ns = n->duration_ns,
			.async = n->async != 0,
		};
		err = ava_journal_append(j, &e, 0);
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (err == 0)
		err = ava_journal_session_end(j, sid, AVA_JOURNAL_END_FAULT,
					      n->seq, (uint64_t)ts.tv_sec *
					      1000000000u + (uint64_t)ts.tv_nsec);
	int cerr = ava_journal_close(j);
	return err != 0 ? err : cerr;
}

int
ava_session_fault_seal(const char *dir, uint64_t id, uint64_t *seq)
{
	char path[4096], file[4200];
	struct note n = { 0 };
	if (seq != NULL)
		*seq = 0;
	snprintf(path, sizeof(path), "%s/" AVA_SESSION_JOURNAL_FMT, dir,
		 (unsigned long long)id);
	snprintf(file, sizeof(file), "%s/" AVA_SESSION_FAULT_NOTE, path);
	int err = read_file(file, &n.data, &n.len);
	if (err == -ENOENT)
		return 0;
	if (err == 0)
		err = parse(&n);
	uint64_t sid = 0;
	bool ended = false, have_call = false;
	if (err == 0)
		err = inspect(path, n.seq, &sid, &ended, &have_call);
	if (err == 0 && seq != NULL)
		*seq = n.seq;
	if (err == 0 && !ended)
		err = seal(path, &n, sid, have_call);
	free(n.data);
	return err < 0 ? err : !ended;
}
