/*
 * buf.h: a growable byte buffer, the one place where response bodies and log lines are built.
 *
 * Owner frees with buf_free. Appends abort() on allocation failure: a worker that cannot get
 * a few KiB is better restarted by the master than limping on.
 */
#ifndef ENTERPRISED_BUF_H
#define ENTERPRISED_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data; /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b); /* len = 0, keeps the memory */
void buf_append(struct buf *b, const void *data, size_t len);
void buf_appends(struct buf *b, const char *s);
void buf_appendc(struct buf *b, char c);
void buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vappendf(struct buf *b, const char *fmt, va_list ap);

#endif
