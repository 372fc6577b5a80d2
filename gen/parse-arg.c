/*
 * parse-arg.c - argument statements of a fn block, and freeing the tree.
 *
 *   NAME attr... ;
 *
 * Attributes are order-free words; each may appear once. Which
 * combinations make sense is decided later, in check.c, where the C type
 * of the argument is known.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse-private.h"

static bool
set_dir(struct parser *p, struct ava_arg_ast *a, enum ava_dir dir)
{
	if (a->dir != AVA_DIR_NONE) {
		ava_error(p->tok.loc, "direction given twice");
		return false;
	}
	a->dir = dir;
	a->dir_loc = p->tok.loc;
	parser_next(p);
	return true;
}

static bool
set_shape(struct parser *p, struct ava_arg_ast *a, enum ava_shape shape)
{
	if (a->shape != AVA_SHAPE_NONE) {
		ava_error(p->tok.loc, "'%.*s' conflicts with an earlier shape",
			  (int)p->tok.len, p->tok.text);
		return false;
	}
	a->shape = shape;
	a->shape_loc = p->tok.loc;
	return true;
}

static bool
shape_expr(struct parser *p, struct ava_arg_ast *a, enum ava_shape shape,
	   const char *word)
{
	return set_shape(p, a, shape) && parser_paren_expr(p, &a->count, word);
}

/* ( KEY: handle, ... ) -- the current token is the '(' */
static bool
prop_keys(struct parser *p, struct ava_vec *keys)
{
	if (!parser_expect(p, T_LPAREN, "after 'props'"))
		return false;
	while (p->tok.kind != T_RPAREN) {
		struct ava_prop_key *k = xcalloc(1, sizeof(*k));
		ava_vec_push(keys, k);
		if (!parser_name(p, &k->key, "a property name") ||
		    !parser_expect(p, T_COLON, "after the property name") ||
		    !parser_name(p, &k->handle, "a handle type"))
			return false;
		if (p->tok.kind != T_COMMA)
			break;
		parser_next(p);
	}
	return parser_expect(p, T_RPAREN, "to close 'props'");
}

static bool
typed_rule(struct parser *p, struct ava_arg_ast *a)
{
	struct ava_typed_ast *r = xcalloc(1, sizeof(*r));
	ava_vec_push(&a->typed, r);
	if (!parser_name(p, &r->key, "a key constant") ||
	    !parser_expect(p, T_COLON, "after the key"))
		return false;
	if (parser_is_word(p, "props")) {
		r->props = true;
		r->handle.loc = p->tok.loc;
		parser_next(p);
		if (!prop_keys(p, &r->prop_keys))
			return false;
	} else {
		if (!parser_name(p, &r->handle, "a handle type or 'props'") ||
		    !parser_expect(p, T_LBRACK, "after the handle type") ||
		    !parser_expect(p, T_RBRACK, "after '['"))
			return false;
	}
	return parser_expect(p, T_SEMI, "after the typed rule");
}

static bool
typed(struct parser *p, struct ava_arg_ast *a)
{
	if (a->typed_by.name != NULL) {
		ava_error(p->tok.loc, "duplicate 'typed'");
		return false;
	}
	parser_next(p);
	if (!parser_expect(p, T_LPAREN, "after 'typed'") ||
	    !parser_name(p, &a->typed_by, "the selecting argument") ||
	    !parser_expect(p, T_RPAREN, "after the selecting argument") ||
	    !parser_expect(p, T_LBRACE, "to open the typed rules"))
		return false;
	while (p->tok.kind != T_RBRACE) {
		if (!typed_rule(p, a))
			return false;
	}
	parser_next(p);
	return true;
}

static bool
paren_name(struct parser *p, struct ava_name *slot, const char *word)
{
	if (slot->name != NULL) {
		ava_error(p->tok.loc, "duplicate '%s'", word);
		return false;
	}
	parser_next(p);
	char ctx[64];
	snprintf(ctx, sizeof(ctx), "after '%s'", word);
	return parser_expect(p, T_LPAREN, ctx) &&
	       parser_name(p, slot, "an argument name") &&
	       parser_expect(p, T_RPAREN, "after the argument name");
}

static bool
flag(struct parser *p, bool *slot)
{
	if (*slot) {
		ava_error(p->tok.loc, "duplicate '%.*s'", (int)p->tok.len,
			  p->tok.text);
		return false;
	}
	*slot = true;
	parser_next(p);
	return true;
}

static bool
cb_policy(struct parser *p, struct ava_arg_ast *a, int policy)
{
	if (a->cb_policy != 0) {
		ava_error(p->tok.loc, "callback policy given twice");
		return false;
	}
	a->cb_policy = policy;
	parser_next(p);
	return true;
}

/* One attribute word; a flat dispatch over the attribute vocabulary. */
static bool
arg_attr(struct parser *p, struct ava_arg_ast *a)
{
	if (parser_is_word(p, "in"))
		return set_dir(p, a, AVA_DIR_IN);
	if (parser_is_word(p, "out"))
		return set_dir(p, a, AVA_DIR_OUT);
	if (parser_is_word(p, "inout"))
		return set_dir(p, a, AVA_DIR_INOUT);
	if (parser_is_word(p, "buffer"))
		return shape_expr(p, a, AVA_SHAPE_BUFFER, "buffer");
	if (parser_is_word(p, "array"))
		return shape_expr(p, a, AVA_SHAPE_ARRAY, "array");
	if (parser_is_word(p, "handles"))
		return shape_expr(p, a, AVA_SHAPE_HANDLES, "handles");
	if (parser_is_word(p, "buffers"))
		return shape_expr(p, a, AVA_SHAPE_BUFFERS, "buffers");
	if (parser_is_word(p, "kernel_arg"))
		return shape_expr(p, a, AVA_SHAPE_KARG, "kernel_arg");
	if (parser_is_word(p, "string")) {
		if (!set_shape(p, a, AVA_SHAPE_STRING))
			return false;
		parser_next(p);
		return true;
	}
	if (parser_is_word(p, "props")) {
		if (!set_shape(p, a, AVA_SHAPE_PROPS))
			return false;
		parser_next(p);
		/* `props` alone: a list with no handle values */
		if (p->tok.kind == T_LPAREN)
			return prop_keys(p, &a->prop_keys);
		return true;
	}
	if (parser_is_word(p, "callback")) {
		if (!set_shape(p, a, AVA_SHAPE_CALLBACK))
			return false;
		return paren_name(p, &a->userdata, "callback");
	}
	if (parser_is_word(p, "lengths"))
		return paren_name(p, &a->lengths, "lengths");
	if (parser_is_word(p, "on_return"))
		return cb_policy(p, a, 1);
	if (parser_is_word(p, "drop"))
		return cb_policy(p, a, 2);
	if (parser_is_word(p, "remote"))
		return cb_policy(p, a, 3);
	if (parser_is_word(p, "nul_terminated"))
		return flag(p, &a->nul_terminated);
	if (parser_is_word(p, "creates"))
		return flag(p, &a->creates);
	if (parser_is_word(p, "writes"))
		return flag(p, &a->writes);
	if (parser_is_word(p, "reads"))
		return flag(p, &a->reads);
	if (parser_is_word(p, "always"))
		return flag(p, &a->always);
	if (parser_is_word(p, "filled"))
		return parser_paren_expr(p, &a->filled, "filled");
	if (parser_is_word(p, "when"))
		return parser_paren_expr(p, &a->when, "when");
	if (parser_is_word(p, "override"))
		return parser_paren_expr(p, &a->override, "override");
	if (parser_is_word(p, "typed"))
		return typed(p, a);
	return parser_error(p, "an argument attribute or ';'");
}

bool
parse_arg(struct parser *p, struct ava_arg_ast *a)
{
	if (!parser_name(p, &a->name, "an argument name"))
		return false;
	while (p->tok.kind != T_SEMI) {
		if (!arg_attr(p, a))
			return false;
	}
	parser_next(p);
	return true;
}

/* ---- freeing ---- */

static void
free_prop_keys(struct ava_vec *v)
{
	for (size_t i = 0; i < v->n; i++) {
		struct ava_prop_key *k = v->items[i];
		free(k->key.name);
		free(k->handle.name);
		free(k);
	}
	ava_vec_finish(v);
}

static void
free_arg(struct ava_arg_ast *a)
{
	free(a->name.name);
	ava_expr_destroy(a->count);
	ava_expr_destroy(a->filled);
	ava_expr_destroy(a->when);
	ava_expr_destroy(a->override);
	free(a->lengths.name);
	free(a->userdata.name);
	free_prop_keys(&a->prop_keys);
	free(a->typed_by.name);
	for (size_t i = 0; i < a->typed.n; i++) {
		struct ava_typed_ast *r = a->typed.items[i];
		free(r->key.name);
		free(r->handle.name);
		free_prop_keys(&r->prop_keys);
		free(r);
	}
	ava_vec_finish(&a->typed);
	free(a);
}

static void
free_fn(struct ava_fn_ast *fn)
{
	free(fn->name.name);
	free(fn->unsupported_error.name);
	free(fn->why);
	ava_expr_destroy(fn->async_unless);
	for (size_t i = 0; i < fn->consumes.n; i++) {
		struct ava_consume_ast *c = fn->consumes.items[i];
		free(c->resource.name);
		ava_expr_destroy(c->amount);
		free(c);
	}
	ava_vec_finish(&fn->consumes);
	for (size_t i = 0; i < fn->args.n; i++)
		free_arg(fn->args.items[i]);
	ava_vec_finish(&fn->args);
	free(fn);
}

static void
free_handle(struct ava_handle_ast *h)
{
	free(h->name.name);
	free(h->retain.name);
	free(h->release.name);
	free(h->invalid.name);
	for (size_t i = 0; i < h->depends.n; i++) {
		struct ava_name *n = h->depends.items[i];
		free(n->name);
		free(n);
	}
	ava_vec_finish(&h->depends);
	free(h->state);
	free(h);
}

static void
free_api(struct ava_api_ast *api)
{
	struct ava_name *names[] = {
		&api->name, &api->header, &api->icd_header, &api->private_header,
		&api->extension_header,
		&api->icd_dispatch,
		&api->success, &api->transport_error, &api->unsupported_error,
		&api->errcode, &api->status,
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		free(names[i]->name);
	free(api->library);
	for (size_t i = 0; i < api->defines.n; i++) {
		struct ava_define *d = api->defines.items[i];
		free(d->name);
		free(d->value);
		free(d);
	}
	ava_vec_finish(&api->defines);
	for (size_t i = 0; i < api->sections.n; i++) {
		struct ava_section *s = api->sections.items[i];
		free(s->text);
		free(s->group);
		free(s);
	}
	ava_vec_finish(&api->sections);
}

void
ava_spec_destroy(struct ava_spec *spec)
{
	if (spec == NULL)
		return;
	free_api(&spec->api);
	for (size_t i = 0; i < spec->handles.n; i++)
		free_handle(spec->handles.items[i]);
	ava_vec_finish(&spec->handles);
	for (size_t i = 0; i < spec->fns.n; i++)
		free_fn(spec->fns.items[i]);
	ava_vec_finish(&spec->fns);
	free(spec);
}
