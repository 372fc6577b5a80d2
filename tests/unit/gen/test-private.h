/*
 * test-private.h - the golden spec's private_header: entry points of the
 * remoting layer itself, which guest hooks call and the server implements.
 */
#ifndef TEST_PRIVATE_H
#define TEST_PRIVATE_H

#include "test-api.h"

tst_int tstPrivRead(tst_buf buf, size_t offset, size_t size, void *data);

#endif
