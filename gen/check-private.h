/*
 * check-private.h - state shared by check.c (api, handles, functions,
 * ids) and check-arg.c (arguments and expressions).
 */
#ifndef AVA_GEN_CHECK_PRIVATE_H
#define AVA_GEN_CHECK_PRIVATE_H

#include "model.h"

struct checker {
	struct ava_spec *spec;
	const struct ava_header *hdr;
	struct ava_model *m;
	bool lax;
};

enum expr_ctx {
	CTX_SIZE,     /* count, consumes: arguments and constants */
	CTX_FILLED,   /* also *out_scalar */
	CTX_COND,     /* when, async unless */
	CTX_CONST,    /* override, typed keys: constants only */
};

/* Resolve names in `e` (sets arg and value); false after errors. */
bool
check_expr(struct checker *c, const struct ava_m_fn *fn, struct ava_expr *e,
	   enum expr_ctx ctx);

/* Value of a constant-only expression that check_expr() accepted. */
uint64_t
eval_const(const struct ava_expr *e);

/* A header constant by name; reports an error and returns false if none. */
bool
header_const(struct checker *c, const struct ava_name *n, uint64_t *value);

/* Classify and check every argument of a supported function. */
bool
check_args(struct checker *c, struct ava_m_fn *fn);

#endif
