/* accesslog.c: the access log's line formats (see accesslog.h). */
#include "accesslog.h"

#include <inttypes.h>
#include <string.h>

#include "json.h"
#include "log.h"

static void
accesslog_json(struct buf *out, const struct accesslog_entry *e)
{
	struct json j;

	json_init(&j, out);
	json_object_begin(&j);
	json_kv_string(&j, "time", e->time);
	json_kv_string(&j, "remoteAddr", e->peer);
	json_key(&j, "method");
	json_string_len(&j, e->method, e->method_len);
	json_key(&j, "path");
	json_string_len(&j, e->path, e->path_len);
	json_kv_int(&j, "status", e->status);
	json_kv_uint(&j, "bytes", e->bytes);
	json_kv_double(&j, "durationMs", (double)e->us / 1000.0, 3);
	json_kv_int(&j, "worker", e->worker);
	json_key(&j, "requestId");
	if (e->request_id[0] != '\0')
		json_string(&j, e->request_id);
	else
		json_null(&j);
	json_object_end(&j);
	buf_appendc(out, '\n');
}

void
accesslog_append(struct buf *out, int json, const struct accesslog_entry *e)
{
	if (json) {
		accesslog_json(out, e);
		return;
	}
	buf_appendf(out, "%s %s ", e->time, e->peer);
	log_escape(out, e->method, e->method_len, 1);
	buf_appendc(out, ' ');
	log_escape(out, e->path, e->path_len, 1);
	buf_appendf(out, " %d %zu %" PRIu64 " %d ", e->status, e->bytes, e->us, e->worker);
	/* the id is from the client when well formed: escaped like the other client bytes */
	if (e->request_id[0] != '\0')
		log_escape(out, e->request_id, strlen(e->request_id), 1);
	else
		buf_appendc(out, '-');
	buf_appendc(out, '\n');
}
