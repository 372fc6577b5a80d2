/*
 * lex.h - the spec lexer.
 *
 * Tokens: identifiers, integer literals (decimal, 0x hex, 0 octal, with
 * optional u/l suffixes), strings ("..." with \\ \" \n \t escapes),
 * punctuation and C operators. Comments are / * * / and //. The input is a
 * byte buffer with a length; NUL bytes are errors, not terminators.
 */
#ifndef AVA_GEN_LEX_H
#define AVA_GEN_LEX_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"

enum ava_tok {
	T_EOF, T_ERROR, T_IDENT, T_INT, T_STRING,
	T_LBRACE, T_RBRACE, T_LPAREN, T_RPAREN, T_LBRACK, T_RBRACK,
	T_SEMI, T_COLON, T_COMMA,
	T_STAR, T_PLUS, T_MINUS, T_SLASH, T_PERCENT,
	T_AMP, T_PIPE, T_CARET, T_TILDE, T_BANG,
	T_SHL, T_SHR, T_EQ, T_NE, T_LT, T_GT, T_LE, T_GE,
	T_ANDAND, T_OROR,
	T_COUNT
};

struct ava_token {
	enum ava_tok kind;
	struct ava_loc loc;
	const char *text;  /* T_IDENT: into the source; T_STRING: owned by the
			    * lexer until the next token */
	size_t len;
	uint64_t value;    /* T_INT */
};

struct ava_lexer {
	const char *file;
	const char *src;
	size_t len;
	size_t pos;
	int line;
	int col;
	char *strbuf;      /* the last T_STRING's unescaped text */
};

void
ava_lexer_init(struct ava_lexer *lx, const char *file, const char *src,
	       size_t len);
void
ava_lexer_finish(struct ava_lexer *lx);

/* Next token; T_ERROR after a reported lexical error. */
struct ava_token
ava_lex(struct ava_lexer *lx);

/* How a token kind is written, for messages: "'{'", "identifier". */
const char *
ava_tok_name(enum ava_tok kind);

/* The C spelling of an operator token ("<<"); NULL for non-operators. */
const char *
ava_tok_op(enum ava_tok kind);

#endif
