/*
 * header.h - what ava-gen learns from the vendor's header, through
 * libclang's C API: function prototypes, typedefs, integer constants
 * (object-like macros and enumerators, evaluated by clang itself) and the
 * fields of the ICD dispatch struct.
 *
 * Nothing here knows about specs; check.c matches the two. The whole
 * structure is owned by the caller of ava_header_read() and freed with
 * ava_header_destroy().
 */
#ifndef AVA_GEN_HEADER_H
#define AVA_GEN_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "util.h"

enum ava_ctype_class {
	AVA_CT_VOID,
	AVA_CT_INT,        /* integers, bool, enums */
	AVA_CT_FLOAT,
	AVA_CT_POINTER,    /* data pointer (includes handle typedefs) */
	AVA_CT_FNPTR,      /* pointer to function */
	AVA_CT_RECORD,
	AVA_CT_OTHER,
};

struct ava_ctype {
	char *spelling;            /* as clang spells it: "const cl_event *" */
	char *tdname;              /* the typedef naming this type, or NULL */
	enum ava_ctype_class cls;
	bool is_signed;            /* AVA_CT_INT */
	bool is_const;
	uint32_t size;             /* sizeof; 0 when incomplete (void) */
	struct ava_ctype *pointee; /* AVA_CT_POINTER */
	char *decl_pre;            /* a declarator is decl_pre NAME decl_post */
	char *decl_post;
};

/* Structs below begin with `name` so that one sorted lookup serves all. */
/* Which header declares a function. */
enum ava_cfunc_origin {
	AVA_CFUNC_MAIN,            /* the spec's header: every one in the spec */
	AVA_CFUNC_PRIVATE,         /* the private header: likewise */
	AVA_CFUNC_EXTENSION,       /* the extension header: those the spec names */
};

struct ava_cparam {
	char *name;
	struct ava_ctype *type;
};

struct ava_cfunc {
	char *name;
	struct ava_loc loc;
	struct ava_ctype *ret;
	size_t nparams;
	struct ava_cparam *params;
	bool variadic;
	enum ava_cfunc_origin origin;
};

struct ava_cconst {
	char *name;
	uint64_t value;            /* signed values sign-extended */
	bool is_signed;
	char *group;               /* pretty-printing group, or NULL */
};

struct ava_ctypedef {
	char *name;
	struct ava_ctype *type;    /* the underlying type */
};

struct ava_cfield {
	char *name;
	bool fnptr;
};

struct ava_header {
	char *main_path;           /* the file the spec's `header` named */
	struct ava_vec funcs;      /* struct ava_cfunc *, in header order:
				    * the main header's, then the private
				    * header's */
	struct ava_vec consts;     /* struct ava_cconst *, sorted by name */
	struct ava_vec typedefs;   /* struct ava_ctypedef *, sorted by name */
	bool have_icd;
	struct ava_vec icd_fields; /* struct ava_cfield *, in struct order */
	struct ava_vec deps;       /* char *: every file the parse read */
	uint32_t pointer_size;
	/* private */
	struct ava_vec by_name;    /* funcs sorted by name */
};

struct ava_header_opts {
	const char *header;        /* include path, e.g. "CL/cl.h" */
	const char *icd_header;    /* or NULL */
	const char *private_header; /* ava's own entry points, or NULL */
	const char *extension_header; /* optional entry points, or NULL */
	const char *icd_struct;    /* struct tag of the dispatch table */
	const struct ava_vec *defines;   /* struct ava_define * (spec.h) */
	const struct ava_vec *sections;  /* struct ava_section * (spec.h) */
	const char *const *incdirs;
	size_t nincdirs;
	struct ava_loc loc;        /* where the spec named the header */
};

/*
 * Parse the header. Returns 0, or -1 after reporting clang's errors (a
 * missing header, a syntax error in it) as diagnostics.
 */
int
ava_header_read(const struct ava_header_opts *o, struct ava_header **out);

void
ava_header_destroy(struct ava_header *h);

const struct ava_cfunc *
ava_header_func(const struct ava_header *h, const char *name);
const struct ava_cconst *
ava_header_const(const struct ava_header *h, const char *name);
const struct ava_ctypedef *
ava_header_typedef(const struct ava_header *h, const char *name);

#endif
