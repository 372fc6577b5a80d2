/*
 * image-read.c - the checkpoint image reader and the file check behind
 * `ava restore --check` (image.h, doc/checkpoint-format.md).
 *
 * The reader trusts nothing: a record's length is checked against
 * AVA_IMG_RECORD_MAX and against its type before its body is read, the
 * body buffer grows only as bytes actually arrive, and every field inside
 * is checked against the body before use.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <xxhash.h>

#include "image-private.h"

#define READ_STEP (1u << 20)   /* the body buffer grows by this */

static const char *const type_names[AVA_IMG_TYPE_COUNT] = {
	"?", "HEADER", "CALL", "OBJECT", "STATE", "DROP", "END",
};

/* ---- reader ------------------------------------------------------------- */

struct ava_img_reader {
	ava_img_read_fn read;
	void *ctx;
	uint8_t *buf;          /* the current record's body */
	size_t cap;
	uint64_t index;        /* records read */
	uint64_t offset;       /* bytes read (preamble included) */
	XXH3_state_t *chain;
	struct ava_img_thread *threads;
	uint32_t nthreads_cap;
	int err;               /* sticky */
	bool ended;            /* END was read and checked */
	char source[AVA_IMG_TEXT_MAX + 1];
	char device[AVA_IMG_TEXT_MAX + 1];
	char why[256];
};

/* Fail for good, with "record N at offset X: ..." in why. */
__attribute__((format(printf, 4, 5)))
static int
r_fail(struct ava_img_reader *r, int err, uint64_t at, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(r->why, sizeof(r->why), "record %llu at offset %llu: %s",
		 (unsigned long long)r->index, (unsigned long long)at, msg);
	r->err = err;
	return err;
}

/* A read of n bytes inside the record at `at`. */
static int
r_read(struct ava_img_reader *r, void *p, size_t n, uint64_t at)
{
	int e = r->read(r->ctx, p, n);
	if (e == AVA_ECLOSED) {
		snprintf(r->why, sizeof(r->why), "truncated: the stream ends "
			 "in record %llu (at offset %llu) before END",
			 (unsigned long long)r->index,
			 (unsigned long long)at);
		r->err = e;
	} else if (e != 0) {
		r_fail(r, e, at, "read failed: %s", ava_strerror(e));
	}
	return e;
}

/* Read a body of len bytes (len <= AVA_IMG_RECORD_MAX), growing the
 * buffer only as bytes arrive, so a lying length costs little. */
static int
r_body(struct ava_img_reader *r, size_t len, uint64_t at)
{
	size_t got = 0;
	while (got < len) {
		size_t step = len - got < READ_STEP ? len - got : READ_STEP;
		if (got + step > r->cap) {
			size_t ncap = r->cap * 2 < len ? r->cap * 2 : len;
			if (ncap < got + step)
				ncap = got + step;
			uint8_t *nb = realloc(r->buf, ncap);
			if (nb == NULL)
				return r_fail(r, -ENOMEM, at, "out of memory");
			r->buf = nb;
			r->cap = ncap;
		}
		int e = r_read(r, r->buf + got, step, at);
		if (e != 0)
			return e;
		got += step;
	}
	return 0;
}

/* A body's length against its type, before it is read. */
static int
r_check_len(struct ava_img_reader *r, uint32_t type, uint64_t len,
	    uint64_t at)
{
	static const uint64_t exact[AVA_IMG_TYPE_COUNT] = {
		[AVA_IMG_OBJECT] = OBJECT_SIZE, [AVA_IMG_DROP] = DROP_SIZE,
		[AVA_IMG_END] = END_SIZE,
	};
	static const uint64_t least[AVA_IMG_TYPE_COUNT] = {
		[AVA_IMG_HEADER] = HEADER_MIN, [AVA_IMG_CALL] = CALL_MIN,
		[AVA_IMG_STATE] = STATE_FIXED,
	};
	if (exact[type] != 0 && len != exact[type])
		return r_fail(r, AVA_ECORRUPT, at, "%s record of %llu "
			      "bytes (it has %llu)", type_names[type],
			      (unsigned long long)len,
			      (unsigned long long)exact[type]);
	if (len < least[type])
		return r_fail(r, AVA_ECORRUPT, at, "%s record of %llu "
			      "bytes (it has at least %llu)",
			      type_names[type], (unsigned long long)len,
			      (unsigned long long)least[type]);
	return 0;
}

/* The record header: its fields, its place in the stream, its length. */
static int
r_check_header(struct ava_img_reader *r, uint32_t type, uint32_t rsv,
	       uint64_t len, uint64_t at)
{
	if (type == 0 || type >= AVA_IMG_TYPE_COUNT)
		return r_fail(r, AVA_EPROTO, at, "unknown record type %u",
			      type);
	if (rsv != 0)
		return r_fail(r, AVA_ECORRUPT, at, "nonzero reserved field "
			      "in the record header");
	if (len > AVA_IMG_RECORD_MAX)
		return r_fail(r, AVA_ETOOBIG, at, "length %llu exceeds the "
			      "bound %u", (unsigned long long)len,
			      AVA_IMG_RECORD_MAX);
	if (r->index == 0 && type != AVA_IMG_HEADER)
		return r_fail(r, AVA_ECORRUPT, at, "%s record where the "
			      "HEADER must come first", type_names[type]);
	if (r->index > 0 && type == AVA_IMG_HEADER)
		return r_fail(r, AVA_ECORRUPT, at, "a second HEADER");
	return r_check_len(r, type, len, at);
}

/* One bounded, NUL-free text of the HEADER into dst; *off moves on. */
static int
r_text(struct ava_img_reader *r, const char *name, size_t n, size_t *off,
       char *dst, uint64_t at)
{
	const uint8_t *b = r->buf;
	if (n - *off < 4)
		return r_fail(r, AVA_ECORRUPT, at, "the HEADER ends inside "
			      "its %s text", name);
	uint32_t len = (uint32_t)get_le(b + *off, 4);
	*off += 4;
	if (len > AVA_IMG_TEXT_MAX)
		return r_fail(r, AVA_ETOOBIG, at, "a %s text of %u bytes "
			      "exceeds the bound %d", name, len,
			      AVA_IMG_TEXT_MAX);
	if (len > n - *off)
		return r_fail(r, AVA_ECORRUPT, at, "the %s text runs past "
			      "the record", name);
	if (memchr(b + *off, 0, len) != NULL)
		return r_fail(r, AVA_ECORRUPT, at, "the %s text holds a NUL "
			      "byte", name);
	memcpy(dst, b + *off, len);
	dst[len] = '\0';
	*off += len;
	return 0;
}

static int
r_threads(struct ava_img_reader *r, const uint8_t *p, uint32_t n,
	  uint64_t at)
{
	if (n > r->nthreads_cap) {
		void *nt = realloc(r->threads, (size_t)n * sizeof(*r->threads));
		if (nt == NULL)
			return r_fail(r, -ENOMEM, at, "out of memory");
		r->threads = nt;
		r->nthreads_cap = n;
	}
	for (uint32_t i = 0; i < n; i++, p += THREAD_SIZE) {
		if (get_le(p + 4, 4) != 0)
			return r_fail(r, AVA_ECORRUPT, at, "nonzero pad in "
				      "thread entry %u", i);
		r->threads[i].thread = (uint32_t)get_le(p, 4);
		r->threads[i].last_seq = get_le(p + 8, 8);
	}
	return 0;
}

static int
r_header(struct ava_img_reader *r, size_t n, struct ava_img_header *h,
	 uint64_t at)
{
	const uint8_t *b = r->buf;
	if (!all_zero(b + 1, 3) || get_le(b + 26, 2) != 0)
		return r_fail(r, AVA_ECORRUPT, at, "nonzero pad in the HEADER");
	h->api_id = b[0];
	h->spec_hash = (uint32_t)get_le(b + 4, 4);
	h->session = get_le(b + 8, 8);
	h->token = get_le(b + 16, 8);
	h->owner = (uint16_t)get_le(b + 24, 2);
	h->nthreads = (uint32_t)get_le(b + 28, 4);
	h->async_done = get_le(b + 32, 8);
	h->created_ns = get_le(b + 40, 8);
	h->live_bytes = get_le(b + 48, 8);
	if (h->nthreads > AVA_IMG_MAX_THREADS)
		return r_fail(r, AVA_ETOOBIG, at, "%u threads exceed the "
			      "bound %d", h->nthreads, AVA_IMG_MAX_THREADS);
	size_t off = HEADER_FIXED;
	int e = r_text(r, "source", n, &off, r->source, at);
	if (e == 0)
		e = r_text(r, "device", n, &off, r->device, at);
	if (e != 0)
		return e;
	if (n - off != (size_t)h->nthreads * THREAD_SIZE)
		return r_fail(r, AVA_ECORRUPT, at, "the HEADER's length does "
			      "not match its %u threads", h->nthreads);
	e = r_threads(r, b + off, h->nthreads, at);
	h->source = r->source;
	h->device = r->device;
	h->threads = r->threads;   /* after r_threads may have moved it */
	return e;
}

static int
r_call(struct ava_img_reader *r, size_t n, struct ava_img_call *c,
       uint64_t at)
{
	const uint8_t *b = r->buf;
	c->seq = get_le(b, 8);
	c->thread = (uint32_t)get_le(b + 8, 4);
	c->fn = (uint32_t)get_le(b + 12, 4);
	c->call_len = get_le(b + 16, 8);
	size_t off = CALL_FIXED, left = n - CALL_FIXED - 8;
	/* call_len <= left <= AVA_IMG_RECORD_MAX, so pad8 cannot wrap. */
	if (c->call_len > left || pad8(c->call_len) > left)
		return r_fail(r, AVA_ECORRUPT, at, "the call's %llu bytes "
			      "run past the record",
			      (unsigned long long)c->call_len);
	c->call = b + off;
	off += c->call_len;
	if (!all_zero(b + off, pad8(c->call_len) - c->call_len))
		return r_fail(r, AVA_ECORRUPT, at, "nonzero pad after the "
			      "call bytes");
	off = CALL_FIXED + pad8(c->call_len);
	c->reply_len = get_le(b + off, 8);
	off += 8;
	left = n - off;
	if (c->reply_len > left || pad8(c->reply_len) != left)
		return r_fail(r, AVA_ECORRUPT, at, "the reply's %llu bytes do "
			      "not fill the record's %zu",
			      (unsigned long long)c->reply_len, left);
	c->reply = b + off;
	if (!all_zero(b + off + c->reply_len, left - c->reply_len))
		return r_fail(r, AVA_ECORRUPT, at, "nonzero pad after the "
			      "reply bytes");
	return 0;
}

static int
r_object(struct ava_img_reader *r, struct ava_img_object *o, uint64_t at)
{
	const uint8_t *b = r->buf;
	const char *what;
	if (get_le(b + 10, 2) != 0 || get_le(b + 20, 4) != 0)
		return r_fail(r, AVA_ECORRUPT, at, "nonzero pad in an OBJECT");
	o->id = get_le(b, 8);
	o->type = (uint16_t)get_le(b + 8, 2);
	o->refs = (uint32_t)get_le(b + 12, 4);
	o->flags = (uint32_t)get_le(b + 16, 4);
	o->size = get_le(b + 24, 8);
	o->parent = get_le(b + 32, 8);
	if (object_check(o, &what) != 0)
		return r_fail(r, AVA_EPROTO, at, "object %llu: %s",
			      (unsigned long long)o->id, what);
	return 0;
}

static int
r_state(struct ava_img_reader *r, size_t n, struct ava_img_state *s,
	uint64_t at)
{
	const uint8_t *b = r->buf;
	s->id = get_le(b, 8);
	s->offset = get_le(b + 8, 8);
	s->total = get_le(b + 16, 8);
	s->data = b + STATE_FIXED;
	s->len = n - STATE_FIXED;
	if (s->id == 0)
		return r_fail(r, AVA_EPROTO, at, "STATE of object id 0");
	if (!state_fits(s->offset, s->len, s->total))
		return r_fail(r, AVA_EPROTO, at, "STATE of %llu bytes at "
			      "offset %llu lies beyond the object's %llu",
			      (unsigned long long)s->len,
			      (unsigned long long)s->offset,
			      (unsigned long long)s->total);
	return 0;
}

static int
r_end(struct ava_img_reader *r, uint64_t at)
{
	uint64_t count = get_le(r->buf, 8), chain = get_le(r->buf + 8, 8);
	if (count != r->index)
		return r_fail(r, AVA_ECORRUPT, at, "END counts %llu records, "
			      "the stream held %llu",
			      (unsigned long long)count,
			      (unsigned long long)r->index);
	if (chain != XXH3_64bits_digest(r->chain))
		return r_fail(r, AVA_ECORRUPT, at, "END's chain does not "
			      "match: records were reordered, replaced or "
			      "altered");
	return 0;
}

static int
r_decode(struct ava_img_reader *r, struct ava_img_rec *rec, size_t n,
	 uint64_t at)
{
	switch (rec->type) {
	case AVA_IMG_HEADER:
		return r_header(r, n, &rec->u.header, at);
	case AVA_IMG_CALL:
		return r_call(r, n, &rec->u.call, at);
	case AVA_IMG_OBJECT:
		return r_object(r, &rec->u.object, at);
	case AVA_IMG_STATE:
		return r_state(r, n, &rec->u.state, at);
	case AVA_IMG_DROP:
		rec->u.drop = get_le(r->buf, 8);
		if (rec->u.drop == 0)
			return r_fail(r, AVA_EPROTO, at, "DROP of id 0");
		return 0;
	default:
		return r_end(r, at);
	}
}

/* After END: the clean end of input, or a record that has no place. */
static int
r_after_end(struct ava_img_reader *r)
{
	uint8_t byte;
	int e = r->read(r->ctx, &byte, 1);
	if (e == AVA_ECLOSED)
		return 0;
	if (e != 0)
		return r_fail(r, e, r->offset, "read failed: %s",
			      ava_strerror(e));
	return r_fail(r, AVA_ECORRUPT, r->offset, "data after END");
}

int
ava_img_read(struct ava_img_reader *r, struct ava_img_rec *rec)
{
	if (r->err != 0)
		return r->err;
	if (r->ended)
		return r_after_end(r);
	uint64_t at = r->offset;
	uint8_t h[AVA_IMG_RECORD_HEADER_SIZE];
	int e = r_read(r, h, sizeof(h), at);
	if (e != 0)
		return e;
	uint32_t type = (uint32_t)get_le(h, 4);
	uint64_t len = get_le(h + 8, 8);
	e = r_check_header(r, type, (uint32_t)get_le(h + 4, 4), len, at);
	if (e == 0)
		e = r_body(r, (size_t)len, at);
	if (e != 0)
		return e;
	if (XXH3_64bits(r->buf, (size_t)len) != get_le(h + 16, 8))
		return r_fail(r, AVA_ECORRUPT, at, "%s checksum mismatch",
			      type_names[type]);
	memset(rec, 0, sizeof(*rec));
	rec->type = (enum ava_img_type)type;
	rec->index = r->index;
	rec->offset = at;
	e = r_decode(r, rec, (size_t)len, at);
	if (e != 0)
		return e;
	XXH3_64bits_update(r->chain, h, sizeof(h));
	r->index++;
	r->offset += sizeof(h) + len;
	if (type != AVA_IMG_END)
		return 1;
	r->ended = true;
	return 0;
}

/* The preamble; on failure, why says what the bytes were instead. */
static int
r_preamble(struct ava_img_reader *r, char *why, size_t nwhy)
{
	uint8_t p[AVA_IMG_PREAMBLE_SIZE];
	int e = r->read(r->ctx, p, sizeof(p));
	if (e == AVA_ECLOSED) {
		snprintf(why, nwhy, "not a checkpoint image: shorter than its "
			 "%d-byte preamble", AVA_IMG_PREAMBLE_SIZE);
		return AVA_ECORRUPT;
	}
	if (e != 0) {
		snprintf(why, nwhy, "cannot read the preamble: %s",
			 ava_strerror(e));
		return e;
	}
	uint32_t version = (uint32_t)get_le(p + 8, 4);
	uint32_t flags = (uint32_t)get_le(p + 12, 4);
	if (memcmp(p, img_magic, sizeof(img_magic)) != 0) {
		snprintf(why, nwhy, "not a checkpoint image (bad magic)");
		return AVA_ECORRUPT;
	}
	if (version != AVA_IMG_VERSION) {
		snprintf(why, nwhy, "image format version %u; this ava reads "
			 "version %d only", version, AVA_IMG_VERSION);
		return AVA_EVERSION;
	}
	if (flags != 0) {
		snprintf(why, nwhy, "unknown image flags 0x%x in the preamble",
			 flags);
		return AVA_ECORRUPT;
	}
	return 0;
}

static int
reader_open(ava_img_read_fn rfn, void *ctx, struct ava_img_reader **out,
	    char *why, size_t nwhy)
{
	struct ava_img_reader *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->read = rfn;
	r->ctx = ctx;
	r->chain = XXH3_createState();
	int e = -ENOMEM;
	if (r->chain == NULL)
		goto err_free;
	XXH3_64bits_reset(r->chain);
	e = r_preamble(r, why, nwhy);
	if (e != 0)
		goto err_free;
	r->offset = AVA_IMG_PREAMBLE_SIZE;
	*out = r;
	return 0;
err_free:
	ava_img_reader_destroy(r);
	return e;
}

int
ava_img_reader_create(ava_img_read_fn rfn, void *ctx,
		      struct ava_img_reader **out)
{
	char why[160];
	return reader_open(rfn, ctx, out, why, sizeof(why));
}

const char *
ava_img_reader_why(const struct ava_img_reader *r)
{
	return r->err != 0 ? r->why : "no error";
}

uint64_t
ava_img_reader_bytes(const struct ava_img_reader *r)
{
	return r->offset;
}

void
ava_img_reader_destroy(struct ava_img_reader *r)
{
	if (r == NULL)
		return;
	XXH3_freeState(r->chain);
	free(r->threads);
	free(r->buf);
	free(r);
}

/* ---- the file check ---------------------------------------------------- */

/* Buffered reads for the file check: one syscall per MiB, not two per
 * record. */
static int
stdio_read(void *ctx, void *p, size_t n)
{
	FILE *f = ctx;
	if (fread(p, 1, n, f) == n)
		return 0;
	return ferror(f) ? (errno ? -errno : -EIO) : AVA_ECLOSED;
}

static void
tally(struct ava_img_summary *sum, const struct ava_img_rec *rec)
{
	switch (rec->type) {
	case AVA_IMG_HEADER:
		sum->header = rec->u.header;
		sum->header.source = NULL;
		sum->header.device = NULL;
		sum->header.threads = NULL;
		break;
	case AVA_IMG_CALL:
		sum->calls++;
		break;
	case AVA_IMG_OBJECT:
		sum->objects++;
		sum->live_objects += !!(rec->u.object.flags & AVA_IMG_OBJ_LIVE);
		break;
	case AVA_IMG_STATE:
		sum->states++;
		sum->state_bytes += rec->u.state.len;
		break;
	case AVA_IMG_DROP:
		sum->drops++;
		break;
	default:
		break;
	}
}

static int
check_stream(FILE *f, struct ava_img_summary *sum, char *why, size_t nwhy)
{
	struct ava_img_reader *r;
	struct ava_img_rec rec;
	int e = reader_open(stdio_read, f, &r, why, nwhy);
	if (e != 0)
		return e;
	while ((e = ava_img_read(r, &rec)) == 1)
		tally(sum, &rec);
	if (e == 0)   /* END: check that nothing follows it */
		e = ava_img_read(r, &rec);
	if (e != 0)
		snprintf(why, nwhy, "%s", ava_img_reader_why(r));
	sum->file_bytes = ava_img_reader_bytes(r);
	ava_img_reader_destroy(r);
	return e;
}

int
ava_img_check_file(const char *path, struct ava_img_summary *sum,
		   char *why, size_t nwhy)
{
	struct ava_img_summary dummy;
	char msg[256] = "";
	struct stat st;
	if (sum == NULL)
		sum = &dummy;
	memset(sum, 0, sizeof(*sum));
	FILE *f = fopen(path, "rbe");
	int e = f == NULL ? -errno : 0;
	if (e == 0 && fstat(fileno(f), &st) != 0)
		e = -errno;
	if (e == 0 && S_ISDIR(st.st_mode))
		e = -EISDIR;
	if (e != 0)
		snprintf(msg, sizeof(msg), "cannot read it: %s",
			 ava_strerror(e));
	else
		e = check_stream(f, sum, msg, sizeof(msg));
	if (f != NULL)
		fclose(f);
	if (e != 0 && why != NULL)
		snprintf(why, nwhy, "%s: %s", path, msg);
	return e;
}
