/*
 * json.h: the one JSON writer. Streams into a struct buf and places commas itself, so callers
 * write keys and values in order and never think about separators.
 *
 *	json_init(&j, &b);
 *	json_object_begin(&j);
 *	json_kv_string(&j, "status", "ok");
 *	json_object_end(&j);
 *
 * Strings are escaped for JSON (quotes, backslash, control characters as \u00XX); invalid
 * UTF-8 bytes are replaced by U+FFFD so the output is always valid JSON.
 */
#ifndef ENTERPRISED_JSON_H
#define ENTERPRISED_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "buf.h"

#define JSON_MAX_DEPTH 64

struct json {
	struct buf *out;
	int depth;
	unsigned char has_items[JSON_MAX_DEPTH]; /* an item was written at this depth */
	int after_key;				 /* the next value follows a key: no comma */
};

void json_init(struct json *j, struct buf *out);
/* 1 when s[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
 * past U+10FFFF), else 0. */
int json_utf8_valid(const char *s, size_t len);
void json_object_begin(struct json *j);
void json_object_end(struct json *j);
void json_array_begin(struct json *j);
void json_array_end(struct json *j);
void json_key(struct json *j, const char *key);
void json_string(struct json *j, const char *s);
void json_string_len(struct json *j, const char *s, size_t len);
void json_int(struct json *j, int64_t v);
void json_uint(struct json *j, uint64_t v);
void json_double(struct json *j, double v, int decimals); /* NaN and inf are written as null */
void json_bool(struct json *j, int v);
void json_null(struct json *j);
void json_raw(struct json *j, const char *text); /* already-valid JSON as one value */

void json_kv_string(struct json *j, const char *key, const char *v);
void json_kv_int(struct json *j, const char *key, int64_t v);
void json_kv_uint(struct json *j, const char *key, uint64_t v);
void json_kv_double(struct json *j, const char *key, double v, int decimals);
void json_kv_bool(struct json *j, const char *key, int v);

/*
 * BSON to API JSON: the document's `_id` becomes "id"; ObjectIds are 24-hex strings; dates
 * are ISO-8601 UTC with milliseconds; int32/int64/double are numbers; decimal128 is a string.
 */
void json_bson_document(struct json *j, const bson_t *doc);
void json_bson_value(struct json *j, const bson_iter_t *it);
/* Formats a BSON date (ms since the epoch) as 2026-11-26T01:52:23.123Z; out holds 32 bytes. */
void json_iso8601(int64_t ms, char out[32]);

/* Appends s escaped for a JSON string body (no quotes) to out. */
void json_escape(struct buf *out, const char *s, size_t len);

#endif
