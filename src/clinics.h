/* clinics.h: the clinic routes (see router.c for paths and classes, clinics.c for the rules). */
#ifndef ENTERPRISED_CLINICS_H
#define ENTERPRISED_CLINICS_H

#include "http.h"
#include "validate.h"

/* The body fields, the names ?fields= may give and the list query names (for the fuzz
 * harnesses in tests/fuzz/, which check the parsers against the real tables). */
extern const struct validate_field clinics_fields[];
extern const char *const clinics_projectable[];
extern const char *const clinics_list_params[];

void clinics_create(struct http_req *r);   /* POST /organizations/{orgId}/clinics */
void clinics_list(struct http_req *r);	   /* GET /clinics */
void clinics_org_list(struct http_req *r); /* GET /organizations/{orgId}/clinics */
void clinics_export(struct http_req *r);   /* GET /clinics/export (export.h) */
void clinics_search(struct http_req *r);   /* GET /clinics/search?q= */
void clinics_get(struct http_req *r);	   /* GET /clinics/{id} */
void clinics_patch(struct http_req *r);	   /* PATCH /clinics/{id} */
void clinics_delete(struct http_req *r);   /* DELETE /clinics/{id} */

#endif
