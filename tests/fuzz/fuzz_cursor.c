/*
 * fuzz_cursor: list cursors (src/page.c). Mode 0 (first byte even): the rest is a cursor as a
 * client sends it, through page_cursor_decode. Mode 1: the rest gives (createdAt, ObjectId) and
 * a bit to flip; the encoded cursor must decode to the same pair, and the cursor with any one
 * character changed must be refused (page.h: "A cursor changed in any bit is rejected").
 */
#include "fuzz.h"

#include "page.h"

static const uint8_t fuzz_key[PAGE_KEY_LEN] = "fuzz-cursor-key-0123456789abcdef";

static void
fuzz_round_trip(const uint8_t *data, size_t size)
{
	char enc[PAGE_CURSOR_MAX], changed[PAGE_CURSOR_MAX];
	int64_t ms, back_ms;
	bson_oid_t id, back_id;
	size_t len, at;

	if (size < 8 + 12 + 2)
		return;
	memcpy(&ms, data, 8);
	memcpy(id.bytes, data + 8, 12);
	page_cursor_encode(fuzz_key, ms, &id, enc);
	len = strlen(enc);
	FUZZ_ASSERT(len > 0 && len < PAGE_CURSOR_MAX);
	FUZZ_ASSERT(page_cursor_decode(fuzz_key, enc, &back_ms, &back_id) == 0);
	FUZZ_ASSERT(back_ms == ms && memcmp(back_id.bytes, id.bytes, 12) == 0);

	memcpy(changed, enc, len + 1);
	at = data[20] % len;
	changed[at] = (char)data[21];
	if (changed[at] != enc[at] && changed[at] != '\0')
		FUZZ_ASSERT(page_cursor_decode(fuzz_key, changed, &back_ms, &back_id) != 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int64_t ms;
	bson_oid_t id;
	char *cursor;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		fuzz_round_trip(data + 1, size - 1);
		return 0;
	}
	cursor = fuzz_strndup(data + 1, size - 1);
	if (page_cursor_decode(fuzz_key, cursor, &ms, &id) == 0) {
		char enc[PAGE_CURSOR_MAX];

		/* only what the key signed decodes, and it is the one encoding of its pair */
		page_cursor_encode(fuzz_key, ms, &id, enc);
		FUZZ_ASSERT(strcmp(enc, cursor) == 0);
	}
	free(cursor);
	return 0;
}
