/*
 * journal-calls.c - the handle ids and argument words of a recorded call.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ava-error.h"
#include "handle-table.h"
#include "journal-calls.h"
#include "journal-view.h"
#include "tool.h"
#include "wire.h"

struct rd {
	struct ava_reader r;
	struct call_ids *ids;
	bool bad;
};

static uint64_t
word(struct rd *d)
{
	uint64_t v = 0;
	if (ava_reader_u64(&d->r, &v) != 0)
		d->bad = true;
	return v;
}

static void
add(uint64_t *list, uint32_t *n, uint64_t id)
{
	if (id != 0 && *n < CALL_MAX_IDS)
		list[(*n)++] = id;
}

static bool
prop_is_handle(const struct ava_arg_desc *a, uint64_t key)
{
	for (unsigned i = 0; i < a->nprop_handles; i++)
		if (a->prop_handles[i].key == key)
			return true;
	return false;
}

static void
call_arg_words(struct rd *d, const struct ava_arg_desc *a, int i)
{
	struct call_ids *ids = d->ids;
	uint64_t v = word(d);
	ids->word[i] = v;
	switch (a->kind) {
	case AVA_ARG_HANDLE:
		add(ids->used, &ids->nused, v);
		return;
	case AVA_ARG_IN_HANDLES:
		for (uint64_t k = 0; v != AVA_WIRE_NULL && k < v && !d->bad; k++)
			add(ids->used, &ids->nused, word(d));
		return;
	case AVA_ARG_IN_PROPS:
		for (uint64_t k = 0; v != AVA_WIRE_NULL && k < v && !d->bad;
		     k += 2) {
			uint64_t key = word(d);
			uint64_t val = k + 1 < v ? word(d) : 0;
			if (prop_is_handle(a, key))
				add(ids->used, &ids->nused, val);
		}
		return;
	case AVA_ARG_IN_BUFS:
		for (uint64_t k = 0; v != AVA_WIRE_NULL && k < v && !d->bad; k++)
			word(d);
		return;
	case AVA_ARG_IN_KARG:
		if (word(d) == 1) {  /* is_handle (also sent for NULL) */
			ids->karg = word(d);
			add(ids->used, &ids->nused, ids->karg);
		}
		return;
	default:
		return;
	}
}

static bool
is_errcode(const struct ava_fn_desc *fn, int i)
{
	return i == fn->errcode_arg ||
	       (fn->args[i].flags & AVA_ARGF_ERRCODE) != 0;
}

static void
reply_words(struct rd *d, const struct ava_fn_desc *fn)
{
	struct call_ids *ids = d->ids;
	uint64_t ret = word(d);
	if (fn->ret == AVA_RET_HANDLE)
		add(ids->made, &ids->nmade, ret);
	if (fn->ret == AVA_RET_STATUS) {
		ids->has_status = true;
		ids->status = (int64_t)ret;
	}
	for (int i = 0; i < fn->nargs && !d->bad; i++) {
		const struct ava_arg_desc *a = &fn->args[i];
		uint64_t v;
		switch (a->kind) {
		case AVA_ARG_OUT_SCALAR:
			v = ids->out[i] = word(d);
			if (is_errcode(fn, i) && !ids->has_status) {
				/* a cl_int travels zero-extended */
				ids->has_status = true;
				ids->status = a->scalar_size == 4
					      ? (int64_t)(int32_t)v : (int64_t)v;
			}
			break;
		case AVA_ARG_OUT_HANDLE:
			add(ids->made, &ids->nmade, word(d));
			break;
		case AVA_ARG_OUT_BUF:
		case AVA_ARG_INOUT_BUF:
			word(d);
			break;
		case AVA_ARG_OUT_HANDLES:
			v = word(d);
			for (uint64_t k = 0; k < v && !d->bad; k++)
				add(ids->made, &ids->nmade, word(d));
			break;
		default:
			break;
		}
	}
}

int
call_ids_parse(const struct ava_api_desc *api, const struct ava_fn_desc *fn,
	       const struct ava_journal_call *c, struct call_ids *ids)
{
	(void)api;
	memset(ids, 0, sizeof(*ids));
	struct rd d = { .ids = ids };
	ava_reader_init(&d.r, (uint8_t *)c->args, c->args_len);
	for (int i = 0; i < fn->nargs && i < AVA_MAX_ARGS && !d.bad; i++)
		call_arg_words(&d, &fn->args[i], i);
	ids->no_reply = c->outs_len == 0;
	if (!ids->no_reply) {
		ava_reader_init(&d.r, (uint8_t *)c->outs, c->outs_len);
		reply_words(&d, fn);
	}
	return d.bad ? AVA_EPROTO : 0;
}

bool
call_ids_ok(const struct ava_api_desc *api, const struct call_ids *ids)
{
	return !ids->no_reply &&
	       (!ids->has_status || ids->status == api->success);
}

int
call_arg(const struct ava_fn_desc *fn, const char *name)
{
	for (int i = 0; i < fn->nargs; i++)
		if (strcmp(fn->args[i].name, name) == 0)
			return i;
	return -1;
}

uint16_t
call_id_type(const struct ava_api_desc *api, uint64_t id)
{
	uint8_t tag = ava_handle_id_tag(id);
	for (uint16_t t = 1; t < api->nhandles; t++)
		if (api->handles[t].tag == tag)
			return t;
	return 0;
}

/* ---- choosing one session ------------------------------------------------ */

struct pick {
	uint64_t want, set_id;
	uint64_t n, ids[8];
	size_t journal;          /* where the first match is */
	uint64_t own_id;
	size_t at;
};

static int
count_one(const struct ava_journal_session *s, void *data)
{
	struct pick *p = data;
	uint64_t id = p->set_id ? p->set_id : s->id;
	if (p->want != 0 && id != p->want)
		return 0;
	if (p->n == 0) {
		p->journal = p->at;
		p->own_id = s->id;
	}
	if (p->n < 8)
		p->ids[p->n] = id;
	p->n++;
	return 0;
}

static int
scan(struct journal_set *set, const char *sub, struct pick *p)
{
	for (p->at = 0; p->at < journal_set_count(set); p->at++) {
		struct ava_journal_reader *r;
		char why[256] = "";
		const char *path = journal_set_path(set, p->at);
		p->set_id = journal_set_id(set, p->at);
		if (p->want != 0 && p->set_id != 0 && p->set_id != p->want)
			continue;
		int err = ava_journal_reader_open(path, why, sizeof(why), &r);
		if (err == 0) {
			err = ava_journal_session_foreach(r, count_one, p);
			ava_journal_reader_close(r);
		}
		if (err != 0) {
			tool_error("%s: %s: %s", sub, path,
				   why[0] ? why : ava_strerror(err));
			return AVA_EXIT_FAILURE;
		}
	}
	return 0;
}

static int
check_pick(const char *sub, const char *dir, const struct pick *p)
{
	if (p->n == 0) {
		if (p->want != 0)
			tool_error("%s: %s: no session %" PRIu64, sub, dir,
				   p->want);
		else
			tool_error("%s: %s: the journal has no session", sub,
				   dir);
		return AVA_EXIT_FAILURE;
	}
	if (p->n == 1)
		return 0;
	char list[128] = "";
	for (uint64_t i = 0; i < p->n && i < 8; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
			 "%s%" PRIu64, i ? ", " : "", p->ids[i]);
	tool_error("%s: %s holds %" PRIu64 " sessions (%s%s); choose one with "
		   "--session", sub, dir, p->n, list, p->n > 8 ? ", ..." : "");
	return AVA_EXIT_USAGE;
}

int
journal_pick_session(struct journal_set *set, const char *dir,
		     const char *sub, uint64_t want,
		     int (*fn)(struct ava_journal_reader *r,
			       const struct ava_journal_session *s,
			       uint64_t own_id, const char *path, void *data),
		     void *data)
{
	struct pick p = { .want = want };
	char name[4096];
	if (dir == NULL) {
		/* The set's directory: DIR of DIR/session-N, or the journal. */
		snprintf(name, sizeof(name), "%s", journal_set_path(set, 0));
		char *slash = strrchr(name, '/');
		if (journal_set_id(set, 0) != 0 && slash != NULL)
			*slash = '\0';
		dir = name;
	}
	int rc = scan(set, sub, &p);
	if (rc == 0)
		rc = check_pick(sub, dir, &p);
	if (rc != 0)
		return rc;
	const char *path = journal_set_path(set, p.journal);
	struct ava_journal_reader *r;
	struct ava_journal_session *s;
	char why[256] = "";
	int err = ava_journal_reader_open(path, why, sizeof(why), &r);
	if (err == 0 && (err = ava_journal_session_get(r, p.own_id, &s)) != 0)
		ava_journal_reader_close(r);
	if (err != 0) {
		tool_error("%s: %s: %s", sub, path,
			   why[0] ? why : ava_strerror(err));
		return AVA_EXIT_FAILURE;
	}
	uint64_t own = s->id;
	if (journal_set_id(set, p.journal) != 0)
		s->id = journal_set_id(set, p.journal);
	rc = fn(r, s, own, path, data);
	ava_journal_session_free(s);
	ava_journal_reader_close(r);
	return rc;
}
