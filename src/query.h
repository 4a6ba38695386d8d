/*
 * query.h: the query string of a request target (RFC 3986 §3.4), read as
 * application/x-www-form-urlencoded pairs. Pure functions over bytes: the handlers, the read
 * cache's keys, the unit tests and the fuzzers call the same code.
 */
#ifndef ENTERPRISED_QUERY_H
#define ENTERPRISED_QUERY_H

#include <stddef.h>

#include "buf.h"

#define QUERY_MAX_PAIRS 32
#define QUERY_NAME_MAX 64

/* The byte that the percent-encoded triplet "%XX" at p[0..left) stands for (RFC 3986 §2.1),
 * or -1 when p does not start a well-formed one. */
int query_percent_byte(const char *p, size_t left);

/*
 * Copies the decoded value of parameter `name` of query[0..len) into out (outlen bytes with
 * the NUL): percent-decoding (RFC 3986 §2.1) and '+' as a space. Returns the value's length,
 * -1 when absent, -2 when it does not fit or is malformed: bad percent-encoding, a control
 * byte (C0 or DEL) once decoded, which no parameter of the API can mean, or bytes that are not
 * UTF-8 (RFC 3629; MongoDB refuses such strings, which made a search a 500).
 */
int query_value(const char *query, size_t len, const char *name, char *out, size_t outlen);

/*
 * Appends the canonical form of query[0..len) to out: the pairs decoded, sorted by name, each
 * written name=value with every byte but RFC 3986 unreserved ones percent-encoded (RFC 3986
 * §2.3), joined by '&'; empty segments dropped. Two query strings that mean the same
 * parameters give the same bytes, and different ones different bytes (the read cache's keys).
 * Returns 0, or -1 when a pair is malformed, a name repeats or there are more than
 * QUERY_MAX_PAIRS pairs.
 */
int query_canonical(const char *query, size_t len, struct buf *out);

#endif
