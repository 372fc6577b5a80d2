/*
 * spec.h - the syntax tree of one spec file, as the parser builds it.
 *
 * The tree records what was written and where, nothing more: names are not
 * resolved against the header here. check.c does that and builds the model
 * (model.h). Everything is heap-allocated and owned by the tree; free it
 * with ava_spec_destroy().
 */
#ifndef AVA_GEN_SPEC_H
#define AVA_GEN_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "lex.h"
#include "util.h"

enum ava_expr_kind {
	AVA_EX_INT,      /* literal */
	AVA_EX_IDENT,    /* argument name or header constant */
	AVA_EX_DEREF,    /* *name: an out scalar after the call */
	AVA_EX_SIZEOF,   /* sizeof(type) */
	AVA_EX_UNARY,    /* op lhs */
	AVA_EX_BINARY,   /* lhs op rhs */
};

struct ava_expr {
	enum ava_expr_kind kind;
	struct ava_loc loc;
	enum ava_tok op;
	uint64_t value;          /* INT */
	char *name;              /* IDENT, DEREF; SIZEOF: the type as written */
	struct ava_expr *lhs, *rhs;
	int arg;                 /* set by check: argument index, or -1 */
};

/* A name and where it was written. */
struct ava_name {
	char *name;
	struct ava_loc loc;
};

enum ava_dir { AVA_DIR_NONE, AVA_DIR_IN, AVA_DIR_OUT, AVA_DIR_INOUT };

enum ava_shape {
	AVA_SHAPE_NONE,
	AVA_SHAPE_BUFFER,     /* buffer(bytes) */
	AVA_SHAPE_ARRAY,      /* array(elements) */
	AVA_SHAPE_HANDLES,    /* handles(count) */
	AVA_SHAPE_STRING,     /* string */
	AVA_SHAPE_BUFFERS,    /* buffers(count) [lengths(arg)] [nul_terminated] */
	AVA_SHAPE_PROPS,      /* props[(KEY: handle, ...)] */
	AVA_SHAPE_KARG,       /* kernel_arg(bytes) */
	AVA_SHAPE_CALLBACK,   /* callback(user_data) on_return|drop|remote */
};

/* KEY: handle_type inside props(...). */
struct ava_prop_key {
	struct ava_name key;
	struct ava_name handle;
};

/* One rule of typed(arg) { KEY: H[]; KEY: props(...); }. */
struct ava_typed_ast {
	struct ava_name key;
	bool props;
	struct ava_name handle;          /* H[] form */
	struct ava_vec prop_keys;        /* props form: struct ava_prop_key * */
};

struct ava_consume_ast {
	struct ava_name resource;
	struct ava_expr *amount;
};

struct ava_arg_ast {
	struct ava_name name;
	enum ava_dir dir;
	struct ava_loc dir_loc;
	enum ava_shape shape;
	struct ava_loc shape_loc;
	struct ava_expr *count;          /* buffer/array/handles/buffers/karg */
	struct ava_expr *filled;
	struct ava_expr *when;
	struct ava_expr *override;
	struct ava_name lengths;         /* buffers: lengths(arg) */
	bool nul_terminated;
	bool creates;
	bool writes;
	bool reads;
	bool always;                     /* out buffer: sent even on failure */
	struct ava_name userdata;        /* callback(user_data) */
	int cb_policy;                   /* 0 unset, 1 on_return, 2 drop,
					  * 3 remote */
	struct ava_vec prop_keys;        /* struct ava_prop_key * */
	struct ava_name typed_by;        /* typed(arg) */
	struct ava_vec typed;            /* struct ava_typed_ast * */
};

/* Hook bits: a function may have both. */
enum { AVA_HOOK_GUEST = 1u << 0, AVA_HOOK_SERVER = 1u << 1 };

struct ava_fn_ast {
	struct ava_name name;
	bool unsupported;
	bool emulated;                   /* `emulated "why"`: the guest hook does it */
	struct ava_name unsupported_error;  /* NULL name: the api default */
	char *why;
	unsigned hooks;                  /* AVA_HOOK_* */
	struct ava_loc hook_loc;
	bool async;
	struct ava_expr *async_unless;
	bool query, mutates, sync;
	bool ret_creates;
	struct ava_loc ret_loc;
	struct ava_vec consumes;         /* struct ava_consume_ast * */
	struct ava_vec args;             /* struct ava_arg_ast * */
};

struct ava_handle_ast {
	struct ava_name name;
	bool is_static;
	struct ava_name retain, release, invalid;
	struct ava_vec depends;          /* struct ava_name * */
	char *state;
};

struct ava_define {
	char *name;
	char *value;                     /* NULL: defined empty */
};

/* section "comment text" group; */
struct ava_section {
	char *text;
	char *group;
};

struct ava_api_ast {
	struct ava_name name;
	struct ava_name header;          /* name = the include path */
	struct ava_name icd_header;
	struct ava_name private_header;  /* ava's own entry points (AVA_FN_PRIVATE) */
	struct ava_name extension_header; /* optional entry points (AVA_FN_EXTENSION) */
	struct ava_name icd_dispatch;    /* struct tag; default _cl_icd_dispatch */
	char *library;
	bool guest_icd;
	uint64_t api_id;
	struct ava_name success, transport_error, unsupported_error;
	struct ava_name errcode;
	struct ava_name status;          /* the typedef of status returns */
	struct ava_vec defines;          /* struct ava_define * */
	struct ava_vec sections;         /* struct ava_section * */
};

struct ava_spec {
	const char *file;
	bool has_api;
	struct ava_api_ast api;
	struct ava_vec handles;          /* struct ava_handle_ast * */
	struct ava_vec fns;              /* struct ava_fn_ast * */
};

/*
 * Parse `len` bytes of spec text. Returns 0 and a tree in *out, or -1
 * after reporting the first lexical or syntax error (the parser does not
 * recover). `file` is borrowed and must outlive the tree.
 */
int
ava_spec_parse(const char *file, const char *src, size_t len,
	       struct ava_spec **out);

void
ava_spec_destroy(struct ava_spec *spec);

void
ava_expr_destroy(struct ava_expr *e);

#endif
