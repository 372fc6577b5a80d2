/*
 * rt-test.h - the few checks the runtime tests need. A failed check
 * prints where and what, and fails the test (exit 1).
 */
#ifndef AVA_RT_TEST_H
#define AVA_RT_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(c) do { \
	if (!(c)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
			__LINE__, #c); \
		exit(1); \
	} \
} while (0)

#define CHECK_EQ(a, b) do { \
	int64_t a_ = (int64_t)(a), b_ = (int64_t)(b); \
	if (a_ != b_) { \
		fprintf(stderr, "%s:%d: %s == %" PRId64 ", expected %s == %" \
			PRId64 "\n", __FILE__, __LINE__, #a, a_, #b, b_); \
		exit(1); \
	} \
} while (0)

#define RUN(t) do { t(); printf("ok - %s\n", #t); } while (0)

#endif
