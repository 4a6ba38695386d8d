/*
 * validate.h: request bodies and query strings checked against a field table, before anything
 * reaches MongoDB.
 *
 * A body must first be exactly one RFC 8259 JSON text, read strictly by jansson (libbson's
 * reader takes NaN and Infinity and stops after the first value); each way to fail has its
 * own message. Then it is scanned as text: a key that starts with '$' or contains '.' anywhere, at
 * any depth, rejects the whole body (libbson's JSON reader would otherwise turn {"$date": …}
 * into a value, and MongoDB reads such keys as operators or paths). Then libbson parses it,
 * and each top-level field is checked against the table: unknown fields, server-kept fields,
 * types, enum values, lengths, dates, e-mails, ids. Every problem is reported, not just the
 * first, each naming its field.
 */
#ifndef ENTERPRISED_VALIDATE_H
#define ENTERPRISED_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#define VALIDATE_MAX_ERRORS 16
/* objects and arrays in a body nest at most this deep (the body itself is level 1) */
#define VALIDATE_MAX_DEPTH 32

enum validate_type {
	VALIDATE_STRING, /* min..max characters (UTF-8 code points) */
	VALIDATE_ENUM,	 /* one of values */
	VALIDATE_EMAIL,	 /* local@domain.tld, at most 254 characters */
	VALIDATE_PHONE,	 /* +, digits, spaces, ()-. ; 7 to 20 digits */
	VALIDATE_DATE,	 /* ISO-8601 date or date-time; stored as a BSON date */
	VALIDATE_BOOL,
	VALIDATE_OBJECTID,   /* 24 hex digits; stored as an ObjectId */
	VALIDATE_IDENT,	     /* an external id: 1..max of [A-Za-z0-9_-] */
	VALIDATE_TIMEZONE,   /* an IANA zone name such as America/New_York */
	VALIDATE_ENUM_ARRAY, /* min..max distinct items from values */
	VALIDATE_OBJECT,     /* a nested object checked against children */
	VALIDATE_FREEFORM,   /* any object (its keys are still scanned), at most max bytes */
};

/* flags */
#define VALIDATE_REQUIRED 0x1  /* must be present on create; cannot be null */
#define VALIDATE_SERVER 0x2    /* kept by the server: a client that sends it gets a 400 */
#define VALIDATE_IMMUTABLE 0x4 /* accepted on create only */

struct validate_field {
	const char *name;
	enum validate_type type;
	unsigned flags;
	int min, max;
	const char *const *values;	       /* NULL-terminated, for enums */
	const struct validate_field *children; /* ends with a NULL name */
};

struct validate_error {
	char field[96];
	char message[192];
};

struct validate_errors {
	int n;
	struct validate_error items[VALIDATE_MAX_ERRORS];
};

enum validate_mode { VALIDATE_CREATE, VALIDATE_PATCH };

enum validate_result {
	VALIDATE_OK = 0,
	VALIDATE_INVALID = -1,	 /* well-formed JSON that breaks the rules: errs says how */
	VALIDATE_MALFORMED = -2, /* not a JSON object at all: errs->items[0] says why */
};

/*
 * Checks body against fields (ending with a NULL name). On VALIDATE_OK, `set` holds every
 * given field converted for MongoDB; in PATCH mode a null clears an optional field and is put
 * in `unset` instead ({"field": ""}), and an empty body is invalid. The fields `id`, `_id`,
 * `createdAt`, `updatedAt` and `version` are always server-kept.
 */
enum validate_result validate_body(const struct validate_field *fields, const char *body,
				   size_t len, enum validate_mode mode, bson_t *set, bson_t *unset,
				   struct validate_errors *errs);

/*
 * Query names: each must be in allowed (NULL-terminated); a name with '[', ']', '$' or '%' is
 * an operator-shaped parameter. The rules of one query string (issue 7; README, "The API"):
 * empty segments ("a=1&&b=2") are ignored; a pair with no name ("=x"), a name given twice
 * ("status=A&status=B": never first-wins) and a name with no value ("status" or "status=")
 * are refused. Returns 0, or -1 with errs filled (one entry per bad pair).
 */
int validate_query_names(const char *query, size_t len, const char *const *allowed,
			 struct validate_errors *errs);

void validate_error_add(struct validate_errors *errs, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Single values, for path and query parameters. Each returns 0 when valid. */
int validate_objectid(const char *s, bson_oid_t *out);
int validate_enum(const char *s, const char *const *values);
/* The values of an enum as "A, B, C", for messages. */
void validate_enum_list(char *out, size_t outlen, const char *const *values);
int validate_date(const char *s, int64_t *ms);
int validate_email(const char *s);
int validate_ident(const char *s, int max);

/*
 * Opens /usr/share/zoneinfo (O_PATH) for timezone checks, so that they still find the zone
 * database after the worker's chroot (issue 12; call before sandbox_enter). 0, or -1 when the
 * system has none (names are then only checked for their shape).
 */
int validate_zoneinfo_open(void);
int validate_bool(const char *s, int *out);

#endif
