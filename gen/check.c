/*
 * check.c - the check pass: resolves the spec against the header and the
 * ids file, reports every violation, and builds the model.
 *
 * Every rule reports `file:line:col: error: ...` at the spec text it is
 * about; checking goes on after an error so that one run lists them all.
 */
#include <stdlib.h>
#include <string.h>

#include "check-private.h"

bool
header_const(struct checker *c, const struct ava_name *n, uint64_t *value)
{
	const struct ava_cconst *k = ava_header_const(c->hdr, n->name);
	if (k == NULL) {
		ava_error(n->loc, "unknown constant '%s' (not an integer constant of %s)",
			  n->name, c->spec->api.header.name);
		return false;
	}
	*value = k->value;
	return true;
}

static bool
api_const(struct checker *c, const struct ava_name *n, const char *what,
	  int64_t *out)
{
	uint64_t v = 0;
	if (n->name == NULL) {
		ava_error((struct ava_loc){ c->spec->file, c->spec->api.name.loc.line,
					    c->spec->api.name.loc.col },
			  "the api block needs '%s'", what);
		return false;
	}
	if (!header_const(c, n, &v))
		return false;
	*out = (int64_t)v;
	return true;
}

static char *
upper(const char *s)
{
	char *u = xstrdup(s);
	for (char *p = u; *p; p++) {
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	}
	return u;
}

static bool
check_api(struct checker *c, const char *name)
{
	struct ava_api_ast *api = &c->spec->api;
	struct ava_model *m = c->m;
	m->name = name ? name : api->name.name;
	m->upper = upper(m->name);
	m->api_id = (unsigned)api->api_id;
	bool ok = api_const(c, &api->success, "success", &m->success);
	ok &= api_const(c, &api->transport_error, "transport_error",
			&m->transport_error);
	ok &= api_const(c, &api->unsupported_error, "unsupported_error",
			&m->unsupported_error);
	if (api->status.name != NULL) {
		if (ava_header_typedef(c->hdr, api->status.name) == NULL) {
			ava_error(api->status.loc, "unknown type '%s'", api->status.name);
			ok = false;
		}
		m->status_type = api->status.name;
	}
	if (api->guest_icd && !c->hdr->have_icd) {
		ava_error(api->icd_header.name ? api->icd_header.loc : api->name.loc,
			  "'guest icd' needs an icd_header that defines struct %s",
			  api->icd_dispatch.name ? api->icd_dispatch.name
						 : "_cl_icd_dispatch");
		ok = false;
	}
	return ok;
}

/* ---- handles ---- */

int
ava_model_handle(const struct ava_model *m, const char *name)
{
	for (size_t i = 1; i < m->nhandles; i++) {
		if (strcmp(m->handles[i].name, name) == 0)
			return (int)i;
	}
	return 0;
}

static bool
declare_handle(struct checker *c, size_t i, struct ava_handle_ast *h)
{
	struct ava_m_handle *mh = &c->m->handles[i];
	mh->name = h->name.name;
	mh->retain_fn = mh->release_fn = -1;
	mh->state = h->state;
	mh->flags = h->is_static ? AVA_HANDLE_STATIC : 0;
	for (size_t j = 1; j < i; j++) {
		if (strcmp(c->m->handles[j].name, mh->name) == 0) {
			ava_error(h->name.loc, "duplicate handle '%s'", mh->name);
			return false;
		}
	}
	const struct ava_ctypedef *t = ava_header_typedef(c->hdr, mh->name);
	if (t == NULL) {
		ava_error(h->name.loc, "unknown handle type '%s' (no such type in %s)",
			  mh->name, c->spec->api.header.name);
		return false;
	}
	if (t->type->cls != AVA_CT_POINTER) {
		ava_error(h->name.loc, "handle type '%s' is not a pointer type",
			  mh->name);
		return false;
	}
	if (h->invalid.name == NULL) {
		ava_error(h->name.loc, "handle '%s' needs 'invalid ERROR;'", mh->name);
		return false;
	}
	uint64_t v = 0;
	if (!header_const(c, &h->invalid, &v))
		return false;
	mh->invalid_error = (int64_t)v;
	mh->invalid_name = h->invalid.name;
	return true;
}

static bool
handle_depends(struct checker *c, size_t i, struct ava_handle_ast *h)
{
	struct ava_m_handle *mh = &c->m->handles[i];
	bool ok = true;
	mh->depends = xcalloc(h->depends.n, sizeof(int));
	for (size_t j = 0; j < h->depends.n; j++) {
		const struct ava_name *n = h->depends.items[j];
		int d = ava_model_handle(c->m, n->name);
		if (d == 0) {
			ava_error(n->loc, "unknown handle type '%s' in depends", n->name);
			ok = false;
		}
		mh->depends[mh->ndepends++] = d;
	}
	return ok;
}

static bool
check_handles(struct checker *c)
{
	struct ava_vec *hs = &c->spec->handles;
	bool ok = true;
	if (hs->n > 254) {
		ava_error(((struct ava_handle_ast *)hs->items[255])->name.loc,
			  "too many handle types (at most 254)");
		return false;
	}
	c->m->nhandles = hs->n + 1;
	c->m->handles = xcalloc(c->m->nhandles, sizeof(*c->m->handles));
	for (size_t i = 0; i < hs->n; i++)
		ok &= declare_handle(c, i + 1, hs->items[i]);
	for (size_t i = 0; ok && i < hs->n; i++)
		ok &= handle_depends(c, i + 1, hs->items[i]);
	return ok;
}

/* ---- functions ---- */

static const struct ava_id *
find_id(const struct ava_vec *ids, const char *name)
{
	for (size_t i = 0; i < ids->n; i++) {
		const struct ava_id *e = ids->items[i];
		if (strcmp(e->name, name) == 0)
			return e;
	}
	return NULL;
}

static bool
ret_kind(struct checker *c, struct ava_m_fn *fn)
{
	const struct ava_ctype *t = fn->c->ret;
	bool lenient = (fn->flags & (AVA_FN_UNSUPPORTED | AVA_FN_EMULATED)) ||
		       (fn->hooks & AVA_HOOK_GUEST);
	int h = t->tdname ? ava_model_handle(c->m, t->tdname) : 0;
	if (t->cls == AVA_CT_VOID) {
		fn->ret = AVA_RET_VOID;
	} else if (t->cls == AVA_CT_INT) {
		bool status = c->m->status_type && t->tdname &&
			      strcmp(t->tdname, c->m->status_type) == 0;
		fn->ret = status ? AVA_RET_STATUS : AVA_RET_SCALAR;
	} else if (t->cls == AVA_CT_POINTER && h != 0) {
		fn->ret = AVA_RET_HANDLE;
		fn->ret_handle = h;
	} else if ((t->cls == AVA_CT_POINTER || t->cls == AVA_CT_FNPTR) && lenient) {
		fn->ret = AVA_RET_POINTER;
	} else if (fn->flags & (AVA_FN_UNSUPPORTED | AVA_FN_EMULATED)) {
		fn->ret = AVA_RET_SCALAR;  /* a float or struct: the stub returns 0 */
	} else {
		ava_error(fn->ast->name.loc, "'%s' returns '%s', which cannot be "
			  "forwarded (mark it unsupported or hook guest)",
			  fn->name, t->spelling);
		return false;
	}
	if (fn->ast->ret_creates && fn->ret != AVA_RET_HANDLE) {
		ava_error(fn->ast->ret_loc, "'return creates' needs a handle return, "
			  "but '%s' returns '%s'", fn->name, t->spelling);
		return false;
	}
	return true;
}

static int
errcode_index(struct checker *c, const struct ava_cfunc *f)
{
	const char *name = c->spec->api.errcode.name;
	for (size_t i = 0; name && i < f->nparams; i++) {
		const struct ava_ctype *t = f->params[i].type;
		if (strcmp(f->params[i].name, name) == 0 && t->cls == AVA_CT_POINTER &&
		    t->pointee->cls == AVA_CT_INT)
			return (int)i;
	}
	return -1;
}

static bool
fn_consumes(struct checker *c, struct ava_m_fn *fn)
{
	bool ok = true;
	const struct ava_vec *v = &fn->ast->consumes;
	fn->consumes = xcalloc(v->n, sizeof(*fn->consumes));
	for (size_t i = 0; i < v->n; i++) {
		struct ava_consume_ast *a = v->items[i];
		struct ava_m_consume *mc = &fn->consumes[fn->nconsumes++];
		if (strcmp(a->resource.name, "device_memory") == 0) {
			mc->resource = AVA_RES_DEVICE_MEMORY;
		} else if (strcmp(a->resource.name, "device_time") == 0) {
			mc->resource = AVA_RES_DEVICE_TIME;
		} else {
			ava_error(a->resource.loc, "unknown resource '%s' (expected "
				  "device_memory or device_time)", a->resource.name);
			ok = false;
		}
		mc->amount = a->amount;
		ok &= check_expr(c, fn, a->amount, CTX_SIZE);
	}
	return ok;
}

static bool
fill_fn(struct checker *c, struct ava_m_fn *fn)
{
	const struct ava_fn_ast *a = fn->ast;
	fn->hooks = a->hooks;
	fn->errcode_arg = errcode_index(c, fn->c);
	if (a->unsupported) {
		uint64_t v = (uint64_t)c->m->unsupported_error;
		fn->flags = AVA_FN_UNSUPPORTED;
		fn->unsupported_error_name = a->unsupported_error.name
			? a->unsupported_error.name : c->spec->api.unsupported_error.name;
		bool ok = a->unsupported_error.name == NULL ||
			  header_const(c, &a->unsupported_error, &v);
		fn->unsupported_error = (int64_t)v;
		fn->why = a->why ? a->why : "not supported";
		return ret_kind(c, fn) && ok;
	}
	if (a->emulated) {
		/* Never on the wire: like an unsupported function, it has no
		 * argument descriptors, and a server that receives it anyway
		 * answers the api's unsupported_error. */
		fn->flags = AVA_FN_EMULATED;
		fn->unsupported_error = c->m->unsupported_error;
		fn->unsupported_error_name = c->spec->api.unsupported_error.name;
		fn->why = a->why ? a->why : "emulated in the guest";
		return ret_kind(c, fn);
	}
	fn->flags = (a->async ? AVA_FN_ASYNC : 0) | (a->query ? AVA_FN_QUERY : 0) |
		    (a->mutates ? AVA_FN_MUTATES : 0) |
		    (a->sync ? AVA_FN_SYNC_POINT : 0) |
		    (a->ret_creates ? AVA_FN_CREATES : 0) |
		    (fn->c->origin == AVA_CFUNC_PRIVATE ? AVA_FN_PRIVATE : 0) |
		    (fn->c->origin == AVA_CFUNC_EXTENSION ? AVA_FN_EXTENSION : 0);
	bool ok = check_args(c, fn);
	ok &= ret_kind(c, fn);
	ok &= fn_consumes(c, fn);
	if (ok && a->async_unless) {
		fn->async_unless = a->async_unless;
		ok &= check_expr(c, fn, a->async_unless, CTX_COND);
	}
	if (fn->c->variadic) {
		ava_error(a->name.loc, "'%s' is variadic and cannot be forwarded",
			  fn->name);
		ok = false;
	}
	return ok;
}

/* Spec functions by header position; reports unknown and duplicate fns. */
static bool
match_fns(struct checker *c, struct ava_fn_ast **by_pos)
{
	bool ok = true;
	const struct ava_header *h = c->hdr;
	for (size_t i = 0; i < c->spec->fns.n; i++) {
		struct ava_fn_ast *a = c->spec->fns.items[i];
		const struct ava_cfunc *f = ava_header_func(h, a->name.name);
		if (f == NULL) {
			ava_error(a->name.loc, "unknown function '%s' (not declared in %s)",
				  a->name.name, c->spec->api.header.name);
			ok = false;
			continue;
		}
		size_t pos = 0;
		while (h->funcs.items[pos] != f)
			pos++;
		if (by_pos[pos] != NULL) {
			ava_error(a->name.loc, "duplicate fn '%s' (first at line %d)",
				  a->name.name, by_pos[pos]->name.loc.line);
			ok = false;
			continue;
		}
		by_pos[pos] = a;
	}
	for (size_t i = 0; i < h->funcs.n; i++) {
		const struct ava_cfunc *f = h->funcs.items[i];
		if (by_pos[i] != NULL || c->lax || f->origin == AVA_CFUNC_EXTENSION)
			continue;
		const struct ava_name *hn = f->origin == AVA_CFUNC_PRIVATE
			? &c->spec->api.private_header : &c->spec->api.header;
		ava_error(hn->loc, "function '%s' of %s is missing from "
			  "the spec (forward it or mark it unsupported)", f->name,
			  hn->name);
		ok = false;
	}
	return ok;
}

static bool
check_fns(struct checker *c, const struct ava_vec *ids)
{
	const struct ava_header *h = c->hdr;
	struct ava_fn_ast **by_pos = xcalloc(h->funcs.n, sizeof(*by_pos));
	bool ok = match_fns(c, by_pos);
	struct ava_model *m = c->m;
	m->fns = xcalloc(h->funcs.n, sizeof(*m->fns));
	for (size_t i = 0; i < h->funcs.n; i++) {
		if (by_pos[i] == NULL)
			continue;
		struct ava_m_fn *fn = &m->fns[m->nfns++];
		fn->ast = by_pos[i];
		fn->c = h->funcs.items[i];
		fn->name = fn->c->name;
		const struct ava_id *id = find_id(ids, fn->name);
		fn->id = id ? id->id : UINT32_MAX;
		if (id == NULL && !c->lax) {
			ava_error(fn->ast->name.loc, "'%s' has no id in the ids file",
				  fn->name);
			ok = false;
		}
	}
	free(by_pos);
	for (size_t i = 0; i < m->nfns; i++)
		ok &= fill_fn(c, &m->fns[i]);
	return ok;
}

/* ---- tables ---- */

const struct ava_m_fn *
ava_model_fn(const struct ava_model *m, const char *name)
{
	for (size_t i = 0; i < m->nfns; i++) {
		if (strcmp(m->fns[i].name, name) == 0)
			return &m->fns[i];
	}
	return NULL;
}

/* retain/release: a forwarded function with a by-value handle of the type. */
static bool
lifetime_fn(struct checker *c, int h, const struct ava_name *n, uint32_t flag,
	    int *out)
{
	if (n->name == NULL)
		return true;
	struct ava_m_fn *fn = (struct ava_m_fn *)ava_model_fn(c->m, n->name);
	if (fn == NULL || (fn->flags & (AVA_FN_UNSUPPORTED | AVA_FN_EMULATED))) {
		ava_error(n->loc, "'%s' is not a forwarded function of the spec",
			  n->name);
		return false;
	}
	for (size_t i = 0; i < fn->nargs; i++) {
		if (fn->args[i].kind == AVA_ARG_HANDLE && fn->args[i].handle == h) {
			fn->args[i].flags |= flag;
			*out = (int)fn->id;
			return true;
		}
	}
	ava_error(n->loc, "'%s' takes no '%s' argument", n->name,
		  c->m->handles[h].name);
	return false;
}

static int
cmp_const(const void *a, const void *b)
{
	const struct ava_cconst *x = *(const struct ava_cconst *const *)a;
	const struct ava_cconst *y = *(const struct ava_cconst *const *)b;
	int r = strcmp(x->group, y->group);
	if (r != 0)
		return r;
	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void
build_tables(struct checker *c, const struct ava_vec *ids)
{
	struct ava_model *m = c->m;
	for (size_t i = 0; i < ids->n; i++) {
		const struct ava_id *e = ids->items[i];
		if (e->id + 1 > m->nids)
			m->nids = e->id + 1;
	}
	m->by_id = xcalloc(m->nids, sizeof(*m->by_id));
	m->retired = xcalloc(ids->n, sizeof(*m->retired));
	for (size_t i = 0; i < m->nfns; i++) {
		if (m->fns[i].id != UINT32_MAX)
			m->by_id[m->fns[i].id] = &m->fns[i];
	}
	for (size_t i = 0; i < ids->n; i++) {
		const struct ava_id *e = ids->items[i];
		if (m->by_id[e->id] == NULL)
			m->retired[m->nretired++] = (struct ava_m_retired){ e->name, e->id };
	}
	const struct ava_vec *ks = &c->hdr->consts;
	m->consts = xcalloc(ks->n, sizeof(*m->consts));
	for (size_t i = 0; i < ks->n; i++) {
		const struct ava_cconst *k = ks->items[i];
		if (k->group != NULL)
			m->consts[m->nconsts++] = k;
	}
	if (m->nconsts > 0)
		qsort(m->consts, m->nconsts, sizeof(*m->consts), cmp_const);
}

int
ava_check(struct ava_spec *spec, const struct ava_header *hdr,
	  const struct ava_vec *ids, const char *name, bool lax,
	  struct ava_model **out)
{
	struct checker c = { .spec = spec, .hdr = hdr, .lax = lax };
	c.m = xcalloc(1, sizeof(*c.m));
	c.m->spec_file = spec->file;
	c.m->spec = spec;
	c.m->hdr = hdr;
	bool ok = check_api(&c, name);
	ok &= check_handles(&c);
	ok &= check_fns(&c, ids);
	for (size_t i = 1; ok && i < c.m->nhandles; i++) {
		const struct ava_handle_ast *h = spec->handles.items[i - 1];
		ok &= lifetime_fn(&c, (int)i, &h->retain, AVA_ARGF_RETAINS,
				  &c.m->handles[i].retain_fn);
		ok &= lifetime_fn(&c, (int)i, &h->release, AVA_ARGF_RELEASES,
				  &c.m->handles[i].release_fn);
	}
	build_tables(&c, ids);
	if (!ok || ava_error_count() > 0) {
		ava_model_destroy(c.m);
		return -1;
	}
	*out = c.m;
	return 0;
}

void
ava_model_destroy(struct ava_model *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nfns; i++) {
		struct ava_m_fn *fn = &m->fns[i];
		for (size_t j = 0; j < fn->nargs; j++) {
			free(fn->args[j].typed);
			free(fn->args[j].props);
		}
		free(fn->args);
		free(fn->consumes);
	}
	for (size_t i = 0; i < m->nhandles; i++)
		free(m->handles[i].depends);
	free(m->fns);
	free(m->by_id);
	free(m->retired);
	free(m->handles);
	free(m->consts);
	free((char *)m->upper);
	free(m);
}
