/*
 * opencl-async.c - which OpenCL calls the guest may queue (the API glue
 * of guest-private.h).
 *
 * The rule: a call the spec marks async is queued only when the guest can
 * tell that the real call will succeed. Then the application loses
 * nothing by getting CL_SUCCESS at once. A call that would fail, or whose
 * outcome the guest cannot tell, is sent and waited for, and the
 * application gets the driver's own error from the call itself (which is
 * what tests/integration/errors.c checks).
 *
 * The guest never asks the server anything to decide (the journal holds
 * the application's calls and no others). It knows objects from the
 * calls that made them, and it learns from calls that succeeded:
 *
 * - handles: each object is a live object of the right type (registry);
 * - clSetKernelArg: this argument of this kernel already took a value of
 *   the same size and kind (bytes, local memory, an object of one type)
 *   in a call that succeeded, or did so in another kernel made by
 *   clCreateKernel with the same name from the same build of the same
 *   program (the same function, so the same signature); so the first
 *   setting of each argument of each kernel function is synchronous. (No
 *   kernel-argument info is needed, which PoCL gives only for programs
 *   built with -cl-kernel-arg-info.)
 * - clEnqueueNDRangeKernel, clEnqueueTask: a launch of this kernel on this
 *   queue with the very same work sizes and offsets succeeded since its
 *   arguments last took a new kind of value, or a launch of another
 *   kernel of its function did, on this queue, with those sizes, and
 *   with the very arguments set that this kernel has set, each of the
 *   kind and size it holds now; the event wait list holds live events.
 *   The first launch of each shape of each function is synchronous.
 * - buffer commands: queue and buffers were made by clCreateCommandQueue*
 *   and clCreateBuffer* here (so the buffers' size, flags and context are
 *   known), of one context; ranges within the buffers, no overlap for a
 *   copy, a valid fill pattern. A buffer with guest-side state (a host
 *   pointer, a mapping: guest.h) is left to its hooks: sent at once.
 * - releases: a live object of the right type;
 * - clFlush: a live queue; it also sends the queue of calls at once.
 *
 * What the guest cannot see coming, and so reports as a deferred error:
 * failures for want of resources (device or local memory), a released or
 * misaligned buffer as a kernel argument, and objects of another context
 * in an event wait list.
 *
 * clEnqueueWriteBuffer blocks in the server (it keeps its copy of the
 * bytes only for the call). Queued, a write that waits on a user event
 * would stall every queued call behind it, including the one that sets
 * the event; so once the application has made a user event, writes are
 * no longer queued, and a write with a wait list never is.
 */
#include "opencl-guest.h"  /* first: it sets the OpenCL version macros */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "guest-private.h"
#include "guest.h"
#include "opencl-mem.h"
#include "u64map.h"

#define KARGS_MAX 64   /* arguments tracked per kernel */
#define SHAPES_MAX 4   /* launch shapes remembered per kernel */
#define SIGS_MAX 32    /* kernel functions remembered per program build */
#define SIG_NAME 64    /* their names' bytes, the NUL included */

enum { KIND_NONE, KIND_BYTES, KIND_LOCAL, KIND_OBJECT = 0x80 };

struct learned {
	uint8_t kind;    /* KIND_*, KIND_OBJECT | handle type */
	uint32_t size;
};

/* A launch that succeeded; dim 0 is clEnqueueTask. */
struct shape {
	uint64_t queue;      /* queue id; 0: slot unused */
	cl_uint dim;
	bool local, offset;  /* given, not NULL */
	size_t g[3], l[3], o[3];
};

/* A launch of a kernel that succeeded, with the arguments it had. */
struct profile {
	struct shape shape;
	uint64_t set;        /* the arguments set: bit i for argument i */
	struct learned args[KARGS_MAX];
};

/* What one kernel function's arguments took, and how its kernels
 * launched, in any of its kernels. */
struct sig {
	char name[SIG_NAME];
	struct learned learned[KARGS_MAX][2];
	struct profile launched[SHAPES_MAX];
	unsigned next_launched;
};

struct info {
	uint16_t type;       /* AVA_OPENCL_H_* */
	/* queue, buffer: made here, so these are known */
	bool made;
	uint64_t ctx;        /* context id */
	/* buffer */
	cl_mem_flags flags;
	size_t size;
	/* context: the largest buffer without host memory made in it */
	size_t plain_ok;
	/* kernel */
	struct learned learned[KARGS_MAX][2];
	struct shape shapes[SHAPES_MAX];
	unsigned next_shape;
	struct learned cur[KARGS_MAX];  /* what each argument holds now */
	uint64_t set;        /* the arguments set: bit i for argument i */
	bool untracked;      /* an argument was set that cur cannot hold */
	uint64_t prog;       /* made by clCreateKernel from this program, */
	uint32_t prog_gen;   /* at this build of it, */
	uint32_t sig;        /* as its sigs[sig - 1]; 0: none */
	/* program */
	uint32_t gen;        /* builds (clBuildProgram, clCompileProgram) */
	struct sig *sigs;    /* of this build */
	uint32_t nsigs;
};

static struct {
	pthread_mutex_t lock;
	struct ava_u64map objs;    /* id -> struct info * */
	bool user_events;          /* the application made a user event */
} A = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- the cache --------------------------------------------------------- */

/* A.lock held. */
static struct info *
find(uint64_t id)
{
	uint64_t p;
	return ava_u64map_get(&A.objs, id, &p) ? (struct info *)(uintptr_t)p
					       : NULL;
}

/* A.lock held. The entry of id, made (zeroed) if missing; NULL: no memory. */
static struct info *
entry(uint64_t id, uint16_t type)
{
	struct info *i = find(id);
	if (i != NULL)
		return i;
	i = calloc(1, sizeof(*i));
	if (i == NULL)
		return NULL;
	i->type = type;
	if (ava_u64map_put(&A.objs, id, (uintptr_t)i) < 0) {
		free(i);
		return NULL;
	}
	return i;
}

void
ava_guest_async_forget(uint64_t id)
{
	pthread_mutex_lock(&A.lock);
	uint64_t p;
	if (ava_u64map_get(&A.objs, id, &p)) {
		struct info *i = (struct info *)(uintptr_t)p;
		ava_u64map_del(&A.objs, id);
		free(i->sigs);
		free(i);
	}
	pthread_mutex_unlock(&A.lock);
}

/* The id of p if it is a live object of this type, else 0. */
static uint64_t
id_of(const void *p, uint16_t type)
{
	uint64_t id;
	return ava_guest_object(p, &id) == type ? id : 0;
}

/* What is known of a queue or buffer made here. */
struct made {
	uint64_t ctx;
	cl_mem_flags flags;
	size_t size;
};

static bool
made_here(uint64_t id, struct made *out)
{
	pthread_mutex_lock(&A.lock);
	struct info *i = find(id);
	bool made = i != NULL && i->made;
	if (made)
		*out = (struct made){ i->ctx, i->flags, i->size };
	pthread_mutex_unlock(&A.lock);
	return made;
}

bool
ava_cl_buffer_size(cl_mem m, size_t *size)
{
	struct made b;
	uint64_t id = id_of(m, AVA_OPENCL_H_cl_mem);
	if (id == 0 || !made_here(id, &b))
		return false;
	*size = b.size;
	return true;
}

/* ---- checks ------------------------------------------------------------ */

static bool
wait_list_ok(cl_uint n, const cl_event *list)
{
	if ((n == 0) != (list == NULL))
		return false;
	for (cl_uint i = 0; i < n; i++)
		if (id_of(list[i], AVA_OPENCL_H_cl_event) == 0)
			return false;
	return true;
}

/* A queue made here: its context. */
static bool
live_queue(cl_command_queue q, struct made *out)
{
	uint64_t id = id_of(q, AVA_OPENCL_H_cl_command_queue);
	return id != 0 && made_here(id, out);
}

/* A buffer made here, with no guest-side state, of the queue's context. */
static bool
known_buffer(cl_mem m, const struct made *q, struct made *out)
{
	uint64_t id = id_of(m, AVA_OPENCL_H_cl_mem);
	if (id == 0 || ava_guest_ext_get(m, AVA_OPENCL_H_cl_mem) != NULL || !made_here(id, out))
		return false;
	return out->ctx == q->ctx && !(out->flags & CL_MEM_USE_HOST_PTR);
}

static bool
in_range(size_t off, size_t n, size_t size)
{
	return n > 0 && off <= size && n <= size - off;
}

/* The kind of a kernel argument's value, as the marshaller sends it. */
static uint8_t
arg_kind(size_t size, const void *value)
{
	if (value == NULL)
		return KIND_LOCAL;
	if (size == sizeof(void *)) {
		void *p;
		memcpy(&p, value, sizeof(p));
		uint16_t type = ava_guest_object(p, NULL);
		if (type != 0)
			return (uint8_t)(KIND_OBJECT | type);
	}
	return KIND_BYTES;
}

/* A.lock held. The signature kernel k shares, if its program is still
 * known at the build k was made from. */
static struct sig *
sig_of(const struct info *k)
{
	const struct info *p = k->sig != 0 ? find(k->prog) : NULL;
	if (p == NULL || p->gen != k->prog_gen || k->sig > p->nsigs)
		return NULL;
	return &p->sigs[k->sig - 1];
}

static bool
learned(const struct learned s[2], struct learned l)
{
	return (s[0].kind == l.kind && s[0].size == l.size) ||
	       (s[1].kind == l.kind && s[1].size == l.size);
}

/* Learn l into s (newest first); false if it was known. */
static bool
learn(struct learned s[2], struct learned l)
{
	if (learned(s, l))
		return false;
	s[1] = s[0];
	s[0] = l;
	return true;
}

static enum ava_async_verdict
check_set_arg(const uint64_t *v)
{
	uint64_t kid = id_of((void *)(uintptr_t)v[0], AVA_OPENCL_H_cl_kernel);
	uint32_t index = (uint32_t)v[1];
	size_t size = (size_t)v[2];
	if (kid == 0 || index >= KARGS_MAX || size > UINT32_MAX)
		return AVA_ASYNC_SEND;
	struct learned l = { arg_kind(size, (const void *)(uintptr_t)v[3]),
			     (uint32_t)size };
	pthread_mutex_lock(&A.lock);
	struct info *i = find(kid);
	struct sig *sg = i != NULL ? sig_of(i) : NULL;
	bool ok = i != NULL && (learned(i->learned[index], l) ||
				(sg != NULL && learned(sg->learned[index], l)));
	pthread_mutex_unlock(&A.lock);
	return ok ? AVA_ASYNC_QUEUE : AVA_ASYNC_SEND;
}

static struct shape
make_shape(uint64_t queue, cl_uint dim, const size_t *offset,
	   const size_t *global, const size_t *local)
{
	struct shape s = { .queue = queue, .dim = dim, .local = local != NULL,
			   .offset = offset != NULL };
	for (cl_uint d = 0; d < dim && d < 3; d++) {
		s.g[d] = global[d];
		s.l[d] = local ? local[d] : 0;
		s.o[d] = offset ? offset[d] : 0;
	}
	return s;
}

static bool
same_shape(const struct shape *a, const struct shape *b)
{
	return a->queue == b->queue && a->dim == b->dim &&
	       a->local == b->local && a->offset == b->offset &&
	       memcmp(a->g, b->g, sizeof(a->g)) == 0 &&
	       memcmp(a->l, b->l, sizeof(a->l)) == 0 &&
	       memcmp(a->o, b->o, sizeof(a->o)) == 0;
}

/* The shape of a launch (dim 0: a task), or false if it cannot be one
 * the guest knows. */
static bool
launch_shape(const uint64_t *v, bool task, struct shape *out)
{
	uint64_t q = id_of((void *)(uintptr_t)v[0],
			   AVA_OPENCL_H_cl_command_queue);
	if (q == 0)
		return false;
	if (task) {
		*out = make_shape(q, 0, NULL, NULL, NULL);
		return true;
	}
	cl_uint dim = (cl_uint)v[2];
	const size_t *global = (const size_t *)(uintptr_t)v[4];
	if (dim < 1 || dim > 3 || global == NULL)
		return false;
	*out = make_shape(q, dim, (const size_t *)(uintptr_t)v[3], global,
			  (const size_t *)(uintptr_t)v[5]);
	return true;
}

/*
 * Did another kernel of k's function launch this way with what k holds
 * now: every argument k has set, and only those, of the same kind and
 * size? A launch that succeeded had all of its function's arguments set,
 * so k has too, and its values' kinds launched there.
 */
static bool
launched_as(const struct profile *p, const struct info *k,
	    const struct shape *s)
{
	if (p->set != k->set || p->set == 0 || k->untracked ||
	    !same_shape(&p->shape, s))
		return false;
	for (unsigned a = 0; a < KARGS_MAX; a++)
		if ((k->set >> a & 1) &&
		    (p->args[a].kind != k->cur[a].kind ||
		     p->args[a].size != k->cur[a].size))
			return false;
	return true;
}

static enum ava_async_verdict
check_launch(const uint64_t *v, bool task)
{
	struct shape s;
	uint64_t kid = id_of((void *)(uintptr_t)v[1], AVA_OPENCL_H_cl_kernel);
	unsigned w = task ? 2 : 6;   /* the event wait list's count */
	if (kid == 0 || !launch_shape(v, task, &s) ||
	    !wait_list_ok((cl_uint)v[w],
			  (const cl_event *)(uintptr_t)v[w + 1]))
		return AVA_ASYNC_SEND;
	bool ok = false;
	pthread_mutex_lock(&A.lock);
	struct info *i = find(kid);
	for (unsigned n = 0; i != NULL && n < SHAPES_MAX && !ok; n++)
		ok = same_shape(&i->shapes[n], &s);
	struct sig *sg = i != NULL && !ok ? sig_of(i) : NULL;
	for (unsigned n = 0; sg != NULL && n < SHAPES_MAX && !ok; n++)
		ok = launched_as(&sg->launched[n], i, &s);
	pthread_mutex_unlock(&A.lock);
	return ok ? AVA_ASYNC_QUEUE : AVA_ASYNC_SEND;
}

/* ---- creations (named: doc/protocol.md, "Named creations") ------------ */

/* A kernel of a function this build of its program already made one of. */
static enum ava_async_verdict
check_create_kernel(const uint64_t *v)
{
	uint64_t pid = id_of((void *)(uintptr_t)v[0], AVA_OPENCL_H_cl_program);
	const char *name = (const char *)(uintptr_t)v[1];
	if (pid == 0 || name == NULL || strnlen(name, SIG_NAME) == SIG_NAME)
		return AVA_ASYNC_SEND;
	bool ok = false;
	pthread_mutex_lock(&A.lock);
	struct info *p = find(pid);
	for (uint32_t n = 0; p != NULL && n < p->nsigs && !ok; n++)
		ok = strcmp(p->sigs[n].name, name) == 0;
	pthread_mutex_unlock(&A.lock);
	return ok ? AVA_ASYNC_QUEUE : AVA_ASYNC_SEND;
}

/* A buffer of no host memory, one access flag at most, and no larger
 * than one its context already made. */
static enum ava_async_verdict
check_create_buffer(const uint64_t *v)
{
	uint64_t cid = id_of((void *)(uintptr_t)v[0], AVA_OPENCL_H_cl_context);
	cl_mem_flags flags = (cl_mem_flags)v[1];
	size_t size = (size_t)v[2];
	if (cid == 0 || v[3] != 0 || size == 0 ||
	    (flags != 0 && flags != CL_MEM_READ_WRITE &&
	     flags != CL_MEM_READ_ONLY && flags != CL_MEM_WRITE_ONLY))
		return AVA_ASYNC_SEND;
	pthread_mutex_lock(&A.lock);
	struct info *c = find(cid);
	bool ok = c != NULL && size <= c->plain_ok;
	pthread_mutex_unlock(&A.lock);
	return ok ? AVA_ASYNC_QUEUE : AVA_ASYNC_SEND;
}

static enum ava_async_verdict
check_write(const uint64_t *v)
{
	struct made q, m;
	cl_mem_flags no = CL_MEM_HOST_READ_ONLY | CL_MEM_HOST_NO_ACCESS;
	pthread_mutex_lock(&A.lock);
	bool user_events = A.user_events;
	pthread_mutex_unlock(&A.lock);
	if (user_events || v[6] != 0 || v[7] != 0 || v[5] == 0 ||
	    !live_queue((cl_command_queue)(uintptr_t)v[0], &q) ||
	    !known_buffer((cl_mem)(uintptr_t)v[1], &q, &m))
		return AVA_ASYNC_SEND;
	return in_range((size_t)v[3], (size_t)v[4], m.size) && !(m.flags & no)
	       ? AVA_ASYNC_QUEUE : AVA_ASYNC_SEND;
}

static enum ava_async_verdict
check_fill(const uint64_t *v)
{
	struct made q, m;
	size_t ps = (size_t)v[3], off = (size_t)v[4], n = (size_t)v[5];
	bool pow2 = ps >= 1 && ps <= 128 && (ps & (ps - 1)) == 0;
	if (v[2] == 0 || !pow2 || off % ps != 0 || n % ps != 0 ||
	    !wait_list_ok((cl_uint)v[6], (const cl_event *)(uintptr_t)v[7]) ||
	    !live_queue((cl_command_queue)(uintptr_t)v[0], &q) ||
	    !known_buffer((cl_mem)(uintptr_t)v[1], &q, &m))
		return AVA_ASYNC_SEND;
	return in_range(off, n, m.size) ? AVA_ASYNC_QUEUE : AVA_ASYNC_SEND;
}

static enum ava_async_verdict
check_copy(const uint64_t *v)
{
	struct made q, s, d;
	size_t so = (size_t)v[3], dof = (size_t)v[4], n = (size_t)v[5];
	if (!wait_list_ok((cl_uint)v[6], (const cl_event *)(uintptr_t)v[7]) ||
	    !live_queue((cl_command_queue)(uintptr_t)v[0], &q) ||
	    !known_buffer((cl_mem)(uintptr_t)v[1], &q, &s) ||
	    !known_buffer((cl_mem)(uintptr_t)v[2], &q, &d) ||
	    !in_range(so, n, s.size) || !in_range(dof, n, d.size))
		return AVA_ASYNC_SEND;
	/* The same buffer: the two ranges must not overlap. */
	if (v[1] == v[2] && so < dof + n && dof < so + n)
		return AVA_ASYNC_SEND;
	return AVA_ASYNC_QUEUE;
}

static enum ava_async_verdict
check_migrate(const uint64_t *v)
{
	struct made q, m;
	cl_uint n = (cl_uint)v[1];
	const cl_mem *mems = (const cl_mem *)(uintptr_t)v[2];
	cl_mem_migration_flags ok = CL_MIGRATE_MEM_OBJECT_HOST |
				    CL_MIGRATE_MEM_OBJECT_CONTENT_UNDEFINED;
	if (n == 0 || mems == NULL || (v[3] & ~ok) != 0 ||
	    !wait_list_ok((cl_uint)v[4], (const cl_event *)(uintptr_t)v[5]) ||
	    !live_queue((cl_command_queue)(uintptr_t)v[0], &q))
		return AVA_ASYNC_SEND;
	for (cl_uint i = 0; i < n; i++)
		if (!known_buffer(mems[i], &q, &m))
			return AVA_ASYNC_SEND;
	return AVA_ASYNC_QUEUE;
}

static enum ava_async_verdict
check_release(const void *obj, uint16_t type)
{
	if (id_of(obj, type) == 0)
		return AVA_ASYNC_SEND;
	if (type == AVA_OPENCL_H_cl_mem && ava_guest_ext_get(obj, type) != NULL)
		return AVA_ASYNC_SEND;
	return AVA_ASYNC_QUEUE;
}

enum ava_async_verdict
ava_guest_async_check(const struct ava_fn_desc *fn, const uint64_t *v)
{
	const void *p0 = (const void *)(uintptr_t)v[0];
	switch (fn->id) {
	case AVA_OPENCL_FN_clSetKernelArg:
		return check_set_arg(v);
	case AVA_OPENCL_FN_clEnqueueNDRangeKernel:
		return check_launch(v, false);
	case AVA_OPENCL_FN_clEnqueueTask:
		return check_launch(v, true);
	case AVA_OPENCL_FN_clEnqueueWriteBuffer: return check_write(v);
	case AVA_OPENCL_FN_clEnqueueFillBuffer: return check_fill(v);
	case AVA_OPENCL_FN_clEnqueueCopyBuffer: return check_copy(v);
	case AVA_OPENCL_FN_clEnqueueMigrateMemObjects: return check_migrate(v);
	case AVA_OPENCL_FN_clReleaseMemObject:
		return check_release(p0, AVA_OPENCL_H_cl_mem);
	case AVA_OPENCL_FN_clReleaseKernel:
		return check_release(p0, AVA_OPENCL_H_cl_kernel);
	case AVA_OPENCL_FN_clReleaseEvent:
		return check_release(p0, AVA_OPENCL_H_cl_event);
	case AVA_OPENCL_FN_clReleaseProgram:
		return check_release(p0, AVA_OPENCL_H_cl_program);
	case AVA_OPENCL_FN_clReleaseSampler:
		return check_release(p0, AVA_OPENCL_H_cl_sampler);
	case AVA_OPENCL_FN_clFlush:
		return id_of(p0, AVA_OPENCL_H_cl_command_queue) != 0
		       ? AVA_ASYNC_QUEUE_FLUSH : AVA_ASYNC_SEND;
	case AVA_OPENCL_FN_clCreateKernel: return check_create_kernel(v);
	case AVA_OPENCL_FN_clCreateBuffer: return check_create_buffer(v);
	case AVA_OPENCL_FN_clCloneKernel:
		return id_of(p0, AVA_OPENCL_H_cl_kernel) != 0 ? AVA_ASYNC_QUEUE
							   : AVA_ASYNC_SEND;
	default:
		/* Not validated here (clEnqueueCopyBufferRect, ...). */
		return AVA_ASYNC_SEND;
	}
}

/* ---- what successful calls teach --------------------------------------- */

static void
note_set_arg(const uint64_t *v, bool queued)
{
	uint64_t kid = id_of((void *)(uintptr_t)v[0], AVA_OPENCL_H_cl_kernel);
	uint32_t index = (uint32_t)v[1];
	if (kid == 0)
		return;
	struct learned l = { arg_kind((size_t)v[2],
				      (const void *)(uintptr_t)v[3]),
			     (uint32_t)v[2] };
	pthread_mutex_lock(&A.lock);
	struct info *i = entry(kid, AVA_OPENCL_H_cl_kernel);
	if (i != NULL && (index >= KARGS_MAX || v[2] > UINT32_MAX)) {
		/* Set, but not where cur can say so: the function's launches
		 * no longer tell whether this kernel's arguments are all set. */
		i->untracked = true;
		i = NULL;
	}
	/* A new kind of value for this kernel (say, more local memory;
	 * queued for what its signature took) may not launch where the
	 * old one did. */
	if (i != NULL && learn(i->learned[index], l))
		memset(i->shapes, 0, sizeof(i->shapes));
	if (i != NULL) {
		i->cur[index] = l;
		i->set |= 1ull << index;
	}
	/* What the driver accepted, for the function's other kernels. */
	struct sig *sg = i != NULL && !queued ? sig_of(i) : NULL;
	if (sg != NULL)
		learn(sg->learned[index], l);
	pthread_mutex_unlock(&A.lock);
}

/* A kernel made by name: it shares what that function's arguments took
 * at this build of its program. */
static void
note_kernel(cl_program prog, const char *name, cl_kernel k)
{
	uint64_t pid = id_of(prog, AVA_OPENCL_H_cl_program);
	uint64_t kid = id_of(k, AVA_OPENCL_H_cl_kernel);
	if (pid == 0 || kid == 0 || name == NULL ||
	    strnlen(name, SIG_NAME) == SIG_NAME)
		return;
	pthread_mutex_lock(&A.lock);
	struct info *p = entry(pid, AVA_OPENCL_H_cl_program);
	uint32_t n = 0;
	while (p != NULL && n < p->nsigs && strcmp(p->sigs[n].name, name) != 0)
		n++;
	if (p != NULL && n == p->nsigs && n < SIGS_MAX) {
		struct sig *v = realloc(p->sigs, (n + 1) * sizeof(*v));
		if (v != NULL) {
			p->sigs = v;
			memset(&v[n], 0, sizeof(v[n]));
			strcpy(v[n].name, name);
			p->nsigs++;
		}
	}
	struct info *i = p != NULL && n < p->nsigs
		? entry(kid, AVA_OPENCL_H_cl_kernel) : NULL;
	if (i != NULL) {
		i->prog = pid;
		i->prog_gen = p->gen;
		i->sig = n + 1;
	}
	pthread_mutex_unlock(&A.lock);
}

/* A program built again may have other functions, or the same ones with
 * other arguments (a -D option): what its kernels took is forgotten. */
static void
note_build(cl_program prog)
{
	uint64_t pid = id_of(prog, AVA_OPENCL_H_cl_program);
	if (pid == 0)
		return;
	pthread_mutex_lock(&A.lock);
	struct info *p = entry(pid, AVA_OPENCL_H_cl_program);
	if (p != NULL) {
		p->gen++;
		free(p->sigs);
		p->sigs = NULL;
		p->nsigs = 0;
	}
	pthread_mutex_unlock(&A.lock);
}

static void
note_launch(const uint64_t *v, bool task, bool queued)
{
	struct shape s;
	if (queued)
		return;
	uint64_t kid = id_of((void *)(uintptr_t)v[1], AVA_OPENCL_H_cl_kernel);
	if (kid == 0 || !launch_shape(v, task, &s))
		return;
	pthread_mutex_lock(&A.lock);
	struct info *i = entry(kid, AVA_OPENCL_H_cl_kernel);
	bool known = false;
	for (unsigned n = 0; i != NULL && n < SHAPES_MAX && !known; n++)
		known = same_shape(&i->shapes[n], &s);
	if (i != NULL && !known)
		i->shapes[i->next_shape++ % SHAPES_MAX] = s;
	/* For the function's other kernels: this shape, these arguments. */
	struct sig *sg = i != NULL ? sig_of(i) : NULL;
	known = false;
	for (unsigned n = 0; sg != NULL && n < SHAPES_MAX && !known; n++)
		known = launched_as(&sg->launched[n], i, &s);
	if (sg != NULL && !known && i->set != 0 && !i->untracked) {
		struct profile *p =
			&sg->launched[sg->next_launched++ % SHAPES_MAX];
		p->shape = s;
		p->set = i->set;
		memcpy(p->args, i->cur, sizeof(p->args));
	}
	pthread_mutex_unlock(&A.lock);
}

/* A queue or buffer made here: its context, and a buffer's size. */
static void
note_made(const void *obj, uint16_t type, cl_context ctx,
	  cl_mem_flags flags, size_t size)
{
	uint64_t id = id_of(obj, type);
	uint64_t cid = id_of(ctx, AVA_OPENCL_H_cl_context);
	if (id == 0 || cid == 0)
		return;
	pthread_mutex_lock(&A.lock);
	struct info *i = entry(id, type);
	if (i != NULL) {
		i->made = true;
		i->ctx = cid;
		i->flags = flags;
		i->size = size;
	}
	struct info *c = type == AVA_OPENCL_H_cl_mem &&
			 !(flags & (CL_MEM_USE_HOST_PTR | CL_MEM_COPY_HOST_PTR |
				    CL_MEM_ALLOC_HOST_PTR))
			 ? entry(cid, AVA_OPENCL_H_cl_context) : NULL;
	if (c != NULL && size > c->plain_ok)
		c->plain_ok = size;
	pthread_mutex_unlock(&A.lock);
}

/* A clone has its source's argument values, hence its launches. */
static void
note_clone(cl_kernel src, cl_kernel k)
{
	uint64_t sid = id_of(src, AVA_OPENCL_H_cl_kernel);
	uint64_t id = id_of(k, AVA_OPENCL_H_cl_kernel);
	if (sid == 0 || id == 0)
		return;
	pthread_mutex_lock(&A.lock);
	struct info *s = find(sid);
	struct info *i = s ? entry(id, AVA_OPENCL_H_cl_kernel) : NULL;
	if (i != NULL) {
		memcpy(i->learned, s->learned, sizeof(i->learned));
		memcpy(i->shapes, s->shapes, sizeof(i->shapes));
		memcpy(i->cur, s->cur, sizeof(i->cur));
		i->set = s->set;
		i->untracked = s->untracked;
		i->prog = s->prog;
		i->prog_gen = s->prog_gen;
		i->sig = s->sig;
	}
	pthread_mutex_unlock(&A.lock);
}

void
ava_guest_async_note(const struct ava_fn_desc *fn, const uint64_t *v,
		     uint64_t ret, bool queued)
{
	const void *obj = (const void *)(uintptr_t)ret;
	cl_context ctx = (cl_context)(uintptr_t)v[0];
	switch (fn->id) {
	case AVA_OPENCL_FN_clSetKernelArg:
		note_set_arg(v, queued);
		break;
	case AVA_OPENCL_FN_clEnqueueNDRangeKernel:
		note_launch(v, false, queued);
		break;
	case AVA_OPENCL_FN_clEnqueueTask:
		note_launch(v, true, queued);
		break;
	case AVA_OPENCL_FN_clCreateCommandQueue:
	case AVA_OPENCL_FN_clCreateCommandQueueWithProperties:
		note_made(obj, AVA_OPENCL_H_cl_command_queue, ctx, 0, 0);
		break;
	case AVA_OPENCL_FN_clCreateBuffer:
	case AVA_OPENCL_FN_avaclCreateBufferStaged:
		note_made(obj, AVA_OPENCL_H_cl_mem, ctx, v[1], (size_t)v[2]);
		break;
	case AVA_OPENCL_FN_clCreateBufferWithProperties:
		note_made(obj, AVA_OPENCL_H_cl_mem, ctx, v[2], (size_t)v[3]);
		break;
	case AVA_OPENCL_FN_clCloneKernel:
		note_clone((cl_kernel)(uintptr_t)v[0], (cl_kernel)obj);
		break;
	case AVA_OPENCL_FN_clCreateKernel:
		note_kernel((cl_program)(uintptr_t)v[0],
			    (const char *)(uintptr_t)v[1], (cl_kernel)obj);
		break;
	case AVA_OPENCL_FN_clBuildProgram:
	case AVA_OPENCL_FN_clCompileProgram:
		note_build((cl_program)(uintptr_t)v[0]);
		break;
	case AVA_OPENCL_FN_clCreateUserEvent:
		pthread_mutex_lock(&A.lock);
		A.user_events = true;
		pthread_mutex_unlock(&A.lock);
		break;
	default:
		break;
	}
}
