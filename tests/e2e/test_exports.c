/*
 * test_exports.c: GET /organizations/export, /clinics/export, /assignments/export (issue 9).
 *
 * Two tenants, A and B, are created through the API (and a few clinics of A with bytes the
 * API refuses, CR, LF and TAB, straight into the database); every test computes what the
 * export must hold from what it created, and checks every row it gets against that, with the
 * other tenant's rows present in the database. The CSV is read by a small RFC 4180 reader
 * written here (not the server's code), NDJSON line by line with libbson's JSON parser, gzip
 * with zlib. The last tests stream an export of about 13 MB: a client that goes away after
 * 64 KiB must stop the cursor, and a client that stops reading must see the export cut off
 * at a short export_timeout; both are read from the server's log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <zlib.h>

#include "client.h"
#include "harness.h"

#define V1 CLIENT_V1
#define MAX_ROWS 2048
#define MAX_FIELDS 32
#define MAX_CLINICS 16
#define BIG_ORGS 900
#define BIG_SETTINGS 14000

static struct harness_deps deps;
static struct harness_server server;
static char *admin;

/* What the test created, to compare exports against. */
struct clinic_want {
	char id[25];
	char org[25];
	char name[256];
	char code[33];
	char city[64];
};

struct tenant {
	char org[25];
	char name[64];
	char *admin_token, *manager_token, *provider_token;
	char provider[32];
	struct clinic_want clinics[MAX_CLINICS];
	int nclinics;
	char assignments[4][25]; /* of its provider */
	int nassignments;
	char other_assignment[25]; /* another provider's, same organization */
};

static struct tenant ta, tb;

/* --- an RFC 4180 reader, independent of the server's writer --- */

struct csv {
	char *fields[MAX_ROWS][MAX_FIELDS];
	int nfields[MAX_ROWS];
	int nrows;
};

static void
csv_free(struct csv *c)
{
	for (int i = 0; i < c->nrows; i++)
		for (int f = 0; f < c->nfields[i]; f++)
			free(c->fields[i][f]);
	free(c);
}

/* Strict: records end with CRLF, quoted fields double their quotes, an unquoted field holds
 * no quote, CR or LF. Fails the test on anything else. */
static struct csv *
csv_parse(const char *s, size_t len)
{
	struct csv *c = calloc(1, sizeof(*c));
	size_t i = 0;

	if (c == NULL)
		fail_msg("calloc");
	while (i < len) {
		int row = c->nrows++;

		if (row == MAX_ROWS)
			fail_msg("more than %d CSV records", MAX_ROWS);
		for (;;) {
			char *field = malloc(len - i + 1);
			size_t n = 0;

			if (field == NULL)
				fail_msg("malloc");
			if (i < len && s[i] == '"') {
				for (i++;; i++) {
					if (i >= len)
						fail_msg("record %d: unterminated quoted field",
							 row);
					if (s[i] == '"' && i + 1 < len && s[i + 1] == '"')
						field[n++] = s[i++];
					else if (s[i] == '"')
						break;
					else
						field[n++] = s[i];
				}
				i++;
			} else {
				while (i < len && s[i] != ',' && s[i] != '\r') {
					if (s[i] == '"' || s[i] == '\n')
						fail_msg("record %d: bare quote or LF in a field",
							 row);
					field[n++] = s[i++];
				}
			}
			field[n] = '\0';
			if (c->nfields[row] == MAX_FIELDS)
				fail_msg("record %d: more than %d fields", row, MAX_FIELDS);
			c->fields[row][c->nfields[row]++] = field;
			if (i < len && s[i] == ',') {
				i++;
				continue;
			}
			if (i + 1 < len && s[i] == '\r' && s[i + 1] == '\n') {
				i += 2;
				break;
			}
			fail_msg("record %d: a field not followed by a comma or CRLF (at %zu)", row,
				 i);
		}
	}
	return c;
}

/* The column named name in the header row, or fails. */
static int
csv_col(const struct csv *c, const char *name)
{
	for (int f = 0; c->nrows > 0 && f < c->nfields[0]; f++)
		if (strcmp(c->fields[0][f], name) == 0)
			return f;
	fail_msg("no column %s in the header", name);
	return -1;
}

/* The record whose id column is id, or -1. */
static int
csv_find(const struct csv *c, const char *id)
{
	int col = csv_col(c, "id");

	for (int i = 1; i < c->nrows; i++)
		if (col < c->nfields[i] && strcmp(c->fields[i][col], id) == 0)
			return i;
	return -1;
}

/* What a cell must read for a stored string: OWASP's rule, written here from the issue. */
static void
want_cell(const char *stored, char *out, size_t outlen)
{
	int neutral = stored[0] != '\0' && strchr("=+-@\t\r", stored[0]) != NULL;

	snprintf(out, outlen, "%s%s", neutral ? "'" : "", stored);
}

/* --- requests --- */

/* GET path as token with extra headers (NULL-terminated, or NULL). */
static void
get(const char *path, const char *token, const char *const *headers, struct harness_response *r)
{
	char *url = client_strf("%s%s", server.url, path);

	if (harness_request_token("GET", url, token, headers, NULL, 0, r) != 0)
		fail_msg("GET %s: %s", path, r->error);
	free(url);
}

/* GET path as token: 200 text/csv with an attachment, parsed. */
static struct csv *
get_csv(const char *path, const char *token)
{
	struct harness_response r;
	const char *ct, *cd;
	struct csv *c;

	get(path, token, NULL, &r);
	ct = harness_header(&r, "content-type");
	cd = harness_header(&r, "content-disposition");
	if (r.status != 200 || ct == NULL || strncmp(ct, "text/csv", 8) != 0)
		fail_msg("GET %s: %ld %s %s", path, r.status, ct ? ct : "-", r.body);
	if (cd == NULL || strncmp(cd, "attachment; filename=\"", 22) != 0 ||
	    strstr(cd, ".csv\"") == NULL)
		fail_msg("GET %s: content-disposition %s", path, cd ? cd : "missing");
	c = csv_parse(r.body, r.body_len);
	harness_response_free(&r);
	return c;
}

/* The set of ids in a CSV export equals want (n ids), in any order. */
static void
expect_csv_ids(const struct csv *c, char want[][25], int n)
{
	if (c->nrows - 1 != n)
		fail_msg("%d records, want %d", c->nrows - 1, n);
	for (int i = 0; i < n; i++)
		if (csv_find(c, want[i]) < 0)
			fail_msg("record %s missing", want[i]);
}

/* --- set-up --- */

static void
clinic_add(struct tenant *t, const char *name, const char *code, const char *city)
{
	struct clinic_want *w = &t->clinics[t->nclinics++];
	char *body =
	    client_strf("{\"name\":\"%s\",\"code\":\"%s\",\"address\":{\"street\":\"1 Main "
			"St\",\"city\":\"%s\",\"state\":\"CA\",\"postalCode\":\"94000\","
			"\"country\":\"US\"}}",
			name, code, city);

	client_new_clinic(t->org, body, w->id);
	free(body);
	memcpy(w->org, t->org, sizeof(w->org));
	snprintf(w->code, sizeof(w->code), "%s", code);
	snprintf(w->city, sizeof(w->city), "%s", city);
	/* the JSON escapes in name are \" only: the stored text has plain quotes */
	{
		size_t o = 0;

		for (const char *p = name; *p != '\0' && o < sizeof(w->name) - 1; p++)
			if (!(p[0] == '\\' && p[1] == '"'))
				w->name[o++] = *p;
		w->name[o] = '\0';
	}
}

/* A clinic written straight into the database: bytes the API would refuse (CR, LF, TAB). */
static void
clinic_insert_raw(struct tenant *t, const char *name, const char *code)
{
	mongoc_client_t *m = harness_mongo_client(&deps);
	mongoc_collection_t *coll = mongoc_client_get_collection(m, HARNESS_DB, "clinics");
	struct clinic_want *w = &t->clinics[t->nclinics++];
	bson_t doc = BSON_INITIALIZER, addr;
	bson_oid_t id, org;
	bson_error_t error;

	bson_oid_init(&id, NULL);
	bson_oid_init_from_string(&org, t->org);
	BSON_APPEND_OID(&doc, "_id", &id);
	BSON_APPEND_OID(&doc, "organizationId", &org);
	BSON_APPEND_UTF8(&doc, "name", name);
	BSON_APPEND_UTF8(&doc, "code", code);
	BSON_APPEND_UTF8(&doc, "status", "ACTIVE");
	BSON_APPEND_DOCUMENT_BEGIN(&doc, "address", &addr);
	BSON_APPEND_UTF8(&addr, "city", "Raw City");
	bson_append_document_end(&doc, &addr);
	BSON_APPEND_DATE_TIME(&doc, "createdAt", 1700000000000);
	BSON_APPEND_DATE_TIME(&doc, "updatedAt", 1700000000000);
	BSON_APPEND_INT64(&doc, "version", 1);
	if (!mongoc_collection_insert_one(coll, &doc, NULL, NULL, &error))
		fail_msg("insert: %s", error.message);
	bson_oid_to_string(&id, w->id);
	memcpy(w->org, t->org, sizeof(w->org));
	snprintf(w->name, sizeof(w->name), "%s", name);
	snprintf(w->code, sizeof(w->code), "%s", code);
	snprintf(w->city, sizeof(w->city), "Raw City");
	bson_destroy(&doc);
	mongoc_collection_destroy(coll);
	mongoc_client_destroy(m);
}

static void
assignment_add(const char *provider, const char *clinic, char id[25])
{
	char *body =
	    client_strf("{\"providerId\":\"%s\",\"clinicId\":\"%s\",\"roles\":[\"DENTIST\","
			"\"HYGIENIST\"]}",
			provider, clinic);
	bson_t *doc = client_create(V1 "/assignments", admin, body, id);

	bson_destroy(doc);
	free(body);
}

static void
tenant_make(struct tenant *t, const char *tag)
{
	char *body = client_strf("{\"name\":\"Export %s, \\\"Dental\\\"\",\"subscriptionTier\":"
				 "\"PRO\",\"phone\":\"+1 415-555-0100\"}",
				 tag);
	char *sub;
	bson_t *doc = client_create(V1 "/organizations", admin, body, t->org);

	bson_destroy(doc);
	free(body);
	snprintf(t->name, sizeof(t->name), "Export %s, \"Dental\"", tag);
	t->admin_token = harness_token("org_admin", t->org, "admin");
	sub = client_strf("mgr-%s", tag);
	t->manager_token = harness_token("clinic_manager", t->org, sub);
	free(sub);
	snprintf(t->provider, sizeof(t->provider), "prov-%s", tag);
	t->provider_token = harness_token("provider", t->org, t->provider);
}

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = 1};

	(void)state;
	if (client_suite_start(&deps, &admin, &server, "exports", &c) == -1)
		return -1;
	tenant_make(&ta, "A");
	tenant_make(&tb, "B");
	clinic_add(&ta, "Smile, \\\"Bright\\\" Dental", "A-COMMA", "Springfield");
	clinic_add(&ta, "Zahnärzte Zürich 歯科 🦷", "A-UTF8", "Zürich");
	clinic_add(&ta, "=HYPERLINK(\\\"http://x\\\")", "A-EQ", "Eq City");
	clinic_add(&ta, "+cmd", "A-PLUS", "Plus City");
	clinic_add(&ta, "-2+3", "A-MINUS", "Minus City");
	clinic_add(&ta, "@SUM(1)", "A-AT", "At City");
	clinic_insert_raw(&ta, "\tTabbed", "A-TAB");
	clinic_insert_raw(&ta, "\rReturned", "A-CR");
	clinic_insert_raw(&ta, "Two\r\nLines", "A-CRLF");
	clinic_add(&tb, "B Clinic One", "B-ONE", "Beta");
	clinic_add(&tb, "B Clinic Two", "B-TWO", "Beta");
	assignment_add(ta.provider, ta.clinics[0].id, ta.assignments[ta.nassignments++]);
	assignment_add(ta.provider, ta.clinics[1].id, ta.assignments[ta.nassignments++]);
	assignment_add("prov-A-other", ta.clinics[2].id, ta.other_assignment);
	assignment_add(tb.provider, tb.clinics[0].id, tb.assignments[tb.nassignments++]);
	return 0;
}

static int
group_teardown(void **state)
{
	struct tenant *ts[] = {&ta, &tb};

	(void)state;
	for (int i = 0; i < 2; i++) {
		free(ts[i]->admin_token);
		free(ts[i]->manager_token);
		free(ts[i]->provider_token);
	}
	return client_suite_stop(&deps, &admin);
}

/* --- CSV content --- */

static void
check_clinic_rows(const struct csv *c, const struct tenant *t)
{
	char want[300];
	int name = csv_col(c, "name"), code = csv_col(c, "code"),
	    org = csv_col(c, "organizationId"), city = csv_col(c, "address.city"),
	    status = csv_col(c, "status");

	for (int i = 0; i < t->nclinics; i++) {
		const struct clinic_want *w = &t->clinics[i];
		int row = csv_find(c, w->id);

		if (row < 0)
			fail_msg("clinic %s (%s) missing", w->id, w->code);
		if (c->nfields[row] != c->nfields[0])
			fail_msg("clinic %s: %d fields, header has %d", w->code, c->nfields[row],
				 c->nfields[0]);
		want_cell(w->name, want, sizeof(want));
		if (strcmp(c->fields[row][name], want) != 0)
			fail_msg("clinic %s: name [%s], want [%s]", w->code, c->fields[row][name],
				 want);
		want_cell(w->code, want, sizeof(want));
		assert_string_equal(c->fields[row][code], want);
		assert_string_equal(c->fields[row][org], w->org);
		assert_string_equal(c->fields[row][city], w->city);
		assert_string_equal(c->fields[row][status], "ACTIVE");
	}
}

static void
test_clinics_csv_has_exactly_the_tenants_rows_quoted_and_neutralised(void **state)
{
	struct csv *c;
	char ids[MAX_CLINICS][25];

	(void)state;
	c = get_csv(V1 "/clinics/export", ta.admin_token);
	for (int i = 0; i < ta.nclinics; i++)
		memcpy(ids[i], ta.clinics[i].id, 25);
	expect_csv_ids(c, ids, ta.nclinics);
	check_clinic_rows(c, &ta);
	/* the default columns, nested address flattened with dotted names */
	assert_string_equal(c->fields[0][0], "id");
	csv_col(c, "address.postalCode");
	csv_col(c, "createdAt");
	csv_free(c);
}

static void
test_platform_admin_exports_both_tenants(void **state)
{
	struct csv *c;

	(void)state;
	c = get_csv(V1 "/clinics/export", admin);
	check_clinic_rows(c, &ta);
	check_clinic_rows(c, &tb);
	assert_int_equal(c->nrows - 1, ta.nclinics + tb.nclinics);
	csv_free(c);
}

static void
test_csv_bytes_are_rfc4180_with_crlf_and_doubled_quotes(void **state)
{
	struct harness_response r;
	char *path = client_strf(V1 "/clinics/export?fields=name,code");

	(void)state;
	get(path, ta.admin_token, NULL, &r);
	assert_int_equal(r.status, 200);
	/* a value with a comma and quotes, one with CRLF inside, a neutralised formula */
	assert_non_null(strstr(r.body, ",\"Smile, \"\"Bright\"\" Dental\",A-COMMA\r\n"));
	assert_non_null(strstr(r.body, ",\"Two\r\nLines\",A-CRLF\r\n"));
	assert_non_null(strstr(r.body, ",\"'=HYPERLINK(\"\"http://x\"\")\",A-EQ\r\n"));
	assert_non_null(strstr(r.body, ",\"'\tTabbed\",A-TAB\r\n"));
	assert_non_null(strstr(r.body, ",Zahnärzte Zürich 歯科 🦷,A-UTF8\r\n"));
	assert_true(strncmp(r.body, "id,name,code\r\n", 14) == 0);
	harness_response_free(&r);
	free(path);
}

static void
test_fields_choose_the_columns_in_order(void **state)
{
	struct csv *c;

	(void)state;
	c = get_csv(V1 "/clinics/export?fields=code,address", ta.admin_token);
	assert_int_equal(c->nfields[0], 7);
	assert_string_equal(c->fields[0][0], "id");
	assert_string_equal(c->fields[0][1], "code");
	assert_string_equal(c->fields[0][2], "address.street");
	assert_string_equal(c->fields[0][6], "address.country");
	assert_int_equal(c->nrows - 1, ta.nclinics);
	csv_free(c);
}

static void
test_filters_of_the_list_apply_to_the_export(void **state)
{
	struct csv *c;

	(void)state;
	c = get_csv(V1 "/clinics/export?city=Z%C3%BCrich", admin);
	assert_int_equal(c->nrows - 1, 1);
	assert_true(csv_find(c, ta.clinics[1].id) == 1);
	csv_free(c);
	c = get_csv(V1 "/assignments/export?isActive=true&providerId=prov-A", admin);
	expect_csv_ids(c, ta.assignments, ta.nassignments);
	/* an array is one cell holding its JSON text */
	assert_string_equal(c->fields[1][csv_col(c, "roles")], "[\"DENTIST\",\"HYGIENIST\"]");
	assert_string_equal(c->fields[1][csv_col(c, "isActive")], "true");
	csv_free(c);
}

/* --- NDJSON, content negotiation, gzip --- */

/* Every line of body is one JSON object; returns the ids in order. */
static int
ndjson_ids(const char *body, size_t len, char ids[][25], int max)
{
	const char *p = body, *end = body + len;
	int n = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		bson_t *doc;
		const char *id;

		if (nl == NULL)
			fail_msg("the last NDJSON line has no newline");
		if ((doc = harness_json_text(p, (size_t)(nl - p))) == NULL)
			fail_msg("not a JSON line: %.*s", (int)(nl - p), p);
		if ((id = harness_json_str(doc, "id")) == NULL || n == max)
			fail_msg("a line without id, or too many");
		snprintf(ids[n++], 25, "%s", id);
		bson_destroy(doc);
		p = nl + 1;
	}
	return n;
}

static void
test_ndjson_by_query_and_by_accept(void **state)
{
	const char *accept[] = {"Accept: application/x-ndjson", NULL};
	const char *both[] = {"Accept: text/csv;q=0.5, application/x-ndjson", NULL};
	const char *paths[] = {V1 "/organizations/export?format=ndjson",
			       V1 "/organizations/export"};
	const char *const *headers[] = {NULL, accept};
	char ids[8][25];
	struct harness_response r;

	(void)state;
	for (int i = 0; i < 2; i++) {
		get(paths[i], ta.admin_token, headers[i], &r);
		assert_int_equal(r.status, 200);
		assert_true(
		    strncmp(harness_header(&r, "content-type"), "application/x-ndjson", 20) == 0);
		assert_non_null(strstr(harness_header(&r, "content-disposition"), ".ndjson\""));
		assert_int_equal(ndjson_ids(r.body, r.body_len, ids, 8), 1);
		assert_string_equal(ids[0], ta.org);
		harness_response_free(&r);
	}
	get(V1 "/clinics/export", tb.admin_token, both, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(ndjson_ids(r.body, r.body_len, ids, 8), tb.nclinics);
	harness_response_free(&r);
}

static void
test_organization_row_matches_what_was_created(void **state)
{
	struct csv *c;
	char want[64];
	int row;

	(void)state;
	c = get_csv(V1 "/organizations/export", tb.admin_token);
	assert_int_equal(c->nrows, 2);
	row = csv_find(c, tb.org);
	assert_int_equal(row, 1);
	assert_string_equal(c->fields[row][csv_col(c, "name")], tb.name);
	assert_string_equal(c->fields[row][csv_col(c, "subscriptionTier")], "PRO");
	assert_string_equal(c->fields[row][csv_col(c, "status")], "ACTIVE");
	want_cell("+1 415-555-0100", want, sizeof(want));
	assert_string_equal(c->fields[row][csv_col(c, "phone")], want);
	assert_string_equal(c->fields[row][csv_col(c, "version")], "1");
	csv_free(c);
}

/* Inflates a gzip body (RFC 1952). Caller frees. */
static char *
gunzip(const char *in, size_t len, size_t *outlen)
{
	z_stream z;
	size_t cap = 1 << 20;
	char *out = malloc(cap);
	int rc;

	memset(&z, 0, sizeof(z));
	if (out == NULL || inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		fail_msg("inflateInit2");
	z.next_in = (unsigned char *)in;
	z.avail_in = (unsigned)len;
	z.next_out = (unsigned char *)out;
	z.avail_out = (unsigned)cap;
	rc = inflate(&z, Z_FINISH);
	if (rc != Z_STREAM_END)
		fail_msg("inflate: %d (%s)", rc, z.msg ? z.msg : "-");
	*outlen = z.total_out;
	inflateEnd(&z);
	return out;
}

static void
test_gzip_when_accepted_is_the_same_bytes(void **state)
{
	const char *gz[] = {"Accept-Encoding: gzip", NULL};
	struct harness_response plain, zipped;
	const char *ce;
	char *body;
	size_t len;

	(void)state;
	get(V1 "/clinics/export", admin, NULL, &plain);
	get(V1 "/clinics/export", admin, gz, &zipped);
	assert_int_equal(plain.status, 200);
	assert_int_equal(zipped.status, 200);
	assert_null(harness_header(&plain, "content-encoding"));
	ce = harness_header(&zipped, "content-encoding");
	assert_non_null(ce);
	assert_string_equal(ce, "gzip");
	body = gunzip(zipped.body, zipped.body_len, &len);
	assert_int_equal(len, plain.body_len);
	assert_memory_equal(body, plain.body, len);
	free(body);
	harness_response_free(&plain);
	harness_response_free(&zipped);
}

static void
test_unknown_format_is_400_and_unacceptable_accept_is_406(void **state)
{
	const char *json[] = {"Accept: application/json", NULL};
	const char *refused[] = {"Accept: text/csv;q=0, application/x-ndjson;q=0", NULL};
	struct harness_response r;

	(void)state;
	get(V1 "/clinics/export?format=xlsx", ta.admin_token, NULL, &r);
	client_expect_field_error(&r, 400, "format");
	harness_response_free(&r);
	get(V1 "/clinics/export", ta.admin_token, json, &r);
	client_expect_field_error(&r, 406, "Accept");
	harness_response_free(&r);
	get(V1 "/organizations/export", ta.admin_token, refused, &r);
	client_expect_field_error(&r, 406, "Accept");
	harness_response_free(&r);
	/* the list's paging does not apply to an export */
	get(V1 "/assignments/export?limit=5", ta.admin_token, NULL, &r);
	client_expect_field_error(&r, 400, "limit");
	harness_response_free(&r);
	get(V1 "/assignments/export", NULL, NULL, &r);
	client_expect_problem(&r, 401);
	harness_response_free(&r);
}

/* --- role scoping --- */

static void
test_each_role_exports_its_own_scope(void **state)
{
	struct csv *c;
	char ids[4][25];

	(void)state;
	/* an organization's members see their organization only */
	c = get_csv(V1 "/organizations/export", ta.manager_token);
	memcpy(ids[0], ta.org, 25);
	expect_csv_ids(c, ids, 1);
	csv_free(c);
	c = get_csv(V1 "/organizations/export", ta.provider_token);
	expect_csv_ids(c, ids, 1);
	csv_free(c);
	/* a provider: its own assignments, and the clinics of its active assignments */
	c = get_csv(V1 "/assignments/export", ta.provider_token);
	expect_csv_ids(c, ta.assignments, ta.nassignments);
	csv_free(c);
	c = get_csv(V1 "/clinics/export", ta.provider_token);
	memcpy(ids[0], ta.clinics[0].id, 25);
	memcpy(ids[1], ta.clinics[1].id, 25);
	expect_csv_ids(c, ids, 2);
	csv_free(c);
	/* org_admin: every assignment of its organization, none of B's */
	c = get_csv(V1 "/assignments/export", ta.admin_token);
	memcpy(ids[0], ta.assignments[0], 25);
	memcpy(ids[1], ta.assignments[1], 25);
	memcpy(ids[2], ta.other_assignment, 25);
	expect_csv_ids(c, ids, 3);
	csv_free(c);
	c = get_csv(V1 "/clinics/export", tb.manager_token);
	assert_int_equal(c->nrows - 1, tb.nclinics);
	check_clinic_rows(c, &tb);
	csv_free(c);
}

static void
test_export_of_another_organization_is_404(void **state)
{
	struct harness_response r;
	char *path;

	(void)state;
	path = client_strf(V1 "/clinics/export?organizationId=%s", tb.org);
	get(path, ta.admin_token, NULL, &r);
	client_expect_problem(&r, 404);
	harness_response_free(&r);
	free(path);
	path = client_strf(V1 "/assignments/export?organizationId=%s", ta.org);
	get(path, tb.provider_token, NULL, &r);
	client_expect_problem(&r, 404);
	harness_response_free(&r);
	free(path);
	/* its own organization named explicitly is fine */
	path = client_strf(V1 "/clinics/export?organizationId=%s", ta.org);
	{
		struct csv *c = get_csv(path, ta.admin_token);

		assert_int_equal(c->nrows - 1, ta.nclinics);
		csv_free(c);
	}
	free(path);
}

static void
test_export_requests_count_in_the_export_class(void **state)
{
	struct harness_prom p;
	double n = 0;

	(void)state;
	if (harness_prom_fetch(server.metrics_url, &p) != 0)
		fail_msg("metrics: %s", p.error);
	harness_prom_sum(&p, "enterprise_http_requests_total", "class=\"export\"", &n);
	harness_prom_free(&p);
	assert_true(n >= 10);
}

/* --- a large export: streaming, disconnect, deadline --- */

/* BIG_ORGS organizations of tier ENTERPRISE with large settings, straight into the database. */
static void
seed_big(void)
{
	static int done;
	mongoc_client_t *m;
	mongoc_collection_t *coll;
	mongoc_bulk_operation_t *bulk;
	char *text;
	bson_error_t error;

	if (done++)
		return;
	m = harness_mongo_client(&deps);
	coll = mongoc_client_get_collection(m, HARNESS_DB, "organizations");
	bulk = mongoc_collection_create_bulk_operation_with_opts(coll, NULL);
	if ((text = malloc(BIG_SETTINGS + 1)) == NULL)
		fail_msg("malloc");
	memset(text, 'x', BIG_SETTINGS);
	text[BIG_SETTINGS] = '\0';
	for (int i = 0; i < BIG_ORGS; i++) {
		bson_t doc = BSON_INITIALIZER, settings;
		char name[32];

		snprintf(name, sizeof(name), "Big %04d", i);
		BSON_APPEND_UTF8(&doc, "name", name);
		BSON_APPEND_UTF8(&doc, "status", "ACTIVE");
		BSON_APPEND_UTF8(&doc, "subscriptionTier", "ENTERPRISE");
		BSON_APPEND_DOCUMENT_BEGIN(&doc, "settings", &settings);
		BSON_APPEND_UTF8(&settings, "note", text);
		bson_append_document_end(&doc, &settings);
		BSON_APPEND_DATE_TIME(&doc, "createdAt", 1700000000000 + i);
		BSON_APPEND_INT64(&doc, "version", 1);
		mongoc_bulk_operation_insert(bulk, &doc);
		bson_destroy(&doc);
	}
	if (!mongoc_bulk_operation_execute(bulk, NULL, &error))
		fail_msg("bulk insert: %s", error.message);
	free(text);
	mongoc_bulk_operation_destroy(bulk);
	mongoc_collection_destroy(coll);
	mongoc_client_destroy(m);
}

static char *
big_request(void)
{
	return client_strf(
	    "GET " V1 "/organizations/export?subscriptionTier=ENTERPRISE HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n",
	    admin);
}

/* Waits up to 15 s for needle in s's log; returns the text after it (static), or NULL. */
static const char *
log_wait(const struct harness_server *s, const char *needle)
{
	static char after[128];
	uint64_t end = harness_now_ms() + 15000;

	while (harness_now_ms() < end) {
		char *text = harness_read_file(s->proc.err_path, NULL);
		const char *at = text != NULL ? strstr(text, needle) : NULL;

		if (at != NULL) {
			snprintf(after, sizeof(after), "%s", at + strlen(needle));
			free(text);
			return after;
		}
		free(text);
		harness_sleep_ms(100);
	}
	return NULL;
}

static void
test_a_whole_large_export_streams_chunked(void **state)
{
	struct client_raw_opts o = {0};
	struct client_raw_reply *r = calloc(1, sizeof(*r));
	char *req;
	const char *rows;

	(void)state;
	seed_big();
	req = big_request();
	client_raw_exchange_with(server.port, req, strlen(req), &o, r);
	assert_int_equal(r->status, 200);
	assert_non_null(strstr(r->data, "transfer-encoding: chunked"));
	assert_true(r->total > (size_t)BIG_ORGS * BIG_SETTINGS);
	assert_string_equal(r->tail + 2, "0\r\n\r\n"); /* the last chunk: the body is whole */
	rows = client_strf("export organizations: %d rows in ", BIG_ORGS);
	if (log_wait(&server, rows) == NULL)
		fail_msg("no log line says: %s", rows);
	free((char *)rows);
	free(req);
	free(r);
}

static void
test_a_client_that_goes_away_stops_the_cursor(void **state)
{
	struct client_raw_opts o = {.stop_after = 65536, .rcvbuf = 16384};
	struct client_raw_reply *r = calloc(1, sizeof(*r));
	char *req;
	const char *rows;

	(void)state;
	seed_big();
	req = big_request();
	client_raw_exchange_with(server.port, req, strlen(req), &o, r);
	assert_int_equal(r->status, 200);
	rows = log_wait(&server, "export organizations stopped: the client went away after ");
	if (rows == NULL)
		fail_msg("no log line says the export stopped for a gone client");
	assert_true(atoi(rows) < BIG_ORGS);
	assert_non_null(strstr(rows, "rows; cursor closed"));
	free(req);
	free(r);
}

static void
test_an_export_past_its_timeout_is_cut_off(void **state)
{
	struct harness_conf c = {.workers = 1, .extra = "export_timeout 3000"};
	struct harness_server short_server;
	struct client_raw_opts o = {.pause_after = 16384, .pause_ms = 7000, .rcvbuf = 16384};
	struct client_raw_reply *r = calloc(1, sizeof(*r));
	struct harness_response list;
	char *req, *url;

	(void)state;
	seed_big();
	if (harness_server_start(&short_server, "exports-short", &c, &deps) == -1)
		fail_msg("second server did not start");
	req = big_request();
	client_raw_exchange_with(short_server.port, req, strlen(req), &o, r);
	assert_int_equal(r->status, 200);
	if (log_wait(&short_server, "export organizations stopped: the deadline passed after ") ==
	    NULL)
		fail_msg("no log line says the export stopped at its deadline");
	/* cut off: the connection closed without the last chunk */
	assert_true(strcmp(r->tail + 2, "0\r\n\r\n") != 0);
	assert_true(r->total < (size_t)BIG_ORGS * BIG_SETTINGS);
	/* the short timeout is the export class's alone: a list on the same server answers */
	url = client_strf("%s" V1 "/organizations?limit=1", short_server.url);
	if (harness_get_token(url, admin, &list) != 0)
		fail_msg("GET %s: %s", url, list.error);
	assert_int_equal(list.status, 200);
	harness_response_free(&list);
	free(url);
	harness_server_stop(&short_server);
	free(req);
	free(r);
}

/* The same export over HTTP/2 (h2o's other generator path), gzip'd too. */
static void
test_http2_export_is_the_same(void **state)
{
	struct harness_conf c = {.workers = 1, .http2 = 1};
	struct harness_http_opts o = {.version = HARNESS_HTTP_2};
	const char *headers[] = {"Accept-Encoding: gzip", NULL};
	struct harness_server h2;
	struct harness_response plain, r;
	char *url, *auth, *body;
	const char *hdrs[3];
	size_t len;

	(void)state;
	if (harness_server_start(&h2, "exports-h2", &c, &deps) == -1)
		fail_msg("HTTP/2 server did not start");
	get(V1 "/clinics/export?format=ndjson", ta.admin_token, NULL, &plain);
	assert_int_equal(plain.status, 200);
	url = client_strf("%s" V1 "/clinics/export?format=ndjson", h2.url);
	auth = client_strf("Authorization: Bearer %s", ta.admin_token);
	hdrs[0] = auth;
	hdrs[1] = headers[0];
	hdrs[2] = NULL;
	if (harness_request("GET", url, hdrs, NULL, 0, &o, &r) != 0)
		fail_msg("GET %s: %s", url, r.error);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.http_version, CURL_HTTP_VERSION_2_0);
	assert_string_equal(harness_header(&r, "content-encoding"), "gzip");
	body = gunzip(r.body, r.body_len, &len);
	assert_int_equal(len, plain.body_len);
	assert_memory_equal(body, plain.body, len);
	free(body);
	harness_response_free(&r);
	harness_response_free(&plain);
	free(url);
	free(auth);
	harness_server_stop(&h2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clinics_csv_has_exactly_the_tenants_rows_quoted_and_neutralised),
	    cmocka_unit_test(test_platform_admin_exports_both_tenants),
	    cmocka_unit_test(test_csv_bytes_are_rfc4180_with_crlf_and_doubled_quotes),
	    cmocka_unit_test(test_fields_choose_the_columns_in_order),
	    cmocka_unit_test(test_filters_of_the_list_apply_to_the_export),
	    cmocka_unit_test(test_ndjson_by_query_and_by_accept),
	    cmocka_unit_test(test_organization_row_matches_what_was_created),
	    cmocka_unit_test(test_gzip_when_accepted_is_the_same_bytes),
	    cmocka_unit_test(test_unknown_format_is_400_and_unacceptable_accept_is_406),
	    cmocka_unit_test(test_each_role_exports_its_own_scope),
	    cmocka_unit_test(test_export_of_another_organization_is_404),
	    cmocka_unit_test(test_export_requests_count_in_the_export_class),
	    cmocka_unit_test(test_a_whole_large_export_streams_chunked),
	    cmocka_unit_test(test_a_client_that_goes_away_stops_the_cursor),
	    cmocka_unit_test(test_an_export_past_its_timeout_is_cut_off),
	    cmocka_unit_test(test_http2_export_is_the_same),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
