/*
 * header.c - reads the vendor header with libclang.
 *
 * Two parses of a small synthetic file that includes the header after the
 * spec's `define`s:
 *   1. with a detailed preprocessing record: functions of the main header,
 *      typedefs, enumerators, the ICD struct, and the object-like macros of
 *      the header's directory;
 *   2. one `static const __typeof__((M) + 0) v = (M);` per such macro, so
 *      that clang itself evaluates every macro that is an integer constant
 *      expression; the rest (strings, attributes, empty macros) fail to
 *      compile and are skipped.
 * Pretty-printing groups of macros come from the main header's section
 * comments ("/ * cl_device_info * /"): see hdr_group_macros().
 */
#include "header.h"

#include <clang-c/Index.h>
#include <stdlib.h>
#include <string.h>

#include "header-private.h"
#include "spec.h"


char *
hdr_take(CXString s)
{
	const char *c = clang_getCString(s);
	char *r = xstrdup(c ? c : "");
	clang_disposeString(s);
	return r;
}

int
hdr_cmp_name(const void *a, const void *b)
{
	const char *const *x = *(const char *const *const *)a;
	const char *const *y = *(const char *const *const *)b;
	return strcmp(*x, *y);
}

void *
hdr_find(const struct ava_vec *v, const char *name)
{
	if (v->n == 0)
		return NULL;
	const char *key = name;
	const char *const *kp = &key;
	void **hit = bsearch(&kp, v->items, v->n, sizeof(void *), hdr_cmp_name);
	return hit ? *hit : NULL;
}

/* ---- types ---- */

bool
hdr_is_int_kind(enum CXTypeKind k, bool *is_signed)
{
	if (k >= CXType_Bool && k <= CXType_UInt128) {
		*is_signed = false;
		return true;
	}
	if (k >= CXType_Char_S && k <= CXType_Int128) {
		*is_signed = true;
		return true;
	}
	return false;
}

static void
set_decl(struct ava_ctype *c)
{
	const char *s = c->spelling;
	const char *star = c->cls == AVA_CT_FNPTR ? strstr(s, "(*") : NULL;
	if (star != NULL) {
		/* clang spells a function pointer "R (*)(A...)"; the name
		 * goes right after the star. */
		c->decl_pre = xstrndup(s, (size_t)(star - s) + 2);
		c->decl_post = xstrdup(star + 2);
		return;
	}
	size_t n = strlen(s);
	c->decl_pre = xasprintf("%s%s", s, n && s[n - 1] == '*' ? "" : " ");
	c->decl_post = xstrdup("");
}

static struct ava_ctype *
ctype_from(CXType t);

/*
 * A parameter declared as an array ("void *p[]") is a pointer in C; it
 * keeps its array declarator but is spelled, cast and classified as the
 * pointer it decays to.
 */
static struct ava_ctype *
array_param(CXType t)
{
	struct ava_ctype *c = xcalloc(1, sizeof(*c));
	c->cls = AVA_CT_POINTER;
	c->pointee = ctype_from(clang_getArrayElementType(t));
	const char *e = c->pointee->spelling;
	size_t n = strlen(e);
	c->spelling = xasprintf("%s%s*", e, n && e[n - 1] == '*' ? "" : " ");
	c->size = sizeof(void *);
	c->decl_pre = xasprintf("%s%s", e, n && e[n - 1] == '*' ? "" : " ");
	if (t.kind == CXType_ConstantArray)
		c->decl_post = xasprintf("[%lld]", clang_getArraySize(t));
	else
		c->decl_post = xstrdup("[]");
	return c;
}

static struct ava_ctype *
ctype_from(CXType t)
{
	if (t.kind == CXType_IncompleteArray || t.kind == CXType_ConstantArray)
		return array_param(t);
	struct ava_ctype *c = xcalloc(1, sizeof(*c));
	c->spelling = hdr_take(clang_getTypeSpelling(t));
	c->is_const = clang_isConstQualifiedType(t);
	CXType named = t;
	if (named.kind == CXType_Elaborated)
		named = clang_Type_getNamedType(named);
	if (named.kind == CXType_Typedef)
		c->tdname = hdr_take(clang_getTypedefName(named));
	long long size = clang_Type_getSizeOf(t);
	c->size = size > 0 && size < UINT32_MAX ? (uint32_t)size : 0;

	CXType canon = clang_getCanonicalType(t);
	if (canon.kind == CXType_Enum) {
		CXCursor d = clang_getTypeDeclaration(canon);
		canon = clang_getCanonicalType(clang_getEnumDeclIntegerType(d));
	}
	if (canon.kind == CXType_Void) {
		c->cls = AVA_CT_VOID;
	} else if (hdr_is_int_kind(canon.kind, &c->is_signed)) {
		c->cls = AVA_CT_INT;
	} else if (canon.kind == CXType_Float || canon.kind == CXType_Double ||
		   canon.kind == CXType_LongDouble) {
		c->cls = AVA_CT_FLOAT;
	} else if (canon.kind == CXType_Pointer) {
		CXType pc = clang_getCanonicalType(clang_getPointeeType(canon));
		if (pc.kind == CXType_FunctionProto ||
		    pc.kind == CXType_FunctionNoProto) {
			c->cls = AVA_CT_FNPTR;
		} else {
			c->cls = AVA_CT_POINTER;
			CXType p = t;
			if (p.kind == CXType_Elaborated || p.kind == CXType_Typedef)
				p = canon;
			c->pointee = ctype_from(clang_getPointeeType(p));
		}
	} else if (canon.kind == CXType_Record) {
		c->cls = AVA_CT_RECORD;
	} else {
		c->cls = AVA_CT_OTHER;
	}
	set_decl(c);
	return c;
}

static void
ctype_destroy(struct ava_ctype *c)
{
	if (c == NULL)
		return;
	ctype_destroy(c->pointee);
	free(c->spelling);
	free(c->tdname);
	free(c->decl_pre);
	free(c->decl_post);
	free(c);
}

/* ---- locations ---- */

static char *
cursor_file(CXCursor c, unsigned *offset, CXFile *file_out)
{
	CXFile file;
	unsigned line, col, off;
	clang_getSpellingLocation(clang_getCursorLocation(c), &file, &line,
				  &col, &off);
	if (offset)
		*offset = off;
	if (file_out)
		*file_out = file;
	return file ? hdr_take(clang_getFileName(file)) : NULL;
}

static bool
in_main(struct reader *r, CXCursor c)
{
	CXFile f;
	char *name = cursor_file(c, NULL, &f);
	free(name);
	return f != NULL && r->main_file != NULL &&
	       clang_File_isEqual(f, r->main_file);
}

static bool
in_file(CXCursor c, CXFile file)
{
	CXFile f;
	char *name = cursor_file(c, NULL, &f);
	free(name);
	return f != NULL && file != NULL && clang_File_isEqual(f, file);
}

static bool
in_api_dir(struct reader *r, CXCursor c)
{
	char *name = cursor_file(c, NULL, NULL);
	bool yes = name && r->api_dir &&
		   strncmp(name, r->api_dir, strlen(r->api_dir)) == 0;
	free(name);
	return yes;
}

/* ---- parse 1 ---- */

static void
add_function(struct reader *r, CXCursor c, enum ava_cfunc_origin origin)
{
	char *name = hdr_take(clang_getCursorSpelling(c));
	for (size_t i = 0; i < r->h->funcs.n; i++) {
		struct ava_cfunc *f = r->h->funcs.items[i];
		if (strcmp(f->name, name) == 0) {
			free(name);  /* a redeclaration */
			return;
		}
	}
	struct ava_cfunc *f = xcalloc(1, sizeof(*f));
	f->name = name;
	CXFile file;
	unsigned line, col;
	clang_getSpellingLocation(clang_getCursorLocation(c), &file, &line,
				  &col, NULL);
	f->loc = (struct ava_loc){ NULL, (int)line, (int)col };
	f->ret = ctype_from(clang_getCursorResultType(c));
	int n = clang_Cursor_getNumArguments(c);
	f->nparams = n > 0 ? (size_t)n : 0;
	f->params = xcalloc(f->nparams, sizeof(*f->params));
	for (size_t i = 0; i < f->nparams; i++) {
		CXCursor a = clang_Cursor_getArgument(c, (unsigned)i);
		f->params[i].name = hdr_take(clang_getCursorSpelling(a));
		if (f->params[i].name[0] == '\0') {
			free(f->params[i].name);
			f->params[i].name = xasprintf("arg%zu", i);
		}
		f->params[i].type = ctype_from(clang_getCursorType(a));
	}
	f->variadic = clang_Cursor_isVariadic(c);
	f->origin = origin;
	ava_vec_push(&r->h->funcs, f);
}

void
hdr_add_const(struct reader *r, char *name, uint64_t value, bool is_signed,
	  char *group)
{
	if (hdr_find(&r->h->consts, name) != NULL) {
		free(name);
		free(group);
		return;
	}
	struct ava_cconst *k = xcalloc(1, sizeof(*k));
	k->name = name;
	k->value = value;
	k->is_signed = is_signed;
	k->group = group;
	ava_vec_push(&r->h->consts, k);
	/* keep sorted for hdr_find(): insertion from the back */
	struct ava_vec *v = &r->h->consts;
	for (size_t i = v->n - 1;
	     i > 0 && hdr_cmp_name(&v->items[i - 1], &v->items[i]) > 0; i--) {
		void *t = v->items[i];
		v->items[i] = v->items[i - 1];
		v->items[i - 1] = t;
	}
}

static enum CXChildVisitResult
visit_enum(CXCursor c, CXCursor parent, CXClientData data)
{
	struct reader *r = data;
	if (clang_getCursorKind(c) != CXCursor_EnumConstantDecl)
		return CXChildVisit_Continue;
	CXType it = clang_getCanonicalType(clang_getEnumDeclIntegerType(parent));
	bool is_signed = false;
	hdr_is_int_kind(it.kind, &is_signed);
	uint64_t v = is_signed ? (uint64_t)clang_getEnumConstantDeclValue(c)
			       : clang_getEnumConstantDeclUnsignedValue(c);
	char *group = hdr_take(clang_getCursorSpelling(parent));
	if (group[0] == '\0' || strchr(group, ' ') != NULL) {
		free(group);  /* anonymous enum */
		group = NULL;
	}
	hdr_add_const(r, hdr_take(clang_getCursorSpelling(c)), v, is_signed, group);
	return CXChildVisit_Continue;
}

static enum CXChildVisitResult
visit_icd(CXCursor c, CXCursor parent, CXClientData data)
{
	struct reader *r = data;
	(void)parent;
	if (clang_getCursorKind(c) != CXCursor_FieldDecl)
		return CXChildVisit_Continue;
	struct ava_cfield *f = xcalloc(1, sizeof(*f));
	f->name = hdr_take(clang_getCursorSpelling(c));
	struct ava_ctype *t = ctype_from(clang_getCursorType(c));
	f->fnptr = t->cls == AVA_CT_FNPTR;
	ctype_destroy(t);
	ava_vec_push(&r->h->icd_fields, f);
	return CXChildVisit_Continue;
}

static void
add_icd(struct reader *r, CXCursor c)
{
	const char *tag = r->o->icd_struct;
	char *name = hdr_take(clang_getCursorSpelling(c));
	bool match = tag && r->o->icd_header && !r->h->have_icd &&
		     clang_isCursorDefinition(c) && strcmp(name, tag) == 0;
	free(name);
	if (!match)
		return;
	r->h->have_icd = true;
	clang_visitChildren(c, visit_icd, r);
}

static void
add_macro(struct reader *r, CXCursor c)
{
	if (clang_Cursor_isMacroFunctionLike(c) || clang_Cursor_isMacroBuiltin(c) ||
	    !in_api_dir(r, c))
		return;
	struct macro *m = xcalloc(1, sizeof(*m));
	m->name = hdr_take(clang_getCursorSpelling(c));
	char *f = cursor_file(c, &m->offset, NULL);
	free(f);
	m->in_main = in_main(r, c);
	ava_vec_push(&r->macros, m);
}

static void
add_typedef(struct reader *r, CXCursor c)
{
	struct ava_ctypedef *t = xcalloc(1, sizeof(*t));
	t->name = hdr_take(clang_getCursorSpelling(c));
	t->type = ctype_from(clang_getTypedefDeclUnderlyingType(c));
	ava_vec_push(&r->h->typedefs, t);
}

static enum CXChildVisitResult
visit_top(CXCursor c, CXCursor parent, CXClientData data)
{
	struct reader *r = data;
	(void)parent;
	switch (clang_getCursorKind(c)) {
	case CXCursor_FunctionDecl:
		if (in_main(r, c))
			add_function(r, c, AVA_CFUNC_MAIN);
		break;
	case CXCursor_TypedefDecl:
		add_typedef(r, c);
		break;
	case CXCursor_EnumDecl:
		if (in_api_dir(r, c))
			clang_visitChildren(c, visit_enum, r);
		break;
	case CXCursor_StructDecl:
		add_icd(r, c);
		break;
	case CXCursor_MacroDefinition:
		add_macro(r, c);
		break;
	default:
		break;
	}
	return CXChildVisit_Continue;
}

static enum CXChildVisitResult
find_include(CXCursor c, CXCursor parent, CXClientData data)
{
	struct reader *r = data;
	(void)parent;
	if (clang_getCursorKind(c) != CXCursor_InclusionDirective)
		return CXChildVisit_Continue;
	char *name = hdr_take(clang_getCursorSpelling(c));
	bool is_main = strcmp(name, r->o->header) == 0;
	bool is_private = r->o->private_header &&
			  strcmp(name, r->o->private_header) == 0;
	bool is_ext = r->o->extension_header &&
		      strcmp(name, r->o->extension_header) == 0;
	free(name);
	if (is_main && r->main_file == NULL)
		r->main_file = clang_getIncludedFile(c);
	if (is_private && r->private_file == NULL)
		r->private_file = clang_getIncludedFile(c);
	if (is_ext && r->extension_file == NULL)
		r->extension_file = clang_getIncludedFile(c);
	return CXChildVisit_Continue;
}

/* The other headers' functions come after the main header's, so that
 * header order stays the order of the vendor's header. */
static enum CXChildVisitResult
visit_extra(CXCursor c, CXCursor parent, CXClientData data)
{
	struct reader *r = data;
	(void)parent;
	if (clang_getCursorKind(c) != CXCursor_FunctionDecl)
		return CXChildVisit_Continue;
	if (in_file(c, r->private_file))
		add_function(r, c, AVA_CFUNC_PRIVATE);
	else if (in_file(c, r->extension_file))
		add_function(r, c, AVA_CFUNC_EXTENSION);
	return CXChildVisit_Continue;
}

/* ---- the synthetic main file and clang ---- */

char *
hdr_prelude(const struct ava_header_opts *o)
{
	struct ava_str s = { 0 };
	for (size_t i = 0; o->defines && i < o->defines->n; i++) {
		const struct ava_define *d = o->defines->items[i];
		ava_str_printf(&s, "#define %s %s\n", d->name,
			       d->value ? d->value : "");
	}
	ava_str_printf(&s, "#include <%s>\n", o->header);
	if (o->icd_header)
		ava_str_printf(&s, "#include <%s>\n", o->icd_header);
	if (o->extension_header)
		ava_str_printf(&s, "#include <%s>\n", o->extension_header);
	if (o->private_header)
		ava_str_printf(&s, "#include <%s>\n", o->private_header);
	return ava_str_take(&s);
}

static int
report_diags(struct reader *r, CXTranslationUnit tu)
{
	int errors = 0;
	unsigned n = clang_getNumDiagnostics(tu);
	for (unsigned i = 0; i < n; i++) {
		CXDiagnostic d = clang_getDiagnostic(tu, i);
		if (clang_getDiagnosticSeverity(d) >= CXDiagnostic_Error) {
			CXFile file;
			unsigned line, col;
			clang_getSpellingLocation(clang_getDiagnosticLocation(d),
						  &file, &line, &col, NULL);
			char *fname = file ? hdr_take(clang_getFileName(file)) : NULL;
			char *msg = hdr_take(clang_getDiagnosticSpelling(d));
			struct ava_loc loc = r->o->loc;
			if (fname != NULL && strcmp(fname, MAIN_FILE) != 0)
				loc = (struct ava_loc){ fname, (int)line, (int)col };
			ava_error(loc, "%s", msg);
			free(msg);
			free(fname);
			errors++;
		}
		clang_disposeDiagnostic(d);
	}
	return errors;
}

CXTranslationUnit
hdr_parse(struct reader *r, CXIndex idx, const char *src, unsigned flags)
{
	struct ava_vec args = { 0 };
	static const char *const fixed[] = {
		"-x", "c", "-std=c11", "-ferror-limit=0",
	};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		ava_vec_push(&args, (void *)fixed[i]);
	for (size_t i = 0; i < r->o->nincdirs; i++) {
		ava_vec_push(&args, (void *)"-I");
		ava_vec_push(&args, (void *)r->o->incdirs[i]);
	}
	struct CXUnsavedFile uf = { MAIN_FILE, src, (unsigned long)strlen(src) };
	CXTranslationUnit tu = NULL;
	enum CXErrorCode e = clang_parseTranslationUnit2(idx, MAIN_FILE,
		(const char *const *)args.items, (int)args.n, &uf, 1, flags, &tu);
	ava_vec_finish(&args);
	if (e != CXError_Success) {
		ava_error(r->o->loc, "libclang could not parse '%s' (error %d)",
			  r->o->header, (int)e);
		return NULL;
	}
	return tu;
}

static void
add_dep(CXFile f, CXSourceLocation *stack, unsigned len, CXClientData data)
{
	struct ava_header *h = data;
	(void)stack;
	(void)len;
	char *name = hdr_take(clang_getFileName(f));
	if (strcmp(name, MAIN_FILE) == 0) {
		free(name);
		return;
	}
	ava_vec_push(&h->deps, name);
}

/* ---- entry points ---- */

static int
read_tu(struct reader *r, CXIndex idx)
{
	char *src = hdr_prelude(r->o);
	r->tu = hdr_parse(r, idx, src, CXTranslationUnit_DetailedPreprocessingRecord |
				   CXTranslationUnit_SkipFunctionBodies);
	free(src);
	if (r->tu == NULL || report_diags(r, r->tu) > 0)
		return -1;
	CXCursor top = clang_getTranslationUnitCursor(r->tu);
	clang_visitChildren(top, find_include, r);
	if (r->main_file == NULL) {
		ava_error(r->o->loc, "cannot find the header '%s'", r->o->header);
		return -1;
	}
	r->h->main_path = hdr_take(clang_getFileName(r->main_file));
	const char *slash = strrchr(r->h->main_path, '/');
	r->api_dir = slash ? xstrndup(r->h->main_path,
				      (size_t)(slash - r->h->main_path) + 1)
			   : xstrdup("");
	const char *lost = r->o->private_header && r->private_file == NULL
		? r->o->private_header
		: r->o->extension_header && r->extension_file == NULL
		? r->o->extension_header : NULL;
	if (lost != NULL) {
		ava_error(r->o->loc, "cannot find the header '%s'", lost);
		return -1;
	}
	clang_visitChildren(top, visit_top, r);
	if (r->private_file != NULL || r->extension_file != NULL)
		clang_visitChildren(top, visit_extra, r);
	if (r->h->typedefs.n > 0)
		qsort(r->h->typedefs.items, r->h->typedefs.n, sizeof(void *), hdr_cmp_name);
	clang_getInclusions(r->tu, add_dep, r->h);
	return 0;
}

int
ava_header_read(const struct ava_header_opts *o, struct ava_header **out)
{
	struct reader r = { .o = o };
	r.h = xcalloc(1, sizeof(*r.h));
	r.h->pointer_size = sizeof(void *);
	CXIndex idx = clang_createIndex(0, 0);
	int ret = read_tu(&r, idx);
	if (ret == 0)
		ret = hdr_eval_macros(&r, idx);
	if (ret == 0)
		hdr_group_macros(&r);
	if (r.tu)
		clang_disposeTranslationUnit(r.tu);
	clang_disposeIndex(idx);
	for (size_t i = 0; i < r.macros.n; i++) {
		struct macro *m = r.macros.items[i];
		free(m->name);
		free(m);
	}
	ava_vec_finish(&r.macros);
	free(r.api_dir);
	for (size_t i = 0; i < r.h->funcs.n; i++)
		ava_vec_push(&r.h->by_name, r.h->funcs.items[i]);
	if (r.h->by_name.n > 0)
		qsort(r.h->by_name.items, r.h->by_name.n, sizeof(void *), hdr_cmp_name);
	if (ret != 0) {
		ava_header_destroy(r.h);
		return -1;
	}
	*out = r.h;
	return 0;
}

void
ava_header_destroy(struct ava_header *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->funcs.n; i++) {
		struct ava_cfunc *f = h->funcs.items[i];
		for (size_t j = 0; j < f->nparams; j++) {
			free(f->params[j].name);
			ctype_destroy(f->params[j].type);
		}
		free(f->params);
		ctype_destroy(f->ret);
		free(f->name);
		free(f);
	}
	for (size_t i = 0; i < h->consts.n; i++) {
		struct ava_cconst *k = h->consts.items[i];
		free(k->name);
		free(k->group);
		free(k);
	}
	for (size_t i = 0; i < h->typedefs.n; i++) {
		struct ava_ctypedef *t = h->typedefs.items[i];
		free(t->name);
		ctype_destroy(t->type);
		free(t);
	}
	for (size_t i = 0; i < h->icd_fields.n; i++) {
		struct ava_cfield *f = h->icd_fields.items[i];
		free(f->name);
		free(f);
	}
	for (size_t i = 0; i < h->deps.n; i++)
		free(h->deps.items[i]);
	struct ava_vec *vs[] = { &h->funcs, &h->consts, &h->typedefs,
				 &h->icd_fields, &h->deps, &h->by_name };
	for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++)
		ava_vec_finish(vs[i]);
	free(h->main_path);
	free(h);
}

const struct ava_cfunc *
ava_header_func(const struct ava_header *h, const char *name)
{
	return hdr_find(&h->by_name, name);
}

const struct ava_cconst *
ava_header_const(const struct ava_header *h, const char *name)
{
	return hdr_find(&h->consts, name);
}

const struct ava_ctypedef *
ava_header_typedef(const struct ava_header *h, const char *name)
{
	return hdr_find(&h->typedefs, name);
}
