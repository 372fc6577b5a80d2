/*
 * header-const.c - the header's integer constants: values of object-like
 * macros, evaluated by clang in a second parse, and their pretty-printing
 * groups, read from the main header's section comments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "header-private.h"
#include "spec.h"

/* ---- parse 2: macro values ---- */

static enum CXChildVisitResult
visit_values(CXCursor c, CXCursor parent, CXClientData data)
{
	struct reader *r = data;
	(void)parent;
	if (clang_getCursorKind(c) != CXCursor_VarDecl || clang_isInvalidDeclaration(c))
		return CXChildVisit_Continue;
	char *name = hdr_take(clang_getCursorSpelling(c));
	size_t i = 0;
	bool ours = sscanf(name, "ava__m_%zu", &i) == 1 && i < r->macros.n;
	free(name);
	if (!ours)
		return CXChildVisit_Continue;
	CXEvalResult ev = clang_Cursor_Evaluate(c);
	if (ev == NULL)
		return CXChildVisit_Continue;
	if (clang_EvalResult_getKind(ev) == CXEval_Int) {
		struct macro *m = r->macros.items[i];
		bool is_signed = false;
		CXType t = clang_getCanonicalType(clang_getCursorType(c));
		hdr_is_int_kind(t.kind, &is_signed);
		uint64_t v = clang_EvalResult_isUnsignedInt(ev)
			? clang_EvalResult_getAsUnsigned(ev)
			: (uint64_t)clang_EvalResult_getAsLongLong(ev);
		/* groups are assigned afterwards, from the comments */
		hdr_add_const(r, xstrdup(m->name), v, is_signed, NULL);
	}
	clang_EvalResult_dispose(ev);
	return CXChildVisit_Continue;
}

int
hdr_eval_macros(struct reader *r, CXIndex idx)
{
	char *pre = hdr_prelude(r->o);
	struct ava_str s = { 0 };
	ava_str_add(&s, pre);
	free(pre);
	for (size_t i = 0; i < r->macros.n; i++) {
		const struct macro *m = r->macros.items[i];
		ava_str_printf(&s, "static const __typeof__((%s) + 0) ava__m_%zu = (%s);\n",
			       m->name, i, m->name);
	}
	char *src = ava_str_take(&s);
	CXTranslationUnit tu = hdr_parse(r, idx, src, CXTranslationUnit_SkipFunctionBodies);
	free(src);
	if (tu == NULL)
		return -1;
	clang_visitChildren(clang_getTranslationUnitCursor(tu), visit_values, r);
	clang_disposeTranslationUnit(tu);
	return 0;
}

/* ---- groups from section comments ---- */

/*
 * A comment in the main header whose first word names a typedef starts a
 * group of that name ("cl_device_info"); a comment whose whole text the
 * spec maps with `section "TEXT" GROUP;` starts that group; any other
 * comment changes nothing. Each macro of the main header belongs to the
 * group in force where it is defined.
 */
static const char *
comment_group(struct reader *r, const char *text)
{
	const char *p = text + 2;  /* past the comment opener */
	while (*p == '*' || *p == ' ' || *p == '\t' || *p == '\n')
		p++;
	size_t n = strlen(p);
	while (n > 0 && (p[n - 1] == '/' || p[n - 1] == '*' || p[n - 1] == ' ' ||
			 p[n - 1] == '\n' || p[n - 1] == '\t'))
		n--;
	for (size_t i = 0; r->o->sections && i < r->o->sections->n; i++) {
		const struct ava_section *sec = r->o->sections->items[i];
		if (strlen(sec->text) == n && strncmp(sec->text, p, n) == 0)
			return sec->group;
	}
	size_t w = 0;
	while (p[w] == '_' || (p[w] >= 'a' && p[w] <= 'z') ||
	       (p[w] >= 'A' && p[w] <= 'Z') || (p[w] >= '0' && p[w] <= '9'))
		w++;
	char *word = xstrndup(p, w);
	const struct ava_ctypedef *t = hdr_find(&r->h->typedefs, word);
	free(word);
	return t ? t->name : NULL;
}

void
hdr_group_macros(struct reader *r)
{
	size_t size = 0;
	clang_getFileContents(r->tu, r->main_file, &size);
	CXSourceRange range = clang_getRange(
		clang_getLocationForOffset(r->tu, r->main_file, 0),
		clang_getLocationForOffset(r->tu, r->main_file, (unsigned)size));
	CXToken *toks = NULL;
	unsigned ntoks = 0;
	clang_tokenize(r->tu, range, &toks, &ntoks);
	const char *group = NULL;
	unsigned t = 0;
	for (size_t i = 0; i < r->macros.n; i++) {
		const struct macro *m = r->macros.items[i];
		if (!m->in_main)
			continue;
		for (; t < ntoks; t++) {
			unsigned off;
			clang_getSpellingLocation(clang_getTokenLocation(r->tu, toks[t]),
						  NULL, NULL, NULL, &off);
			if (off >= m->offset)
				break;
			if (clang_getTokenKind(toks[t]) != CXToken_Comment)
				continue;
			char *text = hdr_take(clang_getTokenSpelling(r->tu, toks[t]));
			const char *g = comment_group(r, text);
			free(text);
			if (g != NULL)
				group = g;
		}
		struct ava_cconst *k = hdr_find(&r->h->consts, m->name);
		if (k != NULL && group != NULL && k->group == NULL)
			k->group = xstrdup(group);
	}
	clang_disposeTokens(r->tu, toks, ntoks);
}

