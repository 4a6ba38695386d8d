/*
 * fields.c: `?fields=` to a MongoDB inclusion projection (see fields.h).
 *
 * Only names we know reach the projection: a top-level name from `allowed`, or a dotted path
 * under one, each segment [A-Za-z0-9_]+. So '$' operators, empty segments and spaces never
 * reach MongoDB. Nothing is trimmed: "name, status" names " status" as bad.
 *
 * `id` is the API's name for _id, which an inclusion projection returns anyway, so it adds
 * nothing, except when it is the only name: an empty projection would mean "every field", so
 * then {_id: 1} is written instead.
 *
 * MongoDB 4.4+ rejects a projection that holds both a path and one of its ancestors ("path
 * collision"), so a name under another listed name is dropped: the ancestor brings it anyway.
 */
#include "fields.h"

#include <string.h>

#define FIELDS_MAX_ITEMS 32
#define FIELDS_MAX_LEN 512

struct fields_item {
	const char *name;
	size_t len;
};

static void
fields_set_bad(char *bad, size_t badlen, const char *name, size_t len)
{
	if (bad == NULL || badlen == 0)
		return;
	if (len >= badlen)
		len = badlen - 1;
	memcpy(bad, name, len);
	bad[len] = '\0';
}

static int
fields_is_allowed(const char *name, size_t len, const char *const *allowed)
{
	size_t i;

	for (i = 0; allowed != NULL && allowed[i] != NULL; i++)
		if (strlen(allowed[i]) == len && memcmp(allowed[i], name, len) == 0)
			return 1;
	return 0;
}

/* Segments of [A-Za-z0-9_]+ separated by single dots; the first one must be allowed. */
static int
fields_is_valid(const char *name, size_t len, const char *const *allowed)
{
	size_t i, seg = 0, first = len;
	unsigned char ch;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		ch = (unsigned char)name[i];
		if (ch == '.') {
			if (seg == 0)
				return 0;
			if (first == len)
				first = i;
			seg = 0;
		} else if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			   (ch >= '0' && ch <= '9') || ch == '_') {
			seg++;
		} else {
			return 0;
		}
	}
	if (seg == 0)
		return 0;
	return fields_is_allowed(name, first, allowed);
}

/* 1 when a is b or a dotted descendant of b ("address.city" under "address"). */
static int
fields_is_under(const struct fields_item *a, const struct fields_item *b)
{
	if (a->len < b->len || memcmp(a->name, b->name, b->len) != 0)
		return 0;
	return a->len == b->len || a->name[b->len] == '.';
}

int
fields_projection(const char *list, const char *const *allowed, bson_t *projection, char *bad,
		  size_t badlen)
{
	struct fields_item items[FIELDS_MAX_ITEMS];
	const char *p, *comma;
	size_t n = 0, seen = 0, i, j, len;
	int only_id = 1, covered;

	if (bad != NULL && badlen > 0)
		bad[0] = '\0';
	if (list == NULL || list[0] == '\0')
		return 0;

	for (p = list;; p = comma + 1) {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if ((size_t)(p - list) + len > FIELDS_MAX_LEN || seen == FIELDS_MAX_ITEMS) {
			/* The item that crosses a limit is the one named. */
			fields_set_bad(bad, badlen, p, len);
			return -1;
		}
		seen++;
		if (len == 2 && memcmp(p, "id", 2) == 0) {
			/* always returned as _id */
		} else if (fields_is_valid(p, len, allowed)) {
			items[n].name = p;
			items[n].len = len;
			n++;
			only_id = 0;
		} else {
			fields_set_bad(bad, badlen, p, len);
			return -1;
		}
		if (comma == NULL)
			break;
	}

	if (only_id) {
		BSON_APPEND_INT32(projection, "_id", 1);
		return 0;
	}
	for (i = 0; i < n; i++) {
		/* Skip a duplicate (an equal item earlier) or a path under another listed item. */
		covered = 0;
		for (j = 0; j < n && !covered; j++) {
			if (j == i || !fields_is_under(&items[i], &items[j]))
				continue;
			covered = items[i].len != items[j].len || j < i;
		}
		if (!covered)
			bson_append_int32(projection, items[i].name, (int)items[i].len, 1);
	}
	return 0;
}
