/*
 * test_paging.c: list paging on GET /organizations: cursor paging that stays exact while
 * documents are inserted, offset paging, the total (estimated, exact, skipped) and the end of
 * a list.
 *
 * One server on one FerretDB and one Redis. Lists are ordered by createdAt, then _id, both
 * descending; a cursor is the (createdAt, _id) of the last row shown. The first test runs on
 * an empty collection; later tests only add documents.
 */
#include <setjmp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "client.h"
#include "harness.h"

#define ORGS "/api/v1/organizations"
#define MAX_ROWS 256

static struct harness_deps deps;
static struct harness_server server;
static mongoc_client_t *mongo;
static char *admin;

struct page {
	char ids[MAX_ROWS][25];
	int n;
	bson_t *doc; /* the whole answer */
};

static char *
strf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		abort();
	va_end(ap);
	return s;
}

/* GET path as platform_admin; 200 expected. Fills p (free p->doc with page_free). */
static void
fetch(const char *path, struct page *p)
{
	struct harness_response r;
	bson_iter_t it, arr, row;
	char *url = strf("%s%s", server.url, path);
	const char *ct;

	if (harness_get_token(url, admin, &r) == -1)
		fail_msg("GET %s: %s", url, r.error);
	ct = harness_header(&r, "content-type");
	if (r.status != 200 || ct == NULL || strncmp(ct, "application/json", 16) != 0)
		fail_msg("GET %s: %ld (%s) %s", path, r.status, ct ? ct : "no content-type",
			 r.body);
	if ((p->doc = harness_json(&r)) == NULL)
		fail_msg("GET %s: not JSON: %s", path, r.body);
	p->n = 0;
	if (!bson_iter_init_find(&it, p->doc, "data") || !BSON_ITER_HOLDS_ARRAY(&it) ||
	    !bson_iter_recurse(&it, &arr))
		fail_msg("GET %s: no data array: %s", path, r.body);
	while (bson_iter_next(&arr)) {
		if (p->n == MAX_ROWS)
			fail_msg("more than %d rows", MAX_ROWS);
		if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &row) ||
		    !bson_iter_find(&row, "id") || !BSON_ITER_HOLDS_UTF8(&row))
			fail_msg("GET %s: a row without id: %s", path, r.body);
		snprintf(p->ids[p->n++], 25, "%s", bson_iter_utf8(&row, NULL));
	}
	harness_response_free(&r);
	free(url);
}

static void
page_free(struct page *p)
{
	bson_destroy(p->doc);
	p->doc = NULL;
}

/* The nextCursor of a page, URL-encoded, or NULL when it is null. Caller frees. */
static char *
next_cursor(const struct page *p)
{
	const char *c = harness_json_str(p->doc, "pagination.nextCursor");
	char *enc, *out;

	if (c == NULL) {
		if (harness_json_type(p->doc, "pagination.nextCursor") != BSON_TYPE_NULL)
			fail_msg("pagination.nextCursor is neither a string nor null");
		return NULL;
	}
	enc = curl_easy_escape(NULL, c, 0);
	out = strdup(enc);
	curl_free(enc);
	return out;
}

static int
has_more(const struct page *p)
{
	bson_iter_t it;

	if (!bson_iter_init(&it, p->doc) ||
	    !bson_iter_find_descendant(&it, "pagination.hasMore", &it) ||
	    !BSON_ITER_HOLDS_BOOL(&it))
		fail_msg("pagination.hasMore is not a boolean");
	return bson_iter_bool(&it);
}

static int
bool_at(const bson_t *doc, const char *path)
{
	bson_iter_t it;

	if (!bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, path, &it) ||
	    !BSON_ITER_HOLDS_BOOL(&it))
		fail_msg("%s is not a boolean", path);
	return bson_iter_bool(&it);
}

/* POSTs an organization; its id in id. */
static void
create(const char *name, const char *status, char id[25])
{
	struct harness_response r;
	char *url = strf("%s" ORGS, server.url), *body;
	bson_t *doc;

	body = status != NULL ? strf("{\"name\":\"%s\",\"status\":\"%s\"}", name, status)
			      : strf("{\"name\":\"%s\"}", name);
	if (harness_request_token("POST", url, admin, NULL, body, strlen(body), &r) == -1)
		fail_msg("POST %s: %s", url, r.error);
	if (r.status != 201 || (doc = harness_json(&r)) == NULL)
		fail_msg("POST %s: %ld %s", url, r.status, r.body);
	snprintf(id, 25, "%s", harness_json_str(doc, "id"));
	bson_destroy(doc);
	harness_response_free(&r);
	free(body);
	free(url);
}

/* Inserts an organization straight into FerretDB with the given createdAt. */
static void
insert_at(const char *name, int64_t created, char id[25])
{
	mongoc_collection_t *coll =
	    mongoc_client_get_collection(mongo, HARNESS_DB, "organizations");
	bson_error_t error;
	bson_oid_t oid;
	bson_t *doc;

	bson_oid_init(&oid, NULL);
	doc =
	    BCON_NEW("_id", BCON_OID(&oid), "name", BCON_UTF8(name), "status", BCON_UTF8("ACTIVE"),
		     "subscriptionTier", BCON_UTF8("FREE"), "createdAt", BCON_DATE_TIME(created),
		     "updatedAt", BCON_DATE_TIME(created), "version", BCON_INT64(1));
	if (!mongoc_collection_insert_one(coll, doc, NULL, NULL, &error))
		fail_msg("insert %s: %s", name, error.message);
	bson_oid_to_string(&oid, id);
	bson_destroy(doc);
	mongoc_collection_destroy(coll);
}

static int
index_of(char ids[][25], int n, const char *id)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(ids[i], id) == 0)
			return i;
	return -1;
}

static int64_t
driver_count(const char *status)
{
	mongoc_collection_t *coll =
	    mongoc_client_get_collection(mongo, HARNESS_DB, "organizations");
	bson_t filter = BSON_INITIALIZER;
	bson_error_t error;
	int64_t n;

	if (status != NULL)
		BSON_APPEND_UTF8(&filter, "status", status);
	n = mongoc_collection_count_documents(coll, &filter, NULL, NULL, NULL, &error);
	if (n < 0)
		fail_msg("count: %s", error.message);
	bson_destroy(&filter);
	mongoc_collection_destroy(coll);
	return n;
}

/* --- tests -------------------------------------------------------------------------------- */

static void
test_cursor_paging_sees_every_document_once_while_inserts_happen(void **state)
{
	static char originals[25][25], inserted[10][25], seen[MAX_ROWS][25];
	int norig = 0, nins = 0, nseen = 0, pages = 0, i, k;
	int64_t tie;
	struct page p;
	char *cursor = NULL, *path, name[64];

	/* 20 through the API, and 5 with one shared createdAt so _id alone orders them */
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "Paged Original %02d", i);
		create(name, NULL, originals[norig++]);
	}
	tie = harness_wall_ms() - 5000;
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "Paged Tied %02d", i);
		insert_at(name, tie, originals[norig++]);
	}

	for (;;) {
		path = cursor == NULL ? strf(ORGS "?limit=7")
				      : strf(ORGS "?limit=7&cursor=%s", cursor);
		fetch(path, &p);
		free(path);
		free(cursor);
		pages++;
		if (p.n > 7)
			fail_msg("page %d has %d rows with limit=7", pages, p.n);
		for (i = 0; i < p.n; i++) {
			if (index_of(seen, nseen, p.ids[i]) >= 0)
				fail_msg("%s seen twice (page %d)", p.ids[i], pages);
			if (index_of(inserted, nins, p.ids[i]) >= 0)
				fail_msg("%s, inserted after paging began, appeared on page %d",
					 p.ids[i], pages);
			snprintf(seen[nseen++], 25, "%s", p.ids[i]);
		}
		cursor = next_cursor(&p);
		if (has_more(&p) != (cursor != NULL))
			fail_msg("page %d: hasMore and nextCursor disagree", pages);
		page_free(&p);
		if (cursor == NULL)
			break;
		if (pages > 10)
			fail_msg("more than 10 pages of 7 for 25 documents");
		/* newer documents arrive between pages: 4, then 3, then 3 */
		for (k = 0; k < (pages == 1 ? 4 : 3) && nins < 10; k++) {
			snprintf(name, sizeof(name), "Paged Late %02d", nins);
			if (nins % 2 == 0)
				create(name, NULL, inserted[nins++]);
			else
				insert_at(name, harness_wall_ms(), inserted[nins++]);
		}
	}
	assert_int_equal(nins, 10);
	for (i = 0; i < norig; i++)
		if (index_of(seen, nseen, originals[i]) < 0)
			fail_msg("original %d (%s) was skipped", i, originals[i]);
	assert_int_equal(nseen, norig);
	assert_int_equal(pages, 4); /* 7 + 7 + 7 + 4 */
}

static void
test_cursor_paging_walks_newest_first(void **state)
{
	char older[25], newer[25];
	struct page p;
	int a, b;

	insert_at("Order Older", harness_wall_ms() - 1000, older);
	insert_at("Order Newer", harness_wall_ms() + 1000, newer);
	fetch(ORGS "?limit=100", &p);
	a = index_of(p.ids, p.n, newer);
	b = index_of(p.ids, p.n, older);
	if (a < 0 || b < 0 || a > b)
		fail_msg("newer at %d, older at %d: want newer first", a, b);
	page_free(&p);
}

static void
test_offset_page_2_is_the_second_slice(void **state)
{
	struct page ten, two;
	int64_t page;
	int i;

	fetch(ORGS "?limit=10&page=1", &ten);
	fetch(ORGS "?limit=5&page=2", &two);
	assert_int_equal(ten.n, 10);
	assert_int_equal(two.n, 5);
	for (i = 0; i < 5; i++)
		if (strcmp(two.ids[i], ten.ids[5 + i]) != 0)
			fail_msg("page 2 row %d is %s, want %s (row %d of page 1 with limit 10)", i,
				 two.ids[i], ten.ids[5 + i], 5 + i);
	assert_int_equal(harness_json_int(two.doc, "pagination.page", &page), 0);
	assert_int_equal(page, 2);
	assert_true(has_more(&two));
	page_free(&ten);
	page_free(&two);
}

static void
test_offset_paging_past_the_end_is_empty(void **state)
{
	struct page p;

	fetch(ORGS "?limit=10&page=1000", &p);
	assert_int_equal(p.n, 0);
	assert_false(has_more(&p));
	assert_int_equal(harness_json_type(p.doc, "pagination.nextCursor"), BSON_TYPE_NULL);
	page_free(&p);
}

static void
test_default_limit_is_20(void **state)
{
	struct page p;
	int64_t limit;

	fetch(ORGS, &p);
	assert_int_equal(p.n, 20);
	assert_int_equal(harness_json_int(p.doc, "pagination.limit", &limit), 0);
	assert_int_equal(limit, 20);
	page_free(&p);
}

static void
test_limit_100_is_accepted(void **state)
{
	struct page p;
	int64_t limit;

	fetch(ORGS "?limit=100", &p);
	assert_int_equal(harness_json_int(p.doc, "pagination.limit", &limit), 0);
	assert_int_equal(limit, 100);
	assert_true(p.n > 20 && p.n <= 100);
	page_free(&p);
}

static void
test_count_false_gives_total_null(void **state)
{
	struct page p;

	fetch(ORGS "?limit=5&count=false", &p);
	if (harness_json_type(p.doc, "pagination.total") != BSON_TYPE_NULL)
		fail_msg("total is not null with count=false");
	assert_int_equal(p.n, 5);
	page_free(&p);
}

static void
test_total_is_an_estimate_without_a_filter(void **state)
{
	struct page p;
	int64_t total;

	fetch(ORGS "?limit=5", &p);
	if (harness_json_int(p.doc, "pagination.total", &total) == -1)
		fail_msg("total is not an integer without count=false");
	assert_true(bool_at(p.doc, "pagination.isEstimate"));
	/* nothing is written now, so even an estimate is the count */
	assert_int_equal(total, driver_count(NULL));
	page_free(&p);
}

static void
test_total_is_exact_with_a_filter(void **state)
{
	char id[25];
	struct page p;
	int64_t total;

	create("Suspended One", "SUSPENDED", id);
	create("Suspended Two", "SUSPENDED", id);
	create("Suspended Three", "SUSPENDED", id);
	fetch(ORGS "?limit=1&status=SUSPENDED", &p);
	assert_false(bool_at(p.doc, "pagination.isEstimate"));
	assert_int_equal(harness_json_int(p.doc, "pagination.total", &total), 0);
	assert_int_equal(total, 3);
	assert_int_equal(total, driver_count("SUSPENDED"));
	page_free(&p);
}

static void
test_next_cursor_is_null_on_the_last_page(void **state)
{
	struct page p;
	char *cursor, *path;

	fetch(ORGS "?limit=3&status=SUSPENDED", &p);
	assert_int_equal(p.n, 3);
	assert_false(has_more(&p));
	assert_null(next_cursor(&p));
	page_free(&p);

	fetch(ORGS "?limit=2&status=SUSPENDED", &p);
	assert_true(has_more(&p));
	assert_non_null(cursor = next_cursor(&p));
	page_free(&p);
	path = strf(ORGS "?limit=2&status=SUSPENDED&cursor=%s", cursor);
	fetch(path, &p);
	assert_int_equal(p.n, 1);
	assert_false(has_more(&p));
	assert_null(next_cursor(&p));
	/* cursor mode has no page number */
	assert_int_equal(harness_json_type(p.doc, "pagination.page"), BSON_TYPE_NULL);
	page_free(&p);
	free(path);
	free(cursor);
}

static void
test_cursor_paging_with_a_filter_stays_inside_it(void **state)
{
	char seen[8][25], *cursor = NULL, *path;
	struct page p;
	int nseen = 0, i;

	do {
		path = cursor == NULL ? strf(ORGS "?limit=1&status=SUSPENDED")
				      : strf(ORGS "?limit=1&status=SUSPENDED&cursor=%s", cursor);
		free(cursor);
		fetch(path, &p);
		free(path);
		for (i = 0; i < p.n; i++) {
			if (index_of(seen, nseen, p.ids[i]) >= 0 || nseen == 8)
				fail_msg("%s seen twice, or too many rows", p.ids[i]);
			snprintf(seen[nseen++], 25, "%s", p.ids[i]);
		}
		cursor = next_cursor(&p);
		page_free(&p);
	} while (cursor != NULL);
	assert_int_equal(nseen, 3);
}

/* The writer of the concurrent test: creates organizations through the API until told to stop. */
struct writer {
	volatile int stop;
	int created;
	int failed;
};

static void *
writer_run(void *arg)
{
	struct writer *w = arg;
	char *url = strf("%s" ORGS, server.url);

	while (!w->stop) {
		struct harness_response r;
		static const char body[] = "{\"name\":\"Concurrent Insert\"}";

		if (harness_request_token("POST", url, admin, NULL, body, sizeof(body) - 1, &r) ==
			0 &&
		    r.status == 201)
			w->created++;
		else
			w->failed++;
		harness_response_free(&r);
	}
	free(url);
	return NULL;
}

/* Every id in the collection now, from the driver. */
static int
snapshot_ids(char ids[][25], int max)
{
	mongoc_collection_t *coll =
	    mongoc_client_get_collection(mongo, HARNESS_DB, "organizations");
	bson_t filter = BSON_INITIALIZER;
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
	const bson_t *doc;
	int n = 0;

	while (mongoc_cursor_next(cursor, &doc)) {
		bson_iter_t it;

		if (n == max)
			fail_msg("more than %d documents", max);
		if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it))
			bson_oid_to_string(bson_iter_oid(&it), ids[n++]);
	}
	mongoc_cursor_destroy(cursor);
	bson_destroy(&filter);
	mongoc_collection_destroy(coll);
	return n;
}

static void
test_cursor_paging_is_exact_while_a_thread_inserts(void **state)
{
	static char before[MAX_ROWS][25], seen[MAX_ROWS * 2][25];
	struct writer w = {0, 0, 0};
	int nbefore = snapshot_ids(before, MAX_ROWS), nseen = 0, pages = 0, i;
	char *cursor = NULL, *path;
	pthread_t t;
	struct page p;

	assert_true(nbefore >= 25);
	assert_int_equal(pthread_create(&t, NULL, writer_run, &w), 0);
	harness_sleep_ms(50);
	do {
		path = cursor == NULL ? strf(ORGS "?limit=5&count=false")
				      : strf(ORGS "?limit=5&count=false&cursor=%s", cursor);
		free(cursor);
		fetch(path, &p);
		free(path);
		for (i = 0; i < p.n; i++) {
			if (index_of(seen, nseen, p.ids[i]) >= 0) {
				w.stop = 1;
				pthread_join(t, NULL);
				fail_msg("%s seen twice (page %d)", p.ids[i], pages + 1);
			}
			snprintf(seen[nseen++], 25, "%s", p.ids[i]);
		}
		cursor = next_cursor(&p);
		page_free(&p);
		pages++;
		harness_sleep_ms(5);
	} while (cursor != NULL && pages < 2 * MAX_ROWS / 5);
	w.stop = 1;
	pthread_join(t, NULL);
	free(cursor);
	if (w.created < 3)
		fail_msg("the writer created only %d organizations (%d failed) while paging",
			 w.created, w.failed);
	for (i = 0; i < nbefore; i++)
		if (index_of(seen, nseen, before[i]) < 0)
			fail_msg("%s, there before paging began, was skipped", before[i]);
}

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = 2};

	if (client_suite_start(&deps, NULL, NULL, NULL, NULL) == -1)
		return -1;
	if ((mongo = harness_mongo_client(&deps)) == NULL)
		return -1;
	if ((admin = harness_token("platform_admin", NULL, "pager")) == NULL)
		return -1;
	return harness_server_start(&server, "paging", &c, &deps);
}

static int
group_teardown(void **state)
{
	if (mongo != NULL)
		mongoc_client_destroy(mongo);
	return client_suite_stop(&deps, &admin);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cursor_paging_sees_every_document_once_while_inserts_happen),
	    cmocka_unit_test(test_cursor_paging_walks_newest_first),
	    cmocka_unit_test(test_offset_page_2_is_the_second_slice),
	    cmocka_unit_test(test_offset_paging_past_the_end_is_empty),
	    cmocka_unit_test(test_default_limit_is_20),
	    cmocka_unit_test(test_limit_100_is_accepted),
	    cmocka_unit_test(test_count_false_gives_total_null),
	    cmocka_unit_test(test_total_is_an_estimate_without_a_filter),
	    cmocka_unit_test(test_total_is_exact_with_a_filter),
	    cmocka_unit_test(test_next_cursor_is_null_on_the_last_page),
	    cmocka_unit_test(test_cursor_paging_with_a_filter_stays_inside_it),
	    cmocka_unit_test(test_cursor_paging_is_exact_while_a_thread_inserts),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
