/*
 * header-private.h - the libclang reader's state, shared by header.c
 * (parse 1: declarations) and header-const.c (parse 2: constant values
 * and their groups).
 */
#ifndef AVA_GEN_HEADER_PRIVATE_H
#define AVA_GEN_HEADER_PRIVATE_H

#include <clang-c/Index.h>

#include "header.h"

#define MAIN_FILE "ava-gen-main.c"

struct reader {
	const struct ava_header_opts *o;
	struct ava_header *h;
	CXTranslationUnit tu;
	CXFile main_file;          /* the header the spec named */
	CXFile private_file;       /* its private_header, or NULL */
	CXFile extension_file;     /* its extension_header, or NULL */
	char *api_dir;             /* its directory, with a trailing '/' */
	struct ava_vec macros;     /* struct macro * (candidates) */
};

struct macro {
	char *name;
	unsigned offset;
	bool in_main;
};

/* A CXString as a heap copy; disposes of the CXString. */
char *
hdr_take(CXString s);
/* qsort/bsearch order of structs that begin with `char *name`. */
int
hdr_cmp_name(const void *a, const void *b);
void *
hdr_find(const struct ava_vec *v, const char *name);
bool
hdr_is_int_kind(enum CXTypeKind k, bool *is_signed);
/* Adds a constant unless one of that name exists; takes name and group. */
void
hdr_add_const(struct reader *r, char *name, uint64_t value, bool is_signed,
	  char *group);
/* The synthetic main file: the spec's defines, then the includes. */
char *
hdr_prelude(const struct ava_header_opts *o);
CXTranslationUnit
hdr_parse(struct reader *r, CXIndex idx, const char *src, unsigned flags);

/* header-const.c */
int
hdr_eval_macros(struct reader *r, CXIndex idx);
void
hdr_group_macros(struct reader *r);

#endif
