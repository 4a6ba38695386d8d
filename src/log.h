/*
 * log.h: human-readable log lines on stderr, JSON report lines on stdout.
 *
 * Every process names itself once after fork (log_init), so a line says who wrote it:
 *	2026-11-26T01:52:23.123Z worker-1[4242] error: mongodb: connection refused
 */
#ifndef ENTERPRISED_LOG_H
#define ENTERPRISED_LOG_H

void log_init(const char *role);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* One JSON object as one line on stdout (the monitor's summaries, slow-request reports). */
void log_json(const char *line);

#endif
