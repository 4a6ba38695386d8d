/*
 * mongo.h: MongoDB access of one worker: a mongoc_client_pool made from MONGODB_URI and the
 * pool settings, command monitoring into the shared region, and the guide's indexes.
 */
#ifndef ENTERPRISED_MONGO_H
#define ENTERPRISED_MONGO_H

#include <stddef.h>

#include <mongoc/mongoc.h>

#include "config.h"
#include "shm.h"

struct mongo;

/* Parses the URI and makes the pool (no connection yet). NULL with err on a bad URI. */
struct mongo *mongo_new(const struct config *c, struct shm_region *shm, char *err, size_t errlen);
void mongo_free(struct mongo *m);
mongoc_client_t *mongo_client_pop(struct mongo *m);
void mongo_client_push(struct mongo *m, mongoc_client_t *client);
const char *mongo_db_name(const struct mongo *m);
/* The read preference of lists, their counts and reports: MONGODB_URI's readPreference (with
 * maxStalenessSeconds); every other read goes to the primary (replset.h, issue 11). */
const mongoc_read_prefs_t *mongo_list_prefs(const struct mongo *m);

/* Pings the server; 0, or -1 with err. */
int mongo_ping(mongoc_client_t *client, char *err, size_t errlen);
/* Creates every index of the guide (idempotent); 0, or -1 with err. */
int mongo_ensure_indexes(mongoc_client_t *client, const char *db, char *err, size_t errlen);
/* Checks a URI without making a pool (for `enterprised -t`), replica-set options included
 * (replset_derive); 0, or -1 with err. */
int mongo_uri_check(const char *uri, char *err, size_t errlen);

#endif
