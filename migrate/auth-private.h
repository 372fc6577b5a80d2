/*
 * auth-private.h - a hook for tests of auth.c, not for callers: they use
 * auth.h.
 */
#ifndef AVA_AUTH_PRIVATE_H
#define AVA_AUTH_PRIVATE_H

/*
 * Load soname in place of libcrypto.so.3, to see what a host without
 * OpenSSL 3 gets. Call it before the first secret is loaded or used: the
 * library is loaded once per process, and the name is read then. soname
 * is borrowed and must stay valid until then. Not thread-safe.
 */
void
ava_auth_libcrypto_set_name(const char *soname);

#endif
