/*
 * image-private.h - what the checkpoint image's writer (image.c) and
 * reader (image-read.c) share: the magic, the body sizes, byte order, and
 * the field rules that both enforce, so that the writer never writes what
 * the reader would refuse. See doc/checkpoint-format.md.
 */
#ifndef AVA_IMAGE_PRIVATE_H
#define AVA_IMAGE_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "ava-error.h"
#include "image.h"

static const uint8_t img_magic[8] = { 'A', 'V', 'A', 'I', 'M', 'G', '\r',
				      '\n' };

/* Body sizes (doc/checkpoint-format.md). */
#define HEADER_FIXED 56        /* the fields before the two texts */
#define HEADER_MIN (HEADER_FIXED + 8)
#define THREAD_SIZE 16
#define CALL_FIXED 24          /* seq, thread, fn, call_len */
#define CALL_MIN (CALL_FIXED + 8)
#define OBJECT_SIZE 40
#define STATE_FIXED 24
#define DROP_SIZE 8
#define END_SIZE 16

#define OBJ_KNOWN_FLAGS (AVA_IMG_OBJ_LIVE | AVA_IMG_OBJ_STATE | \
			 AVA_IMG_OBJ_SUBSTITUTE)

static inline void
put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t
get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static inline bool
all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* The padded length of n bytes; n is at most AVA_IMG_RECORD_MAX here. */
static inline uint64_t
pad8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

/*
 * OBJECT field rules, shared by the writer (which refuses to write what
 * the reader would refuse) and the reader. Returns 0 or AVA_EPROTO with
 * the reason in *what.
 */
static inline int
object_check(const struct ava_img_object *o, const char **what)
{
	if (o->id == 0)
		*what = "object id 0";
	else if (o->flags & ~(uint32_t)OBJ_KNOWN_FLAGS)
		*what = "unknown object flags";
	else if (!(o->flags & AVA_IMG_OBJ_LIVE) && o->refs != 0)
		*what = "references on an object that is not LIVE";
	else if (!(o->flags & AVA_IMG_OBJ_STATE) && o->size != 0)
		*what = "a size on an object without STATE";
	else if (!(o->flags & AVA_IMG_OBJ_SUBSTITUTE) && o->parent != 0)
		*what = "a parent on an object that is not a SUBSTITUTE";
	else
		return 0;
	return AVA_EPROTO;
}

/* STATE rules: offset + len <= total, without overflow. */
static inline bool
state_fits(uint64_t offset, uint64_t len, uint64_t total)
{
	return offset <= total && len <= total - offset;
}

#endif
