/*
 * marshal-split.c - separate a CALL or REPLY payload into its skeleton and
 * its bulk byte spans, and join them back.
 *
 * The journal stores a call as the skeleton (every word of the wire
 * payload except the bytes of buffers: scalars, handle ids, lengths,
 * presence flags) plus the buffer bytes as separate payloads, which it
 * deduplicates by content. Replay joins them back into the exact payload
 * the guest sent. Both directions walk the payload by the descriptor's
 * argument kinds alone, so they work on any API the spec describes.
 */
#include <errno.h>
#include <string.h>

#include "ava-error.h"
#include "marshal-split.h"
#include "wire.h"

/*
 * One walker serves both directions. Splitting reads the payload, copies
 * words to `out` (the skeleton) and records spans; joining reads the
 * skeleton, copies words to `out` (the payload) and inserts the spans.
 */
struct walk {
	struct ava_reader r;
	struct ava_buf *out;
	struct ava_span *spans;
	uint32_t max, n;
	bool join;
};

static int
copy_word(struct walk *w, uint64_t *v)
{
	int err = ava_reader_u64(&w->r, v);
	if (err == 0)
		err = ava_buf_put_u64(w->out, *v);
	return err;
}

static int
copy_words(struct walk *w, uint64_t count)
{
	if (!ava_reader_has_words(&w->r, count))
		return AVA_EPROTO;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t v;
		int err = copy_word(w, &v);
		if (err != 0)
			return err;
	}
	return 0;
}

/* The bytes of a buffer whose length word was just copied. */
static int
span_bytes(struct walk *w, uint64_t len)
{
	if (w->n == w->max)
		return w->join ? AVA_EPROTO : AVA_ETOOBIG;
	if (w->join) {
		const struct ava_span *s = &w->spans[w->n++];
		if (s->len != len)
			return AVA_EPROTO;
		return ava_buf_put_padded(w->out, s->data, s->len);
	}
	uint8_t *p;
	int err = ava_reader_bytes(&w->r, len, &p);
	if (err == 0)
		w->spans[w->n++] = (struct ava_span){ .data = p, .len = len };
	return err;
}

/* A length word, then that many bytes as a span (unless NULL). */
static int
take_span(struct walk *w)
{
	uint64_t len;
	int err = copy_word(w, &len);
	if (err != 0 || len == AVA_WIRE_NULL)
		return err;
	return span_bytes(w, len);
}

static int
split_karg(struct walk *w)
{
	uint64_t len, is_handle, id;
	int err = copy_word(w, &len);
	/* is_handle is there, as 0, for a NULL argument too (local memory). */
	if (err == 0)
		err = copy_word(w, &is_handle);
	if (err != 0 || len == AVA_WIRE_NULL)
		return err;
	if (is_handle)
		return copy_word(w, &id);
	return span_bytes(w, len);
}

static int
split_bufs(struct walk *w)
{
	uint64_t count;
	int err = copy_word(w, &count);
	if (err != 0 || count == AVA_WIRE_NULL)
		return err;
	/* Each buffer costs at least its length word in the source. */
	if (!ava_reader_has_words(&w->r, count))
		return AVA_EPROTO;
	for (uint64_t i = 0; i < count && err == 0; i++)
		err = take_span(w);
	return err;
}

/* A count word, then that many words (AVA_WIRE_NULL: none). */
static int
copy_counted(struct walk *w)
{
	uint64_t count;
	int err = copy_word(w, &count);
	if (err != 0 || count == AVA_WIRE_NULL)
		return err;
	return copy_words(w, count);
}

static int
split_call_arg(struct walk *w, const struct ava_arg_desc *a)
{
	uint64_t v;
	switch (a->kind) {
	case AVA_ARG_IN_BUF:
	case AVA_ARG_INOUT_BUF:
	case AVA_ARG_IN_STRING:
		return take_span(w);
	case AVA_ARG_IN_HANDLES:
	case AVA_ARG_IN_PROPS:
		return copy_counted(w);
	case AVA_ARG_IN_BUFS:
		return split_bufs(w);
	case AVA_ARG_IN_KARG:
		return split_karg(w);
	default:
		/* One word: a scalar, an id, or a presence flag. */
		return copy_word(w, &v);
	}
}

static int
split_reply_arg(struct walk *w, const struct ava_arg_desc *a)
{
	uint64_t v;
	switch (a->kind) {
	case AVA_ARG_OUT_SCALAR:
	case AVA_ARG_OUT_HANDLE:
		return copy_word(w, &v);
	case AVA_ARG_OUT_BUF:
	case AVA_ARG_INOUT_BUF:
		return take_span(w);
	case AVA_ARG_OUT_HANDLES:
		return copy_counted(w);
	default:
		return 0; /* in-only kinds have no reply part */
	}
}

static int
walk_payload(const struct ava_fn_desc *fn, bool reply, struct walk *w)
{
	int err = 0;
	if (reply) {
		uint64_t ret;
		err = copy_word(w, &ret);
	}
	for (unsigned i = 0; i < fn->nargs && err == 0; i++) {
		if (reply)
			err = split_reply_arg(w, &fn->args[i]);
		else
			err = split_call_arg(w, &fn->args[i]);
	}
	if (err == 0 && w->r.left != 0)
		err = AVA_EPROTO;
	if (err == 0 && w->join && w->n != w->max)
		err = AVA_EPROTO; /* spans left over */
	if (err == 0)
		err = ava_buf_error(w->out);
	return err;
}

int
ava_marshal_split(const struct ava_fn_desc *fn, bool reply, uint8_t *p,
		  size_t n, struct ava_buf *skel, struct ava_span *spans,
		  uint32_t max_spans, uint32_t *nspans)
{
	struct walk w = { .out = skel, .spans = spans, .max = max_spans };
	ava_reader_init(&w.r, p, n);
	int err = walk_payload(fn, reply, &w);
	*nspans = w.n;
	return err;
}

int
ava_marshal_join(const struct ava_fn_desc *fn, bool reply,
		 const uint8_t *skel, size_t n, const struct ava_span *spans,
		 uint32_t nspans, struct ava_buf *out)
{
	struct walk w = {
		.out = out, .spans = (struct ava_span *)spans,
		.max = nspans, .join = true,
	};
	/* The reader never writes through its pointer. */
	ava_reader_init(&w.r, (uint8_t *)skel, n);
	return walk_payload(fn, reply, &w);
}
