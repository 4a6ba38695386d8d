/*
 * log.h: human-readable log lines on stderr, JSON report lines on stdout.
 *
 * Every process names itself once after fork (log_init), so a line says who wrote it:
 *	2026-11-26T01:52:23.123Z worker-1[4242] error: mongodb: connection refused
 */
#ifndef ENTERPRISED_LOG_H
#define ENTERPRISED_LOG_H

#include <stddef.h>

void log_init(const char *role);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Appends s[0..len) to out with every control byte (C0 and DEL) and the backslash written as
 * \xHH, so no byte from a client can end a log line, forge the next one, or pass for an
 * escape; so is every byte from 0x80 that is not part of well-formed UTF-8, and the C1
 * controls and U+2028/U+2029 that some viewers take for line ends; `strict` escapes the space, the
 * double quote and every byte from 0x80 as well (the access log, whose fields are space-separated).
 * Every log_* line goes through it.
 */
struct buf;
void log_escape(struct buf *out, const char *s, size_t len, int strict);
/*
 * A connection URL (MONGODB_URI, REDIS_URL) as it may appear in a message, into out (outlen
 * bytes, NUL-terminated, truncated if need be): the userinfo, everything between "://" and the
 * last '@' before the query, is written "***", so a password never reaches a log or the
 * output of `enterprised -t`. The '@' is searched up to the query and not only in the
 * authority, so a malformed URL (the case of every error message) leaks nothing either.
 */
void log_url_redacted(const char *url, char *out, size_t outlen);
/* One JSON object as one line on stdout (the monitor's summaries, slow-request reports). */
void log_json(const char *line);

/*
 * The id of the request the calling thread works for (X-Request-Id, issue 10), so a line
 * written deep inside that work (the slow-query log of a MongoDB command) names it. A
 * thread-local slot: http_job.c sets it around each job on a backend thread and clears it with
 * NULL; an id longer than 64 bytes is cut. log_request_id returns "" when none is set.
 */
void log_request_set(const char *id);
const char *log_request_id(void);

#endif
