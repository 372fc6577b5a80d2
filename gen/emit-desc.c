/*
 * emit-desc.c - NAME-desc.h and NAME-desc.c: the descriptor tables of
 * ava-desc.h, the id and handle enums, and name tables.
 *
 * The tables hold numbers, not header names: constants and sizeof values
 * were resolved by clang at generation time, so the descriptor file
 * compiles without the vendor header (the journal tools link it too).
 * Each distinct expression becomes one small function, shared by every
 * argument that uses the same code.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"

struct xfns {
	struct ava_str defs;
	struct ava_vec bodies;     /* char *: C body of function x<i> */
};

static void
c_string(struct ava_str *s, const char *text)
{
	ava_str_add(s, "\"");
	for (const char *p = text; *p; p++) {
		if (*p == '"' || *p == '\\')
			ava_str_printf(s, "\\%c", *p);
		else if (*p == '\n')
			ava_str_add(s, "\\n");
		else if ((unsigned char)*p < 0x20)
			ava_str_printf(s, "\\%03o", (unsigned char)*p);
		else
			ava_str_addn(s, p, 1);
	}
	ava_str_add(s, "\"");
}

static void
int64_lit(struct ava_str *s, int64_t v)
{
	if (v == INT64_MIN)
		ava_str_add(s, "(-INT64_C(9223372036854775807) - 1)");
	else
		ava_str_printf(s, "INT64_C(%" PRId64 ")", v);
}

static void
collect_derefs(const struct ava_expr *e, struct ava_str *cond)
{
	if (e == NULL)
		return;
	if (e->kind == AVA_EX_DEREF)
		ava_str_printf(cond, "%s!v[%d]", cond->len ? " || " : "", e->arg);
	collect_derefs(e->lhs, cond);
	collect_derefs(e->rhs, cond);
}

/*
 * The function for `e`, as an initializer value. A filled() expression
 * that reads an out scalar the caller passed as NULL falls back to the
 * capacity: the callee then wrote no count, and the runtime must not
 * read one.
 */
static char *
xfn(struct xfns *x, const struct ava_m_fn *fn, const struct ava_expr *e,
    const struct ava_expr *fallback)
{
	if (e == NULL)
		return xstrdup("NULL");
	struct ava_str body = { 0 }, cond = { 0 };
	collect_derefs(e, &cond);
	if (cond.len > 0) {
		ava_str_printf(&body, "\tif (%s)\n\t\treturn ", cond.data);
		if (fallback != NULL)
			emit_expr_c(&body, fallback);
		else
			ava_str_add(&body, "UINT64_C(1)");
		ava_str_add(&body, ";\n");
	}
	ava_str_add(&body, "\treturn ");
	emit_expr_c(&body, e);
	ava_str_add(&body, ";\n");
	ava_str_finish(&cond);
	for (size_t i = 0; i < x->bodies.n; i++) {
		if (strcmp(x->bodies.items[i], body.data) == 0) {
			ava_str_finish(&body);
			return xasprintf("x%zu", i);
		}
	}
	bool uses_outv = strstr(body.data, "outv[") != NULL;
	bool uses_v = strstr(body.data, " v[") || strstr(body.data, "(v[") ||
		      strstr(body.data, "!v[");
	ava_str_add(&x->defs, "/* ");
	emit_expr_src(&x->defs, fn, e);
	ava_str_printf(&x->defs, " */\nstatic uint64_t\nx%zu(const uint64_t *v, "
		       "const uint64_t *outv)\n{\n%s%s%s}\n\n", x->bodies.n,
		       uses_v ? "" : "\t(void)v;\n", uses_outv ? "" : "\t(void)outv;\n",
		       body.data);
	ava_vec_push(&x->bodies, ava_str_take(&body));
	return xasprintf("x%zu", x->bodies.n - 1);
}

static void
flag_list(struct ava_str *s, uint32_t flags, const char *const *names,
	  size_t n)
{
	bool any = false;
	for (size_t b = 0; b < n; b++) {
		if (flags & (1u << b)) {
			ava_str_printf(s, "%s%s", any ? " | " : "", names[b]);
			any = true;
		}
	}
	if (!any)
		ava_str_add(s, "0");
}

static const char *const argf_names[] = {
	"AVA_ARGF_SIGNED", "AVA_ARGF_NUL_TERMINATED", "AVA_ARGF_CREATES",
	"AVA_ARGF_RETAINS", "AVA_ARGF_RELEASES", "AVA_ARGF_OVERRIDE",
	"AVA_ARGF_ERRCODE", "AVA_ARGF_WRITES", "AVA_ARGF_ALWAYS",
};

static const char *const kind_enums[AVA_ARG_KIND_COUNT] = {
	"AVA_ARG_SCALAR", "AVA_ARG_HANDLE", "AVA_ARG_IN_BUF", "AVA_ARG_OUT_BUF",
	"AVA_ARG_INOUT_BUF", "AVA_ARG_IN_STRING", "AVA_ARG_IN_HANDLES",
	"AVA_ARG_OUT_HANDLES", "AVA_ARG_OUT_SCALAR", "AVA_ARG_OUT_HANDLE",
	"AVA_ARG_IN_BUFS", "AVA_ARG_IN_PROPS", "AVA_ARG_IN_KARG",
	"AVA_ARG_CALLBACK", "AVA_ARG_USERDATA",
};

static void
handle_ref(struct ava_str *s, const struct ava_model *m, int h)
{
	if (h == 0)
		ava_str_add(s, "0");
	else
		ava_str_printf(s, "AVA_%s_H_%s", m->upper, m->handles[h].name);
}

/* typed rules and property handles of one argument, before its array */
static void
arg_side_tables(struct ava_str *s, const struct ava_model *m,
		const struct ava_m_fn *fn, size_t i)
{
	const struct ava_m_arg *a = &fn->args[i];
	if (a->ntyped > 0) {
		ava_str_printf(s, "static const struct ava_typed_rule t_%s_%zu[] = {\n",
			       fn->name, i);
		for (size_t j = 0; j < a->ntyped; j++) {
			ava_str_printf(s, "\t{ UINT64_C(%#" PRIx64 "), ", a->typed[j].value);
			handle_ref(s, m, a->typed[j].handle);
			ava_str_printf(s, ", %s }, /* %s */\n",
				       a->typed[j].props ? "true" : "false", a->typed[j].key);
		}
		ava_str_add(s, "};\n");
	}
	if (a->nprops > 0) {
		ava_str_printf(s, "static const struct ava_prop_handle p_%s_%zu[] = {\n",
			       fn->name, i);
		for (size_t j = 0; j < a->nprops; j++) {
			ava_str_printf(s, "\t{ UINT64_C(%#" PRIx64 "), ", a->props[j].value);
			handle_ref(s, m, a->props[j].handle);
			ava_str_printf(s, " }, /* %s */\n", a->props[j].key);
		}
		ava_str_add(s, "};\n");
	}
}

/*
 * Initializer fields, joined with ", " and wrapped before column 80 (tabs
 * count 8), so that most arguments take one line.
 */
struct fields {
	struct ava_vec items;      /* char * */
};

static void
field(struct fields *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
field(struct fields *f, const char *fmt, ...)
{
	struct ava_str s = { 0 };
	va_list ap;
	va_start(ap, fmt);
	ava_str_vprintf(&s, fmt, ap);
	va_end(ap);
	ava_vec_push(&f->items, ava_str_take(&s));
}

static void
fields_emit(struct ava_str *s, struct fields *f)
{
	size_t col = 10;  /* "\t{ " */
	ava_str_add(s, "\t{ ");
	for (size_t i = 0; i < f->items.n; i++) {
		const char *item = f->items.items[i];
		size_t n = strlen(item) + (i + 1 < f->items.n ? 1 : 3);
		if (i > 0 && col + 1 + n > 80) {
			ava_str_add(s, "\n\t  ");
			col = 10;
		} else if (i > 0) {
			ava_str_add(s, " ");
			col++;
		}
		ava_str_printf(s, "%s%s", item, i + 1 < f->items.n ? "," : " },\n");
		col += n;
		free(f->items.items[i]);
	}
	ava_vec_finish(&f->items);
}

/* One argument; zero fields are left out, NOREF stands for no references. */
static void
arg_desc(struct ava_str *s, struct xfns *x, const struct ava_model *m,
	 const struct ava_m_fn *fn, size_t i)
{
	const struct ava_m_arg *a = &fn->args[i];
	struct fields f = { 0 };
	struct ava_str t = { 0 };
	c_string(&t, a->name);
	ava_str_add(&t, ", ");
	c_string(&t, a->type->spelling);
	field(&f, "%s", t.data);
	ava_str_finish(&t);
	field(&f, "%s", kind_enums[a->kind]);
	if (a->lengths_arg < 0 && a->typed_by < 0 && a->userdata_arg < 0)
		field(&f, "NOREF");
	else
		field(&f, ".lengths_arg = %d, .typed_by = %d, .userdata_arg = %d",
		      a->lengths_arg, a->typed_by, a->userdata_arg);
	if (a->flags) {
		flag_list(&t, a->flags, argf_names, sizeof(argf_names) / sizeof(argf_names[0]));
		field(&f, ".flags = %s", t.data);
		ava_str_finish(&t);
	}
	if (a->handle)
		field(&f, ".handle_type = AVA_%s_H_%s", m->upper, m->handles[a->handle].name);
	if (a->scalar_size)
		field(&f, ".scalar_size = %u", a->scalar_size);
	if (a->elem_size)
		field(&f, ".elem_size = %u", a->elem_size);
	const struct ava_expr *ex[] = { a->count, a->filled, a->when };
	const struct ava_expr *fallback[] = { NULL, a->count, NULL };
	const char *names[] = { "count", "filled", "when" };
	for (size_t k = 0; k < 3; k++) {
		if (ex[k] == NULL)
			continue;
		char *fx = xfn(x, fn, ex[k], fallback[k]);
		field(&f, ".%s = %s", names[k], fx);
		free(fx);
	}
	if (a->ntyped)
		field(&f, ".ntyped = %zu, .typed = t_%s_%zu", a->ntyped, fn->name, i);
	if (a->nprops)
		field(&f, ".nprop_handles = %zu, .prop_handles = p_%s_%zu", a->nprops,
		      fn->name, i);
	if (a->prop_size)
		field(&f, ".prop_size = %u", a->prop_size);
	if (a->flags & AVA_ARGF_OVERRIDE)
		field(&f, ".override_value = UINT64_C(%" PRIu64 ")", a->override_value);
	if (a->cb_policy != AVA_CB_NONE)
		field(&f, ".cb_policy = %s", a->cb_policy == AVA_CB_DROP
		      ? "AVA_CB_DROP" : a->cb_policy == AVA_CB_REMOTE
		      ? "AVA_CB_REMOTE" : "AVA_CB_ON_RETURN");
	fields_emit(s, &f);
}

static void
fn_tables(struct ava_str *s, struct xfns *x, const struct ava_model *m,
	  const struct ava_m_fn *fn)
{
	if (fn->nargs > 0) {
		for (size_t i = 0; i < fn->nargs; i++)
			arg_side_tables(s, m, fn, i);
		ava_str_printf(s, "static const struct ava_arg_desc a_%s[] = {\n",
			       fn->name);
		for (size_t i = 0; i < fn->nargs; i++)
			arg_desc(s, x, m, fn, i);
		ava_str_add(s, "};\n");
	}
	if (fn->nconsumes > 0) {
		ava_str_printf(s, "static const struct ava_consume c_%s[] = {\n", fn->name);
		for (size_t i = 0; i < fn->nconsumes; i++) {
			char *amount = xfn(x, fn, fn->consumes[i].amount, NULL);
			ava_str_printf(s, "\t{ %s, %s },\n", fn->consumes[i].resource ==
				       AVA_RES_DEVICE_MEMORY ? "AVA_RES_DEVICE_MEMORY"
				       : "AVA_RES_DEVICE_TIME", amount);
			free(amount);
		}
		ava_str_add(s, "};\n");
	}
	if (fn->nargs > 0 || fn->nconsumes > 0)
		ava_str_add(s, "\n");
}

static const char *const ret_enums[AVA_RET_KIND_COUNT] = {
	"AVA_RET_VOID", "AVA_RET_STATUS", "AVA_RET_SCALAR", "AVA_RET_HANDLE",
	"AVA_RET_POINTER",
};

static const char *const fnf_names[] = {
	"AVA_FN_UNSUPPORTED", "AVA_FN_ASYNC", "AVA_FN_CREATES", "AVA_FN_QUERY",
	"AVA_FN_MUTATES", "AVA_FN_SYNC_POINT", "AVA_FN_PRIVATE", "AVA_FN_EMULATED",
	"AVA_FN_EXTENSION",
};

static void
fn_desc(struct ava_str *s, struct xfns *x, const struct ava_model *m,
	const struct ava_m_fn *fn)
{
	ava_str_printf(s, "\t[AVA_%s_FN_%s] = {\n\t\t.id = %u, .name = \"%s\", "
		       ".nargs = %zu, .args = ", m->upper, fn->name, fn->id, fn->name,
		       fn->nargs);
	if (fn->nargs)
		ava_str_printf(s, "a_%s", fn->name);
	else
		ava_str_add(s, "NULL");
	ava_str_printf(s, ",\n\t\t.ret = %s, .ret_type = ", ret_enums[fn->ret]);
	c_string(s, fn->c->ret->spelling);
	ava_str_add(s, ", .ret_handle_type = ");
	handle_ref(s, m, fn->ret_handle);
	ava_str_printf(s, ",\n\t\t.errcode_arg = %d, .flags = ", fn->errcode_arg);
	flag_list(s, fn->flags, fnf_names, sizeof(fnf_names) / sizeof(fnf_names[0]));
	if (fn->flags & (AVA_FN_UNSUPPORTED | AVA_FN_EMULATED)) {
		ava_str_add(s, ",\n\t\t.unsupported_error = ");
		int64_lit(s, fn->unsupported_error);
		ava_str_printf(s, ", /* %s */\n\t\t.unsupported_why = ",
			       fn->unsupported_error_name);
		c_string(s, fn->why);
	}
	if (fn->async_unless) {
		char *u = xfn(x, fn, fn->async_unless, NULL);
		ava_str_printf(s, ", .async_unless = %s", u);
		free(u);
	}
	if (fn->nconsumes)
		ava_str_printf(s, ",\n\t\t.nconsumes = %zu, .consumes = c_%s",
			       fn->nconsumes, fn->name);
	ava_str_add(s, " },\n");
}

static void
handle_tables(struct ava_str *s, const struct ava_model *m)
{
	for (size_t i = 1; i < m->nhandles; i++) {
		const struct ava_m_handle *h = &m->handles[i];
		if (h->ndepends == 0)
			continue;
		ava_str_printf(s, "static const uint16_t d_%s[] = {", h->name);
		for (size_t j = 0; j < h->ndepends; j++) {
			ava_str_add(s, j ? ", " : " ");
			handle_ref(s, m, h->depends[j]);
		}
		ava_str_add(s, " };\n");
	}
	ava_str_printf(s, "\nstatic const struct ava_handle_desc "
		       "handles[AVA_%s_H_COUNT] = {\n", m->upper);
	ava_str_add(s, "\t[0] = { .name = NULL },\n");
	for (size_t i = 1; i < m->nhandles; i++) {
		const struct ava_m_handle *h = &m->handles[i];
		ava_str_printf(s, "\t[AVA_%s_H_%s] = { .name = \"%s\", .tag = %zu, .flags = %s,\n",
			       m->upper, h->name, h->name, i,
			       h->flags & AVA_HANDLE_STATIC ? "AVA_HANDLE_STATIC" : "0");
		if (h->retain_fn >= 0)
			ava_str_printf(s, "\t\t.retain_fn = AVA_%s_FN_%s, ", m->upper,
				       m->by_id[h->retain_fn]->name);
		else
			ava_str_add(s, "\t\t.retain_fn = -1, ");
		if (h->release_fn >= 0)
			ava_str_printf(s, ".release_fn = AVA_%s_FN_%s,\n", m->upper,
				       m->by_id[h->release_fn]->name);
		else
			ava_str_add(s, ".release_fn = -1,\n");
		ava_str_add(s, "\t\t.invalid_error = ");
		int64_lit(s, h->invalid_error);
		ava_str_printf(s, " /* %s */", h->invalid_name);
		if (h->ndepends)
			ava_str_printf(s, ", .ndepends = %zu, .depends = d_%s", h->ndepends,
				       h->name);
		if (h->state)
			ava_str_printf(s, ", .state = \"%s\"", h->state);
		ava_str_add(s, " },\n");
	}
	ava_str_add(s, "};\n\n");
}

static void
const_table(struct ava_str *s, const struct ava_model *m)
{
	if (m->nconsts == 0)
		return;
	ava_str_add(s, "/* Sorted by group, then value, then name. */\n"
		    "static const struct ava_const_name consts[] = {\n");
	for (size_t i = 0; i < m->nconsts; i++) {
		const struct ava_cconst *k = m->consts[i];
		ava_str_printf(s, "\t{ \"%s\", UINT64_C(%#" PRIx64 "), \"%s\" },\n",
			       k->group, k->value, k->name);
	}
	ava_str_add(s, "};\n\n");
}

static void
api_desc(struct ava_str *s, const struct ava_model *m)
{
	ava_str_printf(s, "const struct ava_api_desc ava_%s_api = {\n"
		       "\t.name = \"%s\",\n\t.api_id = %u,\n\t.spec_hash = UINT32_C(%#" PRIx32 "),\n",
		       m->name, m->name, m->api_id, m->spec_hash);
	const struct ava_api_ast *api = &m->spec->api;
	const int64_t vals[] = { m->success, m->transport_error, m->unsupported_error };
	const char *fields[] = { "success", "transport_error", "unsupported_error" };
	const char *names[] = { api->success.name, api->transport_error.name,
				api->unsupported_error.name };
	for (size_t i = 0; i < 3; i++) {
		ava_str_printf(s, "\t.%s = ", fields[i]);
		int64_lit(s, vals[i]);
		ava_str_printf(s, ", /* %s */\n", names[i]);
	}
	ava_str_printf(s, "\t.nfns = AVA_%s_FN_COUNT,\n\t.fns = fns,\n"
		       "\t.nhandles = AVA_%s_H_COUNT,\n\t.handles = handles,\n",
		       m->upper, m->upper);
	if (m->nconsts)
		ava_str_printf(s, "\t.nconsts = %zu,\n\t.consts = consts,\n", m->nconsts);
	ava_str_add(s, "};\n\n");
}

static void
name_tables(struct ava_str *s, const struct ava_model *m)
{
	ava_str_printf(s, "const char *const ava_%s_fn_names[AVA_%s_FN_COUNT] = {\n",
		       m->name, m->upper);
	for (size_t id = 0; id < m->nids; id++) {
		if (m->by_id[id])
			ava_str_printf(s, "\t[%zu] = \"%s\",\n", id, m->by_id[id]->name);
	}
	ava_str_printf(s, "};\n\nconst char *const ava_%s_handle_names[AVA_%s_H_COUNT] = {\n",
		       m->name, m->upper);
	ava_str_add(s, "\t[0] = NULL,\n");
	for (size_t i = 1; i < m->nhandles; i++)
		ava_str_printf(s, "\t[%zu] = \"%s\",\n", i, m->handles[i].name);
	ava_str_add(s, "};\n");
}

/* Expressions see guest-controlled values: no traps, no UB. */
static const struct {
	const char *name;
	const char *body;
} helpers[] = {
	{ "ava_div", "b ? a / b : 0" }, { "ava_mod", "b ? a % b : 0" },
	{ "ava_shl", "b < 64 ? a << b : 0" }, { "ava_shr", "b < 64 ? a >> b : 0" },
};

/* Only the helpers used, so that no compiler sees an unused function. */
static void
emit_helpers(struct ava_str *s, const char *defs)
{
	for (size_t i = 0; i < sizeof(helpers) / sizeof(helpers[0]); i++) {
		char *call = xasprintf("%s(", helpers[i].name);
		if (defs && strstr(defs, call))
			ava_str_printf(s, "static inline uint64_t\n%s(uint64_t a, uint64_t b)\n"
				       "{\n\treturn %s;\n}\n\n", helpers[i].name,
				       helpers[i].body);
		free(call);
	}
}

char *
ava_emit_desc_c(const struct ava_model *m)
{
	struct xfns x = { 0 };
	struct ava_str tables = { 0 }, s = { 0 };
	for (size_t i = 0; i < m->nfns; i++)
		fn_tables(&tables, &x, m, &m->fns[i]);
	ava_str_printf(&tables, "static const struct ava_fn_desc fns[AVA_%s_FN_COUNT] = {\n",
		       m->upper);
	for (size_t id = 0; id < m->nids; id++) {
		if (m->by_id[id])
			fn_desc(&tables, &x, m, m->by_id[id]);
	}
	ava_str_add(&tables, "};\n\n");

	char *file = xasprintf("%s-desc.c", m->name);
	emit_banner(&s, m, file, "descriptor tables");
	ava_str_printf(&s, "#include \"%s-desc.h\"\n\n"
		       "/* Most arguments refer to no other argument. */\n"
		       "#define NOREF .lengths_arg = -1, .typed_by = -1, .userdata_arg = -1\n\n",
		       m->name);
	emit_helpers(&s, x.defs.data);
	free(file);
	if (x.defs.len)
		ava_str_add(&s, x.defs.data);
	ava_str_add(&s, tables.data);
	handle_tables(&s, m);
	const_table(&s, m);
	api_desc(&s, m);
	name_tables(&s, m);
	ava_str_finish(&tables);
	ava_str_finish(&x.defs);
	for (size_t i = 0; i < x.bodies.n; i++)
		free(x.bodies.items[i]);
	ava_vec_finish(&x.bodies);
	return ava_str_take(&s);
}

char *
ava_emit_desc_h(const struct ava_model *m)
{
	struct ava_str s = { 0 };
	char *file = xasprintf("%s-desc.h", m->name);
	emit_banner(&s, m, file, "function ids, handle types and descriptors");
	free(file);
	ava_str_printf(&s, "#ifndef AVA_%s_DESC_H\n#define AVA_%s_DESC_H\n\n"
		       "#include <stdint.h>\n\n#include \"ava-desc.h\"\n\n"
		       "/* Stable function ids (spec ids file); never reused. */\n"
		       "enum ava_%s_fn {\n", m->upper, m->upper, m->name);
	for (size_t id = 0; id < m->nids; id++) {
		if (m->by_id[id])
			ava_str_printf(&s, "\tAVA_%s_FN_%s = %zu,\n", m->upper,
				       m->by_id[id]->name, id);
	}
	ava_str_printf(&s, "\tAVA_%s_FN_COUNT = %zu\n};\n\n"
		       "/* Handle types; 0 means none. */\nenum ava_%s_handle {\n",
		       m->upper, m->nids, m->name);
	for (size_t i = 1; i < m->nhandles; i++)
		ava_str_printf(&s, "\tAVA_%s_H_%s = %zu,\n", m->upper,
			       m->handles[i].name, i);
	ava_str_printf(&s, "\tAVA_%s_H_COUNT = %zu\n};\n\n"
		       "extern const struct ava_api_desc ava_%s_api;\n"
		       "/* Indexed by id; NULL for retired ids. */\n"
		       "extern const char *const ava_%s_fn_names[AVA_%s_FN_COUNT];\n"
		       "/* Indexed by handle type; [0] is NULL. */\n"
		       "extern const char *const ava_%s_handle_names[AVA_%s_H_COUNT];\n\n"
		       "#endif\n", m->upper, m->nhandles, m->name, m->name, m->upper,
		       m->name, m->upper);
	return ava_str_take(&s);
}
