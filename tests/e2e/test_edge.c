/*
 * test_edge.c: the HTTP edge against hostile bytes (issue 7, part 4): control bytes and
 * encoded separators in the path, log lines a client cannot forge, request framing (RFC 9112
 * §6.3), Accept-Encoding with q-values, and conditional writes with strong ETags.
 *
 * Requests whose bytes matter are written on a raw TLS connection (OpenSSL), exactly as
 * given: curl would normalise some of them. One server (2 workers, an access log) on one
 * FerretDB and one Redis.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "client.h"
#include "harness.h"

#define ORGS CLIENT_V1 "/organizations"

static struct harness_deps deps;
static struct harness_server server;
static char *admin;

/* --- a raw HTTP/1.1 client over TLS ------------------------------------------------------- */

/* Sends req on a new TLS connection to this binary's server (client_raw_exchange); the whole
 * request must be written. */
static void
raw_exchange(const char *req, size_t len, struct client_raw_reply *out)
{
	client_raw_exchange(server.port, req, len, out);
	if (out->write_failed)
		fail_msg("SSL_write");
}

/* The reply's first response is a problem+json of status. */
static void
raw_expect_problem(const struct client_raw_reply *r, int status, const char *what)
{
	char *ct = strcasestr(r->data, "\r\ncontent-type: application/problem+json");
	char *end = strstr(r->data, "\r\n\r\n");
	char want[32];

	snprintf(want, sizeof(want), "\"status\":%d", status);
	if (r->status != status || ct == NULL || (end != NULL && ct > end) ||
	    strstr(r->body, want) == NULL)
		fail_msg("%s: want a %d problem+json, got:\n%s", what, status, r->data);
}

/* GET path with the admin token, Connection: close. */
static void
raw_get(const char *method, const char *path, const char *body, struct client_raw_reply *out)
{
	char *req = client_strf("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
				"%s\r\nContent-Type: application/json\r\nContent-Length: "
				"%zu\r\nConnection: close\r\n\r\n%s",
				method, path, admin, body ? strlen(body) : 0, body ? body : "");

	raw_exchange(req, strlen(req), out);
	free(req);
}

/* --- the path ------------------------------------------------------------------------------ */

static void
test_every_decoded_control_byte_in_the_path_is_400(void **state)
{
	struct client_raw_reply r;
	char id[25], path[128], what[64];
	int c;

	client_new_org("Edge Control", id);
	for (c = 0; c <= 0x7f; c++) {
		if (c == 0x20)
			c = 0x7f;
		snprintf(path, sizeof(path), ORGS "/%s%%%02Xgarbage", id, c);
		raw_get("GET", path, NULL, &r);
		snprintf(what, sizeof(what), "GET with %%%02X", c);
		raw_expect_problem(&r, 400, what);
	}
}

static void
test_patch_with_a_nul_in_the_path_is_400_and_changes_nothing(void **state)
{
	struct client_raw_reply r;
	char id[25], path[128];
	bson_t *doc;

	client_new_org("Edge Nul", id);
	snprintf(path, sizeof(path), ORGS "/%s%%00x", id);
	raw_get("PATCH", path, "{\"name\":\"Changed\"}", &r);
	raw_expect_problem(&r, 400, "PATCH with %00");
	snprintf(path, sizeof(path), ORGS "/%s", id);
	doc = client_get_json(path, admin);
	client_want_str(doc, "name", "Edge Nul");
	bson_destroy(doc);
}

static void
test_encoded_separators_dots_and_bad_encodings_in_the_path_are_400(void **state)
{
	static const char *const paths[] = {
	    ORGS "%2Fsearch", /* an encoded slash */
	    ORGS "%2fsearch",
	    ORGS "%5Csearch",			    /* an encoded backslash */
	    CLIENT_V1 "/x%2F..%2F..%2Fhealth/live", /* encoded slashes around dots */
	    CLIENT_V1 "/x/%2e%2e/health/live",	    /* encoded dot segments */
	    CLIENT_V1 "/x/%2E./health/live",
	    CLIENT_V1 "/x/../health/live", /* plain ones too: never resolved */
	    CLIENT_V1 "/./health/live",
	    CLIENT_V1 "/health/live/%2e",
	    CLIENT_V1 "/health/live%zz", /* malformed percent-encoding */
	    CLIENT_V1 "/health/live%4",
	    CLIENT_V1 "/health/live%",
	    CLIENT_V1 "/health/%C0%AElive",    /* an overlong '.' */
	    CLIENT_V1 "/health/%C0%AF",	       /* an overlong '/' */
	    CLIENT_V1 "/health/live%FF",       /* not UTF-8 */
	    CLIENT_V1 "/health/live%ED%A0%80", /* a surrogate */
	    NULL,
	};
	struct client_raw_reply r;
	int i;

	for (i = 0; paths[i] != NULL; i++) {
		raw_get("GET", paths[i], NULL, &r);
		raw_expect_problem(&r, 400, paths[i]);
	}
	/* and what is well-formed still routes */
	raw_get("GET", CLIENT_V1 "/health/live", NULL, &r);
	if (r.status != 200)
		fail_msg("GET /health/live: %s", r.data);
	raw_get("GET", CLIENT_V1 "/health/%6Cive", NULL, &r); /* an encoded 'l' */
	if (r.status != 200)
		fail_msg("GET /health/%%6Cive: %s", r.data);
	raw_get("GET", CLIENT_V1 "/caf%C3%A9", NULL, &r); /* valid UTF-8: no such route */
	raw_expect_problem(&r, 404, "GET /caf%C3%A9");
}

/* --- log lines --------------------------------------------------------------------------- */

static void
test_an_encoded_newline_cannot_forge_an_access_log_line(void **state)
{
	struct client_raw_reply r;
	char path[160], *data = NULL, *line, *save;
	uint64_t deadline = harness_now_ms() + 5000;
	unsigned long long probe = (unsigned long long)harness_now_ms();

	snprintf(path, sizeof(path),
		 CLIENT_V1 "/probe-%llu%%0AFORGED-%llu%%20127.0.0.1%%20GET%%20/admin%%20200", probe,
		 probe);
	raw_get("GET", path, NULL, &r); /* refused or not, it is logged */
	/* the line is written by the 200 ms flush */
	for (;;) {
		char want[64];

		free(data);
		data = harness_read_file(server.accesslog, NULL);
		snprintf(want, sizeof(want), "probe-%llu", probe);
		if (data != NULL && strstr(data, want) != NULL)
			break;
		if (harness_now_ms() > deadline)
			fail_msg("no access log line for %s", path);
		harness_sleep_ms(50);
	}
	for (line = strtok_r(data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "FORGED", 6) == 0)
			fail_msg("a forged access log line: %s", line);
		if (strstr(line, "probe-") != NULL && strstr(line, "\\x0aFORGED") == NULL)
			fail_msg("the newline is not escaped: %s", line);
	}
	free(data);
}

/* --- framing ------------------------------------------------------------------------------ */

#define SMUGGLED "GET " CLIENT_V1 "/health/live HTTP/1.1\r\nHost: a\r\n\r\n"

/* req (a fault, with SMUGGLED behind it) gets one 400 problem, and the connection closes. */
static void
expect_refused_and_closed(const char *req, const char *what)
{
	struct client_raw_reply r;

	raw_exchange(req, strlen(req), &r);
	raw_expect_problem(&r, 400, what);
	if (r.responses != 1 || !r.closed)
		fail_msg("%s: want one answer and a closed connection; %d answers, %s:\n%s", what,
			 r.responses, r.closed ? "closed" : "left open", r.data);
}

static void
test_differing_content_lengths_are_400_and_close(void **state)
{
	struct client_raw_reply r;
	const char *ok = "GET " CLIENT_V1 "/health/live HTTP/1.1\r\nHost: a\r\n"
			 "Content-Length: 0\r\nContent-Length: 0\r\n\r\n"
			 "GET " CLIENT_V1 "/health/live HTTP/1.1\r\nHost: a\r\n"
			 "Connection: close\r\n\r\n";

	expect_refused_and_closed("POST " CLIENT_V1 "/health/live HTTP/1.1\r\nHost: a\r\n"
				  "Content-Length: 5\r\nContent-Length: 50\r\n\r\nhello" SMUGGLED,
				  "Content-Length 5 and 50");
	expect_refused_and_closed("POST " CLIENT_V1 "/health/live HTTP/1.1\r\nHost: a\r\n"
				  "Content-Length: 0\r\ncontent-length: 1\r\n\r\n" SMUGGLED,
				  "Content-Length 0 and 1");
	/* equal ones are one value (RFC 9112 §6.3): served, and the connection kept */
	raw_exchange(ok, strlen(ok), &r);
	if (r.status != 200 || r.responses != 2)
		fail_msg("two pipelined GETs (equal Content-Lengths): %s", r.data);
}

static void
test_content_length_beside_transfer_encoding_is_400_and_close(void **state)
{
	expect_refused_and_closed("POST " CLIENT_V1 "/health/live HTTP/1.1\r\nHost: a\r\n"
				  "Transfer-Encoding: chunked\r\nContent-Length: abc\r\n\r\n"
				  "0\r\n\r\n" SMUGGLED,
				  "an invalid Content-Length beside Transfer-Encoding");
	expect_refused_and_closed("POST " CLIENT_V1 "/health/live HTTP/1.1\r\nHost: a\r\n"
				  "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
				  "0\r\n\r\n" SMUGGLED,
				  "Content-Length beside Transfer-Encoding");
}

static void
test_obs_fold_is_400_and_close(void **state)
{
	expect_refused_and_closed("GET " CLIENT_V1 "/health/live HTTP/1.1\r\nHost: a\r\n"
				  "X-Note: one\r\n two\r\n\r\n" SMUGGLED,
				  "a folded X-Note");
	expect_refused_and_closed("GET " CLIENT_V1 "/health/live HTTP/1.1\r\nHost: a\r\n"
				  "X-Note: one\r\n\ttwo\r\n\r\n" SMUGGLED,
				  "a folded X-Note (tab)");
}

/* --- Accept-Encoding ------------------------------------------------------------------------ */

/* The Content-Encoding of a ≥ 1 KiB list answer under accept-encoding `ae`, or "identity". */
static void
expect_coding(const char *ae, const char *want)
{
	char hdr[160];
	const char *headers[] = {hdr, NULL};
	char *url = client_strf("%s" ORGS "?limit=100", server.url);
	struct harness_response r;
	const char *ce;

	snprintf(hdr, sizeof(hdr), "Accept-Encoding: %s", ae);
	if (harness_request_token("GET", url, admin, headers, NULL, 0, &r) == -1)
		fail_msg("GET %s: %s", url, r.error);
	assert_int_equal(r.status, 200);
	ce = harness_header(&r, "content-encoding");
	if (strcmp(ce != NULL ? ce : "identity", want) != 0)
		fail_msg("Accept-Encoding: %s gave %s, want %s (%zu bytes)", ae,
			 ce != NULL ? ce : "identity", want, r.body_len);
	harness_response_free(&r);
	free(url);
}

static void
test_accept_encoding_q_values_decide_gzip(void **state)
{
	char id[25];
	int i;

	for (i = 0; i < 8; i++)
		client_new_org("Edge Gzip Organization With A Long Enough Name", id);
	expect_coding("gzip;q=1.0, br;q=0.5", "gzip");
	expect_coding("br;q=1, gzip;q=0.8", "gzip");
	expect_coding("GZIP ; Q=0.5", "gzip");
	expect_coding("*;q=0.1", "gzip");
	expect_coding("gzip", "gzip");
	/* and a weight of 0, or none that parses, still refuses it */
	expect_coding("gzip;q=0", "identity");
	expect_coding("gzip;q=0.000, *;q=1", "identity");
	expect_coding("br", "identity");
	expect_coding("gzip;q=2", "identity");
	expect_coding("identity", "identity");
}

static void
test_a_gzip_answer_has_its_own_strong_etag_and_revalidates(void **state)
{
	const char *gz[] = {"Accept-Encoding: gzip", NULL, NULL};
	char *url = client_strf("%s" ORGS "?limit=100", server.url), *plain, *inm;
	struct harness_response r;
	const char *tag;

	if (harness_request_token("GET", url, admin, NULL, NULL, 0, &r) == -1)
		fail_msg("GET %s: %s", url, r.error);
	plain = client_strf("%s", harness_header(&r, "etag") ? harness_header(&r, "etag") : "");
	harness_response_free(&r);
	if (harness_request_token("GET", url, admin, gz, NULL, 0, &r) == -1)
		fail_msg("GET %s: %s", url, r.error);
	tag = harness_header(&r, "etag");
	if (tag == NULL || strcmp(tag, plain) == 0 || tag[0] != '"' ||
	    strstr(tag, "-gzip\"") == NULL)
		fail_msg("gzip answer's ETag %s, identity's %s", tag ? tag : "(none)", plain);
	inm = client_strf("If-None-Match: %s", tag);
	gz[1] = inm;
	harness_response_free(&r);
	if (harness_request_token("GET", url, admin, gz, NULL, 0, &r) == -1)
		fail_msg("GET %s: %s", url, r.error);
	assert_int_equal(r.status, 304);
	harness_response_free(&r);
	free(inm);
	free(plain);
	free(url);
}

/* --- conditional writes -------------------------------------------------------------------- */

/* The ETag of GET path (a strong tag). Caller frees. */
static char *
etag_of_get(const char *path)
{
	struct harness_response r;
	const char *tag;
	char *copy;

	client_call("GET", path, admin, NULL, &r);
	assert_int_equal(r.status, 200);
	if ((tag = harness_header(&r, "etag")) == NULL)
		fail_msg("GET %s: no ETag", path);
	copy = client_strf("%s", tag);
	harness_response_free(&r);
	return copy;
}

/* method path with one extra header; the response in r. */
static void
call_with(const char *method, const char *path, const char *header, const char *body,
	  struct harness_response *r)
{
	const char *headers[] = {header, NULL};
	char *url = client_strf("%s%s", server.url, path);

	if (harness_request_token(method, url, admin, headers, body, body ? strlen(body) : 0, r) ==
	    -1)
		fail_msg("%s %s: %s", method, url, r->error);
	free(url);
}

static void
test_get_hands_out_a_strong_etag_of_the_identity_body(void **state)
{
	char id[25], *path, *tag;

	client_new_org("Edge Strong", id);
	path = client_strf(ORGS "/%s", id);
	tag = etag_of_get(path);
	if (tag[0] != '"' || strncmp(tag, "W/", 2) == 0)
		fail_msg("GET's ETag is not strong: %s", tag);
	free(tag);
	free(path);
}

static void
test_writes_answer_the_new_etag_and_writes_chain_on_it(void **state)
{
	struct harness_response r;
	char id[25], *path, *tag, *hdr;
	const char *got;

	client_call("POST", ORGS, admin, "{\"name\":\"Edge Chain\"}", &r);
	assert_int_equal(r.status, 201);
	bson_t *doc = harness_json(&r);
	snprintf(id, sizeof(id), "%s", harness_json_str(doc, "id"));
	bson_destroy(doc);
	path = client_strf(ORGS "/%s", id);
	if ((got = harness_header(&r, "etag")) == NULL)
		fail_msg("201 without an ETag");
	tag = etag_of_get(path);
	assert_string_equal(got, tag);
	harness_response_free(&r);

	/* two PATCHes chained on the tags the writes answered, no GET between */
	hdr = client_strf("If-Match: %s", tag);
	call_with("PATCH", path, hdr, "{\"name\":\"Edge Chain 2\"}", &r);
	assert_int_equal(r.status, 200);
	free(hdr);
	if ((got = harness_header(&r, "etag")) == NULL || strcmp(got, tag) == 0)
		fail_msg("PATCH answered ETag %s (before: %s)", got ? got : "(none)", tag);
	hdr = client_strf("If-Match: %s", got);
	harness_response_free(&r);
	call_with("PATCH", path, hdr, "{\"name\":\"Edge Chain 3\"}", &r);
	if (r.status != 200)
		fail_msg("chained PATCH: %ld %s", r.status, r.body);
	got = harness_header(&r, "etag");
	free(tag);
	tag = etag_of_get(path);
	if (got == NULL || strcmp(got, tag) != 0)
		fail_msg("PATCH answered ETag %s, GET says %s", got ? got : "(none)", tag);
	harness_response_free(&r);
	free(hdr);
	free(tag);
	free(path);
}

static void
test_if_match_compares_strongly(void **state)
{
	struct harness_response r;
	char id[25], *path, *tag, *hdr;

	client_new_org("Edge Weak", id);
	path = client_strf(ORGS "/%s", id);
	tag = etag_of_get(path);
	/* the same opaque tag, weak: a weak comparison would match it */
	hdr = client_strf("If-Match: W/%s", strncmp(tag, "W/", 2) == 0 ? tag + 2 : tag);
	call_with("PATCH", path, hdr, "{\"name\":\"Edge Weak 2\"}", &r);
	client_expect_problem(&r, 412);
	harness_response_free(&r);
	call_with("DELETE", path, hdr, NULL, &r);
	client_expect_problem(&r, 412);
	harness_response_free(&r);
	free(hdr);
	free(tag);
	free(path);
}

static void
test_if_none_match_star_on_an_existing_record_is_412(void **state)
{
	struct harness_response r;
	char id[25], *path;

	client_new_org("Edge None", id);
	path = client_strf(ORGS "/%s", id);
	call_with("PATCH", path, "If-None-Match: *", "{\"name\":\"Edge None 2\"}", &r);
	client_expect_problem(&r, 412);
	harness_response_free(&r);
	call_with("DELETE", path, "If-None-Match: *", NULL, &r);
	client_expect_problem(&r, 412);
	harness_response_free(&r);
	bson_destroy(client_get_json(path, admin)); /* still there */
	free(path);
}

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = 2, .accesslog = 1};

	if (client_suite_start(&deps, &admin, &server, "edge", &c) == -1)
		return -1;
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
	    cmocka_unit_test(test_every_decoded_control_byte_in_the_path_is_400),
	    cmocka_unit_test(test_patch_with_a_nul_in_the_path_is_400_and_changes_nothing),
	    cmocka_unit_test(test_encoded_separators_dots_and_bad_encodings_in_the_path_are_400),
	    cmocka_unit_test(test_an_encoded_newline_cannot_forge_an_access_log_line),
	    cmocka_unit_test(test_differing_content_lengths_are_400_and_close),
	    cmocka_unit_test(test_content_length_beside_transfer_encoding_is_400_and_close),
	    cmocka_unit_test(test_obs_fold_is_400_and_close),
	    cmocka_unit_test(test_accept_encoding_q_values_decide_gzip),
	    cmocka_unit_test(test_a_gzip_answer_has_its_own_strong_etag_and_revalidates),
	    cmocka_unit_test(test_get_hands_out_a_strong_etag_of_the_identity_body),
	    cmocka_unit_test(test_writes_answer_the_new_etag_and_writes_chain_on_it),
	    cmocka_unit_test(test_if_match_compares_strongly),
	    cmocka_unit_test(test_if_none_match_star_on_an_existing_record_is_412),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
