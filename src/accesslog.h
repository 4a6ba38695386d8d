/*
 * accesslog.h: one access log line per finished request, as text (space-separated fields,
 * client bytes escaped by log_escape) or as JSON (one object per line, for log shippers;
 * `accesslog_format json`, issue 10). http.c's logger gathers the fields and flushes the lines.
 */
#ifndef ENTERPRISED_ACCESSLOG_H
#define ENTERPRISED_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct accesslog_entry {
	const char *time;   /* ISO-8601 UTC, "2026-12-01T00:00:00Z" */
	const char *peer;   /* the client's address, or "-" */
	const char *method; /* the client's bytes, method_len of them */
	size_t method_len;
	const char *path; /* the client's bytes (decoded by h2o), path_len of them */
	size_t path_len;
	int status;
	size_t bytes;		/* bytes of the response sent */
	uint64_t us;		/* microseconds from the request's first byte to the log */
	int worker;		/* the worker's index */
	const char *request_id; /* X-Request-Id of the answer, "" when none */
};

/*
 * Appends e as one line, '\n' included, to out.
 * Text: `TIME PEER METHOD PATH STATUS BYTES US WORKER REQUEST_ID` (REQUEST_ID "-" when none),
 * method and path escaped by log_escape(strict), so one request stays one line of 9 fields.
 * JSON (json != 0): {"time","remoteAddr","method","path","status","bytes","durationMs",
 * "worker","requestId"} through the one JSON writer, whose escaping keeps it one line too.
 */
void accesslog_append(struct buf *out, int json, const struct accesslog_entry *e);

#endif
