/*
 * auth.h: who is calling. Bearer JWTs verified with libjwt: HS256 with JWT_SECRET, or RS256
 * with the public key in JWT_PUBLIC_KEY_FILE (when both are set, RS256 wins). `exp` is
 * required and enforced; `iss` and `aud` are checked when configured. Claims: `sub`, `role`,
 * and `org` (a 24-hex organization id) for every role except platform_admin.
 *
 * Verification runs on the loop thread: an HS256 check costs about 4 us. For RS256 the public
 * key is parsed once at start and the signature checked with OpenSSL directly (libjwt 1.10
 * would parse the PEM on every call, about 270 us); libjwt then only decodes the claims.
 */
#ifndef ENTERPRISED_AUTH_H
#define ENTERPRISED_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum auth_role {
	AUTH_ROLE_PLATFORM_ADMIN,
	AUTH_ROLE_ORG_ADMIN,
	AUTH_ROLE_CLINIC_MANAGER,
	AUTH_ROLE_PROVIDER,
};

struct auth_principal {
	enum auth_role role;
	char sub[128];
	char org[25];	     /* 24 hex digits, "" for platform_admin */
	uint64_t expires_s; /* the token's exp */
};

struct auth;

/* Loads the verification key. NULL with err when the key file cannot be used; a config
 * without any key gives a verifier that refuses every token ("authentication is not
 * configured"). */
struct auth *auth_new(const struct config *c, char *err, size_t errlen);
void auth_free(struct auth *a);

/*
 * Verifies an Authorization header value ("Bearer <jwt>") at now_s (seconds since the epoch).
 * Returns 0 and fills p, or -1 with a short reason in err (missing, malformed, bad signature,
 * wrong algorithm: "alg" not exactly the configured name (RFC 7515 section 4.1.1),
 * unsupported critical header: any "crit" (section 4.1.11), expired or not yet valid beyond
 * the configured leeway (RFC 7519 sections 4.1.4-4.1.5), wrong issuer, wrong audience,
 * unknown role, missing org).
 */
int auth_verify(const struct auth *a, const char *header, size_t len, uint64_t now_s,
		struct auth_principal *p, char *err, size_t errlen);

/*
 * A worker's memo of tokens it verified recently (loop thread only, no lock): a token seen
 * again is answered from the memo until its exp, without the signature check. Direct-mapped,
 * keyed by the whole Authorization value (compared byte for byte, not only by hash).
 */
struct auth_memo;
struct auth_memo *auth_memo_new(void);
void auth_memo_free(struct auth_memo *m);
/* 1 and *p filled when header is in the memo and unexpired at now_s; 0 otherwise. */
int auth_memo_get(struct auth_memo *m, const char *header, size_t len, uint64_t now_s,
		  struct auth_principal *p);
void auth_memo_put(struct auth_memo *m, const char *header, size_t len,
		   const struct auth_principal *p);
/*
 * The one way a worker checks a request's token: from memo m when it knows the header, else
 * auth_verify (a NULL: "authentication is not configured") and, when valid, into m (m may be
 * NULL). 0 with *p filled, or -1 with the reason in err.
 */
int auth_check(const struct auth *a, struct auth_memo *m, const char *header, size_t len,
	       uint64_t now_s, struct auth_principal *p, char *err, size_t errlen);

const char *auth_role_name(enum auth_role r);
/* 0 and *out set, or -1 for an unknown role name. */
int auth_role_parse(const char *name, enum auth_role *out);

/*
 * Makes an HS256 token (for tools/dev token and the tests). org may be NULL. Returns a
 * malloc'd string, or NULL. exp = now_s + ttl_s.
 */
char *auth_token_hs256(const char *secret, const char *sub, const char *role, const char *org,
		       const char *issuer, const char *audience, uint64_t now_s, uint64_t ttl_s);

#endif
