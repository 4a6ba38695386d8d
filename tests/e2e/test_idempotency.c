/*
 * test_idempotency.c: Idempotency-Key on the POSTs that create (issue 10,
 * draft-ietf-httpapi-idempotency-key-header), against a real FerretDB and redis-server.
 *
 *	- a retry with the key gets the first answer again (status, Location, ETag, body, marked
 *	  Idempotent-Replayed: true) and creates nothing; `"k"` and `k` are one key;
 *	- the key with another body is 422; another caller's same key is another key;
 *	- organizations, clinics and assignments all honour it; without the key nothing changes;
 *	- malformed keys (empty, too long, control bytes, garbage, sent twice) are 400, nothing
 *made;
 *	- 16 connections sending one key at once create exactly one record;
 *	- while the first request runs (its database hung) a retry is 409 with Retry-After;
 *	- a first request that fails with 5xx keeps nothing: the retry runs and creates;
 *	- with Redis stopped a keyed create is 503 with Retry-After, an unkeyed one 201;
 *	- /metrics counts replays, conflicts, mismatches and refusals.
 * Records are counted through the API (search by a name unique to the test).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis.h>
#include <pthread.h>

#include "client.h"
#include "harness.h"

#define V1 CLIENT_V1
#define ORGS V1 "/organizations"
#define RACERS 16
#define BUDGET_MS 10000 /* write_budget: generous, so a loaded machine never turns a 409 into 503  \
			 */

static struct harness_deps deps;
static struct harness_server server;
static char *admin;

/* --- helpers ------------------------------------------------------------------------------ */

/* POST body to path as token with the header line hdr ("Name: value", NULL: none). */
static void
post(const char *path, const char *token, const char *hdr, const char *body,
     struct harness_response *r)
{
	const char *headers[3] = {hdr, NULL, NULL};
	char *url = client_strf("%s%s", server.url, path);

	if (harness_request_token("POST", url, token, hdr != NULL ? headers : NULL, body,
				  strlen(body), r) == -1)
		fail_msg("POST %s: %s", url, r->error);
	free(url);
}

static char *
org_body(const char *name)
{
	return client_strf("{\"name\":\"%s\"}", name);
}

/* How many organizations the search for name finds (names here are unique to one test). */
static int
orgs_named(const char *name)
{
	char ids[CLIENT_MAX_IDS][25], *path, *q = strdup(name), *p;
	int n = 0;

	for (p = q; *p != '\0'; p++)
		if (*p == ' ')
			*p = '+';
	path = client_strf(ORGS "/search?q=%s&limit=100", q);
	free(q);

	client_list_ids(path, admin, ids, &n);
	free(path);
	return n;
}

static const char *
hdr_or_none(const struct harness_response *r, const char *name)
{
	const char *v = harness_header(r, name);

	return v != NULL ? v : "(none)";
}

static void
expect_same_answer(const struct harness_response *first, const struct harness_response *again)
{
	if (again->status != first->status)
		fail_msg("replay status %ld, first %ld: %s", again->status, first->status,
			 again->body);
	assert_string_equal(hdr_or_none(again, "location"), hdr_or_none(first, "location"));
	assert_string_equal(hdr_or_none(again, "etag"), hdr_or_none(first, "etag"));
	assert_string_equal(hdr_or_none(again, "content-type"), hdr_or_none(first, "content-type"));
	assert_int_equal(again->body_len, first->body_len);
	assert_memory_equal(again->body, first->body, first->body_len);
	assert_string_equal(hdr_or_none(again, "idempotent-replayed"), "true");
}

static double
metric(const char *labels)
{
	struct harness_prom p;
	double v = 0;

	if (harness_prom_fetch(server.metrics_url, &p) == -1)
		fail_msg("/metrics: %s", p.error);
	harness_prom_sum(&p, "enterprise_idempotency_requests_total", labels, &v);
	harness_prom_free(&p);
	return v;
}

/* --- replay ------------------------------------------------------------------------------- */

static void
test_a_retry_replays_the_first_answer_and_creates_nothing(void **state)
{
	struct harness_response first, again;
	char *body = org_body("Idem Replay Dental");
	double replayed = metric("outcome=\"replayed\"");

	(void)state;
	post(ORGS, admin, "Idempotency-Key: \"8e03978e-40d5-43e8-bc93-6894a57f9324\"", body,
	     &first);
	bson_destroy(client_expect_json(&first, 201));
	assert_non_null(harness_header(&first, "location"));
	assert_non_null(harness_header(&first, "etag"));
	assert_null(harness_header(&first, "idempotent-replayed"));
	post(ORGS, admin, "Idempotency-Key: \"8e03978e-40d5-43e8-bc93-6894a57f9324\"", body,
	     &again);
	expect_same_answer(&first, &again);
	harness_response_free(&again);
	/* the bare form of the same key is the same key */
	post(ORGS, admin, "Idempotency-Key: 8e03978e-40d5-43e8-bc93-6894a57f9324", body, &again);
	expect_same_answer(&first, &again);
	harness_response_free(&again);
	assert_int_equal(orgs_named("Idem Replay Dental"), 1);
	assert_true(metric("outcome=\"replayed\"") >= replayed + 2);
	harness_response_free(&first);
	free(body);
}

static void
test_the_key_with_another_body_is_422(void **state)
{
	struct harness_response r;
	char *body = org_body("Idem Mismatch Dental"), *other = org_body("Idem Mismatch Other");
	double mismatches = metric("outcome=\"mismatch\"");

	(void)state;
	post(ORGS, admin, "Idempotency-Key: \"mismatch-1\"", body, &r);
	bson_destroy(client_expect_json(&r, 201));
	harness_response_free(&r);
	post(ORGS, admin, "Idempotency-Key: \"mismatch-1\"", other, &r);
	client_expect_problem(&r, 422);
	harness_response_free(&r);
	assert_int_equal(orgs_named("Idem Mismatch Dental"), 1);
	assert_int_equal(orgs_named("Idem Mismatch Other"), 0);
	assert_true(metric("outcome=\"mismatch\"") >= mismatches + 1);
	free(body);
	free(other);
}

static void
test_another_caller_with_the_same_key_is_independent(void **state)
{
	struct harness_response a, b;
	char *body = org_body("Idem Two Callers Dental");
	char *other = harness_token("platform_admin", NULL, "someone-else");

	(void)state;
	post(ORGS, admin, "Idempotency-Key: \"shared-key\"", body, &a);
	bson_destroy(client_expect_json(&a, 201));
	post(ORGS, other, "Idempotency-Key: \"shared-key\"", body, &b);
	bson_destroy(client_expect_json(&b, 201));
	assert_null(harness_header(&b, "idempotent-replayed"));
	assert_string_not_equal(hdr_or_none(&a, "location"), hdr_or_none(&b, "location"));
	assert_int_equal(orgs_named("Idem Two Callers Dental"), 2);
	harness_response_free(&a);
	harness_response_free(&b);
	free(other);
	free(body);
}

/* Attack: one user name in two tenants (subs are only unique per organization's directory)
 * sends one key with one body to one path. The second tenant must never get the first one's
 * answer (its record's id, Location, body): the key's scope holds the organization too. */
static void
test_one_sub_in_two_tenants_with_one_key_never_shares_an_answer(void **state)
{
	struct harness_response a, b;
	char org_a[25], org_b[25], clinic[25], *body;
	char *alice_a, *alice_b;

	(void)state;
	client_new_org("Idem Tenant A", org_a);
	client_new_org("Idem Tenant B", org_b);
	client_new_clinic_named(org_a, "Idem Tenant A Clinic", "ITA-1", clinic);
	alice_a = harness_token("org_admin", org_a, "alice");
	alice_b = harness_token("org_admin", org_b, "alice");
	body = client_strf("{\"providerId\":\"prov-tenant\",\"clinicId\":\"%s\","
			   "\"roles\":[\"DENTIST\"]}",
			   clinic);
	post(V1 "/assignments", alice_a, "Idempotency-Key: \"tenant-key\"", body, &a);
	bson_destroy(client_expect_json(&a, 201));
	post(V1 "/assignments", alice_b, "Idempotency-Key: \"tenant-key\"", body, &b);
	assert_null(harness_header(&b, "idempotent-replayed"));
	if (b.status < 400 || b.status >= 500)
		fail_msg("tenant B wrote to tenant A's clinic: %ld %s", b.status, b.body);
	assert_null(strstr(b.body, clinic));
	assert_string_not_equal(hdr_or_none(&a, "location"), hdr_or_none(&b, "location"));
	harness_response_free(&a);
	harness_response_free(&b);
	free(body);
	free(alice_a);
	free(alice_b);
}

/* A body refused by validation keeps nothing under its key: the corrected body with the same
 * key runs (201), instead of a 422 for "another request" or a replayed 400. */
static void
test_a_refused_body_then_the_corrected_one_with_the_same_key_creates(void **state)
{
	struct harness_response bad, good;
	char *body = org_body("Idem Fixed Later Dental");

	(void)state;
	post(ORGS, admin, "Idempotency-Key: \"fix-me-1\"", "{\"name\":\"\"}", &bad);
	client_expect_problem(&bad, 400);
	assert_null(harness_header(&bad, "idempotent-replayed"));
	post(ORGS, admin, "Idempotency-Key: \"fix-me-1\"", body, &good);
	bson_destroy(client_expect_json(&good, 201));
	assert_null(harness_header(&good, "idempotent-replayed"));
	assert_int_equal(orgs_named("Idem Fixed Later Dental"), 1);
	harness_response_free(&bad);
	harness_response_free(&good);
	free(body);
}

static void
test_without_a_key_every_post_creates(void **state)
{
	struct harness_response r;
	char *body = org_body("Idem Unkeyed Dental");
	int i;

	(void)state;
	for (i = 0; i < 2; i++) {
		post(ORGS, admin, NULL, body, &r);
		bson_destroy(client_expect_json(&r, 201));
		assert_null(harness_header(&r, "idempotent-replayed"));
		harness_response_free(&r);
	}
	assert_int_equal(orgs_named("Idem Unkeyed Dental"), 2);
	free(body);
}

static void
test_clinic_and_assignment_creates_honour_the_key(void **state)
{
	struct harness_response first, again;
	char org[25], *path, *body;
	bson_t *doc;

	(void)state;
	client_new_org("Idem Clinic Group", org);
	path = client_strf(ORGS "/%s/clinics", org);
	body = strdup("{\"name\":\"Idem Clinic\",\"code\":\"IC-1\"}");
	post(path, admin, "Idempotency-Key: \"clinic-1\"", body, &first);
	doc = client_expect_json(&first, 201);
	post(path, admin, "Idempotency-Key: \"clinic-1\"", body, &again);
	expect_same_answer(&first, &again);
	harness_response_free(&again);
	free(body);
	body = client_strf("{\"providerId\":\"prov-idem\",\"clinicId\":\"%s\","
			   "\"roles\":[\"DENTIST\"]}",
			   harness_json_str(doc, "id"));
	bson_destroy(doc);
	harness_response_free(&first);
	post(V1 "/assignments", admin, "Idempotency-Key: \"assign-1\"", body, &first);
	bson_destroy(client_expect_json(&first, 201));
	post(V1 "/assignments", admin, "Idempotency-Key: \"assign-1\"", body, &again);
	expect_same_answer(&first, &again);
	harness_response_free(&again);
	harness_response_free(&first);
	free(body);
	free(path);
}

/*
 * The names of the idempotency keys in Redis now (REDIS_IDEM_PREFIX "ent:v1:i:"), read with
 * hiredis directly, in *n; the caller frees the reply.
 */
static redisReply *
idem_keys(redisContext **c)
{
	redisReply *keys;

	*c = redisConnect("127.0.0.1", deps.redis_port);
	if (*c == NULL || (*c)->err)
		fail_msg("redis: %s", *c != NULL ? (*c)->errstr : "no context");
	keys = redisCommand(*c, "KEYS ent:v1:i:*");
	if (keys == NULL || keys->type != REDIS_REPLY_ARRAY)
		fail_msg("redis: KEYS failed");
	return keys;
}

/* The PTTL (ms) of the one idempotency key that is not among before's. */
static long long
new_key_pttl(const redisReply *before)
{
	redisContext *c;
	redisReply *now = idem_keys(&c), *ttl;
	long long ms = -3;
	size_t i, j;

	for (i = 0; i < now->elements; i++) {
		for (j = 0; j < before->elements; j++)
			if (strcmp(now->element[i]->str, before->element[j]->str) == 0)
				break;
		if (j < before->elements)
			continue;
		if (ms != -3)
			fail_msg("more than one new idempotency key");
		ttl = redisCommand(c, "PTTL %s", now->element[i]->str);
		ms = ttl != NULL && ttl->type == REDIS_REPLY_INTEGER ? ttl->integer : -2;
		if (ttl != NULL)
			freeReplyObject(ttl);
	}
	freeReplyObject(now);
	redisFree(c);
	return ms;
}

/* A kept answer need not be a success: a 404 of the write is final and replayed as such. */
static void
test_a_final_refusal_is_replayed_too(void **state)
{
	struct harness_response first, again;
	const char *path = ORGS "/65540f00aabbccddeeff0011/clinics";
	const char *body = "{\"name\":\"Idem Nowhere\",\"code\":\"IN-1\"}";

	redisContext *c;
	redisReply *before = idem_keys(&c);
	struct harness_response made;
	char *org = org_body("Idem Kept A Day Dental");
	long long ms;

	(void)state;
	post(path, admin, "Idempotency-Key: \"nowhere-1\"", body, &first);
	if (first.status < 400 || first.status >= 500)
		fail_msg("a clinic of no organization: %ld (%s)", first.status, first.body);
	/* nothing was written: kept an hour, not a day (IDEMPOTENCY_REFUSAL_TTL_MS) */
	ms = new_key_pttl(before);
	if (ms <= 0 || ms > 3600000)
		fail_msg("a refusal's answer kept for %lld ms, want (0, 1 h]", ms);
	freeReplyObject(before);
	before = redisCommand(c, "KEYS ent:v1:i:*");
	post(ORGS, admin, "Idempotency-Key: \"kept-a-day-1\"", org, &made);
	assert_int_equal(made.status, 201);
	ms = new_key_pttl(before);
	if (ms <= 3600000 || ms > 86400000)
		fail_msg("a creation's answer kept for %lld ms, want (1 h, 24 h]", ms);
	freeReplyObject(before);
	redisFree(c);
	harness_response_free(&made);
	free(org);
	post(path, admin, "Idempotency-Key: \"nowhere-1\"", body, &again);
	if (again.status != first.status)
		fail_msg("replay %ld, first %ld", again.status, first.status);
	assert_string_equal(hdr_or_none(&again, "idempotent-replayed"), "true");
	harness_response_free(&first);
	harness_response_free(&again);
}

/* --- malformed keys ------------------------------------------------------------------------ */

static void
expect_bad_key(const char *hdr, const char *what)
{
	struct harness_response r;
	char *body = org_body("Idem Bad Key Dental");

	post(ORGS, admin, hdr, body, &r);
	if (r.status != 400)
		fail_msg("%s: %ld, want 400 (%s)", what, r.status, r.body);
	if (strncmp(hdr_or_none(&r, "content-type"), "application/problem+json", 24) != 0)
		fail_msg("%s: 400 as %s: %s", what, hdr_or_none(&r, "content-type"), r.body);
	client_expect_field_error(&r, 400, "Idempotency-Key");
	harness_response_free(&r);
	free(body);
}

/* Any other control byte never reaches a handler: h2o's HTTP/1 parser answers its fixed
 * text/plain 400 (test_contract.c, test_proxy.c); still a 400, and nothing is created. */
static void
expect_parser_400(const char *hdr)
{
	static const char body[] = "{\"name\":\"Idem Bad Key Dental\"}";
	struct client_raw_reply *reply = malloc(sizeof(*reply));
	char *req = client_strf("POST " ORGS " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				"Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
				"Content-Length: %zu\r\n%s\r\nConnection: close\r\n\r\n%s",
				admin, sizeof(body) - 1, hdr, body);

	assert_non_null(reply);
	/* raw bytes: curl is not needed to send them, and the contract recording only holds what
	 * handlers answer */
	client_raw_exchange(server.port, req, strlen(req), reply);
	if (reply->status != 400)
		fail_msg("a raw control byte: %d, want 400", reply->status);
	free(reply);
	free(req);
}

static void
test_malformed_keys_are_400_and_create_nothing(void **state)
{
	char long_key[300];
	char *too_long;

	(void)state;
	memset(long_key, 'k', 256);
	long_key[256] = '\0';
	too_long = client_strf("Idempotency-Key: \"%s\"", long_key);
	expect_bad_key("Idempotency-Key;", "an empty value"); /* curl's syntax for empty */
	expect_bad_key("Idempotency-Key: \"\"", "an empty string");
	expect_bad_key(too_long, "256 characters");
	expect_bad_key("Idempotency-Key: \"ab\tcd\"",
		       "a tab inside (the one control byte h2o lets in)");
	expect_parser_400("Idempotency-Key: \"ab\x01"
			  "cd\"");
	expect_parser_400("Idempotency-Key: \"ab\x7f"
			  "cd\"");
	expect_bad_key("Idempotency-Key: ?not a key!", "unquoted garbage");
	expect_bad_key("Idempotency-Key: \"a\";param=1", "parameters");
	expect_bad_key("Idempotency-Key: \"a\", \"b\"", "a list");
	expect_bad_key("Idempotency-Key: \"caf\xc3\xa9\"", "non-ASCII");
	assert_int_equal(orgs_named("Idem Bad Key Dental"), 0);
	free(too_long);
}

static void
test_the_key_sent_twice_is_400(void **state)
{
	struct harness_response r;
	const char *headers[] = {"Idempotency-Key: \"twice-1\"", "Idempotency-Key: \"twice-2\"",
				 NULL};
	char *url = client_strf("%s%s", server.url, ORGS);
	const char *body = "{\"name\":\"Idem Twice Dental\"}";

	(void)state;
	if (harness_request_token("POST", url, admin, headers, body, strlen(body), &r) == -1)
		fail_msg("POST: %s", r.error);
	client_expect_field_error(&r, 400, "Idempotency-Key");
	harness_response_free(&r);
	assert_int_equal(orgs_named("Idem Twice Dental"), 0);
	free(url);
}

/* --- concurrency -------------------------------------------------------------------------- */

struct racer {
	pthread_barrier_t *start;
	struct harness_response r;
	int sent;
};

static void *
racer_run(void *p)
{
	struct racer *me = p;
	const char *headers[] = {"Idempotency-Key: \"race-1\"", NULL};
	const char *body = "{\"name\":\"Idem Race Dental\"}";
	char url[160];

	snprintf(url, sizeof(url), "%s%s", server.url, ORGS);
	pthread_barrier_wait(me->start);
	me->sent =
	    harness_request_token("POST", url, admin, headers, body, strlen(body), &me->r) == 0;
	return NULL;
}

static void
test_concurrent_duplicates_create_exactly_one_record(void **state)
{
	struct racer racers[RACERS];
	pthread_t threads[RACERS];
	pthread_barrier_t start;
	const char *location = NULL;
	int i, created = 0, replayed = 0, conflicts = 0;

	(void)state;
	memset(racers, 0, sizeof(racers));
	pthread_barrier_init(&start, NULL, RACERS);
	for (i = 0; i < RACERS; i++) {
		racers[i].start = &start;
		assert_int_equal(pthread_create(&threads[i], NULL, racer_run, &racers[i]), 0);
	}
	for (i = 0; i < RACERS; i++)
		pthread_join(threads[i], NULL);
	pthread_barrier_destroy(&start);
	for (i = 0; i < RACERS; i++) {
		struct harness_response *r = &racers[i].r;

		if (!racers[i].sent)
			fail_msg("racer %d: %s", i, r->error);
		if (r->status == 409) {
			client_expect_problem(r, 409);
			assert_non_null(harness_header(r, "retry-after"));
			conflicts++;
			continue;
		}
		if (r->status != 201)
			fail_msg("racer %d: %ld (%s)", i, r->status, r->body);
		if (harness_header(r, "idempotent-replayed") != NULL)
			replayed++;
		else
			created++;
		if (location == NULL)
			location = hdr_or_none(r, "location");
		assert_string_equal(hdr_or_none(r, "location"), location);
	}
	print_message("%d racers: %d created, %d replayed, %d conflicts\n", RACERS, created,
		      replayed, conflicts);
	assert_int_equal(created, 1);
	assert_int_equal(orgs_named("Idem Race Dental"), 1);
	for (i = 0; i < RACERS; i++)
		harness_response_free(&racers[i].r);
}

/* --- the first request still running --------------------------------------------------------- */

struct slow {
	struct harness_response r;
	int sent;
};

static void *
slow_run(void *p)
{
	struct slow *s = p;
	const char *headers[] = {"Idempotency-Key: \"running-1\"", NULL};
	const char *body = "{\"name\":\"Idem Running Dental\"}";
	char url[160];

	snprintf(url, sizeof(url), "%s%s", server.url, ORGS);
	s->sent =
	    harness_request_token("POST", url, admin, headers, body, strlen(body), &s->r) == 0;
	return NULL;
}

/*
 * 1 once Redis holds a running marker ("R\n...") under an idempotency key (REDIS_IDEM_PREFIX,
 * "ent:v1:i:"): the first request's claim (no other keyed request runs meanwhile). Read with
 * hiredis directly, not through the server's code.
 */
static int
claimed(void)
{
	redisContext *c = redisConnect("127.0.0.1", deps.redis_port);
	redisReply *keys, *v;
	size_t i;
	int found = 0;

	if (c == NULL || c->err)
		fail_msg("redis: %s", c != NULL ? c->errstr : "no context");
	keys = redisCommand(c, "KEYS ent:v1:i:*");
	for (i = 0; keys != NULL && keys->type == REDIS_REPLY_ARRAY && i < keys->elements; i++) {
		v = redisCommand(c, "GET %b", keys->element[i]->str, keys->element[i]->len);
		if (v != NULL && v->type == REDIS_REPLY_STRING && v->len > 2 &&
		    memcmp(v->str, "R\n", 2) == 0)
			found = 1;
		if (v != NULL)
			freeReplyObject(v);
	}
	if (keys != NULL)
		freeReplyObject(keys);
	redisFree(c);
	return found;
}

static void
test_a_retry_while_the_first_runs_is_409(void **state)
{
	struct harness_response r;
	struct slow first;
	pthread_t thread;
	uint64_t deadline;
	double conflicts = metric("outcome=\"conflict\"");

	(void)state;
	memset(&first, 0, sizeof(first));
	assert_int_equal(harness_proc_pause(&deps.ferretdb), 0);
	assert_int_equal(pthread_create(&thread, NULL, slow_run, &first), 0);
	deadline = harness_now_ms() + 10000;
	while (!claimed()) {
		if (harness_now_ms() > deadline) {
			harness_proc_resume(&deps.ferretdb);
			fail_msg("the first request never claimed its key");
		}
		harness_sleep_ms(10);
	}
	post(ORGS, admin, "Idempotency-Key: \"running-1\"", "{\"name\":\"Idem Running Dental\"}",
	     &r);
	assert_int_equal(harness_proc_resume(&deps.ferretdb), 0);
	pthread_join(thread, NULL);
	if (r.status != 409)
		fail_msg("a retry while the first runs: %ld, want 409 (%s)", r.status, r.body);
	client_expect_problem(&r, 409);
	assert_non_null(harness_header(&r, "retry-after"));
	harness_response_free(&r);
	assert_true(first.sent);
	print_message("the first request, database hung: %ld\n", first.r.status);
	harness_response_free(&first.r);
	assert_true(metric("outcome=\"conflict\"") >= conflicts + 1);
}

/* --- a retryable failure is not kept ---------------------------------------------------------- */

/*
 * The first request fails with 5xx (FerretDB stopped): its claim is dropped, not kept, so the
 * retry with the same key runs and creates (the draft: a retryable failure is not final).
 */
static void
test_a_5xx_is_not_kept_and_the_retry_runs(void **state)
{
	struct harness_response r;
	const char *body = "{\"name\":\"Idem Retry After 5xx\"}";
	double released = metric("outcome=\"released\"");
	uint64_t deadline;

	(void)state;
	harness_ferretdb_stop(&deps);
	post(ORGS, admin, "Idempotency-Key: \"after-5xx\"", body, &r);
	if (r.status < 500)
		fail_msg("a create with FerretDB stopped: %ld (%s)", r.status, r.body);
	harness_response_free(&r);
	/* the work may outlive the answer (the write budget): wait until it dropped its claim */
	deadline = harness_now_ms() + 30000;
	while (metric("outcome=\"released\"") < released + 1) {
		if (harness_now_ms() > deadline)
			fail_msg("the failed first request never released its claim");
		harness_sleep_ms(50);
	}
	assert_int_equal(harness_ferretdb_start(&deps), 0);
	deadline = harness_now_ms() + 30000;
	for (;;) {
		post(ORGS, admin, "Idempotency-Key: \"after-5xx\"", body, &r);
		if (r.status == 201)
			break;
		/* 503 until the driver sees the database again, 502 once per pooled connection
		 * that died with it; each a 5xx that releases the claim again */
		if ((r.status != 503 && r.status != 502) || harness_now_ms() > deadline)
			fail_msg("the retry after a 5xx: %ld (%s)", r.status, r.body);
		harness_response_free(&r);
		harness_sleep_ms(200);
	}
	assert_null(harness_header(&r, "idempotent-replayed"));
	harness_response_free(&r);
	assert_int_equal(orgs_named("Idem Retry After 5xx"), 1);
}

/* --- Redis down --------------------------------------------------------------------------- */

static void
test_without_redis_a_keyed_create_is_503_and_an_unkeyed_one_201(void **state)
{
	struct harness_response r;
	char *body = org_body("Idem No Redis Dental");
	uint64_t deadline;
	double unavailable = metric("outcome=\"unavailable\"");

	(void)state;
	harness_redis_stop(&deps);
	post(ORGS, admin, "Idempotency-Key: \"no-redis-1\"", body, &r);
	if (r.status != 503)
		fail_msg("a keyed create without Redis: %ld, want 503 (%s)", r.status, r.body);
	client_expect_problem(&r, 503);
	assert_non_null(harness_header(&r, "retry-after"));
	harness_response_free(&r);
	post(ORGS, admin, NULL, body, &r);
	bson_destroy(client_expect_json(&r, 201));
	harness_response_free(&r);
	assert_int_equal(orgs_named("Idem No Redis Dental"), 1);
	assert_true(metric("outcome=\"unavailable\"") >= unavailable + 1);
	/* Redis back: the key works again once its breaker lets requests through */
	assert_int_equal(harness_redis_start(&deps), 0);
	deadline = harness_now_ms() + 30000;
	for (;;) {
		post(ORGS, admin, "Idempotency-Key: \"no-redis-2\"", body, &r);
		if (r.status == 201)
			break;
		if (r.status != 503 || harness_now_ms() > deadline)
			fail_msg("a keyed create after Redis came back: %ld (%s)", r.status,
				 r.body);
		harness_response_free(&r);
		harness_sleep_ms(200);
	}
	harness_response_free(&r);
	assert_int_equal(orgs_named("Idem No Redis Dental"), 2);
	free(body);
}

/* --- setup -------------------------------------------------------------------------------- */

static int
group_setup(void **state)
{
	static char extra[256];
	struct harness_conf c = {.workers = 2, .extra = extra};

	(void)state;
	snprintf(extra, sizeof(extra), "write_budget %d\n", BUDGET_MS);
	return client_suite_start(&deps, &admin, &server, "idempotency", &c);
}

static int
group_teardown(void **state)
{
	(void)state;
	return client_suite_stop(&deps, &admin);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_retry_replays_the_first_answer_and_creates_nothing),
	    cmocka_unit_test(test_the_key_with_another_body_is_422),
	    cmocka_unit_test(test_another_caller_with_the_same_key_is_independent),
	    cmocka_unit_test(test_one_sub_in_two_tenants_with_one_key_never_shares_an_answer),
	    cmocka_unit_test(test_a_refused_body_then_the_corrected_one_with_the_same_key_creates),
	    cmocka_unit_test(test_without_a_key_every_post_creates),
	    cmocka_unit_test(test_clinic_and_assignment_creates_honour_the_key),
	    cmocka_unit_test(test_a_final_refusal_is_replayed_too),
	    cmocka_unit_test(test_malformed_keys_are_400_and_create_nothing),
	    cmocka_unit_test(test_the_key_sent_twice_is_400),
	    cmocka_unit_test(test_concurrent_duplicates_create_exactly_one_record),
	    cmocka_unit_test(test_a_retry_while_the_first_runs_is_409),
	    cmocka_unit_test(test_without_redis_a_keyed_create_is_503_and_an_unkeyed_one_201),
	    /* last: the restarted FerretDB leaves pooled connections that fail once (502) */
	    cmocka_unit_test(test_a_5xx_is_not_kept_and_the_retry_runs),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
