/* tls.c: the service's TLS server context (see tls.h). */
#include "tls.h"

#include <stdio.h>

#include <h2o.h>
#include <openssl/err.h>

#include "config.h"

static void
tls_error(char *err, size_t errlen, const char *what, const char *path)
{
	char reason[256];
	unsigned long e = ERR_peek_last_error();

	ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	snprintf(err, errlen, "%s %s: %s", what, path, e != 0 ? reason : "unusable");
}

/*
 * TLS 1.2 and 1.3 with AEAD suites and forward secrecy only, as Kore does (Mozilla's
 * "intermediate" list; RFC 9325 section 4.2): ECDHE with AES-GCM or ChaCha20-Poly1305. No
 * CBC suite, no static RSA key exchange, no TLS 1.1 or older. TLS 1.3 suites are all AEAD.
 */
#define TLS_TLS12_CIPHERS                                                                          \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_GROUPS "X25519:P-256:P-384"

/*
 * Session tickets are off (SSL_OP_NO_TICKET). The master makes this SSL_CTX before fork, so
 * OpenSSL's ticket key would be one key shared by every worker and never rotated: whoever
 * reads it once decrypts every resumed session's secrets, past and future. Rotating keys
 * across workers would need them in the shared region; a resumption saves one round trip and
 * one ECDHE on reconnect, which keep-alive mostly avoids. Session ids stay: each worker
 * resumes from its own in-memory cache, so nothing secret is shared. docs/DECISIONS.md.
 *
 * Takes the certificate and key files of c (the key only when with_key); returns the context
 * (the caller frees it), or NULL with "what PATH: reason" in err.
 */
SSL_CTX *
tls_new(const struct config *c, int with_key, char *err, size_t errlen)
{
	/* HTTP/2 stays opt-in: Debian's h2o 2.2.5 has no fix for Rapid Reset (CVE-2023-44487) */
	static const h2o_iovec_t alpn_h1[] = {{H2O_STRLIT("http/1.1")}, {NULL, 0}};
	static const h2o_iovec_t alpn_h2[] = {
	    {H2O_STRLIT("h2")}, {H2O_STRLIT("http/1.1")}, {NULL, 0}};
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_error(err, errlen, "SSL_CTX_new", "");
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS_TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1) {
		tls_error(err, errlen, "TLS settings", "");
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
				     SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
	if (SSL_CTX_use_certificate_chain_file(ctx, c->certfile) != 1) {
		tls_error(err, errlen, "certfile", c->certfile);
		goto fail;
	}
	/* with the keymgr, this process never reads the key: the keymgr does (keymgr.c) */
	if (!with_key)
		goto done;
	if (SSL_CTX_use_PrivateKey_file(ctx, c->certkey, SSL_FILETYPE_PEM) != 1) {
		tls_error(err, errlen, "certkey", c->certkey);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_error(err, errlen, "certkey", c->certkey);
		goto fail;
	}
done:
	h2o_ssl_register_alpn_protocols(ctx, c->http2 ? alpn_h2 : alpn_h1);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}
