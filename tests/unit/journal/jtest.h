/*
 * jtest.h - helpers shared by the journal tests.
 *
 * Exit codes follow the house convention: 0 pass, 77 skip, 99 hard error.
 * A failed CHECK prints file:line and the expression and exits 1.
 */
#ifndef AVA_JTEST_H
#define AVA_JTEST_H

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"

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
			fprintf(stderr, "%s:%d: %s = %d (%s), want %d\n",\
				__FILE__, __LINE__, #x, rc_,             \
				ava_strerror(rc_), (int)(want));         \
			exit(1);                                         \
		}                                                        \
	} while (0)

static inline uint64_t
jt_rand(uint64_t *s)
{
	/* splitmix64: deterministic, seedable, fast */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline void
jt_fill(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	uint64_t s = seed;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t r = jt_rand(&s);
		memcpy(p + i, &r, len - i < 8 ? len - i : 8);
	}
}

/* A fresh directory under $TMPDIR (or /tmp), removed by jt_rmrf. */
static inline char *
jt_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *path = malloc(4096);
	CHECK(path != NULL);
	snprintf(path, 4096, "%s/ava-jt-%s-XXXXXX", base ? base : "/tmp",
		 tag);
	CHECK(mkdtemp(path) != NULL);
	return path;
}

static inline void
jt_rmrf(const char *path)
{
	DIR *d = opendir(path);
	if (d == NULL) {
		unlink(path);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *child;
		if (asprintf(&child, "%s/%s", path, de->d_name) < 0)
			continue;
		jt_rmrf(child);
		free(child);
	}
	closedir(d);
	rmdir(path);
}

/* Bytes of the journal on disk: data.mdb plus every segment file. */
static inline uint64_t
jt_disk_bytes(const char *dir, uint64_t *seg_bytes, unsigned *nseg)
{
	char path[4096];
	struct stat st;
	uint64_t total = 0, segs = 0;
	unsigned n = 0;
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if (stat(path, &st) == 0)
		total += (uint64_t)st.st_size;
	snprintf(path, sizeof(path), "%s/blobs", dir);
	DIR *d = opendir(path);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		char f[4400];
		snprintf(f, sizeof(f), "%s/%s", path, de->d_name);
		if (de->d_name[0] != '.' && stat(f, &st) == 0) {
			segs += (uint64_t)st.st_size;
			n++;
		}
	}
	if (d)
		closedir(d);
	if (seg_bytes)
		*seg_bytes = segs;
	if (nseg)
		*nseg = n;
	return total + segs;
}

static inline void
jt_quiet_log(void *data, const char *line)
{
	(void)data;
	(void)line;
}

#endif
