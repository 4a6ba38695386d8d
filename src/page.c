/*
 * page.c: list paging (see page.h).
 *
 * Lists are sorted by (createdAt desc, _id desc). Offset mode skips (page - 1) * limit rows;
 * cursor mode continues strictly after the (createdAt, _id) pair of the last row shown, which
 * stays correct while rows are inserted (new rows sort before the cursor or after it, never
 * shift what follows it). Both modes ask for limit + 1 rows: the extra row only says hasMore.
 *
 * The cursor is 37 raw bytes, base64url without padding (50 characters):
 *   [0]      version (PAGE_CURSOR_VERSION)
 *   [1..8]   createdAt in ms since the epoch, big-endian two's complement
 *   [9..20]  the ObjectId's 12 bytes
 *   [21..36] first 16 bytes of HMAC-SHA256(key, bytes 0..20)
 * Decoding accepts only that exact text: alphabet, length and the unused low bits of the
 * last character are all checked, so no two strings decode to the same cursor.
 */
#include "page.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define PAGE_CURSOR_VERSION 1
#define PAGE_BODY_LEN (1 + 8 + 12)
#define PAGE_MAC_LEN 16
#define PAGE_RAW_LEN (PAGE_BODY_LEN + PAGE_MAC_LEN)
/* 37 bytes = 12 groups of 3 (48 chars) + 1 byte (2 chars) */
#define PAGE_TEXT_LEN ((PAGE_RAW_LEN / 3) * 4 + ((PAGE_RAW_LEN % 3) ? PAGE_RAW_LEN % 3 + 1 : 0))
#define PAGE_MAX_PAGE 1000000

static const char page_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of a base64url character, or -1 for anything outside the alphabet. */
static int
page_b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '-')
		return 62;
	if (ch == '_')
		return 63;
	return -1;
}

/* base64url without padding; out must hold (len + 2) / 3 * 4 + 1 bytes. */
static void
page_b64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t i, o = 0;
	uint32_t v;

	for (i = 0; i + 3 <= len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = page_b64[v >> 18 & 63];
		out[o++] = page_b64[v >> 12 & 63];
		out[o++] = page_b64[v >> 6 & 63];
		out[o++] = page_b64[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = page_b64[v >> 18 & 63];
		out[o++] = page_b64[v >> 12 & 63];
	} else if (len - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = page_b64[v >> 18 & 63];
		out[o++] = page_b64[v >> 12 & 63];
		out[o++] = page_b64[v >> 6 & 63];
	}
	out[o] = '\0';
}

/*
 * Decodes exactly PAGE_TEXT_LEN characters into PAGE_RAW_LEN bytes. Rejects other lengths,
 * characters outside the alphabet and set bits below the last byte (non-canonical text).
 */
static int
page_b64_decode_cursor(const char *text, uint8_t out[PAGE_RAW_LEN])
{
	size_t i, o = 0, n;
	uint32_t v = 0;
	int bits = 0, d;

	n = strnlen(text, PAGE_TEXT_LEN + 1);
	if (n != PAGE_TEXT_LEN)
		return -1;
	for (i = 0; i < n; i++) {
		d = page_b64_value((unsigned char)text[i]);
		if (d < 0)
			return -1;
		v = (v << 6 | (uint32_t)d) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= PAGE_RAW_LEN)
				return -1;
			out[o++] = (uint8_t)(v >> bits);
		}
	}
	if (o != PAGE_RAW_LEN || (v & ((1u << bits) - 1)) != 0)
		return -1;
	return 0;
}

static int
page_mac(const uint8_t key[PAGE_KEY_LEN], const uint8_t body[PAGE_BODY_LEN],
	 uint8_t mac[PAGE_MAC_LEN])
{
	uint8_t full[EVP_MAX_MD_SIZE];
	unsigned int full_len = 0;

	if (HMAC(EVP_sha256(), key, PAGE_KEY_LEN, body, PAGE_BODY_LEN, full, &full_len) == NULL ||
	    full_len < PAGE_MAC_LEN)
		return -1;
	memcpy(mac, full, PAGE_MAC_LEN);
	OPENSSL_cleanse(full, sizeof(full));
	return 0;
}

void
page_cursor_encode(const uint8_t key[PAGE_KEY_LEN], int64_t created_ms, const bson_oid_t *id,
		   char out[PAGE_CURSOR_MAX])
{
	uint8_t raw[PAGE_RAW_LEN];
	uint64_t u = (uint64_t)created_ms;
	int i;

	raw[0] = PAGE_CURSOR_VERSION;
	for (i = 0; i < 8; i++)
		raw[1 + i] = (uint8_t)(u >> (56 - 8 * i));
	memcpy(raw + 9, id->bytes, 12);
	if (page_mac(key, raw, raw + PAGE_BODY_LEN) != 0) {
		/* An empty cursor never decodes, so the client gets a 400, not a wrong page. */
		out[0] = '\0';
		return;
	}
	page_b64_encode(raw, sizeof(raw), out);
}

int
page_cursor_decode(const uint8_t key[PAGE_KEY_LEN], const char *cursor, int64_t *created_ms,
		   bson_oid_t *id)
{
	uint8_t raw[PAGE_RAW_LEN], mac[PAGE_MAC_LEN];
	uint64_t u = 0;
	int i;

	if (cursor == NULL || page_b64_decode_cursor(cursor, raw) != 0)
		return -1;
	if (raw[0] != PAGE_CURSOR_VERSION)
		return -1;
	if (page_mac(key, raw, mac) != 0)
		return -1;
	/* Constant time, so the response time says nothing about how much of a forged MAC fits. */
	if (CRYPTO_memcmp(mac, raw + PAGE_BODY_LEN, PAGE_MAC_LEN) != 0)
		return -1;
	for (i = 0; i < 8; i++)
		u = u << 8 | raw[1 + i];
	*created_ms = (int64_t)u;
	bson_oid_init_from_data(id, raw + 9);
	return 0;
}

/*
 * A base-10 integer: optional '-', then digits only (no spaces, no '+', no trailing text).
 * Values beyond long are clamped, which every caller's range check then rejects.
 */
static int
page_parse_int(const char *s, long *out)
{
	const char *q = s;
	char *end;
	long v;

	if (*q == '-')
		q++;
	if (*q < '0' || *q > '9')
		return -1;
	v = strtol(s, &end, 10);
	if (*end != '\0')
		return -1;
	*out = v;
	return 0;
}

int
page_parse(const struct config *c, const uint8_t key[PAGE_KEY_LEN], const char *limit,
	   const char *page, const char *cursor, const char *count, struct page_params *p,
	   const char **field, char *message, size_t msglen)
{
	long v;

	memset(p, 0, sizeof(*p));
	p->want_count = 1;

	if (page != NULL && cursor != NULL) {
		*field = "cursor";
		snprintf(message, msglen, "use either page or cursor");
		return -1;
	}

	p->limit = c->pagination_default_limit;
	if (limit != NULL) {
		if (page_parse_int(limit, &v) != 0 || v < 1 || v > c->pagination_max_limit) {
			*field = "limit";
			snprintf(message, msglen, "limit must be between 1 and %d",
				 c->pagination_max_limit);
			return -1;
		}
		p->limit = (int)v;
	}

	if (page != NULL) {
		if (page_parse_int(page, &v) != 0 || v < 1 || v > PAGE_MAX_PAGE) {
			*field = "page";
			snprintf(message, msglen, "page must be between 1 and %d", PAGE_MAX_PAGE);
			return -1;
		}
		p->cursor_mode = 0;
		p->page = (int)v;
	} else if (cursor != NULL) {
		if (page_cursor_decode(key, cursor, &p->after_created_ms, &p->after_id) != 0) {
			*field = "cursor";
			snprintf(message, msglen, "cursor is invalid or was tampered with");
			return -1;
		}
		p->cursor_mode = 1;
		p->has_cursor = 1;
	} else {
		p->cursor_mode = c->pagination_use_cursor ? 1 : 0;
		p->page = p->cursor_mode ? 0 : 1;
	}

	if (count != NULL) {
		if (strcmp(count, "true") == 0 || strcmp(count, "1") == 0) {
			p->want_count = 1;
		} else if (strcmp(count, "false") == 0 || strcmp(count, "0") == 0) {
			p->want_count = 0;
		} else {
			*field = "count";
			snprintf(message, msglen, "count must be true or false");
			return -1;
		}
	}
	return 0;
}

/* {$or: [{createdAt: {$lt: D}}, {createdAt: D, _id: {$lt: OID}}]}: strictly after the cursor
 * in (createdAt desc, _id desc) order. */
static void
page_cursor_condition(const struct page_params *p, bson_t *cond)
{
	bson_t alts, a, b, lt;

	bson_append_array_begin(cond, "$or", 3, &alts);

	bson_append_document_begin(&alts, "0", 1, &a);
	bson_append_document_begin(&a, "createdAt", 9, &lt);
	bson_append_date_time(&lt, "$lt", 3, p->after_created_ms);
	bson_append_document_end(&a, &lt);
	bson_append_document_end(&alts, &a);

	bson_append_document_begin(&alts, "1", 1, &b);
	bson_append_date_time(&b, "createdAt", 9, p->after_created_ms);
	bson_append_document_begin(&b, "_id", 3, &lt);
	bson_append_oid(&lt, "$lt", 3, &p->after_id);
	bson_append_document_end(&b, &lt);
	bson_append_document_end(&alts, &b);

	bson_append_array_end(cond, &alts);
}

void
page_apply(const struct page_params *p, bson_t *filter, bson_t *opts)
{
	bson_t sort;
	int64_t skip;

	if (p->cursor_mode && p->has_cursor) {
		bson_t cond = BSON_INITIALIZER;

		page_cursor_condition(p, &cond);
		if (bson_count_keys(filter) == 0) {
			bson_concat(filter, &cond);
		} else {
			/* The filter is the caller's document: rebuild it in place as
			 * {$and: [old, cond]} so no key of the old filter is overridden. */
			bson_t old, and;

			bson_copy_to(filter, &old);
			bson_reinit(filter);
			bson_append_array_begin(filter, "$and", 4, &and);
			bson_append_document(&and, "0", 1, &old);
			bson_append_document(&and, "1", 1, &cond);
			bson_append_array_end(filter, &and);
			bson_destroy(&old);
		}
		bson_destroy(&cond);
	}

	bson_append_document_begin(opts, "sort", 4, &sort);
	bson_append_int32(&sort, "createdAt", 9, -1);
	bson_append_int32(&sort, "_id", 3, -1);
	bson_append_document_end(opts, &sort);
	bson_append_int64(opts, "limit", 5, (int64_t)p->limit + 1);
	if (!p->cursor_mode && p->page > 1) {
		skip = (int64_t)(p->page - 1) * p->limit;
		bson_append_int64(opts, "skip", 4, skip);
	}
}

void
page_key_derive(const char *secret, size_t len, uint8_t key[PAGE_KEY_LEN])
{
	static const char purpose[] = "enterprised list cursor v1";
	unsigned int outlen = PAGE_KEY_LEN;

	/* a key of its own for cursors: knowing a cursor key never helps forge a token */
	HMAC(EVP_sha256(), secret, (int)len, (const unsigned char *)purpose, sizeof(purpose) - 1,
	     key, &outlen);
}

int
page_key_from_config(const struct config *c, uint8_t key[PAGE_KEY_LEN])
{
	if (c->cursor_secret[0] != '\0') {
		page_key_derive(c->cursor_secret, strlen(c->cursor_secret), key);
		return 0;
	}
	if (c->jwt_secret[0] != '\0' && c->jwt_public_key_file[0] == '\0') {
		page_key_derive(c->jwt_secret, strlen(c->jwt_secret), key);
		return 0;
	}
	return RAND_bytes(key, PAGE_KEY_LEN) == 1 ? 0 : -1;
}
