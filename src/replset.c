/* replset.c: what the service derives from MONGODB_URI's replica-set options (replset.h). */
#include "replset.h"

#include <stdio.h>
#include <string.h>

const char *
replset_mode_name(mongoc_read_mode_t mode)
{
	switch (mode) {
	case MONGOC_READ_PRIMARY:
		return "primary";
	case MONGOC_READ_SECONDARY:
		return "secondary";
	case MONGOC_READ_PRIMARY_PREFERRED:
		return "primaryPreferred";
	case MONGOC_READ_SECONDARY_PREFERRED:
		return "secondaryPreferred";
	case MONGOC_READ_NEAREST:
		return "nearest";
	}
	return "unknown";
}

int
replset_derive(const char *uri_string, struct replset_policy *out, char *err, size_t errlen)
{
	bson_error_t error;
	mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_string, &error);
	const mongoc_read_prefs_t *rp;
	const mongoc_write_concern_t *wc;
	int32_t w;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (uri == NULL) {
		snprintf(err, errlen, "mongodb uri: %s", error.message);
		return -1;
	}
	out->replica_set = mongoc_uri_get_replica_set(uri) != NULL;
	rp = mongoc_uri_get_read_prefs_t(uri);
	out->list_mode = mongoc_read_prefs_get_mode(rp);
	out->max_staleness_s = mongoc_read_prefs_get_max_staleness_seconds(rp);
	out->record_mode = MONGOC_READ_PRIMARY;
	out->retry_writes = mongoc_uri_get_option_as_bool(uri, MONGOC_URI_RETRYWRITES, true);
	out->retry_reads = mongoc_uri_get_option_as_bool(uri, MONGOC_URI_RETRYREADS, true);
	if (out->max_staleness_s != MONGOC_NO_MAX_STALENESS) {
		if (out->list_mode == MONGOC_READ_PRIMARY) {
			snprintf(err, errlen,
				 "mongodb uri: maxStalenessSeconds needs a "
				 "readPreference other than primary");
			goto out;
		}
		if (out->max_staleness_s < REPLSET_MIN_STALENESS_S) {
			snprintf(err, errlen,
				 "mongodb uri: maxStalenessSeconds=%lld is below MongoDB's minimum "
				 "of %d",
				 (long long)out->max_staleness_s, REPLSET_MIN_STALENESS_S);
			goto out;
		}
	}
	wc = mongoc_uri_get_write_concern(uri);
	w = mongoc_write_concern_get_w(wc);
	if (w == MONGOC_WRITE_CONCERN_W_UNACKNOWLEDGED ||
	    w == MONGOC_WRITE_CONCERN_W_ERRORS_IGNORED) {
		snprintf(err, errlen,
			 "mongodb uri: w=%d: the service answers a write only once the "
			 "database acknowledged it",
			 (int)w);
		goto out;
	}
	if (mongoc_write_concern_get_wmajority(wc)) {
		out->write_majority = 1;
	} else if (w == MONGOC_WRITE_CONCERN_W_DEFAULT &&
		   mongoc_write_concern_get_wtag(wc) == NULL && out->replica_set) {
		out->write_majority = 1;
		out->majority_is_ours = 1;
	}
	rc = 0;
out:
	mongoc_uri_destroy(uri);
	return rc;
}

mongoc_read_prefs_t *
replset_apply(mongoc_uri_t *uri, const struct replset_policy *p)
{
	mongoc_read_prefs_t *list = mongoc_read_prefs_copy(mongoc_uri_get_read_prefs_t(uri));
	mongoc_read_prefs_t *primary = mongoc_read_prefs_new(p->record_mode);

	mongoc_uri_set_read_prefs_t(uri, primary);
	mongoc_read_prefs_destroy(primary);
	if (p->majority_is_ours) {
		mongoc_write_concern_t *wc =
		    mongoc_write_concern_copy(mongoc_uri_get_write_concern(uri));

		mongoc_write_concern_set_wmajority(wc, 0);
		mongoc_uri_set_write_concern(uri, wc);
		mongoc_write_concern_destroy(wc);
	}
	return list;
}
