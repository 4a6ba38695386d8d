/*
 * replset.h: what the service derives from MONGODB_URI's replica-set options (issue 11). The
 * driver honours the options itself (replicaSet, readPreference, maxStalenessSeconds, w,
 * retryWrites, retryReads); this file decides, in one pure function, what the service does
 * with them per kind of read and write, and which URIs it refuses at start (`enterprised -t`):
 *	- single-record reads, and every read a write depends on (If-Match, existence checks,
 *	  the records behind a page of ids), always go to the PRIMARY: a caller reads what it
 *	  has just written, whatever the URI's readPreference says;
 *	- lists (and their counts) and reports use the URI's readPreference, so an operator may
 *	  send them to secondaries, bounded by maxStalenessSeconds;
 *	- writes use the URI's w; when the URI names a replicaSet and no w, w=majority (an
 *	  acknowledged write then survives a failover);
 *	- refused: w=0 (the service answers a write only once the database acknowledged it), and
 *	  maxStalenessSeconds below MongoDB's minimum of 90 s, or with readPreference=primary
 *	  (the server-selection specification's rules, which MongoDB enforces anyway).
 */
#ifndef ENTERPRISED_REPLSET_H
#define ENTERPRISED_REPLSET_H

#include <stddef.h>
#include <stdint.h>

#include <mongoc/mongoc.h>

/* MongoDB's smallest maxStalenessSeconds (server selection spec: 90 s, or more with a long
 * heartbeat) */
#define REPLSET_MIN_STALENESS_S 90

struct replset_policy {
	int replica_set;		/* the URI names replicaSet */
	mongoc_read_mode_t list_mode;	/* lists, counts and reports */
	int64_t max_staleness_s;	/* of list_mode; -1: none */
	mongoc_read_mode_t record_mode; /* single-record reads: always MONGOC_READ_PRIMARY */
	int write_majority;		/* writes wait for a majority (URI's w=majority, or ours) */
	int majority_is_ours;		/* w=majority is the service's default, not the URI's */
	int retry_writes;		/* the URI's retryWrites (driver default: true) */
	int retry_reads;		/* the URI's retryReads (driver default: true) */
};

/*
 * Derives the policy from a MongoDB URI string (parsed with the driver, no connection). 0, or
 * -1 with err: a URI the driver refuses, w=0, or a maxStalenessSeconds MongoDB would refuse.
 * Rule: issue 11; MongoDB's server selection specification (maxStalenessSeconds >= 90).
 */
int replset_derive(const char *uri, struct replset_policy *out, char *err, size_t errlen);

/*
 * Applies p to a parsed URI before the pool is made from it: the client's default read
 * preference becomes PRIMARY (single-record reads), and w=majority is set when it is ours.
 * Returns the read preference of lists and reports (the URI's own; caller destroys).
 */
mongoc_read_prefs_t *replset_apply(mongoc_uri_t *uri, const struct replset_policy *p);

/* "primary", "secondaryPreferred", ... for logs and documents. */
const char *replset_mode_name(mongoc_read_mode_t mode);

#endif
