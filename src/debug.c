/* debug.c: routes for tests and diagnosis (see debug.h). */
#include "debug.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>

#include "json.h"
#include "query.h"

#define DEBUG_SLEEP_MAX_MS 600000

struct debug_sleep_arg {
	long ms;
};

static void
debug_sleep_work(struct backend *b, void *arg, struct http_response *res)
{
	struct debug_sleep_arg *a = arg;
	struct timespec ts = {a->ms / 1000, (a->ms % 1000) * 1000000L};
	struct buf body;
	struct json j;

	(void)b;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	buf_init(&body);
	json_init(&j, &body);
	json_object_begin(&j);
	json_kv_int(&j, "sleptMs", a->ms);
	json_object_end(&j);
	http_response_json(res, 200, &body);
}

void
debug_sleep(struct http_req *r)
{
	struct debug_sleep_arg *a;
	char value[32], *end;
	long ms;

	if (query_value(r->query, r->query_len, "ms", value, sizeof(value)) <= 0) {
		http_respond_problem(r, 400, "query parameter ms (milliseconds) is required");
		return;
	}
	errno = 0;
	ms = strtol(value, &end, 10);
	if (*end != '\0' || errno != 0 || ms < 0 || ms > DEBUG_SLEEP_MAX_MS) {
		http_respond_problem(r, 400, "ms must be an integer between 0 and 600000");
		return;
	}
	if ((a = malloc(sizeof(*a))) == NULL)
		abort();
	a->ms = ms;
	http_defer(r, debug_sleep_work, a, free);
}

void
debug_seccomp(struct http_req *r)
{
	struct buf body;
	struct json j;

	/* 0xffffffff only reads the persona; the call itself is what the filter forbids */
	syscall(SYS_personality, 0xffffffffUL);
	buf_init(&body);
	json_init(&j, &body);
	json_object_begin(&j);
	json_kv_bool(&j, "survived", 1);
	json_object_end(&j);
	http_respond_json(r, 200, &body);
}
