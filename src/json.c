/* json.c: the JSON writer (see json.h). */
#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
json_init(struct json *j, struct buf *out)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
}

/* Writes the comma that separates this value from the previous one, if any. */
static void
json_separate(struct json *j)
{
	if (j->after_key) {
		j->after_key = 0;
		return;
	}
	if (j->has_items[j->depth])
		buf_appendc(j->out, ',');
	j->has_items[j->depth] = 1;
}

static void
json_open(struct json *j, char c)
{
	json_separate(j);
	buf_appendc(j->out, c);
	if (j->depth + 1 < JSON_MAX_DEPTH)
		j->depth++;
	j->has_items[j->depth] = 0;
}

static void
json_close(struct json *j, char c)
{
	buf_appendc(j->out, c);
	if (j->depth > 0)
		j->depth--;
}

void
json_object_begin(struct json *j)
{
	json_open(j, '{');
}

void
json_object_end(struct json *j)
{
	json_close(j, '}');
}

void
json_array_begin(struct json *j)
{
	json_open(j, '[');
}

void
json_array_end(struct json *j)
{
	json_close(j, ']');
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if the bytes are not valid UTF-8. */
static size_t
json_utf8_len(const unsigned char *s, size_t avail)
{
	size_t n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xE0) == 0xC0) {
		n = 2;
		cp = s[0] & 0x1F;
	} else if ((s[0] & 0xF0) == 0xE0) {
		n = 3;
		cp = s[0] & 0x0F;
	} else if ((s[0] & 0xF8) == 0xF0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n > avail)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	/* overlong forms, surrogates and values past U+10FFFF are not UTF-8 */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		return 0;
	return n;
}

int
json_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	while (i < len) {
		if ((n = json_utf8_len(p + i, len - i)) == 0)
			return 0;
		i += n;
	}
	return 1;
}

void
json_escape(struct buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0, n;

	while (i < len) {
		unsigned char c = p[i];

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			run++;
			i++;
			continue;
		}
		if (run > 0) {
			buf_append(out, p + i - run, run);
			run = 0;
		}
		if (c >= 0x80) {
			if ((n = json_utf8_len(p + i, len - i)) == 0) {
				buf_appends(out, "\xEF\xBF\xBD");
				i++;
			} else {
				buf_append(out, p + i, n);
				i += n;
			}
			continue;
		}
		switch (c) {
		case '"':
			buf_appends(out, "\\\"");
			break;
		case '\\':
			buf_appends(out, "\\\\");
			break;
		case '\n':
			buf_appends(out, "\\n");
			break;
		case '\r':
			buf_appends(out, "\\r");
			break;
		case '\t':
			buf_appends(out, "\\t");
			break;
		default:
			buf_appendf(out, "\\u%04x", c);
			break;
		}
		i++;
	}
	if (run > 0)
		buf_append(out, p + i - run, run);
}

void
json_key(struct json *j, const char *key)
{
	json_separate(j);
	buf_appendc(j->out, '"');
	json_escape(j->out, key, strlen(key));
	buf_appends(j->out, "\":");
	j->after_key = 1;
}

void
json_string_len(struct json *j, const char *s, size_t len)
{
	json_separate(j);
	buf_appendc(j->out, '"');
	json_escape(j->out, s, len);
	buf_appendc(j->out, '"');
}

void
json_string(struct json *j, const char *s)
{
	if (s == NULL) {
		json_null(j);
		return;
	}
	json_string_len(j, s, strlen(s));
}

void
json_int(struct json *j, int64_t v)
{
	json_separate(j);
	buf_appendf(j->out, "%" PRId64, v);
}

void
json_uint(struct json *j, uint64_t v)
{
	json_separate(j);
	buf_appendf(j->out, "%" PRIu64, v);
}

void
json_double(struct json *j, double v, int decimals)
{
	if (!isfinite(v)) {
		json_null(j);
		return;
	}
	json_separate(j);
	buf_appendf(j->out, "%.*f", decimals, v);
}

void
json_bool(struct json *j, int v)
{
	json_separate(j);
	buf_appends(j->out, v ? "true" : "false");
}

void
json_null(struct json *j)
{
	json_separate(j);
	buf_appends(j->out, "null");
}

void
json_raw(struct json *j, const char *text)
{
	json_separate(j);
	buf_appends(j->out, text);
}

void
json_kv_string(struct json *j, const char *key, const char *v)
{
	json_key(j, key);
	json_string(j, v);
}

void
json_kv_int(struct json *j, const char *key, int64_t v)
{
	json_key(j, key);
	json_int(j, v);
}

void
json_kv_uint(struct json *j, const char *key, uint64_t v)
{
	json_key(j, key);
	json_uint(j, v);
}

void
json_kv_double(struct json *j, const char *key, double v, int decimals)
{
	json_key(j, key);
	json_double(j, v, decimals);
}

void
json_kv_bool(struct json *j, const char *key, int v)
{
	json_key(j, key);
	json_bool(j, v);
}

/* --- BSON to API JSON --- */

void
json_iso8601(int64_t ms, char out[32])
{
	/* floor division without ms - 999, which overflows near INT64_MIN */
	int64_t whole = ms / 1000;
	int millis = (int)(ms % 1000);
	time_t secs;
	struct tm tm;

	if (millis < 0) {
		millis += 1000;
		whole--;
	}
	secs = (time_t)whole;
	/* strftime keeps the compiler's truncation analysis out of the year's digits; 27 bytes
	 * hold any year of an int64 date ("-292275055-...") and leave room for ".mmmZ" */
	if (gmtime_r(&secs, &tm) == NULL || strftime(out, 27, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(out, 32, "1970-01-01T00:00:00.000Z");
		return;
	}
	{
		size_t n = strlen(out);

		out[n++] = '.';
		out[n++] = (char)('0' + millis / 100);
		out[n++] = (char)('0' + millis / 10 % 10);
		out[n++] = (char)('0' + millis % 10);
		out[n++] = 'Z';
		out[n] = '\0';
	}
}

static void
json_bson_children(struct json *j, const bson_iter_t *it, int is_array)
{
	bson_iter_t child;

	if (is_array)
		json_array_begin(j);
	else
		json_object_begin(j);
	if (bson_iter_recurse(it, &child)) {
		while (bson_iter_next(&child)) {
			if (!is_array)
				json_key(j, bson_iter_key(&child));
			json_bson_value(j, &child);
		}
	}
	if (is_array)
		json_array_end(j);
	else
		json_object_end(j);
}

void
json_bson_value(struct json *j, const bson_iter_t *it)
{
	char text[BSON_DECIMAL128_STRING > 32 ? BSON_DECIMAL128_STRING : 32];
	uint32_t len;
	const char *s;

	switch (bson_iter_type(it)) {
	case BSON_TYPE_UTF8:
		s = bson_iter_utf8(it, &len);
		json_string_len(j, s, len);
		break;
	case BSON_TYPE_OID:
		bson_oid_to_string(bson_iter_oid(it), text);
		json_string(j, text);
		break;
	case BSON_TYPE_DATE_TIME:
		json_iso8601(bson_iter_date_time(it), text);
		json_string(j, text);
		break;
	case BSON_TYPE_INT32:
		json_int(j, bson_iter_int32(it));
		break;
	case BSON_TYPE_INT64:
		json_int(j, bson_iter_int64(it));
		break;
	case BSON_TYPE_DOUBLE: {
		double d = bson_iter_double(it);

		/*
		 * Integral doubles in the int64 range print as integers, exactly (the range test
		 * comes first: casting a double outside it is undefined). Others take the
		 * shortest of 15, 16 or 17 significant digits that reads back as the same double.
		 */
		if (isfinite(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
		    d == (double)(int64_t)d)
			json_int(j, (int64_t)d);
		else if (isfinite(d)) {
			char num[40];
			int prec = 15;

			do
				snprintf(num, sizeof(num), "%.*g", prec, d);
			while (strtod(num, NULL) != d && ++prec <= 17);
			json_raw(j, num);
		} else
			json_null(j);
		break;
	}
	case BSON_TYPE_DECIMAL128: {
		bson_decimal128_t dec;

		bson_iter_decimal128(it, &dec);
		bson_decimal128_to_string(&dec, text);
		json_string(j, text);
		break;
	}
	case BSON_TYPE_BOOL:
		json_bool(j, bson_iter_bool(it));
		break;
	case BSON_TYPE_DOCUMENT:
		json_bson_children(j, it, 0);
		break;
	case BSON_TYPE_ARRAY:
		json_bson_children(j, it, 1);
		break;
	default: /* null, undefined and types the API never stores */
		json_null(j);
		break;
	}
}

void
json_bson_document(struct json *j, const bson_t *doc)
{
	bson_iter_t it;

	json_object_begin(j);
	if (bson_iter_init_find(&it, doc, "_id")) {
		json_key(j, "id");
		json_bson_value(j, &it);
	}
	if (bson_iter_init(&it, doc)) {
		while (bson_iter_next(&it)) {
			if (strcmp(bson_iter_key(&it), "_id") == 0)
				continue;
			json_key(j, bson_iter_key(&it));
			json_bson_value(j, &it);
		}
	}
	json_object_end(j);
}
