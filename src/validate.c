/* validate.c: request validation (see validate.h). */
#include "validate.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define VALIDATE_FREEFORM_MAX 16384

static const char *const validate_server_kept[] = {"id",	"_id",	   "createdAt",
						   "updatedAt", "version", NULL};

void
validate_error_add(struct validate_errors *errs, const char *field, const char *fmt, ...)
{
	struct validate_error *e;
	va_list ap;

	if (errs->n == VALIDATE_MAX_ERRORS)
		return;
	e = &errs->items[errs->n++];
	snprintf(e->field, sizeof(e->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

/* --- the key scan --- */

static int
validate_hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/*
 * Walks the JSON text and reports every object key that starts with '$' or holds a '.',
 * escapes decoded (so "\u0024where" is caught too). Malformed text is left to the parser.
 */
static void
validate_scan_keys(const char *s, size_t len, struct validate_errors *errs)
{
	size_t i = 0;

	while (i < len) {
		char key[96];
		size_t klen = 0;
		int dollar = 0, dot = 0, first = 1;

		if (s[i] != '"') {
			i++;
			continue;
		}
		for (i++; i < len && s[i] != '"'; i++) {
			unsigned c = (unsigned char)s[i];

			if (c == '\\' && i + 1 < len) {
				i++;
				c = (unsigned char)s[i];
				if (c == 'u' && i + 4 < len && validate_hex4(s + i + 1, &c) == 0)
					i += 4;
			}
			if (first && c == '$')
				dollar = 1;
			if (c == '.')
				dot = 1;
			first = 0;
			if (klen + 1 < sizeof(key))
				key[klen++] = c < 0x80 && c >= 0x20 ? (char)c : '?';
		}
		key[klen] = '\0';
		i++;
		while (i < len && isspace((unsigned char)s[i]))
			i++;
		if (i < len && s[i] == ':' && (dollar || dot))
			validate_error_add(errs, key,
					   dollar ? "keys starting with '$' are not allowed"
						  : "keys containing '.' are not allowed");
	}
}

/* --- strict JSON (RFC 8259) --- */

/* Copies jansson's message into out, every byte outside printable ASCII as '?' (the message
 * quotes the client's bytes, and a detail must stay valid UTF-8 without control bytes). */
static void
validate_printable(char *out, size_t outlen, const char *in)
{
	size_t i;

	for (i = 0; in[i] != '\0' && i + 1 < outlen; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[i] = '\0';
}

static int
validate_bom(const char *body, size_t len)
{
	return len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0;
}

/*
 * Walks JSON text outside its strings. Returns the deepest nesting of objects and arrays; sets
 * *nonfinite when a bare word outside strings is NaN, Inf or Infinity in any case (the
 * extensions some encoders write for non-finite doubles, RFC 8259 section 6 has none).
 */
static int
validate_walk(const char *s, size_t len, int *nonfinite)
{
	int depth = 0, deepest = 0, in_string = 0;
	size_t i, start;

	*nonfinite = 0;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == '{' || c == '[') {
			if (++depth > deepest)
				deepest = depth;
		} else if (c == '}' || c == ']') {
			depth--;
		} else if (isalpha((unsigned char)c)) {
			for (start = i; i + 1 < len && isalpha((unsigned char)s[i + 1]); i++)
				;
			if ((i - start + 1 == 3 && (strncasecmp(s + start, "nan", 3) == 0 ||
						    strncasecmp(s + start, "inf", 3) == 0)) ||
			    (i - start + 1 == 8 && strncasecmp(s + start, "infinity", 8) == 0))
				*nonfinite = 1;
		}
	}
	return deepest;
}

/*
 * Refuses any body that is not exactly one RFC 8259 JSON text (jansson's strict reader: no
 * NaN or Infinity, nothing after the value, no comments, single quotes, trailing commas,
 * control bytes in strings, invalid UTF-8, lone surrogates, leading zeros or '+', numbers past
 * a 64-bit integer or a double), nor a byte-order mark (section 8.1), nor one nested deeper
 * than VALIDATE_MAX_DEPTH. libbson's reader, which reads the body next, takes NaN and stops
 * after the first value. Returns 0, or -1 with the reason, naming where, in errs.
 */
static int
validate_strict(const char *body, size_t len, struct validate_errors *errs)
{
	json_error_t e;
	json_t *doc;
	char text[JSON_ERROR_TEXT_LENGTH];
	int nonfinite;

	if (validate_bom(body, len)) {
		validate_error_add(errs, "",
				   "the body starts with a byte-order mark (U+FEFF); JSON text "
				   "must not (RFC 8259 section 8.1)");
		return -1;
	}
	if (validate_walk(body, len, &nonfinite) > VALIDATE_MAX_DEPTH) {
		validate_error_add(errs, "",
				   "the body nests objects and arrays deeper than %d levels",
				   VALIDATE_MAX_DEPTH);
		return -1;
	}
	/* NUL escapes pass here: the field checks name the field that holds one */
	if ((doc = json_loadb(body, len, JSON_ALLOW_NUL, &e)) != NULL) {
		json_decref(doc);
		return 0;
	}
	validate_printable(text, sizeof(text), e.text);
	switch (json_error_code(&e)) {
	case json_error_end_of_input_expected:
		validate_error_add(errs, "",
				   "data follows the JSON object at line %d, column %d: a body is "
				   "exactly one JSON value (RFC 8259 section 2)",
				   e.line, e.column);
		break;
	case json_error_invalid_utf8:
		validate_error_add(errs, "",
				   "the body is not valid UTF-8 at line %d, column %d (RFC 8259 "
				   "section 8.1)",
				   e.line, e.column);
		break;
	case json_error_numeric_overflow:
		validate_error_add(errs, "",
				   "a number is out of range at line %d, column %d: %s (integers "
				   "must fit in 64 bits, RFC 8259 section 6)",
				   e.line, e.column, text);
		break;
	default:
		if (nonfinite)
			validate_error_add(errs, "",
					   "NaN and Infinity are not JSON numbers (RFC 8259 "
					   "section 6)");
		else
			validate_error_add(errs, "", "malformed JSON at line %d, column %d: %s",
					   e.line, e.column, text);
		break;
	}
	return -1;
}

/* --- single values --- */

int
validate_objectid(const char *s, bson_oid_t *out)
{
	size_t i;

	if (s == NULL || strlen(s) != 24)
		return -1;
	for (i = 0; i < 24; i++)
		if (!isxdigit((unsigned char)s[i]))
			return -1;
	if (out != NULL)
		bson_oid_init_from_string(out, s);
	return 0;
}

int
validate_enum(const char *s, const char *const *values)
{
	for (; *values != NULL; values++)
		if (strcmp(s, *values) == 0)
			return 0;
	return -1;
}

static int
validate_digits(const char *s, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int
validate_days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return days[m - 1];
}

int
validate_date(const char *s, int64_t *ms)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, off = 0, oh, om;
	size_t len = strlen(s);
	const char *p;
	struct tm tm;
	time_t t;

	if (len < 10 || validate_digits(s, 4, &y) || s[4] != '-' ||
	    validate_digits(s + 5, 2, &mo) || s[7] != '-' || validate_digits(s + 8, 2, &d))
		return -1;
	if (y < 1900 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > validate_days_in_month(y, mo))
		return -1;
	p = s + 10;
	if (*p == 'T') {
		if (strlen(p) < 9 || validate_digits(p + 1, 2, &h) || p[3] != ':' ||
		    validate_digits(p + 4, 2, &mi) || p[6] != ':' ||
		    validate_digits(p + 7, 2, &sec))
			return -1;
		if (h > 23 || mi > 59 || sec > 59)
			return -1;
		p += 9;
		if (*p == '.') {
			int digits = 0;

			for (p++; isdigit((unsigned char)*p); p++, digits++) {
				if (digits < 3)
					frac = frac * 10 + (*p - '0');
			}
			if (digits == 0 || digits > 9)
				return -1;
			while (digits++ < 3)
				frac *= 10;
		}
		if (*p == 'Z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			if (strlen(p) != 6 || validate_digits(p + 1, 2, &oh) || p[3] != ':' ||
			    validate_digits(p + 4, 2, &om) || oh > 23 || om > 59)
				return -1;
			off = (oh * 60 + om) * (*p == '+' ? 1 : -1);
			p += 6;
		} else {
			return -1; /* a time without a zone is ambiguous */
		}
	}
	if (*p != '\0')
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	*ms = ((int64_t)t - (int64_t)off * 60) * 1000 + frac;
	return 0;
}

int
validate_email(const char *s)
{
	const char *at = strchr(s, '@'), *p, *label;
	size_t len = strlen(s), local;
	int dots = 0;

	if (len > 254 || at == NULL || strchr(at + 1, '@') != NULL)
		return -1;
	local = (size_t)(at - s);
	if (local == 0 || local > 64 || s[0] == '.' || at[-1] == '.')
		return -1;
	for (p = s; p < at; p++) {
		if (!isalnum((unsigned char)*p) && strchr(".!#$%&'*+/=?^_`{|}~-", *p) == NULL)
			return -1;
		if (p[0] == '.' && p[1] == '.')
			return -1;
	}
	label = at + 1;
	for (p = at + 1;; p++) {
		if (*p == '.' || *p == '\0') {
			size_t l = (size_t)(p - label);

			if (l == 0 || l > 63 || label[0] == '-' || p[-1] == '-')
				return -1;
			if (*p == '\0')
				break;
			dots++;
			label = p + 1;
		} else if (!isalnum((unsigned char)*p) && *p != '-') {
			return -1;
		}
	}
	/* the last label is a top-level domain: letters only, two at least */
	if (dots == 0 || strlen(label) < 2)
		return -1;
	for (p = label; *p; p++)
		if (!isalpha((unsigned char)*p))
			return -1;
	return 0;
}

static int
validate_phone(const char *s)
{
	int digits = 0;
	const char *p;

	for (p = s; *p; p++) {
		if (isdigit((unsigned char)*p))
			digits++;
		else if (*p == '+' && p != s)
			return -1;
		else if (*p != '+' && strchr(" ()-.", *p) == NULL)
			return -1;
	}
	return digits >= 7 && digits <= 20 ? 0 : -1;
}

int
validate_ident(const char *s, int max)
{
	size_t len = strlen(s), i;

	if (len == 0 || len > (size_t)max)
		return -1;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
			return -1;
	return 0;
}

/* The zone database's directory, opened before the worker's chroot (validate_zoneinfo_open);
 * -1: looked up by path. Set once per process before it serves, only read after. */
static int validate_zoneinfo_fd = -1;

int
validate_zoneinfo_open(void)
{
	if (validate_zoneinfo_fd < 0)
		validate_zoneinfo_fd =
		    open("/usr/share/zoneinfo", O_PATH | O_DIRECTORY | O_CLOEXEC);
	return validate_zoneinfo_fd >= 0 ? 0 : -1;
}

static int
validate_timezone(const char *s)
{
	char path[256];
	struct stat st;
	const char *p;
	int slashes = 0;

	if (strcmp(s, "UTC") == 0)
		return 0;
	if (strlen(s) > 64 || !isalpha((unsigned char)s[0]) || strstr(s, "..") != NULL)
		return -1;
	for (p = s; *p; p++) {
		if (*p == '/')
			slashes++;
		else if (!isalnum((unsigned char)*p) && strchr("_+-", *p) == NULL)
			return -1;
	}
	if (slashes < 1 || slashes > 2 || s[strlen(s) - 1] == '/')
		return -1;
	/* where the system carries the zone database, the name must be in it (".." was refused
	 * above, so the name stays inside the directory) */
	if (validate_zoneinfo_fd >= 0)
		return fstatat(validate_zoneinfo_fd, s, &st, 0) == 0 && S_ISREG(st.st_mode) ? 0
											    : -1;
	if (stat("/usr/share/zoneinfo", &st) == 0) {
		snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", s);
		return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? 0 : -1;
	}
	return 0;
}

int
validate_bool(const char *s, int *out)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
		*out = 1;
	else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

static size_t
validate_utf8_chars(const char *s, uint32_t len)
{
	size_t n = 0;
	uint32_t i;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/* --- fields --- */

static const char *
validate_join(char *out, size_t outlen, const char *prefix, const char *name)
{
	if (prefix[0] != '\0')
		snprintf(out, outlen, "%.40s.%.50s", prefix, name);
	else
		snprintf(out, outlen, "%.90s", name);
	return out;
}

static void validate_object(const struct validate_field *fields, const bson_iter_t *parent,
			    const char *prefix, enum validate_mode mode, bson_t *set, bson_t *unset,
			    struct validate_errors *errs);

void
validate_enum_list(char *out, size_t outlen, const char *const *values)
{
	size_t used = 0;

	out[0] = '\0';
	for (; *values != NULL && used < outlen; values++)
		used +=
		    (size_t)snprintf(out + used, outlen - used, "%s%s", used ? ", " : "", *values);
}

/* Checks one value and appends its MongoDB form to set under f->name. */

static int
validate_key_order(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * A free-form object (settings, metadata) is stored as sent, so the field walk never sees its
 * keys: a key given twice in it, at any depth, is ambiguous and MongoDB refuses the document
 * (it was a 500). Sorts each object's keys (O(n log n): the object is at most
 * VALIDATE_FREEFORM_MAX bytes) and reports the first repeat by its path. 0, or -1 with errs.
 */
static int
validate_freeform_unique(const bson_t *doc, const char *prefix, struct validate_errors *errs)
{
	const char **keys;
	uint32_t n = bson_count_keys(doc), i = 0, k;
	bson_iter_t it;
	char path[96];
	int rc = 0;

	if (n == 0 || !bson_iter_init(&it, doc))
		return 0;
	if ((keys = calloc(n, sizeof(*keys))) == NULL)
		abort();
	while (bson_iter_next(&it) && i < n) {
		keys[i++] = bson_iter_key(&it);
		if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
			const uint8_t *data;
			uint32_t len;
			bson_t child;

			validate_join(path, sizeof(path), prefix, bson_iter_key(&it));
			if (BSON_ITER_HOLDS_DOCUMENT(&it))
				bson_iter_document(&it, &len, &data);
			else
				bson_iter_array(&it, &len, &data);
			if (rc == 0 && bson_init_static(&child, data, len))
				rc = validate_freeform_unique(&child, path, errs);
		}
	}
	qsort(keys, i, sizeof(*keys), validate_key_order);
	for (k = 1; k < i && rc == 0; k++) {
		if (strcmp(keys[k - 1], keys[k]) == 0) {
			validate_join(path, sizeof(path), prefix, keys[k]);
			validate_error_add(errs, path, "appears more than once");
			rc = -1;
		}
	}
	free(keys);
	return rc;
}

static void
validate_value(const struct validate_field *f, const bson_iter_t *it, const char *path,
	       enum validate_mode mode, bson_t *set, struct validate_errors *errs)
{
	const char *s = NULL;
	uint32_t len = 0;
	char list[160];

	if (f->type != VALIDATE_BOOL && f->type != VALIDATE_ENUM_ARRAY &&
	    f->type != VALIDATE_OBJECT && f->type != VALIDATE_FREEFORM) {
		if (!BSON_ITER_HOLDS_UTF8(it)) {
			validate_error_add(errs, path, "must be a string");
			return;
		}
		s = bson_iter_utf8(it, &len);
		if (strlen(s) != len) {
			validate_error_add(errs, path, "must not contain NUL characters");
			return;
		}
	}
	switch (f->type) {
	case VALIDATE_STRING: {
		size_t chars = validate_utf8_chars(s, len);
		const char *t = s;

		while (isspace((unsigned char)*t))
			t++;
		if (chars < (size_t)f->min || chars > (size_t)f->max ||
		    (f->min > 0 && *t == '\0')) {
			validate_error_add(errs, path, "must be %d to %d characters long", f->min,
					   f->max);
			return;
		}
		bson_append_utf8(set, f->name, -1, s, (int)len);
		return;
	}
	case VALIDATE_ENUM:
		if (validate_enum(s, f->values) != 0) {
			validate_enum_list(list, sizeof(list), f->values);
			validate_error_add(errs, path, "must be one of %s", list);
			return;
		}
		bson_append_utf8(set, f->name, -1, s, (int)len);
		return;
	case VALIDATE_EMAIL:
		if (validate_email(s) != 0) {
			validate_error_add(errs, path, "must be an e-mail address");
			return;
		}
		bson_append_utf8(set, f->name, -1, s, (int)len);
		return;
	case VALIDATE_PHONE:
		if (validate_phone(s) != 0) {
			validate_error_add(errs, path, "must be a phone number (7 to 20 digits)");
			return;
		}
		bson_append_utf8(set, f->name, -1, s, (int)len);
		return;
	case VALIDATE_DATE: {
		int64_t ms;

		if (validate_date(s, &ms) != 0) {
			validate_error_add(errs, path,
					   "must be an ISO-8601 date (2027-01-31 or "
					   "2027-01-31T12:00:00Z)");
			return;
		}
		bson_append_date_time(set, f->name, -1, ms);
		return;
	}
	case VALIDATE_OBJECTID: {
		bson_oid_t oid;

		if (validate_objectid(s, &oid) != 0) {
			validate_error_add(errs, path, "must be an id of 24 hex digits");
			return;
		}
		bson_append_oid(set, f->name, -1, &oid);
		return;
	}
	case VALIDATE_IDENT:
		if (validate_ident(s, f->max) != 0) {
			validate_error_add(errs, path,
					   "must be 1 to %d letters, digits, '_' or '-'", f->max);
			return;
		}
		bson_append_utf8(set, f->name, -1, s, (int)len);
		return;
	case VALIDATE_TIMEZONE:
		if (validate_timezone(s) != 0) {
			validate_error_add(errs, path,
					   "must be an IANA time zone such as America/New_York");
			return;
		}
		bson_append_utf8(set, f->name, -1, s, (int)len);
		return;
	case VALIDATE_BOOL:
		if (!BSON_ITER_HOLDS_BOOL(it)) {
			validate_error_add(errs, path, "must be true or false");
			return;
		}
		bson_append_bool(set, f->name, -1, bson_iter_bool(it));
		return;
	case VALIDATE_ENUM_ARRAY: {
		bson_iter_t child;
		bson_t arr;
		const char *seen[16];
		int n = 0, bad = 0, k;
		char key[16];

		if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &child)) {
			validate_error_add(errs, path, "must be an array");
			return;
		}
		bson_append_array_begin(set, f->name, -1, &arr);
		while (bson_iter_next(&child)) {
			const char *v =
			    BSON_ITER_HOLDS_UTF8(&child) ? bson_iter_utf8(&child, NULL) : NULL;

			if (v == NULL || validate_enum(v, f->values) != 0) {
				bad = 1;
				break;
			}
			for (k = 0; k < n && strcmp(seen[k], v) != 0; k++)
				;
			if (k < n)
				continue; /* a repeated role means the same as one */
			if (n == 16) {
				bad = 1;
				break;
			}
			seen[n] = v;
			snprintf(key, sizeof(key), "%d", n++);
			bson_append_utf8(&arr, key, -1, v, -1);
		}
		bson_append_array_end(set, &arr);
		if (bad) {
			validate_enum_list(list, sizeof(list), f->values);
			validate_error_add(errs, path, "items must be one of %s", list);
		} else if (n < f->min || n > f->max) {
			validate_error_add(errs, path, "must hold %d to %d distinct items", f->min,
					   f->max);
		}
		return;
	}
	case VALIDATE_OBJECT: {
		bson_t child;

		if (!BSON_ITER_HOLDS_DOCUMENT(it)) {
			validate_error_add(errs, path, "must be an object");
			return;
		}
		bson_append_document_begin(set, f->name, -1, &child);
		/* a nested object is replaced whole, so it is checked as on create */
		validate_object(f->children, it, path, VALIDATE_CREATE, &child, NULL, errs);
		bson_append_document_end(set, &child);
		(void)mode;
		return;
	}
	case VALIDATE_FREEFORM: {
		const uint8_t *data;
		uint32_t dlen;
		bson_t doc;

		if (!BSON_ITER_HOLDS_DOCUMENT(it)) {
			validate_error_add(errs, path, "must be an object");
			return;
		}
		bson_iter_document(it, &dlen, &data);
		if (dlen > (uint32_t)(f->max > 0 ? f->max : VALIDATE_FREEFORM_MAX)) {
			validate_error_add(errs, path, "must be at most %d bytes",
					   f->max > 0 ? f->max : VALIDATE_FREEFORM_MAX);
			return;
		}
		if (!bson_init_static(&doc, data, dlen) ||
		    validate_freeform_unique(&doc, path, errs) != 0)
			return;
		bson_append_document(set, f->name, -1, &doc);
		return;
	}
	}
}

static const struct validate_field *
validate_find(const struct validate_field *fields, const char *name)
{
	for (; fields->name != NULL; fields++)
		if (strcmp(fields->name, name) == 0)
			return fields;
	return NULL;
}

static void
validate_object(const struct validate_field *fields, const bson_iter_t *parent, const char *prefix,
		enum validate_mode mode, bson_t *set, bson_t *unset, struct validate_errors *errs)
{
	const struct validate_field *f;
	bson_iter_t it, again;
	char path[96];

	if (!bson_iter_recurse(parent, &it))
		return;
	while (bson_iter_next(&it)) {
		const char *name = bson_iter_key(&it);

		validate_join(path, sizeof(path), prefix, name);
		/* a key given twice is ambiguous: which one did the client mean? */
		if (bson_iter_recurse(parent, &again)) {
			int count = 0;

			while (bson_iter_next(&again))
				count += strcmp(bson_iter_key(&again), name) == 0;
			if (count > 1) {
				/* reported once, at the first occurrence */
				if (bson_iter_recurse(parent, &again) &&
				    bson_iter_find(&again, name) &&
				    bson_iter_offset(&again) == bson_iter_offset(&it))
					validate_error_add(errs, path, "appears more than once");
				continue;
			}
		}
		if (prefix[0] == '\0' && validate_enum(name, validate_server_kept) == 0) {
			validate_error_add(errs, path, "is set by the server");
			continue;
		}
		if ((f = validate_find(fields, name)) == NULL) {
			validate_error_add(errs, path, "is not a known field");
			continue;
		}
		if (f->flags & VALIDATE_SERVER) {
			validate_error_add(errs, path, "is set by the server");
			continue;
		}
		if (mode == VALIDATE_PATCH && (f->flags & VALIDATE_IMMUTABLE)) {
			validate_error_add(errs, path, "cannot be changed");
			continue;
		}
		if (BSON_ITER_HOLDS_NULL(&it)) {
			/* on create the required check below reports a null required field */
			if (mode == VALIDATE_PATCH && (f->flags & VALIDATE_REQUIRED))
				validate_error_add(errs, path, "cannot be cleared");
			else if (mode == VALIDATE_PATCH && unset != NULL)
				bson_append_utf8(unset, name, -1, "", 0);
			continue;
		}
		validate_value(f, &it, path, mode, set, errs);
	}
	if (mode != VALIDATE_CREATE)
		return;
	for (f = fields; f->name != NULL; f++) {
		bson_iter_t probe;

		if (!(f->flags & VALIDATE_REQUIRED))
			continue;
		if (!bson_iter_recurse(parent, &probe) || !bson_iter_find(&probe, f->name) ||
		    BSON_ITER_HOLDS_NULL(&probe))
			validate_error_add(errs, validate_join(path, sizeof(path), prefix, f->name),
					   "is required");
	}
}

enum validate_result
validate_body(const struct validate_field *fields, const char *body, size_t len,
	      enum validate_mode mode, bson_t *set, bson_t *unset, struct validate_errors *errs)
{
	bson_error_t error;
	bson_t doc;
	bson_iter_t root;
	size_t i = 0;
	bson_t *holder;

	errs->n = 0;
	while (i < len && isspace((unsigned char)body[i]))
		i++;
	/* a byte-order mark is named as such (by validate_strict), not as "not an object" */
	if (i == len || (body[i] != '{' && !validate_bom(body, len))) {
		validate_error_add(errs, "", "the body must be a JSON object");
		return VALIDATE_MALFORMED;
	}
	if (validate_strict(body, len, errs) != 0)
		return VALIDATE_MALFORMED;
	/* before libbson reads it: it would take {"$date": ...} as a value of its own */
	validate_scan_keys(body, len, errs);
	if (errs->n > 0)
		return VALIDATE_INVALID;
	if (!bson_init_from_json(&doc, body, (ssize_t)len, &error)) {
		/* strict JSON that libbson still refuses (a NUL in a key): no parser words */
		validate_error_add(errs, "", "the body cannot be stored as a document");
		return VALIDATE_MALFORMED;
	}
	if (mode == VALIDATE_PATCH && bson_count_keys(&doc) == 0) {
		validate_error_add(errs, "", "the body must change at least one field");
		bson_destroy(&doc);
		return VALIDATE_INVALID;
	}
	/* validate_object walks children of an iterator, so give the document a parent */
	holder = bson_new();
	bson_append_document(holder, "body", -1, &doc);
	bson_destroy(&doc);
	if (bson_iter_init_find(&root, holder, "body"))
		validate_object(fields, &root, "", mode, set, unset, errs);
	bson_destroy(holder);
	return errs->n > 0 ? VALIDATE_INVALID : VALIDATE_OK;
}

/* The index of name[0..len) in allowed, or -1. */
static int
validate_query_index(const char *name, size_t len, const char *const *allowed)
{
	int i;

	for (i = 0; allowed[i] != NULL; i++)
		if (strlen(allowed[i]) == len && memcmp(allowed[i], name, len) == 0)
			return i;
	return -1;
}

int
validate_query_names(const char *query, size_t len, const char *const *allowed,
		     struct validate_errors *errs)
{
	const char *p = query, *end = query + len;
	uint64_t seen = 0;
	char name[64];

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *eq;
		size_t nlen;
		int idx;

		if (amp == NULL)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		nlen = (size_t)((eq != NULL ? eq : amp) - p);
		snprintf(name, sizeof(name), "%.*s", (int)(nlen < 60 ? nlen : 60), p);
		if (amp == p) {
			/* an empty segment ("a=1&&b=2", a leading or trailing '&') carries nothing
			 */
		} else if (nlen == 0) {
			validate_error_add(errs, "", "a query parameter has no name");
		} else if (strpbrk(name, "[]$%") != NULL) {
			validate_error_add(errs, name,
					   "operator-shaped query parameters are not allowed");
		} else if ((idx = validate_query_index(p, nlen, allowed)) < 0) {
			validate_error_add(errs, name, "is not a known query parameter");
		} else if (idx < 64 && (seen & ((uint64_t)1 << idx)) != 0) {
			/* one meaning per name: no silent first-wins, no list */
			validate_error_add(errs, name, "is given more than once");
		} else if (eq == NULL || eq + 1 == amp) {
			validate_error_add(errs, name, "has no value");
		} else if (idx < 64) {
			seen |= (uint64_t)1 << idx;
		}
		p = amp + 1;
	}
	return errs->n > 0 ? -1 : 0;
}
