/*
 * parse.c - recursive-descent parser for spec files: the api, handle and
 * fn items and their statements (expressions are in parse-expr.c).
 *
 * The parser stops at the first error: spec files are short, and one
 * precise message beats a cascade. Every node is linked into the tree as
 * soon as it exists, so that ava_spec_destroy() frees a half-built tree
 * too (the fuzz target runs under LeakSanitizer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse-private.h"

static bool
end_stmt(struct parser *p, const char *stmt)
{
	char ctx[96];
	snprintf(ctx, sizeof(ctx), "after '%s'", stmt);
	return parser_expect(p, T_SEMI, ctx);
}

/* `word NAME;` into *slot, once. */
static bool
name_stmt(struct parser *p, struct ava_name *slot, const char *word)
{
	struct ava_loc loc = p->tok.loc;
	parser_next(p);
	if (slot->name != NULL) {
		ava_error(loc, "duplicate '%s'", word);
		return false;
	}
	char what[96];
	snprintf(what, sizeof(what), "a name after '%s'", word);
	return parser_name(p, slot, what) && end_stmt(p, word);
}

static bool
string_stmt(struct parser *p, struct ava_name *slot, const char *word)
{
	struct ava_loc loc = p->tok.loc;
	parser_next(p);
	if (slot->name != NULL) {
		ava_error(loc, "duplicate '%s'", word);
		return false;
	}
	slot->loc = p->tok.loc;
	return parser_string(p, &slot->name, "a string") && end_stmt(p, word);
}

/* ---- api ---- */

static bool
api_define(struct parser *p, struct ava_api_ast *api)
{
	parser_next(p);
	struct ava_define *d = xcalloc(1, sizeof(*d));
	ava_vec_push(&api->defines, d);
	struct ava_name n = { 0 };
	if (!parser_name(p, &n, "a macro name after 'define'"))
		return false;
	d->name = n.name;
	if (p->tok.kind == T_INT) {
		d->value = xasprintf("%llu", (unsigned long long)p->tok.value);
		parser_next(p);
	} else if (p->tok.kind == T_STRING) {
		if (!parser_string(p, &d->value, "a value"))
			return false;
	}
	return end_stmt(p, "define");
}

static bool
api_section(struct parser *p, struct ava_api_ast *api)
{
	parser_next(p);
	struct ava_section *s = xcalloc(1, sizeof(*s));
	ava_vec_push(&api->sections, s);
	struct ava_name g = { 0 };
	if (!parser_string(p, &s->text, "the comment text after 'section'") ||
	    !parser_name(p, &g, "a group name"))
		return false;
	s->group = g.name;
	return end_stmt(p, "section");
}

static bool
api_stmt(struct parser *p, struct ava_api_ast *api)
{
	static const struct {
		const char *word;
		size_t off;
		bool string;
	} simple[] = {
		{ "header", offsetof(struct ava_api_ast, header), true },
		{ "icd_header", offsetof(struct ava_api_ast, icd_header), true },
		{ "private_header", offsetof(struct ava_api_ast, private_header), true },
		{ "extension_header", offsetof(struct ava_api_ast, extension_header), true },
		{ "icd_dispatch", offsetof(struct ava_api_ast, icd_dispatch), false },
		{ "success", offsetof(struct ava_api_ast, success), false },
		{ "transport_error", offsetof(struct ava_api_ast, transport_error), false },
		{ "unsupported_error", offsetof(struct ava_api_ast, unsupported_error), false },
		{ "errcode", offsetof(struct ava_api_ast, errcode), false },
		{ "status", offsetof(struct ava_api_ast, status), false },
	};
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		if (!parser_is_word(p, simple[i].word))
			continue;
		struct ava_name *slot = (struct ava_name *)((char *)api + simple[i].off);
		return simple[i].string ? string_stmt(p, slot, simple[i].word)
					: name_stmt(p, slot, simple[i].word);
	}
	if (parser_is_word(p, "library")) {
		parser_next(p);
		return parser_string(p, &api->library, "a string") &&
		       end_stmt(p, "library");
	}
	if (parser_is_word(p, "guest")) {
		parser_next(p);
		if (!parser_is_word(p, "icd"))
			return parser_error(p, "'icd' after 'guest'");
		parser_next(p);
		api->guest_icd = true;
		return end_stmt(p, "guest icd");
	}
	if (parser_is_word(p, "id")) {
		parser_next(p);
		if (p->tok.kind != T_INT || p->tok.value < 1 || p->tok.value > 255)
			return parser_error(p, "an api id from 1 to 255");
		api->api_id = p->tok.value;
		parser_next(p);
		return end_stmt(p, "id");
	}
	if (parser_is_word(p, "define"))
		return api_define(p, api);
	if (parser_is_word(p, "section"))
		return api_section(p, api);
	return parser_error(p, "an api statement");
}

static bool
parse_api(struct parser *p)
{
	struct ava_api_ast *api = &p->spec->api;
	struct ava_loc loc = p->tok.loc;
	parser_next(p);
	if (p->spec->has_api) {
		ava_error(loc, "duplicate 'api' block");
		return false;
	}
	p->spec->has_api = true;
	if (!parser_name(p, &api->name, "the api name") ||
	    !parser_expect(p, T_LBRACE, "after the api name"))
		return false;
	while (p->tok.kind != T_RBRACE) {
		if (!api_stmt(p, api))
			return false;
	}
	parser_next(p);
	return true;
}

/* ---- handle ---- */

static bool
handle_stmt(struct parser *p, struct ava_handle_ast *h)
{
	if (parser_is_word(p, "static")) {
		parser_next(p);
		h->is_static = true;
		return end_stmt(p, "static");
	}
	if (parser_is_word(p, "retain"))
		return name_stmt(p, &h->retain, "retain");
	if (parser_is_word(p, "release"))
		return name_stmt(p, &h->release, "release");
	if (parser_is_word(p, "invalid"))
		return name_stmt(p, &h->invalid, "invalid");
	if (parser_is_word(p, "state")) {
		parser_next(p);
		struct ava_name n = { 0 };
		if (!parser_name(p, &n, "a state kind after 'state'"))
			return false;
		free(h->state);
		h->state = n.name;
		return end_stmt(p, "state");
	}
	if (parser_is_word(p, "depends")) {
		parser_next(p);
		do {
			struct ava_name *n = xcalloc(1, sizeof(*n));
			ava_vec_push(&h->depends, n);
			if (!parser_name(p, n, "a handle type after 'depends'"))
				return false;
		} while (p->tok.kind == T_COMMA && (parser_next(p), true));
		return end_stmt(p, "depends");
	}
	return parser_error(p, "a handle statement");
}

static bool
parse_handle(struct parser *p)
{
	parser_next(p);
	struct ava_handle_ast *h = xcalloc(1, sizeof(*h));
	ava_vec_push(&p->spec->handles, h);
	if (!parser_name(p, &h->name, "a handle type name"))
		return false;
	if (p->tok.kind == T_SEMI) {
		parser_next(p);
		return true;
	}
	if (!parser_expect(p, T_LBRACE, "after the handle type"))
		return false;
	while (p->tok.kind != T_RBRACE) {
		if (!handle_stmt(p, h))
			return false;
	}
	parser_next(p);
	return true;
}

/* ---- fn ---- */

static bool
fn_consumes(struct parser *p, struct ava_fn_ast *fn)
{
	parser_next(p);
	struct ava_consume_ast *c = xcalloc(1, sizeof(*c));
	ava_vec_push(&fn->consumes, c);
	if (!parser_expect(p, T_LPAREN, "after 'consumes'") ||
	    !parser_name(p, &c->resource, "a resource name") ||
	    !parser_expect(p, T_COMMA, "after the resource name"))
		return false;
	c->amount = parser_expr(p);
	return c->amount != NULL &&
	       parser_expect(p, T_RPAREN, "to close 'consumes'");
}

static bool
fn_return(struct parser *p, struct ava_fn_ast *fn)
{
	fn->ret_loc = p->tok.loc;
	parser_next(p);
	while (p->tok.kind != T_SEMI) {
		if (parser_is_word(p, "creates")) {
			fn->ret_creates = true;
			parser_next(p);
		} else if (parser_is_word(p, "consumes")) {
			if (!fn_consumes(p, fn))
				return false;
		} else {
			return parser_error(p, "'creates', 'consumes' or ';'");
		}
	}
	parser_next(p);
	return true;
}

static bool
fn_flag(struct parser *p, bool *flag, const char *word)
{
	parser_next(p);
	*flag = true;
	return end_stmt(p, word);
}

static bool
fn_stmt(struct parser *p, struct ava_fn_ast *fn)
{
	if (parser_is_word(p, "hook")) {
		fn->hook_loc = p->tok.loc;
		parser_next(p);
		if (parser_is_word(p, "guest"))
			fn->hooks |= AVA_HOOK_GUEST;
		else if (parser_is_word(p, "server"))
			fn->hooks |= AVA_HOOK_SERVER;
		else
			return parser_error(p, "'guest' or 'server' after 'hook'");
		parser_next(p);
		return end_stmt(p, "hook");
	}
	if (parser_is_word(p, "async")) {
		parser_next(p);
		fn->async = true;
		if (parser_is_word(p, "unless") &&
		    !parser_paren_expr(p, &fn->async_unless, "unless"))
			return false;
		return end_stmt(p, "async");
	}
	if (parser_is_word(p, "query"))
		return fn_flag(p, &fn->query, "query");
	if (parser_is_word(p, "mutates"))
		return fn_flag(p, &fn->mutates, "mutates");
	if (parser_is_word(p, "sync"))
		return fn_flag(p, &fn->sync, "sync");
	if (parser_is_word(p, "consumes"))
		return fn_consumes(p, fn) && end_stmt(p, "consumes");
	if (parser_is_word(p, "return"))
		return fn_return(p, fn);
	/* `arg NAME ...` names an argument that is spelled like a keyword. */
	if (parser_is_word(p, "arg"))
		parser_next(p);
	if (p->tok.kind != T_IDENT)
		return parser_error(p, "an argument name or fn statement");
	struct ava_arg_ast *a = xcalloc(1, sizeof(*a));
	ava_vec_push(&fn->args, a);
	return parse_arg(p, a);
}

static bool
fn_unsupported(struct parser *p, struct ava_fn_ast *fn)
{
	parser_next(p);
	fn->unsupported = true;
	if (p->tok.kind == T_LPAREN) {
		parser_next(p);
		if (!parser_name(p, &fn->unsupported_error, "an error name") ||
		    !parser_expect(p, T_RPAREN, "after the error name"))
			return false;
	}
	if (p->tok.kind == T_STRING &&
	    !parser_string(p, &fn->why, "the reason"))
		return false;
	return end_stmt(p, "unsupported");
}

/* `emulated "why";`: the guest hook builds the call from others. */
static bool
fn_emulated(struct parser *p, struct ava_fn_ast *fn)
{
	parser_next(p);
	fn->emulated = true;
	fn->hooks = AVA_HOOK_GUEST;
	fn->hook_loc = fn->name.loc;
	if (p->tok.kind == T_STRING &&
	    !parser_string(p, &fn->why, "the reason"))
		return false;
	return end_stmt(p, "emulated");
}

static bool
parse_fn(struct parser *p)
{
	parser_next(p);
	struct ava_fn_ast *fn = xcalloc(1, sizeof(*fn));
	ava_vec_push(&p->spec->fns, fn);
	if (!parser_name(p, &fn->name, "a function name"))
		return false;
	if (p->tok.kind == T_SEMI) {
		parser_next(p);
		return true;
	}
	if (parser_is_word(p, "unsupported"))
		return fn_unsupported(p, fn);
	if (parser_is_word(p, "emulated"))
		return fn_emulated(p, fn);
	if (!parser_expect(p, T_LBRACE, "after the function name"))
		return false;
	while (p->tok.kind != T_RBRACE) {
		if (!fn_stmt(p, fn))
			return false;
	}
	parser_next(p);
	return true;
}

static bool
parse_item(struct parser *p)
{
	if (parser_is_word(p, "api"))
		return parse_api(p);
	if (parser_is_word(p, "handle"))
		return parse_handle(p);
	if (parser_is_word(p, "fn"))
		return parse_fn(p);
	return parser_error(p, "'api', 'handle' or 'fn'");
}

int
ava_spec_parse(const char *file, const char *src, size_t len,
	       struct ava_spec **out)
{
	struct parser p = { 0 };
	struct ava_spec *spec = xcalloc(1, sizeof(*spec));
	spec->file = file;
	spec->api.api_id = 1;
	p.spec = spec;
	ava_lexer_init(&p.lx, file, src, len);
	parser_next(&p);
	bool ok = true;
	while (ok && p.tok.kind != T_EOF)
		ok = parse_item(&p);
	ava_lexer_finish(&p.lx);
	if (!ok) {
		ava_spec_destroy(spec);
		return -1;
	}
	*out = spec;
	return 0;
}
