/*
 * ava-error.h - ava's own error codes.
 *
 * Functions return 0 on success, a negative errno value, or a negative
 * AVA_E* code. They never set errno. ava_strerror() names every code.
 */
#ifndef AVA_ERROR_H
#define AVA_ERROR_H

enum ava_error {
	AVA_EPROTO = -1000,   /* malformed frame or payload */
	AVA_EVERSION = -1001, /* protocol, spec or format version mismatch */
	AVA_ETOOBIG = -1002,  /* a length exceeds its bound */
	AVA_ENOFN = -1003,    /* unknown or retired function id */
	AVA_EHANDLE = -1004,  /* forged, stale or foreign handle id */
	AVA_ECLOSED = -1005,  /* peer closed the connection */
	AVA_EDEAD = -1006,    /* object unusable after an earlier fatal error */
	AVA_EADDR = -1007,    /* malformed transport address */
	AVA_ECORRUPT = -1008, /* checksum or structure check failed on disk */
	AVA_EAUTH = -1009,    /* peer failed authentication */
	AVA_EQUOTA = -1010,   /* a per-guest quota would be exceeded */
	AVA_ESPEC = -1011,    /* guest and server were built from different specs */
	AVA_ENOTSUP = -1012,  /* recognised but not supported yet (e.g. tcp:) */
	AVA_ESHM = -1013,     /* peer broke the shm: transport's shared region */
};

/*
 * Name an error code: a negative errno or an AVA_E* code. Returns a static
 * string; never NULL.
 */
const char *
ava_strerror(int err);

#endif
