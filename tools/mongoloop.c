/*
 * mongoloop.c: the bare mongo-c-driver baseline of tools/bench.
 *
 * It runs the queries enterprised sends for a route, with the same options (maxTimeMS, limit,
 * sort, projection) and the same per-request driver calls (get the collection, find, walk the
 * cursor, destroy), but with no HTTP, TLS, auth or JSON around them. What enterprised loses
 * next to it is the service's own cost; what both lose is the database's.
 *
 *	mongoloop --uri URI [--collection C]
 *		  --query get|list|search|provider-clinics|report-orgs|report-staffing
 *		  --terms FILE [--threads N] [--seconds S] [--warmup S] [--rate R]
 *		  [--max-time-ms MS] [--fields a,b,c] [--limit N]
 *	mongoloop --uri URI --collection C --ids FILE ...	(= --query get --terms FILE)
 *	mongoloop --uri URI --seed-orgs N			inserts N organizations, exits
 *	mongoloop --uri URI --collection C --dump F1,F2 --out FILE [--filter JSON] [--max N]
 *	mongoloop --uri URI --collection C --export-csv COL1,COL2,... --out FILE
 *				the export baseline: every document of C (natural order, no
 *				filter) as the CSV an export writes (export_csv_row), a 64 KiB
 *				buffer at a time; prints rows, bytes and rows per second
 *							one line per document, tab-separated
 *
 * Without --rate each thread loops as fast as the server answers (closed loop, like wrk);
 * with --rate the threads together start R queries per second on a fixed schedule (open
 * loop, like vegeta) and a thread that falls behind catches up. Latency is timed from the
 * moment a query starts. Each thread pops one client from one mongoc_client_pool, as a
 * backend thread of enterprised does.
 *
 * The last stdout line is for machines:
 *	mongoloop: query=get threads=32 rate=0 seconds=10.00 requests=N errors=E rps=R
 *	p50_ms=A p95_ms=B p99_ms=C max_ms=D
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mongoc/mongoc.h>

#include "export.h"

#define MONGOLOOP_MAX_THREADS 256
#define MONGOLOOP_MAX_FIELDS 8

enum mongoloop_query {
	MONGOLOOP_GET,
	MONGOLOOP_LIST,
	MONGOLOOP_SEARCH,
	MONGOLOOP_PROVIDER_CLINICS,
	MONGOLOOP_REPORT_ORGS,
	MONGOLOOP_REPORT_STAFFING,
};

static const char *const mongoloop_query_names[] = {
    "get", "list", "search", "provider-clinics", "report-orgs", "report-staffing", NULL};

/* Everything the threads read; written once before they start. */
struct mongoloop_conf {
	mongoc_client_pool_t *pool;
	const char *db;
	const char *collection;
	enum mongoloop_query query;
	char **terms;
	size_t nterms;
	int threads;
	double seconds, warmup, rate;
	int64_t max_time_ms;
	int limit;
	const char *fields[MONGOLOOP_MAX_FIELDS + 1];
	uint64_t start_ns; /* the warm-up begins here; measuring at start_ns + warmup */
};

/* One thread's results: latencies in microseconds, grown as needed. */
struct mongoloop_thread {
	const struct mongoloop_conf *conf;
	int index;
	pthread_t tid;
	uint32_t *lat;
	size_t nlat, cap;
	uint64_t errors;
	char error[sizeof(((bson_error_t *)0)->message)];
};

static uint64_t
mongoloop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
mongoloop_sleep_until(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void
mongoloop_record(struct mongoloop_thread *t, uint64_t ns)
{
	uint64_t us = ns / 1000u;

	if (t->nlat == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 65536;
		t->lat = realloc(t->lat, t->cap * sizeof(*t->lat));
		if (t->lat == NULL)
			abort();
	}
	t->lat[t->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* Walks a cursor to its end (enterprised reads every row it asked for); -1 on error. */
static int
mongoloop_drain(mongoc_cursor_t *cursor, bson_error_t *error, int *rows)
{
	const bson_t *doc;

	*rows = 0;
	while (mongoc_cursor_next(cursor, &doc))
		(*rows)++;
	return mongoc_cursor_error(cursor, error) ? -1 : 0;
}

/* GET /{collection}/{id}: store_get_one's find, {maxTimeMS, limit 1} and no projection. */
static int
mongoloop_get(mongoc_client_t *client, const struct mongoloop_conf *c, const char *term,
	      bson_error_t *error)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(client, c->db, c->collection);
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	mongoc_cursor_t *cursor;
	bson_oid_t oid;
	int rows, rc;

	bson_oid_init_from_string(&oid, term);
	BSON_APPEND_OID(&filter, "_id", &oid);
	BSON_APPEND_INT64(&opts, "maxTimeMS", c->max_time_ms);
	BSON_APPEND_INT64(&opts, "limit", 1);
	cursor = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
	rc = mongoloop_drain(cursor, error, &rows);
	if (rc == 0 && rows != 1) {
		bson_set_error(error, 0, 0, "no document with _id %s", term);
		rc = -1;
	}
	mongoc_cursor_destroy(cursor);
	bson_destroy(&filter);
	bson_destroy(&opts);
	mongoc_collection_destroy(coll);
	return rc;
}

/*
 * GET /{collection} as a platform administrator, first page: store_list's estimated count on
 * an empty filter, then the page sorted by createdAt, _id descending, limit + 1 rows.
 */
static int
mongoloop_list(mongoc_client_t *client, const struct mongoloop_conf *c, bson_error_t *error)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(client, c->db, c->collection);
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
	mongoc_cursor_t *cursor;
	int rows, rc = -1;

	BSON_APPEND_INT64(&opts, "maxTimeMS", c->max_time_ms);
	if (mongoc_collection_estimated_document_count(coll, &opts, NULL, NULL, error) < 0)
		goto out;
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
	BSON_APPEND_INT32(&sort, "createdAt", -1);
	BSON_APPEND_INT32(&sort, "_id", -1);
	bson_append_document_end(&opts, &sort);
	BSON_APPEND_INT64(&opts, "limit", (int64_t)c->limit + 1);
	cursor = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
	rc = mongoloop_drain(cursor, error, &rows);
	mongoc_cursor_destroy(cursor);
out:
	bson_destroy(&filter);
	bson_destroy(&opts);
	mongoc_collection_destroy(coll);
	return rc;
}

/* The same escaping as store_regex_escape: every ASCII character but [0-9A-Za-z ] quoted. */
static void
mongoloop_regex_escape(const char *text, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *text != '\0' && o + 2 < outlen; text++) {
		unsigned char ch = (unsigned char)*text;

		if (ch < 0x80 && !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
				   (ch >= 'A' && ch <= 'Z') || ch == ' '))
			out[o++] = '\\';
		out[o++] = (char)ch;
	}
	out[o] = '\0';
}

/* One pass of store_search: {$and: [{$or: [{f: {$regex, $options: i}}...]}, {_id: {$nin}}]}. */
static int
mongoloop_search_pass(mongoc_collection_t *coll, const struct mongoloop_conf *c,
		      const char *pattern, bson_t *seen, int room, bson_error_t *error)
{
	bson_t filter = BSON_INITIALIZER, and, match, ors, alt, regex, cond, nin, sort;
	bson_t opts = BSON_INITIALIZER;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	uint32_t count = bson_count_keys(seen);
	int i, n = 0, nfields = 0;
	char key[16];

	while (c->fields[nfields] != NULL)
		nfields++;
	bson_append_array_begin(&filter, "$and", -1, &and);
	bson_append_document_begin(&and, "0", -1, &match);
	if (nfields == 1) {
		bson_append_document_begin(&match, c->fields[0], -1, &regex);
		BSON_APPEND_UTF8(&regex, "$regex", pattern);
		BSON_APPEND_UTF8(&regex, "$options", "i");
		bson_append_document_end(&match, &regex);
	} else {
		bson_append_array_begin(&match, "$or", -1, &ors);
		for (i = 0; i < nfields; i++) {
			snprintf(key, sizeof(key), "%d", i);
			bson_append_document_begin(&ors, key, -1, &alt);
			bson_append_document_begin(&alt, c->fields[i], -1, &regex);
			BSON_APPEND_UTF8(&regex, "$regex", pattern);
			BSON_APPEND_UTF8(&regex, "$options", "i");
			bson_append_document_end(&alt, &regex);
			bson_append_document_end(&ors, &alt);
		}
		bson_append_array_end(&match, &ors);
	}
	bson_append_document_end(&and, &match);
	if (count > 0) {
		bson_append_document_begin(&and, "1", -1, &cond);
		BSON_APPEND_DOCUMENT_BEGIN(&cond, "_id", &nin);
		BSON_APPEND_ARRAY(&nin, "$nin", seen);
		bson_append_document_end(&cond, &nin);
		bson_append_document_end(&and, &cond);
	}
	bson_append_array_end(&filter, &and);

	BSON_APPEND_INT64(&opts, "maxTimeMS", c->max_time_ms);
	BSON_APPEND_INT64(&opts, "limit", room);
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
	bson_append_int32(&sort, c->fields[0], -1, 1);
	BSON_APPEND_INT32(&sort, "_id", 1);
	bson_append_document_end(&opts, &sort);

	cursor = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
	while (n < room && mongoc_cursor_next(cursor, &doc)) {
		bson_iter_t it;

		if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it)) {
			snprintf(key, sizeof(key), "%" PRIu32, count++);
			bson_append_oid(seen, key, -1, bson_iter_oid(&it));
		}
		n++;
	}
	if (mongoc_cursor_error(cursor, error))
		n = -1;
	mongoc_cursor_destroy(cursor);
	bson_destroy(&opts);
	bson_destroy(&filter);
	return n;
}

/* GET /{collection}/search?q=term: prefix matches first, then the rest when room is left. */
static int
mongoloop_search(mongoc_client_t *client, const struct mongoloop_conf *c, const char *term,
		 bson_error_t *error)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(client, c->db, c->collection);
	bson_t seen = BSON_INITIALIZER;
	char escaped[300], pattern[310];
	int n, more = 0;

	mongoloop_regex_escape(term, escaped, sizeof(escaped));
	snprintf(pattern, sizeof(pattern), "^%s", escaped);
	n = mongoloop_search_pass(coll, c, pattern, &seen, c->limit, error);
	if (n >= 0 && n < c->limit)
		more = mongoloop_search_pass(coll, c, escaped, &seen, c->limit - n, error);
	bson_destroy(&seen);
	mongoc_collection_destroy(coll);
	return n < 0 || more < 0 ? -1 : 0;
}

/*
 * GET /providers/{providerId}/clinics: the provider's active assignments (first page, newest
 * assignedAt first, one batch), then their clinics in one {_id: {$in}} find: two commands, as
 * assignments.c does it.
 */
static int
mongoloop_provider_clinics(mongoc_client_t *client, const struct mongoloop_conf *c,
			   const char *term, bson_error_t *error)
{
	mongoc_collection_t *asg = mongoc_client_get_collection(client, c->db, "assignments");
	mongoc_collection_t *cl = mongoc_client_get_collection(client, c->db, "clinics");
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort, ids, in;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	uint32_t n = 0;
	int rows, rc = -1;
	char key[16];

	BSON_APPEND_UTF8(&filter, "providerId", term);
	BSON_APPEND_BOOL(&filter, "isActive", true);
	BSON_APPEND_INT64(&opts, "maxTimeMS", c->max_time_ms);
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
	BSON_APPEND_INT32(&sort, "assignedAt", -1);
	BSON_APPEND_INT32(&sort, "_id", -1);
	bson_append_document_end(&opts, &sort);
	BSON_APPEND_INT64(&opts, "limit", (int64_t)c->limit + 1);
	BSON_APPEND_INT64(&opts, "batchSize", (int64_t)c->limit + 1);
	BSON_APPEND_BOOL(&opts, "singleBatch", true);
	cursor = mongoc_collection_find_with_opts(asg, &filter, &opts, NULL);
	bson_reinit(&filter);
	BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &in);
	bson_append_array_begin(&in, "$in", -1, &ids);
	while (mongoc_cursor_next(cursor, &doc)) {
		bson_iter_t it;

		if (bson_iter_init_find(&it, doc, "clinicId") && BSON_ITER_HOLDS_OID(&it)) {
			snprintf(key, sizeof(key), "%" PRIu32, n++);
			bson_append_oid(&ids, key, -1, bson_iter_oid(&it));
		}
	}
	bson_append_array_end(&in, &ids);
	bson_append_document_end(&filter, &in);
	if (mongoc_cursor_error(cursor, error)) {
		mongoc_cursor_destroy(cursor);
		goto out;
	}
	mongoc_cursor_destroy(cursor);
	rc = 0;
	if (n > 0) {
		bson_reinit(&opts);
		BSON_APPEND_INT64(&opts, "maxTimeMS", c->max_time_ms);
		cursor = mongoc_collection_find_with_opts(cl, &filter, &opts, NULL);
		rc = mongoloop_drain(cursor, error, &rows);
		mongoc_cursor_destroy(cursor);
	}
out:
	bson_destroy(&filter);
	bson_destroy(&opts);
	mongoc_collection_destroy(asg);
	mongoc_collection_destroy(cl);
	return rc;
}

/* Runs one command and walks its cursor; -1 on error. */
static int
mongoloop_cursor(mongoc_cursor_t *cursor, bson_error_t *error)
{
	int rows, rc = mongoloop_drain(cursor, error, &rows);

	mongoc_cursor_destroy(cursor);
	return rc;
}

/*
 * GET /reports/organizations without parameters (reports.c): every organization's status,
 * tier and createdAt (one find, the months counted from it), then the subscriptions ending
 * within 30 days (sorted, 1001 at most): two commands.
 */
static int
mongoloop_report_orgs(mongoc_client_t *client, const struct mongoloop_conf *c, bson_error_t *error)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(client, c->db, "organizations");
	int64_t now = (int64_t)time(NULL) * 1000;
	bson_t *filter, *opts;
	int rc;

	filter = bson_new();
	opts =
	    BCON_NEW("projection", "{", "status", BCON_INT32(1), "subscriptionTier", BCON_INT32(1),
		     "createdAt", BCON_INT32(1), "}", "maxTimeMS", BCON_INT64(c->max_time_ms));
	rc = mongoloop_cursor(mongoc_collection_find_with_opts(coll, filter, opts, NULL), error);
	bson_destroy(filter);
	bson_destroy(opts);
	filter = BCON_NEW("subscriptionEndDate", "{", "$gte", BCON_DATE_TIME(now), "$lte",
			  BCON_DATE_TIME(now + 30 * 86400000LL), "}");
	opts = BCON_NEW("projection", "{", "name", BCON_INT32(1), "subscriptionTier", BCON_INT32(1),
			"subscriptionEndDate", BCON_INT32(1), "status", BCON_INT32(1), "}", "sort",
			"{", "subscriptionEndDate", BCON_INT32(1), "_id", BCON_INT32(1), "}",
			"limit", BCON_INT64(1001), "maxTimeMS", BCON_INT64(c->max_time_ms));
	if (rc == 0)
		rc = mongoloop_cursor(mongoc_collection_find_with_opts(coll, filter, opts, NULL),
				      error);
	bson_destroy(filter);
	bson_destroy(opts);
	mongoc_collection_destroy(coll);
	return rc;
}

/*
 * GET /organizations/{id}/reports/staffing (reports.c): count the organization, find its
 * clinics sorted by _id, find its active assignments: three commands.
 */
static int
mongoloop_report_staffing(mongoc_client_t *client, const struct mongoloop_conf *c, const char *term,
			  bson_error_t *error)
{
	mongoc_collection_t *orgs = mongoc_client_get_collection(client, c->db, "organizations");
	mongoc_collection_t *cl = mongoc_client_get_collection(client, c->db, "clinics");
	mongoc_collection_t *asg = mongoc_client_get_collection(client, c->db, "assignments");
	bson_t *filter, *opts;
	bson_oid_t oid;
	int rc = 0;

	bson_oid_init_from_string(&oid, term);
	filter = BCON_NEW("_id", BCON_OID(&oid));
	opts = BCON_NEW("limit", BCON_INT64(1), "maxTimeMS", BCON_INT64(c->max_time_ms));
	if (mongoc_collection_count_documents(orgs, filter, opts, NULL, NULL, error) != 1) {
		if (error->code == 0)
			bson_set_error(error, 0, 0, "no organization %s", term);
		rc = -1;
	}
	bson_destroy(filter);
	bson_destroy(opts);
	filter = BCON_NEW("organizationId", BCON_OID(&oid));
	opts = BCON_NEW("projection", "{", "name", BCON_INT32(1), "code", BCON_INT32(1), "status",
			BCON_INT32(1), "}", "sort", "{", "_id", BCON_INT32(1), "}", "maxTimeMS",
			BCON_INT64(c->max_time_ms));
	if (rc == 0)
		rc = mongoloop_cursor(mongoc_collection_find_with_opts(cl, filter, opts, NULL),
				      error);
	bson_destroy(filter);
	bson_destroy(opts);
	filter = BCON_NEW("organizationId", BCON_OID(&oid), "isActive", BCON_BOOL(true));
	opts = BCON_NEW("projection", "{", "clinicId", BCON_INT32(1), "providerId", BCON_INT32(1),
			"roles", BCON_INT32(1), "isPrimaryClinic", BCON_INT32(1), "}", "maxTimeMS",
			BCON_INT64(c->max_time_ms));
	if (rc == 0)
		rc = mongoloop_cursor(mongoc_collection_find_with_opts(asg, filter, opts, NULL),
				      error);
	bson_destroy(filter);
	bson_destroy(opts);
	mongoc_collection_destroy(orgs);
	mongoc_collection_destroy(cl);
	mongoc_collection_destroy(asg);
	return rc;
}

static int
mongoloop_one(mongoc_client_t *client, const struct mongoloop_conf *c, const char *term,
	      bson_error_t *error)
{
	switch (c->query) {
	case MONGOLOOP_GET:
		return mongoloop_get(client, c, term, error);
	case MONGOLOOP_LIST:
		return mongoloop_list(client, c, error);
	case MONGOLOOP_SEARCH:
		return mongoloop_search(client, c, term, error);
	case MONGOLOOP_PROVIDER_CLINICS:
		return mongoloop_provider_clinics(client, c, term, error);
	case MONGOLOOP_REPORT_ORGS:
		return mongoloop_report_orgs(client, c, error);
	case MONGOLOOP_REPORT_STAFFING:
		return mongoloop_report_staffing(client, c, term, error);
	}
	return -1;
}

static void *
mongoloop_thread_main(void *arg)
{
	struct mongoloop_thread *t = arg;
	const struct mongoloop_conf *c = t->conf;
	mongoc_client_t *client = mongoc_client_pool_pop(c->pool);
	uint64_t measure = c->start_ns + (uint64_t)(c->warmup * 1e9);
	uint64_t end = measure + (uint64_t)(c->seconds * 1e9);
	/* open loop: this thread's queries are every threads/rate seconds, staggered by index */
	uint64_t interval = c->rate > 0 ? (uint64_t)(1e9 * c->threads / c->rate) : 0;
	uint64_t next = c->start_ns + (c->rate > 0 ? (uint64_t)(1e9 * t->index / c->rate) : 0);
	size_t i = c->nterms ? (size_t)t->index * 7919u % c->nterms : 0;

	mongoloop_sleep_until(c->start_ns);
	for (;;) {
		bson_error_t error;
		uint64_t t0, t1;
		int rc;

		if (interval > 0) {
			if (next >= end)
				break;
			mongoloop_sleep_until(next);
			next += interval;
		}
		t0 = mongoloop_now_ns();
		if (t0 >= end)
			break;
		rc = mongoloop_one(client, c, c->nterms ? c->terms[i] : "", &error);
		t1 = mongoloop_now_ns();
		if (c->nterms && ++i == c->nterms)
			i = 0;
		if (t0 < measure)
			continue;
		if (rc != 0) {
			if (t->errors++ == 0)
				snprintf(t->error, sizeof(t->error), "%s", error.message);
			continue;
		}
		mongoloop_record(t, t1 - t0);
	}
	mongoc_client_pool_push(c->pool, client);
	return NULL;
}

static int
mongoloop_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile of sorted latencies, in milliseconds (nearest rank). */
static double
mongoloop_quantile(const uint32_t *v, size_t n, double q)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)(q * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1] / 1000.0;
}

static int
mongoloop_run(struct mongoloop_conf *c)
{
	struct mongoloop_thread *t = calloc((size_t)c->threads, sizeof(*t));
	uint32_t *all;
	size_t total = 0, at = 0;
	uint64_t errors = 0;
	const char *first_error = NULL;
	int i;

	if (t == NULL)
		abort();
	c->start_ns = mongoloop_now_ns() + 50000000u; /* every thread is up before the start */
	for (i = 0; i < c->threads; i++) {
		t[i].conf = c;
		t[i].index = i;
		if (pthread_create(&t[i].tid, NULL, mongoloop_thread_main, &t[i]) != 0) {
			fprintf(stderr, "mongoloop: cannot start thread %d\n", i);
			exit(1);
		}
	}
	for (i = 0; i < c->threads; i++) {
		pthread_join(t[i].tid, NULL);
		total += t[i].nlat;
		errors += t[i].errors;
		if (first_error == NULL && t[i].errors > 0)
			first_error = t[i].error;
	}
	all = malloc((total ? total : 1) * sizeof(*all));
	if (all == NULL)
		abort();
	for (i = 0; i < c->threads; i++) {
		if (t[i].nlat > 0)
			memcpy(all + at, t[i].lat, t[i].nlat * sizeof(*all));
		at += t[i].nlat;
	}
	qsort(all, total, sizeof(*all), mongoloop_cmp_u32);
	if (first_error != NULL)
		fprintf(stderr, "mongoloop: %" PRIu64 " errors, the first: %s\n", errors,
			first_error);
	printf("  %zu queries in %.2fs, %" PRIu64 " errors\n", total, c->seconds, errors);
	printf("mongoloop: query=%s threads=%d rate=%.0f seconds=%.2f requests=%zu errors=%" PRIu64
	       " rps=%.1f p50_ms=%.3f p95_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
	       mongoloop_query_names[c->query], c->threads, c->rate, c->seconds, total, errors,
	       (double)total / c->seconds, mongoloop_quantile(all, total, 0.50),
	       mongoloop_quantile(all, total, 0.95), mongoloop_quantile(all, total, 0.99),
	       total ? all[total - 1] / 1000.0 : 0.0);
	for (i = 0; i < c->threads; i++)
		free(t[i].lat);
	free(t);
	free(all);
	return total > 0 && errors == 0 ? 0 : 1;
}

/* Reads one term a line (empty lines skipped); 0, or -1 with a message. */
static int
mongoloop_read_terms(const char *path, struct mongoloop_conf *c, int want_oids)
{
	FILE *f = fopen(path, "r");
	char line[512];
	size_t cap = 0;

	if (f == NULL) {
		fprintf(stderr, "mongoloop: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n\t")] = '\0';
		if (line[0] == '\0')
			continue;
		if (want_oids && !bson_oid_is_valid(line, strlen(line))) {
			fprintf(stderr, "mongoloop: %s: '%s' is not an ObjectId\n", path, line);
			fclose(f);
			return -1;
		}
		if (c->nterms == cap) {
			cap = cap ? cap * 2 : 1024;
			c->terms = realloc(c->terms, cap * sizeof(*c->terms));
			if (c->terms == NULL)
				abort();
		}
		c->terms[c->nterms++] = strdup(line);
	}
	fclose(f);
	if (c->nterms == 0) {
		fprintf(stderr, "mongoloop: %s holds no terms\n", path);
		return -1;
	}
	return 0;
}

/* --- seeding and dumping: the data the bench needs around the loops --- */

/*
 * Inserts n organizations shaped like POST /organizations makes them (server-kept fields
 * included), createdAt one minute apart so list order is defined. For when `tools/dev seed`
 * is not there.
 */
static int
mongoloop_seed_orgs(mongoc_client_pool_t *pool, const char *db, int n)
{
	static const char *const tiers[] = {"FREE", "BASIC", "PRO", "ENTERPRISE"};
	static const char *const statuses[] = {"ACTIVE", "ACTIVE", "ACTIVE", "SUSPENDED",
					       "INACTIVE"};
	static const char *const cities[] = {"Austin", "Boston", "Denver", "Miami", "Seattle"};
	static const char *const states[] = {"TX", "MA", "CO", "FL", "WA"};
	mongoc_client_t *client = mongoc_client_pool_pop(pool);
	mongoc_collection_t *coll = mongoc_client_get_collection(client, db, "organizations");
	int64_t now = (int64_t)time(NULL) * 1000;
	bson_t *docs[100];
	bson_error_t error;
	int i, k, rc = 0;

	for (i = 0; i < n && rc == 0; i += k) {
		for (k = 0; k < 100 && i + k < n; k++) {
			int x = i + k;
			bson_t *d = bson_new(), addr;
			bson_oid_t oid;
			char s[128];

			bson_oid_init(&oid, NULL);
			BSON_APPEND_OID(d, "_id", &oid);
			snprintf(s, sizeof(s), "Bench Dental Group %04d", x);
			BSON_APPEND_UTF8(d, "name", s);
			BSON_APPEND_UTF8(d, "status", statuses[x % 5]);
			BSON_APPEND_UTF8(d, "subscriptionTier", tiers[x % 4]);
			snprintf(s, sizeof(s), "office%04d@bench.example", x);
			BSON_APPEND_UTF8(d, "contactEmail", s);
			snprintf(s, sizeof(s), "+1555%07d", x);
			BSON_APPEND_UTF8(d, "phone", s);
			BSON_APPEND_DOCUMENT_BEGIN(d, "address", &addr);
			snprintf(s, sizeof(s), "%d Main Street", 100 + x);
			BSON_APPEND_UTF8(&addr, "street", s);
			BSON_APPEND_UTF8(&addr, "city", cities[x % 5]);
			BSON_APPEND_UTF8(&addr, "state", states[x % 5]);
			BSON_APPEND_UTF8(&addr, "postalCode", "10001");
			BSON_APPEND_UTF8(&addr, "country", "US");
			bson_append_document_end(d, &addr);
			BSON_APPEND_DATE_TIME(d, "createdAt", now - (int64_t)(n - x) * 60000);
			BSON_APPEND_DATE_TIME(d, "updatedAt", now - (int64_t)(n - x) * 60000);
			BSON_APPEND_INT64(d, "version", 1);
			docs[k] = d;
		}
		if (!mongoc_collection_insert_many(coll, (const bson_t **)docs, (size_t)k, NULL,
						   NULL, &error)) {
			fprintf(stderr, "mongoloop: seeding organizations: %s\n", error.message);
			rc = -1;
		}
		while (k-- > 0)
			bson_destroy(docs[k]);
		k = 100;
	}
	mongoc_collection_destroy(coll);
	mongoc_client_pool_push(pool, client);
	if (rc == 0)
		fprintf(stderr, "mongoloop: inserted %d organizations\n", n);
	return rc;
}

static void
mongoloop_dump_value(FILE *f, bson_iter_t *it)
{
	char hex[25];

	switch (bson_iter_type(it)) {
	case BSON_TYPE_OID:
		bson_oid_to_string(bson_iter_oid(it), hex);
		fputs(hex, f);
		break;
	case BSON_TYPE_UTF8:
		fputs(bson_iter_utf8(it, NULL), f);
		break;
	case BSON_TYPE_BOOL:
		fputs(bson_iter_bool(it) ? "true" : "false", f);
		break;
	case BSON_TYPE_INT32:
	case BSON_TYPE_INT64:
		fprintf(f, "%" PRId64, bson_iter_as_int64(it));
		break;
	default:
		break;
	}
}

/* Writes the named fields (dotted paths allowed) of every matching document, tab-separated. */
static int
mongoloop_dump(mongoc_client_pool_t *pool, const char *db, const char *collection,
	       const char *const *fields, const char *filter_json, int64_t max, const char *out)
{
	mongoc_client_t *client = mongoc_client_pool_pop(pool);
	mongoc_collection_t *coll = mongoc_client_get_collection(client, db, collection);
	bson_t *filter, opts = BSON_INITIALIZER, proj;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	bson_error_t error;
	FILE *f;
	int i, rc = 0;
	int64_t n = 0;

	filter = bson_new_from_json((const uint8_t *)filter_json, -1, &error);
	if (filter == NULL) {
		fprintf(stderr, "mongoloop: --filter: %s\n", error.message);
		return -1;
	}
	if ((f = fopen(out, "w")) == NULL) {
		fprintf(stderr, "mongoloop: %s: %s\n", out, strerror(errno));
		bson_destroy(filter);
		return -1;
	}
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
	for (i = 0; fields[i] != NULL; i++)
		BSON_APPEND_INT32(&proj, fields[i], 1);
	bson_append_document_end(&opts, &proj);
	if (max > 0)
		BSON_APPEND_INT64(&opts, "limit", max);
	cursor = mongoc_collection_find_with_opts(coll, filter, &opts, NULL);
	while (mongoc_cursor_next(cursor, &doc)) {
		for (i = 0; fields[i] != NULL; i++) {
			bson_iter_t it, found;

			if (i > 0)
				fputc('\t', f);
			if (bson_iter_init(&it, doc) &&
			    bson_iter_find_descendant(&it, fields[i], &found))
				mongoloop_dump_value(f, &found);
		}
		fputc('\n', f);
		n++;
	}
	if (mongoc_cursor_error(cursor, &error)) {
		fprintf(stderr, "mongoloop: dump %s: %s\n", collection, error.message);
		rc = -1;
	}
	if (fclose(f) != 0)
		rc = -1;
	mongoc_cursor_destroy(cursor);
	bson_destroy(filter);
	bson_destroy(&opts);
	mongoc_collection_destroy(coll);
	mongoc_client_pool_push(pool, client);
	if (rc == 0)
		fprintf(stderr, "mongoloop: wrote %" PRId64 " lines to %s\n", n, out);
	return rc;
}

/*
 * The bare-driver side of the export benchmark: the same query as an export (no filter, no
 * sort, the server's batch sizes, maxTimeMS), the same CSV writer, the same 64 KiB batches,
 * written to out (/dev/null in tools/bench) instead of a TLS connection.
 */
static int
mongoloop_export_csv(mongoc_client_pool_t *pool, const char *db, const char *collection,
		     char *const *columns, size_t ncolumns, int64_t max_time_ms, const char *out)
{
	mongoc_client_t *client = mongoc_client_pool_pop(pool);
	mongoc_collection_t *coll = mongoc_client_get_collection(client, db, collection);
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	struct timespec t0, t1;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	bson_error_t error;
	struct buf b;
	int64_t rows = 0, bytes = 0;
	double seconds;
	size_t i;
	FILE *f;
	int rc = 0;

	if ((f = fopen(out, "w")) == NULL) {
		fprintf(stderr, "mongoloop: %s: %s\n", out, strerror(errno));
		return -1;
	}
	buf_init(&b);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	BSON_APPEND_INT64(&opts, "maxTimeMS", max_time_ms);
	cursor = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
	for (i = 0; i < ncolumns; i++) {
		if (i > 0)
			buf_appendc(&b, ',');
		export_csv_field(&b, columns[i], strlen(columns[i]), 1);
	}
	buf_append(&b, "\r\n", 2);
	while (mongoc_cursor_next(cursor, &doc)) {
		export_csv_row(&b, doc, columns, ncolumns);
		rows++;
		if (b.len >= 65536) {
			if (fwrite(b.data, 1, b.len, f) != b.len)
				rc = -1;
			bytes += (int64_t)b.len;
			buf_reset(&b);
		}
	}
	if (b.len > 0 && fwrite(b.data, 1, b.len, f) != b.len)
		rc = -1;
	bytes += (int64_t)b.len;
	if (mongoc_cursor_error(cursor, &error)) {
		fprintf(stderr, "mongoloop: export %s: %s\n", collection, error.message);
		rc = -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (fclose(f) != 0)
		rc = -1;
	seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("mongoloop: query=export rows=%" PRId64 " bytes=%" PRId64
	       " seconds=%.3f rows_per_s=%.1f\n",
	       rows, bytes, seconds, seconds > 0 ? (double)rows / seconds : 0.0);
	buf_free(&b);
	mongoc_cursor_destroy(cursor);
	bson_destroy(&filter);
	bson_destroy(&opts);
	mongoc_collection_destroy(coll);
	mongoc_client_pool_push(pool, client);
	return rc;
}

/* --- command line --- */

/* The driver's log, minus FerretDB's missing endSessions, which it warns about at every exit. */
static void
mongoloop_log(mongoc_log_level_t level, const char *domain, const char *message, void *data)
{
	if (level > MONGOC_LOG_LEVEL_WARNING || strstr(message, "endSessions") != NULL)
		return;
	mongoc_log_default_handler(level, domain, message, data);
}

static void
mongoloop_usage(FILE *f)
{
	fprintf(f,
		"usage: mongoloop --uri URI [--collection C] [--query "
		"get|list|search|provider-clinics|report-orgs|report-staffing]\n"
		"                 [--ids FILE | --terms FILE] [--threads N] [--seconds S] "
		"[--warmup S]\n"
		"                 [--rate R] [--max-time-ms MS] [--fields a,b] [--limit N]\n"
		"       mongoloop --uri URI --seed-orgs N\n"
		"       mongoloop --uri URI --collection C --dump F1,F2 --out FILE [--filter JSON]"
		" [--max N]\n"
		"       mongoloop --uri URI --collection C --export-csv COL1,COL2 --out FILE\n");
}

/* Splits a comma list in place into at most MONGOLOOP_MAX_FIELDS names. */
static int
mongoloop_split(char *list, const char **out)
{
	int n = 0;
	char *save = NULL, *p;

	for (p = strtok_r(list, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save)) {
		if (n == MONGOLOOP_MAX_FIELDS)
			return -1;
		out[n++] = p;
	}
	out[n] = NULL;
	return n > 0 ? 0 : -1;
}

static double
mongoloop_number(const char *opt, const char *s, double min, double max)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "mongoloop: --%s wants a number from %g to %g, not '%s'\n", opt,
			min, max, s);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"uri", required_argument, NULL, 'u'},
	    {"collection", required_argument, NULL, 'c'},
	    {"query", required_argument, NULL, 'q'},
	    {"ids", required_argument, NULL, 'i'},
	    {"terms", required_argument, NULL, 'T'},
	    {"threads", required_argument, NULL, 't'},
	    {"seconds", required_argument, NULL, 's'},
	    {"warmup", required_argument, NULL, 'w'},
	    {"rate", required_argument, NULL, 'r'},
	    {"max-time-ms", required_argument, NULL, 'm'},
	    {"fields", required_argument, NULL, 'f'},
	    {"limit", required_argument, NULL, 'l'},
	    {"seed-orgs", required_argument, NULL, 'S'},
	    {"dump", required_argument, NULL, 'd'},
	    {"out", required_argument, NULL, 'o'},
	    {"filter", required_argument, NULL, 'F'},
	    {"max", required_argument, NULL, 'M'},
	    {"export-csv", required_argument, NULL, 'E'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mongoloop_conf c;
	const char *uri_string = NULL, *terms = NULL, *out = NULL, *filter = "{}";
	const char *dump[MONGOLOOP_MAX_FIELDS + 1];
	char fields_buf[256] = "name,code,address.city", *dump_arg = NULL, *export_arg = NULL;
	int opt, k, seed = 0, want_oids = 0;
	int64_t max = 0;
	mongoc_uri_t *uri;
	bson_error_t error;
	int rc;

	memset(&c, 0, sizeof(c));
	c.collection = "organizations";
	c.threads = 32;
	c.seconds = 10;
	c.max_time_ms = 30000; /* request_timeout_ms; search routes use 5000 */
	c.limit = 20;	       /* PAGINATION_DEFAULT_LIMIT */
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'u':
			uri_string = optarg;
			break;
		case 'c':
			c.collection = optarg;
			break;
		case 'q':
			for (k = 0; mongoloop_query_names[k] != NULL; k++) {
				if (strcmp(optarg, mongoloop_query_names[k]) == 0)
					break;
			}
			if (mongoloop_query_names[k] == NULL) {
				fprintf(stderr, "mongoloop: unknown --query '%s'\n", optarg);
				return 2;
			}
			c.query = (enum mongoloop_query)k;
			break;
		case 'i':
			c.query = MONGOLOOP_GET;
			terms = optarg;
			break;
		case 'T':
			terms = optarg;
			break;
		case 't':
			c.threads =
			    (int)mongoloop_number("threads", optarg, 1, MONGOLOOP_MAX_THREADS);
			break;
		case 's':
			c.seconds = mongoloop_number("seconds", optarg, 0.1, 86400);
			break;
		case 'w':
			c.warmup = mongoloop_number("warmup", optarg, 0, 3600);
			break;
		case 'r':
			c.rate = mongoloop_number("rate", optarg, 0, 1e6);
			break;
		case 'm':
			c.max_time_ms = (int64_t)mongoloop_number("max-time-ms", optarg, 1, 1e9);
			break;
		case 'f':
			snprintf(fields_buf, sizeof(fields_buf), "%s", optarg);
			break;
		case 'l':
			c.limit = (int)mongoloop_number("limit", optarg, 1, 100);
			break;
		case 'S':
			seed = (int)mongoloop_number("seed-orgs", optarg, 1, 1e7);
			break;
		case 'd':
			dump_arg = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'F':
			filter = optarg;
			break;
		case 'M':
			max = (int64_t)mongoloop_number("max", optarg, 0, 1e12);
			break;
		case 'E':
			export_arg = optarg;
			break;
		case 'h':
			mongoloop_usage(stdout);
			return 0;
		default:
			mongoloop_usage(stderr);
			return 2;
		}
	}
	if (uri_string == NULL || optind != argc) {
		mongoloop_usage(stderr);
		return 2;
	}
	if (mongoloop_split(fields_buf, c.fields) != 0) {
		fprintf(stderr, "mongoloop: --fields wants 1 to %d names\n", MONGOLOOP_MAX_FIELDS);
		return 2;
	}

	mongoc_init();
	mongoc_log_set_handler(mongoloop_log, NULL);
	if ((uri = mongoc_uri_new_with_error(uri_string, &error)) == NULL) {
		fprintf(stderr, "mongoloop: --uri: %s\n", error.message);
		return 2;
	}
	if (!mongoc_uri_has_option(uri, MONGOC_URI_APPNAME))
		mongoc_uri_set_appname(uri, "mongoloop");
	c.db = mongoc_uri_get_database(uri) ? mongoc_uri_get_database(uri) : "enterprise";
	c.pool = mongoc_client_pool_new(uri);
	mongoc_client_pool_set_error_api(c.pool, MONGOC_ERROR_API_VERSION_2);
	/* one client per thread, never a wait for one */
	mongoc_client_pool_max_size(c.pool, (uint32_t)c.threads + 1);

	if (seed > 0) {
		rc = mongoloop_seed_orgs(c.pool, c.db, seed) == 0 ? 0 : 1;
	} else if (export_arg != NULL) {
		char *cols[64], *save = NULL, *item;
		size_t n = 0;

		for (item = strtok_r(export_arg, ",", &save); item != NULL && n < 64;
		     item = strtok_r(NULL, ",", &save))
			cols[n++] = item;
		rc = out != NULL && n > 0 &&
			     mongoloop_export_csv(c.pool, c.db, c.collection, cols, n,
						  c.max_time_ms, out) == 0
			 ? 0
			 : 1;
	} else if (dump_arg != NULL) {
		if (out == NULL || mongoloop_split(dump_arg, dump) != 0) {
			fprintf(stderr, "mongoloop: --dump wants field names and --out FILE\n");
			rc = 2;
		} else {
			rc = mongoloop_dump(c.pool, c.db, c.collection, dump, filter, max, out) == 0
				 ? 0
				 : 1;
		}
	} else {
		want_oids = c.query == MONGOLOOP_GET || c.query == MONGOLOOP_REPORT_STAFFING;
		if (c.query != MONGOLOOP_LIST && c.query != MONGOLOOP_REPORT_ORGS &&
		    terms == NULL) {
			fprintf(stderr, "mongoloop: --query %s needs --ids or --terms FILE\n",
				mongoloop_query_names[c.query]);
			rc = 2;
		} else if (terms != NULL && mongoloop_read_terms(terms, &c, want_oids) != 0) {
			rc = 2;
		} else {
			rc = mongoloop_run(&c);
		}
	}
	for (size_t i = 0; i < c.nterms; i++)
		free(c.terms[i]);
	free(c.terms);
	mongoc_client_pool_destroy(c.pool);
	mongoc_uri_destroy(uri);
	mongoc_cleanup();
	return rc;
}
