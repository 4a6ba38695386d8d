/*
 * edge.h: the checks a request's raw bytes pass before any handler sees them: the request
 * target's path (RFC 3986 §2.1, §3.3, §6.2.2), the HTTP/1.1 message framing (RFC 9112 §5.2,
 * §6.3) and the content codings a client accepts (RFC 9110 §12.5.3). Pure functions over bytes,
 * so the fuzzers and unit tests call them as http.c does.
 */
#ifndef ENTERPRISED_EDGE_H
#define ENTERPRISED_EDGE_H

#include <stddef.h>

/*
 * Decodes the path of a request target (raw bytes up to '?', at most len) into out (NUL-ended,
 * outlen bytes with the NUL). Refused, with a reason for a 400's detail in *why: a path that
 * does not start with '/', malformed percent-encoding (RFC 3986 §2.1), a control byte (C0 or
 * DEL) raw or decoded, an encoded '/' or '\' (%2F, %5C: a separator inside a segment), a dot
 * segment ("." or "..", raw or encoded: the router matches paths as sent, it never resolves
 * them), and bytes that are not UTF-8 once decoded (overlong forms included). Returns the
 * decoded length, -1 when refused, -2 when it does not fit (414).
 */
int edge_path_decode(const char *raw, size_t len, char *out, size_t outlen, const char **why);

/*
 * Checks the framing of an HTTP/1.x request from its raw header section (the request line and
 * header lines as received, up to and perhaps beyond the empty line). Refused (RFC 9112 §6.3,
 * §5.2): Content-Length fields that differ, Content-Length beside Transfer-Encoding, and any
 * obs-fold line (a header line starting with SP or HTAB). Returns 0, or -1 with a reason in
 * *why; the caller answers 400 and closes the connection.
 */
int edge_framing_check(const char *raw, size_t len, const char **why);

/*
 * 1 when an Accept-Encoding value (RFC 9110 §12.5.3) accepts gzip: a "gzip" or "x-gzip"
 * member, or else "*", with a q-value above 0 (q absent means 1). 0 otherwise, also for a
 * malformed q-value.
 */
int edge_accepts_gzip(const char *value, size_t len);

/*
 * 1 when a client's X-Request-Id value may be used as the request's id: 1 to
 * EDGE_REQUEST_ID_MAX bytes, each of A-Z a-z 0-9 . _ : - (so it needs no escaping in a log line,
 * a JSON string or a URI). 0 otherwise; the server then makes its own (issue 10, "Request ids").
 */
#define EDGE_REQUEST_ID_MAX 64
int edge_request_id_ok(const char *value, size_t len);

#endif
