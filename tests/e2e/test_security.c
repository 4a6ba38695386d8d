/*
 * test_security.c: tokens, keys, roles and TLS (issue 7, section 5), against the real binary.
 *
 * - JWT edges: a `crit` header, an `alg` spelled otherwise than "HS256" (or "none"), and `exp`
 *   and `nbf` just inside and just outside the default 30 s leeway.
 * - `enterprised -t` refuses an HS256 secret under 32 bytes (file: FILE:LINE; environment:
 *   `environment JWT_SECRET:`) and a public key without CURSOR_SECRET, with exit code 2.
 * - Under RS256 a list cursor signed with the key once derived from the public key's path is
 *   refused; the server's own cursors work.
 * - every /performance route is 403 for every role but platform_admin.
 * - /health/ready answers from a state under a second old: the MongoDB pings counted in
 *   /metrics do not grow with the number of calls.
 * - TLS: a client limited to CBC suites or to TLS 1.1 cannot connect; AES-GCM and
 *   ChaCha20-Poly1305 can; no session ticket is issued.
 *
 * One HS256 server (2 workers) on one FerretDB and Redis; the RS256 test starts its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jwt.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "client.h"
#include "harness.h"
#include "page.h"

#define V1 "/api/v1"
#define ORGS V1 "/organizations"
#define SOME_ORG "0123456789abcdef01234567"
#define WORKERS 2
#define CURSOR_SECRET_E2E "e2e-cursor-secret-0123456789abcdef"

static struct harness_deps deps;
static struct harness_server server;
static char *admin; /* a platform_admin token of the HS256 server */

/* --- tokens made by hand: any header, any payload, signed HS256 with the harness secret --- */

static char *
b64url(const unsigned char *in, size_t n)
{
	char *out = malloc(n / 3 * 4 + 8);
	int len, i, j = 0;

	assert_non_null(out);
	len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	for (i = 0; i < len && out[i] != '='; i++)
		out[j++] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	out[j] = '\0';
	return out;
}

static char *
token_hs256(const char *header_json, const char *payload_json)
{
	char *h = b64url((const unsigned char *)header_json, strlen(header_json));
	char *p = b64url((const unsigned char *)payload_json, strlen(payload_json));
	char *input = client_strf("%s.%s", h, p), *sig, *tok;
	unsigned char mac[32];
	unsigned int maclen = sizeof(mac);

	assert_non_null(HMAC(EVP_sha256(), HARNESS_JWT_SECRET, (int)strlen(HARNESS_JWT_SECRET),
			     (const unsigned char *)input, strlen(input), mac, &maclen));
	sig = b64url(mac, maclen);
	tok = client_strf("%s.%s", input, sig);
	free(h);
	free(p);
	free(input);
	free(sig);
	return tok;
}

/* A platform_admin payload with exp and nbf relative to now (nbf 0: none). */
static char *
payload(long exp_from_now, long nbf_from_now)
{
	long now = (long)time(NULL);

	if (nbf_from_now == 0)
		return client_strf("{\"sub\":\"e2e\",\"role\":\"platform_admin\",\"exp\":%ld}",
				   now + exp_from_now);
	return client_strf("{\"sub\":\"e2e\",\"role\":\"platform_admin\",\"exp\":%ld,\"nbf\":%ld}",
			   now + exp_from_now, now + nbf_from_now);
}

/* GET /organizations with the token: its status. */
static long
status_with(const char *token)
{
	struct harness_response r;
	long status;

	client_call("GET", ORGS, token, NULL, &r);
	status = r.status;
	if (status == 401)
		client_expect_problem(&r, 401);
	harness_response_free(&r);
	return status;
}

static void
expect_status(const char *header_json, const char *payload_json, long want)
{
	char *tok = token_hs256(header_json, payload_json);
	long got = status_with(tok);

	if (got != want)
		fail_msg("header %s payload %s: %ld, want %ld", header_json, payload_json, got,
			 want);
	free(tok);
}

static void
test_handmade_token_in_exact_spelling_is_accepted(void **state)
{
	char *p = payload(600, 0);

	expect_status("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", p, 200);
	free(p);
}

/* RFC 7515 section 4.1.11: we understand no extension, so any crit is refused. */
static void
test_token_with_crit_is_401(void **state)
{
	char *p = payload(600, 0);

	expect_status("{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}", p, 401);
	expect_status("{\"alg\":\"HS256\",\"b64\":false,\"crit\":[\"b64\"]}", p, 401);
	expect_status("{\"alg\":\"HS256\",\"crit\":[]}", p, 401);
	free(p);
}

/* RFC 7515 section 4.1.1: "alg" is case-sensitive; libjwt alone would take these. */
static void
test_alg_in_another_spelling_or_none_is_401(void **state)
{
	static const char *const headers[] = {"{\"alg\":\"hs256\"}", "{\"alg\":\"Hs256\"}",
					      "{\"alg\":\"HS256 \"}", "{\"alg\":\"none\"}",
					      "{\"alg\":\"NONE\"}"};
	char *p = payload(600, 0);
	size_t i;

	for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
		expect_status(headers[i], p, 401);
	free(p);
}

/* Default leeway 30 s; the margins (10 s and 15 s on each side) leave room for a slow run. */
static void
test_exp_just_inside_the_leeway_is_accepted_and_outside_refused(void **state)
{
	char *inside = payload(-15, 0), *outside = payload(-45, 0);

	expect_status("{\"alg\":\"HS256\"}", inside, 200);
	expect_status("{\"alg\":\"HS256\"}", outside, 401);
	free(inside);
	free(outside);
}

static void
test_nbf_just_inside_the_leeway_is_accepted_and_outside_refused(void **state)
{
	char *inside = payload(600, 15), *outside = payload(600, 45);

	expect_status("{\"alg\":\"HS256\"}", inside, 200);
	expect_status("{\"alg\":\"HS256\"}", outside, 401);
	free(inside);
	free(outside);
}

/* --- enterprised -t --- */

static int
conf_lines(const char *path)
{
	char *data = harness_read_file(path, NULL), *c;
	int n = 0;

	assert_non_null(data);
	for (c = data; *c != '\0'; c++)
		n += *c == '\n';
	free(data);
	return n;
}

/* enterprised -t -c path: the exit code, stderr in *err (caller frees). */
static int
check_config(const char *path, char **err)
{
	char *args[] = {"-t", "-c", (char *)path, NULL};
	char *out = NULL;
	int status;

	status = harness_server_run(args, NULL, 10000, &out, err);
	free(out);
	if (status == -1)
		fail_msg("enterprised -t -c %s did not exit", path);
	return harness_exit_code(status);
}

static void
test_check_refuses_a_short_secret_in_the_file_with_file_and_line(void **state)
{
	struct harness_server s;
	struct harness_conf c = {.jwt_secret = "e2e-secret-of-thirty-one-bytes!"};
	char *err = NULL, *want;
	int code;

	assert_int_equal(strlen(c.jwt_secret), 31);
	assert_int_equal(harness_conf_write(&s, "short-secret", &c), 0);
	code = check_config(s.conf_path, &err);
	/* auth { jwt_secret ... } are the last lines the harness writes: the line before } */
	want = client_strf("%s:%d: jwt_secret: value is 31 bytes, shorter than 32", s.conf_path,
			   conf_lines(s.conf_path) - 1);
	if (code != 2 || strstr(err, want) == NULL)
		fail_msg("exit %d, want 2 and \"%s\"; stderr:\n%s", code, want, err);
	if (strstr(err, c.jwt_secret) != NULL)
		fail_msg("the secret is quoted back:\n%s", err);
	free(want);
	free(err);
}

static void
test_check_refuses_a_short_secret_in_the_environment(void **state)
{
	struct harness_server s;
	struct harness_conf c = {.jwt_secret = ""};
	char cmd[PATH_MAX * 2 + 128], out[4096];
	size_t n;
	FILE *p;
	int status;

	assert_int_equal(harness_conf_write(&s, "short-env-secret", &c), 0);
	/* the harness keeps the guide's variables away from the server: this run sets its own */
	snprintf(cmd, sizeof(cmd),
		 "env -u JWT_PUBLIC_KEY_FILE -u CURSOR_SECRET JWT_SECRET=too-short-a-secret "
		 "'%s' -t -c '%s' 2>&1",
		 harness_server_bin(), s.conf_path);
	assert_non_null(p = popen(cmd, "r"));
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	status = pclose(p);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 2 ||
	    strstr(out, "environment JWT_SECRET: value is 18 bytes, shorter than 32") == NULL)
		fail_msg("status %d; output:\n%s", status, out);
}

/* A fresh RSA key pair in the harness directory: the public key's path, the private PEM. */
static void
rsa_keys(char pub_path[PATH_MAX], char **priv_pem)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);
	BIO *mem = BIO_new(BIO_s_mem());
	FILE *f;
	char *data;
	long len;

	assert_non_null(k);
	assert_non_null(mem);
	snprintf(pub_path, PATH_MAX, "%s/jwt-public.pem", harness_dir());
	assert_non_null(f = fopen(pub_path, "w"));
	assert_int_equal(PEM_write_PUBKEY(f, k), 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(PEM_write_bio_PrivateKey(mem, k, NULL, NULL, 0, NULL, NULL), 1);
	len = BIO_get_mem_data(mem, &data);
	assert_non_null(*priv_pem = strndup(data, (size_t)len));
	BIO_free(mem);
	EVP_PKEY_free(k);
}

static void
test_check_refuses_a_public_key_without_cursor_secret(void **state)
{
	struct harness_server s;
	char pub[PATH_MAX], *priv, *extra, *err = NULL;
	struct harness_conf c = {.jwt_secret = ""};
	int code;

	rsa_keys(pub, &priv);
	extra = client_strf("auth {\n\tjwt_public_key_file\t%s\n}", pub);
	c.extra = extra;
	assert_int_equal(harness_conf_write(&s, "rs256-no-cursor-secret", &c), 0);
	code = check_config(s.conf_path, &err);
	if (code != 2 ||
	    strstr(err, "cursor_secret (environment CURSOR_SECRET) is not set") == NULL)
		fail_msg("exit %d, want 2 naming cursor_secret; stderr:\n%s", code, err);
	free(err);
	free(extra);
	free(priv);
}

/* --- RS256: list cursors --- */

static char *
token_rs256(const char *priv_pem)
{
	jwt_t *jwt;
	char *tok;
	long now = (long)time(NULL);

	assert_int_equal(jwt_new(&jwt), 0);
	assert_int_equal(jwt_add_grant(jwt, "sub", "e2e-admin"), 0);
	assert_int_equal(jwt_add_grant(jwt, "role", "platform_admin"), 0);
	assert_int_equal(jwt_add_grant_int(jwt, "exp", now + 3600), 0);
	assert_int_equal(
	    jwt_set_alg(jwt, JWT_ALG_RS256, (const unsigned char *)priv_pem, (int)strlen(priv_pem)),
	    0);
	assert_non_null(tok = jwt_encode_str(jwt));
	jwt_free(jwt);
	return tok;
}

static void
test_rs256_cursor_forged_with_the_key_path_is_refused(void **state)
{
	static struct harness_server rs;
	struct harness_conf c = {.jwt_secret = "", .workers = 1};
	struct harness_response r;
	char pub[PATH_MAX], *priv, *extra, *tok, *path, *enc, forged[PAGE_CURSOR_MAX];
	uint8_t old_key[PAGE_KEY_LEN];
	const char *next;
	bson_oid_t oid;
	bson_t *doc;
	int i;

	rsa_keys(pub, &priv);
	extra = client_strf("auth {\n\tjwt_public_key_file\t%s\n\tcursor_secret\t%s\n}", pub,
			    CURSOR_SECRET_E2E);
	c.extra = extra;
	assert_int_equal(harness_server_start(&rs, "rs256", &c, &deps), 0);
	tok = token_rs256(priv);
	for (i = 0; i < 3; i++) {
		char *body = client_strf("{\"name\":\"Cursor Org %d\"}", i);

		client_call_on(&rs, "POST", ORGS, tok, body, &r);
		if (r.status != 201)
			fail_msg("POST: %ld %s", r.status, r.body);
		harness_response_free(&r);
		free(body);
	}

	/* the server's own cursor works */
	client_call_on(&rs, "GET", ORGS "?limit=1", tok, NULL, &r);
	doc = client_expect_json(&r, 200);
	assert_non_null(next = harness_json_str(doc, "pagination.nextCursor"));
	enc = curl_easy_escape(NULL, next, 0);
	path = client_strf(ORGS "?limit=1&cursor=%s", enc);
	curl_free(enc);
	harness_response_free(&r);
	bson_destroy(doc);
	client_call_on(&rs, "GET", path, tok, NULL, &r);
	bson_destroy(client_expect_json(&r, 200));
	harness_response_free(&r);
	free(path);

	/* one signed with the key anyone could derive from the (public) key file's path */
	page_key_derive(pub, strlen(pub), old_key);
	bson_oid_init_from_string(&oid, "ffffffffffffffffffffffff");
	page_cursor_encode(old_key, INT64_C(4102444800000), &oid, forged);
	path = client_strf(ORGS "?limit=1&cursor=%s", forged);
	client_call_on(&rs, "GET", path, tok, NULL, &r);
	client_expect_field_error(&r, 400, "cursor");
	harness_response_free(&r);
	free(path);

	free(tok);
	free(extra);
	free(priv);
	assert_int_equal(harness_exit_code(harness_server_stop(&rs)), 0);
}

/* --- roles --- */

static void
test_performance_routes_are_403_for_every_role_but_platform_admin(void **state)
{
	static const char *const routes[] = {V1 "/performance/metrics/summary",
					     V1 "/performance/cache/stats",
					     V1 "/performance/circuit-breakers"};
	static const char *const roles[] = {"org_admin", "clinic_manager", "provider"};
	struct harness_response r;
	size_t i, j;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		for (j = 0; j < sizeof(roles) / sizeof(roles[0]); j++) {
			char *tok = harness_token(roles[j], SOME_ORG, "someone");

			client_call("GET", routes[i], tok, NULL, &r);
			if (r.status != 403)
				fail_msg("%s as %s: %ld, want 403", routes[i], roles[j], r.status);
			client_expect_problem(&r, 403);
			harness_response_free(&r);
			free(tok);
		}
		client_call("GET", routes[i], admin, NULL, &r);
		bson_destroy(client_expect_json(&r, 200));
		harness_response_free(&r);
	}
}

/* --- readiness --- */

static double
pings_so_far(void)
{
	struct harness_prom p;
	double n = 0;

	if (harness_prom_fetch(server.metrics_url, &p) != 0)
		fail_msg("GET %s failed", server.metrics_url);
	harness_prom_sum(&p, "enterprise_db_commands_total", "command=\"ping\"", &n);
	harness_prom_free(&p);
	return n;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * N ready calls cost at most one refresh per worker per started second, whatever N. The
 * bound is computed from the time the calls took, so a slow machine widens it instead of
 * failing; without the state every call pinged, N pings at least.
 */
static void
test_health_ready_is_answered_from_a_state_under_a_second_old(void **state)
{
	enum { N = 60 };
	struct harness_response r;
	double before, after, t0, elapsed, bound;
	char url[128];
	int i;

	snprintf(url, sizeof(url), "%s" V1 "/health/ready", server.url);
	before = pings_so_far();
	t0 = now_s();
	for (i = 0; i < N; i++) {
		if (harness_get(url, &r) == -1)
			fail_msg("GET %s: %s", url, r.error);
		if (r.status != 200 || strstr(r.body, "\"status\":\"ok\"") == NULL)
			fail_msg("ready: %ld %s", r.status, r.body);
		harness_response_free(&r);
	}
	elapsed = now_s() - t0;
	after = pings_so_far();
	bound = WORKERS * (elapsed + 2.0);
	if (bound >= N)
		skip(); /* too slow a run to tell the two apart */
	print_message("%d ready calls in %.2f s: %.0f pings (bound %.0f)\n", N, elapsed,
		      after - before, bound);
	if (after - before > bound)
		fail_msg("%d ready calls in %.2f s sent %.0f pings; at most %.0f expected", N,
			 elapsed, after - before, bound);
	/* and the state is refreshed: a call after a second pings again */
	harness_sleep_ms(1100);
	before = pings_so_far();
	if (harness_get(url, &r) == -1)
		fail_msg("GET %s: %s", url, r.error);
	harness_response_free(&r);
	after = pings_so_far();
	if (after - before < 1)
		fail_msg("a ready call after more than a second sent no ping");
}

/* --- TLS --- */

struct tls_result {
	int ok;
	char cipher[64];
	char version[16];
	int ticket;
};

/* One handshake with a client limited to [min, max] and the given TLS 1.2 suites. */
static void
tls_try(int min, int max, const char *ciphers, struct tls_result *res)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct sockaddr_in a = {.sin_family = AF_INET};
	SSL_SESSION *sess;
	SSL *ssl;
	int fd;

	memset(res, 0, sizeof(*res));
	assert_non_null(ctx);
	/* a client allowed to offer anything: level 0 lets OpenSSL send TLS 1.1 and old suites */
	assert_int_equal(SSL_CTX_set_min_proto_version(ctx, min), 1);
	assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max), 1);
	SSL_CTX_set_security_level(ctx, 0);
	if (ciphers != NULL)
		assert_int_equal(SSL_CTX_set_cipher_list(ctx, ciphers), 1);
	a.sin_port = htons((uint16_t)server.port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_non_null(ssl = SSL_new(ctx));
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) == 1) {
		res->ok = 1;
		snprintf(res->cipher, sizeof(res->cipher), "%s", SSL_get_cipher_name(ssl));
		snprintf(res->version, sizeof(res->version), "%s", SSL_get_version(ssl));
		if ((sess = SSL_get1_session(ssl)) != NULL) {
			res->ticket = SSL_SESSION_has_ticket(sess);
			SSL_SESSION_free(sess);
		}
		SSL_shutdown(ssl);
	}
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
}

static void
test_tls_client_limited_to_cbc_suites_cannot_connect(void **state)
{
	/* every CBC suite OpenSSL still has for TLS 1.2, with and without ECDHE */
	static const char cbc[] = "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:"
				  "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:"
				  "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:AES128-SHA:AES256-SHA:"
				  "AES128-SHA256:AES256-SHA256:ECDHE-ECDSA-CAMELLIA128-SHA256";
	struct tls_result res;

	tls_try(TLS1_2_VERSION, TLS1_2_VERSION, cbc, &res);
	if (res.ok)
		fail_msg("handshake succeeded with %s", res.cipher);
}

static void
test_tls_1_1_client_cannot_connect(void **state)
{
	struct tls_result res;

	tls_try(TLS1_1_VERSION, TLS1_1_VERSION, "ALL", &res);
	if (res.ok)
		fail_msg("TLS 1.1 handshake succeeded with %s", res.cipher);
	tls_try(TLS1_VERSION, TLS1_VERSION, "ALL", &res);
	if (res.ok)
		fail_msg("TLS 1.0 handshake succeeded with %s", res.cipher);
}

static void
test_tls_aes_gcm_and_chacha20_connect_without_tickets(void **state)
{
	static const char *const suites[] = {"ECDHE-ECDSA-AES128-GCM-SHA256",
					     "ECDHE-ECDSA-AES256-GCM-SHA384",
					     "ECDHE-ECDSA-CHACHA20-POLY1305"};
	struct tls_result res;
	size_t i;

	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		tls_try(TLS1_2_VERSION, TLS1_2_VERSION, suites[i], &res);
		if (!res.ok || strcmp(res.cipher, suites[i]) != 0)
			fail_msg("%s: handshake %s (%s)", suites[i], res.ok ? "ok" : "failed",
				 res.cipher);
		/* tickets off: one never-rotated key would be shared by every worker */
		if (res.ticket)
			fail_msg("%s: the server issued a session ticket", suites[i]);
	}
	tls_try(TLS1_2_VERSION, TLS1_3_VERSION, NULL, &res);
	if (!res.ok || strcmp(res.version, "TLSv1.3") != 0)
		fail_msg("TLS 1.3: %s %s", res.ok ? "ok" : "failed", res.version);
}

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = WORKERS};

	if (harness_init() == -1 || harness_deps_start(&deps) == -1 ||
	    harness_server_start(&server, "security", &c, &deps) == -1)
		return -1;
	if ((admin = harness_token("platform_admin", NULL, "root")) == NULL)
		return -1;
	client_use(&server, admin);
	return 0;
}

static int
group_teardown(void **state)
{
	return client_suite_stop(&deps, &admin);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handmade_token_in_exact_spelling_is_accepted),
	    cmocka_unit_test(test_token_with_crit_is_401),
	    cmocka_unit_test(test_alg_in_another_spelling_or_none_is_401),
	    cmocka_unit_test(test_exp_just_inside_the_leeway_is_accepted_and_outside_refused),
	    cmocka_unit_test(test_nbf_just_inside_the_leeway_is_accepted_and_outside_refused),
	    cmocka_unit_test(test_check_refuses_a_short_secret_in_the_file_with_file_and_line),
	    cmocka_unit_test(test_check_refuses_a_short_secret_in_the_environment),
	    cmocka_unit_test(test_check_refuses_a_public_key_without_cursor_secret),
	    cmocka_unit_test(test_rs256_cursor_forged_with_the_key_path_is_refused),
	    cmocka_unit_test(test_performance_routes_are_403_for_every_role_but_platform_admin),
	    cmocka_unit_test(test_health_ready_is_answered_from_a_state_under_a_second_old),
	    cmocka_unit_test(test_tls_client_limited_to_cbc_suites_cannot_connect),
	    cmocka_unit_test(test_tls_1_1_client_cannot_connect),
	    cmocka_unit_test(test_tls_aes_gcm_and_chacha20_connect_without_tickets),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
