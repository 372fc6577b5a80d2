/*
 * util.h - small helpers shared by the stages of ava-gen: growable
 * strings and pointer vectors, checked allocation, and writing a file only
 * when its content changes.
 *
 * ava-gen is a short-lived build tool: allocation failure aborts with a
 * message instead of threading ENOMEM through every stage.
 */
#ifndef AVA_GEN_UTIL_H
#define AVA_GEN_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AVA_GEN_VERSION "0.1.0"

struct ava_str {
	char *data;      /* always NUL-terminated once anything was added */
	size_t len;
	size_t cap;
};

struct ava_vec {
	void **items;
	size_t n;
	size_t cap;
};

void *
xmalloc(size_t n);
void *
xcalloc(size_t n, size_t size);
void *
xrealloc(void *p, size_t n);
char *
xstrdup(const char *s);
char *
xstrndup(const char *s, size_t n);
char *
xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void
ava_str_add(struct ava_str *s, const char *text);
void
ava_str_addn(struct ava_str *s, const char *text, size_t n);
void
ava_str_printf(struct ava_str *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void
ava_str_vprintf(struct ava_str *s, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Returns the text (never NULL) and leaves `s` empty; the caller frees. */
char *
ava_str_take(struct ava_str *s);
void
ava_str_finish(struct ava_str *s);

void
ava_vec_push(struct ava_vec *v, void *item);
void
ava_vec_finish(struct ava_vec *v);

/* 32-bit FNV-1a, used for the spec hash. */
uint32_t
ava_fnv1a(const char *data, size_t len);

/*
 * Write `len` bytes to `path` unless the file already holds exactly them,
 * so that an unchanged output keeps its mtime and ninja rebuilds nothing.
 * Returns 0 or a negative errno.
 */
int
ava_write_if_changed(const char *path, const char *data, size_t len);

/* Read a whole file; returns NULL (errno set) on failure. */
char *
ava_read_file(const char *path, size_t *len);

#endif
