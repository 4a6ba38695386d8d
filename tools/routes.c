/*
 * tools/routes: prints the route tables of router.c, one route a line, for the contract check
 * (tools/contract routes compares them with assets/openapi.json both ways, issue 10):
 *
 *	METHOD PATH [debug]
 *
 * for every method bit of every route of the workers' table and the monitor's. HEAD is not
 * printed: the router serves it wherever GET is served.
 */
#include <stdio.h>

#include "http.h"
#include "router.h"

static void
routes_print(const struct router_table *t)
{
	static const enum http_method methods[] = {HTTP_GET,   HTTP_POST,   HTTP_PUT,
						   HTTP_PATCH, HTTP_DELETE, HTTP_OPTIONS};
	size_t i, k;

	for (i = 0; i < t->nroutes; i++)
		for (k = 0; k < sizeof(methods) / sizeof(methods[0]); k++)
			if (t->routes[i].methods & methods[k])
				printf("%s %s%s\n", http_method_name(methods[k]),
				       t->routes[i].pattern,
				       t->routes[i].debug_only ? " debug" : "");
}

int
main(void)
{
	routes_print(&router_api);
	routes_print(&router_monitor);
	return fflush(stdout) == 0 ? 0 : 1;
}
