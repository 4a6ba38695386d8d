/*
 * fuzz_router: a decoded request path through router_match and router_class_of (src/router.c)
 * with the real tables of the workers and the monitor. The first byte picks the method and the
 * debug flag; the rest is the path (at most what struct http_req holds).
 *
 * Properties: no crash; a match fills at most HTTP_MAX_PARAMS parameters, each NUL-terminated
 * and free of '/'; a 405 lists the allowed methods; the class of a route that matched is its
 * route's class.
 */
#include "fuzz.h"

#include "router.h"

static void
fuzz_table(const struct router_table *t, enum http_method m, const char *path, int debug)
{
	struct http_param params[HTTP_MAX_PARAMS];
	const struct route *route = NULL;
	char allow[128];
	enum router_result rr;
	int nparams = 0, i;

	allow[0] = '\0';
	rr = router_match(t, m, path, debug, &route, params, &nparams, allow, sizeof(allow));
	if (rr == ROUTER_FOUND) {
		FUZZ_ASSERT(route != NULL);
		FUZZ_ASSERT(nparams >= 0 && nparams <= HTTP_MAX_PARAMS);
		for (i = 0; i < nparams; i++) {
			FUZZ_ASSERT(memchr(params[i].value, '\0', sizeof(params[i].value)) != NULL);
			FUZZ_ASSERT(strchr(params[i].value, '/') == NULL);
		}
		if (!route->debug_only)
			FUZZ_ASSERT(router_class_of(t, m, path) == route->cls);
	} else if (rr == ROUTER_METHOD_NOT_ALLOWED) {
		FUZZ_ASSERT(allow[0] != '\0');
	} else {
		FUZZ_ASSERT(rr == ROUTER_NOT_FOUND);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum http_method m;
	char path[1024];
	int debug;

	if (size < 1)
		return 0;
	m = (enum http_method)(1u << (data[0] & 7));
	debug = (data[0] >> 3) & 1;
	size--;
	if (size >= sizeof(path))
		size = sizeof(path) - 1;
	memcpy(path, data + 1, size);
	path[size] = '\0';
	fuzz_table(&router_api, m, path, debug);
	fuzz_table(&router_monitor, m, path, debug);
	return 0;
}
