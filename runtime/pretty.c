/*
 * pretty.c - the text and JSON forms of one recorded call.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "handle-table.h"
#include "marshal.h"
#include "pretty.h"
#include "protocol.h"

/* Longest string or list the printer shows before eliding the rest. */
#define SHOW_CHARS 40
#define SHOW_ITEMS 8
#define SHOW_BYTES 16

struct pr {
	const struct ava_pretty_call *c;
	struct ava_reader a, o;   /* CALL and REPLY skeletons */
	bool have_outs;
	uint32_t in, dig;         /* next span, next digest */
	const char *bad;          /* first malformation seen */
	struct ava_buf *out;      /* the value being formatted */
	bool json;
};

static void __attribute__((format(printf, 2, 3)))
bprintf(struct ava_buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		ava_buf_put_bytes(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n
						      : sizeof(tmp) - 1);
}

static uint64_t
word(struct pr *p, struct ava_reader *r)
{
	uint64_t v = 0;
	if (ava_reader_u64(r, &v) != 0 && p->bad == NULL)
		p->bad = r == &p->a ? "arguments truncated" : "results truncated";
	return v;
}

const char *
ava_pretty_const(const struct ava_api_desc *api, const char *group,
		 uint64_t value)
{
	if (group == NULL)
		return NULL;
	for (uint32_t i = 0; i < api->nconsts; i++) {
		const struct ava_const_name *k = &api->consts[i];
		if (k->value == value && strcmp(k->group, group) == 0)
			return k->name;
	}
	return NULL;
}

const char *
ava_pretty_status(const struct ava_api_desc *api,
		  const struct ava_fn_desc *fn, uint64_t v)
{
	if (fn->ret == AVA_RET_STATUS)
		return ava_pretty_const(api, fn->ret_type, v);
	int e = ava_marshal_errcode_arg(fn);
	const char *type = e >= 0 ? fn->args[e].type : NULL;
	char group[64];   /* "cl_int *" is of the group "cl_int" */
	size_t n = type != NULL ? strcspn(type, " *") : sizeof(group);
	if (n >= sizeof(group))
		return NULL;
	memcpy(group, type, n);
	group[n] = '\0';
	return ava_pretty_const(api, group, v);
}

static const struct ava_handle_desc *
handle_of(const struct ava_api_desc *api, uint64_t id)
{
	uint8_t tag = (uint8_t)(id >> 56);
	for (uint16_t i = 1; i < api->nhandles; i++)
		if (api->handles[i].tag == tag)
			return &api->handles[i];
	return NULL;
}

void
ava_pretty_handle(const struct ava_api_desc *api, uint64_t id,
		  struct ava_buf *out)
{
	if (id == 0) {
		bprintf(out, "NULL");
		return;
	}
	const struct ava_handle_desc *h = handle_of(api, id);
	if (h == NULL) {
		bprintf(out, "id:%016" PRIx64, id);
		return;
	}
	/* "cl_platform_id" -> "platform": the part that names the object. */
	const char *name = h->name;
	const char *us = strchr(name, '_');
	if (us != NULL && us[1] != '\0')
		name = us + 1;
	size_t len = strlen(name);
	if (len > 3 && strcmp(name + len - 3, "_id") == 0)
		len -= 3;
	bprintf(out, "%.*s%" PRIu64, (int)len, name,
		id & (AVA_HANDLE_MAX_ENTRIES - 1));
}

/* A flag word as NAME|NAME|0x.., when every named bit is in the group. */
static bool
flags_name(const struct ava_api_desc *api, const char *group, uint64_t v,
	   struct ava_buf *out)
{
	uint64_t left = v;
	size_t start = out->len;
	for (int bit = 0; bit < 64 && v != 0; bit++) {
		uint64_t m = 1ull << bit;
		const char *n = (v & m) ? ava_pretty_const(api, group, m) : NULL;
		if (n == NULL)
			continue;
		bprintf(out, "%s%s", out->len > start ? "|" : "", n);
		left &= ~m;
	}
	if (out->len == start)
		return false;
	if (left != 0)
		bprintf(out, "|0x%" PRIx64, left);
	return true;
}

static void
scalar(struct pr *p, const struct ava_arg_desc *a, uint64_t v)
{
	const struct ava_api_desc *api = p->c->api;
	const char *n = ava_pretty_const(api, a->type, v);
	if (n != NULL)
		bprintf(p->out, "%s", n);
	else if (v != 0 && flags_name(api, a->type, v, p->out))
		return;
	else if (a->flags & AVA_ARGF_SIGNED)
		bprintf(p->out, "%" PRId64, (int64_t)v);
	else
		bprintf(p->out, "%" PRIu64, v);
}

static void
quoted(struct ava_buf *b, const uint8_t *s, uint64_t len)
{
	bprintf(b, "\"");
	for (uint64_t i = 0; i < len && s[i] != '\0'; i++) {
		if (i == SHOW_CHARS) {
			bprintf(b, "...");
			break;
		}
		uint8_t ch = s[i];
		if (ch == '"' || ch == '\\')
			bprintf(b, "\\%c", ch);
		else if (ch == '\n')
			bprintf(b, "\\n");
		else if (ch < 0x20 || ch >= 0x7f)
			bprintf(b, "\\x%02x", ch);
		else
			bprintf(b, "%c", ch);
	}
	bprintf(b, "\"");
}

/* The next input span, shown by content, by blob hash, or by size. */
static void
in_span(struct pr *p, uint64_t len, bool text)
{
	if (p->in >= p->c->nin) {
		if (p->bad == NULL)
			p->bad = "payload missing";
		bprintf(p->out, "<%" PRIu64 " bytes>", len);
		return;
	}
	const struct ava_pretty_span *s = &p->c->in[p->in++];
	if (s->data != NULL && text) {
		quoted(p->out, s->data, s->len);
	} else if (s->data != NULL && s->len <= SHOW_BYTES) {
		bprintf(p->out, "<");
		for (uint64_t i = 0; i < s->len; i++)
			bprintf(p->out, "%02x", s->data[i]);
		bprintf(p->out, ">");
	} else if (s->hash != NULL) {
		bprintf(p->out, "blob:%02x%02x%02x%02x%02x%02x… (%" PRIu64 " B)",
			s->hash[0], s->hash[1], s->hash[2], s->hash[3],
			s->hash[4], s->hash[5], s->len);
	} else {
		bprintf(p->out, "<%" PRIu64 " bytes>", s->len);
	}
}

static void
id_list(struct pr *p, struct ava_reader *r, uint64_t count)
{
	bprintf(p->out, "[");
	for (uint64_t i = 0; i < count && p->bad == NULL; i++) {
		uint64_t id = word(p, r);
		if (i == SHOW_ITEMS) {
			bprintf(p->out, ", ...");
			continue;
		}
		if (i > 0)
			bprintf(p->out, ", ");
		ava_pretty_handle(p->c->api, id, p->out);
	}
	bprintf(p->out, "]");
}

static void
props(struct pr *p, const struct ava_arg_desc *a, uint64_t nwords)
{
	bprintf(p->out, "{");
	for (uint64_t i = 0; i < nwords && p->bad == NULL; i++) {
		uint64_t key = word(p, &p->a);
		if (key == 0 || i + 1 == nwords)
			break;
		uint64_t val = word(p, &p->a);
		i++;
		const char *kn = ava_pretty_const(p->c->api, a->type, key);
		if (kn != NULL)
			bprintf(p->out, "%s%s: ", i > 1 ? ", " : "", kn);
		else
			bprintf(p->out, "%s0x%" PRIx64 ": ", i > 1 ? ", " : "",
				key);
		bool is_handle = false;
		for (uint8_t k = 0; k < a->nprop_handles; k++)
			is_handle |= a->prop_handles[k].key == key;
		if (is_handle)
			ava_pretty_handle(p->c->api, val, p->out);
		else
			bprintf(p->out, "0x%" PRIx64, val);
	}
	bprintf(p->out, "}");
}

static void
in_bufs(struct pr *p, const struct ava_arg_desc *a, uint64_t count)
{
	bprintf(p->out, "[");
	for (uint64_t i = 0; i < count && p->bad == NULL; i++) {
		uint64_t len = word(p, &p->a);
		if (i > 0)
			bprintf(p->out, ", ");
		if (len == AVA_WIRE_NULL)
			bprintf(p->out, "NULL");
		else
			in_span(p, len, a->flags & AVA_ARGF_NUL_TERMINATED);
	}
	bprintf(p->out, "]");
}

static void
karg(struct pr *p, uint64_t len)
{
	uint64_t is_handle = word(p, &p->a);
	if (is_handle)
		ava_pretty_handle(p->c->api, word(p, &p->a), p->out);
	else
		in_span(p, len, false);
}

/* The result of an out argument, from the REPLY skeleton. */
static void
out_value(struct pr *p, const struct ava_arg_desc *a)
{
	uint64_t v = word(p, &p->o);
	switch (a->kind) {
	case AVA_ARG_OUT_SCALAR:
		if (a->flags & AVA_ARGF_ERRCODE) {
			const char *n = ava_pretty_const(p->c->api, "cl_int", v);
			if (n != NULL) {
				bprintf(p->out, "%s", n);
				return;
			}
		}
		bprintf(p->out, "%" PRIu64, v);
		return;
	case AVA_ARG_OUT_HANDLE:
		ava_pretty_handle(p->c->api, v, p->out);
		return;
	case AVA_ARG_OUT_HANDLES:
		id_list(p, &p->o, v);
		return;
	default: {
		uint64_t d = p->dig < p->c->ndigests ? p->c->digests[p->dig] : 0;
		p->dig++;
		bprintf(p->out, "<%" PRIu64 " bytes, xxh3 %016" PRIx64 ">", v, d);
	}
	}
}

static void
arg_value(struct pr *p, const struct ava_arg_desc *a)
{
	uint64_t v = word(p, &p->a);
	switch (a->kind) {
	case AVA_ARG_SCALAR: scalar(p, a, v); return;
	case AVA_ARG_HANDLE: ava_pretty_handle(p->c->api, v, p->out); return;
	case AVA_ARG_USERDATA: bprintf(p->out, "..."); return;
	case AVA_ARG_CALLBACK: bprintf(p->out, v ? "<callback>" : "NULL"); return;
	default: break;
	}
	bool is_out = a->kind == AVA_ARG_OUT_BUF || a->kind == AVA_ARG_OUT_HANDLES ||
		      a->kind == AVA_ARG_OUT_SCALAR || a->kind == AVA_ARG_OUT_HANDLE;
	if (is_out) {
		if (v == 0)
			bprintf(p->out, "NULL");
		else if (p->have_outs)
			out_value(p, a);
		else
			bprintf(p->out, "<out>");
		return;
	}
	if (v == AVA_WIRE_NULL) {
		if (a->kind == AVA_ARG_IN_KARG)
			word(p, &p->a);  /* its is_handle word, 0 */
		bprintf(p->out, "NULL");
		return;
	}
	switch (a->kind) {
	case AVA_ARG_IN_BUF: in_span(p, v, false); break;
	case AVA_ARG_IN_STRING: in_span(p, v, true); break;
	case AVA_ARG_IN_HANDLES: id_list(p, &p->a, v); break;
	case AVA_ARG_IN_BUFS: in_bufs(p, a, v); break;
	case AVA_ARG_IN_PROPS: props(p, a, v); break;
	case AVA_ARG_IN_KARG: karg(p, v); break;
	case AVA_ARG_INOUT_BUF:
		in_span(p, v, false);
		if (p->have_outs) {
			bprintf(p->out, " -> ");
			out_value(p, a);
		}
		break;
	default: bprintf(p->out, "?"); break;
	}
}

static void
ret_value(struct pr *p, struct ava_buf *b)
{
	const struct ava_fn_desc *fn = p->c->fn;
	const char *n;
	switch (fn->ret) {
	case AVA_RET_HANDLE:
		ava_pretty_handle(p->c->api, (uint64_t)p->c->ret, b);
		break;
	case AVA_RET_STATUS:
		n = ava_pretty_const(p->c->api, fn->ret_type, (uint64_t)p->c->ret);
		if (n != NULL) {
			bprintf(b, "%s", n);
			break;
		}
		/* fall through */
	default:
		bprintf(b, "%" PRId64, p->c->ret);
	}
}

/* JSON needs quotes around anything that is not a plain integer. */
static bool
is_integer(const uint8_t *s, size_t n)
{
	size_t i = n > 0 && s[0] == '-' ? 1 : 0;
	if (i == n)
		return false;
	for (; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static void
json_string(struct ava_buf *out, const uint8_t *s, size_t n)
{
	bprintf(out, "\"");
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			bprintf(out, "\\%c", s[i]);
		else if (s[i] < 0x20)
			bprintf(out, "\\u%04x", s[i]);
		else
			ava_buf_put_bytes(out, &s[i], 1);
	}
	bprintf(out, "\"");
}

static void
emit(struct ava_buf *out, bool json, const char *key, struct ava_buf *val,
     bool first)
{
	if (!json) {
		bprintf(out, "%s%s=", first ? "" : ", ", key);
		ava_buf_put_bytes(out, val->data, val->len);
		return;
	}
	bprintf(out, "%s\"%s\":", first ? "" : ",", key);
	if (is_integer(val->data, val->len))
		ava_buf_put_bytes(out, val->data, val->len);
	else
		json_string(out, val->data, val->len);
}

static void
format_args(struct pr *p, struct ava_buf *dst)
{
	const struct ava_fn_desc *fn = p->c->fn;
	for (unsigned i = 0; i < fn->nargs && p->bad == NULL; i++) {
		ava_buf_reset(p->out);
		arg_value(p, &fn->args[i]);
		emit(dst, p->json, fn->args[i].name, p->out, i == 0);
	}
}

static void
format_tail(struct pr *p, struct ava_buf *dst)
{
	const struct ava_pretty_call *c = p->c;
	ava_buf_reset(p->out);
	ret_value(p, p->out);
	if (p->json) {
		bprintf(dst, "},\"ret\":%" PRId64 ",", c->ret);
		emit(dst, true, "ret_name", p->out, true);
		bprintf(dst, ",\"duration_ns\":%" PRIu64 ",\"async\":%s,"
			"\"deferred_error\":%" PRId64, c->duration_ns,
			c->async ? "true" : "false", c->deferred_error);
		if (p->bad != NULL)
			bprintf(dst, ",\"malformed\":\"%s\"", p->bad);
		if (c->outs == NULL)
			bprintf(dst, ",\"no_reply\":true");
		bprintf(dst, "}");
		return;
	}
	if (p->bad != NULL)
		bprintf(dst, "<malformed: %s>", p->bad);
	bprintf(dst, ")");
	if (c->outs == NULL) {
		/* The call never returned: the server faulted in it. */
		bprintf(dst, " = <no reply>");
	} else if (c->fn->ret != AVA_RET_VOID) {
		bprintf(dst, " = ");
		ava_buf_put_bytes(dst, p->out->data, p->out->len);
	}
	if (c->duration_ns >= 1000000)
		bprintf(dst, "  %.3f ms", c->duration_ns / 1e6);
	else
		bprintf(dst, "  %.1f µs", c->duration_ns / 1e3);
	if (c->async)
		bprintf(dst, "  [async]");
	if (c->deferred_error != 0) {
		const char *n = ava_pretty_const(c->api, "cl_int",
						 (uint64_t)c->deferred_error);
		if (n != NULL)
			bprintf(dst, "  deferred %s", n);
		else
			bprintf(dst, "  deferred %" PRId64, c->deferred_error);
	}
}

int
ava_pretty_call_format(const struct ava_pretty_call *c, bool json,
		       struct ava_buf *out)
{
	struct ava_buf val;
	ava_buf_init(&val);
	struct pr p = { .c = c, .out = &val, .json = json };
	/* The reader never writes through its pointer. */
	ava_reader_init(&p.a, (uint8_t *)c->args, c->args_len);
	if (c->outs != NULL) {
		ava_reader_init(&p.o, (uint8_t *)c->outs, c->outs_len);
		p.have_outs = true;
		word(&p, &p.o); /* the return value, also in c->ret */
	}
	if (json)
		bprintf(out, "{\"seq\":%" PRIu64 ",\"thread\":%u,\"fn\":\"%s\","
			"\"args\":{", c->seq, c->thread, c->fn->name);
	else
		bprintf(out, "#%" PRIu64 " t%u %s(", c->seq, c->thread,
			c->fn->name);
	format_args(&p, out);
	format_tail(&p, out);
	int err = ava_buf_error(&val);
	ava_buf_finish(&val);
	return err != 0 ? err : ava_buf_error(out);
}
