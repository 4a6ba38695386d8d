/*
 * auth.c: bearer token verification (see auth.h).
 *
 * libjwt 1.10 does the base64url, JSON and signature work; this file decides what a valid
 * token is. libjwt trusts the token's own "alg" header when it verifies, so a token that
 * says HS256 is checked as an HMAC with whatever key we hand over, even an RSA public key
 * that anyone can read. The algorithm is therefore fixed by the configuration and checked
 * after every decode: a token in any other algorithm (including "none") is refused.
 * libjwt also reads "alg" case-insensitively ("hs256" passes as HS256) and ignores "crit",
 * so both are checked here against the header's own text: "alg" must be exactly the
 * configured name (RFC 7515 section 4.1.1: a case-sensitive string), and a token with "crit"
 * is refused, since this verifier understands no extension (RFC 7515 section 4.1.11).
 *
 * exp and nbf allow a configured clock skew (jwt_leeway, RFC 7519 sections 4.1.4 and 4.1.5:
 * "some small leeway, usually no more than a few minutes").
 *
 * struct auth is built once and never written afterwards, so every worker's loop thread
 * can verify with the same instance; every decode gets its own jwt_t.
 */
#include "auth.h"

#include <bson/bson.h>
#include <errno.h>
#include <limits.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hash.h"

/* Longer tokens are refused before any parsing. */
#define AUTH_TOKEN_MAX 8192
/* A PEM public key is a few hundred bytes; a larger file is not one. */
#define AUTH_KEY_FILE_MAX (64 * 1024)

struct auth {
	jwt_alg_t alg;	    /* JWT_ALG_HS256 or JWT_ALG_RS256; JWT_ALG_NONE: not configured */
	unsigned char *key; /* HS256 secret or RS256 PEM public key */
	size_t keylen;
	char issuer[256];   /* "" when not checked */
	char audience[256]; /* "" when not checked */
	uint64_t leeway_s;  /* clock skew allowed on exp and nbf */
	EVP_PKEY *pkey;	    /* RS256: the key parsed once (libjwt would parse the PEM per call) */
};

static const char *const auth_role_names[] = {
    [AUTH_ROLE_PLATFORM_ADMIN] = "platform_admin",
    [AUTH_ROLE_ORG_ADMIN] = "org_admin",
    [AUTH_ROLE_CLINIC_MANAGER] = "clinic_manager",
    [AUTH_ROLE_PROVIDER] = "provider",
};

#define AUTH_NROLES (sizeof(auth_role_names) / sizeof(auth_role_names[0]))

static int
auth_fail(char *err, size_t errlen, const char *reason)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", reason);
	return -1;
}

const char *
auth_role_name(enum auth_role r)
{
	if ((size_t)r >= AUTH_NROLES)
		return "unknown";
	return auth_role_names[r];
}

int
auth_role_parse(const char *name, enum auth_role *out)
{
	size_t i;

	if (name == NULL)
		return -1;
	for (i = 0; i < AUTH_NROLES; i++) {
		if (strcmp(name, auth_role_names[i]) == 0) {
			*out = (enum auth_role)i;
			return 0;
		}
	}
	return -1;
}

/* Reads the whole key file into a->key; the PEM must hold an RSA public key. */
static int
auth_load_public_key(struct auth *a, const char *path, char *err, size_t errlen)
{
	FILE *f;
	size_t n;
	BIO *bio;
	EVP_PKEY *pkey;
	int ok;

	if ((f = fopen(path, "rb")) == NULL) {
		snprintf(err, errlen, "jwt_public_key_file %s: %s", path, strerror(errno));
		return -1;
	}
	if ((a->key = malloc(AUTH_KEY_FILE_MAX + 1)) == NULL) {
		fclose(f);
		snprintf(err, errlen, "jwt_public_key_file %s: out of memory", path);
		return -1;
	}
	n = fread(a->key, 1, AUTH_KEY_FILE_MAX + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "jwt_public_key_file %s: %s", path, strerror(errno));
		fclose(f);
		return -1;
	}
	fclose(f);
	if (n > AUTH_KEY_FILE_MAX) {
		snprintf(err, errlen, "jwt_public_key_file %s: larger than %d bytes", path,
			 AUTH_KEY_FILE_MAX);
		return -1;
	}
	a->key[n] = '\0';
	a->keylen = n;

	/* Checked here so that a wrong file fails at start, not as 401s on every request. */
	ok = 0;
	if ((bio = BIO_new_mem_buf(a->key, (int)n)) != NULL) {
		if ((pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) != NULL) {
			ok = EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA;
			if (ok)
				a->pkey = pkey;
			else
				EVP_PKEY_free(pkey);
		}
		BIO_free(bio);
	}
	if (!ok) {
		snprintf(err, errlen, "jwt_public_key_file %s: not a PEM RSA public key", path);
		return -1;
	}
	return 0;
}

struct auth *
auth_new(const struct config *c, char *err, size_t errlen)
{
	struct auth *a;
	size_t n;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(a->issuer, sizeof(a->issuer), "%s", c->jwt_issuer);
	snprintf(a->audience, sizeof(a->audience), "%s", c->jwt_audience);
	a->leeway_s = c->jwt_leeway_s > 0 ? (uint64_t)c->jwt_leeway_s : 0;

	if (c->jwt_public_key_file[0] != '\0') {
		a->alg = JWT_ALG_RS256;
		if (auth_load_public_key(a, c->jwt_public_key_file, err, errlen) == -1) {
			auth_free(a);
			return NULL;
		}
	} else if (c->jwt_secret[0] != '\0') {
		a->alg = JWT_ALG_HS256;
		n = strlen(c->jwt_secret);
		if ((a->key = malloc(n + 1)) == NULL) {
			auth_free(a);
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		memcpy(a->key, c->jwt_secret, n + 1);
		a->keylen = n;
	} else {
		a->alg = JWT_ALG_NONE;
	}
	return a;
}

void
auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	EVP_PKEY_free(a->pkey);
	if (a->key != NULL) {
		/* The secret should not outlive its use in freed heap memory. */
		OPENSSL_cleanse(a->key, a->keylen);
		free(a->key);
	}
	free(a);
}

static int
auth_is_b64url(int ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '_';
}

/* 1 when tok has the shape of a JWS: three non-empty base64url parts (no padding). */
static int
auth_token_shape_ok(const char *tok, size_t len)
{
	size_t i, part_len;
	int dots;

	dots = 0;
	part_len = 0;
	for (i = 0; i < len; i++) {
		if (tok[i] == '.') {
			if (part_len == 0 || ++dots > 2)
				return 0;
			part_len = 0;
		} else if (auth_is_b64url((unsigned char)tok[i])) {
			part_len++;
		} else {
			return 0;
		}
	}
	return dots == 2 && part_len > 0;
}

/*
 * Reads an integer claim. 1 and *out set when present and an integer, 0 when absent, -1 when
 * present but not an integer. jwt_get_grant_int answers 0 without an error for a string or a
 * float, so a 0 is confirmed against the claim's JSON text.
 */
static int
auth_grant_int(jwt_t *jwt, const char *name, long *out)
{
	char *json;
	int is_zero;

	errno = 0;
	*out = jwt_get_grant_int(jwt, name);
	if (errno == ENOENT)
		return 0;
	if (errno != 0)
		return -1;
	if (*out != 0)
		return 1;
	if ((json = jwt_get_grants_json(jwt, name)) == NULL)
		return -1;
	is_zero = strcmp(json, "0") == 0;
	free(json);
	return is_zero ? 1 : -1;
}

/* 1 when the aud claim is the expected audience or an array that contains it. */
static int
auth_audience_ok(jwt_t *jwt, const char *want)
{
	const char *aud;
	char *json, *doc;
	bson_t *b;
	bson_iter_t it, arr;
	int found;
	size_t n;

	if ((aud = jwt_get_grant(jwt, "aud")) != NULL)
		return strcmp(aud, want) == 0;
	/* Not a string: perhaps an array. libjwt only hands it out as JSON text. */
	if ((json = jwt_get_grants_json(jwt, "aud")) == NULL)
		return 0;
	found = 0;
	n = strlen(json);
	if (json[0] == '[' && (doc = malloc(n + 8)) != NULL) {
		/* libbson parses documents, so the array is wrapped in one. */
		snprintf(doc, n + 8, "{\"a\":%s}", json);
		if ((b = bson_new_from_json((const uint8_t *)doc, -1, NULL)) != NULL) {
			if (bson_iter_init_find(&it, b, "a") && BSON_ITER_HOLDS_ARRAY(&it) &&
			    bson_iter_recurse(&it, &arr)) {
				while (!found && bson_iter_next(&arr)) {
					if (BSON_ITER_HOLDS_UTF8(&arr) &&
					    strcmp(bson_iter_utf8(&arr, NULL), want) == 0)
						found = 1;
				}
			}
			bson_destroy(b);
		}
		free(doc);
	}
	free(json);
	return found;
}

/* Copies a 24-hex organization id, lower-cased, into out[25]. -1 when it is not one. */
static int
auth_copy_org(const char *org, char *out)
{
	size_t i;

	for (i = 0; i < 24; i++) {
		if (org[i] >= '0' && org[i] <= '9')
			out[i] = org[i];
		else if (org[i] >= 'a' && org[i] <= 'f')
			out[i] = org[i];
		else if (org[i] >= 'A' && org[i] <= 'F')
			out[i] = (char)(org[i] - 'A' + 'a');
		else
			return -1;
	}
	if (org[24] != '\0')
		return -1;
	out[24] = '\0';
	return 0;
}

/* The checks on a token whose signature is good. */
static int
auth_check_claims(const struct auth *a, jwt_t *jwt, uint64_t now_s, struct auth_principal *p,
		  char *err, size_t errlen)
{
	long exp, nbf;
	const char *s;
	size_t n;
	int r;

	r = auth_grant_int(jwt, "exp", &exp);
	if (r == 0)
		return auth_fail(err, errlen, "missing exp claim");
	if (r == -1)
		return auth_fail(err, errlen, "malformed token");
	if (exp <= 0 || (uint64_t)exp + a->leeway_s <= now_s)
		return auth_fail(err, errlen, "token expired");
	p->expires_s = (uint64_t)exp;

	r = auth_grant_int(jwt, "nbf", &nbf);
	if (r == -1)
		return auth_fail(err, errlen, "malformed token");
	if (r == 1 && nbf > 0 && (uint64_t)nbf > now_s + a->leeway_s)
		return auth_fail(err, errlen, "token not yet valid");

	if (a->issuer[0] != '\0') {
		s = jwt_get_grant(jwt, "iss");
		if (s == NULL || strcmp(s, a->issuer) != 0)
			return auth_fail(err, errlen, "wrong issuer");
	}
	if (a->audience[0] != '\0' && !auth_audience_ok(jwt, a->audience))
		return auth_fail(err, errlen, "wrong audience");

	s = jwt_get_grant(jwt, "sub");
	if (s == NULL || s[0] == '\0')
		return auth_fail(err, errlen, "missing sub claim");
	if ((n = strlen(s)) >= sizeof(p->sub))
		return auth_fail(err, errlen, "sub claim too long");

	if (auth_role_parse(jwt_get_grant(jwt, "role"), &p->role) == -1)
		return auth_fail(err, errlen, "unknown role");
	memcpy(p->sub, s, n + 1);

	p->org[0] = '\0';
	if (p->role != AUTH_ROLE_PLATFORM_ADMIN) {
		if ((s = jwt_get_grant(jwt, "org")) == NULL || s[0] == '\0')
			return auth_fail(err, errlen, "missing org claim");
		if (auth_copy_org(s, p->org) == -1)
			return auth_fail(err, errlen, "bad org claim");
	}
	return 0;
}

/* base64url (no padding) to bytes in a new buffer of *outlen bytes (the caller frees it), or
 * NULL when in is not base64url. */
static unsigned char *
auth_b64url_decode(const char *in, size_t len, size_t *outlen)
{
	size_t i, padded = (len + 3) / 4 * 4;
	unsigned char *out;
	char *buf;
	int n;

	if ((buf = malloc(padded + 1)) == NULL)
		return NULL;
	if ((out = malloc(padded / 4 * 3 + 1)) == NULL) {
		free(buf);
		return NULL;
	}
	for (i = 0; i < len; i++)
		buf[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
	for (; i < padded; i++)
		buf[i] = '=';
	buf[padded] = '\0';
	n = EVP_DecodeBlock(out, (const unsigned char *)buf, (int)padded);
	free(buf);
	/* EVP_DecodeBlock counts the padding as zero bytes */
	if (n < 0 || (size_t)n < padded - len) {
		free(out);
		return NULL;
	}
	*outlen = (size_t)n - (padded - len);
	return out;
}

/*
 * 1 when the JOSE header and the claims set (the first two parts of tok) each name every
 * member once. RFC 7515 section 4 and RFC 7519 section 4 let a parser either refuse duplicate
 * names or take the last one; libjwt takes the last, so {"role":"provider","role":
 * "platform_admin"} would read as whatever an issuer that keeps the first did not mean. We
 * refuse: one name, one meaning.
 */
static int
auth_members_unique(const char *tok, size_t n)
{
	const char *p = tok, *end = tok + n;
	int part;

	for (part = 0; part < 2; part++) {
		const char *dot = memchr(p, '.', (size_t)(end - p));
		unsigned char *json;
		size_t len;
		json_error_t e;
		json_t *v;

		if (dot == NULL || (json = auth_b64url_decode(p, (size_t)(dot - p), &len)) == NULL)
			return 0;
		v = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, &e);
		free(json);
		if (v == NULL)
			return 0;
		json_decref(v);
		p = dot + 1;
	}
	return 1;
}

/*
 * The header checks libjwt leaves out: "alg" is exactly the configured name, compared
 * case-sensitively, and no "crit" (RFC 7515 section 4.1.11: a recipient that does not
 * understand a listed extension must refuse the token; we understand none). 0 or -1 with err.
 */
static int
auth_check_header(const struct auth *a, jwt_t *jwt, char *err, size_t errlen)
{
	const char *alg = jwt_get_header(jwt, "alg");
	char *crit;

	if (alg == NULL || strcmp(alg, a->alg == JWT_ALG_RS256 ? "RS256" : "HS256") != 0)
		return auth_fail(err, errlen, "wrong algorithm");
	/* present in any form (string, array, even empty): refused */
	if ((crit = jwt_get_headers_json(jwt, "crit")) != NULL) {
		free(crit);
		return auth_fail(err, errlen, "unsupported critical header");
	}
	return 0;
}

/* RS256 over "header.payload" with the key parsed at start: 1 when the signature holds. */
static int
auth_rs256_verified(const struct auth *a, const char *tok, size_t n)
{
	const char *dot = memrchr(tok, '.', n);
	unsigned char *sig;
	EVP_MD_CTX *md;
	size_t siglen;
	int ok = 0;

	if (dot == NULL || a->pkey == NULL)
		return 0;
	if ((sig = auth_b64url_decode(dot + 1, n - (size_t)(dot + 1 - tok), &siglen)) == NULL)
		return 0;
	if (siglen > 0 && (md = EVP_MD_CTX_new()) != NULL) {
		if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, a->pkey) == 1 &&
		    EVP_DigestVerify(md, sig, siglen, (const unsigned char *)tok,
				     (size_t)(dot - tok)) == 1)
			ok = 1;
		EVP_MD_CTX_free(md);
	}
	free(sig);
	return ok;
}

int
auth_verify(const struct auth *a, const char *header, size_t len, uint64_t now_s,
	    struct auth_principal *p, char *err, size_t errlen)
{
	/* jwt_decode wants a C string; the header value is not one. */
	char tok[AUTH_TOKEN_MAX + 1];
	struct auth_principal who;
	const char *t, *end;
	jwt_t *jwt;
	size_t n;
	int r;

	if (a == NULL || a->alg == JWT_ALG_NONE)
		return auth_fail(err, errlen, "authentication is not configured");
	if (header == NULL || len < 7 || strncasecmp(header, "Bearer ", 7) != 0)
		return auth_fail(err, errlen, "missing bearer token");
	t = header + 7;
	end = header + len;
	while (t < end && (*t == ' ' || *t == '\t'))
		t++;
	while (end > t && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if ((n = (size_t)(end - t)) == 0)
		return auth_fail(err, errlen, "missing bearer token");
	if (n > AUTH_TOKEN_MAX)
		return auth_fail(err, errlen, "token too long");
	if (!auth_token_shape_ok(t, n))
		return auth_fail(err, errlen, "malformed token");
	memcpy(tok, t, n);
	tok[n] = '\0';

	if (a->alg == JWT_ALG_RS256)
		r = auth_rs256_verified(a, tok, n) ? jwt_decode(&jwt, tok, NULL, 0) : -1;
	else
		r = jwt_decode(&jwt, tok, a->key, (int)a->keylen);
	if (r == 0 && auth_check_header(a, jwt, err, errlen) != 0) {
		jwt_free(jwt);
		return -1;
	}
	if (r == 0 && !auth_members_unique(tok, n)) {
		jwt_free(jwt);
		return auth_fail(err, errlen, "a header or claim name is given twice");
	}
	if (r != 0) {
		/*
		 * libjwt gives EINVAL for a bad signature and for bad JSON alike. Decoding again
		 * without a key (no cryptography, failures only) tells them apart.
		 */
		if (jwt_decode(&jwt, tok, NULL, 0) != 0)
			return auth_fail(err, errlen, "malformed token");
		/* Without a key libjwt reports alg "none": the header still says what it was. */
		r = jwt_str_alg(jwt_get_header(jwt, "alg")) == a->alg;
		jwt_free(jwt);
		return auth_fail(err, errlen, r ? "bad signature" : "wrong algorithm");
	}
	if (a->alg != JWT_ALG_RS256 && jwt_get_alg(jwt) != a->alg) {
		/* Verified, but under an algorithm the token chose: see the top of the file. */
		jwt_free(jwt);
		return auth_fail(err, errlen, "wrong algorithm");
	}
	/* Built aside so that a refused token leaves nothing half-written in *p. */
	r = auth_check_claims(a, jwt, now_s, &who, err, errlen);
	jwt_free(jwt);
	if (r == 0)
		*p = who;
	return r;
}

char *
auth_token_hs256(const char *secret, const char *sub, const char *role, const char *org,
		 const char *issuer, const char *audience, uint64_t now_s, uint64_t ttl_s)
{
	jwt_t *jwt;
	char *tok;
	int bad;

	if (secret == NULL || secret[0] == '\0' || sub == NULL || role == NULL)
		return NULL;
	/* exp has to fit the long that libjwt stores. */
	if (now_s > (uint64_t)LONG_MAX || ttl_s > (uint64_t)LONG_MAX - now_s)
		return NULL;
	if (jwt_new(&jwt) != 0)
		return NULL;
	bad = jwt_add_grant(jwt, "sub", sub) != 0;
	bad |= jwt_add_grant(jwt, "role", role) != 0;
	if (org != NULL)
		bad |= jwt_add_grant(jwt, "org", org) != 0;
	if (issuer != NULL)
		bad |= jwt_add_grant(jwt, "iss", issuer) != 0;
	if (audience != NULL)
		bad |= jwt_add_grant(jwt, "aud", audience) != 0;
	bad |= jwt_add_grant_int(jwt, "iat", (long)now_s) != 0;
	bad |= jwt_add_grant_int(jwt, "exp", (long)(now_s + ttl_s)) != 0;
	bad |= jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret,
			   (int)strlen(secret)) != 0;
	/* libjwt 1.10 has no jwt_free_str: the string comes from malloc and goes to free(). */
	tok = bad ? NULL : jwt_encode_str(jwt);
	jwt_free(jwt);
	return tok;
}

/* --- the per-worker memo --- */

#define AUTH_MEMO_SLOTS 1024 /* a power of two */
#define AUTH_MEMO_TOKEN_MAX 2048

struct auth_memo_entry {
	uint64_t hash;
	size_t len;
	char *header; /* NULL: empty slot */
	struct auth_principal who;
};

struct auth_memo {
	struct auth_memo_entry slots[AUTH_MEMO_SLOTS];
	struct hash_secret secret; /* clients choose tokens, not the slots they land in */
};

struct auth_memo *
auth_memo_new(void)
{
	struct auth_memo *m = calloc(1, sizeof(*m));

	if (m != NULL && hash_secret_init(&m->secret) != 0) {
		free(m);
		return NULL;
	}
	return m;
}

void
auth_memo_free(struct auth_memo *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < AUTH_MEMO_SLOTS; i++)
		free(m->slots[i].header);
	free(m);
}

int
auth_memo_get(struct auth_memo *m, const char *header, size_t len, uint64_t now_s,
	      struct auth_principal *p)
{
	uint64_t h;
	struct auth_memo_entry *e;

	if (m == NULL || header == NULL || len > AUTH_MEMO_TOKEN_MAX)
		return 0;
	h = hash_keyed(&m->secret, header, len);
	e = &m->slots[h & (AUTH_MEMO_SLOTS - 1)];
	if (e->header == NULL || e->hash != h || e->len != len ||
	    memcmp(e->header, header, len) != 0 || e->who.expires_s <= now_s)
		return 0;
	*p = e->who;
	return 1;
}

void
auth_memo_put(struct auth_memo *m, const char *header, size_t len, const struct auth_principal *p)
{
	uint64_t h;
	struct auth_memo_entry *e;
	char *copy;

	if (m == NULL || header == NULL || len > AUTH_MEMO_TOKEN_MAX ||
	    (copy = malloc(len)) == NULL)
		return;
	memcpy(copy, header, len);
	h = hash_keyed(&m->secret, header, len);
	e = &m->slots[h & (AUTH_MEMO_SLOTS - 1)];
	free(e->header);
	e->hash = h;
	e->len = len;
	e->header = copy;
	e->who = *p;
}

int
auth_check(const struct auth *a, struct auth_memo *m, const char *header, size_t len,
	   uint64_t now_s, struct auth_principal *p, char *err, size_t errlen)
{
	/* a token verified before is known until its exp: no signature check again */
	if (header != NULL && auth_memo_get(m, header, len, now_s, p))
		return 0;
	if (a == NULL) {
		snprintf(err, errlen, "authentication is not configured");
		return -1;
	}
	if (auth_verify(a, header, header != NULL ? len : 0, now_s, p, err, errlen) != 0)
		return -1;
	auth_memo_put(m, header, len, p);
	return 0;
}
