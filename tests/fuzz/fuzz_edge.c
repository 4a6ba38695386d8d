/*
 * fuzz_edge: the checks a request's raw bytes pass before any handler (src/edge.c) and the
 * canonical query of the read cache's keys (src/query.c). The first byte picks the parser; the
 * rest is its input:
 *	0: the path of a request target (edge_path_decode)
 *	1: an HTTP/1.x header section (edge_framing_check)
 *	2: a header value, read as Accept-Encoding (edge_accepts_gzip) and as X-Request-Id
 *	   (edge_request_id_ok)
 *	3: a query string (query_canonical, then query_canonical of its own output)
 *
 * Properties: no crash; a decoded path fits, starts with '/', holds no control byte and no dot
 * segment; a refusal comes with a reason; edge_accepts_gzip answers 0 or 1; an accepted request id
 *is 1 to 64 bytes of [A-Za-z0-9._:-]; the canonical form of a canonical query is itself (one entry
 *per meaning).
 */
#include "fuzz.h"

#include "buf.h"
#include "edge.h"
#include "query.h"

static void
fuzz_path(const uint8_t *data, size_t size)
{
	char out[1024];
	const char *why = NULL;
	int n = edge_path_decode((const char *)data, size, out, sizeof(out), &why);
	int i;

	if (n == -1) {
		FUZZ_ASSERT(why != NULL && why[0] != '\0');
		return;
	}
	if (n < 0)
		return;
	FUZZ_ASSERT((size_t)n < sizeof(out) && out[n] == '\0' && out[0] == '/');
	for (i = 0; i < n; i++)
		FUZZ_ASSERT((unsigned char)out[i] >= 0x20 && out[i] != 0x7f);
	FUZZ_ASSERT(strstr(out, "/../") == NULL && strstr(out, "/./") == NULL);
}

static void
fuzz_query(const uint8_t *data, size_t size)
{
	struct buf once, twice;

	buf_init(&once);
	buf_init(&twice);
	if (query_canonical((const char *)data, size, &once) == 0) {
		FUZZ_ASSERT(query_canonical(once.len > 0 ? once.data : "", once.len, &twice) == 0);
		FUZZ_ASSERT(once.len == twice.len &&
			    (once.len == 0 || memcmp(once.data, twice.data, once.len) == 0));
	}
	buf_free(&once);
	buf_free(&twice);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = NULL;
	int r;

	if (size == 0)
		return 0;
	switch (data[0] % 4) {
	case 0:
		fuzz_path(data + 1, size - 1);
		break;
	case 1:
		if (edge_framing_check((const char *)data + 1, size - 1, &why) != 0)
			FUZZ_ASSERT(why != NULL && why[0] != '\0');
		break;
	case 2:
		r = edge_accepts_gzip((const char *)data + 1, size - 1);
		FUZZ_ASSERT(r == 0 || r == 1);
		if (edge_request_id_ok((const char *)data + 1, size - 1)) {
			FUZZ_ASSERT(size - 1 >= 1 && size - 1 <= EDGE_REQUEST_ID_MAX);
			for (size_t i = 1; i < size; i++)
				FUZZ_ASSERT(
				    strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					   "0123456789._:-",
					   data[i]) != NULL &&
				    data[i] != '\0');
		}
		break;
	default:
		fuzz_query(data + 1, size - 1);
		break;
	}
	return 0;
}
