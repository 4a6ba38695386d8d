/*
 * export.h: GET /organizations/export, /clinics/export, /assignments/export (issue 9): the
 * rows of a list (same filters, role scope and ?fields=) as CSV (RFC 4180) or NDJSON,
 * streamed while the MongoDB cursor yields them (http_stream_defer), so memory stays flat
 * whatever the row count.
 *
 * The resource files build the call (filter, scope, projection) with the same builder their
 * list uses and hand it here with a struct export_resource; everything format-specific is
 * in this file.
 */
#ifndef ENTERPRISED_EXPORT_H
#define ENTERPRISED_EXPORT_H

#include <stddef.h>

#include "api.h"

enum export_format { EXPORT_CSV, EXPORT_NDJSON };

/* What a resource exports. */
struct export_resource {
	const char *name;	    /* "organizations": the file name and the log lines */
	const char *collection;	    /* MongoDB collection */
	const char *const *columns; /* CSV columns without ?fields= (dotted paths, "id" first) */
	/* backend thread, before the query: narrows call->filter (a provider's clinics); NULL
	 * when the loop thread's filter is the whole scope. 0, or -1 with error set. */
	int (*scope)(struct backend *b, struct api_call *call, bson_error_t *error);
};

/* The query parameters every export takes besides the list's filters. */
#define EXPORT_PARAMS "fields", "format"

/*
 * Loop thread: the format from `format=csv|ndjson` (which wins), else from Accept (text/csv,
 * application/x-ndjson, their wildcards; none: CSV). Unknown format= is 400 naming `format`;
 * an Accept that allows neither type is 406 naming `Accept` (RFC 9110 §15.5.7: the resource
 * has no representation the client accepts). Returns 0, or -1 when answered.
 */
int export_format_or_answer(struct http_req *r, enum export_format *fmt);

/*
 * Loop thread: streams the rows of call->filter (already scoped) with call->projection in
 * fmt. Takes call. The columns are ?fields= in its order after "id" (a field with nested
 * default columns, such as address, stands for them), or res->columns.
 */
void export_start(struct http_req *r, const struct export_resource *res, struct api_call *call,
		  enum export_format fmt);

/* --- CSV (pure; exported for the unit tests) --- */

/*
 * Appends s[0..len) as one CSV field (RFC 4180 §2): quoted when it holds a comma, a double
 * quote, CR or LF (quotes doubled inside). When neutralise is set and s starts with '=', '+',
 * '-', '@', TAB or CR, a single quote is put before it and the field is quoted (OWASP CSV
 * injection), so a spreadsheet shows the text instead of evaluating it.
 */
void export_csv_field(struct buf *out, const char *s, size_t len, int neutralise);
/* Appends the value at path (dotted; "id" is _id) of doc as one field: strings as they are
 * (neutralised), ids as 24 hex digits, dates ISO-8601, numbers and booleans as in JSON,
 * objects and arrays as JSON text, absent and null as an empty field. */
void export_csv_value(struct buf *out, const bson_t *doc, const char *path);
/* One record: the columns' fields, comma-separated, ended by CRLF. */
void export_csv_row(struct buf *out, const bson_t *doc, char *const *columns, size_t ncolumns);

#endif
