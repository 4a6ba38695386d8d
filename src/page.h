/*
 * page.h: list paging, the guide's way.
 *
 * Query parameters: `limit` (default PAGINATION_DEFAULT_LIMIT, at most PAGINATION_MAX_LIMIT:
 * more is a 400), `page` (offset paging, from 1), `cursor` (opaque), `count` (false skips
 * the total). PAGINATION_USE_CURSOR picks the default mode when neither page nor cursor is
 * given. Lists are ordered by createdAt descending, then _id descending, so a cursor
 * (createdAt, _id) of the last row shown is a stable place to continue from, whatever is
 * inserted meanwhile.
 *
 * A cursor is base64url(version byte, createdAt ms as 8 bytes big-endian, 12-byte ObjectId,
 * first 16 bytes of HMAC-SHA256 over those bytes). A cursor changed in any bit is rejected.
 */
#ifndef ENTERPRISED_PAGE_H
#define ENTERPRISED_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "config.h"

#define PAGE_KEY_LEN 32
#define PAGE_CURSOR_MAX 64 /* encoded length, with NUL */

struct page_params {
	int limit;
	int cursor_mode; /* 1: cursor paging, 0: offset paging */
	int page;	 /* offset mode: 1-based page */
	int has_cursor;	 /* cursor mode: continue after (after_created_ms, after_id) */
	int64_t after_created_ms;
	bson_oid_t after_id;
	int want_count; /* 0 with count=false */
};

/*
 * Reads the paging parameters from raw values (NULL when absent). Returns 0, or -1 with
 * field ("limit", "page", "cursor" or "count") and message set, for a 400.
 */
int page_parse(const struct config *c, const uint8_t key[PAGE_KEY_LEN], const char *limit,
	       const char *page, const char *cursor, const char *count, struct page_params *p,
	       const char **field, char *message, size_t msglen);

/* Adds the cursor condition to filter (as an $and with what is there), and sort, limit
 * (limit + 1, to learn hasMore) and skip to opts. */
void page_apply(const struct page_params *p, bson_t *filter, bson_t *opts);

void page_cursor_encode(const uint8_t key[PAGE_KEY_LEN], int64_t created_ms, const bson_oid_t *id,
			char out[PAGE_CURSOR_MAX]);
/* Derives the cursor key from a deployment secret (the same in every worker and instance):
 * HMAC-SHA256(secret, "enterprised list cursor v1"), a label no token signature uses. */
void page_key_derive(const char *secret, size_t len, uint8_t key[PAGE_KEY_LEN]);

/*
 * The cursor key of a configuration: from cursor_secret when set, else from jwt_secret (both
 * through page_key_derive). Never from anything public: config_validate refuses
 * jwt_public_key_file without cursor_secret. With no secret at all no route that pages can be
 * authenticated, and the key is random. Returns 0, or -1 when no key could be made.
 */
int page_key_from_config(const struct config *c, uint8_t key[PAGE_KEY_LEN]);

/* 0 when the cursor is authentic and well-formed, -1 otherwise. */
int page_cursor_decode(const uint8_t key[PAGE_KEY_LEN], const char *cursor, int64_t *created_ms,
		       bson_oid_t *id);

#endif
