/*
 * emit-code.c - the server dispatch (NAME-server.{h,c}) and the guest
 * stubs (NAME-guest.{h,c}).
 *
 * Both stay thin on purpose: a server case casts v[i] to each parameter
 * type and calls the real function; a guest stub packs its arguments into
 * v[] and calls ava_guest_call(), where the generic marshaller of the
 * guest core reads the descriptors.
 */
#include <stdlib.h>
#include <string.h>

#include "emit.h"

/* ---- server ---- */

static void
server_cast(struct ava_str *s, const struct ava_ctype *t, size_t i)
{
	if (t->cls == AVA_CT_INT)
		ava_str_printf(s, "(%s)v[%zu]", t->spelling, i);
	else
		ava_str_printf(s, "(%s)(uintptr_t)v[%zu]", t->spelling, i);
}

/*
 * An extension function has no symbol to link: the resolver returns the
 * vendor's entry point, and a vendor without one gets the api's
 * unsupported error, in the error out-argument too.
 */
/* "(T1, T2, ...)": parameter types without names, which could shadow. */
static void
param_types(struct ava_str *s, const struct ava_cfunc *f)
{
	ava_str_add(s, f->nparams ? "(" : "(void");
	for (size_t i = 0; i < f->nparams; i++) {
		const struct ava_ctype *t = f->params[i].type;
		size_t n = strlen(t->decl_pre);
		if (t->decl_post[0] == '\0' && n > 0 && t->decl_pre[n - 1] == ' ')
			n--;  /* "T " was for a name */
		ava_str_printf(s, "%s%.*s%s", i ? ", " : "", (int)n, t->decl_pre,
			       t->decl_post);
	}
	ava_str_add(s, ")");
}

static void
extension_entry(struct ava_str *s, const struct ava_model *m,
		const struct ava_m_fn *fn)
{
	const struct ava_cfunc *f = fn->c;
	ava_str_printf(s, "%s(*real)", f->ret->decl_pre);
	param_types(s, f);
	ava_str_printf(s, " =\n\t\t\t(%s(*)", f->ret->decl_pre);
	param_types(s, f);
	ava_str_printf(s, ")ava_%s_server_extension(\"%s\");\n\t\tif (real == NULL) {\n",
		       m->name, fn->name);
	if (fn->errcode_arg >= 0)
		ava_str_printf(s, "\t\t\tif (v[%d] != 0)\n\t\t\t\t*(%s)(uintptr_t)v[%d] = "
			       "(%s)ava_%s_api.unsupported_error;\n", fn->errcode_arg,
			       f->params[fn->errcode_arg].type->spelling, fn->errcode_arg,
			       f->params[fn->errcode_arg].type->pointee->spelling, m->name);
	if (fn->ret == AVA_RET_STATUS)
		ava_str_printf(s, "\t\t\treturn (uint64_t)ava_%s_api.unsupported_error;\n",
			       m->name);
	else
		ava_str_add(s, "\t\t\treturn 0;\n");
	ava_str_add(s, "\t\t}\n\t\t");
}

static void
server_case(struct ava_str *s, const struct ava_model *m, const struct ava_m_fn *fn)
{
	bool ext = (fn->flags & AVA_FN_EXTENSION) && !(fn->hooks & AVA_HOOK_SERVER);
	ava_str_printf(s, "\tcase AVA_%s_FN_%s:%s\n\t\t", m->upper, fn->name,
		       ext ? " {" : "");
	if (fn->hooks & AVA_HOOK_SERVER) {
		ava_str_printf(s, "return ava_%s_server_hook_%s(v, ctx);\n", m->name,
			       fn->name);
		return;
	}
	if (ext)
		extension_entry(s, m, fn);
	const struct ava_ctype *r = fn->c->ret;
	if (fn->ret == AVA_RET_VOID)
		ava_str_add(s, "");
	else if (fn->ret == AVA_RET_HANDLE || fn->ret == AVA_RET_POINTER)
		ava_str_add(s, "return (uint64_t)(uintptr_t)");
	else
		ava_str_add(s, r->is_signed ? "return (uint64_t)(int64_t)" : "return (uint64_t)");
	ava_str_printf(s, "%s(", ext ? "real" : fn->name);
	for (size_t i = 0; i < fn->c->nparams; i++) {
		if (i)
			ava_str_add(s, ", ");
		server_cast(s, fn->c->params[i].type, i);
	}
	ava_str_add(s, fn->ret == AVA_RET_VOID ? ");\n\t\treturn 0;\n" : ");\n");
	if (ext)
		ava_str_add(s, "\t}\n");
}

char *
ava_emit_server_c(const struct ava_model *m)
{
	struct ava_str s = { 0 };
	char *file = xasprintf("%s-server.c", m->name);
	emit_banner(&s, m, file, "server dispatch: calls the real functions");
	free(file);
	ava_str_printf(&s, "#include \"%s-server.h\"\n\n", m->name);
	emit_api_includes(&s, m, false);
	ava_str_add(&s, "\n/*\n * v[i]: a scalar, a real handle, or a pointer to storage "
		    "the server\n * owns (see ava_server_api.invoke). Unsupported and unknown ids never\n"
		    " * reach the vendor library.\n */\n"
		    "static uint64_t\ninvoke(uint32_t fn, const uint64_t *v, "
		    "struct ava_server_ctx *ctx)\n{\n\t(void)ctx;\n\tswitch (fn) {\n");
	for (size_t i = 0; i < m->nfns; i++) {
		if (!(m->fns[i].flags & (AVA_FN_UNSUPPORTED | AVA_FN_EMULATED)))
			server_case(&s, m, &m->fns[i]);
	}
	ava_str_printf(&s, "\tdefault:\n\t\treturn (uint64_t)ava_%s_api.unsupported_error;\n"
		       "\t}\n}\n\nconst struct ava_server_api ava_%s_server = {\n"
		       "\t.api = &ava_%s_api,\n\t.invoke = invoke,\n};\n",
		       m->name, m->name, m->name);
	return ava_str_take(&s);
}

char *
ava_emit_server_h(const struct ava_model *m)
{
	struct ava_str s = { 0 };
	char *file = xasprintf("%s-server.h", m->name);
	emit_banner(&s, m, file, "server dispatch and the server hooks it calls");
	free(file);
	ava_str_printf(&s, "#ifndef AVA_%s_SERVER_H\n#define AVA_%s_SERVER_H\n\n"
		       "#include <stdint.h>\n\n#include \"ava-generated.h\"\n"
		       "#include \"%s-desc.h\"\n\nextern const struct ava_server_api "
		       "ava_%s_server;\n", m->upper, m->upper, m->name, m->name);
	bool first = true;
	for (size_t i = 0; i < m->nfns; i++) {
		const struct ava_m_fn *fn = &m->fns[i];
		if (!(fn->hooks & AVA_HOOK_SERVER) || (fn->flags & AVA_FN_UNSUPPORTED))
			continue;
		if (first)
			ava_str_add(&s, "\n/*\n * Server hooks, written by hand: called by invoke() "
				    "with the same\n * v[] instead of the real function; "
				    "return the widened result.\n */\n");
		first = false;
		ava_str_printf(&s, "uint64_t\nava_%s_server_hook_%s(const uint64_t *v, "
			       "struct ava_server_ctx *ctx);\n", m->name, fn->name);
	}
	for (size_t i = 0; i < m->nfns; i++) {
		if (!(m->fns[i].flags & AVA_FN_EXTENSION))
			continue;
		ava_str_printf(&s, "\n/*\n * Written by hand: the vendor's entry point of an "
			       "extension function,\n * or NULL if it has none.\n */\n"
			       "ava_fn_ptr\nava_%s_server_extension(const char *name);\n",
			       m->name);
		break;
	}
	ava_str_add(&s, "\n#endif\n");
	return ava_str_take(&s);
}

/* ---- guest ---- */

static void
guest_forward_body(struct ava_str *s, const struct ava_model *m,
		   const struct ava_m_fn *fn)
{
	const struct ava_cfunc *f = fn->c;
	ava_str_printf(s, "{\n\tuint64_t v[%zu] = {", f->nparams ? f->nparams : 1);
	for (size_t i = 0; i < f->nparams; i++) {
		const struct ava_ctype *t = f->params[i].type;
		ava_str_printf(s, "%s%s%s", i ? ", " : " ",
			       t->cls == AVA_CT_INT ? "(uint64_t)" : "(uint64_t)(uintptr_t)",
			       f->params[i].name);
	}
	ava_str_add(s, f->nparams ? " };\n\t" : " 0 };\n\t");
	if (fn->ret == AVA_RET_VOID)
		ava_str_add(s, "(void)");
	else if (fn->ret == AVA_RET_HANDLE || fn->ret == AVA_RET_POINTER)
		ava_str_printf(s, "return (%s)(uintptr_t)", f->ret->spelling);
	else
		ava_str_printf(s, "return (%s)", f->ret->spelling);
	ava_str_printf(s, "ava_guest_call(&ava_%s_guest, AVA_%s_FN_%s, v);\n}\n\n",
		       m->name, m->upper, fn->name);
}

static void
guest_unsupported_body(struct ava_str *s, const struct ava_m_fn *fn)
{
	const struct ava_cfunc *f = fn->c;
	ava_str_add(s, "{\n");
	bool any = false;
	for (size_t i = 0; i < f->nparams; i++) {
		if ((int)i == fn->errcode_arg)
			continue;
		ava_str_printf(s, "%s(void)%s;", any ? " " : "\t", f->params[i].name);
		any = true;
	}
	if (any)
		ava_str_add(s, "\n");
	if (fn->errcode_arg >= 0) {
		const char *e = f->params[fn->errcode_arg].name;
		ava_str_printf(s, "\tif (%s != NULL)\n\t\t*%s = %s;\n", e, e,
			       fn->unsupported_error_name);
	}
	switch (fn->ret) {
	case AVA_RET_VOID:
		break;
	case AVA_RET_STATUS:
		ava_str_printf(s, "\treturn %s;\n", fn->unsupported_error_name);
		break;
	case AVA_RET_SCALAR:
		ava_str_printf(s, "\treturn (%s){ 0 };\n", f->ret->spelling);
		break;
	default:
		ava_str_add(s, "\treturn NULL;\n");
		break;
	}
	ava_str_add(s, "}\n\n");
}

static void
guest_stub(struct ava_str *s, const struct ava_model *m, const struct ava_m_fn *fn)
{
	/* Private functions are for the guest hooks, not the application. */
	if (!(fn->flags & AVA_FN_PRIVATE))
		ava_str_add(s, "AVA_EXPORT ");
	emit_proto(s, fn->c, "", fn->name);
	ava_str_add(s, "\n");
	if (fn->flags & AVA_FN_UNSUPPORTED) {
		guest_unsupported_body(s, fn);
		return;
	}
	if (!(fn->hooks & AVA_HOOK_GUEST)) {
		guest_forward_body(s, m, fn);
		return;
	}
	ava_str_printf(s, "{\n\t%sava_%s_guest_hook_%s(", fn->ret == AVA_RET_VOID ?
		       "" : "return ", m->name, fn->name);
	emit_arg_names(s, fn->c);
	ava_str_add(s, ");\n}\n\n");
	if (fn->flags & AVA_FN_EMULATED)
		return;  /* no forwarding body: it is never sent */
	char *prefix = xasprintf("ava_%s_forward_", m->name);
	emit_proto(s, fn->c, prefix, fn->name);
	free(prefix);
	ava_str_add(s, "\n");
	guest_forward_body(s, m, fn);
}

static void
guest_dispatch(struct ava_str *s, const struct ava_model *m)
{
	const struct ava_api_ast *api = &m->spec->api;
	ava_str_printf(s, "const struct %s ava_%s_dispatch = {\n",
		       api->icd_dispatch.name ? api->icd_dispatch.name
					      : "_cl_icd_dispatch", m->name);
	const struct ava_vec *fields = &m->hdr->icd_fields;
	for (size_t i = 0; i < fields->n; i++) {
		const struct ava_cfield *f = fields->items[i];
		if (f->fnptr && ava_model_fn(m, f->name) != NULL)
			ava_str_printf(s, "\t.%s = %s,\n", f->name, f->name);
	}
	ava_str_add(s, "};\n\n");
}

char *
ava_emit_guest_c(const struct ava_model *m)
{
	struct ava_str s = { 0 };
	char *file = xasprintf("%s-guest.c", m->name);
	emit_banner(&s, m, file, "guest stubs with the exact prototypes of the header");
	free(file);
	ava_str_printf(&s, "#include \"%s-guest.h\"\n\n#include <stddef.h>\n\n"
		       "/* The library builds with -fvisibility=hidden; these are the API. */\n"
		       "#define AVA_EXPORT __attribute__((visibility(\"default\")))\n\n",
		       m->name);
	for (size_t i = 0; i < m->nfns; i++)
		guest_stub(&s, m, &m->fns[i]);
	if (m->spec->api.guest_icd)
		guest_dispatch(&s, m);
	ava_str_printf(&s, "const struct ava_guest_extension ava_%s_extensions[] = {\n",
		       m->name);
	for (size_t i = 0; i < m->nfns; i++)
		if (m->fns[i].flags & AVA_FN_EXTENSION)
			ava_str_printf(&s, "\t{ \"%s\", (ava_fn_ptr)%s },\n",
				       m->fns[i].name, m->fns[i].name);
	ava_str_add(&s, "\t{ NULL, NULL },\n};\n\n");
	ava_str_printf(&s, "const struct ava_guest_api ava_%s_guest = {\n"
		       "\t.api = &ava_%s_api,\n\t.dispatch = ", m->name, m->name);
	if (m->spec->api.guest_icd)
		ava_str_printf(&s, "&ava_%s_dispatch,\n};\n", m->name);
	else
		ava_str_add(&s, "NULL,\n};\n");
	return ava_str_take(&s);
}

char *
ava_emit_guest_h(const struct ava_model *m)
{
	struct ava_str s = { 0 };
	const struct ava_api_ast *api = &m->spec->api;
	char *file = xasprintf("%s-guest.h", m->name);
	emit_banner(&s, m, file, "guest stubs: tables, hooks and forwarding bodies");
	free(file);
	ava_str_printf(&s, "#ifndef AVA_%s_GUEST_H\n#define AVA_%s_GUEST_H\n\n"
		       "#include <stdint.h>\n\n#include \"ava-generated.h\"\n"
		       "#include \"%s-desc.h\"\n\n", m->upper, m->upper, m->name);
	emit_api_includes(&s, m, api->guest_icd);
	ava_str_printf(&s, "\nextern const struct ava_guest_api ava_%s_guest;\n", m->name);
	ava_str_printf(&s, "/* Forwarded extension functions by name, ending in { NULL }. */\n"
		       "extern const struct ava_guest_extension ava_%s_extensions[];\n",
		       m->name);
	if (api->guest_icd)
		ava_str_printf(&s, "extern const struct %s ava_%s_dispatch;\n",
			       api->icd_dispatch.name ? api->icd_dispatch.name
						      : "_cl_icd_dispatch", m->name);
	ava_str_add(&s, "\n/*\n * Implemented by the guest core: marshals v[] by the "
		    "descriptor of\n * `fn`, sends the call, waits for the reply (unless async) and\n"
		    " * returns the widened result. Never fails to return: transport\n"
		    " * failures come back as the api's transport_error.\n */\n"
		    "uint64_t\nava_guest_call(const struct ava_guest_api *g, uint32_t fn, "
		    "uint64_t *v);\n");
	for (size_t i = 0; i < m->nfns; i++) {
		const struct ava_m_fn *fn = &m->fns[i];
		if (!(fn->hooks & AVA_HOOK_GUEST) || (fn->flags & AVA_FN_UNSUPPORTED))
			continue;
		bool emulated = fn->flags & AVA_FN_EMULATED;
		ava_str_printf(&s, "\n/* %s: the hook is hand-written; %s */\n",
			       fn->name, emulated ? "it builds the call from others."
			       : "the forward is the default body.");
		char *prefix = xasprintf("ava_%s_guest_hook_", m->name);
		emit_proto(&s, fn->c, prefix, fn->name);
		free(prefix);
		ava_str_add(&s, ";\n");
		if (emulated)
			continue;
		prefix = xasprintf("ava_%s_forward_", m->name);
		emit_proto(&s, fn->c, prefix, fn->name);
		free(prefix);
		ava_str_add(&s, ";\n");
	}
	ava_str_add(&s, "\n#endif\n");
	return ava_str_take(&s);
}
