/*
 * fields.h: `?fields=name,status` as a MongoDB projection, so only those fields leave the
 * database. `id` is always returned; nested names (address.city) are allowed when their
 * top-level field is.
 */
#ifndef ENTERPRISED_FIELDS_H
#define ENTERPRISED_FIELDS_H

#include <stddef.h>

#include <bson/bson.h>

/*
 * Parses a comma-separated list against `allowed` (NULL-terminated top-level names) and
 * appends {name: 1, ...} to projection. Returns 0, or -1 with the offending name in bad
 * (an unknown field, an empty item, a name starting with '$'). An empty or absent list means
 * every field and leaves projection empty.
 */
int fields_projection(const char *list, const char *const *allowed, bson_t *projection, char *bad,
		      size_t badlen);

#endif
