/*
 * assignments_int.h: what assignments.c shares with assignments_related.c (the embedded
 * lists). Private: included by assignments*.c only.
 */
#ifndef ENTERPRISED_ASSIGNMENTS_INT_H
#define ENTERPRISED_ASSIGNMENTS_INT_H

#include <mongoc/mongoc.h>

#include "api.h"
#include "backend.h"
#include "http.h"

#define ASSIGN_COLLECTION "assignments"
#define CLINIC_COLLECTION "clinics"
#define ASSIGN_PROVIDER_MAX 64 /* bytes of a providerId */

/* Appends the caller's read scope to filter: nothing for platform_admin, the organization
 * for the others, and for a provider also its own providerId. */
void assignments_scope(const struct auth_principal *who, bson_t *filter);

/* Backend thread: the clinic of id as the caller may see it (inside its organization unless
 * platform_admin) into *out (NULL when not visible; the caller destroys it), with only
 * organizationId and managerUserId. 0, or -1 with error. */
int assignments_load_clinic(mongoc_collection_t *clinics, const struct api_call *call,
			    const bson_oid_t *id, bson_t **out, bson_error_t *error);

/* Backend thread: the assignments and clinics collections into *coll and *clinics. 0, or -1
 * with res answered 503 (free what was got with assignments_collections_free either way). */
int assignments_collections(struct backend *b, mongoc_collection_t **coll,
			    mongoc_collection_t **clinics, struct http_response *res);

/* Destroys the collections of assignments_collections; NULL ones are skipped. */
void assignments_collections_free(mongoc_collection_t *coll, mongoc_collection_t *clinics);

#endif
