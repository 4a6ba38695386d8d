/* etag.c: entity tags and their comparison (see etag.h). */
#include "etag.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <xxhash.h>

void
etag_of(const void *body, size_t len, char out[ETAG_MAX])
{
	snprintf(out, ETAG_MAX, "\"%016" PRIx64 "\"", (uint64_t)XXH3_64bits(body, len));
}

/*
 * 1 when the list member m[0..mlen) names etag or its gzip variant (etag with "-gzip" before
 * the closing quote): the two encodings of one representation (http.c serves both).
 */
static int
etag_same(const char *m, size_t mlen, const char *etag, size_t olen)
{
	if (mlen == olen && memcmp(m, etag, olen) == 0)
		return 1;
	return olen >= 2 && mlen == olen + 5 && memcmp(m, etag, olen - 1) == 0 &&
	       memcmp(m + olen - 1, "-gzip\"", 6) == 0;
}

/* Walks a comma-separated entity-tag list; strong: a weak tag on either side never matches. */
static int
etag_list_match(const char *list, size_t len, const char *etag, int strong)
{
	const char *p = list, *end = list + len;
	int weak = strncmp(etag, "W/", 2) == 0;
	const char *opaque = weak ? etag + 2 : etag;
	size_t olen = strlen(opaque);

	while (p < end) {
		const char *comma, *q;

		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		if (p == end)
			break;
		if ((comma = memchr(p, ',', (size_t)(end - p))) == NULL)
			comma = end;
		q = comma;
		while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
			q--;
		if (q - p == 1 && *p == '*')
			return 1;
		if (q - p > 2 && p[0] == 'W' && p[1] == '/') {
			if (!strong && etag_same(p + 2, (size_t)(q - p - 2), opaque, olen))
				return 1;
		} else if ((!strong || !weak) && etag_same(p, (size_t)(q - p), opaque, olen)) {
			return 1;
		}
		p = comma;
	}
	return 0;
}

/* Weak comparison (RFC 9110 8.8.3.2) of one tag against an If-None-Match list. */
int
etag_matches(const char *list, size_t len, const char *etag)
{
	return etag_list_match(list, len, etag, 0);
}

/* Strong comparison (RFC 9110 8.8.3.2, 13.1.1) of one tag against an If-Match list. */
int
etag_matches_strong(const char *list, size_t len, const char *etag)
{
	return etag_list_match(list, len, etag, 1);
}
