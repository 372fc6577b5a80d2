/*
 * ava-generated.h - the shape of what ava-gen emits for one API, beside
 * the descriptor tables of ava-desc.h.
 *
 * For an api named NAME (e.g. "opencl") ava-gen writes into the build dir:
 *
 *   NAME-desc.h/.c    extern const struct ava_api_desc ava_NAME_api;
 *                     enum { AVA_NAME_FN_<fn> = id, ..., AVA_NAME_FN_COUNT };
 *                     enum { AVA_NAME_H_<handle> = index, ..., AVA_NAME_H_COUNT };
 *                     const char *const ava_NAME_fn_names[AVA_NAME_FN_COUNT];
 *   NAME-server.h/.c  extern const struct ava_server_api ava_NAME_server;
 *                     plus a prototype for every server hook the spec names:
 *                     uint64_t ava_NAME_server_hook_<fn>(const uint64_t *v,
 *                                                       struct ava_server_ctx *ctx);
 *                     and, if the spec forwards extension functions, the
 *                     hand-written resolver of their real entry points:
 *                     ava_fn_ptr ava_NAME_server_extension(const char *name);
 *                     (NULL: the vendor lacks it; the call then returns
 *                     the api's unsupported_error).
 *   NAME-guest.h/.c   every function of the header, with its exact
 *                     prototype and its real name (exported): supported ones
 *                     forward through ava_guest_call(); unsupported ones
 *                     return their defined error at once.
 *                     extern const struct ava_guest_api ava_NAME_guest;
 *                     For `guest icd`: const struct _cl_icd_dispatch
 *                     ava_NAME_dispatch, filled by field name.
 *                     const struct ava_guest_extension
 *                     ava_NAME_extensions[]: the forwarded extension
 *                     functions' stubs, by name, ending in { NULL }.
 *                     For `hook guest` functions the stub calls
 *                     ava_NAME_guest_hook_<fn>(<same args>), declared in
 *                     NAME-guest.h, hand-written in guest/; the hook may
 *                     call ava_NAME_forward_<fn>(<same args>), the default
 *                     forwarding body.
 */
#ifndef AVA_GENERATED_H
#define AVA_GENERATED_H

#include <stdint.h>

#include "ava-desc.h"

struct ava_server_ctx;

/* Any function pointer; cast it back to the function's own type. */
typedef void (*ava_fn_ptr)(void);

/* One forwarded extension function of the guest (name, NULL-terminated
 * table ava_NAME_extensions[]), for clGetExtensionFunctionAddress. */
struct ava_guest_extension {
	const char *name;
	ava_fn_ptr fn;
};

struct ava_server_api {
	const struct ava_api_desc *api;
	/*
	 * Call the real function `fn`. v[i] holds, per argument: the real
	 * handle, the scalar value, or a pointer (as uintptr_t) to storage the
	 * server owns, NULL where the guest passed NULL. Returns the result
	 * widened to 64 bits: sign-extended for signed types, a pointer or
	 * handle as uintptr_t, 0 for void. Server hooks are called from here.
	 */
	uint64_t (*invoke)(uint32_t fn, const uint64_t *v,
			   struct ava_server_ctx *ctx);
};

struct ava_guest_api {
	const struct ava_api_desc *api;
	const void *dispatch;   /* ICD dispatch table: first word of objects */
};

/*
 * The guest runtime's single entry point (guest/guest.c), called by every
 * supported stub. v[i] holds argument i widened to 64 bits exactly as the
 * application passed it: scalars by value (either extension; the runtime
 * truncates to the argument's size), handles as the guest object pointers
 * the application holds, every other pointer as uintptr_t (NULL as 0).
 * The runtime reads in-buffers and writes out-arguments through those
 * pointers. Returns the result widened like invoke(): the status or
 * scalar, or a handle as the guest object pointer (uintptr_t).
 * If the server cannot be reached, returns api->transport_error (0 for a
 * handle) and stores it in the error out-argument if there is one.
 * Thread-safe.
 */
uint64_t
ava_guest_call(const struct ava_guest_api *g, uint32_t fn, uint64_t *v);

#endif
