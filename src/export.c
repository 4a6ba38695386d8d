/*
 * export.c: CSV and NDJSON exports, streamed (see export.h).
 *
 * The loop thread checks the request (format, columns) and hands an export job to a thread of
 * the export pool through http_stream_defer. That thread runs the list's query with no limit,
 * in natural order (the order the rows were written in: no sort, so the database streams the
 * rows instead of sorting them all first), and writes rows into the stream's batch; a batch
 * of EXPORT_BATCH bytes (or whatever a slow cursor gave within EXPORT_LINGER_MS) is handed to
 * the loop, and the next one is written while it is sent.
 * When the client is slower than the database, the thread waits (back-pressure), so a worker
 * holds at most three batches per export whatever the row count.
 *
 * How it ends, and what the log says:
 *	- all rows sent: one info line with rows, bytes and milliseconds;
 *	- the client went away (h2o stops the stream): the cursor is destroyed at the next
 *	  batch, which closes it on the server, and the line says after how many rows;
 *	- the export deadline (export_timeout, REQUEST_TIMEOUT_EXPORT) passed: before the first
 *	  byte the answer is 504 like any request; after it the body is cut off (HTTP/1.1: no
 *	  last chunk, the connection closes; HTTP/2: RST_STREAM), so no client takes a partial
 *	  file for a whole one; a warning says so;
 *	- a database error: before the first byte the usual problem answer (store_fail), after
 *	  it the body is cut off the same way.
 *
 * CSV (RFC 4180): a header row, then one record per document; UTF-8, CRLF, fields quoted
 * only when they must be. A nested field (address.city) is a dotted column; a whole object
 * or array (settings, roles) is one field holding its JSON text. Strings that a spreadsheet
 * would evaluate as a formula are neutralised (OWASP "CSV injection"); numbers, dates and ids
 * come from the server and are written as they are, so a negative number stays a number.
 */
#include "export.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "json.h"
#include "log.h"
#include "query.h"
#include "store.h"
#include "worker.h"

#define EXPORT_BATCH 65536   /* bytes handed to the loop at a time */
#define EXPORT_LINGER_MS 200 /* rows wait no longer for their batch to fill */
#define EXPORT_MAX_COLUMNS 64

/* One export in flight: owned by the stream, freed on the loop thread (export_job_free). */
struct export_job {
	const struct export_resource *res;
	struct api_call *call;
	enum export_format fmt;
	int head_only; /* HEAD: the head, no rows read */
	int db_status; /* the status a database error after the head would have been */
	char *columns[EXPORT_MAX_COLUMNS];
	size_t ncolumns;
	char filename[96];
};

static void
export_job_free(void *p)
{
	struct export_job *job = p;
	size_t i;

	if (job == NULL)
		return;
	for (i = 0; i < job->ncolumns; i++)
		free(job->columns[i]);
	api_call_free(job->call);
	free(job);
}

/* --- the request --- */

/* The q of one media range's parameters (RFC 9110 §12.4.2): 1 without q=, 0 for junk. */
static double
export_accept_q(const char *params, size_t len)
{
	const char *q = NULL;
	size_t i;

	for (i = 0; i + 2 <= len; i++) {
		if ((params[i] == 'q' || params[i] == 'Q') && params[i + 1] == '=' &&
		    (i == 0 || params[i - 1] == ';' || params[i - 1] == ' ')) {
			q = params + i + 2;
			break;
		}
	}
	if (q == NULL)
		return 1.0;
	if (q[0] == '1')
		return 1.0;
	if (q[0] != '0')
		return 0.0;
	return strtod(q, NULL); /* "0", "0.5": at most three decimals by the RFC */
}

/* 1 when the media range range[0..len) (no parameters) covers type ("text/csv"). */
static int
export_range_covers(const char *range, size_t len, const char *type)
{
	const char *slash = strchr(type, '/');
	size_t major = (size_t)(slash - type);

	if (len == 3 && memcmp(range, "*/*", 3) == 0)
		return 1;
	if (len == major + 2 && strncasecmp(range, type, major + 1) == 0 && range[major + 1] == '*')
		return 1;
	return len == strlen(type) && strncasecmp(range, type, len) == 0;
}

/* The best q Accept gives each type: q[EXPORT_CSV], q[EXPORT_NDJSON]. */
static void
export_accept(const char *v, size_t len, double q[2])
{
	static const char *const types[2] = {"text/csv", "application/x-ndjson"};
	size_t at = 0;

	q[0] = q[1] = 0.0;
	while (at < len) {
		size_t end = at, semi, r0, r1;
		int t;

		while (end < len && v[end] != ',')
			end++;
		r0 = at;
		while (r0 < end && (v[r0] == ' ' || v[r0] == '\t'))
			r0++;
		semi = r0;
		while (semi < end && v[semi] != ';')
			semi++;
		r1 = semi;
		while (r1 > r0 && (v[r1 - 1] == ' ' || v[r1 - 1] == '\t'))
			r1--;
		for (t = 0; t < 2; t++) {
			if (export_range_covers(v + r0, r1 - r0, types[t])) {
				double qt = semi < end
						? export_accept_q(v + semi + 1, end - semi - 1)
						: 1.0;

				if (qt > q[t])
					q[t] = qt;
			}
		}
		at = end + 1;
	}
}

int
export_format_or_answer(struct http_req *r, enum export_format *fmt)
{
	static const char *const formats[] = {"csv", "ndjson", NULL};
	struct validate_errors errs = {0};
	char format[16];
	const char *accept;
	size_t len = 0;
	double q[2];
	int present;

	if (api_query_enum_or_answer(r, "format", formats, format, sizeof(format), &present) != 0)
		return -1;
	if (present) {
		*fmt = strcmp(format, "csv") == 0 ? EXPORT_CSV : EXPORT_NDJSON;
		return 0;
	}
	*fmt = EXPORT_CSV;
	if ((accept = http_header(r, "accept", &len)) == NULL || len == 0)
		return 0;
	export_accept(accept, len, q);
	if (q[EXPORT_CSV] > 0 && q[EXPORT_CSV] >= q[EXPORT_NDJSON])
		return 0;
	if (q[EXPORT_NDJSON] > 0) {
		*fmt = EXPORT_NDJSON;
		return 0;
	}
	validate_error_add(&errs, "Accept", "must allow text/csv or application/x-ndjson");
	api_answer_errors(r, 406, "an export is text/csv or application/x-ndjson", &errs);
	return -1;
}

static void
export_column_add(struct export_job *job, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < job->ncolumns; i++)
		if (strlen(job->columns[i]) == len && memcmp(job->columns[i], name, len) == 0)
			return;
	if (job->ncolumns == EXPORT_MAX_COLUMNS)
		return;
	if ((job->columns[job->ncolumns] = strndup(name, len)) == NULL)
		abort();
	job->ncolumns++;
}

/* "id", then ?fields= in its order (already checked by api_fields_or_answer), each name with
 * default columns under it (address) standing for them; without fields=, the defaults. */
static void
export_columns(struct http_req *r, struct export_job *job)
{
	const char *const *d;
	char list[600];
	int n = query_value(r->query, r->query_len, "fields", list, sizeof(list));
	char *item, *save = NULL;

	if (n <= 0) {
		for (d = job->res->columns; *d != NULL; d++)
			export_column_add(job, *d, strlen(*d));
		return;
	}
	export_column_add(job, "id", 2);
	for (item = strtok_r(list, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		size_t len = strlen(item);
		int nested = 0;

		for (d = job->res->columns; *d != NULL; d++) {
			if (strncmp(*d, item, len) == 0 && (*d)[len] == '.') {
				export_column_add(job, *d, strlen(*d));
				nested = 1;
			}
		}
		if (!nested)
			export_column_add(job, item, len);
	}
}

static void export_work(struct backend *b, void *arg, struct http_stream *s);

void
export_start(struct http_req *r, const struct export_resource *res, struct api_call *call,
	     enum export_format fmt)
{
	struct export_job *job = calloc(1, sizeof(*job));
	struct http_response refused;
	char stamp[32];
	time_t now = (time_t)(clock_wall_ms() / 1000);
	struct tm tm;

	if (job == NULL)
		abort();
	job->res = res;
	job->call = call;
	job->fmt = fmt;
	job->head_only = r->method == HTTP_HEAD;
	if (fmt == EXPORT_CSV)
		export_columns(r, job);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(job->filename, sizeof(job->filename), "%s-%s.%s", res->name, stamp,
		 fmt == EXPORT_CSV ? "csv" : "ndjson");
	http_response_init(&refused);
	if (store_refused(r->worker, &refused)) { /* MongoDB's breaker is open */
		export_job_free(job);
		http_respond(r, &refused);
		return;
	}
	http_response_free(&refused);
	http_stream_defer(r, export_work, job, export_job_free);
}

/* --- CSV --- */

void
export_csv_field(struct buf *out, const char *s, size_t len, int neutralise)
{
	int prefix = neutralise && len > 0 && s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL;
	int quote = prefix;
	size_t i, start;

	for (i = 0; i < len && !quote; i++)
		quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
	if (!quote) {
		buf_append(out, s, len);
		return;
	}
	buf_appendc(out, '"');
	if (prefix)
		buf_appendc(out, '\'');
	for (i = start = 0; i < len; i++) {
		if (s[i] == '"') {
			buf_append(out, s + start, i + 1 - start);
			buf_appendc(out, '"');
			start = i + 1;
		}
	}
	buf_append(out, s + start, len - start);
	buf_appendc(out, '"');
}

void
export_csv_value(struct buf *out, const bson_t *doc, const char *path)
{
	bson_iter_t it;
	char text[32];
	const char *s;
	uint32_t len;

	if (strcmp(path, "id") == 0)
		path = "_id";
	if (!bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, path, &it))
		return;
	switch (bson_iter_type(&it)) {
	case BSON_TYPE_UTF8:
		s = bson_iter_utf8(&it, &len);
		if (json_utf8_valid(s, len)) {
			export_csv_field(out, s, len, 1);
		} else { /* never stored by us; shown with U+FFFD, as the JSON writer does */
			struct buf tmp;

			buf_init(&tmp);
			json_escape(&tmp, s, len);
			export_csv_field(out, tmp.data != NULL ? tmp.data : "", tmp.len, 1);
			buf_free(&tmp);
		}
		return;
	case BSON_TYPE_OID:
		bson_oid_to_string(bson_iter_oid(&it), text);
		buf_appends(out, text);
		return;
	case BSON_TYPE_DATE_TIME:
		json_iso8601(bson_iter_date_time(&it), text);
		buf_appends(out, text);
		return;
	case BSON_TYPE_NULL:
	case BSON_TYPE_UNDEFINED:
		return;
	default: { /* numbers, booleans, objects and arrays: their JSON text */
		struct buf tmp;
		struct json j;

		buf_init(&tmp);
		json_init(&j, &tmp);
		json_bson_value(&j, &it);
		if (tmp.len >= 2 && tmp.data[0] == '"') /* decimal128 and the like: the text */
			export_csv_field(out, tmp.data + 1, tmp.len - 2, 0);
		else
			export_csv_field(out, tmp.data != NULL ? tmp.data : "", tmp.len, 0);
		buf_free(&tmp);
		return;
	}
	}
}

void
export_csv_row(struct buf *out, const bson_t *doc, char *const *columns, size_t ncolumns)
{
	size_t i;

	for (i = 0; i < ncolumns; i++) {
		if (i > 0)
			buf_appendc(out, ',');
		export_csv_value(out, doc, columns[i]);
	}
	buf_append(out, "\r\n", 2);
}

/* --- the backend thread --- */

static void
export_row(struct export_job *job, struct buf *out, const bson_t *doc)
{
	struct json j;

	if (job->fmt == EXPORT_CSV) {
		export_csv_row(out, doc, job->columns, job->ncolumns);
		return;
	}
	json_init(&j, out);
	json_bson_document(&j, doc);
	buf_appendc(out, '\n');
}

/* The 200 head: type, attachment, no caching (the body is the data of the moment). */
static void
export_head(struct export_job *job, struct http_response *head)
{
	char disposition[160];

	head->status = 200;
	head->content_type = job->fmt == EXPORT_CSV ? "text/csv; charset=utf-8; header=present"
						    : "application/x-ndjson; charset=utf-8";
	snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s\"", job->filename);
	http_response_header(head, "content-disposition", disposition);
	http_response_header_static(head, "cache-control", "no-store");
	http_response_header_static(head, "x-content-type-options", "nosniff");
}

/*
 * Opens the cursor and reads its first document. 0 with *doc (NULL when there are no rows);
 * -1 with head answered (the problem) when the export cannot start, -2 when it could not
 * start for a database error (which MongoDB's breaker hears of).
 */
static int
export_open(struct backend *b, struct export_job *job, mongoc_collection_t **coll,
	    mongoc_cursor_t **cursor, const bson_t **doc, struct http_response *head)
{
	struct api_call *call = job->call;
	bson_error_t error;
	bson_t *opts;

	if (api_budget_spent(call)) {
		http_response_problem(head, 504,
				      "the request did not complete within its deadline");
		return -1;
	}
	if (!store_breaker_allow(b, head))
		return -1;
	if (job->res->scope != NULL && job->res->scope(b, call, &error) != 0) {
		store_fail(head, &error, "export: scope");
		return -2;
	}
	if ((*coll = store_collection(b, job->res->collection)) == NULL) {
		http_response_problem(head, 503, "the database is unavailable");
		return -2;
	}
	/* the server's batch sizes: a small first batch, so the first byte leaves early */
	opts = store_find_opts(call);
	*cursor = mongoc_collection_find_with_opts(*coll, call->filter, opts, NULL);
	bson_destroy(opts);
	if (!mongoc_cursor_next(*cursor, doc)) {
		*doc = NULL;
		if (mongoc_cursor_error(*cursor, &error)) {
			store_fail(head, &error, "export");
			return -2;
		}
	}
	return 0;
}

/* Writes every row, a batch at a time. 0 when all went out, else why it stopped. */
static const char *
export_rows(struct export_job *job, struct http_stream *s, mongoc_cursor_t *cursor,
	    const bson_t *doc, size_t *rows)
{
	struct buf *out = http_stream_buf(s);
	uint64_t flushed = clock_mono_ms(), now;
	bson_error_t error;
	int rc;

	if (job->fmt == EXPORT_CSV) {
		size_t i;

		for (i = 0; i < job->ncolumns; i++) {
			if (i > 0)
				buf_appendc(out, ',');
			export_csv_field(out, job->columns[i], strlen(job->columns[i]), 1);
		}
		buf_append(out, "\r\n", 2);
	}
	while (doc != NULL) {
		export_row(job, out, doc);
		(*rows)++;
		/* a full batch goes at once; rows of a slow cursor wait EXPORT_LINGER_MS at most */
		now = (*rows & 63) == 0 ? clock_mono_ms() : flushed;
		if (out->len >= EXPORT_BATCH || now - flushed >= EXPORT_LINGER_MS) {
			if ((rc = http_stream_flush(s, job->call->deadline_ms)) != 0)
				return rc == -2 || api_budget_spent(job->call)
					   ? "the deadline passed"
					   : "the client went away";
			flushed = clock_mono_ms();
		}
		if ((*rows & 1023) == 0 && api_budget_spent(job->call))
			return "the deadline passed";
		if (!mongoc_cursor_next(cursor, &doc))
			doc = NULL;
	}
	if (mongoc_cursor_error(cursor, &error)) {
		struct http_response failed; /* what store_fail makes of it: logged, and a status */

		http_response_init(&failed);
		store_fail(&failed, &error, "export");
		job->db_status = failed.status;
		http_response_free(&failed);
		return "the database failed";
	}
	return NULL;
}

static void
export_work(struct backend *b, void *arg, struct http_stream *s)
{
	struct export_job *job = arg;
	mongoc_collection_t *coll = NULL;
	mongoc_cursor_t *cursor = NULL;
	const bson_t *doc = NULL;
	struct http_response head;
	uint64_t start = clock_mono_ms();
	const char *stopped = NULL;
	size_t rows = 0;
	int rc;

	http_response_init(&head);
	if ((rc = export_open(b, job, &coll, &cursor, &doc, &head)) != 0) {
		if (rc == -2)
			store_breaker_outcome(b, head.status);
		http_stream_head(s, &head);
		goto out;
	}
	export_head(job, &head);
	if (http_stream_head(s, &head) != 0) /* cancelled: gone, or answered 504 already */
		stopped =
		    api_budget_spent(job->call) ? "the deadline passed" : "the client went away";
	else if (job->head_only)
		goto out;
	else
		stopped = export_rows(job, s, cursor, doc, &rows);
	/* the database answered the export's query; a later error has its own say */
	store_breaker_outcome(b, job->db_status != 0 ? job->db_status : 200);
	if (stopped == NULL) {
		log_info("export %s: %zu rows in %" PRIu64 " ms", job->res->name, rows,
			 clock_mono_ms() - start);
	} else {
		/* the cursor is destroyed below, which kills it on the server */
		http_stream_abort(s);
		log_warn("export %s stopped: %s after %zu rows; cursor closed", job->res->name,
			 stopped, rows);
	}
out:
	http_response_free(&head);
	if (cursor != NULL)
		mongoc_cursor_destroy(cursor);
	if (coll != NULL)
		mongoc_collection_destroy(coll);
}
