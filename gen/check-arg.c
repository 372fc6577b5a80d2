/*
 * check-arg.c - arguments and expressions of forwarded functions.
 *
 * Each C parameter gets exactly one wire kind, from its C type and its
 * annotation. By-value integers and handles of declared types need none;
 * an unannotated pointer is an error, because the generator never
 * guesses what a pointer points to.
 */
#include <stdlib.h>
#include <string.h>

#include "check-private.h"

/* ---- expressions ---- */

static const struct {
	const char *words;
	uint32_t size;
} builtin_types[] = {
	{ "char", 1 }, { "signed char", 1 }, { "unsigned char", 1 },
	{ "short", 2 }, { "unsigned short", 2 }, { "int", 4 },
	{ "unsigned", 4 }, { "unsigned int", 4 }, { "long", 8 },
	{ "unsigned long", 8 }, { "long long", 8 }, { "unsigned long long", 8 },
};

/* sizeof(TYPE) with TYPE a builtin, a header typedef, or either plus '*'. */
static bool
sizeof_value(struct checker *c, struct ava_expr *e)
{
	const char *star = strchr(e->name, '*');
	if (star != NULL) {
		e->value = c->hdr->pointer_size;
		size_t n = (size_t)(star - e->name);
		char *base = xstrndup(e->name, n && e->name[n - 1] == ' ' ? n - 1 : n);
		struct ava_expr sub = { .name = base };
		bool ok = strcmp(base, "void") == 0 || sizeof_value(c, &sub);
		free(base);
		if (!ok)
			ava_error(e->loc, "unknown type '%s' in sizeof", e->name);
		return ok;
	}
	for (size_t i = 0; i < sizeof(builtin_types) / sizeof(builtin_types[0]); i++) {
		if (strcmp(builtin_types[i].words, e->name) == 0) {
			e->value = builtin_types[i].size;
			return true;
		}
	}
	const struct ava_ctypedef *t = ava_header_typedef(c->hdr, e->name);
	if (t != NULL && t->type->size > 0) {
		e->value = t->type->size;
		return true;
	}
	if (e->loc.file != NULL)
		ava_error(e->loc, "unknown type '%s' in sizeof", e->name);
	return false;
}

static int
arg_index(const struct ava_m_fn *fn, const char *name)
{
	for (size_t i = 0; i < fn->c->nparams; i++) {
		if (strcmp(fn->c->params[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

static bool
check_ident(struct checker *c, const struct ava_m_fn *fn, struct ava_expr *e,
	    enum expr_ctx ctx)
{
	int i = fn ? arg_index(fn, e->name) : -1;
	if (i >= 0 && ctx != CTX_CONST) {
		e->arg = i;
		return true;
	}
	const struct ava_cconst *k = ava_header_const(c->hdr, e->name);
	if (k != NULL) {
		e->arg = -1;
		e->value = k->value;
		return true;
	}
	if (i >= 0)
		ava_error(e->loc, "argument '%s' cannot be used here: the value "
			  "must be a constant", e->name);
	else
		ava_error(e->loc, "unknown identifier '%s' in expression (neither an "
			  "argument of '%s' nor a constant of %s)", e->name,
			  fn ? fn->name : "the function", c->spec->api.header.name);
	return false;
}

static bool
check_deref(struct checker *c, const struct ava_m_fn *fn, struct ava_expr *e,
	    enum expr_ctx ctx)
{
	(void)c;
	if (ctx != CTX_FILLED) {
		ava_error(e->loc, "'*%s' is only allowed in filled()", e->name);
		return false;
	}
	int i = arg_index(fn, e->name);
	if (i < 0) {
		ava_error(e->loc, "'%s' has no argument '%s'", fn->name, e->name);
		return false;
	}
	if (fn->args[i].kind != AVA_ARG_OUT_SCALAR) {
		ava_error(e->loc, "'*%s' dereferences an argument that is not an "
			  "out scalar", e->name);
		return false;
	}
	e->arg = i;
	return true;
}

bool
check_expr(struct checker *c, const struct ava_m_fn *fn, struct ava_expr *e,
	   enum expr_ctx ctx)
{
	switch (e->kind) {
	case AVA_EX_INT:
		return true;
	case AVA_EX_IDENT:
		return check_ident(c, fn, e, ctx);
	case AVA_EX_DEREF:
		return check_deref(c, fn, e, ctx);
	case AVA_EX_SIZEOF:
		return sizeof_value(c, e);
	case AVA_EX_UNARY:
		return check_expr(c, fn, e->lhs, ctx);
	case AVA_EX_BINARY: {
		bool ok = check_expr(c, fn, e->lhs, ctx);
		return check_expr(c, fn, e->rhs, ctx) && ok;
	}
	}
	return false;
}

uint64_t
eval_const(const struct ava_expr *e)
{
	uint64_t a = e->lhs ? eval_const(e->lhs) : 0;
	uint64_t b = e->rhs ? eval_const(e->rhs) : 0;
	switch (e->kind) {
	case AVA_EX_UNARY:
		return e->op == T_BANG ? !a : e->op == T_TILDE ? ~a : 0 - a;
	case AVA_EX_BINARY:
		break;
	default:
		return e->value;
	}
	switch (e->op) {
	case T_PLUS: return a + b;
	case T_MINUS: return a - b;
	case T_STAR: return a * b;
	case T_SLASH: return b ? a / b : 0;
	case T_PERCENT: return b ? a % b : 0;
	case T_AMP: return a & b;
	case T_PIPE: return a | b;
	case T_CARET: return a ^ b;
	case T_SHL: return b < 64 ? a << b : 0;
	case T_SHR: return b < 64 ? a >> b : 0;
	case T_EQ: return a == b;
	case T_NE: return a != b;
	case T_LT: return a < b;
	case T_GT: return a > b;
	case T_LE: return a <= b;
	case T_GE: return a >= b;
	case T_ANDAND: return a && b;
	case T_OROR: return a || b;
	default: return 0;
	}
}

/* ---- kinds ---- */

static const char *const shape_words[] = {
	[AVA_SHAPE_NONE] = "", [AVA_SHAPE_BUFFER] = "buffer()",
	[AVA_SHAPE_ARRAY] = "array()", [AVA_SHAPE_HANDLES] = "handles()",
	[AVA_SHAPE_STRING] = "string", [AVA_SHAPE_BUFFERS] = "buffers()",
	[AVA_SHAPE_PROPS] = "props", [AVA_SHAPE_KARG] = "kernel_arg()",
	[AVA_SHAPE_CALLBACK] = "callback()",
};

static int
handle_of(struct checker *c, const struct ava_ctype *t)
{
	return t && t->tdname ? ava_model_handle(c->m, t->tdname) : 0;
}

static bool
mismatch(const struct ava_arg_ast *a, const struct ava_cparam *p,
	 const char *needs)
{
	ava_error(a->shape ? a->shape_loc : a->name.loc,
		  "kind mismatch: %s needs %s, but '%s' is '%s'",
		  a->shape ? shape_words[a->shape] : "this annotation", needs,
		  p->name, p->type->spelling);
	return false;
}

/* A parameter with no annotation: only by-value integers and handles. */
static bool
classify_plain(struct checker *c, struct ava_m_fn *fn, struct ava_m_arg *ma,
	       const struct ava_cparam *p)
{
	const struct ava_ctype *t = p->type;
	if (t->cls == AVA_CT_INT) {
		ma->kind = AVA_ARG_SCALAR;
		ma->flags |= t->is_signed ? AVA_ARGF_SIGNED : 0;
		ma->scalar_size = t->size;
		return true;
	}
	if ((ma->handle = handle_of(c, t)) != 0) {
		ma->kind = AVA_ARG_HANDLE;
		return true;
	}
	if (t->cls == AVA_CT_POINTER || t->cls == AVA_CT_FNPTR)
		ava_error(fn->ast->name.loc, "pointer argument '%s' of '%s' needs an "
			  "annotation (the generator never guesses)", p->name, fn->name);
	else
		ava_error(fn->ast->name.loc, "argument '%s' of '%s' has type '%s', "
			  "which cannot be forwarded", p->name, fn->name, t->spelling);
	return false;
}

static bool
kind_by_dir(struct ava_m_arg *ma, const struct ava_arg_ast *a,
	    enum ava_arg_kind in, enum ava_arg_kind out, enum ava_arg_kind inout)
{
	if (a->dir == AVA_DIR_NONE) {
		ava_error(a->shape_loc, "%s needs a direction: in, out or inout",
			  shape_words[a->shape]);
		return false;
	}
	if (a->dir != AVA_DIR_IN && ma->type->pointee->is_const) {
		ava_error(a->dir_loc, "'%s' points to const data and cannot be an "
			  "output", a->name.name);
		return false;
	}
	ma->kind = a->dir == AVA_DIR_IN ? in : a->dir == AVA_DIR_OUT ? out : inout;
	if ((int)ma->kind < 0) {
		ava_error(a->dir_loc, "%s cannot be inout", shape_words[a->shape]);
		return false;
	}
	return true;
}

static bool
input_only(const struct ava_arg_ast *a)
{
	if (a->dir == AVA_DIR_OUT || a->dir == AVA_DIR_INOUT) {
		ava_error(a->dir_loc, "%s is input only", shape_words[a->shape]);
		return false;
	}
	return true;
}

/* A data pointer with an annotation: one case per shape, kept together
 * so that the shape table of doc/spec-language.md reads off one switch. */
static bool
classify_pointer(struct checker *c, struct ava_m_arg *ma,
		 const struct ava_cparam *p, const struct ava_arg_ast *a)
{
	const struct ava_ctype *pt = p->type->pointee;
	int h = handle_of(c, pt);
	switch (a->shape) {
	case AVA_SHAPE_NONE:
		if (a->dir != AVA_DIR_OUT) {
			ava_error(a->dir ? a->dir_loc : a->name.loc, "pointer argument '%s' "
				  "needs a shape (buffer, array, handles, string, ...) "
				  "unless it is a single 'out' value", p->name);
			return false;
		}
		ma->handle = h;
		ma->kind = h ? AVA_ARG_OUT_HANDLE : AVA_ARG_OUT_SCALAR;
		ma->scalar_size = pt->size;
		if (!h && pt->cls != AVA_CT_INT)
			return mismatch(a, p, "a pointer to an integer or a handle");
		return true;
	case AVA_SHAPE_BUFFER:
	case AVA_SHAPE_ARRAY:
		if (h != 0)
			return mismatch(a, p, "a pointer to data (use handles() for handles)");
		ma->elem_size = a->shape == AVA_SHAPE_BUFFER ? 1 : pt->size;
		if (ma->elem_size == 0)
			return mismatch(a, p, "a sized element type (use buffer() for void *)");
		return kind_by_dir(ma, a, AVA_ARG_IN_BUF, AVA_ARG_OUT_BUF,
				   AVA_ARG_INOUT_BUF);
	case AVA_SHAPE_HANDLES:
		if (h == 0)
			return mismatch(a, p, "a pointer to a declared handle type");
		ma->handle = h;
		ma->elem_size = pt->size;
		return kind_by_dir(ma, a, AVA_ARG_IN_HANDLES, AVA_ARG_OUT_HANDLES,
				   (enum ava_arg_kind)-1);
	case AVA_SHAPE_STRING:
		ma->kind = AVA_ARG_IN_STRING;
		if (pt->cls != AVA_CT_INT || pt->size != 1)
			return mismatch(a, p, "a 'const char *'");
		return input_only(a);
	case AVA_SHAPE_BUFFERS:
		ma->kind = AVA_ARG_IN_BUFS;
		if (pt->cls != AVA_CT_POINTER || pt->pointee->cls == AVA_CT_POINTER)
			return mismatch(a, p, "a pointer to data pointers ('const T **')");
		ma->elem_size = pt->pointee->size ? pt->pointee->size : 1;
		ma->flags |= a->nul_terminated ? AVA_ARGF_NUL_TERMINATED : 0;
		return input_only(a);
	case AVA_SHAPE_PROPS:
		ma->kind = AVA_ARG_IN_PROPS;
		if (pt->cls != AVA_CT_INT)
			return mismatch(a, p, "a pointer to integer property words");
		ma->prop_size = pt->size;
		return input_only(a);
	case AVA_SHAPE_KARG:
		ma->kind = AVA_ARG_IN_KARG;
		ma->elem_size = 1;
		return input_only(a);
	case AVA_SHAPE_CALLBACK:
		return mismatch(a, p, "a function pointer");
	}
	return false;
}

static bool
classify(struct checker *c, struct ava_m_fn *fn, struct ava_m_arg *ma,
	 const struct ava_cparam *p, const struct ava_arg_ast *a)
{
	const struct ava_ctype *t = p->type;
	if (a == NULL)
		return classify_plain(c, fn, ma, p);
	if (a->override != NULL) {
		if (t->cls != AVA_CT_INT || a->shape || a->dir)
			return mismatch(a, p, "override() on a by-value integer alone");
		ma->kind = AVA_ARG_SCALAR;
		ma->flags |= AVA_ARGF_OVERRIDE | (t->is_signed ? AVA_ARGF_SIGNED : 0);
		ma->scalar_size = t->size;
		return true;
	}
	if (a->shape == AVA_SHAPE_CALLBACK) {
		ma->kind = AVA_ARG_CALLBACK;
		if (t->cls != AVA_CT_FNPTR)
			return mismatch(a, p, "a function pointer");
		if (a->cb_policy == 0) {
			ava_error(a->shape_loc, "callback() needs 'on_return', "
				  "'drop' or 'remote'");
			return false;
		}
		ma->cb_policy = a->cb_policy == 1 ? AVA_CB_ON_RETURN :
				a->cb_policy == 2 ? AVA_CB_DROP : AVA_CB_REMOTE;
		return true;
	}
	if (t->cls == AVA_CT_POINTER && handle_of(c, t) == 0)
		return classify_pointer(c, ma, p, a);
	if ((ma->handle = handle_of(c, t)) != 0 && !a->shape &&
	    a->dir != AVA_DIR_OUT && a->dir != AVA_DIR_INOUT) {
		ma->kind = AVA_ARG_HANDLE;
		return true;
	}
	if (t->cls == AVA_CT_INT && !a->shape && a->dir != AVA_DIR_OUT &&
	    a->dir != AVA_DIR_INOUT)
		return classify_plain(c, fn, ma, p);
	return mismatch(a, p, t->cls == AVA_CT_FNPTR ? "a data pointer (use callback())"
						     : "a pointer argument");
}

/* ---- references and modifiers ---- */

static bool
misplaced(struct ava_loc loc, const char *attr, const char *needs)
{
	ava_error(loc, "'%s' needs %s", attr, needs);
	return false;
}

static bool
declared_handle(struct checker *c, const struct ava_name *n, int *out)
{
	*out = ava_model_handle(c->m, n->name);
	if (*out == 0) {
		ava_error(n->loc, "unknown handle type '%s' (not declared with "
			  "'handle')", n->name);
		return false;
	}
	return true;
}

static bool
prop_list(struct checker *c, const struct ava_vec *keys, struct ava_m_arg *ma)
{
	bool ok = true;
	ma->props = xrealloc(ma->props, (ma->nprops + keys->n) * sizeof(*ma->props));
	for (size_t i = 0; i < keys->n; i++) {
		const struct ava_prop_key *k = keys->items[i];
		struct ava_m_prop *mp = &ma->props[ma->nprops++];
		mp->key = k->key.name;
		ok &= header_const(c, &k->key, &mp->value);
		ok &= declared_handle(c, &k->handle, &mp->handle);
	}
	return ok;
}

static bool
typed_rules(struct checker *c, const struct ava_m_fn *fn, struct ava_m_arg *ma,
	    const struct ava_arg_ast *a)
{
	ma->typed_by = arg_index(fn, a->typed_by.name);
	if (ma->typed_by < 0) {
		ava_error(a->typed_by.loc, "'%s' has no argument '%s'", fn->name,
			  a->typed_by.name);
		return false;
	}
	if (fn->args[ma->typed_by].kind != AVA_ARG_SCALAR)
		return misplaced(a->typed_by.loc, "typed()", "a scalar selecting argument");
	if (ma->kind != AVA_ARG_OUT_BUF)
		return misplaced(a->typed_by.loc, "typed()", "an out buffer");
	bool ok = true;
	ma->typed = xcalloc(a->typed.n, sizeof(*ma->typed));
	for (size_t i = 0; i < a->typed.n; i++) {
		const struct ava_typed_ast *r = a->typed.items[i];
		struct ava_m_typed *mt = &ma->typed[ma->ntyped++];
		mt->key = r->key.name;
		mt->props = r->props;
		ok &= header_const(c, &r->key, &mt->value);
		if (!r->props) {
			ok &= declared_handle(c, &r->handle, &mt->handle);
			continue;
		}
		size_t first = ma->nprops;
		ok &= prop_list(c, &r->prop_keys, ma);
		mt->handle = ma->nprops > first ? ma->props[first].handle : 0;
		ma->prop_size = c->hdr->pointer_size;
	}
	return ok;
}

static bool
is_in_kind(enum ava_arg_kind k)
{
	return k == AVA_ARG_IN_BUF || k == AVA_ARG_INOUT_BUF || k == AVA_ARG_IN_STRING ||
	       k == AVA_ARG_IN_HANDLES || k == AVA_ARG_IN_BUFS ||
	       k == AVA_ARG_IN_PROPS || k == AVA_ARG_IN_KARG;
}

static bool
lengths_ref(const struct ava_m_fn *fn, struct ava_m_arg *ma,
	    const struct ava_arg_ast *a)
{
	if (ma->kind != AVA_ARG_IN_BUFS)
		return misplaced(a->lengths.loc, "lengths()", "buffers()");
	ma->lengths_arg = arg_index(fn, a->lengths.name);
	if (ma->lengths_arg < 0) {
		ava_error(a->lengths.loc, "'%s' has no argument '%s'", fn->name,
			  a->lengths.name);
		return false;
	}
	const struct ava_m_arg *l = &fn->args[ma->lengths_arg];
	if (l->kind != AVA_ARG_IN_BUF || l->type->pointee->cls != AVA_CT_INT)
		return misplaced(a->lengths.loc, "lengths()",
				 "an argument annotated 'in array(...)'");
	return true;
}

static bool
modifiers(struct checker *c, struct ava_m_fn *fn, struct ava_m_arg *ma,
	  const struct ava_arg_ast *a)
{
	bool ok = true;
	if (a->count) {
		ma->count = a->count;
		ok &= check_expr(c, fn, a->count, CTX_SIZE);
	}
	if (a->filled) {
		if (ma->kind != AVA_ARG_OUT_BUF && ma->kind != AVA_ARG_INOUT_BUF &&
		    ma->kind != AVA_ARG_OUT_HANDLES)
			ok = misplaced(a->filled->loc, "filled()", "an out buffer or handles");
		ma->filled = a->filled;
		ok &= check_expr(c, fn, a->filled, CTX_FILLED);
	}
	if (a->when) {
		if (!is_in_kind(ma->kind))
			ok = misplaced(a->when->loc, "when()", "an input pointer");
		ma->when = a->when;
		ok &= check_expr(c, fn, a->when, CTX_COND);
	}
	if (a->override) {
		ok &= check_expr(c, fn, a->override, CTX_CONST);
		ma->override_value = eval_const(a->override);
	}
	if (a->creates) {
		if (ma->kind != AVA_ARG_OUT_HANDLE && ma->kind != AVA_ARG_OUT_HANDLES)
			ok = misplaced(a->name.loc, "creates", "an out handle");
		ma->flags |= AVA_ARGF_CREATES;
	}
	if (a->writes || a->reads) {
		if (ma->kind != AVA_ARG_HANDLE)
			ok = misplaced(a->name.loc, a->writes ? "writes" : "reads",
				       "a by-value handle");
		ma->flags |= a->writes ? AVA_ARGF_WRITES : 0;
		ma->reads = a->reads;
	}
	if (a->always) {
		if (ma->kind != AVA_ARG_OUT_BUF && ma->kind != AVA_ARG_INOUT_BUF)
			ok = misplaced(a->name.loc, "always", "an out buffer");
		ma->flags |= AVA_ARGF_ALWAYS;
	}
	if (a->nul_terminated && ma->kind != AVA_ARG_IN_BUFS)
		ok = misplaced(a->name.loc, "nul_terminated", "buffers()");
	if (a->cb_policy && ma->kind != AVA_ARG_CALLBACK)
		ok = misplaced(a->name.loc, a->cb_policy == 1 ? "on_return" :
			       a->cb_policy == 2 ? "drop" : "remote", "callback()");
	if (a->lengths.name)
		ok &= lengths_ref(fn, ma, a);
	if (a->prop_keys.n > 0)
		ok &= prop_list(c, &a->prop_keys, ma);
	if (a->typed_by.name)
		ok &= typed_rules(c, fn, ma, a);
	return ok;
}

/* Map annotations to parameters; callbacks name their user data. */
static bool
match_args(const struct ava_m_fn *fn, const struct ava_arg_ast **asts,
	   int *cb_of)
{
	bool ok = true;
	const struct ava_vec *v = &fn->ast->args;
	for (size_t j = 0; j < v->n; j++) {
		const struct ava_arg_ast *a = v->items[j];
		int i = arg_index(fn, a->name.name);
		if (i < 0) {
			ava_error(a->name.loc, "'%s' has no argument '%s'", fn->name,
				  a->name.name);
			ok = false;
		} else if (asts[i] != NULL) {
			ava_error(a->name.loc, "argument '%s' is annotated twice",
				  a->name.name);
			ok = false;
		} else {
			asts[i] = a;
		}
	}
	for (size_t i = 0; i < fn->c->nparams; i++) {
		const struct ava_arg_ast *a = asts[i];
		if (a == NULL || a->shape != AVA_SHAPE_CALLBACK)
			continue;
		int u = arg_index(fn, a->userdata.name);
		if (u < 0 || u == (int)i) {
			ava_error(a->userdata.loc, "'%s' has no argument '%s' for the "
				  "user data", fn->name, a->userdata.name);
			ok = false;
		} else {
			cb_of[u] = (int)i;
		}
	}
	return ok;
}

static bool
special_arg(struct ava_m_fn *fn, size_t i, const struct ava_arg_ast *a,
	    int cb)
{
	struct ava_m_arg *ma = &fn->args[i];
	if ((int)i == fn->errcode_arg) {
		ma->kind = AVA_ARG_OUT_SCALAR;
		ma->flags = AVA_ARGF_ERRCODE;
		ma->scalar_size = ma->type->pointee->size;
		if (a && (a->shape || a->dir == AVA_DIR_IN || a->dir == AVA_DIR_INOUT))
			return misplaced(a->name.loc, "the error argument", "no shape "
					 "(it is an out scalar)");
		return true;
	}
	ma->kind = AVA_ARG_USERDATA;
	ma->userdata_arg = -1;
	if (a != NULL)
		return misplaced(a->name.loc, "callback user data", "no annotation");
	if (ma->type->cls != AVA_CT_POINTER)
		return misplaced(fn->ast->name.loc, "callback user data",
				 "a pointer argument");
	fn->args[cb].userdata_arg = (int)i;
	return true;
}

bool
check_args(struct checker *c, struct ava_m_fn *fn)
{
	size_t n = fn->c->nparams;
	if (n > AVA_MAX_ARGS) {
		ava_error(fn->ast->name.loc, "'%s' has %zu arguments (at most %d)",
			  fn->name, n, AVA_MAX_ARGS);
		return false;
	}
	const struct ava_arg_ast *asts[AVA_MAX_ARGS] = { 0 };
	int cb_of[AVA_MAX_ARGS];
	fn->nargs = n;
	fn->args = xcalloc(n, sizeof(*fn->args));
	for (size_t i = 0; i < n; i++) {
		struct ava_m_arg *ma = &fn->args[i];
		ma->name = fn->c->params[i].name;
		ma->type = fn->c->params[i].type;
		ma->lengths_arg = ma->typed_by = ma->userdata_arg = -1;
		cb_of[i] = -1;
	}
	bool ok = match_args(fn, asts, cb_of);
	for (size_t i = 0; i < n; i++) {
		if ((int)i == fn->errcode_arg || cb_of[i] >= 0)
			continue;
		ok &= classify(c, fn, &fn->args[i], &fn->c->params[i], asts[i]);
	}
	for (size_t i = 0; i < n; i++) {
		if ((int)i == fn->errcode_arg || cb_of[i] >= 0)
			ok &= special_arg(fn, i, asts[i], cb_of[i]);
	}
	for (size_t i = 0; ok && i < n; i++) {
		if (asts[i] != NULL && (int)i != fn->errcode_arg && cb_of[i] < 0)
			ok &= modifiers(c, fn, &fn->args[i], asts[i]);
	}
	return ok;
}
