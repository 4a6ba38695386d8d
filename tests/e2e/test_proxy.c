/*
 * test_proxy.c: the front proxy of a multi-instance deployment (conf/haproxy.cfg, issue 7,
 * part 4): HAProxy from Debian in front of one real enterprised (one worker, an access log),
 * both on free loopback ports, TLS on both hops.
 *
 * Requests are written on raw TLS connections (OpenSSL), exactly as given. What reaches
 * enterprised is read from its access log: a sentinel request sent straight to it afterwards
 * is logged after everything before it (one worker, one log buffer), so once the sentinel is
 * in the log, a smuggled request that reached enterprised would be too.
 *
 * haproxy must be installed (tools/deps installs it): without it every test here fails.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "client.h"
#include "harness.h"
#include "proxy.h"

#define LIVE "/api/v1/health/live"
#define HOST "Host: localhost\r\n"

static struct harness_deps deps;
static struct harness_server server;
static struct proxy proxy;
static int sentinels;

/* --- a raw HTTP/1.1 client over TLS ------------------------------------------------------- */

/* The first response is exactly one problem+json of status, and came from the proxy. */
static void
expect_proxy_problem(const struct client_raw_reply *r, int status, const char *what)
{
	char ct[128], srv[64], why[256];
	struct harness_response hr = {.status = r->status};

	if (r->status != status || client_raw_header(r, "content-type", ct, sizeof(ct)) == NULL ||
	    strcmp(ct, "application/problem+json") != 0)
		fail_msg("%s: want a %d problem+json, got:\n%s", what, status, r->data);
	if (client_raw_header(r, "server", srv, sizeof(srv)) != NULL)
		fail_msg("%s: answered by %s, not by the proxy:\n%s", what, srv, r->data);
	hr.headers[0].name = "Content-Type";
	hr.headers[0].value = ct;
	hr.nheaders = 1;
	hr.body = (char *)r->body;
	hr.body_len = strlen(r->body);
	if (harness_problem_check(&hr, why, sizeof(why)) != 0)
		fail_msg("%s: %s:\n%s", what, why, r->data);
}

/* --- what reached enterprised ------------------------------------------------------------- */

/*
 * Sends a sentinel straight to enterprised and waits until its access log shows it; then
 * fails if the log holds marker anywhere.
 */
static void
expect_never_reached_enterprised(const char *marker)
{
	char path[64], *req, *data = NULL;
	struct client_raw_reply r;
	uint64_t deadline = harness_now_ms() + 5000;

	snprintf(path, sizeof(path), "/api/v1/sentinel-%d-%llu", ++sentinels,
		 (unsigned long long)harness_now_ms());
	req = client_strf("GET %s HTTP/1.1\r\n" HOST "Connection: close\r\n\r\n", path);
	client_raw_exchange(server.port, req, strlen(req), &r);
	free(req);
	for (;;) {
		free(data);
		data = harness_read_file(server.accesslog, NULL);
		if (data != NULL && strstr(data, path) != NULL)
			break;
		if (harness_now_ms() > deadline)
			fail_msg("the sentinel %s never reached the access log", path);
		harness_sleep_ms(50);
	}
	if (strstr(data, marker) != NULL)
		fail_msg("%s reached enterprised:\n%s", marker, strstr(data, marker));
	free(data);
}

/* --- the tests ---------------------------------------------------------------------------- */

static void
test_every_error_file_is_problem_json_of_its_status(void **state)
{
	static const int codes[] = {400, 403, 405, 408, 413, 421, 429, 500, 501, 502, 503, 504};
	char path[128], what[160];
	struct client_raw_reply r;
	size_t i, len, blen;
	char *data;
	long cl;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		snprintf(path, sizeof(path), PROXY_ERRORS_DIR "/%d.http", codes[i]);
		if ((data = harness_read_file(path, &len)) == NULL)
			fail_msg("cannot read %s", path);
		assert_true(len < sizeof(r.data));
		memset(&r, 0, sizeof(r));
		memcpy(r.data, data, len);
		free(data);
		if (sscanf(r.data, "HTTP/1.1 %d", &r.status) != 1 ||
		    strstr(r.data, "\r\n\r\n") == NULL)
			fail_msg("%s: not an HTTP/1.1 response", path);
		r.body = strstr(r.data, "\r\n\r\n") + 4;
		snprintf(what, sizeof(what), "%s", path);
		expect_proxy_problem(&r, codes[i], what);
		/* HAProxy sends the file as it is: its length must be right */
		if (client_raw_header(&r, "content-length", what, sizeof(what)) == NULL)
			fail_msg("%s: no Content-Length", path);
		cl = strtol(what, NULL, 10);
		blen = strlen(r.body);
		if (cl != (long)blen)
			fail_msg("%s: Content-Length %ld, body %zu bytes", path, cl, blen);
	}
}

static void
test_a_normal_request_passes_through_the_proxy(void **state)
{
	static const char req[] =
	    "GET " LIVE "?through-proxy HTTP/1.1\r\n" HOST "Connection: close\r\n\r\n";
	struct client_raw_reply r;
	char v[128];

	client_raw_exchange(proxy.port, req, strlen(req), &r);
	if (r.status != 200 || strcmp(r.body, "{\"status\":\"ok\"}") != 0)
		fail_msg("GET through the proxy: %s", r.data);
	if (client_raw_header(&r, "server", v, sizeof(v)) == NULL || strcmp(v, "enterprised") != 0)
		fail_msg("not answered by enterprised: %s", r.data);
	if (client_raw_header(&r, "strict-transport-security", v, sizeof(v)) == NULL)
		fail_msg("no HSTS from the proxy: %s", r.data);
}

/* req (a framing fault with a request for marker behind it) gets 400 and the close. */
static void
expect_refused_by_the_proxy(const char *req, const char *marker, const char *what)
{
	struct client_raw_reply r;
	char srv[64];

	client_raw_exchange(proxy.port, req, strlen(req), &r);
	if (r.status != 400 || !r.closed || r.responses != 1)
		fail_msg("%s: want one 400 and the close, got (closed %d):\n%s", what, r.closed,
			 r.data);
	if (client_raw_header(&r, "server", srv, sizeof(srv)) != NULL)
		fail_msg("%s: passed to enterprised:\n%s", what, r.data);
	expect_never_reached_enterprised(marker);
}

#define POST_LIVE "POST " LIVE " HTTP/1.1\r\n" HOST
#define SMUGGLE(n) "GET /api/v1/smuggled-" #n " HTTP/1.1\r\nHost: a\r\n\r\n"

static void
test_ambiguous_framing_is_400_and_close_and_nothing_behind_it_arrives(void **state)
{
	static const struct {
		const char *what, *req, *marker;
	} cases[] = {
	    {"differing Content-Length fields",
	     POST_LIVE "Content-Length: 5\r\nContent-Length: 40\r\n\r\nhello" SMUGGLE(1),
	     "smuggled-1"},
	    {"differing Content-Length list",
	     POST_LIVE "Content-Length: 5, 40\r\n\r\nhello" SMUGGLE(2), "smuggled-2"},
	    {"invalid Content-Length", POST_LIVE "Content-Length: +5\r\n\r\nhello" SMUGGLE(3),
	     "smuggled-3"},
	    {"invalid Content-Length beside Transfer-Encoding",
	     POST_LIVE
	     "Content-Length: abc\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" SMUGGLE(4),
	     "smuggled-4"},
	    {"Transfer-Encoding with chunked not last",
	     POST_LIVE "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" SMUGGLE(5),
	     "smuggled-5"},
	    {"Transfer-Encoding without chunked beside Content-Length",
	     POST_LIVE "Transfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello" SMUGGLE(6),
	     "smuggled-6"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_refused_by_the_proxy(cases[i].req, cases[i].marker, cases[i].what);
}

/*
 * RFC 9112 §6.3 rule 3: an intermediary that forwards such a message removes the
 * Content-Length and frames by the chunked encoding; HAProxy does that and closes the
 * connection after the answer, so the bytes behind the chunked body are never read.
 */
static void
test_content_length_beside_chunked_is_framed_by_chunked_and_then_closed(void **state)
{
	static const char req[] = POST_LIVE "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n"
					    "\r\n0\r\n\r\n" SMUGGLE(7);
	struct client_raw_reply r;

	client_raw_exchange(proxy.port, req, strlen(req), &r);
	/* enterprised answers the POST itself (405 on /health/live): it got the chunked one */
	if (r.status != 405 || !r.closed || r.responses != 1)
		fail_msg("want enterprised's 405 and the close, got (closed %d):\n%s", r.closed,
			 r.data);
	expect_never_reached_enterprised("smuggled-7");
}

/*
 * RFC 9112 §5.2 lets a server replace obs-fold by spaces instead of refusing it; HAProxy does
 * that, so enterprised receives one well-formed header (its own obs-fold 400 never fires
 * behind the proxy) and both read the bytes behind as the same second request: no desync.
 */
static void
test_obs_fold_is_unfolded_so_proxy_and_server_read_the_same_requests(void **state)
{
	static const char req[] =
	    "GET " LIVE " HTTP/1.1\r\n" HOST "X-Folded: a\r\n b\r\n\r\n"
	    "GET /api/v1/after-fold HTTP/1.1\r\n" HOST "Connection: close\r\n\r\n";
	struct client_raw_reply r;
	const char *second;

	client_raw_exchange(proxy.port, req, strlen(req), &r);
	second = strstr(r.body, "HTTP/1.1 ");
	if (r.status != 200 || r.responses != 2 || second == NULL ||
	    strncmp(second, "HTTP/1.1 404", 12) != 0)
		fail_msg("want 200 then enterprised's 404, got:\n%s", r.data);
}

/*
 * Bytes h2o's parser refuses with its fixed text/plain 400 (written to the socket before any
 * filter of ours) are refused by the proxy itself, which never passes them on.
 */
static void
test_unparsable_requests_are_refused_by_the_proxy_not_by_h2o(void **state)
{
	static const char *const lines[] = {
	    "GET /api/v1/unparsable-1 HTTP/1.1 x\r\n" HOST "\r\n",   /* a malformed request line */
	    "GET /api/v1/unparsable-\0012 HTTP/1.1\r\n" HOST "\r\n", /* a raw control byte */
	    "GET /api/v1/unparsable-3 HTTP/1.1\r\n" HOST "X Bad: 1\r\n\r\n", /* a space in a name */
	    NULL,
	};
	struct client_raw_reply r;
	char ct[128], what[64];
	int i;

	for (i = 0; lines[i] != NULL; i++) {
		snprintf(what, sizeof(what), "unparsable request %d", i);
		/* straight to enterprised: h2o's own answer */
		client_raw_exchange(server.port, lines[i], strlen(lines[i]), &r);
		if (r.status != 400 || client_raw_header(&r, "content-type", ct, sizeof(ct)) == NULL ||
		    strncmp(ct, "text/plain", 10) != 0 || !r.closed)
			fail_msg("%s straight to h2o: want its text/plain 400, got:\n%s", what,
				 r.data);
		/* through the proxy: the proxy's 400, never h2o's */
		expect_refused_by_the_proxy(lines[i], "unparsable-", what);
	}
}

/* A header section of n bytes of one header field X-Big..., as a request for marker. */
static char *
big_request(const char *marker, size_t fields, size_t each)
{
	size_t cap = 256 + fields * (each + 32), len, i;
	char *req = malloc(cap);

	assert_non_null(req);
	len = (size_t)snprintf(req, cap, "GET /api/v1/%s HTTP/1.1\r\n" HOST, marker);
	for (i = 0; i < fields; i++) {
		len += (size_t)snprintf(req + len, cap - len, "X-Big-%zu: ", i);
		memset(req + len, 'a', each);
		len += each;
		memcpy(req + len, "\r\n", 2);
		len += 2;
	}
	memcpy(req + len, "\r\n", 3);
	return req;
}

/*
 * h2o's limit on a header section is H2O_MAX_REQLEN (8192 + 4096 * 100 bytes); HAProxy's is
 * its buffer less the rewrite reserve (16384 - 1024). Past h2o's, h2o answers text/plain; the
 * proxy refuses long before, and passes what it takes (below 15 KiB) to an h2o that takes it.
 */
static void
test_an_oversized_header_section_is_refused_by_the_proxy(void **state)
{
	struct client_raw_reply r;
	char ct[128];
	char *huge = big_request("huge-header", 110, 4000);
	char *big = big_request("big-header", 2, 8000);
	char *fits = big_request("fits-header", 3, 4000);

	client_raw_exchange(server.port, huge, strlen(huge), &r);
	if (r.status != 400 || client_raw_header(&r, "content-type", ct, sizeof(ct)) == NULL ||
	    strncmp(ct, "text/plain", 10) != 0)
		fail_msg("440 KB straight to h2o: want its text/plain 400, got:\n%s", r.data);
	expect_refused_by_the_proxy(huge, "huge-header", "a 440 KB header section");
	expect_refused_by_the_proxy(big, "big-header", "a 16 KB header section");
	client_raw_exchange(proxy.port, fits, strlen(fits), &r);
	if (r.status != 404)
		fail_msg("a 12 KB header section: want enterprised's 404, got:\n%s", r.data);
	free(huge);
	free(big);
	free(fits);
}

/* A header name outside letters, digits and '-': the proxy's own 403, problem+json. */
static void
test_a_header_name_with_an_underscore_gets_the_proxys_problem(void **state)
{
	static const char req[] =
	    "GET /api/v1/underscore HTTP/1.1\r\n" HOST "X_Forwarded_For: 1\r\n"
	    "Connection: close\r\n\r\n";
	struct client_raw_reply r;

	client_raw_exchange(proxy.port, req, strlen(req), &r);
	expect_proxy_problem(&r, 403, "X_Forwarded_For");
	expect_never_reached_enterprised("/api/v1/underscore");
}

/* Last: with no instance left, the proxy answers 503 itself, as problem+json. */
static void
test_no_instance_left_is_the_proxys_503_problem(void **state)
{
	static const char req[] = "GET " LIVE " HTTP/1.1\r\n" HOST "Connection: close\r\n\r\n";
	struct client_raw_reply r;
	char bad[512];
	int status;

	status = harness_server_stop(&server);
	if (harness_server_log_clean(bad, sizeof(bad)) == -1)
		fail_msg("sanitizer report: %s", bad);
	assert_int_equal(harness_exit_code(status), 0);
	client_raw_exchange(proxy.port, req, strlen(req), &r);
	expect_proxy_problem(&r, 503, "no instance");
}

/* --- set-up ------------------------------------------------------------------------------- */

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = 1, .accesslog = 1};
	int ports[2];

	/* the proxy may close while a long request is still being written */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return -1;
	if (client_suite_start(&deps, NULL, NULL, NULL, NULL) == -1)
		return -1;
	if (harness_server_start(&server, "proxied", &c, &deps) == -1)
		return -1;
	/* two server lines, one instance: enough to show the file takes several */
	ports[0] = ports[1] = server.port;
	return proxy_start(&proxy, ports, 2);
}

static int
group_teardown(void **state)
{
	proxy_stop(&proxy);
	return client_suite_stop(&deps, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_error_file_is_problem_json_of_its_status),
	    cmocka_unit_test(test_a_normal_request_passes_through_the_proxy),
	    cmocka_unit_test(test_ambiguous_framing_is_400_and_close_and_nothing_behind_it_arrives),
	    cmocka_unit_test(
		test_content_length_beside_chunked_is_framed_by_chunked_and_then_closed),
	    cmocka_unit_test(test_obs_fold_is_unfolded_so_proxy_and_server_read_the_same_requests),
	    cmocka_unit_test(test_unparsable_requests_are_refused_by_the_proxy_not_by_h2o),
	    cmocka_unit_test(test_an_oversized_header_section_is_refused_by_the_proxy),
	    cmocka_unit_test(test_a_header_name_with_an_underscore_gets_the_proxys_problem),
	    cmocka_unit_test(test_no_instance_left_is_the_proxys_503_problem),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
