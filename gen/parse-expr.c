/*
 * parse-expr.c - token helpers and the expression grammar of the spec
 * language: C operators with C precedence over integer literals, argument
 * names, header constants, *out_arg and sizeof(type).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse-private.h"

/* Deep enough for any real expression, shallow enough for the stack. */
#define MAX_EXPR_DEPTH 64

void
parser_next(struct parser *p)
{
	p->tok = ava_lex(&p->lx);
}

bool
parser_is_word(const struct parser *p, const char *w)
{
	return p->tok.kind == T_IDENT && strlen(w) == p->tok.len &&
	       memcmp(p->tok.text, w, p->tok.len) == 0;
}

bool
parser_error(struct parser *p, const char *what)
{
	if (p->tok.kind == T_ERROR)
		return false;  /* the lexer has said why */
	if (p->tok.kind == T_IDENT)
		ava_error(p->tok.loc, "expected %s, found '%.*s'", what,
			  (int)p->tok.len, p->tok.text);
	else
		ava_error(p->tok.loc, "expected %s, found %s", what,
			  ava_tok_name(p->tok.kind));
	return false;
}

bool
parser_expect(struct parser *p, enum ava_tok kind, const char *context)
{
	if (p->tok.kind == kind) {
		parser_next(p);
		return true;
	}
	char what[128];
	snprintf(what, sizeof(what), "%s %s", ava_tok_name(kind), context);
	return parser_error(p, what);
}

bool
parser_name(struct parser *p, struct ava_name *out, const char *what)
{
	if (p->tok.kind != T_IDENT)
		return parser_error(p, what);
	free(out->name);
	out->name = xstrndup(p->tok.text, p->tok.len);
	out->loc = p->tok.loc;
	parser_next(p);
	return true;
}

bool
parser_string(struct parser *p, char **out, const char *what)
{
	if (p->tok.kind != T_STRING)
		return parser_error(p, what);
	free(*out);
	*out = xstrdup(p->tok.text);
	parser_next(p);
	return true;
}

static struct ava_expr *
new_expr(enum ava_expr_kind kind, struct ava_loc loc)
{
	struct ava_expr *e = xcalloc(1, sizeof(*e));
	e->kind = kind;
	e->loc = loc;
	e->arg = -1;
	return e;
}

void
ava_expr_destroy(struct ava_expr *e)
{
	if (e == NULL)
		return;
	ava_expr_destroy(e->lhs);
	ava_expr_destroy(e->rhs);
	free(e->name);
	free(e);
}

/* sizeof(type words and stars), kept as written with single spaces. */
static struct ava_expr *
parse_sizeof(struct parser *p, struct ava_loc loc)
{
	parser_next(p);
	if (!parser_expect(p, T_LPAREN, "after 'sizeof'"))
		return NULL;
	struct ava_str s = { 0 };
	while (p->tok.kind == T_IDENT || p->tok.kind == T_STAR) {
		if (s.len > 0)
			ava_str_add(&s, " ");
		if (p->tok.kind == T_STAR)
			ava_str_add(&s, "*");
		else
			ava_str_addn(&s, p->tok.text, p->tok.len);
		parser_next(p);
	}
	if (s.len == 0 || !parser_expect(p, T_RPAREN, "after the type in sizeof")) {
		if (s.len == 0)
			parser_error(p, "a type name in sizeof");
		ava_str_finish(&s);
		return NULL;
	}
	struct ava_expr *e = new_expr(AVA_EX_SIZEOF, loc);
	e->name = ava_str_take(&s);
	return e;
}

static struct ava_expr *
parse_primary(struct parser *p)
{
	struct ava_loc loc = p->tok.loc;
	if (p->tok.kind == T_INT) {
		struct ava_expr *e = new_expr(AVA_EX_INT, loc);
		e->value = p->tok.value;
		parser_next(p);
		return e;
	}
	if (parser_is_word(p, "sizeof"))
		return parse_sizeof(p, loc);
	if (p->tok.kind == T_IDENT) {
		struct ava_expr *e = new_expr(AVA_EX_IDENT, loc);
		e->name = xstrndup(p->tok.text, p->tok.len);
		parser_next(p);
		return e;
	}
	if (p->tok.kind == T_LPAREN) {
		parser_next(p);
		struct ava_expr *e = parser_expr(p);
		if (e == NULL || !parser_expect(p, T_RPAREN, "to close '('")) {
			ava_expr_destroy(e);
			return NULL;
		}
		return e;
	}
	parser_error(p, "an expression");
	return NULL;
}

static struct ava_expr *
parse_unary(struct parser *p)
{
	struct ava_loc loc = p->tok.loc;
	enum ava_tok op = p->tok.kind;
	if (op == T_STAR) {
		parser_next(p);
		if (p->tok.kind != T_IDENT) {
			parser_error(p, "an argument name after '*'");
			return NULL;
		}
		struct ava_expr *e = new_expr(AVA_EX_DEREF, loc);
		e->name = xstrndup(p->tok.text, p->tok.len);
		parser_next(p);
		return e;
	}
	if (op != T_BANG && op != T_TILDE && op != T_MINUS)
		return parse_primary(p);
	if (++p->depth > MAX_EXPR_DEPTH) {
		ava_error(loc, "expression nested too deeply");
		return NULL;
	}
	parser_next(p);
	struct ava_expr *operand = parse_unary(p);
	p->depth--;
	if (operand == NULL)
		return NULL;
	struct ava_expr *e = new_expr(AVA_EX_UNARY, loc);
	e->op = op;
	e->lhs = operand;
	return e;
}

/* C precedence, loosest first; 0 for tokens that are not binary ops. */
static int
precedence(enum ava_tok op)
{
	switch (op) {
	case T_OROR: return 1;
	case T_ANDAND: return 2;
	case T_PIPE: return 3;
	case T_CARET: return 4;
	case T_AMP: return 5;
	case T_EQ: case T_NE: return 6;
	case T_LT: case T_GT: case T_LE: case T_GE: return 7;
	case T_SHL: case T_SHR: return 8;
	case T_PLUS: case T_MINUS: return 9;
	case T_STAR: case T_SLASH: case T_PERCENT: return 10;
	default: return 0;
	}
}

static struct ava_expr *
parse_binary(struct parser *p, int min_prec)
{
	if (++p->depth > MAX_EXPR_DEPTH) {
		ava_error(p->tok.loc, "expression nested too deeply");
		return NULL;
	}
	struct ava_expr *lhs = parse_unary(p);
	while (lhs != NULL && precedence(p->tok.kind) >= min_prec) {
		enum ava_tok op = p->tok.kind;
		struct ava_loc loc = p->tok.loc;
		parser_next(p);
		struct ava_expr *rhs = parse_binary(p, precedence(op) + 1);
		if (rhs == NULL) {
			ava_expr_destroy(lhs);
			lhs = NULL;
			break;
		}
		struct ava_expr *e = new_expr(AVA_EX_BINARY, loc);
		e->op = op;
		e->lhs = lhs;
		e->rhs = rhs;
		lhs = e;
	}
	p->depth--;
	return lhs;
}

struct ava_expr *
parser_expr(struct parser *p)
{
	if (++p->depth > MAX_EXPR_DEPTH) {
		ava_error(p->tok.loc, "expression nested too deeply");
		return NULL;
	}
	struct ava_expr *e = parse_binary(p, 1);
	p->depth--;
	return e;
}

/* "(" expr ")" into *slot; an attribute may be given once. */
bool
parser_paren_expr(struct parser *p, struct ava_expr **slot, const char *attr)
{
	struct ava_loc loc = p->tok.loc;
	parser_next(p);
	if (*slot != NULL) {
		ava_error(loc, "duplicate '%s'", attr);
		return false;
	}
	char ctx[64];
	snprintf(ctx, sizeof(ctx), "after '%s'", attr);
	if (!parser_expect(p, T_LPAREN, ctx))
		return false;
	*slot = parser_expr(p);
	return *slot != NULL && parser_expect(p, T_RPAREN, "to close the expression");
}

