/*
 * ava-desc.h - per-function descriptor tables shared by every consumer.
 *
 * ava-gen emits one `struct ava_api_desc` per spec (for OpenCL:
 * `ava_opencl_api`, in the build directory). Four consumers read the same
 * tables: the guest's generic marshaller, the server's dispatch, `ava
 * journal dump`, and replay/migration. Nothing in this header depends on a
 * particular API.
 *
 * All tables are immutable, statically allocated and safe to read from any
 * thread.
 */
#ifndef AVA_DESC_H
#define AVA_DESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hard bound on the number of arguments of one API function. */
#define AVA_MAX_ARGS 16

/*
 * How one argument travels. The wire encoding of each kind is given in
 * runtime/protocol.h; the spec syntax that selects it is in
 * doc/spec-language.md.
 */
enum ava_arg_kind {
	AVA_ARG_SCALAR,      /* by-value integer, enum or bitfield */
	AVA_ARG_HANDLE,      /* by-value handle: a virtual id on the wire */
	AVA_ARG_IN_BUF,      /* const T *: count() elements of elem_size bytes */
	AVA_ARG_OUT_BUF,     /* T *: capacity count(), callee fills filled() */
	AVA_ARG_INOUT_BUF,   /* T *: sent like IN_BUF, returned like OUT_BUF */
	AVA_ARG_IN_STRING,   /* const char *, NUL-terminated */
	AVA_ARG_IN_HANDLES,  /* const H *: count() handles */
	AVA_ARG_OUT_HANDLES, /* H *: capacity count(), callee fills filled() */
	AVA_ARG_OUT_SCALAR,  /* T *: one scalar written by the callee */
	AVA_ARG_OUT_HANDLE,  /* H *: one handle written by the callee */
	AVA_ARG_IN_BUFS,     /* const T **: count() buffers, lengths in lengths_arg */
	AVA_ARG_IN_PROPS,    /* const P *: 0-terminated key/value list */
	AVA_ARG_IN_KARG,     /* const void *: bytes that may hold one handle */
	AVA_ARG_CALLBACK,    /* function pointer; never crosses the wire */
	AVA_ARG_USERDATA,    /* opaque pointer paired with a callback */
	AVA_ARG_KIND_COUNT
};

/* Argument flags. */
enum {
	AVA_ARGF_SIGNED = 1u << 0,       /* scalar is signed: sign-extend */
	AVA_ARGF_NUL_TERMINATED = 1u << 1, /* IN_BUFS: a length of 0 or a NULL
					    * lengths array means strlen() */
	AVA_ARGF_CREATES = 1u << 2,      /* OUT_HANDLE(S): new objects, ref 1 */
	AVA_ARGF_RETAINS = 1u << 3,      /* HANDLE: call adds a reference */
	AVA_ARGF_RELEASES = 1u << 4,     /* HANDLE: call drops a reference */
	AVA_ARGF_OVERRIDE = 1u << 5,     /* SCALAR: server uses override_value */
	AVA_ARGF_ERRCODE = 1u << 6,      /* OUT_SCALAR: the API's error out */
	AVA_ARGF_WRITES = 1u << 7,       /* HANDLE: call writes object state */
	AVA_ARGF_ALWAYS = 1u << 8,       /* OUT_BUF: the callee writes it even
					  * when the call fails, so it is sent
					  * then too */
};

/*
 * A size, count or condition expression from the spec, compiled by ava-gen
 * into a small C function. `v` holds the scalar value of every argument
 * (handles as ids, pointers as 0/1 presence on the server); `outv` holds the
 * value of each OUT_SCALAR argument after the call (0 before it).
 */
typedef uint64_t (*ava_expr_fn)(const uint64_t *v, const uint64_t *outv);

/* A `typed(param)` rule: the out buffer holds handles for this key. */
struct ava_typed_rule {
	uint64_t key;          /* value of the selecting argument */
	uint16_t handle_type;  /* index into ava_api_desc.handles */
	bool props;            /* a property list, not a plain handle array */
};

/* One key of a property list whose value is a handle. */
struct ava_prop_handle {
	uint64_t key;
	uint16_t handle_type;
};

enum ava_cb_policy {
	AVA_CB_NONE,        /* not a callback */
	AVA_CB_ON_RETURN,   /* invoked in the guest once the call returned */
	AVA_CB_DROP,        /* accepted, never invoked (documented per use) */
	AVA_CB_REMOTE,      /* invoked in the guest when the server's driver
			     * calls it (doc/protocol.md, "Callbacks"); its
			     * user data travels as the guest's cookie */
};

struct ava_arg_desc {
	const char *name;
	const char *type;            /* C spelling from the header */
	enum ava_arg_kind kind;
	uint32_t flags;              /* AVA_ARGF_* */
	uint16_t handle_type;        /* handle kinds: index into handles[] */
	uint8_t scalar_size;         /* SCALAR, OUT_SCALAR: bytes (1..8) */
	uint32_t elem_size;          /* buffer kinds: bytes per element */
	ava_expr_fn count;           /* elements in / capacity out; NULL: 1 */
	ava_expr_fn filled;          /* out kinds: elements written; NULL: count */
	ava_expr_fn when;            /* in kinds: sent only if nonzero; NULL: always */
	int8_t lengths_arg;          /* IN_BUFS: index of the lengths array, -1 */
	int8_t typed_by;             /* OUT_BUF: index of the selecting arg, -1 */
	uint8_t ntyped;
	const struct ava_typed_rule *typed;
	uint8_t nprop_handles;       /* IN_PROPS: keys whose value is a handle */
	const struct ava_prop_handle *prop_handles;
	uint8_t prop_size;           /* IN_PROPS: bytes per key/value word */
	uint64_t override_value;     /* AVA_ARGF_OVERRIDE */
	int8_t userdata_arg;         /* CALLBACK: index of its user data, -1 */
	enum ava_cb_policy cb_policy;
};

enum ava_ret_kind {
	AVA_RET_VOID,
	AVA_RET_STATUS,   /* the API's status code (cl_int) */
	AVA_RET_SCALAR,   /* any other scalar */
	AVA_RET_HANDLE,   /* a handle: an id on the wire */
	AVA_RET_POINTER,  /* a host pointer: only for unsupported functions */
	AVA_RET_KIND_COUNT
};

/* Function flags. */
enum {
	AVA_FN_UNSUPPORTED = 1u << 0, /* answered in the guest, never sent */
	AVA_FN_ASYNC = 1u << 1,       /* may be batched (see async_unless) */
	AVA_FN_CREATES = 1u << 2,     /* return value is a new object, ref 1 */
	AVA_FN_QUERY = 1u << 3,       /* reads state only */
	AVA_FN_MUTATES = 1u << 4,     /* writes object state */
	AVA_FN_SYNC_POINT = 1u << 5,  /* flushes pending async calls */
	AVA_FN_PRIVATE = 1u << 6,     /* ava's own entry point (the spec's
				       * private_header), not the API's */
	AVA_FN_EMULATED = 1u << 7,    /* built by a guest hook from other
				       * calls; never sent */
	AVA_FN_EXTENSION = 1u << 8,   /* of the spec's extension_header: the
				       * server resolves the vendor's entry
				       * point at run time */
};

struct ava_fn_desc {
	uint32_t id;                 /* stable, never reused (spec/<api>.ids) */
	const char *name;
	uint8_t nargs;
	const struct ava_arg_desc *args;
	enum ava_ret_kind ret;
	const char *ret_type;        /* C spelling */
	uint16_t ret_handle_type;    /* AVA_RET_HANDLE */
	int8_t errcode_arg;          /* index of the error out-argument, -1 */
	uint32_t flags;              /* AVA_FN_* */
	int64_t unsupported_error;   /* AVA_FN_UNSUPPORTED: the defined error */
	const char *unsupported_why; /* AVA_FN_UNSUPPORTED, AVA_FN_EMULATED:
				      * reason or method, for --coverage */
	ava_expr_fn async_unless;    /* AVA_FN_ASYNC: sync when nonzero; NULL */
	uint8_t nconsumes;
	const struct ava_consume *consumes;
};

enum ava_resource {
	AVA_RES_DEVICE_MEMORY,
	AVA_RES_DEVICE_TIME,
	AVA_RES_COUNT
};

struct ava_consume {
	enum ava_resource resource;
	ava_expr_fn amount;
};

/* Handle flags. */
enum {
	AVA_HANDLE_STATIC = 1u << 0, /* owned by the implementation, no refcount */
};

struct ava_handle_desc {
	const char *name;           /* C type name, e.g. "cl_mem" */
	uint8_t tag;                /* type tag stored in every id (1..255) */
	uint32_t flags;             /* AVA_HANDLE_* */
	int32_t retain_fn;          /* function id, -1 */
	int32_t release_fn;         /* function id, -1 */
	int64_t invalid_error;      /* the API's invalid-object error */
	uint8_t ndepends;
	const uint16_t *depends;    /* handle types this one depends on */
	const char *state;          /* extractable state ("buffer"), or NULL */
};

/* A named constant of the header, for pretty printing (dump). */
struct ava_const_name {
	const char *group;          /* e.g. "cl_device_info" */
	uint64_t value;
	const char *name;
};

struct ava_api_desc {
	const char *name;           /* "opencl" */
	uint8_t api_id;             /* on the wire */
	uint32_t spec_hash;         /* of the wire layout; peers must agree */
	int64_t success;            /* CL_SUCCESS */
	int64_t transport_error;    /* returned when the server is unreachable */
	int64_t unsupported_error;  /* default for unsupported functions */
	uint32_t nfns;              /* fns[i].id == i; holes are NULL names */
	const struct ava_fn_desc *fns;
	uint16_t nhandles;          /* handles[0] is unused (type 0 = none) */
	const struct ava_handle_desc *handles;
	uint32_t nconsts;
	const struct ava_const_name *consts;
};

/* Look up a function by id; NULL if out of range or a retired hole. */
static inline const struct ava_fn_desc *
ava_api_fn(const struct ava_api_desc *api, uint32_t id)
{
	if (id >= api->nfns || api->fns[id].name == NULL)
		return NULL;
	return &api->fns[id];
}

#endif
