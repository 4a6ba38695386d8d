/*
 * client.h: the requests and checks that the API's end-to-end tests share, written once.
 *
 * A test binary names its server and its platform_admin token once (client_use) and then
 * calls these; every failed expectation fails the running cmocka test with what was seen.
 */
#ifndef ENTERPRISED_TESTS_CLIENT_H
#define ENTERPRISED_TESTS_CLIENT_H

#include <bson/bson.h>
#include <openssl/ssl.h>
#include <stdint.h>

#include "harness.h"

#define CLIENT_V1 "/api/v1"
#define CLIENT_MAX_IDS 128

/* The server the calls go to and the platform_admin token creations use. */
void client_use(const struct harness_server *server, const char *admin_token);

/* --- a test binary's group setup and teardown, written once --- */

/*
 * The usual cmocka group setup: harness_init, then the dependencies (deps NULL: none), a
 * platform_admin token for sub "root" into *admin (admin NULL: none), and the server s under
 * name with c (s NULL: the caller starts its servers), and client_use(s, *admin) when both are
 * there. Returns 0, or -1 (the reason is on stderr; client_suite_stop still cleans up).
 */
int client_suite_start(struct harness_deps *deps, char **admin, struct harness_server *s,
		       const char *name, const struct harness_conf *c);
/* The teardown: frees *admin, stops every server, the dependencies (deps may be NULL) and
 * removes the harness's directory. Returns 0 (a cmocka group teardown's result). */
int client_suite_stop(struct harness_deps *deps, char **admin);
/*
 * A cmocka test body, last in a binary: stops every server (so sanitizers write their reports
 * at exit) and fails when any server's stderr holds a sanitizer report (the team's rule: ASan
 * and UBSan clean, no leaks) or when one it stopped did not exit 0.
 */
void client_test_sanitizer_logs(void **state);

/* A malloc'd printf. */
char *client_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* 1 when s is 24 lower-case hex digits. */
int client_is_hex24(const char *s);

/* One request; body NULL means none. */
void client_call_on(const struct harness_server *s, const char *method, const char *path,
		    const char *token, const char *body, struct harness_response *r);
void client_call(const char *method, const char *path, const char *token, const char *body,
		 struct harness_response *r);

/* The status, an application/json content type, and the body as a document (caller destroys). */
bson_t *client_expect_json(const struct harness_response *r, long status);
/* The status and an RFC 9457 problem+json body that says the same status. */
void client_expect_problem(const struct harness_response *r, long status);
/* A problem whose `errors` array names field. */
void client_expect_field_error(const struct harness_response *r, long status, const char *field);
/* method path as token with body: a problem of status naming field (NULL: any problem). */
void client_expect_rejected(const char *method, const char *path, const char *token,
			    const char *body, long status, const char *field);

void client_want_str(const bson_t *doc, const char *path, const char *want);
int64_t client_int_at(const bson_t *doc, const char *path);

/* POST body to path as token, 201 expected: the document (caller destroys), its id in id. */
bson_t *client_create(const char *path, const char *token, const char *body, char id[25]);
/* A new organization, clinic of org from a JSON body, or clinic with a name and a code. */
void client_new_org(const char *name, char id[25]);
void client_new_clinic(const char *org, const char *body, char id[25]);
void client_new_clinic_named(const char *org, const char *name, const char *code, char id[25]);

/* GET path as token, 200 expected: the document (caller destroys). */
bson_t *client_get_json(const char *path, const char *token);
/* The ids of the `data` array of a list or search answer, in order (CLIENT_MAX_IDS at most). */
void client_list_ids(const char *path, const char *token, char ids[][25], int *n);
/* GET path answers exactly the ids of want (NULL-terminated), in any order. */
void client_expect_ids(const char *path, const char *token, const char *const *want);

/* --- a raw HTTP/1.1 client over TLS (framing tests: bytes exactly as written) --- */

struct client_raw_reply {
	char data[65536];
	size_t len;
	int closed;	  /* the peer closed the connection (EOF) */
	int responses;	  /* status lines seen */
	int status;	  /* of the first response */
	const char *body; /* of the first response */
	int write_failed; /* the peer stopped reading before req was all sent */
	size_t total;	  /* bytes received, also those past data[] */
	char tail[8];	  /* the last bytes received (NUL-terminated): a chunked body's end */
};

/* How a raw exchange reads (client_raw_exchange_with); zero fields mean "as usual". */
struct client_raw_opts {
	size_t stop_after;  /* close the connection once this many bytes arrived */
	size_t pause_after; /* stop reading once this many bytes arrived, for pause_ms */
	unsigned pause_ms;
	int rcvbuf; /* SO_RCVBUF before connecting (a small window: the peer blocks) */
};

/* Sends req as is on a new TLS connection to port and reads until EOF or 5 s of silence. */
void client_raw_exchange(int port, const char *req, size_t len, struct client_raw_reply *out);
/* The value of header name in r's first head (case-insensitive) into val; NULL when absent. */
const char *client_raw_header(const struct client_raw_reply *r, const char *name, char *val,
			      size_t vlen);
/* The same, reading as o says; without stop_after it reads to EOF past data[] (keeping the
 * total and the tail), with a 10 s silence limit. */
void client_raw_exchange_with(int port, const char *req, size_t len,
			      const struct client_raw_opts *o, struct client_raw_reply *out);

/*
 * A raw HTTP/1.1 connection over TLS kept open across exchanges (keep-alive seen from the
 * wire). These never call cmocka (safe in traffic threads): they return 0 or -1 with the
 * reason in c->error. The server's certificate is not checked; its SHA-256 is in
 * c->fingerprint (64 hex digits) for tests that compare certificates.
 */
struct client_conn {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	char fingerprint[65];
	char error[256];
};

int client_conn_open(struct client_conn *c, int port);
/*
 * Sends req and reads exactly one response: the head, then a Content-Length body. 0 when a
 * whole response arrived (out->status, out->body, out->responses = 1; out->closed set when
 * the head says `Connection: close`), -1 when the connection broke or went silent for 5 s
 * before that (c->error says which: a reset, an EOF, a timeout, ...).
 */
int client_conn_exchange(struct client_conn *c, const char *req, size_t len,
			 struct client_raw_reply *out);
/* Waits up to 5 s for the peer's end of the connection: 0 when it closed it cleanly (TLS
 * close_notify or a bare EOF), -1 on data, a reset or a timeout. */
int client_conn_wait_close(struct client_conn *c);
void client_conn_close(struct client_conn *c);
/* The SHA-256 of the first certificate of a PEM file, 64 hex digits: 0, or -1. */
int client_cert_file_fingerprint(const char *path, char out[65]);

#endif
