/*
 * fuzz_etag: If-None-Match / If-Match lists through etag_matches (src/etag.c). The input
 * is the header value; the entity tag compared is the server's kind (etag_of, W/"<hex>").
 *
 * Properties: no crash, no read past the value (it is not NUL-terminated here, as in h2o); the
 * value is only ever matched when it names that tag or '*' (RFC 9110 §13.1.1/§13.1.2): a list
 * made of the input, a comma and the tag always matches.
 */
#include "fuzz.h"

#include "etag.h"

/* entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE (RFC 9110 §8.8.3), without ',' in etagc: the list
 * is split at commas, so a quoted comma ends a tag (no tag of ours has one, so such a tag can
 * only fail to match, which is the safe side) */
static int
fuzz_is_entity_tag(const uint8_t *d, size_t n)
{
	size_t i;

	if (n >= 2 && d[0] == 'W' && d[1] == '/') {
		d += 2;
		n -= 2;
	}
	if (n < 2 || d[0] != '"' || d[n - 1] != '"')
		return 0;
	for (i = 1; i + 1 < n; i++)
		if (!(d[i] == 0x21 || (d[i] >= 0x23 && d[i] != 0x7f && d[i] != ',')))
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char etag[ETAG_MAX];
	uint8_t *list;
	size_t elen;

	etag_of("fuzz", 4, etag);
	elen = strlen(etag);
	list = malloc(size + 1 + elen);
	if (list == NULL)
		abort();
	memcpy(list, data, size);
	(void)etag_matches((const char *)list, size, etag);
	list[size] = ',';
	memcpy(list + size + 1, etag, elen);
	FUZZ_ASSERT(etag_matches((const char *)list, size + 1 + elen, etag) == 1);
	/* a well-formed entity tag the client sends matches itself */
	if (fuzz_is_entity_tag(data, size)) {
		char *own = fuzz_strndup(data, size);

		FUZZ_ASSERT(etag_matches(own, size, own) == 1);
		free(own);
	}
	free(list);
	return 0;
}
