/* test_auth.c: bearer token verification (src/auth.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"

#define NOW 1700000000ULL
#define SECRET "test-secret-of-at-least-thirty-two-bytes"
#define ORG "0123456789abcdef01234567"

/* Two RSA key pairs made once for the RS256 tests, and the public key of the first on disk. */
static char *rsa_priv_pem, *rsa_pub_pem, *rsa_other_priv_pem;
static char rsa_dir[64], rsa_pub_path[96];

/* ------------------------------------------------------------------------------------------ */
/* helpers */

static char *
pem_of(EVP_PKEY *k, int private)
{
	BIO *bio;
	char *data, *out;
	long n;

	bio = BIO_new(BIO_s_mem());
	assert_non_null(bio);
	if (private)
		assert_int_equal(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL), 1);
	else
		assert_int_equal(PEM_write_bio_PUBKEY(bio, k), 1);
	n = BIO_get_mem_data(bio, &data);
	out = malloc((size_t)n + 1);
	assert_non_null(out);
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	BIO_free(bio);
	return out;
}

static int
group_setup(void **state)
{
	EVP_PKEY *k1, *k2;
	FILE *f;

	k1 = EVP_RSA_gen(2048);
	k2 = EVP_RSA_gen(2048);
	if (k1 == NULL || k2 == NULL)
		return -1;
	rsa_priv_pem = pem_of(k1, 1);
	rsa_pub_pem = pem_of(k1, 0);
	rsa_other_priv_pem = pem_of(k2, 1);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);

	snprintf(rsa_dir, sizeof(rsa_dir), "/tmp/test_auth.XXXXXX");
	if (mkdtemp(rsa_dir) == NULL)
		return -1;
	snprintf(rsa_pub_path, sizeof(rsa_pub_path), "%s/pub.pem", rsa_dir);
	if ((f = fopen(rsa_pub_path, "w")) == NULL)
		return -1;
	fputs(rsa_pub_pem, f);
	fclose(f);
	return 0;
}

static int
group_teardown(void **state)
{
	unlink(rsa_pub_path);
	rmdir(rsa_dir);
	free(rsa_priv_pem);
	free(rsa_pub_pem);
	free(rsa_other_priv_pem);
	return 0;
}

/* A config with only the auth fields set; NULL leaves a field empty. */
static struct config *
config_with(const char *secret, const char *pubkey_file, const char *iss, const char *aud)
{
	static struct config c;

	config_defaults(&c);
	snprintf(c.jwt_secret, sizeof(c.jwt_secret), "%s", secret ? secret : "");
	snprintf(c.jwt_public_key_file, sizeof(c.jwt_public_key_file), "%s",
		 pubkey_file ? pubkey_file : "");
	snprintf(c.jwt_issuer, sizeof(c.jwt_issuer), "%s", iss ? iss : "");
	snprintf(c.jwt_audience, sizeof(c.jwt_audience), "%s", aud ? aud : "");
	return &c;
}

static struct auth *
verifier(const char *secret, const char *pubkey_file, const char *iss, const char *aud)
{
	char err[256];
	struct auth *a;

	a = auth_new(config_with(secret, pubkey_file, iss, aud), err, sizeof(err));
	if (a == NULL)
		fail_msg("auth_new: %s", err);
	return a;
}

static struct auth *
hs_verifier(void)
{
	return verifier(SECRET, NULL, NULL, NULL);
}

/* A token with exactly the claims of grants_json (a JSON object), signed with alg and key. */
static char *
mint(jwt_alg_t alg, const char *key, const char *grants_json)
{
	jwt_t *jwt;
	char *tok;

	assert_int_equal(jwt_new(&jwt), 0);
	assert_int_equal(jwt_add_grants_json(jwt, grants_json), 0);
	assert_int_equal(jwt_set_alg(jwt, alg, (const unsigned char *)key, (int)strlen(key)), 0);
	tok = jwt_encode_str(jwt);
	assert_non_null(tok);
	jwt_free(jwt);
	return tok;
}

static char *
mint_hs(const char *grants_json)
{
	return mint(JWT_ALG_HS256, SECRET, grants_json);
}

/* auth_verify on "Bearer TOKEN"; the reason lands in err. */
static int
verify_token(const struct auth *a, const char *tok, struct auth_principal *p, char *err,
	     size_t errlen)
{
	char header[16384];

	snprintf(header, sizeof(header), "Bearer %s", tok);
	return auth_verify(a, header, strlen(header), NOW, p, err, errlen);
}

/* Verifies grants_json minted with SECRET under a plain HS256 verifier; returns the reason. */
static void
assert_refused(const struct auth *a, const char *tok, const char *reason)
{
	struct auth_principal p;
	char err[128] = "";

	assert_int_equal(verify_token(a, tok, &p, err, sizeof(err)), -1);
	assert_string_equal(err, reason);
}

static void
assert_hs_refused(const char *grants_json, const char *reason)
{
	struct auth *a = hs_verifier();
	char *tok = mint_hs(grants_json);

	assert_refused(a, tok, reason);
	free(tok);
	auth_free(a);
}

static void
assert_hs_accepted(const char *grants_json, struct auth_principal *p)
{
	struct auth *a = hs_verifier();
	char *tok = mint_hs(grants_json);
	char err[128] = "";

	if (verify_token(a, tok, p, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	free(tok);
	auth_free(a);
}

static char *
b64url_bytes(const unsigned char *u, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, o = 0;
	char *out = malloc(n * 4 / 3 + 4);
	uint32_t v;

	assert_non_null(out);
	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)u[i] << 16 | (uint32_t)u[i + 1] << 8 | u[i + 2];
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = tab[v >> 6 & 63];
		out[o++] = tab[v & 63];
	}
	if (n - i == 1) {
		v = (uint32_t)u[i] << 16;
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
	} else if (n - i == 2) {
		v = (uint32_t)u[i] << 16 | (uint32_t)u[i + 1] << 8;
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = tab[v >> 6 & 63];
	}
	out[o] = '\0';
	return out;
}

static char *
b64url(const char *s)
{
	return b64url_bytes((const unsigned char *)s, strlen(s));
}

/* header_json.payload_json.sig, each part base64url-encoded by hand. */
static char *
handmade(const char *header_json, const char *payload_json, const char *sig)
{
	char *h = b64url(header_json), *p = b64url(payload_json);
	size_t n = strlen(h) + strlen(p) + strlen(sig) + 3;
	char *tok = malloc(n);

	assert_non_null(tok);
	snprintf(tok, n, "%s.%s.%s", h, p, sig);
	free(h);
	free(p);
	return tok;
}

#define VALID_ORG_ADMIN                                                                            \
	"{\"sub\":\"u1\",\"role\":\"org_admin\",\"org\":\"" ORG "\",\"exp\":1700000600}"

/* ------------------------------------------------------------------------------------------ */
/* roles */

static void
test_hs256_platform_admin_token_is_accepted(void **state)
{
	struct auth_principal p;

	assert_hs_accepted("{\"sub\":\"root\",\"role\":\"platform_admin\",\"exp\":1700000600}", &p);
	assert_int_equal(p.role, AUTH_ROLE_PLATFORM_ADMIN);
	assert_string_equal(p.sub, "root");
	assert_string_equal(p.org, "");
}

static void
test_hs256_org_admin_token_is_accepted(void **state)
{
	struct auth_principal p;

	assert_hs_accepted(VALID_ORG_ADMIN, &p);
	assert_int_equal(p.role, AUTH_ROLE_ORG_ADMIN);
	assert_string_equal(p.sub, "u1");
	assert_string_equal(p.org, ORG);
}

static void
test_hs256_clinic_manager_token_is_accepted(void **state)
{
	struct auth_principal p;

	assert_hs_accepted("{\"sub\":\"m1\",\"role\":\"clinic_manager\",\"org\":\"" ORG
			   "\",\"exp\":1700000600}",
			   &p);
	assert_int_equal(p.role, AUTH_ROLE_CLINIC_MANAGER);
	assert_string_equal(p.sub, "m1");
	assert_string_equal(p.org, ORG);
}

static void
test_hs256_provider_token_is_accepted(void **state)
{
	struct auth_principal p;

	assert_hs_accepted(
	    "{\"sub\":\"p1\",\"role\":\"provider\",\"org\":\"" ORG "\",\"exp\":1700000600}", &p);
	assert_int_equal(p.role, AUTH_ROLE_PROVIDER);
	assert_string_equal(p.sub, "p1");
	assert_string_equal(p.org, ORG);
}

static void
test_platform_admin_without_org_is_accepted(void **state)
{
	struct auth_principal p;

	assert_hs_accepted("{\"sub\":\"root\",\"role\":\"platform_admin\",\"exp\":1700000600}", &p);
	assert_string_equal(p.org, "");
}

static void
test_unknown_role_is_refused(void **state)
{
	assert_hs_refused("{\"sub\":\"u\",\"role\":\"superuser\",\"org\":\"" ORG
			  "\",\"exp\":1700000600}",
			  "unknown role");
}

static void
test_missing_role_is_refused(void **state)
{
	assert_hs_refused("{\"sub\":\"u\",\"org\":\"" ORG "\",\"exp\":1700000600}", "unknown role");
}

static void
test_role_names_round_trip(void **state)
{
	enum auth_role r;
	int i;

	for (i = AUTH_ROLE_PLATFORM_ADMIN; i <= AUTH_ROLE_PROVIDER; i++) {
		assert_int_equal(auth_role_parse(auth_role_name((enum auth_role)i), &r), 0);
		assert_int_equal(r, i);
	}
	assert_int_equal(auth_role_parse("Provider", &r), -1);
	assert_int_equal(auth_role_parse(NULL, &r), -1);
}

/* ------------------------------------------------------------------------------------------ */
/* org and sub */

static void
test_org_admin_without_org_is_refused(void **state)
{
	assert_hs_refused("{\"sub\":\"u\",\"role\":\"org_admin\",\"exp\":1700000600}",
			  "missing org claim");
}

static void
test_provider_with_empty_org_is_refused(void **state)
{
	assert_hs_refused("{\"sub\":\"u\",\"role\":\"provider\",\"org\":\"\",\"exp\":1700000600}",
			  "missing org claim");
}

static void
test_org_of_23_hex_digits_is_refused(void **state)
{
	assert_hs_refused(
	    "{\"sub\":\"u\",\"role\":\"org_admin\",\"org\":\"0123456789abcdef0123456\","
	    "\"exp\":1700000600}",
	    "bad org claim");
}

static void
test_org_of_25_hex_digits_is_refused(void **state)
{
	assert_hs_refused(
	    "{\"sub\":\"u\",\"role\":\"org_admin\",\"org\":\"0123456789abcdef012345678\","
	    "\"exp\":1700000600}",
	    "bad org claim");
}

static void
test_org_with_non_hex_digit_is_refused(void **state)
{
	assert_hs_refused(
	    "{\"sub\":\"u\",\"role\":\"org_admin\",\"org\":\"0123456789abcdef0123456g\","
	    "\"exp\":1700000600}",
	    "bad org claim");
}

static void
test_org_that_is_a_number_is_refused(void **state)
{
	assert_hs_refused("{\"sub\":\"u\",\"role\":\"org_admin\",\"org\":123,\"exp\":1700000600}",
			  "missing org claim");
}

static void
test_upper_case_org_is_lower_cased(void **state)
{
	struct auth_principal p;

	assert_hs_accepted(
	    "{\"sub\":\"u\",\"role\":\"org_admin\",\"org\":\"0123456789ABCDEF01234567\","
	    "\"exp\":1700000600}",
	    &p);
	assert_string_equal(p.org, ORG);
}

static void
test_sub_of_127_bytes_is_accepted(void **state)
{
	char grants[512], sub[128];
	struct auth_principal p;

	memset(sub, 'a', 127);
	sub[127] = '\0';
	snprintf(grants, sizeof(grants),
		 "{\"sub\":\"%s\",\"role\":\"platform_admin\",\"exp\":1700000600}", sub);
	assert_hs_accepted(grants, &p);
	assert_string_equal(p.sub, sub);
}

static void
test_sub_of_128_bytes_is_refused(void **state)
{
	char grants[512], sub[129];

	memset(sub, 'a', 128);
	sub[128] = '\0';
	snprintf(grants, sizeof(grants),
		 "{\"sub\":\"%s\",\"role\":\"platform_admin\",\"exp\":1700000600}", sub);
	assert_hs_refused(grants, "sub claim too long");
}

static void
test_missing_sub_is_refused(void **state)
{
	assert_hs_refused("{\"role\":\"platform_admin\",\"exp\":1700000600}", "missing sub claim");
}

static void
test_empty_sub_is_refused(void **state)
{
	assert_hs_refused("{\"sub\":\"\",\"role\":\"platform_admin\",\"exp\":1700000600}",
			  "missing sub claim");
}

static void
test_refused_token_leaves_principal_untouched(void **state)
{
	struct auth *a = hs_verifier();
	/* Refused at the org, after sub and role were read. */
	char *tok =
	    mint_hs("{\"sub\":\"u\",\"role\":\"org_admin\",\"org\":\"x\",\"exp\":1700000600}");
	struct auth_principal p, before;
	char err[128];

	memset(&p, 0x5a, sizeof(p));
	before = p;
	assert_int_equal(verify_token(a, tok, &p, err, sizeof(err)), -1);
	assert_memory_equal(&p, &before, sizeof(p));
	free(tok);
	auth_free(a);
}

/* ------------------------------------------------------------------------------------------ */
/* the header and the token's shape */

static void
test_missing_header_is_refused(void **state)
{
	struct auth *a = hs_verifier();
	struct auth_principal p;
	char err[128];

	assert_int_equal(auth_verify(a, NULL, 0, NOW, &p, err, sizeof(err)), -1);
	assert_string_equal(err, "missing bearer token");
	assert_int_equal(auth_verify(a, "", 0, NOW, &p, err, sizeof(err)), -1);
	assert_string_equal(err, "missing bearer token");
	auth_free(a);
}

static void
test_wrong_scheme_is_refused(void **state)
{
	struct auth *a = hs_verifier();
	struct auth_principal p;
	char *tok = mint_hs(VALID_ORG_ADMIN), header[1024], err[128];

	snprintf(header, sizeof(header), "Basic %s", tok);
	assert_int_equal(auth_verify(a, header, strlen(header), NOW, &p, err, sizeof(err)), -1);
	assert_string_equal(err, "missing bearer token");
	free(tok);
	auth_free(a);
}

static void
test_bearer_without_token_is_refused(void **state)
{
	struct auth *a = hs_verifier();
	struct auth_principal p;
	char err[128];

	assert_int_equal(auth_verify(a, "Bearer   ", 9, NOW, &p, err, sizeof(err)), -1);
	assert_string_equal(err, "missing bearer token");
	assert_int_equal(auth_verify(a, "Bearer", 6, NOW, &p, err, sizeof(err)), -1);
	assert_string_equal(err, "missing bearer token");
	auth_free(a);
}

static void
test_scheme_is_case_insensitive(void **state)
{
	struct auth *a = hs_verifier();
	struct auth_principal p;
	char *tok = mint_hs(VALID_ORG_ADMIN), header[1024], err[128] = "";

	snprintf(header, sizeof(header), "bEARER %s", tok);
	assert_int_equal(auth_verify(a, header, strlen(header), NOW, &p, err, sizeof(err)), 0);
	free(tok);
	auth_free(a);
}

static void
test_header_is_read_only_up_to_len(void **state)
{
	struct auth *a = hs_verifier();
	struct auth_principal p;
	char *tok = mint_hs(VALID_ORG_ADMIN), header[1024], err[128] = "";
	size_t len;

	len = (size_t)snprintf(header, sizeof(header), "Bearer %s", tok);
	/* What follows the value in h2o's buffer is not part of it. */
	snprintf(header + len, sizeof(header) - len, "garbage");
	assert_int_equal(auth_verify(a, header, len, NOW, &p, err, sizeof(err)), 0);
	free(tok);
	auth_free(a);
}

static void
test_garbage_token_is_malformed(void **state)
{
	struct auth *a = hs_verifier();

	assert_refused(a, "garbage", "malformed token");
	assert_refused(a, "a.b", "malformed token");
	assert_refused(a, "a.b.c.d", "malformed token");
	assert_refused(a, "a..c", "malformed token");
	assert_refused(a, "e30=.e30=.c2ln", "malformed token");
	assert_refused(a, "a b.c.d", "malformed token");
	assert_refused(a, "YWJj.YWJj.YWJj", "malformed token");
	auth_free(a);
}

static void
test_token_over_8_kib_is_refused(void **state)
{
	struct auth *a = hs_verifier();
	char *tok = malloc(8194);

	assert_non_null(tok);
	memset(tok, 'a', 8193);
	tok[8193] = '\0';
	tok[10] = '.';
	tok[20] = '.';
	assert_refused(a, tok, "token too long");
	free(tok);
	auth_free(a);
}

/* ------------------------------------------------------------------------------------------ */
/* signatures and algorithms */

static void
test_token_signed_with_other_secret_is_bad_signature(void **state)
{
	struct auth *a = hs_verifier();
	char *tok = mint(JWT_ALG_HS256, "another-secret-of-at-least-32-bytes!!", VALID_ORG_ADMIN);

	assert_refused(a, tok, "bad signature");
	free(tok);
	auth_free(a);
}

static void
test_tampered_payload_is_bad_signature(void **state)
{
	struct auth *a = hs_verifier();
	char *tok = mint_hs(VALID_ORG_ADMIN), *payload, tampered[2048];
	const char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');

	/* Same header and signature, payload promoted to platform_admin. */
	payload = b64url("{\"sub\":\"u1\",\"role\":\"platform_admin\",\"exp\":1700000600}");
	snprintf(tampered, sizeof(tampered), "%.*s.%s%s", (int)(dot1 - tok), tok, payload, dot2);
	assert_refused(a, tampered, "bad signature");
	free(payload);
	free(tok);
	auth_free(a);
}

static void
test_alg_none_without_signature_is_refused(void **state)
{
	struct auth *a = hs_verifier();
	char *tok = handmade("{\"alg\":\"none\"}",
			     "{\"sub\":\"u\",\"role\":\"platform_admin\",\"exp\":1700000600}", "");

	assert_refused(a, tok, "malformed token");
	free(tok);
	auth_free(a);
}

static void
test_alg_none_with_signature_is_refused(void **state)
{
	struct auth *a = hs_verifier();
	char *tok =
	    handmade("{\"alg\":\"none\",\"typ\":\"JWT\"}",
		     "{\"sub\":\"u\",\"role\":\"platform_admin\",\"exp\":1700000600}", "c2ln");

	assert_refused(a, tok, "wrong algorithm");
	free(tok);
	auth_free(a);
}

static void
test_hs512_token_is_refused_by_hs256_verifier(void **state)
{
	struct auth *a = hs_verifier();
	char *tok = mint(JWT_ALG_HS512, SECRET, VALID_ORG_ADMIN);

	assert_refused(a, tok, "wrong algorithm");
	free(tok);
	auth_free(a);
}

static void
test_rs256_token_is_accepted(void **state)
{
	struct auth *a = verifier(NULL, rsa_pub_path, NULL, NULL);
	char *tok = mint(JWT_ALG_RS256, rsa_priv_pem, VALID_ORG_ADMIN), err[128] = "";
	struct auth_principal p;

	if (verify_token(a, tok, &p, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	assert_int_equal(p.role, AUTH_ROLE_ORG_ADMIN);
	assert_string_equal(p.org, ORG);
	free(tok);
	auth_free(a);
}

static void
test_rs256_token_signed_with_other_key_is_bad_signature(void **state)
{
	struct auth *a = verifier(NULL, rsa_pub_path, NULL, NULL);
	char *tok = mint(JWT_ALG_RS256, rsa_other_priv_pem, VALID_ORG_ADMIN);

	assert_refused(a, tok, "bad signature");
	free(tok);
	auth_free(a);
}

/* The classic confusion: the public key, which anyone has, used as an HMAC secret. */
static void
test_hs256_token_signed_with_public_key_is_refused_by_rs256_verifier(void **state)
{
	struct auth *a = verifier(NULL, rsa_pub_path, NULL, NULL);
	char *tok = mint(JWT_ALG_HS256, rsa_pub_pem, VALID_ORG_ADMIN);

	assert_refused(a, tok, "wrong algorithm");
	free(tok);
	auth_free(a);
}

static void
test_hs256_token_is_refused_by_rs256_verifier(void **state)
{
	struct auth *a = verifier(NULL, rsa_pub_path, NULL, NULL);
	char *tok = mint_hs(VALID_ORG_ADMIN);

	assert_refused(a, tok, "wrong algorithm");
	free(tok);
	auth_free(a);
}

static void
test_rs256_token_is_refused_by_hs256_verifier(void **state)
{
	struct auth *a = hs_verifier();
	char *tok = mint(JWT_ALG_RS256, rsa_priv_pem, VALID_ORG_ADMIN);

	assert_refused(a, tok, "wrong algorithm");
	free(tok);
	auth_free(a);
}

static void
test_public_key_file_wins_over_secret(void **state)
{
	struct auth *a = verifier(SECRET, rsa_pub_path, NULL, NULL);
	char *hs = mint_hs(VALID_ORG_ADMIN),
	     *rs = mint(JWT_ALG_RS256, rsa_priv_pem, VALID_ORG_ADMIN);
	struct auth_principal p;
	char err[128] = "";

	assert_refused(a, hs, "wrong algorithm");
	assert_int_equal(verify_token(a, rs, &p, err, sizeof(err)), 0);
	free(hs);
	free(rs);
	auth_free(a);
}

/* header_json.payload_json signed with HMAC-SHA256 under key, whatever the header says. */
static char *
handmade_hs256(const char *header_json, const char *payload_json, const char *key)
{
	char *unsigned_tok = handmade(header_json, payload_json, "x"), *sig, *tok;
	unsigned char mac[32];
	unsigned int maclen = sizeof(mac);
	size_t n = strlen(unsigned_tok) - 2; /* without ".x" */

	assert_non_null(HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)unsigned_tok, n,
			     mac, &maclen));
	sig = b64url_bytes(mac, maclen);
	tok = malloc(n + strlen(sig) + 2);
	assert_non_null(tok);
	snprintf(tok, n + strlen(sig) + 2, "%.*s.%s", (int)n, unsigned_tok, sig);
	free(sig);
	free(unsigned_tok);
	return tok;
}

static void
assert_hs_header_refused(const char *header_json, const char *reason)
{
	struct auth *a = hs_verifier();
	char *tok = handmade_hs256(header_json, VALID_ORG_ADMIN, SECRET);

	assert_refused(a, tok, reason);
	free(tok);
	auth_free(a);
}

/* The helper itself: the same header in its exact spelling passes. */
static void
test_handmade_hs256_token_is_accepted(void **state)
{
	struct auth *a = hs_verifier();
	char *tok = handmade_hs256("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", VALID_ORG_ADMIN, SECRET);
	struct auth_principal p;
	char err[128] = "";

	if (verify_token(a, tok, &p, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	free(tok);
	auth_free(a);
}

/* RFC 7519 section 4 / RFC 7515 section 4: a name given twice is refused, not last-wins (an
 * issuer that reads the first would have meant another role). */
static void
test_a_claim_or_header_name_given_twice_is_refused(void **state)
{
	struct auth *a = hs_verifier();
	char *tok;

	tok = handmade_hs256("{\"alg\":\"HS256\"}",
			     "{\"sub\":\"u1\",\"role\":\"provider\",\"org\":\"" ORG
			     "\",\"role\":\"platform_admin\",\"exp\":1700000600}",
			     SECRET);
	assert_refused(a, tok, "a header or claim name is given twice");
	free(tok);
	tok = handmade_hs256("{\"alg\":\"HS256\"}",
			     "{\"sub\":\"u1\",\"role\":\"org_admin\",\"org\":\"" ORG
			     "\",\"org\":\"" ORG "\",\"exp\":1700000600}",
			     SECRET);
	assert_refused(a, tok, "a header or claim name is given twice");
	free(tok);
	auth_free(a);
	assert_hs_header_refused("{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
				 "a header or claim name is given twice");
	assert_hs_header_refused("{\"kid\":\"a\",\"alg\":\"HS256\",\"kid\":\"b\"}",
				 "a header or claim name is given twice");
}

/* RFC 7515 section 4.1.1: "alg" is case-sensitive; libjwt would take these as HS256. */
static void
test_lower_case_alg_is_refused(void **state)
{
	assert_hs_header_refused("{\"alg\":\"hs256\",\"typ\":\"JWT\"}", "wrong algorithm");
}

static void
test_mixed_case_alg_is_refused(void **state)
{
	assert_hs_header_refused("{\"alg\":\"Hs256\"}", "wrong algorithm");
}

/* header_json.payload_json signed with RS256 under the first test key, whatever the header says. */
static char *
handmade_rs256(const char *header_json, const char *payload_json)
{
	char *unsigned_tok = handmade(header_json, payload_json, "x"), *sig, *tok;
	size_t n = strlen(unsigned_tok) - 2, siglen = 0; /* without ".x" */
	unsigned char raw[512];
	BIO *bio = BIO_new_mem_buf(rsa_priv_pem, -1);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	assert_non_null(k);
	assert_non_null(md);
	siglen = sizeof(raw);
	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k), 1);
	assert_int_equal(EVP_DigestSign(md, raw, &siglen, (const unsigned char *)unsigned_tok, n),
			 1);
	sig = b64url_bytes(raw, siglen);
	tok = malloc(n + strlen(sig) + 2);
	assert_non_null(tok);
	snprintf(tok, n + strlen(sig) + 2, "%.*s.%s", (int)n, unsigned_tok, sig);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	BIO_free(bio);
	free(sig);
	free(unsigned_tok);
	return tok;
}

static void
test_lower_case_rs256_alg_is_refused(void **state)
{
	struct auth *a = verifier(NULL, rsa_pub_path, NULL, NULL);
	char *good = handmade_rs256("{\"alg\":\"RS256\"}", VALID_ORG_ADMIN);
	char *bad = handmade_rs256("{\"alg\":\"rs256\"}", VALID_ORG_ADMIN);
	struct auth_principal p;
	char err[128] = "";

	/* the helper signs correctly: the exact spelling passes */
	if (verify_token(a, good, &p, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	assert_refused(a, bad, "wrong algorithm");
	free(good);
	free(bad);
	auth_free(a);
}

/* RFC 7515 section 4.1.11: an extension we do not understand is marked critical. */
static void
test_crit_with_unknown_extension_is_refused(void **state)
{
	assert_hs_header_refused("{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}",
				 "unsupported critical header");
}

static void
test_crit_with_b64_extension_is_refused(void **state)
{
	assert_hs_header_refused("{\"alg\":\"HS256\",\"b64\":false,\"crit\":[\"b64\"]}",
				 "unsupported critical header");
}

/* An empty list and a non-list are not allowed either (the section says a non-empty array). */
static void
test_empty_or_malformed_crit_is_refused(void **state)
{
	assert_hs_header_refused("{\"alg\":\"HS256\",\"crit\":[]}", "unsupported critical header");
	assert_hs_header_refused("{\"alg\":\"HS256\",\"crit\":\"x\"}",
				 "unsupported critical header");
}

static void
test_alg_none_with_a_secret_is_refused(void **state)
{
	assert_hs_header_refused("{\"alg\":\"none\"}", "wrong algorithm");
}

/* ------------------------------------------------------------------------------------------ */
/* time */

/* The default leeway is 30 s: exp is honoured until exp + 30 (exclusive). */
static void
test_expired_token_is_refused(void **state)
{
	assert_hs_refused("{\"sub\":\"u\",\"role\":\"platform_admin\",\"exp\":1699999969}",
			  "token expired");
}

static void
test_token_expired_by_the_leeway_is_refused(void **state)
{
	assert_hs_refused("{\"sub\":\"u\",\"role\":\"platform_admin\",\"exp\":1699999970}",
			  "token expired");
}

static void
test_token_expired_just_inside_the_leeway_is_accepted(void **state)
{
	struct auth_principal p;

	assert_hs_accepted("{\"sub\":\"u\",\"role\":\"platform_admin\",\"exp\":1699999971}", &p);
	assert_int_equal(p.expires_s, 1699999971);
}

/* jwt_leeway 0: the token's exp is the end, to the second. */
static void
test_zero_leeway_refuses_a_token_expiring_now(void **state)
{
	struct config *c = config_with(SECRET, NULL, NULL, NULL);
	struct auth_principal p;
	char err[128] = "", *tok;
	struct auth *a;

	c->jwt_leeway_s = 0;
	a = auth_new(c, err, sizeof(err));
	assert_non_null(a);
	tok = mint_hs("{\"sub\":\"u\",\"role\":\"platform_admin\",\"exp\":1700000000}");
	assert_refused(a, tok, "token expired");
	free(tok);
	tok = mint_hs("{\"sub\":\"u\",\"role\":\"platform_admin\",\"exp\":1700000001}");
	assert_int_equal(verify_token(a, tok, &p, err, sizeof(err)), 0);
	free(tok);
	tok = mint_hs("{\"sub\":\"u\",\"role\":\"platform_admin\",\"exp\":1700000600,"
		      "\"nbf\":1700000001}");
	assert_refused(a, tok, "token not yet valid");
	free(tok);
	auth_free(a);
}

static void
test_missing_exp_is_refused(void **state)
{
	assert_hs_refused("{\"sub\":\"u\",\"role\":\"platform_admin\"}", "missing exp claim");
}

static void
test_string_exp_is_malformed(void **state)
{
	assert_hs_refused("{\"sub\":\"u\",\"role\":\"platform_admin\",\"exp\":\"1700000600\"}",
			  "malformed token");
}

static void
test_nbf_in_future_is_refused(void **state)
{
	assert_hs_refused(
	    "{\"sub\":\"u\",\"role\":\"platform_admin\",\"exp\":1700000600,\"nbf\":1700000031}",
	    "token not yet valid");
}

static void
test_nbf_just_inside_the_leeway_is_accepted(void **state)
{
	struct auth_principal p;

	assert_hs_accepted(
	    "{\"sub\":\"u\",\"role\":\"platform_admin\",\"exp\":1700000600,\"nbf\":1700000030}",
	    &p);
}

static void
test_nbf_now_is_accepted(void **state)
{
	struct auth_principal p;

	assert_hs_accepted(
	    "{\"sub\":\"u\",\"role\":\"platform_admin\",\"exp\":1700000600,\"nbf\":1700000000}",
	    &p);
}

/* A string would read as 0 through jwt_get_grant_int, which is in the past. */
static void
test_string_nbf_is_malformed(void **state)
{
	assert_hs_refused(
	    "{\"sub\":\"u\",\"role\":\"platform_admin\",\"exp\":1700000600,\"nbf\":\"1800000000\"}",
	    "malformed token");
}

/* ------------------------------------------------------------------------------------------ */
/* issuer and audience */

#define WITH_ISS_AUD(iss, aud)                                                                     \
	"{\"sub\":\"u\",\"role\":\"platform_admin\",\"exp\":1700000600,\"iss\":" iss               \
	",\"aud\":" aud "}"

static int
verify_with_iss_aud(const char *grants_json, char *err, size_t errlen)
{
	struct auth *a = verifier(SECRET, NULL, "https://id.example", "enterprise-api");
	struct auth_principal p;
	char *tok = mint_hs(grants_json);
	int r;

	r = verify_token(a, tok, &p, err, errlen);
	free(tok);
	auth_free(a);
	return r;
}

static void
test_matching_issuer_and_audience_are_accepted(void **state)
{
	char err[128] = "";

	assert_int_equal(
	    verify_with_iss_aud(WITH_ISS_AUD("\"https://id.example\"", "\"enterprise-api\""), err,
				sizeof(err)),
	    0);
}

static void
test_wrong_issuer_is_refused(void **state)
{
	char err[128] = "";

	assert_int_equal(
	    verify_with_iss_aud(WITH_ISS_AUD("\"https://evil.example\"", "\"enterprise-api\""), err,
				sizeof(err)),
	    -1);
	assert_string_equal(err, "wrong issuer");
}

static void
test_missing_issuer_is_refused_when_configured(void **state)
{
	char err[128] = "";

	assert_int_equal(verify_with_iss_aud("{\"sub\":\"u\",\"role\":\"platform_admin\",\"exp\":"
					     "1700000600,\"aud\":\"enterprise-api\"}",
					     err, sizeof(err)),
			 -1);
	assert_string_equal(err, "wrong issuer");
}

static void
test_wrong_audience_is_refused(void **state)
{
	char err[128] = "";

	assert_int_equal(
	    verify_with_iss_aud(WITH_ISS_AUD("\"https://id.example\"", "\"other-api\""), err,
				sizeof(err)),
	    -1);
	assert_string_equal(err, "wrong audience");
}

static void
test_audience_array_containing_audience_is_accepted(void **state)
{
	char err[128] = "";

	assert_int_equal(verify_with_iss_aud(WITH_ISS_AUD("\"https://id.example\"",
							  "[\"other-api\",\"enterprise-api\"]"),
					     err, sizeof(err)),
			 0);
}

static void
test_audience_array_without_audience_is_refused(void **state)
{
	char err[128] = "";

	assert_int_equal(
	    verify_with_iss_aud(WITH_ISS_AUD("\"https://id.example\"",
					     "[\"other-api\",1,{\"a\":\"enterprise-api\"}]"),
				err, sizeof(err)),
	    -1);
	assert_string_equal(err, "wrong audience");
}

static void
test_issuer_and_audience_are_ignored_when_not_configured(void **state)
{
	struct auth_principal p;

	assert_hs_accepted(WITH_ISS_AUD("\"anyone\"", "\"anything\""), &p);
}

/* ------------------------------------------------------------------------------------------ */
/* configuration */

static void
test_unconfigured_verifier_refuses_every_token(void **state)
{
	struct auth *a = verifier(NULL, NULL, NULL, NULL);
	char *tok = mint_hs(VALID_ORG_ADMIN);

	assert_refused(a, tok, "authentication is not configured");
	free(tok);
	auth_free(a);
}

static void
test_unreadable_key_file_is_an_error(void **state)
{
	char err[512];

	assert_null(
	    auth_new(config_with(NULL, "/nonexistent/pub.pem", NULL, NULL), err, sizeof(err)));
	assert_string_equal(err,
			    "jwt_public_key_file /nonexistent/pub.pem: No such file or directory");
}

static void
test_key_file_without_public_key_is_an_error(void **state)
{
	char err[512], path[128], want[256];
	FILE *f;

	/* A private key is a common mistake; verification needs the public half. */
	snprintf(path, sizeof(path), "%s/priv.pem", rsa_dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(rsa_priv_pem, f);
	fclose(f);
	assert_null(auth_new(config_with(NULL, path, NULL, NULL), err, sizeof(err)));
	snprintf(want, sizeof(want), "jwt_public_key_file %s: not a PEM RSA public key", path);
	assert_string_equal(err, want);
	unlink(path);
}

/* ------------------------------------------------------------------------------------------ */
/* auth_token_hs256 */

static void
test_made_token_carries_claims_and_lifetime(void **state)
{
	char *tok = auth_token_hs256(SECRET, "u9", "clinic_manager", ORG, "iss1", "aud1", NOW, 60);
	jwt_t *jwt;

	assert_non_null(tok);
	assert_int_equal(jwt_decode(&jwt, tok, (const unsigned char *)SECRET, strlen(SECRET)), 0);
	assert_int_equal(jwt_get_alg(jwt), JWT_ALG_HS256);
	assert_string_equal(jwt_get_grant(jwt, "sub"), "u9");
	assert_string_equal(jwt_get_grant(jwt, "role"), "clinic_manager");
	assert_string_equal(jwt_get_grant(jwt, "org"), ORG);
	assert_string_equal(jwt_get_grant(jwt, "iss"), "iss1");
	assert_string_equal(jwt_get_grant(jwt, "aud"), "aud1");
	assert_int_equal(jwt_get_grant_int(jwt, "iat"), NOW);
	assert_int_equal(jwt_get_grant_int(jwt, "exp"), NOW + 60);
	jwt_free(jwt);
	free(tok);
}

static void
test_made_token_without_org_has_no_org_claim(void **state)
{
	char *tok = auth_token_hs256(SECRET, "root", "platform_admin", NULL, NULL, NULL, NOW, 60);
	jwt_t *jwt;

	assert_non_null(tok);
	assert_int_equal(jwt_decode(&jwt, tok, (const unsigned char *)SECRET, strlen(SECRET)), 0);
	assert_null(jwt_get_grant(jwt, "org"));
	assert_null(jwt_get_grant(jwt, "iss"));
	assert_null(jwt_get_grant(jwt, "aud"));
	jwt_free(jwt);
	free(tok);
}

static void
test_made_token_passes_verification(void **state)
{
	struct auth *a = verifier(SECRET, NULL, "iss1", "aud1");
	char *tok = auth_token_hs256(SECRET, "m2", "clinic_manager", ORG, "iss1", "aud1", NOW, 1);
	struct auth_principal p;
	char err[128] = "";

	assert_int_equal(verify_token(a, tok, &p, err, sizeof(err)), 0);
	assert_string_equal(p.sub, "m2");
	assert_int_equal(p.role, AUTH_ROLE_CLINIC_MANAGER);
	free(tok);
	auth_free(a);
}

static void
test_making_token_without_secret_fails(void **state)
{
	assert_null(auth_token_hs256("", "u", "provider", ORG, NULL, NULL, NOW, 60));
	assert_null(auth_token_hs256(NULL, "u", "provider", ORG, NULL, NULL, NOW, 60));
}

static void
test_memo_answers_a_token_it_was_given_until_its_exp(void **state)
{
	struct auth_memo *m = auth_memo_new();
	struct auth_principal who = {AUTH_ROLE_ORG_ADMIN, "user-1", "0123456789abcdef01234567",
				     2000};
	struct auth_principal got;
	const char *h = "Bearer aaa.bbb.ccc";

	(void)state;
	assert_non_null(m);
	assert_int_equal(auth_memo_get(m, h, strlen(h), 1000, &got), 0);
	auth_memo_put(m, h, strlen(h), &who);
	assert_int_equal(auth_memo_get(m, h, strlen(h), 1999, &got), 1);
	assert_int_equal(got.role, AUTH_ROLE_ORG_ADMIN);
	assert_string_equal(got.sub, "user-1");
	assert_string_equal(got.org, "0123456789abcdef01234567");
	/* at exp the memo no longer answers: the verifier says "token expired" */
	assert_int_equal(auth_memo_get(m, h, strlen(h), 2000, &got), 0);
	auth_memo_free(m);
}

static void
test_memo_does_not_answer_another_token(void **state)
{
	struct auth_memo *m = auth_memo_new();
	struct auth_principal who = {AUTH_ROLE_PROVIDER, "p", "0123456789abcdef01234567", 2000};
	struct auth_principal got;
	const char *h = "Bearer aaa.bbb.ccc";
	const char *other = "Bearer aaa.bbb.ccd";

	(void)state;
	auth_memo_put(m, h, strlen(h), &who);
	assert_int_equal(auth_memo_get(m, other, strlen(other), 1000, &got), 0);
	/* a prefix of a known token is not the token */
	assert_int_equal(auth_memo_get(m, h, strlen(h) - 1, 1000, &got), 0);
	auth_memo_free(m);
}

static void
test_memo_keeps_the_newest_token_of_a_slot(void **state)
{
	struct auth_memo *m = auth_memo_new();
	struct auth_principal who = {AUTH_ROLE_PROVIDER, "p", "0123456789abcdef01234567", 2000};
	struct auth_principal got;
	char h[64];
	int i, found = 0;

	(void)state;
	/* more tokens than slots: every put lands, older ones may be pushed out, none is wrong */
	for (i = 0; i < 5000; i++) {
		snprintf(h, sizeof(h), "Bearer token-%d", i);
		snprintf(who.sub, sizeof(who.sub), "sub-%d", i);
		auth_memo_put(m, h, strlen(h), &who);
	}
	for (i = 0; i < 5000; i++) {
		char want[32];

		snprintf(h, sizeof(h), "Bearer token-%d", i);
		snprintf(want, sizeof(want), "sub-%d", i);
		if (auth_memo_get(m, h, strlen(h), 1000, &got)) {
			assert_string_equal(got.sub, want);
			found++;
		}
	}
	snprintf(h, sizeof(h), "Bearer token-%d", 4999);
	assert_int_equal(auth_memo_get(m, h, strlen(h), 1000, &got), 1);
	assert_true(found > 0 && found <= 1024);
	auth_memo_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hs256_platform_admin_token_is_accepted),
	    cmocka_unit_test(test_hs256_org_admin_token_is_accepted),
	    cmocka_unit_test(test_hs256_clinic_manager_token_is_accepted),
	    cmocka_unit_test(test_hs256_provider_token_is_accepted),
	    cmocka_unit_test(test_platform_admin_without_org_is_accepted),
	    cmocka_unit_test(test_unknown_role_is_refused),
	    cmocka_unit_test(test_missing_role_is_refused),
	    cmocka_unit_test(test_role_names_round_trip),
	    cmocka_unit_test(test_org_admin_without_org_is_refused),
	    cmocka_unit_test(test_provider_with_empty_org_is_refused),
	    cmocka_unit_test(test_org_of_23_hex_digits_is_refused),
	    cmocka_unit_test(test_org_of_25_hex_digits_is_refused),
	    cmocka_unit_test(test_org_with_non_hex_digit_is_refused),
	    cmocka_unit_test(test_org_that_is_a_number_is_refused),
	    cmocka_unit_test(test_upper_case_org_is_lower_cased),
	    cmocka_unit_test(test_sub_of_127_bytes_is_accepted),
	    cmocka_unit_test(test_sub_of_128_bytes_is_refused),
	    cmocka_unit_test(test_missing_sub_is_refused),
	    cmocka_unit_test(test_empty_sub_is_refused),
	    cmocka_unit_test(test_refused_token_leaves_principal_untouched),
	    cmocka_unit_test(test_missing_header_is_refused),
	    cmocka_unit_test(test_wrong_scheme_is_refused),
	    cmocka_unit_test(test_bearer_without_token_is_refused),
	    cmocka_unit_test(test_scheme_is_case_insensitive),
	    cmocka_unit_test(test_header_is_read_only_up_to_len),
	    cmocka_unit_test(test_garbage_token_is_malformed),
	    cmocka_unit_test(test_token_over_8_kib_is_refused),
	    cmocka_unit_test(test_token_signed_with_other_secret_is_bad_signature),
	    cmocka_unit_test(test_tampered_payload_is_bad_signature),
	    cmocka_unit_test(test_alg_none_without_signature_is_refused),
	    cmocka_unit_test(test_alg_none_with_signature_is_refused),
	    cmocka_unit_test(test_hs512_token_is_refused_by_hs256_verifier),
	    cmocka_unit_test(test_rs256_token_is_accepted),
	    cmocka_unit_test(test_rs256_token_signed_with_other_key_is_bad_signature),
	    cmocka_unit_test(test_hs256_token_signed_with_public_key_is_refused_by_rs256_verifier),
	    cmocka_unit_test(test_hs256_token_is_refused_by_rs256_verifier),
	    cmocka_unit_test(test_rs256_token_is_refused_by_hs256_verifier),
	    cmocka_unit_test(test_public_key_file_wins_over_secret),
	    cmocka_unit_test(test_handmade_hs256_token_is_accepted),
	    cmocka_unit_test(test_lower_case_alg_is_refused),
	    cmocka_unit_test(test_a_claim_or_header_name_given_twice_is_refused),
	    cmocka_unit_test(test_mixed_case_alg_is_refused),
	    cmocka_unit_test(test_lower_case_rs256_alg_is_refused),
	    cmocka_unit_test(test_crit_with_unknown_extension_is_refused),
	    cmocka_unit_test(test_crit_with_b64_extension_is_refused),
	    cmocka_unit_test(test_empty_or_malformed_crit_is_refused),
	    cmocka_unit_test(test_alg_none_with_a_secret_is_refused),
	    cmocka_unit_test(test_expired_token_is_refused),
	    cmocka_unit_test(test_token_expired_by_the_leeway_is_refused),
	    cmocka_unit_test(test_token_expired_just_inside_the_leeway_is_accepted),
	    cmocka_unit_test(test_zero_leeway_refuses_a_token_expiring_now),
	    cmocka_unit_test(test_nbf_just_inside_the_leeway_is_accepted),
	    cmocka_unit_test(test_missing_exp_is_refused),
	    cmocka_unit_test(test_string_exp_is_malformed),
	    cmocka_unit_test(test_nbf_in_future_is_refused),
	    cmocka_unit_test(test_nbf_now_is_accepted),
	    cmocka_unit_test(test_string_nbf_is_malformed),
	    cmocka_unit_test(test_matching_issuer_and_audience_are_accepted),
	    cmocka_unit_test(test_wrong_issuer_is_refused),
	    cmocka_unit_test(test_missing_issuer_is_refused_when_configured),
	    cmocka_unit_test(test_wrong_audience_is_refused),
	    cmocka_unit_test(test_audience_array_containing_audience_is_accepted),
	    cmocka_unit_test(test_audience_array_without_audience_is_refused),
	    cmocka_unit_test(test_issuer_and_audience_are_ignored_when_not_configured),
	    cmocka_unit_test(test_unconfigured_verifier_refuses_every_token),
	    cmocka_unit_test(test_unreadable_key_file_is_an_error),
	    cmocka_unit_test(test_key_file_without_public_key_is_an_error),
	    cmocka_unit_test(test_made_token_carries_claims_and_lifetime),
	    cmocka_unit_test(test_made_token_without_org_has_no_org_claim),
	    cmocka_unit_test(test_made_token_passes_verification),
	    cmocka_unit_test(test_making_token_without_secret_fails),
	    cmocka_unit_test(test_memo_answers_a_token_it_was_given_until_its_exp),
	    cmocka_unit_test(test_memo_does_not_answer_another_token),
	    cmocka_unit_test(test_memo_keeps_the_newest_token_of_a_slot),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
