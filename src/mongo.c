/*
 * mongo.c: the MongoDB side of a worker (see mongo.h).
 *
 * Command monitoring counts every command by name in the shared region and logs the slow
 * ones as the guide's "Slow query detected" line. The driver calls the started and the
 * finished callback on the thread that runs the command, one command at a time, so the
 * collection of the command in flight is kept in a thread-local slot between the two.
 */
#include "mongo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "json.h"
#include "log.h"
#include "replset.h"

#define MONGO_DEFAULT_DB "enterprise"

struct mongo {
	mongoc_uri_t *uri;
	mongoc_client_pool_t *pool;
	char db[128];
	struct shm_region *shm;
	int slow_ms;
	int log_all;
	mongoc_read_prefs_t *list_prefs; /* lists and reports: the URI's (replset.h) */
};

static _Thread_local char mongo_current_collection[128];

/* The guide's indexes, plus the uniqueness rules of the data model. */
static const struct {
	const char *collection;
	const char *keys; /* extended JSON, order matters */
	int unique;
} mongo_indexes[] = {
    {"organizations", "{\"status\":1,\"subscriptionTier\":1}", 0},
    {"organizations", "{\"status\":1,\"createdAt\":-1}", 0},
    {"organizations", "{\"subscriptionTier\":1,\"createdAt\":-1}", 0},
    {"organizations", "{\"subscriptionEndDate\":1,\"status\":1}", 0},
    {"organizations", "{\"status\":1,\"subscriptionTier\":1,\"name\":1,\"createdAt\":-1}", 0},
    {"clinics", "{\"organizationId\":1,\"status\":1}", 0},
    {"clinics", "{\"organizationId\":1,\"createdAt\":-1}", 0},
    {"clinics", "{\"organizationId\":1,\"status\":1,\"createdAt\":-1}", 0},
    {"clinics", "{\"managerUserId\":1,\"status\":1}", 0},
    {"clinics", "{\"address.state\":1,\"address.city\":1}", 0},
    {"clinics", "{\"organizationId\":1,\"status\":1,\"name\":1,\"code\":1,\"createdAt\":-1}", 0},
    {"clinics", "{\"organizationId\":1,\"code\":1}", 1},
    {"assignments", "{\"providerId\":1,\"clinicId\":1}", 1},
    {"assignments", "{\"providerId\":1,\"isActive\":1,\"assignedAt\":-1}", 0},
    {"assignments", "{\"clinicId\":1,\"isActive\":1,\"assignedAt\":-1}", 0},
    {"assignments", "{\"organizationId\":1,\"isActive\":1,\"assignedAt\":-1}", 0},
    {"assignments", "{\"providerId\":1,\"isPrimaryClinic\":1,\"isActive\":1}", 0},
    {"assignments",
     "{\"providerId\":1,\"isActive\":1,\"clinicId\":1,\"assignedAt\":-1,\"roles\":1}", 0},
    {"assignments",
     "{\"clinicId\":1,\"isActive\":1,\"providerId\":1,\"assignedAt\":-1,\"roles\":1}", 0},
};

static void
mongo_on_started(const mongoc_apm_command_started_t *event)
{
	struct mongo *m = mongoc_apm_command_started_get_context(event);
	const char *name = mongoc_apm_command_started_get_command_name(event);
	const bson_t *cmd = mongoc_apm_command_started_get_command(event);
	bson_iter_t it;

	atomic_fetch_add_explicit(&m->shm->db_commands[shm_db_command_from_name(name)], 1,
				  memory_order_relaxed);
	mongo_current_collection[0] = '\0';
	if (bson_iter_init(&it, cmd) && bson_iter_next(&it) && BSON_ITER_HOLDS_UTF8(&it))
		snprintf(mongo_current_collection, sizeof(mongo_current_collection), "%s",
			 bson_iter_utf8(&it, NULL));
}

/* Documents a reply carries: the first batch of a cursor, or `n`. -1 if unknown. */
static int64_t
mongo_docs_returned(const bson_t *reply)
{
	bson_iter_t it, child;
	int64_t n = 0;

	if (bson_iter_init_find(&it, reply, "cursor") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
	    bson_iter_recurse(&it, &child) &&
	    (bson_iter_find(&child, "firstBatch") || bson_iter_find(&child, "nextBatch")) &&
	    BSON_ITER_HOLDS_ARRAY(&child)) {
		bson_iter_t arr;

		if (bson_iter_recurse(&child, &arr))
			while (bson_iter_next(&arr))
				n++;
		return n;
	}
	if (bson_iter_init_find(&it, reply, "n") && BSON_ITER_HOLDS_NUMBER(&it))
		return bson_iter_as_int64(&it);
	return -1;
}

/*
 * Documents the server examined, when its reply says: an explain's
 * executionStats.totalDocsExamined, or a top-level docsExamined. Ordinary find replies carry
 * neither (MongoDB reports it only in explain, the profiler and its own log; FerretDB never
 * does), so the field is optional in the log line. -1 if unknown.
 */
static int64_t
mongo_docs_examined(const bson_t *reply)
{
	bson_iter_t it, found;

	if (bson_iter_init_find(&it, reply, "docsExamined") && BSON_ITER_HOLDS_NUMBER(&it))
		return bson_iter_as_int64(&it);
	if (bson_iter_init(&it, reply) &&
	    bson_iter_find_descendant(&it, "executionStats.totalDocsExamined", &found) &&
	    BSON_ITER_HOLDS_NUMBER(&found))
		return bson_iter_as_int64(&found);
	return -1;
}

static void
mongo_log_command(struct mongo *m, const char *message, const char *name, int64_t us,
		  const bson_t *reply)
{
	struct buf b;
	struct json j;
	int64_t docs = reply != NULL ? mongo_docs_returned(reply) : -1;
	int64_t examined = reply != NULL ? mongo_docs_examined(reply) : -1;

	buf_init(&b);
	json_init(&j, &b);
	json_object_begin(&j);
	json_kv_string(&j, "message", message);
	json_kv_double(&j, "executionTimeMs", (double)us / 1000.0, 3);
	json_kv_string(&j, "collection", mongo_current_collection);
	json_kv_string(&j, "command", name);
	if (docs >= 0)
		json_kv_int(&j, "docsReturned", docs);
	if (examined >= 0)
		json_kv_int(&j, "docsExamined", examined);
	json_kv_string(&j, "database", m->db);
	if (log_request_id()[0] != '\0')
		json_kv_string(&j, "requestId", log_request_id());
	json_object_end(&j);
	log_json(b.data);
	buf_free(&b);
}

static void
mongo_on_succeeded(const mongoc_apm_command_succeeded_t *event)
{
	struct mongo *m = mongoc_apm_command_succeeded_get_context(event);
	int64_t us = mongoc_apm_command_succeeded_get_duration(event);
	const char *name = mongoc_apm_command_succeeded_get_command_name(event);

	if (us / 1000 >= m->slow_ms) {
		atomic_fetch_add_explicit(&m->shm->db_slow_commands, 1, memory_order_relaxed);
		/* the dashboard's recent slow queries (issue 10) */
		shm_slow_add(m->shm, (uint64_t)clock_wall_ms(), (uint64_t)us, name,
			     mongo_current_collection, log_request_id());
		mongo_log_command(m, "Slow query detected", name, us,
				  mongoc_apm_command_succeeded_get_reply(event));
	} else if (m->log_all) {
		mongo_log_command(m, "Query", name, us,
				  mongoc_apm_command_succeeded_get_reply(event));
	}
}

static void
mongo_on_failed(const mongoc_apm_command_failed_t *event)
{
	struct mongo *m = mongoc_apm_command_failed_get_context(event);

	if (m->log_all)
		mongo_log_command(m, "Query failed",
				  mongoc_apm_command_failed_get_command_name(event),
				  mongoc_apm_command_failed_get_duration(event), NULL);
}

static void
mongo_uri_default(mongoc_uri_t *uri, const char *option, int32_t value)
{
	if (!mongoc_uri_has_option(uri, option))
		mongoc_uri_set_option_as_int32(uri, option, value);
}

/* The longest request budget of any route class, in ms (config.h's timeouts). */
static int32_t
mongo_longest_budget_ms(const struct config *c)
{
	int64_t ms = c->request_timeout_ms;

	if (c->search_timeout_ms > ms)
		ms = c->search_timeout_ms;
	if (c->report_timeout_ms > ms)
		ms = c->report_timeout_ms;
	if (c->export_timeout_ms > ms)
		ms = c->export_timeout_ms;
	if (c->background_timeout_ms > ms)
		ms = c->background_timeout_ms;
	return ms > INT32_MAX - 1000 ? INT32_MAX - 1000 : (int32_t)ms;
}

int
mongo_uri_check(const char *uri_string, char *err, size_t errlen)
{
	bson_error_t error;
	mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_string, &error);
	struct replset_policy p;

	if (uri == NULL) {
		char shown[CONFIG_STR_MAX];

		log_url_redacted(uri_string, shown, sizeof(shown));
		snprintf(err, errlen, "mongodb uri '%s': %s", shown, error.message);
		return -1;
	}
	mongoc_uri_destroy(uri);
	return replset_derive(uri_string, &p, err, errlen);
}

struct mongo *
mongo_new(const struct config *c, struct shm_region *shm, char *err, size_t errlen)
{
	struct mongo *m;
	struct replset_policy policy;
	bson_error_t error;
	mongoc_apm_callbacks_t *cbs;
	const char *db;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->shm = shm;
	m->slow_ms = c->db_slow_query_threshold_ms;
	m->log_all = c->db_enable_query_logging;
	if ((m->uri = mongoc_uri_new_with_error(c->mongodb_uri, &error)) == NULL) {
		char shown[CONFIG_STR_MAX];

		log_url_redacted(c->mongodb_uri, shown, sizeof(shown));
		snprintf(err, errlen, "mongodb uri '%s': %s", shown, error.message);
		free(m);
		return NULL;
	}
	if (replset_derive(c->mongodb_uri, &policy, err, errlen) != 0) {
		mongoc_uri_destroy(m->uri);
		free(m);
		return NULL;
	}
	/* single-record reads on the primary, lists and reports as the URI says (replset.h) */
	m->list_prefs = replset_apply(m->uri, &policy);
	/* a dead server must fail a request in seconds, not the driver's default 30 s */
	mongo_uri_default(m->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 2000);
	mongo_uri_default(m->uri, MONGOC_URI_CONNECTTIMEOUTMS, 2000);
	mongo_uri_default(m->uri, MONGOC_URI_MAXIDLETIMEMS, c->db_idle_timeout_ms);
	/* a hung server must fail a command (502, then a ping decides) instead of holding a
	 * backend thread for the driver's default 300 s: the longest route budget, whose
	 * maxTimeMS the server keeps to, and a second for the answer to arrive */
	mongo_uri_default(m->uri, MONGOC_URI_SOCKETTIMEOUTMS, mongo_longest_budget_ms(c) + 1000);
	if (!mongoc_uri_has_option(m->uri, MONGOC_URI_APPNAME))
		mongoc_uri_set_appname(m->uri, "enterprised");
	db = mongoc_uri_get_database(m->uri);
	snprintf(m->db, sizeof(m->db), "%s", db != NULL && db[0] ? db : MONGO_DEFAULT_DB);

	if ((m->pool = mongoc_client_pool_new_with_error(m->uri, &error)) == NULL) {
		snprintf(err, errlen, "mongodb pool: %s", error.message);
		mongoc_uri_destroy(m->uri);
		mongoc_read_prefs_destroy(m->list_prefs);
		free(m);
		return NULL;
	}
	mongoc_client_pool_set_error_api(m->pool, MONGOC_ERROR_API_VERSION_2);
	mongoc_client_pool_max_size(m->pool, (uint32_t)c->db_max_pool_size);
	cbs = mongoc_apm_callbacks_new();
	mongoc_apm_set_command_started_cb(cbs, mongo_on_started);
	mongoc_apm_set_command_succeeded_cb(cbs, mongo_on_succeeded);
	mongoc_apm_set_command_failed_cb(cbs, mongo_on_failed);
	mongoc_client_pool_set_apm_callbacks(m->pool, cbs, m);
	mongoc_apm_callbacks_destroy(cbs);
	return m;
}

void
mongo_free(struct mongo *m)
{
	if (m == NULL)
		return;
	mongoc_client_pool_destroy(m->pool);
	mongoc_uri_destroy(m->uri);
	mongoc_read_prefs_destroy(m->list_prefs);
	free(m);
}

mongoc_client_t *
mongo_client_pop(struct mongo *m)
{
	return mongoc_client_pool_pop(m->pool);
}

void
mongo_client_push(struct mongo *m, mongoc_client_t *client)
{
	mongoc_client_pool_push(m->pool, client);
}

const mongoc_read_prefs_t *
mongo_list_prefs(const struct mongo *m)
{
	return m != NULL ? m->list_prefs : NULL;
}

const char *
mongo_db_name(const struct mongo *m)
{
	return m->db;
}

int
mongo_ping(mongoc_client_t *client, char *err, size_t errlen)
{
	bson_t cmd = BSON_INITIALIZER;
	bson_error_t error;
	int ok;

	BSON_APPEND_INT32(&cmd, "ping", 1);
	ok = mongoc_client_command_simple(client, "admin", &cmd, NULL, NULL, &error);
	/* a pooled connection from before a server restart fails once, then the driver
	 * reconnects: only a second failure means the server is down */
	if (!ok && error.domain == MONGOC_ERROR_STREAM)
		ok = mongoc_client_command_simple(client, "admin", &cmd, NULL, NULL, &error);
	bson_destroy(&cmd);
	if (!ok) {
		snprintf(err, errlen, "mongodb: %s", error.message);
		return -1;
	}
	return 0;
}

/* MongoDB's default index name: field_direction pairs joined by '_'. */
static void
mongo_index_name(const bson_t *keys, char *out, size_t outlen)
{
	bson_iter_t it;
	size_t used = 0;

	out[0] = '\0';
	if (!bson_iter_init(&it, keys))
		return;
	while (bson_iter_next(&it) && used < outlen) {
		used += (size_t)snprintf(out + used, outlen - used, "%s%s_%d", used ? "_" : "",
					 bson_iter_key(&it), bson_iter_as_int64(&it) < 0 ? -1 : 1);
	}
}

int
mongo_ensure_indexes(mongoc_client_t *client, const char *db, char *err, size_t errlen)
{
	size_t i;
	bson_error_t error;
	char name[256];

	for (i = 0; i < sizeof(mongo_indexes) / sizeof(mongo_indexes[0]); i++) {
		bson_t *keys =
		    bson_new_from_json((const uint8_t *)mongo_indexes[i].keys, -1, &error);
		bson_t cmd = BSON_INITIALIZER, arr, idx;
		int ok;

		if (keys == NULL) {
			snprintf(err, errlen, "index spec %s: %s", mongo_indexes[i].keys,
				 error.message);
			return -1;
		}
		mongo_index_name(keys, name, sizeof(name));
		BSON_APPEND_UTF8(&cmd, "createIndexes", mongo_indexes[i].collection);
		BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &arr);
		BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &idx);
		BSON_APPEND_DOCUMENT(&idx, "key", keys);
		BSON_APPEND_UTF8(&idx, "name", name);
		if (mongo_indexes[i].unique)
			BSON_APPEND_BOOL(&idx, "unique", true);
		bson_append_document_end(&arr, &idx);
		bson_append_array_end(&cmd, &arr);
		ok = mongoc_client_write_command_with_opts(client, db, &cmd, NULL, NULL, &error);
		bson_destroy(&cmd);
		bson_destroy(keys);
		if (!ok) {
			snprintf(err, errlen, "createIndexes %s %s: %s",
				 mongo_indexes[i].collection, name, error.message);
			return -1;
		}
	}
	return 0;
}
