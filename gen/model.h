/*
 * model.h - the checked model of one API: the spec resolved against the
 * header and the id file. Back ends read only this (and the header types
 * it points to); they never look at spec syntax or ask libclang again.
 *
 * The model borrows from the spec tree, the header and the id file, which
 * must outlive it.
 */
#ifndef AVA_GEN_MODEL_H
#define AVA_GEN_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ava-desc.h"
#include "header.h"
#include "spec.h"

struct ava_m_prop {
	const char *key;          /* constant name */
	uint64_t value;
	int handle;               /* index into model handles */
};

struct ava_m_typed {
	const char *key;
	uint64_t value;
	int handle;
	bool props;
};

struct ava_m_arg {
	const char *name;
	const struct ava_ctype *type;
	enum ava_arg_kind kind;
	uint32_t flags;           /* AVA_ARGF_* */
	int handle;               /* handle kinds: index into handles, else 0 */
	uint32_t scalar_size;
	uint32_t elem_size;
	const struct ava_expr *count, *filled, *when;
	int lengths_arg, typed_by, userdata_arg;
	enum ava_cb_policy cb_policy;
	size_t ntyped;
	struct ava_m_typed *typed;
	size_t nprops;
	struct ava_m_prop *props;  /* IN_PROPS; OUT_BUF: keys of typed props */
	uint32_t prop_size;
	uint64_t override_value;
	const char *override_text; /* as written, for comments */
	bool reads;
};

struct ava_m_consume {
	enum ava_resource resource;
	const struct ava_expr *amount;
};

struct ava_m_fn {
	const char *name;
	uint32_t id;
	const struct ava_cfunc *c;
	const struct ava_fn_ast *ast;
	size_t nargs;
	struct ava_m_arg *args;
	enum ava_ret_kind ret;
	int ret_handle;
	int errcode_arg;
	uint32_t flags;           /* AVA_FN_* */
	int64_t unsupported_error;
	const char *unsupported_error_name;
	const char *why;
	const struct ava_expr *async_unless;
	size_t nconsumes;
	struct ava_m_consume *consumes;
	unsigned hooks;           /* AVA_HOOK_* */
};

struct ava_m_handle {
	const char *name;
	uint32_t flags;           /* AVA_HANDLE_* */
	int retain_fn, release_fn;  /* ids, -1 */
	int64_t invalid_error;
	const char *invalid_name;
	size_t ndepends;
	int *depends;
	const char *state;
};

/* An id from the ids file that no spec function uses any more. */
struct ava_m_retired {
	const char *name;
	uint32_t id;
};

struct ava_model {
	const char *name;         /* e.g. "opencl": ava_<name>_api */
	const char *upper;        /* "OPENCL" */
	unsigned api_id;
	const char *spec_file;
	const struct ava_spec *spec;
	const struct ava_header *hdr;
	int64_t success, transport_error, unsupported_error;
	const char *status_type;  /* typedef of status returns, or NULL */
	size_t nfns;              /* all spec functions, in header order */
	struct ava_m_fn *fns;
	size_t nids;              /* max id + 1 */
	struct ava_m_fn **by_id;  /* nids entries, NULL for holes */
	size_t nretired;
	struct ava_m_retired *retired;
	size_t nhandles;          /* including the unused slot 0 */
	struct ava_m_handle *handles;
	size_t nconsts;           /* grouped constants, by group/value/name */
	const struct ava_cconst **consts;
	uint32_t spec_hash;       /* FNV-1a of the wire layout text */
};

/* One line of the ids file. */
struct ava_id {
	char *name;
	uint32_t id;
	struct ava_loc loc;
};

/* Parse an ids file; -1 after reporting errors. Entries in *out (vec of
 * struct ava_id *), freed with ava_ids_free(). */
int
ava_ids_read(const char *file, const char *src, size_t len,
	     struct ava_vec *out);
void
ava_ids_free(struct ava_vec *ids);

/*
 * Check the spec against the header and ids and build the model. With
 * `lax` (for --coverage), header functions missing from the spec and
 * missing ids are not errors. Returns 0, or -1 after reporting every error
 * found.
 */
int
ava_check(struct ava_spec *spec, const struct ava_header *hdr,
	  const struct ava_vec *ids, const char *name, bool lax,
	  struct ava_model **out);

void
ava_model_destroy(struct ava_model *m);

const struct ava_m_fn *
ava_model_fn(const struct ava_model *m, const char *name);
int
ava_model_handle(const struct ava_model *m, const char *name);

#endif
