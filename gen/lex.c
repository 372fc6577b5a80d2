/*
 * lex.c - turns spec text into tokens, tracking line and column.
 */
#include "lex.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *const tok_names[T_COUNT] = {
	[T_EOF] = "end of file", [T_ERROR] = "invalid token",
	[T_IDENT] = "identifier", [T_INT] = "integer", [T_STRING] = "string",
	[T_LBRACE] = "'{'", [T_RBRACE] = "'}'", [T_LPAREN] = "'('",
	[T_RPAREN] = "')'", [T_LBRACK] = "'['", [T_RBRACK] = "']'",
	[T_SEMI] = "';'", [T_COLON] = "':'", [T_COMMA] = "','",
	[T_STAR] = "'*'", [T_PLUS] = "'+'", [T_MINUS] = "'-'",
	[T_SLASH] = "'/'", [T_PERCENT] = "'%'", [T_AMP] = "'&'",
	[T_PIPE] = "'|'", [T_CARET] = "'^'", [T_TILDE] = "'~'",
	[T_BANG] = "'!'", [T_SHL] = "'<<'", [T_SHR] = "'>>'",
	[T_EQ] = "'=='", [T_NE] = "'!='", [T_LT] = "'<'", [T_GT] = "'>'",
	[T_LE] = "'<='", [T_GE] = "'>='", [T_ANDAND] = "'&&'",
	[T_OROR] = "'||'",
};

const char *
ava_tok_name(enum ava_tok kind)
{
	return kind < T_COUNT ? tok_names[kind] : "token";
}

const char *
ava_tok_op(enum ava_tok kind)
{
	if (kind < T_STAR || kind >= T_COUNT)
		return NULL;
	/* The quoted name minus its quotes is the operator. */
	static char buf[T_COUNT][4];
	const char *q = tok_names[kind];
	size_t n = strlen(q) - 2;
	memcpy(buf[kind], q + 1, n);
	buf[kind][n] = '\0';
	return buf[kind];
}

void
ava_lexer_init(struct ava_lexer *lx, const char *file, const char *src,
	       size_t len)
{
	memset(lx, 0, sizeof(*lx));
	lx->file = file;
	lx->src = src;
	lx->len = len;
	lx->line = 1;
	lx->col = 1;
}

void
ava_lexer_finish(struct ava_lexer *lx)
{
	free(lx->strbuf);
	lx->strbuf = NULL;
}

static int
peekc(const struct ava_lexer *lx, size_t ahead)
{
	size_t p = lx->pos + ahead;
	return p < lx->len ? (unsigned char)lx->src[p] : -1;
}

static void
advance(struct ava_lexer *lx)
{
	if (lx->pos >= lx->len)
		return;
	if (lx->src[lx->pos] == '\n') {
		lx->line++;
		lx->col = 1;
	} else {
		lx->col++;
	}
	lx->pos++;
}

static struct ava_loc
here(const struct ava_lexer *lx)
{
	return (struct ava_loc){ lx->file, lx->line, lx->col };
}

/* Skips blanks and comments; false after an unterminated comment. */
static bool
skip_space(struct ava_lexer *lx)
{
	for (;;) {
		int c = peekc(lx, 0);
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		    c == '\f' || c == '\v') {
			advance(lx);
		} else if (c == '/' && peekc(lx, 1) == '/') {
			while (peekc(lx, 0) != -1 && peekc(lx, 0) != '\n')
				advance(lx);
		} else if (c == '/' && peekc(lx, 1) == '*') {
			struct ava_loc start = here(lx);
			advance(lx);
			advance(lx);
			while (!(peekc(lx, 0) == '*' && peekc(lx, 1) == '/')) {
				if (peekc(lx, 0) == -1) {
					ava_error(start, "unterminated comment");
					return false;
				}
				advance(lx);
			}
			advance(lx);
			advance(lx);
		} else {
			return true;
		}
	}
}

static bool
is_ident_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool
is_ident_char(int c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int
digit_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

static struct ava_token
lex_int(struct ava_lexer *lx, struct ava_token t)
{
	unsigned base = 10;
	if (peekc(lx, 0) == '0' && (peekc(lx, 1) == 'x' || peekc(lx, 1) == 'X')) {
		base = 16;
		advance(lx);
		advance(lx);
		if (digit_value(peekc(lx, 0)) >= 16) {
			ava_error(t.loc, "invalid hexadecimal literal");
			t.kind = T_ERROR;
			return t;
		}
	} else if (peekc(lx, 0) == '0') {
		base = 8;
	}
	uint64_t v = 0;
	bool overflow = false;
	while (is_ident_char(peekc(lx, 0))) {
		int c = peekc(lx, 0);
		if (c == 'u' || c == 'U' || c == 'l' || c == 'L')
			break;
		unsigned d = (unsigned)digit_value(c);
		if (d >= base) {
			ava_error(here(lx), "invalid digit '%c' in integer literal", c);
			t.kind = T_ERROR;
			return t;
		}
		if (v > (UINT64_MAX - d) / base)
			overflow = true;
		v = v * base + d;
		advance(lx);
	}
	while (peekc(lx, 0) == 'u' || peekc(lx, 0) == 'U' ||
	       peekc(lx, 0) == 'l' || peekc(lx, 0) == 'L')
		advance(lx);
	if (is_ident_char(peekc(lx, 0))) {
		ava_error(here(lx), "invalid suffix on integer literal");
		t.kind = T_ERROR;
		return t;
	}
	if (overflow) {
		ava_error(t.loc, "integer literal does not fit in 64 bits");
		t.kind = T_ERROR;
		return t;
	}
	t.kind = T_INT;
	t.value = v;
	return t;
}

static struct ava_token
lex_string(struct ava_lexer *lx, struct ava_token t)
{
	struct ava_str s = { 0 };
	advance(lx);
	for (;;) {
		int c = peekc(lx, 0);
		if (c == -1 || c == '\n') {
			ava_error(t.loc, "unterminated string");
			goto err;
		}
		if (c == '"')
			break;
		if (c == '\\') {
			advance(lx);
			c = peekc(lx, 0);
			if (c == 'n')
				c = '\n';
			else if (c == 't')
				c = '\t';
			else if (c != '\\' && c != '"') {
				ava_error(here(lx), "unknown escape sequence in string");
				goto err;
			}
		} else if (c == 0) {
			ava_error(here(lx), "NUL byte in string");
			goto err;
		}
		char ch = (char)c;
		ava_str_addn(&s, &ch, 1);
		advance(lx);
	}
	advance(lx);
	free(lx->strbuf);
	lx->strbuf = ava_str_take(&s);
	t.kind = T_STRING;
	t.text = lx->strbuf;
	t.len = strlen(lx->strbuf);
	return t;
err:
	ava_str_finish(&s);
	t.kind = T_ERROR;
	return t;
}

struct two_char {
	char a, b;
	enum ava_tok kind;
};

static const struct two_char two_chars[] = {
	{ '<', '<', T_SHL }, { '>', '>', T_SHR }, { '=', '=', T_EQ },
	{ '!', '=', T_NE }, { '<', '=', T_LE }, { '>', '=', T_GE },
	{ '&', '&', T_ANDAND }, { '|', '|', T_OROR },
};

static const char one_chars[] = "{}()[];:,*+-/%&|^~!<>";
static const enum ava_tok one_kinds[] = {
	T_LBRACE, T_RBRACE, T_LPAREN, T_RPAREN, T_LBRACK, T_RBRACK, T_SEMI,
	T_COLON, T_COMMA, T_STAR, T_PLUS, T_MINUS, T_SLASH, T_PERCENT, T_AMP,
	T_PIPE, T_CARET, T_TILDE, T_BANG, T_LT, T_GT,
};

struct ava_token
ava_lex(struct ava_lexer *lx)
{
	struct ava_token t = { .kind = T_ERROR };
	if (!skip_space(lx))
		return t;
	t.loc = here(lx);
	int c = peekc(lx, 0);
	if (c == -1) {
		t.kind = T_EOF;
		return t;
	}
	if (is_ident_start(c)) {
		t.kind = T_IDENT;
		t.text = lx->src + lx->pos;
		while (is_ident_char(peekc(lx, 0)))
			advance(lx);
		t.len = (size_t)(lx->src + lx->pos - t.text);
		return t;
	}
	if (c >= '0' && c <= '9')
		return lex_int(lx, t);
	if (c == '"')
		return lex_string(lx, t);
	for (size_t i = 0; i < sizeof(two_chars) / sizeof(two_chars[0]); i++) {
		if (c == two_chars[i].a && peekc(lx, 1) == two_chars[i].b) {
			advance(lx);
			advance(lx);
			t.kind = two_chars[i].kind;
			return t;
		}
	}
	const char *p = c ? strchr(one_chars, c) : NULL;
	if (p != NULL) {
		advance(lx);
		t.kind = one_kinds[p - one_chars];
		return t;
	}
	if (c >= 0x20 && c < 0x7f)
		ava_error(t.loc, "unexpected character '%c'", c);
	else
		ava_error(t.loc, "unexpected byte 0x%02x", (unsigned)c);
	return t;
}
