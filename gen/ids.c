/*
 * ids.c - the stable function id file: one `ID NAME` per line, `#`
 * comments, blank lines ignored. Ids are never reused: a retired name
 * stays in the file, and its id becomes a hole in the tables.
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* The largest id accepted; the tables are indexed by id. */
#define MAX_ID 65535

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool
is_ident(char c)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static bool
check_unique(const struct ava_vec *out, const struct ava_id *e)
{
	for (size_t k = 0; k < out->n; k++) {
		const struct ava_id *o = out->items[k];
		if (o->id == e->id) {
			ava_error(e->loc, "id %u is already used by '%s' (line %d)",
				  e->id, o->name, o->loc.line);
			return false;
		}
		if (strcmp(o->name, e->name) == 0) {
			ava_error(e->loc, "'%s' already has id %u (line %d)",
				  e->name, o->id, o->loc.line);
			return false;
		}
	}
	return true;
}

/* One line without its newline; false after reporting an error. */
static bool
ids_line(const char *file, int lineno, const char *p, size_t n,
	 struct ava_vec *out)
{
	size_t i = 0;
	while (i < n && is_space(p[i]))
		i++;
	if (i == n || p[i] == '#')
		return true;
	struct ava_loc loc = { file, lineno, (int)i + 1 };
	if (p[i] < '0' || p[i] > '9') {
		ava_error(loc, "expected an id number");
		return false;
	}
	uint32_t id = 0;
	while (i < n && p[i] >= '0' && p[i] <= '9') {
		id = id * 10 + (uint32_t)(p[i] - '0');
		if (id > MAX_ID) {
			ava_error(loc, "id is larger than %d", MAX_ID);
			return false;
		}
		i++;
	}
	size_t digits_end = i;
	while (i < n && is_space(p[i]))
		i++;
	size_t start = i;
	while (i < n && is_ident(p[i]))
		i++;
	if (start == digits_end || i == start) {
		ava_error((struct ava_loc){ file, lineno, (int)start + 1 },
			  "expected a function name after the id");
		return false;
	}
	size_t end = i;
	while (i < n && is_space(p[i]))
		i++;
	if (i < n && p[i] != '#') {
		ava_error((struct ava_loc){ file, lineno, (int)i + 1 },
			  "unexpected text after the function name");
		return false;
	}
	struct ava_id *e = xcalloc(1, sizeof(*e));
	e->name = xstrndup(p + start, end - start);
	e->id = id;
	e->loc = loc;
	if (!check_unique(out, e)) {
		free(e->name);
		free(e);
		return false;
	}
	ava_vec_push(out, e);
	return true;
}

int
ava_ids_read(const char *file, const char *src, size_t len,
	     struct ava_vec *out)
{
	int lineno = 1;
	bool ok = true;
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(src + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (src + pos)) : len - pos;
		if (memchr(src + pos, '\0', n) != NULL) {
			ava_error((struct ava_loc){ file, lineno, 1 },
				  "NUL byte in the ids file");
			ok = false;
		} else if (!ids_line(file, lineno, src + pos, n, out)) {
			ok = false;
		}
		pos += n + 1;
		lineno++;
	}
	return ok ? 0 : -1;
}

void
ava_ids_free(struct ava_vec *ids)
{
	for (size_t i = 0; i < ids->n; i++) {
		struct ava_id *e = ids->items[i];
		free(e->name);
		free(e);
	}
	ava_vec_finish(ids);
}
