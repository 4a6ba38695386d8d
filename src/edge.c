/*
 * edge.c: what a request's raw bytes must be before a handler sees them (see edge.h).
 *
 * Why here and not in h2o. h2o 2.2.5 hands the handler a `path_normalized` in which %2F has
 * become a separator and dot segments are resolved after decoding, so "/a%2F..%2Fb" and
 * "/x/%2e%2e/y" reach a route other than the one the client named, and a decoded NUL or LF
 * ends up inside a route parameter or a log line. We decode the target ourselves and refuse
 * what has two readings. For framing, h2o keeps the first Content-Length and never puts
 * Content-Length or Transfer-Encoding into the request's header list (see docs/DECISIONS.md),
 * so the raw header section is checked instead.
 */
#include "edge.h"

#include <string.h>

#include "json.h"
#include "query.h"

/* 1 when the segment out[start..end) is "." or "..". */
static int
edge_dot_segment(const char *out, size_t start, size_t end)
{
	return (end - start == 1 && out[start] == '.') ||
	       (end - start == 2 && out[start] == '.' && out[start + 1] == '.');
}

int
edge_path_decode(const char *raw, size_t len, char *out, size_t outlen, const char **why)
{
	size_t i, o = 0, seg = 1;

	if (len == 0 || raw[0] != '/') {
		*why = "the request target must be a path starting with '/'";
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)raw[i];
		int b, encoded = 0;

		if (c == '%') {
			if ((b = query_percent_byte(raw + i, len - i)) < 0) {
				*why = "the path has a malformed percent-encoding";
				return -1;
			}
			c = (unsigned char)b;
			encoded = 1;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f) {
			*why = "the path holds a control character";
			return -1;
		}
		if (encoded && (c == '/' || c == '\\')) {
			*why = "the path holds an encoded '/' or '\\' inside a segment";
			return -1;
		}
		if (o + 1 >= outlen)
			return -2;
		if (c == '/' && !encoded && o > 0) {
			if (edge_dot_segment(out, seg, o)) {
				*why = "the path holds a dot segment ('.' or '..')";
				return -1;
			}
			seg = o + 1;
		}
		out[o++] = (char)c;
	}
	if (edge_dot_segment(out, seg, o)) {
		*why = "the path holds a dot segment ('.' or '..')";
		return -1;
	}
	out[o] = '\0';
	if (!json_utf8_valid(out, o)) {
		*why = "the path is not UTF-8 once percent-decoded";
		return -1;
	}
	return (int)o;
}

/* s[0..len) equals the lower-case name, ignoring ASCII case. */
static int
edge_name_is(const char *s, size_t len, const char *name)
{
	size_t i;

	if (strlen(name) != len)
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != name[i])
			return 0;
	}
	return 1;
}

/* Trims optional whitespace (SP, HTAB) and a trailing CR from both ends of [*s, *e). */
static void
edge_trim(const char **s, const char **e)
{
	while (*s < *e && (**s == ' ' || **s == '\t'))
		(*s)++;
	while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r'))
		(*e)--;
}

int
edge_framing_check(const char *raw, size_t len, const char **why)
{
	const char *p = raw, *end = raw + len, *nl, *colon, *v, *ve;
	const char *cl = NULL;
	size_t cl_len = 0;
	int te = 0, first = 1;

	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		const char *le = nl > p && nl[-1] == '\r' ? nl - 1 : nl;

		if (le == p)
			break; /* the empty line: the header section ends */
		if (first) {   /* the request line */
			first = 0;
			p = nl + 1;
			continue;
		}
		if (*p == ' ' || *p == '\t') {
			*why = "obsolete line folding (a header line starting with whitespace)";
			return -1;
		}
		if ((colon = memchr(p, ':', (size_t)(le - p))) != NULL) {
			v = colon + 1;
			ve = le;
			edge_trim(&v, &ve);
			if (edge_name_is(p, (size_t)(colon - p), "content-length")) {
				if (cl != NULL &&
				    ((size_t)(ve - v) != cl_len || memcmp(v, cl, cl_len))) {
					*why = "Content-Length fields that differ";
					return -1;
				}
				cl = v;
				cl_len = (size_t)(ve - v);
			} else if (edge_name_is(p, (size_t)(colon - p), "transfer-encoding")) {
				te = 1;
			}
		}
		p = nl + 1;
	}
	if (te && cl != NULL) {
		*why = "Content-Length beside Transfer-Encoding";
		return -1;
	}
	return 0;
}

/* The q-value of a member's parameters "; q=0.5 ; x=y" (RFC 9110 §12.4.2), 1000ths; -1 when
 * malformed. */
static int
edge_qvalue(const char *p, const char *end)
{
	int q = 1000;

	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p)), *e, *eq;
		int scale = 100, digits = 0;

		if (semi == NULL)
			semi = end;
		e = semi;
		edge_trim(&p, &e);
		if ((eq = memchr(p, '=', (size_t)(e - p))) != NULL && eq - p == 1 &&
		    (*p == 'q' || *p == 'Q')) {
			const char *d = eq + 1;

			if (d == e || (*d != '0' && *d != '1'))
				return -1;
			q = (*d - '0') * 1000;
			if (++d < e && *d++ != '.')
				return -1;
			for (; d < e; d++, digits++) {
				if (*d < '0' || *d > '9' || digits == 3)
					return -1;
				q += (*d - '0') * scale;
				scale /= 10;
			}
			if (q > 1000)
				return -1;
		}
		p = semi < end ? semi + 1 : end;
	}
	return q;
}

int
edge_accepts_gzip(const char *value, size_t len)
{
	const char *p = value, *end = value + len;
	int gzip = -1, star = -1;

	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p)), *semi, *ne;
		int q;

		if (comma == NULL)
			comma = end;
		if ((semi = memchr(p, ';', (size_t)(comma - p))) == NULL)
			semi = comma;
		ne = semi;
		edge_trim(&p, &ne);
		q = edge_qvalue(semi < comma ? semi + 1 : comma, comma);
		if (q < 0)
			q = 0; /* a malformed weight accepts nothing */
		if (edge_name_is(p, (size_t)(ne - p), "gzip") ||
		    edge_name_is(p, (size_t)(ne - p), "x-gzip"))
			gzip = q > gzip ? q : gzip;
		else if (ne - p == 1 && *p == '*')
			star = q;
		p = comma < end ? comma + 1 : end;
	}
	return gzip >= 0 ? gzip > 0 : star > 0;
}

int
edge_request_id_ok(const char *value, size_t len)
{
	size_t i;

	if (len == 0 || len > EDGE_REQUEST_ID_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '-'))
			return 0;
	}
	return 1;
}
