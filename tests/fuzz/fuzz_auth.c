/*
 * fuzz_auth: Authorization header values through auth_verify (src/auth.c) with a fixed HS256
 * key, nothing on the network. The first byte picks the mode and whether issuer and audience
 * are configured:
 *   - raw: the rest is the header value as a client sends it (shape checks, base64url, libjwt's
 *     decoding, the signature check);
 *   - signed: the rest is "<JOSE header JSON>\n<claims JSON>", which the harness encodes and
 *     signs with the key, so the claim checks (exp, nbf, iss, aud, sub, role, org) see every
 *     kind of claim set a holder of a valid key, or a token issuer's bug, could produce.
 *
 * Properties: no crash; a refusal always says why; an accepted token gives a principal whose
 * sub is non-empty and NUL-terminated, and whose org is 24 lower-case hex digits unless the
 * role is platform_admin; the token's exp lies after the time of the check.
 */
#include "fuzz.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "config.h"

#define FUZZ_SECRET "fuzz-hs256-secret-of-at-least-32-bytes!"
#define FUZZ_NOW 1800000000u

static struct auth *fuzz_plain, *fuzz_strict;

static struct auth *
fuzz_auth_new(const char *issuer, const char *audience)
{
	static struct config c;
	char err[256];
	struct auth *a;

	config_defaults(&c);
	snprintf(c.jwt_secret, sizeof(c.jwt_secret), "%s", FUZZ_SECRET);
	snprintf(c.jwt_issuer, sizeof(c.jwt_issuer), "%s", issuer);
	snprintf(c.jwt_audience, sizeof(c.jwt_audience), "%s", audience);
	if ((a = auth_new(&c, err, sizeof(err))) == NULL) {
		fprintf(stderr, "auth_new: %s\n", err);
		abort();
	}
	return a;
}

/* base64url without padding of in into out (4/3 of n plus 4 bytes); returns its length. */
static size_t
fuzz_b64url(const uint8_t *in, size_t n, char *out)
{
	int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	int i;

	while (len > 0 && out[len - 1] == '=')
		len--;
	for (i = 0; i < len; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	out[len] = '\0';
	return (size_t)len;
}

/* "Bearer " + b64(hdr) + "." + b64(claims) + "." + b64(HMAC-SHA256); a malloc'd string. */
static char *
fuzz_sign(const uint8_t *hdr, size_t hlen, const uint8_t *claims, size_t clen, size_t *outlen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t cap = 7 + (hlen + clen + 2) / 3 * 4 + 2 + 64 + 8, n;
	char *s = malloc(cap);

	if (s == NULL)
		abort();
	memcpy(s, "Bearer ", 7);
	n = 7;
	n += fuzz_b64url(hdr, hlen, s + n);
	s[n++] = '.';
	n += fuzz_b64url(claims, clen, s + n);
	if (HMAC(EVP_sha256(), FUZZ_SECRET, (int)strlen(FUZZ_SECRET), (const unsigned char *)s + 7,
		 n - 7, mac, &maclen) == NULL)
		abort();
	s[n++] = '.';
	n += fuzz_b64url(mac, maclen, s + n);
	FUZZ_ASSERT(n < cap);
	*outlen = n;
	return s;
}

static void
fuzz_check(const struct auth *a, const char *header, size_t len)
{
	struct auth_principal p;
	char err[128];
	size_t i;

	err[0] = '\0';
	memset(&p, 0xa5, sizeof(p));
	if (auth_verify(a, header, len, FUZZ_NOW, &p, err, sizeof(err)) != 0) {
		FUZZ_ASSERT(err[0] != '\0');
		return;
	}
	FUZZ_ASSERT(memchr(p.sub, '\0', sizeof(p.sub)) != NULL && p.sub[0] != '\0');
	FUZZ_ASSERT(p.expires_s > FUZZ_NOW);
	FUZZ_ASSERT(auth_role_name(p.role) != NULL);
	if (p.role == AUTH_ROLE_PLATFORM_ADMIN)
		return;
	for (i = 0; i < 24; i++)
		FUZZ_ASSERT((p.org[i] >= '0' && p.org[i] <= '9') ||
			    (p.org[i] >= 'a' && p.org[i] <= 'f'));
	FUZZ_ASSERT(p.org[24] == '\0');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct auth *a;
	const uint8_t *nl;
	char *header;
	size_t len;

	if (fuzz_plain == NULL) {
		fuzz_plain = fuzz_auth_new("", "");
		fuzz_strict = fuzz_auth_new("https://issuer.example", "enterprise-api");
	}
	if (size < 1 || size > 8192)
		return 0;
	a = (data[0] & 2) ? fuzz_strict : fuzz_plain;
	if (!(data[0] & 1)) {
		/* the header value is not NUL-terminated in the request */
		header = malloc(size - 1 > 0 ? size - 1 : 1);
		if (header == NULL)
			abort();
		memcpy(header, data + 1, size - 1);
		fuzz_check(a, header, size - 1);
		free(header);
		return 0;
	}
	if ((nl = memchr(data + 1, '\n', size - 1)) == NULL)
		return 0;
	header = fuzz_sign(data + 1, (size_t)(nl - data - 1), nl + 1,
			   size - (size_t)(nl + 1 - data), &len);
	fuzz_check(a, header, len);
	free(header);
	return 0;
}
