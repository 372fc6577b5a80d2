/*
 * util.c - allocation, strings, vectors and file output for ava-gen.
 */
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
oom(void)
{
	fputs("ava-gen: error: out of memory\n", stderr);
	exit(1);
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		oom();
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		oom();
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		oom();
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	struct ava_str s = { 0 };
	va_list ap;
	va_start(ap, fmt);
	ava_str_vprintf(&s, fmt, ap);
	va_end(ap);
	return ava_str_take(&s);
}

static void
reserve(struct ava_str *s, size_t extra)
{
	if (s->len + extra + 1 <= s->cap)
		return;
	size_t cap = s->cap ? s->cap : 256;
	while (cap < s->len + extra + 1)
		cap *= 2;
	s->data = xrealloc(s->data, cap);
	s->cap = cap;
}

void
ava_str_addn(struct ava_str *s, const char *text, size_t n)
{
	reserve(s, n);
	memcpy(s->data + s->len, text, n);
	s->len += n;
	s->data[s->len] = '\0';
}

void
ava_str_add(struct ava_str *s, const char *text)
{
	ava_str_addn(s, text, strlen(text));
}

void
ava_str_vprintf(struct ava_str *s, const char *fmt, va_list ap)
{
	/* Most pieces are short: format once into a stack buffer. */
	char small[256];
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(small, sizeof(small), fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		ava_str_addn(s, small, (size_t)n);
		return;
	}
	reserve(s, (size_t)n);
	vsnprintf(s->data + s->len, (size_t)n + 1, fmt, ap);
	s->len += (size_t)n;
}

void
ava_str_printf(struct ava_str *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ava_str_vprintf(s, fmt, ap);
	va_end(ap);
}

char *
ava_str_take(struct ava_str *s)
{
	char *p = s->data ? s->data : xstrdup("");
	s->data = NULL;
	s->len = s->cap = 0;
	return p;
}

void
ava_str_finish(struct ava_str *s)
{
	free(s->data);
	s->data = NULL;
	s->len = s->cap = 0;
}

void
ava_vec_push(struct ava_vec *v, void *item)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 8;
		v->items = xrealloc(v->items, v->cap * sizeof(*v->items));
	}
	v->items[v->n++] = item;
}

void
ava_vec_finish(struct ava_vec *v)
{
	free(v->items);
	v->items = NULL;
	v->n = v->cap = 0;
}

uint32_t
ava_fnv1a(const char *data, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)data[i];
		h *= 16777619u;
	}
	return h;
}

char *
ava_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct ava_str s = { 0 };
	char buf[8192];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		ava_str_addn(&s, buf, n);
	int err = ferror(f);
	fclose(f);
	if (err) {
		ava_str_finish(&s);
		errno = EIO;
		return NULL;
	}
	if (len != NULL)
		*len = s.len;
	return ava_str_take(&s);
}

int
ava_write_if_changed(const char *path, const char *data, size_t len)
{
	size_t old_len;
	char *old = ava_read_file(path, &old_len);
	bool same = old != NULL && old_len == len && memcmp(old, data, len) == 0;
	free(old);
	if (same)
		return 0;

	/* Write beside the target and rename, so a reader never sees half. */
	char *tmp = xasprintf("%s.tmp", path);
	int ret = 0;
	FILE *f = fopen(tmp, "wb");
	if (f == NULL) {
		ret = -errno;
		goto err_free;
	}
	if (fwrite(data, 1, len, f) != len)
		ret = -EIO;
	if (fclose(f) != 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, path) != 0)
		ret = -errno;
	if (ret != 0)
		remove(tmp);
err_free:
	free(tmp);
	return ret;
}
