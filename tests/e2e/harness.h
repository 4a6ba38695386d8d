/*
 * harness.h: what every end-to-end test needs to run the real enterprised against a real
 * FerretDB and a real redis-server on free loopback ports, and to talk to it over HTTPS.
 *
 * One harness per test binary: harness_init makes a private temporary directory and a
 * self-signed certificate for 127.0.0.1; every child started here (FerretDB, redis-server,
 * enterprised) lives in its own process group and is killed, group and all, by harness_cleanup,
 * at exit, or on SIGINT/SIGTERM, even when a test fails half-way. HARNESS_KEEP=1 keeps the
 * directory (logs, configs) for a post-mortem.
 *
 * Results are 0 / -1 like the server's code; the reason of a failure is printed on stderr,
 * since a test only needs to know that it failed and a human needs to know why.
 */
#ifndef ENTERPRISED_HARNESS_H
#define ENTERPRISED_HARNESS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <bson/bson.h>
#include <mongoc/mongoc.h>

#define HARNESS_MAX_HEADERS 64
#define HARNESS_MAX_CHILDREN 16

/* --- set-up ----------------------------------------------------------------------------- */

/* Temporary directory and certificate; idempotent. Returns 0 or -1. */
int harness_init(void);
/* Kills every child still running and removes the temporary directory (unless HARNESS_KEEP). */
void harness_cleanup(void);
const char *harness_dir(void);
const char *harness_cert_path(void);
const char *harness_key_path(void);
/* A loopback TCP port that was free a moment ago. Returns the port, or -1. */
int harness_free_port(void);
/* A listening socket on 127.0.0.1:port (to occupy a port); returns the fd or -1. */
int harness_listen(int port);
/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t harness_now_ms(void);
/* Milliseconds since the epoch (CLOCK_REALTIME): what the server stamps documents with. */
int64_t harness_wall_ms(void);
void harness_sleep_ms(unsigned ms);
/* Reads a whole file; NULL if it cannot. Caller frees. *len may be NULL. */
char *harness_read_file(const char *path, size_t *len);
/* 1 when a TCP connection to 127.0.0.1:port is accepted, 0 when refused or timed out. */
int harness_port_accepts(int port);

/* --- child processes -------------------------------------------------------------------- */

struct harness_proc {
	pid_t pid;  /* 0 once reaped */
	int status; /* waitpid status once reaped */
	char name[32];
	char out_path[PATH_MAX];
	char err_path[PATH_MAX];
};

/*
 * Starts argv[0] (a path) with stdout and stderr to files named after `name` in the temporary
 * directory, in a new process group, with the given environment (NULL: the harness's own).
 */
int harness_proc_start(struct harness_proc *p, const char *name, char *const argv[],
		       char *const envp[]);
/* Waits for exit up to timeout_ms; returns 0 once reaped (status in p->status), -1 on timeout. */
int harness_proc_wait(struct harness_proc *p, unsigned timeout_ms);
/* SIGTERM, then SIGKILL to the whole group after timeout_ms; always reaps. Returns p->status. */
int harness_proc_stop(struct harness_proc *p, unsigned timeout_ms);
int harness_proc_pause(struct harness_proc *p);	 /* SIGSTOP */
int harness_proc_resume(struct harness_proc *p); /* SIGCONT */
/* Exit code of a reaped process, or 128 + signal when it was killed. */
int harness_exit_code(int status);

/* --- dependencies ----------------------------------------------------------------------- */

struct harness_deps {
	struct harness_proc ferretdb;
	struct harness_proc redis;
	int mongo_port;
	int redis_port;
	char sqlite_dir[PATH_MAX];
};

/* Each start picks a free port the first time and reuses it on a restart; waits for readiness. */
int harness_ferretdb_start(struct harness_deps *d);
int harness_redis_start(struct harness_deps *d);
int harness_deps_start(struct harness_deps *d); /* both */
void harness_ferretdb_stop(struct harness_deps *d);
void harness_redis_stop(struct harness_deps *d);
void harness_deps_stop(struct harness_deps *d);

/* The database of every enterprised started by the harness (see harness_server_env). */
#define HARNESS_DB "enterprise"
/* A driver client for the FerretDB of d, to look at or seed what the server stores. Caller
 * destroys it; NULL on failure. */
mongoc_client_t *harness_mongo_client(const struct harness_deps *d);

/* --- enterprised ------------------------------------------------------------------------ */

/*
 * Issue 12: the unprivileged user the server's workers and monitor run as when the tests run as
 * root (tools/sandbox-user adds and removes it; tests/run-all does both). With it present and
 * HARNESS_PRIVSEP not 0, every generated configuration has privsep worker and monitor blocks
 * (runas this user, root an empty directory under the test directory); seccomp is on by
 * default in any case.
 */
#define HARNESS_SANDBOX_USER "enterprised-test"
/* 1 when generated configurations carry the privsep blocks. */
int harness_privsep_on(void);

/* What goes into the generated kore.conf; zero means "leave the directive out". */
struct harness_conf {
	int port;	  /* 0: a free port */
	int no_tls;	  /* the first server block has `tls no` */
	int plain_server; /* add a second server block with `tls no` */
	int workers;	  /* 0: 2 */
	int http2;
	long http_body_max;
	int request_timeout;	     /* ms */
	int worker_shutdown_timeout; /* s */
	int monitor_interval;	     /* s */
	int pidfile;
	int accesslog;
	int debug_routes;
	int no_privsep; /* leave the privsep blocks out even as root */
	/* keep the shed budgets (the guide's P95 targets, issue 8); 0 writes shed_budget_* 0:
	 * a loaded test machine can take longer than 2 x 150 ms for a read, and tests must not
	 * depend on speed, so only tests of shedding turn it on */
	int shed;
	/* keep the rate limits (issue 10); 0 writes `ratelimit { enabled no }`, so no test
	 * depends on how fast it sends; tests of limiting set theirs in `extra` */
	int ratelimit;
	const char *certfile;	/* NULL: the harness's certificate */
	const char *certkey;	/* NULL: the harness's key */
	const char *jwt_secret; /* NULL: HARNESS_JWT_SECRET; "" leaves auth out */
	const char *extra;	/* raw lines appended at the end */
};

struct harness_server {
	struct harness_proc proc;
	struct harness_conf conf;
	int port;
	int plain_port;
	int monitor_port;
	char conf_path[PATH_MAX];
	char pidfile[PATH_MAX];
	char accesslog[PATH_MAX];
	char url[64];	      /* https://127.0.0.1:PORT (http:// when no_tls) */
	char plain_url[64];   /* http://127.0.0.1:PLAIN_PORT */
	char metrics_url[96]; /* http://127.0.0.1:MONITOR_PORT/metrics */
};

/* Picks the ports and writes the kore.conf of s (under name) without starting anything. */
int harness_conf_write(struct harness_server *s, const char *name, const struct harness_conf *c);
/*
 * The environment of an enterprised child: MONGODB_URI and REDIS_URL of deps (ports nobody
 * listens on when deps is NULL), sanitizer options, and the harness's own environment without
 * any variable of the guide. NULL-terminated, owned by the harness.
 */
char **harness_server_env(const struct harness_deps *deps);
/* ENTERPRISED_BIN or ./enterprised */
const char *harness_server_bin(void);
/*
 * Writes the config, starts `enterprised -c CONF` and waits until /api/v1/health/live answers
 * 200 (15 s). On failure the tail of its stderr is printed.
 */
int harness_server_start(struct harness_server *s, const char *name, const struct harness_conf *c,
			 const struct harness_deps *deps);
/* SIGTERM to the master, wait (20 s), SIGKILL to the group otherwise. Returns the wait status. */
int harness_server_stop(struct harness_server *s);
/* Stops every enterprised still running (so sanitizer reports at exit get written). Returns
 * how many of them did not exit 0 (each is named on stderr). */
int harness_server_stop_all(void);
/*
 * Runs enterprised once with args (after the binary name) and waits up to timeout_ms; its
 * stdout and stderr are returned (caller frees). Returns the wait status, or -1 on timeout
 * (the process is killed).
 */
int harness_server_run(char *const args[], const struct harness_deps *deps, unsigned timeout_ms,
		       char **out, char **err);
/*
 * Scans the stderr of every enterprised run by this binary for sanitizer reports. Returns 0
 * when clean, -1 with "FILE: LINE" of the first report in bad.
 */
int harness_server_log_clean(char *bad, size_t badlen);
/* Prints the last lines of a file on stderr (for failure messages). */
void harness_print_tail(const char *path, int lines);

/* Processes whose parent is `parent`, from /proc: pid and comm. Returns the count. */
struct harness_child {
	pid_t pid;
	char comm[32];
};
int harness_children(pid_t parent, struct harness_child *out, int max);
/* pid of the child of `parent` with comm `comm`, or 0. */
pid_t harness_child_by_comm(pid_t parent, const char *comm);
/* 1 when pid is gone or a zombie. */
int harness_pid_gone(pid_t pid);

/* --- HTTP client (libcurl) -------------------------------------------------------------- */

enum harness_http_version {
	HARNESS_HTTP_OFFER_H2 = 0, /* ALPN offers h2 and http/1.1 (curl's default for https) */
	HARNESS_HTTP_1_1,	   /* HTTP/1.1 only */
	HARNESS_HTTP_2,		   /* h2 over TLS, h2c prior knowledge on plain http */
};

struct harness_http_opts {
	int version;	     /* enum harness_http_version */
	int chunked;	     /* send the body with Transfer-Encoding: chunked */
	long tls_min;	     /* CURL_SSLVERSION_* or 0 */
	long tls_max;	     /* CURL_SSLVERSION_MAX_* or 0 */
	const char *ciphers; /* CURLOPT_SSL_CIPHER_LIST or NULL */
	long timeout_ms;     /* 0: 15000 */
};

struct harness_header {
	char *name;
	char *value;
};

struct harness_response {
	int curl_code; /* CURLE_OK when a response arrived */
	char error[256];
	long status;
	long http_version; /* CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_0, ... */
	double seconds;
	struct harness_header headers[HARNESS_MAX_HEADERS]; /* of the final response */
	int nheaders;
	char *body; /* NUL-terminated */
	size_t body_len;
};

/*
 * One request on a new connection. headers: NULL-terminated "Name: value" strings or NULL.
 * Returns 0 when a response arrived, -1 otherwise (r->curl_code and r->error say why); r must
 * be freed with harness_response_free either way.
 */
int harness_request(const char *method, const char *url, const char *const *headers,
		    const char *body, size_t body_len, const struct harness_http_opts *o,
		    struct harness_response *r);
int harness_get(const char *url, struct harness_response *r);
void harness_response_free(struct harness_response *r);
/* Value of the first header named `name` (case-insensitive), or NULL. */
const char *harness_header(const struct harness_response *r, const char *name);

/* --- tokens ----------------------------------------------------------------------------- */

/* The secret written into every generated kore.conf (auth { jwt_secret ... }). */
#define HARNESS_JWT_SECRET "e2e-test-secret-0123456789abcdef"

/*
 * An HS256 bearer token signed with HARNESS_JWT_SECRET, valid for an hour. role is a role
 * name (any string: an unknown one makes a token the server must refuse); org and sub may be
 * NULL (sub NULL: "e2e-user"). Caller frees.
 */
char *harness_token(const char *role, const char *org, const char *sub);
/*
 * The same with everything chosen: secret, and exp = now + ttl_s (a negative ttl gives a token
 * that expired -ttl_s seconds ago). Caller frees; NULL on failure.
 */
char *harness_token_with(const char *secret, const char *role, const char *org, const char *sub,
			 long ttl_s);
/*
 * harness_request with `Authorization: Bearer <token>` added (token NULL: no header) and, when
 * body is not NULL, `Content-Type: application/json` unless headers name a content type.
 */
int harness_request_token(const char *method, const char *url, const char *token,
			  const char *const *headers, const char *body, size_t body_len,
			  struct harness_response *r);
/* GET url with the token. */
int harness_get_token(const char *url, const char *token, struct harness_response *r);

/* --- JSON (libbson) --------------------------------------------------------------------- */

/* The body parsed as a JSON object, or NULL. Caller frees with bson_destroy. */
bson_t *harness_json(const struct harness_response *r);
bson_t *harness_json_text(const char *text, size_t len);
/* Type of the field at a dotted path (BSON_TYPE_EOD when absent). */
bson_type_t harness_json_type(const bson_t *doc, const char *path);
/* The string at path, or NULL. */
const char *harness_json_str(const bson_t *doc, const char *path);
/* An integer (int32 or int64) at path: 0, or -1 when absent or not an integer. */
int harness_json_int(const bson_t *doc, const char *path, int64_t *out);
/* Any number (int32, int64, double) at path: 0, or -1. */
int harness_json_num(const bson_t *doc, const char *path, double *out);
/*
 * 1 when the body's `errors` array has an entry whose `field` is field, or ends with
 * "." field (a nested path); 0 otherwise (also when there is no errors array).
 */
int harness_problem_names(const struct harness_response *r, const char *field);
/* ISO-8601 UTC "YYYY-MM-DDTHH:MM:SS[.fff]Z" to milliseconds since the epoch: 0, or -1. */
int harness_iso_ms(const char *iso, int64_t *ms);
/* Milliseconds since the epoch as "YYYY-MM-DDTHH:MM:SS.fffZ". */
void harness_ms_iso(int64_t ms, char out[32]);
/* 0 when body is RFC 9457 problem+json with `status` equal to the HTTP status; else -1. */
int harness_problem_check(const struct harness_response *r, char *why, size_t whylen);

/* --- Prometheus text format 0.0.4 -------------------------------------------------------- */

struct harness_prom_sample {
	char name[128];
	char labels[512]; /* normalized ",k=\"v\",k2=\"v2\"," for matching; "," when none */
	double value;
};

struct harness_prom_family {
	char name[128];
	char type[16];
};

struct harness_prom {
	struct harness_prom_sample *samples;
	size_t nsamples;
	struct harness_prom_family *families;
	size_t nfamilies;
	char error[512]; /* the offending line when parsing failed */
};

/* Parses a whole exposition, checking every line's syntax. 0, or -1 with p->error set. */
int harness_prom_parse(const char *text, struct harness_prom *p);
void harness_prom_free(struct harness_prom *p);
/* The # TYPE of a family, or NULL. */
const char *harness_prom_type(const struct harness_prom *p, const char *family);
/*
 * Sum of the samples named `name` whose labels include every `k="v"` of want (comma-separated,
 * e.g. `class="health",status="2xx"`; NULL or "" matches all). Returns the number matched.
 */
int harness_prom_sum(const struct harness_prom *p, const char *name, const char *want, double *sum);
/* GETs url and parses it. 0, or -1. */
int harness_prom_fetch(const char *url, struct harness_prom *p);

#endif
