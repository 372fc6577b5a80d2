/*
 * emit-draft.c - `ava-gen --draft`: a starting spec for a header.
 *
 * The draft is for a person to review, not for the generator to trust:
 * wherever the C type cannot say how big a pointer's target is, it writes
 * the placeholder COUNT, which the check pass rejects until someone
 * replaces it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"

static bool
is_handle_type(const struct ava_header *h, const struct ava_ctype *t)
{
	if (t == NULL || t->tdname == NULL)
		return false;
	const struct ava_ctypedef *td = ava_header_typedef(h, t->tdname);
	return td && td->type->cls == AVA_CT_POINTER &&
	       td->type->pointee->cls == AVA_CT_RECORD && td->type->pointee->size == 0;
}

static const char *
draft_pointer(const struct ava_header *h, const struct ava_ctype *t)
{
	const struct ava_ctype *p = t->pointee;
	if (p->cls == AVA_CT_INT && p->size == 1 && p->is_const)
		return "in string";
	if (is_handle_type(h, p))
		return p->is_const ? "in handles(COUNT)" : "out handles(COUNT) /* or: out */";
	if (p->cls == AVA_CT_VOID)
		return p->is_const ? "in buffer(COUNT)" : "out buffer(COUNT)";
	if (p->cls == AVA_CT_POINTER)
		return "in buffers(COUNT)";
	if (p->cls == AVA_CT_INT)
		return p->is_const ? "in array(COUNT)" : "out";
	return p->is_const ? "in array(COUNT)" : "out array(COUNT)";
}

/* The first plain `void *` after a callback: its likely user data. */
static size_t
user_data_of(const struct ava_cfunc *f, size_t cb)
{
	for (size_t i = cb + 1; i < f->nparams; i++) {
		const struct ava_ctype *t = f->params[i].type;
		if (t->cls == AVA_CT_POINTER && t->pointee->cls == AVA_CT_VOID &&
		    !t->pointee->is_const)
			return i;
	}
	return SIZE_MAX;
}

static void
draft_fn(struct ava_str *s, const struct ava_header *h, const struct ava_cfunc *f)
{
	struct ava_str body = { 0 };
	size_t user = SIZE_MAX;
	for (size_t i = 0; i < f->nparams; i++) {
		const struct ava_ctype *t = f->params[i].type;
		const char *what = NULL;
		char *owned = NULL;
		if (i == user)
			continue;
		if (t->cls == AVA_CT_FNPTR) {
			user = user_data_of(f, i);
			what = owned = xasprintf("callback(%s) drop", user == SIZE_MAX
						 ? "USER_DATA" : f->params[user].name);
		} else if (t->cls == AVA_CT_POINTER && !is_handle_type(h, t)) {
			what = draft_pointer(h, t);
		}
		if (what == NULL)
			continue;
		size_t len = strlen(f->params[i].name) + strlen(what);
		ava_str_printf(&body, "    %s %s;%*s/* %s */\n", f->params[i].name,
			       what, len < 40 ? (int)(40 - len) : 1, "", t->spelling);
		free(owned);
	}
	if (body.len == 0)
		ava_str_printf(s, "fn %s;\n", f->name);
	else
		ava_str_printf(s, "fn %s {\n%s}\n", f->name, body.data);
	ava_str_finish(&body);
}

char *
ava_emit_draft(const struct ava_header *h, const char *header)
{
	struct ava_str s = { 0 };
	ava_str_printf(&s, "/*\n * Draft spec for %s, written by ava-gen --draft.\n"
		       " * Review every line: replace COUNT and USER_DATA, pick the\n"
		       " * errors, and mark what cannot be forwarded `unsupported`.\n */\n"
		       "api NAME {\n    header \"%s\";\n    success SUCCESS;\n"
		       "    transport_error ERROR;\n    unsupported_error ERROR;\n}\n\n",
		       header, header);
	/* handle types: opaque struct pointers that the functions use */
	struct ava_vec seen = { 0 };
	for (size_t i = 0; i < h->funcs.n; i++) {
		const struct ava_cfunc *f = h->funcs.items[i];
		for (size_t j = 0; j < f->nparams; j++) {
			const struct ava_ctype *t = f->params[j].type;
			if (!is_handle_type(h, t) && t->cls == AVA_CT_POINTER)
				t = t->pointee;
			if (!is_handle_type(h, t))
				continue;
			bool dup = false;
			for (size_t k = 0; k < seen.n && !dup; k++)
				dup = strcmp(seen.items[k], t->tdname) == 0;
			if (dup)
				continue;
			ava_vec_push(&seen, t->tdname);
			ava_str_printf(&s, "handle %s { invalid ERROR; }\n", t->tdname);
		}
	}
	ava_vec_finish(&seen);
	ava_str_add(&s, "\n");
	for (size_t i = 0; i < h->funcs.n; i++)
		draft_fn(&s, h, h->funcs.items[i]);
	return ava_str_take(&s);
}
