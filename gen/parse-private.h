/*
 * parse-private.h - the parser state shared by parse.c (items) and
 * parse-expr.c (tokens helpers and expressions).
 */
#ifndef AVA_GEN_PARSE_PRIVATE_H
#define AVA_GEN_PARSE_PRIVATE_H

#include "spec.h"

struct parser {
	struct ava_lexer lx;
	struct ava_token tok;
	struct ava_spec *spec;
	int depth;
};

void
parser_next(struct parser *p);
bool
parser_is_word(const struct parser *p, const char *w);
/* Reports "expected WHAT, found ..." and returns false. */
bool
parser_error(struct parser *p, const char *what);
bool
parser_expect(struct parser *p, enum ava_tok kind, const char *context);
/* An identifier into *out (replacing it); false after an error. */
bool
parser_name(struct parser *p, struct ava_name *out, const char *what);
bool
parser_string(struct parser *p, char **out, const char *what);
/* NULL after a reported error. */
struct ava_expr *
parser_expr(struct parser *p);
/* The current token names the attribute; parses "(" expr ")" into *slot. */
bool
parser_paren_expr(struct parser *p, struct ava_expr **slot, const char *attr);

/* NAME attr... ; (the current token is NAME). */
bool
parse_arg(struct parser *p, struct ava_arg_ast *a);

#endif
