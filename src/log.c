/* log.c: log lines (see log.h). One write(2) per line so processes never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"

/* The request the calling thread works for (log_request_set), "" when none. */
static _Thread_local char log_request[65];

/* The process's name, set once after fork and never written again. */
static char log_role[32] = "enterprised";

void
log_init(const char *role)
{
	snprintf(log_role, sizeof(log_role), "%s", role);
}

static void
log_write(int fd, struct buf *b)
{
	size_t off = 0;
	ssize_t n;

	while (off < b->len) {
		n = write(fd, b->data + off, b->len - off);
		if (n <= 0)
			return; /* nowhere left to report a failing log */
		off += (size_t)n;
	}
}

/* The length of the UTF-8 sequence at p[0..left) if it is well formed and not a C1 control
 * (U+0080..U+009F, which some viewers take for a line end), else 0. */
static size_t
log_utf8_printable(const unsigned char *p, size_t left)
{
	size_t n = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC0 ? 2 : 0;

	if (n == 0 || n > left || !json_utf8_valid((const char *)p, n))
		return 0;
	if (n == 2 && p[0] == 0xC2 && p[1] < 0xA0)
		return 0;
	/* U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR */
	if (n == 3 && p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9))
		return 0;
	return n;
}

void
log_escape(struct buf *out, const char *s, size_t len, int strict)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i, n;

	for (i = 0; i < len; i++) {
		unsigned char c = p[i];
		int esc = c < 0x20 || c == 0x7f || c == '\\' ||
			  (strict && (c == ' ' || c == '"' || c >= 0x80));

		if (!esc && c >= 0x80) {
			/* well-formed UTF-8 stays readable; any other byte from 0x80 is escaped */
			if ((n = log_utf8_printable(p + i, len - i)) > 0) {
				buf_append(out, (const char *)p + i, n);
				i += n - 1;
				continue;
			}
			esc = 1;
		}
		if (!esc) {
			buf_appendc(out, (char)c);
			continue;
		}
		buf_appendc(out, '\\');
		buf_appendc(out, 'x');
		buf_appendc(out, hex[c >> 4]);
		buf_appendc(out, hex[c & 0xf]);
	}
}

static void
log_line(const char *level, const char *fmt, va_list ap)
{
	struct timeval tv;
	struct tm tm;
	struct buf b, msg;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	buf_init(&b);
	buf_appendf(&b, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s: ", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		    (long)(tv.tv_usec / 1000), log_role, (int)getpid(), level);
	/* a message may quote what a client or a database sent: one line stays one line */
	buf_init(&msg);
	buf_vappendf(&msg, fmt, ap);
	log_escape(&b, msg.data != NULL ? msg.data : "", msg.len, 0);
	buf_free(&msg);
	buf_appendc(&b, '\n');
	log_write(STDERR_FILENO, &b);
	buf_free(&b);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line("info", fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line("warn", fmt, ap);
	va_end(ap);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line("error", fmt, ap);
	va_end(ap);
}

void
log_json(const char *line)
{
	struct buf b;

	buf_init(&b);
	buf_appends(&b, line);
	buf_appendc(&b, '\n');
	log_write(STDOUT_FILENO, &b);
	buf_free(&b);
}

void
log_request_set(const char *id)
{
	snprintf(log_request, sizeof(log_request), "%s", id != NULL ? id : "");
}

const char *
log_request_id(void)
{
	return log_request;
}

void
log_url_redacted(const char *url, char *out, size_t outlen)
{
	const char *scheme = strstr(url, "://"), *start, *end, *at = NULL, *q;

	start = scheme != NULL ? scheme + 3 : url;
	end = start + strcspn(start, "?");
	for (q = start; q < end; q++)
		if (*q == '@')
			at = q;
	if (at == NULL)
		snprintf(out, outlen, "%s", url);
	else
		snprintf(out, outlen, "%.*s***%s", (int)(start - url), url, at);
}
