/*
 * journal-view.c - reading a journal for people: dump lines, statistics
 * and the Chrome trace.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "ava-error.h"
#include "journal-view.h"
#include "opencl-desc.h"
#include "pretty.h"
#include "session-journal.h"
#include "tool.h"

const struct ava_api_desc *
journal_view_api(const char *name)
{
	if (name != NULL && strcmp(name, ava_opencl_api.name) == 0)
		return &ava_opencl_api;
	return NULL;
}

struct journal_set {
	char **paths;
	uint64_t *ids;   /* the server's session numbers; 0: a single journal */
	size_t n;
};

static bool
is_journal(const char *dir)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/data.mdb", dir) >=
	    sizeof(path))
		return false;
	return access(path, F_OK) == 0;
}

static int
add_entry(struct journal_set *set, const char *path, uint64_t id)
{
	char **p = realloc(set->paths, (set->n + 1) * sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	set->paths = p;
	uint64_t *ids = realloc(set->ids, (set->n + 1) * sizeof(*ids));
	if (ids == NULL)
		return -ENOMEM;
	set->ids = ids;
	if ((set->paths[set->n] = strdup(path)) == NULL)
		return -ENOMEM;
	set->ids[set->n++] = id;
	return 0;
}

static int
scan_sessions(struct journal_set *set, const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return -errno;
	struct dirent *de;
	int err = 0;
	while (err == 0 && (de = readdir(d)) != NULL) {
		unsigned long long id;
		char tail, path[PATH_MAX];
		if (sscanf(de->d_name, AVA_SESSION_JOURNAL_FMT "%c", &id,
			   &tail) != 1 || id == 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
				     de->d_name) >= sizeof(path))
			continue;
		if (is_journal(path))
			err = add_entry(set, path, id);
	}
	closedir(d);
	return err;
}

/* Sort the entries by session number (insertion sort: sets are small). */
static void
sort_set(struct journal_set *set)
{
	for (size_t i = 1; i < set->n; i++)
		for (size_t j = i; j > 0 && set->ids[j - 1] > set->ids[j]; j--) {
			uint64_t id = set->ids[j];
			char *p = set->paths[j];
			set->ids[j] = set->ids[j - 1];
			set->paths[j] = set->paths[j - 1];
			set->ids[j - 1] = id;
			set->paths[j - 1] = p;
		}
}

int
journal_set_open(const char *sub, const char *dir, struct journal_set **out)
{
	struct journal_set *set = calloc(1, sizeof(*set));
	if (set == NULL)
		return -ENOMEM;
	int err = is_journal(dir) ? add_entry(set, dir, 0)
				  : scan_sessions(set, dir);
	if (err == 0 && set->n == 0)
		err = -ENOENT;
	if (err != 0) {
		if (err == -ENOENT)
			tool_error("journal %s: %s: not a journal (no data.mdb, "
				   "and no session-N journals inside)", sub, dir);
		else
			tool_error("journal %s: %s: %s", sub, dir,
				   ava_strerror(err));
		journal_set_close(set);
		return err;
	}
	sort_set(set);
	*out = set;
	return 0;
}

void
journal_set_close(struct journal_set *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->n; i++)
		free(set->paths[i]);
	free(set->paths);
	free(set->ids);
	free(set);
}

size_t
journal_set_count(const struct journal_set *set)
{
	return set->n;
}

const char *
journal_set_path(const struct journal_set *set, size_t i)
{
	return set->paths[i];
}

uint64_t
journal_set_id(const struct journal_set *set, size_t i)
{
	return set->ids[i];
}

static const char *volatile guard_sub;
static const char *volatile guard_path;

static void
put(const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Async-signal-safe: write() and _exit() only. */
static void
on_sigbus(int sig)
{
	(void)sig;
	put("ava: journal ");
	put(guard_sub ? guard_sub : "?");
	put(": ");
	put(guard_path ? guard_path : "?");
	put(": damaged: a record reaches past the end of data.mdb\n");
	_exit(AVA_EXIT_FAILURE);
}

void
journal_view_guard(const char *sub, const char *path)
{
	static bool installed;
	guard_sub = sub;
	guard_path = path;
	if (installed)
		return;
	struct sigaction sa = { .sa_handler = on_sigbus };
	sigemptyset(&sa.sa_mask);
	installed = sigaction(SIGBUS, &sa, NULL) == 0;
}

struct sessions {
	uint64_t want, id;   /* id: the set's name for the journal's session */
	int (*fn)(struct ava_journal_reader *r,
		  const struct ava_journal_session *s, uint64_t own_id,
		  void *data);
	void *data;
	struct ava_journal_reader *r;
	bool found;
	bool fn_failed;      /* fn returned nonzero (and said why) */
	uint64_t last;       /* the last session read in this journal */
};

static int
one_session(const struct ava_journal_session *s, void *data)
{
	struct sessions *w = data;
	struct ava_journal_session view = *s;
	w->last = s->id;
	if (w->id != 0)
		view.id = w->id;
	if (w->want != 0 && view.id != w->want)
		return 0;
	w->found = true;
	int err = w->fn(w->r, &view, s->id, w->data);
	w->fn_failed = err != 0;
	return err;
}

/* A reason from the library that does not name the journal gets its path,
 * so that a damaged journal among a server's session-N is found. */
static void
open_error(const char *sub, const char *path, const char *why, int err)
{
	if (why[0] == '\0')
		why = ava_strerror(err);
	if (strncmp(why, path, strlen(path)) == 0)
		tool_error("journal %s: %s", sub, why);
	else
		tool_error("journal %s: %s: %s", sub, path, why);
}

/* The walk stopped on a session record it could not read. */
static void
session_error(const char *sub, const char *path, const struct sessions *w,
	      int err)
{
	if (w->last != 0)
		tool_error("journal %s: %s: the session record after session "
			   "%" PRIu64 ": %s", sub, path, w->last,
			   ava_strerror(err));
	else
		tool_error("journal %s: %s: the first session record: %s", sub,
			   path, ava_strerror(err));
}

int
journal_set_sessions(struct journal_set *set, const char *sub,
		     uint64_t session,
		     int (*fn)(struct ava_journal_reader *r,
			       const struct ava_journal_session *s,
			       uint64_t own_id, void *data),
		     void *data)
{
	struct sessions w = { .want = session, .fn = fn, .data = data };
	int err = 0;
	for (size_t i = 0; i < set->n && err == 0; i++) {
		if (session != 0 && set->ids[i] != 0 && set->ids[i] != session)
			continue;
		char why[256] = "";
		journal_view_guard(sub, set->paths[i]);
		err = ava_journal_reader_open(set->paths[i], why, sizeof(why),
					      &w.r);
		if (err != 0) {
			open_error(sub, set->paths[i], why, err);
			break;
		}
		w.id = set->ids[i];
		w.last = 0;
		w.fn_failed = false;
		err = ava_journal_session_foreach(w.r, one_session, &w);
		if (err < 0 && !w.fn_failed)
			session_error(sub, set->paths[i], &w, err);
		ava_journal_reader_close(w.r);
	}
	if (err == 0 && session != 0 && !w.found) {
		tool_error("journal %s: no session %" PRIu64, sub, session);
		err = -ENOENT;
	}
	return err;
}

struct walk {
	const char *sub;
	uint64_t from, until;
	int (*fn)(const struct ava_journal_session *s,
		  const struct ava_journal_call *c, void *data);
	void *data;
};

/*
 * At FULL level every call appended is stored, and the session record
 * counts them in the same transaction. A walk that found fewer has met
 * damage the records' checksums cannot show: a key that no longer leads
 * to its record. (A live writer may have added calls since the session
 * was read, so more is fine.)
 */
static int
check_count(struct ava_journal_reader *r, const char *sub,
	    const struct ava_journal_session *s, uint64_t n)
{
	struct ava_journal_info info;
	int err = ava_journal_reader_info(r, &info);
	if (err != 0) {
		tool_error("journal %s: session %" PRIu64 ": %s", sub, s->id,
			   ava_strerror(err));
		return err;
	}
	if (info.level != AVA_JOURNAL_LEVEL_FULL || n >= s->ncalls)
		return 0;
	tool_error("journal %s: session %" PRIu64 ": %" PRIu64 " call records "
		   "found, its session record counts %" PRIu64 " (damaged "
		   "index)", sub, s->id, n, s->ncalls);
	return AVA_ECORRUPT;
}

static int
walk_session(struct ava_journal_reader *r, const struct ava_journal_session *s,
	     uint64_t own_id, void *data)
{
	struct walk *w = data;
	struct ava_journal_cursor *cur;
	int err = ava_journal_cursor_create(r, own_id, w->from, &cur);
	if (err != 0) {
		tool_error("journal %s: session %" PRIu64 ": %s", w->sub, s->id,
			   ava_strerror(err));
		return err;
	}
	const struct ava_journal_call *c;
	uint64_t last = 0, n = 0;
	bool fn_failed = false;
	while ((err = ava_journal_cursor_next(cur, &c)) == 1) {
		if (w->until != 0 && c->seq > w->until)
			break;
		last = c->seq;
		n++;
		err = w->fn(s, c, w->data);
		if (err != 0) {
			fn_failed = true;
			break;
		}
	}
	ava_journal_cursor_destroy(cur);
	if (fn_failed)
		; /* fn has said why */
	else if (err < 0 && last == 0)
		tool_error("journal %s: session %" PRIu64 ": its first call "
			   "record: %s", w->sub, s->id, ava_strerror(err));
	else if (err < 0)
		tool_error("journal %s: session %" PRIu64 ": the record after "
			   "#%" PRIu64 ": %s", w->sub, s->id, last,
			   ava_strerror(err));
	else if (err == 0 && w->from <= 1 && w->until == 0)
		err = check_count(r, w->sub, s, n);
	return err < 0 ? err : 0;
}

int
journal_view_walk(struct journal_set *set, const char *sub,
		  uint64_t session, uint64_t from, uint64_t until,
		  int (*fn)(const struct ava_journal_session *s,
			    const struct ava_journal_call *c, void *data),
		  void *data)
{
	struct walk w = {
		.sub = sub, .from = from, .until = until, .fn = fn,
		.data = data,
	};
	return journal_set_sessions(set, sub, session, walk_session, &w);
}

int
journal_view_format(const struct ava_journal_session *s,
		    const struct ava_journal_call *c, bool json,
		    struct ava_buf *out)
{
	const struct ava_api_desc *api = journal_view_api(s->api);
	const struct ava_fn_desc *fn = api ? ava_api_fn(api, c->fn) : NULL;
	if (fn == NULL) {
		ava_buf_put_bytes(out, "#", 1);
		char tmp[96];
		int n = snprintf(tmp, sizeof(tmp), "%" PRIu64 " t%u <function %u "
				 "of api '%s' unknown to this build>", c->seq,
				 c->thread, c->fn, s->api ? s->api : "?");
		ava_buf_put_bytes(out, tmp, (size_t)n);
		return ava_buf_error(out);
	}
	struct ava_pretty_span spans[AVA_JOURNAL_MAX_ITEMS];
	uint32_t nin = c->npayloads < AVA_JOURNAL_MAX_ITEMS
		       ? c->npayloads : AVA_JOURNAL_MAX_ITEMS;
	for (uint32_t i = 0; i < nin; i++) {
		const struct ava_journal_payload *p = &c->payloads[i];
		spans[i] = (struct ava_pretty_span){
			.data = p->is_blob ? NULL : p->data,
			.len = p->len,
			.hash = p->is_blob ? p->hash : NULL,
		};
	}
	uint64_t digests[64];
	uint32_t nd = c->ndigests < 64 ? c->ndigests : 64;
	for (uint32_t i = 0; i < nd; i++)
		digests[i] = ava_journal_call_digest(c, i);
	struct ava_pretty_call pc = {
		.api = api, .fn = fn, .seq = c->seq, .thread = c->thread,
		.args = c->args, .args_len = c->args_len,
		.in = spans, .nin = nin,
		.outs = c->outs_len ? c->outs : NULL, .outs_len = c->outs_len,
		.digests = digests, .ndigests = nd,
		.ret = c->ret, .duration_ns = c->duration_ns,
		.async = c->async, .deferred_error = c->deferred_error,
	};
	return ava_pretty_call_format(&pc, json, out);
}
