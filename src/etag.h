/*
 * etag.h: entity tags of the service's representations (RFC 9110 §8.8.3) and the comparisons
 * of If-Match and If-None-Match (RFC 9110 §13.1.1, §13.1.2). Pure functions over bytes.
 */
#ifndef ENTERPRISED_ETAG_H
#define ENTERPRISED_ETAG_H

#include <stddef.h>

#define ETAG_MAX 24 /* "<16 hex>-gzip" and NUL */

/* The strong ETag of an identity body: "<XXH3-64 in 16 hex digits>" (RFC 9110 8.8.3). Its
 * gzip-encoded variant goes out as "<same>-gzip"; both compare equal to it below. */
void etag_of(const void *body, size_t len, char out[ETAG_MAX]);
/* 1 when etag matches one of a comma-separated If-None-Match list or is "*" there (weak
 * comparison, RFC 9110 8.8.3.2, 13.1.2: W/ is ignored on both sides). */
int etag_matches(const char *list, size_t len, const char *etag);
/* The same for If-Match (strong comparison, RFC 9110 13.1.1): a weak tag never matches. */
int etag_matches_strong(const char *list, size_t len, const char *etag);

#endif
