/*
 * test_edge.c: the request-edge checks of src/edge.c (path decoding, HTTP/1 framing,
 * Accept-Encoding) and the log escaping of src/log.c, on bytes alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "accesslog.h"
#include "buf.h"
#include "edge.h"
#include "log.h"

static int
decode(const char *raw, char *out, size_t outlen)
{
	const char *why = NULL;
	int n = edge_path_decode(raw, strlen(raw), out, outlen, &why);

	if (n == -1)
		assert_non_null(why);
	return n;
}

static void
test_path_decodes_percent_escapes_and_utf8(void **state)
{
	char out[64];

	assert_int_equal(decode("/api/v1/health/%6Cive", out, sizeof(out)), 19);
	assert_string_equal(out, "/api/v1/health/live");
	assert_int_equal(decode("/caf%C3%A9+x", out, sizeof(out)), 8);
	assert_string_equal(out, "/caf\xC3\xA9+x");
	assert_int_equal(decode("/", out, sizeof(out)), 1);
	assert_int_equal(decode("/a/.b/..c/...", out, sizeof(out)), 13);
}

static void
test_path_refuses_every_control_byte_raw_or_decoded(void **state)
{
	char raw[32], out[64];
	int c;

	for (c = 0; c < 0x80; c++) {
		if (c >= 0x20 && c != 0x7f)
			continue;
		snprintf(raw, sizeof(raw), "/a%%%02Xb", c);
		assert_int_equal(decode(raw, out, sizeof(out)), -1);
		snprintf(raw, sizeof(raw), "/a%%%02xb", c);
		assert_int_equal(decode(raw, out, sizeof(out)), -1);
		if (c != 0) {
			snprintf(raw, sizeof(raw), "/a%cb", c);
			assert_int_equal(decode(raw, out, sizeof(out)), -1);
		}
	}
}

static void
test_path_refuses_encoded_separators_and_dot_segments(void **state)
{
	static const char *const bad[] = {
	    "/a%2Fb", "/a%2fb", "/a%5Cb",      "/a%5cb",    "/a/../b", "/a/./b", "/..",
	    "/.",     "/a/..",	"/a/%2e%2e/b", "/a/%2E./b", "/a/.%2e", "/a/%2e", NULL,
	};
	char out[64];
	int i;

	for (i = 0; bad[i] != NULL; i++)
		assert_int_equal(decode(bad[i], out, sizeof(out)), -1);
}

static void
test_path_refuses_bad_encodings_and_non_utf8(void **state)
{
	static const char *const bad[] = {
	    "/a%",	   "/a%4",  "/a%zz", "/a%4g",	    "/a%C0%AE",	      "/a%C0%AF",
	    "/a%E0%80%AF", "/a%FF", "/a%C3", "/a%ED%A0%80", "/a%F4%90%80%80", "/a\xFF",
	    "a/b",	   "",	    NULL,
	};
	char out[64];
	int i;

	for (i = 0; bad[i] != NULL; i++)
		assert_int_equal(decode(bad[i], out, sizeof(out)), -1);
}

static void
test_path_too_long_is_minus_two(void **state)
{
	char out[8];

	assert_int_equal(decode("/1234567", out, sizeof(out)), -2);
	assert_int_equal(decode("/123456", out, sizeof(out)), 7);
}

static int
framing(const char *raw)
{
	const char *why = NULL;
	int rc = edge_framing_check(raw, strlen(raw), &why);

	if (rc != 0)
		assert_non_null(why);
	return rc;
}

static void
test_framing_refuses_differing_lengths_te_with_cl_and_obs_fold(void **state)
{
	assert_int_equal(
	    framing("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), -1);
	assert_int_equal(
	    framing("POST / HTTP/1.1\r\ncontent-length: 5\r\nCONTENT-LENGTH:6\r\n\r\n"), -1);
	assert_int_equal(
	    framing("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: x\r\n\r\n"),
	    -1);
	assert_int_equal(
	    framing("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
	    -1);
	assert_int_equal(framing("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"), -1);
	assert_int_equal(framing("GET / HTTP/1.1\nA: b\n\tc\n\n"), -1);
}

static void
test_framing_accepts_equal_lengths_and_ignores_the_body(void **state)
{
	assert_int_equal(
	    framing("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length:  5 \r\n\r\n"), 0);
	assert_int_equal(framing("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				 "0\r\nContent-Length: 4\r\n\r\n"),
			 0);
	assert_int_equal(framing("GET / HTTP/1.1\r\nHost: a\r\n\r\n GET / HTTP/1.1\r\n"), 0);
	assert_int_equal(framing(""), 0);
}

static int
gzip_ok(const char *v)
{
	return edge_accepts_gzip(v, strlen(v));
}

static void
test_accept_encoding_reads_q_values(void **state)
{
	assert_true(gzip_ok("gzip"));
	assert_true(gzip_ok("gzip;q=1.0, br;q=0.5"));
	assert_true(gzip_ok("br, GZIP ; Q=0.001"));
	assert_true(gzip_ok("x-gzip"));
	assert_true(gzip_ok("*"));
	assert_true(gzip_ok("identity, *;q=0.5"));
	assert_true(gzip_ok("gzip;q=0, gzip;q=1"));
	assert_false(gzip_ok("gzip;q=0"));
	assert_false(gzip_ok("gzip;q=0.000"));
	assert_false(gzip_ok("gzip;q=0, *"));
	assert_false(gzip_ok("*;q=0"));
	assert_false(gzip_ok("br, identity"));
	assert_false(gzip_ok("gzip;q=2"));
	assert_false(gzip_ok("gzip;q=1.5"));
	assert_false(gzip_ok("gzip;q=0.1234"));
	assert_false(gzip_ok("gzip;q="));
	assert_false(gzip_ok("gzipx"));
	assert_false(gzip_ok(""));
}

static void
test_log_escape_keeps_one_line(void **state)
{
	struct buf b;

	buf_init(&b);
	log_escape(&b, "a\nb\r\x7f\\\" \xC3\xA9", 10, 0);
	buf_appendc(&b, '\0');
	assert_string_equal(b.data, "a\\x0ab\\x0d\\x7f\\x5c\" \xC3\xA9");
	buf_reset(&b);
	log_escape(&b, "a\nb\\\" \xC3\xA9", 8, 1);
	buf_appendc(&b, '\0');
	assert_string_equal(b.data, "a\\x0ab\\x5c\\x22\\x20\\xc3\\xa9");
	buf_free(&b);
}

static void
test_log_escape_escapes_bytes_that_are_not_utf8_and_line_separators(void **state)
{
	const char *in;
	struct buf b;

	buf_init(&b);
	/* a lone 0xFF, a cut sequence, an overlong '/', NEL (U+0085), U+2028; then valid UTF-8 */
	in = "\xFF|\xC3(|\xC0\xAF|\xC2\x85|\xE2\x80\xA8|\xE2\x82\xAC";
	log_escape(&b, in, strlen(in), 0);
	buf_appendc(&b, '\0');
	assert_string_equal(b.data,
			    "\\xff|\\xc3(|\\xc0\\xaf|\\xc2\\x85|\\xe2\\x80\\xa8|\xE2\x82\xAC");
	buf_free(&b);
}

static void
test_request_id_takes_1_to_64_safe_characters(void **state)
{
	char id[66];

	(void)state;
	assert_true(edge_request_id_ok("a", 1));
	assert_true(edge_request_id_ok("Req-42_x.y:z", 12));
	memset(id, 'f', sizeof(id));
	assert_true(edge_request_id_ok(id, 64));
	assert_false(edge_request_id_ok(id, 65));
	assert_false(edge_request_id_ok("", 0));
	assert_false(edge_request_id_ok("a b", 3));
	assert_false(edge_request_id_ok("a\tb", 3));
	assert_false(edge_request_id_ok("a/b", 3));
	assert_false(edge_request_id_ok("a\"b", 3));
	assert_false(edge_request_id_ok("caf\xc3\xa9", 5));
	assert_false(edge_request_id_ok("a\0b", 3));
}

static void
test_accesslog_lines_text_and_json(void **state)
{
	struct accesslog_entry e = {"2026-12-01T00:00:00Z",
				    "127.0.0.1",
				    "GET",
				    3,
				    "/a b\n\"c",
				    7,
				    200,
				    15,
				    1234,
				    1,
				    "req-1"};
	struct buf b;

	(void)state;
	buf_init(&b);
	accesslog_append(&b, 0, &e);
	assert_string_equal(
	    b.data, "2026-12-01T00:00:00Z 127.0.0.1 GET /a\\x20b\\x0a\\x22c 200 15 1234 1 req-1\n");
	buf_reset(&b);
	e.request_id = "";
	accesslog_append(&b, 1, &e);
	assert_string_equal(b.data,
			    "{\"time\":\"2026-12-01T00:00:00Z\",\"remoteAddr\":\"127.0.0.1\","
			    "\"method\":\"GET\",\"path\":\"/a b\\n\\\"c\",\"status\":200,"
			    "\"bytes\":15,\"durationMs\":1.234,\"worker\":1,\"requestId\":null}\n");
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path_decodes_percent_escapes_and_utf8),
	    cmocka_unit_test(test_log_escape_escapes_bytes_that_are_not_utf8_and_line_separators),
	    cmocka_unit_test(test_path_refuses_every_control_byte_raw_or_decoded),
	    cmocka_unit_test(test_path_refuses_encoded_separators_and_dot_segments),
	    cmocka_unit_test(test_path_refuses_bad_encodings_and_non_utf8),
	    cmocka_unit_test(test_path_too_long_is_minus_two),
	    cmocka_unit_test(test_framing_refuses_differing_lengths_te_with_cl_and_obs_fold),
	    cmocka_unit_test(test_framing_accepts_equal_lengths_and_ignores_the_body),
	    cmocka_unit_test(test_accept_encoding_reads_q_values),
	    cmocka_unit_test(test_log_escape_keeps_one_line),
	    cmocka_unit_test(test_request_id_takes_1_to_64_safe_characters),
	    cmocka_unit_test(test_accesslog_lines_text_and_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
