/*
 * assignments.h: the assignment routes, a provider working at a clinic (see router.c for
 * paths and classes, assignments.c for the rules, assignments_related.c for the two
 * embedded lists).
 */
#ifndef ENTERPRISED_ASSIGNMENTS_H
#define ENTERPRISED_ASSIGNMENTS_H

#include "http.h"
#include "validate.h"

/* The body fields, the names ?fields= may give and the list query names (for the fuzz
 * harnesses in tests/fuzz/, which check the parsers against the real tables). */
extern const struct validate_field assignments_fields[];
extern const char *const assignments_projectable[];
extern const char *const assignments_list_params[];
/* the roles of an assignment, NULL-terminated (reports.c counts by them) */
extern const char *const assignments_roles[];

void assignments_create(struct http_req *r);
void assignments_list(struct http_req *r);
/* GET /assignments/export: the list's rows as CSV or NDJSON (export.h) */
void assignments_export(struct http_req *r);
void assignments_get(struct http_req *r);
void assignments_patch(struct http_req *r);
void assignments_delete(struct http_req *r);
/* GET /providers/{providerId}/clinics: active assignments, each with its clinic embedded */
void assignments_related_provider_clinics(struct http_req *r);
/* GET /clinics/{clinicId}/providers: the active assignments of one clinic */
void assignments_related_clinic_providers(struct http_req *r);

#endif
