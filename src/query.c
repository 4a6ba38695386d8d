/* query.c: query strings (see query.h). */
#include "query.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"

static int
query_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
query_percent_byte(const char *p, size_t left)
{
	int hi, lo;

	if (left < 3 || p[0] != '%' || (hi = query_hexval(p[1])) < 0 ||
	    (lo = query_hexval(p[2])) < 0)
		return -1;
	return hi * 16 + lo;
}

/* Percent-decodes src (and '+' as space) into out; -1 if it does not fit or is malformed. */
static int
query_decode(const char *src, size_t len, char *out, size_t outlen)
{
	size_t i, o = 0;
	int b;

	for (i = 0; i < len; i++) {
		char c = src[i];

		if (c == '%') {
			if ((b = query_percent_byte(src + i, len - i)) < 0)
				return -1;
			c = (char)b;
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		/* no parameter means a control byte, raw or encoded; NUL would also cut the string
		 */
		if ((unsigned char)c < 0x20 || c == 0x7f)
			return -1;
		if (o + 1 >= outlen)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return (int)o;
}

int
query_value(const char *query, size_t len, const char *name, char *out, size_t outlen)
{
	const char *p = query, *end = query + len, *amp, *eq;
	size_t nlen = strlen(name);

	while (p < end) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq != NULL && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0) {
			int n = query_decode(eq + 1, (size_t)(amp - eq - 1), out, outlen);

			/* text goes to MongoDB as a string (a regex for search): UTF-8 only */
			return n < 0 || !json_utf8_valid(out, (size_t)n) ? -2 : n;
		}
		if (eq == NULL && (size_t)(amp - p) == nlen && memcmp(p, name, nlen) == 0) {
			if (outlen == 0)
				return -2;
			out[0] = '\0';
			return 0;
		}
		p = amp + 1;
	}
	return -1;
}

/* One name=value pair of a query string, decoded (see query_canonical). */
struct query_pair {
	char name[QUERY_NAME_MAX]; /* decoded: the sort key */
	const char *raw_name;	   /* raw, percent-encoded: decoded once more only when written */
	size_t raw_name_len;
	const char *value; /* raw, percent-encoded; decoded when written */
	size_t value_len;
};

static int
query_pair_order(const void *a, const void *b)
{
	return strcmp(((const struct query_pair *)a)->name, ((const struct query_pair *)b)->name);
}

/* Appends the decoded bytes of src, percent-encoding all but RFC 3986 unreserved ones. */
static int
query_reencode(const char *src, size_t len, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	char *tmp = malloc(len + 1);
	int n, i;

	if (tmp == NULL)
		abort();
	if ((n = query_decode(src, len, tmp, len + 1)) < 0) {
		free(tmp);
		return -1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)tmp[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			buf_append(out, &tmp[i], 1);
		} else {
			char esc[3] = {'%', hex[c >> 4], hex[c & 15]};

			buf_append(out, esc, 3);
		}
	}
	free(tmp);
	return 0;
}

int
query_canonical(const char *query, size_t len, struct buf *out)
{
	struct query_pair pairs[QUERY_MAX_PAIRS];
	const char *p = query, *end = query + len;
	size_t n = 0, i;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *eq;

		if (amp == NULL)
			amp = end;
		if (amp > p) { /* empty segments ("&&") carry nothing */
			if (n == QUERY_MAX_PAIRS)
				return -1;
			eq = memchr(p, '=', (size_t)(amp - p));
			pairs[n].raw_name = p;
			pairs[n].raw_name_len = (size_t)((eq != NULL ? eq : amp) - p);
			if (query_decode(p, pairs[n].raw_name_len, pairs[n].name,
					 sizeof(pairs[n].name)) < 0)
				return -1;
			pairs[n].value = eq != NULL ? eq + 1 : amp;
			pairs[n].value_len = eq != NULL ? (size_t)(amp - eq - 1) : 0;
			n++;
		}
		p = amp + 1;
	}
	qsort(pairs, n, sizeof(pairs[0]), query_pair_order);
	for (i = 0; i < n; i++) {
		if (i > 0 && strcmp(pairs[i - 1].name, pairs[i].name) == 0)
			return -1; /* repeated: refused by validate_query_names before this */
		if (i > 0)
			buf_append(out, "&", 1);
		if (query_reencode(pairs[i].raw_name, pairs[i].raw_name_len, out) != 0)
			return -1;
		buf_append(out, "=", 1);
		if (query_reencode(pairs[i].value, pairs[i].value_len, out) != 0)
			return -1;
	}
	return 0;
}
