/*
 * mtest.h - helpers shared by the migrate tests: checks, a seeded
 * generator, in-memory image sinks and sources, temporary directories.
 *
 * Exit codes follow the house convention: 0 pass, 77 skip, 99 hard error.
 * A failed CHECK prints file:line and the expression and exits 1.
 */
#ifndef AVA_MTEST_H
#define AVA_MTEST_H

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ava-error.h"
#include "image.h"

#define CHECK(x)                                                         \
	do {                                                             \
		if (!(x)) {                                              \
			fprintf(stderr, "%s:%d: check failed: %s\n",     \
				__FILE__, __LINE__, #x);                 \
			exit(1);                                         \
		}                                                        \
	} while (0)

#define CHECK_RC(x, want)                                                \
	do {                                                             \
		int rc_ = (x);                                           \
		if (rc_ != (want)) {                                     \
			fprintf(stderr, "%s:%d: %s = %d (%s), want %d "  \
				"(%s)\n", __FILE__, __LINE__, #x, rc_,   \
				ava_strerror(rc_), (int)(want),          \
				ava_strerror(want));                     \
			exit(1);                                         \
		}                                                        \
	} while (0)

/* s contains sub, or the test fails showing both. */
#define CHECK_HAS(s, sub)                                                \
	do {                                                             \
		const char *s_ = (s), *sub_ = (sub);                     \
		if (strstr(s_, sub_) == NULL) {                          \
			fprintf(stderr, "%s:%d: \"%s\" lacks \"%s\"\n",  \
				__FILE__, __LINE__, s_, sub_);           \
			exit(1);                                         \
		}                                                        \
	} while (0)

#define RUN(t) do { t(); printf("ok - %s\n", #t); fflush(stdout); } while (0)

static inline uint64_t
mt_rand(uint64_t *s)
{
	/* splitmix64: deterministic, seedable */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline void
mt_fill(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	uint64_t s = seed;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t r = mt_rand(&s);
		memcpy(p + i, &r, len - i < 8 ? len - i : 8);
	}
}

/* An image written to memory. */
struct mt_sink {
	uint8_t *p;
	size_t len, cap;
	size_t writes;
	size_t fail_after;   /* fail writes once len would pass it (0: never) */
};

static inline int
mt_sink_write(void *ctx, const void *p, size_t n)
{
	struct mt_sink *s = ctx;
	if (s->fail_after != 0 && s->len + n > s->fail_after)
		return -ENOSPC;
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n)
			cap *= 2;
		uint8_t *np = realloc(s->p, cap);
		CHECK(np != NULL);
		s->p = np;
		s->cap = cap;
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
	s->writes++;
	return 0;
}

/* An image read from memory: AVA_ECLOSED where the bytes run out. */
struct mt_src {
	const uint8_t *p;
	size_t len, pos;
};

static inline int
mt_src_read(void *ctx, void *p, size_t n)
{
	struct mt_src *s = ctx;
	if (n > s->len - s->pos) {
		s->pos = s->len;
		return AVA_ECLOSED;
	}
	memcpy(p, s->p + s->pos, n);
	s->pos += n;
	return 0;
}

/* A fresh directory under $TMPDIR (or /tmp). */
static inline char *
mt_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *path = malloc(4096);
	CHECK(path != NULL);
	snprintf(path, 4096, "%s/ava-mt-%s-XXXXXX", base ? base : "/tmp",
		 tag);
	CHECK(mkdtemp(path) != NULL);
	return path;
}

#endif
