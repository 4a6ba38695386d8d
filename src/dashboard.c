/*
 * dashboard.c: the monitor's live dashboard (see dashboard.h).
 *
 * History without work on the request path, as the monitor's windows (monitor.c): the region
 * only holds totals since start. Each second the monitor copies them into a ring of
 * DASHBOARD_WINDOW + 1 samples; the difference of the last two is the last second (the charts'
 * point), the difference of the newest and the oldest is the last minute (the table). A copy
 * of the latency histograms is about 62 KiB, so the ring is about 3.8 MiB of the monitor's
 * heap; the charts keep only four numbers per class and second.
 *
 * The page, its script and style are put into the binary by .incbin like assets/openapi.json
 * (src/openapi.c); the chart library is read from where tools/deps installed it, on request
 * (the monitor serves operators, not traffic), and only the names of vendor_files[] are served.
 */
#include "dashboard.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "worker.h"

/* clang-format off */
#define DASHBOARD_INCBIN(sym, file)                                                                \
	__asm__(".pushsection .rodata\n"                                                           \
		".balign 16\n"                                                                     \
		".globl " #sym "_start\n"                                                          \
		".hidden " #sym "_start\n"                                                         \
		".globl " #sym "_end\n"                                                            \
		".hidden " #sym "_end\n"                                                           \
		#sym "_start:\n"                                                                   \
		".incbin \"" file "\"\n"                                                           \
		#sym "_end:\n"                                                                     \
		".byte 0\n"                                                                        \
		".popsection\n");                                                                  \
	extern const char sym##_start[] __attribute__((visibility("hidden")));                   \
	extern const char sym##_end[] __attribute__((visibility("hidden")))
/* clang-format on */

DASHBOARD_INCBIN(dashboard_html, "assets/dashboard.html");
DASHBOARD_INCBIN(dashboard_js, "assets/dashboard.js");
DASHBOARD_INCBIN(dashboard_css, "assets/dashboard.css");

#define DASHBOARD_VENDOR_MAX (4u << 20) /* bytes: uPlot's minified script is about 50 KiB */
#define DASHBOARD_CSP                                                                              \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "                \
	"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "         \
	"form-action 'none'"

/* The only files served from dashboard_vendor_dir, and their types. */
static const struct {
	const char *name;
	const char *type;
} dashboard_vendor_files[] = {
    {"uPlot.iife.min.js", "text/javascript; charset=utf-8"},
    {"uPlot.min.css", "text/css; charset=utf-8"},
};

/* The totals since start at one moment. */
struct dashboard_sample {
	uint64_t wall_ms; /* 0: slot not filled yet */
	struct shm_hist_snapshot latency[SHM_CLASS_MAX];
	uint64_t cache[SHM_RES_MAX][3]; /* worker memory hits, Redis hits, misses */
	uint64_t slow;			/* db_slow_commands */
};

/* One second of the charts. */
struct dashboard_point {
	uint64_t wall_ms;
	uint64_t count[SHM_CLASS_MAX];
	uint32_t p_us[SHM_CLASS_MAX][3]; /* p50, p95, p99 */
	int64_t inflight;
	uint64_t slow;
};

/* The last minute, from the newest and the oldest sample. */
struct dashboard_minute {
	uint64_t span_ms;
	uint64_t count[SHM_CLASS_MAX];
	uint64_t p_us[SHM_CLASS_MAX][3];
	uint64_t cache[SHM_RES_MAX][3];
	uint64_t slow;
};

struct dashboard {
	struct dashboard_sample ring[DASHBOARD_WINDOW + 1];
	size_t nsamples, newest;
	struct dashboard_point points[DASHBOARD_SERIES];
	size_t npoints, next_point;
	struct dashboard_minute minute;
	struct shm_hist_snapshot scratch;
	/* the vendor files, read once before the monitor's sandbox (a chroot hides the directory) */
	struct buf vendor[sizeof(dashboard_vendor_files) / sizeof(dashboard_vendor_files[0])];
	int vendor_loaded; /* 1 when every one was read */
};

static const double dashboard_pcts[3] = {50.0, 95.0, 99.0};

struct dashboard *
dashboard_new(void)
{
	return calloc(1, sizeof(struct dashboard));
}

void
dashboard_free(struct dashboard *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < sizeof(d->vendor) / sizeof(d->vendor[0]); i++)
		buf_free(&d->vendor[i]);
	free(d);
}

static uint64_t
dashboard_load(const _Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static void
dashboard_sample_take(struct dashboard_sample *s, const struct shm_region *r, uint64_t wall_ms)
{
	int i;

	s->wall_ms = wall_ms;
	for (i = 0; i < SHM_CLASS_MAX; i++)
		shm_hist_snapshot(&r->latency[i], &s->latency[i]);
	for (i = 0; i < SHM_RES_MAX; i++) {
		s->cache[i][0] = dashboard_load(&r->cache[i].l1_hits);
		s->cache[i][1] = dashboard_load(&r->cache[i].l2_hits);
		s->cache[i][2] = dashboard_load(&r->cache[i].misses);
	}
	s->slow = dashboard_load(&r->db_slow_commands);
}

/* Requests now in flight in every live worker (shm_worker.inflight, kept by http.c). */
static int64_t
dashboard_inflight(const struct shm_region *r)
{
	int64_t n = 0;
	int i;

	for (i = 0; i < SHM_MAX_WORKERS; i++)
		if (atomic_load_explicit(&r->workers[i].pid, memory_order_relaxed) != 0)
			n += atomic_load_explicit(&r->workers[i].inflight, memory_order_relaxed);
	return n > 0 ? n : 0;
}

/* Counts and p50/p95/p99 of the requests between two samples of one class. */
static uint64_t
dashboard_between(struct dashboard *d, const struct shm_hist_snapshot *later,
		  const struct shm_hist_snapshot *earlier, uint64_t p_us[3])
{
	int k;

	d->scratch = *later;
	shm_hist_subtract(&d->scratch, earlier);
	for (k = 0; k < 3; k++)
		p_us[k] = shm_hist_percentile(&d->scratch, dashboard_pcts[k]);
	return d->scratch.count;
}

static void
dashboard_point_add(struct dashboard *d, const struct dashboard_sample *now,
		    const struct dashboard_sample *prev, int64_t inflight)
{
	struct dashboard_point *p = &d->points[d->next_point];
	uint64_t pus[3];
	int c, k;

	memset(p, 0, sizeof(*p));
	p->wall_ms = now->wall_ms;
	p->inflight = inflight;
	p->slow = now->slow - prev->slow;
	for (c = 0; c < SHM_CLASS_MAX; c++) {
		p->count[c] = dashboard_between(d, &now->latency[c], &prev->latency[c], pus);
		for (k = 0; k < 3; k++)
			p->p_us[c][k] = pus[k] > UINT32_MAX ? UINT32_MAX : (uint32_t)pus[k];
	}
	d->next_point = (d->next_point + 1) % DASHBOARD_SERIES;
	if (d->npoints < DASHBOARD_SERIES)
		d->npoints++;
}

static void
dashboard_minute_update(struct dashboard *d, const struct dashboard_sample *now,
			const struct dashboard_sample *old)
{
	struct dashboard_minute *m = &d->minute;
	int c, k;

	m->span_ms = now->wall_ms > old->wall_ms ? now->wall_ms - old->wall_ms : 0;
	for (c = 0; c < SHM_CLASS_MAX; c++)
		m->count[c] = dashboard_between(d, &now->latency[c], &old->latency[c], m->p_us[c]);
	for (c = 0; c < SHM_RES_MAX; c++)
		for (k = 0; k < 3; k++)
			m->cache[c][k] = now->cache[c][k] - old->cache[c][k];
	m->slow = now->slow - old->slow;
}

void
dashboard_tick(struct dashboard *d, const struct shm_region *r, uint64_t wall_ms)
{
	const size_t n = DASHBOARD_WINDOW + 1;
	size_t slot = d->nsamples == 0 ? 0 : (d->newest + 1) % n, oldest;
	const struct dashboard_sample *prev = d->nsamples == 0 ? NULL : &d->ring[d->newest];

	dashboard_sample_take(&d->ring[slot], r, wall_ms);
	if (prev != NULL)
		dashboard_point_add(d, &d->ring[slot], prev, dashboard_inflight(r));
	d->newest = slot;
	if (d->nsamples < n)
		d->nsamples++;
	/* the oldest sample: the one after the newest once the ring is full, else the first */
	oldest = d->nsamples == n ? (slot + 1) % n : 0;
	dashboard_minute_update(d, &d->ring[slot], &d->ring[oldest]);
}

static double
dashboard_ms(uint64_t us)
{
	return (double)us / 1000.0;
}

/* "classes": every route class, total since start (read now) and the last minute. */
static void
dashboard_classes_json(struct json *j, const struct dashboard *d, const struct shm_region *r)
{
	const struct dashboard_minute *m = &d->minute;
	double span_s = (double)m->span_ms / 1000.0;
	int c;

	json_key(j, "classes");
	json_array_begin(j);
	for (c = 0; c < SHM_CLASS_MAX; c++) {
		json_object_begin(j);
		json_kv_string(j, "class", shm_class_name((enum shm_route_class)c));
		json_kv_uint(j, "total", dashboard_load(&r->latency[c].count));
		json_kv_uint(j, "windowRequests", m->count[c]);
		json_kv_double(j, "ratePerSecond", span_s > 0 ? (double)m->count[c] / span_s : 0.0,
			       2);
		json_kv_double(j, "p50", dashboard_ms(m->p_us[c][0]), 3);
		json_kv_double(j, "p95", dashboard_ms(m->p_us[c][1]), 3);
		json_kv_double(j, "p99", dashboard_ms(m->p_us[c][2]), 3);
		json_object_end(j);
	}
	json_array_end(j);
}

/* The i-th point, oldest first. */
static const struct dashboard_point *
dashboard_point_at(const struct dashboard *d, size_t i)
{
	size_t first = (d->next_point + DASHBOARD_SERIES - d->npoints) % DASHBOARD_SERIES;

	return &d->points[(first + i) % DASHBOARD_SERIES];
}

/* One array of the series of class c: what = 0 rate, 1..3 p50/p95/p99 in ms. */
static void
dashboard_series_array(struct json *j, const struct dashboard *d, int c, int what)
{
	size_t i;

	json_array_begin(j);
	for (i = 0; i < d->npoints; i++) {
		const struct dashboard_point *p = dashboard_point_at(d, i);

		if (what == 0)
			json_uint(j, p->count[c]);
		else if (p->count[c] == 0)
			json_null(j); /* no request, no latency: a gap, not a zero */
		else
			json_double(j, dashboard_ms(p->p_us[c][what - 1]), 3);
	}
	json_array_end(j);
}

/* "series": one point a second, oldest first; classes only when they saw a request. */
static void
dashboard_series_json(struct json *j, const struct dashboard *d)
{
	static const char *const keys[4] = {"rate", "p50", "p95", "p99"};
	size_t i;
	int c, k;

	json_key(j, "series");
	json_object_begin(j);
	json_key(j, "t");
	json_array_begin(j);
	for (i = 0; i < d->npoints; i++)
		json_uint(j, dashboard_point_at(d, i)->wall_ms / 1000);
	json_array_end(j);
	json_key(j, "inflight");
	json_array_begin(j);
	for (i = 0; i < d->npoints; i++)
		json_int(j, dashboard_point_at(d, i)->inflight);
	json_array_end(j);
	json_key(j, "slowQueries");
	json_array_begin(j);
	for (i = 0; i < d->npoints; i++)
		json_uint(j, dashboard_point_at(d, i)->slow);
	json_array_end(j);
	json_key(j, "classes");
	json_object_begin(j);
	for (c = 0; c < SHM_CLASS_MAX; c++) {
		uint64_t seen = 0;

		for (i = 0; i < d->npoints; i++)
			seen += dashboard_point_at(d, i)->count[c];
		if (seen == 0)
			continue;
		json_key(j, shm_class_name((enum shm_route_class)c));
		json_object_begin(j);
		for (k = 0; k < 4; k++) {
			json_key(j, keys[k]);
			dashboard_series_array(j, d, c, k);
		}
		json_object_end(j);
	}
	json_object_end(j);
	json_object_end(j);
}

/* {"memoryHits","redisHits","misses","hitRate"} of three counters; hitRate is a percentage,
 * null when nothing was looked up. */
static void
dashboard_cache_object(struct json *j, const uint64_t v[3])
{
	uint64_t lookups = v[0] + v[1] + v[2];

	json_object_begin(j);
	json_kv_uint(j, "memoryHits", v[0]);
	json_kv_uint(j, "redisHits", v[1]);
	json_kv_uint(j, "misses", v[2]);
	json_key(j, "hitRate");
	if (lookups == 0)
		json_null(j);
	else
		json_double(j, (double)(v[0] + v[1]) * 100.0 / (double)lookups, 2);
	json_object_end(j);
}

static void
dashboard_cache_json(struct json *j, const struct dashboard *d, const struct shm_region *r)
{
	int i;

	json_key(j, "cache");
	json_array_begin(j);
	for (i = 0; i < SHM_RES_MAX; i++) {
		uint64_t now[3];

		now[0] = dashboard_load(&r->cache[i].l1_hits);
		now[1] = dashboard_load(&r->cache[i].l2_hits);
		now[2] = dashboard_load(&r->cache[i].misses);
		json_object_begin(j);
		json_kv_string(j, "resource", shm_resource_name((enum shm_resource)i));
		json_key(j, "sinceStart");
		dashboard_cache_object(j, now);
		json_key(j, "window");
		dashboard_cache_object(j, d->minute.cache[i]);
		json_object_end(j);
	}
	json_array_end(j);
}

static void
dashboard_breakers_json(struct json *j, const struct shm_region *r)
{
	int i;

	json_key(j, "breakers");
	json_array_begin(j);
	for (i = 0; i < SHM_DEP_MAX; i++) {
		json_object_begin(j);
		json_kv_string(j, "dependency", shm_dependency_name((enum shm_dependency)i));
		json_kv_string(j, "state", metrics_breaker_state_name(r, (enum shm_dependency)i));
		json_kv_uint(j, "opens", dashboard_load(&r->breakers[i].opens));
		json_object_end(j);
	}
	json_array_end(j);
}

/* "recent": the last slow database commands, newest first. */
static void
dashboard_slow_recent_json(struct json *j, const struct shm_region *r)
{
	struct shm_slow_query q[SHM_SLOW_RECENT];
	char at[32];
	int i, n = shm_slow_read(r, q, SHM_SLOW_RECENT);

	json_key(j, "recent");
	json_array_begin(j);
	for (i = 0; i < n; i++) {
		json_object_begin(j);
		json_iso8601((int64_t)q[i].at_ms, at);
		json_kv_string(j, "at", at);
		json_kv_double(j, "ms", dashboard_ms(q[i].us), 3);
		json_kv_string(j, "command", q[i].command);
		json_kv_string(j, "collection", q[i].collection);
		json_kv_string(j, "requestId", q[i].request_id);
		json_object_end(j);
	}
	json_array_end(j);
}

static void
dashboard_process_json(struct json *j, const struct dashboard *d, const struct shm_region *r,
		       int slow_threshold_ms)
{
	int i, live = 0;

	for (i = 0; i < SHM_MAX_WORKERS; i++)
		if (atomic_load_explicit(&r->workers[i].pid, memory_order_relaxed) != 0)
			live++;
	json_key(j, "workers");
	json_object_begin(j);
	json_kv_int(j, "live", live);
	json_kv_uint(j, "restarts", dashboard_load(&r->worker_restarts));
	json_object_end(j);
	json_kv_int(j, "inflight", dashboard_inflight(r));
	json_key(j, "slowQueries");
	json_object_begin(j);
	json_kv_uint(j, "total", dashboard_load(&r->db_slow_commands));
	json_kv_uint(j, "window", d->minute.slow);
	json_kv_int(j, "thresholdMs", slow_threshold_ms);
	dashboard_slow_recent_json(j, r);
	json_object_end(j);
}

void
dashboard_json(struct buf *out, const struct dashboard *d, const struct shm_region *r,
	       uint64_t now_ms, int slow_threshold_ms, int chart_library)
{
	struct json j;

	json_init(&j, out);
	json_object_begin(&j);
	json_kv_uint(&j, "nowMs", now_ms);
	json_kv_uint(&j, "uptimeSeconds",
		     now_ms / 1000 > r->start_time_s ? now_ms / 1000 - r->start_time_s : 0);
	json_kv_uint(&j, "windowSeconds", (d->minute.span_ms + 500) / 1000);
	dashboard_classes_json(&j, d, r);
	dashboard_series_json(&j, d);
	dashboard_cache_json(&j, d, r);
	dashboard_breakers_json(&j, r);
	dashboard_process_json(&j, d, r, slow_threshold_ms);
	json_kv_bool(&j, "chartLibrary", chart_library);
	json_object_end(&j);
}

/* --- handlers ------------------------------------------------------------------------------ */

/* The headers of everything the page loads: no sniffing, no framing, no referrer. */
static void
dashboard_headers(struct http_response *res, const char *cache_control)
{
	http_response_header_static(res, "x-content-type-options", "nosniff");
	http_response_header_static(res, "content-security-policy", DASHBOARD_CSP);
	http_response_header_static(res, "referrer-policy", "no-referrer");
	http_response_header_static(res, "cache-control", cache_control);
}

static void
dashboard_asset(struct http_req *r, const char *type, const char *start, const char *end)
{
	struct http_response res;

	http_response_init(&res);
	res.status = 200;
	res.content_type = type;
	res.body_ref = start;
	res.body_ref_len = (size_t)(end - start);
	/* the binary is the version: revalidate, and the ETag answers 304 */
	dashboard_headers(&res, "no-cache");
	http_respond(r, &res);
}

void
dashboard_page(struct http_req *r)
{
	dashboard_asset(r, "text/html; charset=utf-8", dashboard_html_start, dashboard_html_end);
}

void
dashboard_script(struct http_req *r)
{
	dashboard_asset(r, "text/javascript; charset=utf-8", dashboard_js_start, dashboard_js_end);
}

void
dashboard_style(struct http_req *r)
{
	dashboard_asset(r, "text/css; charset=utf-8", dashboard_css_start, dashboard_css_end);
}

void
dashboard_data(struct http_req *r)
{
	struct http_response res;
	const struct worker *w = r->worker;

	if (w->dashboard == NULL) {
		http_respond_problem(r, 503, "the dashboard history is not kept by this process");
		return;
	}
	http_response_init(&res);
	dashboard_json(&res.body, w->dashboard, w->shm, (uint64_t)clock_wall_ms(),
		       w->conf->db_slow_query_threshold_ms, w->dashboard->vendor_loaded);
	res.status = 200;
	res.content_type = "application/json";
	dashboard_headers(&res, "no-store");
	http_respond(r, &res);
}

/* Reads the regular file at path into body (at most DASHBOARD_VENDOR_MAX bytes). 0 or -1. */
static int
dashboard_read_file(const char *path, struct buf *body)
{
	char chunk[16384];
	struct stat st;
	ssize_t n;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size > DASHBOARD_VENDOR_MAX)
		goto out;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || body->len + (size_t)n > DASHBOARD_VENDOR_MAX)
			goto out;
		buf_append(body, chunk, (size_t)n);
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

int
dashboard_vendor_load(struct dashboard *d, const struct config *c)
{
	char path[PATH_MAX + 64];
	size_t i;
	int n;

	d->vendor_loaded = 0;
	for (i = 0; i < sizeof(d->vendor) / sizeof(d->vendor[0]); i++) {
		buf_free(&d->vendor[i]);
		buf_init(&d->vendor[i]);
		n = snprintf(path, sizeof(path), "%s/%s", c->dashboard_vendor_dir,
			     dashboard_vendor_files[i].name);
		if (n < 0 || (size_t)n >= sizeof(path) ||
		    dashboard_read_file(path, &d->vendor[i]) == -1) {
			log_warn("dashboard: %s is not readable: the page shows figures without charts "
				 "(monitor dashboard_vendor_dir; tools/deps installs uplot)", path);
			return -1;
		}
	}
	d->vendor_loaded = 1;
	return 0;
}

void
dashboard_vendor(struct http_req *r)
{
	const char *name = http_param(r, "file");
	const struct dashboard *d = r->worker->dashboard;
	struct http_response res;
	size_t i, n = sizeof(dashboard_vendor_files) / sizeof(dashboard_vendor_files[0]);

	/* an allow-list, compared whole: no other name, and so no path, reaches the file system */
	for (i = 0; i < n; i++)
		if (name != NULL && strcmp(name, dashboard_vendor_files[i].name) == 0)
			break;
	if (i == n) {
		http_respond_problem(r, 404, "no such dashboard file");
		return;
	}
	if (d == NULL || !d->vendor_loaded) {
		http_respond_problem(r, 404,
				     "the chart library is not installed (monitor "
				     "dashboard_vendor_dir; tools/deps installs uplot)");
		return;
	}
	http_response_init(&res);
	buf_append(&res.body, d->vendor[i].data, d->vendor[i].len);
	res.status = 200;
	res.content_type = dashboard_vendor_files[i].type;
	dashboard_headers(&res, "public, max-age=3600");
	http_respond(r, &res);
}
