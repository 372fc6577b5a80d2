#include <string.h>

#include "ava-error.h"

const char *
ava_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case AVA_EPROTO: return "malformed message";
	case AVA_EVERSION: return "version mismatch";
	case AVA_ETOOBIG: return "length exceeds its bound";
	case AVA_ENOFN: return "unknown function";
	case AVA_EHANDLE: return "invalid handle";
	case AVA_ECLOSED: return "connection closed by peer";
	case AVA_EDEAD: return "unusable after an earlier fatal error";
	case AVA_EADDR: return "malformed address";
	case AVA_ECORRUPT: return "data is corrupt";
	case AVA_EAUTH: return "authentication failed";
	case AVA_EQUOTA: return "quota exceeded";
	case AVA_ESPEC: return "guest and server specs differ";
	case AVA_ENOTSUP: return "not supported yet";
	case AVA_ESHM: return "peer broke the shared-memory transport's rules";
	}
	if (err < 0 && err > -4096)
		return strerror(-err);
	return "unknown error";
}
