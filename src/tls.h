/*
 * tls.h: the service's TLS server context (RFC 8446, RFC 5246 with RFC 9325's recommendations).
 */
#ifndef ENTERPRISED_TLS_H
#define ENTERPRISED_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

struct config;

/*
 * The one SSL_CTX of the service, made by the master before fork (the certificate is read
 * once, by the master). Takes the certfile of c, and its certkey when with_key (keymgr off, or
 * `-t`; with the keymgr on the key is only ever read by the keymgr, keymgr.h); returns the
 * context (the caller frees it with SSL_CTX_free), or NULL with "what PATH: reason" in err.
 * Policy and the reasons for it: tls.c, docs/DECISIONS.md "TLS suites and session tickets".
 */
SSL_CTX *tls_new(const struct config *c, int with_key, char *err, size_t errlen);

#endif
