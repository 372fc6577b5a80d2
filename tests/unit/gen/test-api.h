/*
 * test-api.h - a small API for ava-gen's golden tests: one function per
 * kind of argument the spec language describes.
 */
#ifndef TEST_API_H
#define TEST_API_H

#include <stddef.h>
#include <stdint.h>

typedef int32_t tst_int;
typedef uint32_t tst_uint;
typedef uint64_t tst_flags;
typedef tst_uint tst_info;
typedef intptr_t tst_prop;
typedef struct _tst_dev *tst_dev;
typedef struct _tst_ctx *tst_ctx;
typedef struct _tst_buf *tst_buf;

/* Error Codes */
#define TST_SUCCESS 0
#define TST_ERR_HOST -1
#define TST_ERR_UNSUPPORTED -2
#define TST_ERR_DEV -3
#define TST_ERR_CTX -4
#define TST_ERR_BUF -5

/* tst_flags - bitfield */
#define TST_COPY (1 << 0)
#define TST_ZERO (1 << 1)

/* tst_info */
#define TST_INFO_NAME 0x10
#define TST_INFO_CTX 0x11
#define TST_INFO_PROPS 0x12

/* properties */
#define TST_PROP_DEV 0x100

#define TST_VERSION_STRING "1.0"

tst_int tstGetDevices(tst_uint num_entries, tst_dev *devices,
		      tst_uint *num_devices);
tst_int tstGetInfo(tst_dev dev, tst_info name, size_t size, void *value,
		   size_t *size_ret);
tst_ctx tstCreateContext(const tst_prop *props, tst_uint ndev,
			 const tst_dev *devs,
			 void (*notify)(const char *msg, void *user),
			 void *user, tst_int *err);
tst_int tstRelease(tst_ctx ctx);
tst_buf tstCreateBuffer(tst_ctx ctx, tst_flags flags, size_t size,
			void *host, tst_int *err);
tst_int tstWrite(tst_buf buf, size_t offset, size_t size, const void *ptr,
		 tst_int blocking);
tst_int tstSetArg(tst_ctx ctx, tst_uint index, size_t size,
		  const void *value);
tst_int tstBuild(tst_ctx ctx, tst_uint count, const char **srcs,
		 const size_t *lengths, const char *options);
void *tstMap(tst_buf buf, size_t size, tst_int *err);
void tstFinish(void);
tst_int tstLog(const char *fmt, ...);
float tstScale(float x);
void *tstGetProc(const char *name);
tst_int tstDebug(tst_ctx ctx, tst_uint level, tst_dev devs[]);
void *tstMapRange(tst_buf buf, size_t offset, size_t size, tst_int *err);

#endif
