/*
 * test-ext.h - the golden spec's extension_header: optional entry points,
 * of which the spec forwards those it names.
 */
#ifndef TEST_EXT_H
#define TEST_EXT_H

#include "test-api.h"

tst_int tstExtScale(tst_buf buf, tst_uint factor, tst_int *err);
tst_buf tstExtClone(tst_buf buf, tst_int *err);
tst_int tstExtUnforwarded(tst_buf buf);

#endif
