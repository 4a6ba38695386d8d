/* organizations.h: the organization routes (see router.c for paths and classes). */
#ifndef ENTERPRISED_ORGANIZATIONS_H
#define ENTERPRISED_ORGANIZATIONS_H

#include "http.h"

void organizations_create(struct http_req *r);
void organizations_list(struct http_req *r);
void organizations_search(struct http_req *r);
void organizations_get(struct http_req *r);
void organizations_patch(struct http_req *r);
void organizations_delete(struct http_req *r);
void organizations_stats(struct http_req *r);

#endif
