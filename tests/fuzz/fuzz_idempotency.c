/*
 * fuzz_idempotency: the Idempotency-Key field value through idempotency_key_parse, and the
 * same bytes as a value read back from Redis through idempotency_decode (src/idempotency.c).
 *
 * Properties: no crash, no read past the value (not NUL-terminated, as in h2o); a key accepted
 * is 1..IDEMPOTENCY_KEY_MAX bytes of the documented set, and its quoted and bare forms parse
 * to itself (one key, two spellings); a refusal always says why; a decoded answer encodes back
 * to a value that decodes to the same status, content type and body.
 */
#include "fuzz.h"

#include "http.h"
#include "idempotency.h"

static int
fuzz_key_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("-_.:~+/=", c) != NULL);
}

static void
fuzz_key(const uint8_t *data, size_t size)
{
	char key[IDEMPOTENCY_KEY_MAX + 1], again[IDEMPOTENCY_KEY_MAX + 1], *quoted;
	const char *why = NULL;
	size_t i, n;

	if (idempotency_key_parse((const char *)data, size, key, sizeof(key), &why) != 0) {
		FUZZ_ASSERT(why != NULL);
		return;
	}
	n = strlen(key);
	FUZZ_ASSERT(n >= 1 && n <= IDEMPOTENCY_KEY_MAX);
	for (i = 0; i < n; i++)
		FUZZ_ASSERT(fuzz_key_char((unsigned char)key[i]));
	FUZZ_ASSERT(idempotency_key_parse(key, n, again, sizeof(again), &why) == 0);
	FUZZ_ASSERT(strcmp(key, again) == 0);
	quoted = malloc(n + 3);
	if (quoted == NULL)
		abort();
	quoted[0] = '"';
	memcpy(quoted + 1, key, n);
	quoted[n + 1] = '"';
	FUZZ_ASSERT(idempotency_key_parse(quoted, n + 2, again, sizeof(again), &why) == 0);
	FUZZ_ASSERT(strcmp(key, again) == 0);
	free(quoted);
}

static void
fuzz_decode(const uint8_t *data, size_t size)
{
	char fp[IDEMPOTENCY_DIGEST_HEX], fp2[IDEMPOTENCY_DIGEST_HEX];
	struct http_response res, back;
	struct buf value;

	http_response_init(&res);
	if (idempotency_decode((const char *)data, size, fp, &res) == IDEMPOTENCY_ANSWER) {
		FUZZ_ASSERT(strlen(fp) == IDEMPOTENCY_DIGEST_HEX - 1);
		buf_init(&value);
		FUZZ_ASSERT(idempotency_answer_encode(&res, fp, &value) == 0);
		http_response_init(&back);
		FUZZ_ASSERT(idempotency_decode(value.data, value.len, fp2, &back) ==
			    IDEMPOTENCY_ANSWER);
		FUZZ_ASSERT(strcmp(fp, fp2) == 0 && back.status == res.status);
		FUZZ_ASSERT((back.content_type == NULL) == (res.content_type == NULL));
		FUZZ_ASSERT(back.body.len == res.body.len);
		FUZZ_ASSERT(back.body.len == 0 ||
			    memcmp(back.body.data, res.body.data, back.body.len) == 0);
		http_response_free(&back);
		buf_free(&value);
	}
	http_response_free(&res);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_key(data, size);
	fuzz_decode(data, size);
	return 0;
}
