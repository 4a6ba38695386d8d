/*
 * fuzz_query: a list request's query string, read the way the list handlers of src/api.c read
 * it: validate_query_names against the real list parameters (src/validate.c), each value
 * decoded with query_value (src/query.c), `fields=` through fields_projection (src/fields.c) and
 * the paging values through page_parse (src/page.c). The first byte picks the resource; the
 * rest is the raw query (what follows '?').
 *
 * Properties: no crash; query_value's length is what it wrote (strlen) and fits its buffer; a
 * refused name or value comes with a message; page_parse accepts only limits within bounds.
 */
#include "fuzz.h"

#include "assignments.h"
#include "clinics.h"
#include "config.h"
#include "fields.h"
#include "http.h"
#include "organizations.h"
#include "page.h"
#include "query.h"
#include "validate.h"

/* query_value of name into out: its value, or NULL when absent or malformed. */
static const char *
fuzz_value(const struct http_req *r, const char *name, char *out, size_t outlen)
{
	int n = query_value(r->query, r->query_len, name, out, outlen);

	FUZZ_ASSERT(n >= -2);
	if (n < 0)
		return NULL;
	FUZZ_ASSERT((size_t)n < outlen && strlen(out) == (size_t)n);
	return out;
}

static void
fuzz_fields(const struct http_req *r, const char *const *projectable)
{
	char list[600], bad[128];
	bson_t projection;

	if (fuzz_value(r, "fields", list, sizeof(list)) == NULL)
		return;
	bson_init(&projection);
	bad[0] = '\0';
	if (fields_projection(list, projectable, &projection, bad, sizeof(bad)) != 0)
		FUZZ_ASSERT(memchr(bad, '\0', sizeof(bad)) != NULL);
	bson_destroy(&projection);
}

static void
fuzz_page(const struct http_req *r)
{
	static struct config conf;
	static int ready;
	static const uint8_t key[PAGE_KEY_LEN] = "fuzz-cursor-key-0123456789abcdef";
	char limit[32], pg[32], cursor[PAGE_CURSOR_MAX + 8], count[16], msg[160];
	const char *l, *p, *c, *n, *field = NULL;
	struct page_params pp;

	if (!ready) {
		config_defaults(&conf);
		ready = 1;
	}
	l = fuzz_value(r, "limit", limit, sizeof(limit));
	p = fuzz_value(r, "page", pg, sizeof(pg));
	c = fuzz_value(r, "cursor", cursor, sizeof(cursor));
	n = fuzz_value(r, "count", count, sizeof(count));
	msg[0] = '\0';
	if (page_parse(&conf, key, l, p, c, n, &pp, &field, msg, sizeof(msg)) == 0) {
		FUZZ_ASSERT(pp.limit >= 1 && pp.limit <= conf.pagination_max_limit);
	} else {
		FUZZ_ASSERT(field != NULL && msg[0] != '\0');
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const *const params[] = {organizations_list_params, clinics_list_params,
						    assignments_list_params};
	static const char *const *const projectable[] = {
	    organizations_projectable, clinics_projectable, assignments_projectable};
	struct validate_errors errs;
	struct http_req r;
	char *query;
	int which;

	if (size < 1)
		return 0;
	which = data[0] % 3;
	/* the query points into the request and is not NUL-terminated: give it no NUL either */
	query = malloc(size - 1 > 0 ? size - 1 : 1);
	if (query == NULL)
		abort();
	memcpy(query, data + 1, size - 1);
	memset(&r, 0, sizeof(r));
	r.query = query;
	r.query_len = size - 1;

	memset(&errs, 0, sizeof(errs));
	if (validate_query_names(r.query, r.query_len, params[which], &errs) != 0)
		FUZZ_ASSERT(errs.n >= 1 && errs.n <= VALIDATE_MAX_ERRORS);
	else
		FUZZ_ASSERT(errs.n == 0);
	fuzz_fields(&r, projectable[which]);
	fuzz_page(&r);
	free(query);
	return 0;
}
