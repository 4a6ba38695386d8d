/* organizations.h: the organization routes (see router.c for paths and classes). */
#ifndef ENTERPRISED_ORGANIZATIONS_H
#define ENTERPRISED_ORGANIZATIONS_H

#include "http.h"
#include "validate.h"

/* The body fields, the names ?fields= may give and the list query names (for the fuzz
 * harnesses in tests/fuzz/, which check the parsers against the real tables). */
extern const struct validate_field organizations_fields[];
extern const char *const organizations_projectable[];
extern const char *const organizations_list_params[];
/* status and subscriptionTier values, NULL-terminated (reports.c counts by them) */
extern const char *const organizations_statuses[];
extern const char *const organizations_tiers[];

void organizations_create(struct http_req *r);
void organizations_list(struct http_req *r);
/* GET /organizations/export: the list's rows as CSV or NDJSON (export.h) */
void organizations_export(struct http_req *r);
void organizations_search(struct http_req *r);
void organizations_get(struct http_req *r);
void organizations_patch(struct http_req *r);
void organizations_delete(struct http_req *r);
void organizations_stats(struct http_req *r);

#endif
