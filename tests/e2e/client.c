/* client.c: the requests and checks the API's end-to-end tests share (see client.h). */
#include "client.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* The binary's server and token, named once by client_use. */
static const struct harness_server *client_server;
static const char *client_admin;

void
client_use(const struct harness_server *server, const char *admin_token)
{
	client_server = server;
	client_admin = admin_token;
}

char *
client_strf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		abort();
	va_end(ap);
	return s;
}

int
client_is_hex24(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != 24)
		return 0;
	for (i = 0; i < 24; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

void
client_call_on(const struct harness_server *s, const char *method, const char *path,
	       const char *token, const char *body, struct harness_response *r)
{
	char *url = client_strf("%s%s", s->url, path);

	if (harness_request_token(method, url, token, NULL, body, body ? strlen(body) : 0, r) == -1)
		fail_msg("%s %s: %s", method, url, r->error);
	free(url);
}

void
client_call(const char *method, const char *path, const char *token, const char *body,
	    struct harness_response *r)
{
	client_call_on(client_server, method, path, token, body, r);
}

/* The status, an application/json content type, and the body as a document. */
bson_t *
client_expect_json(const struct harness_response *r, long status)
{
	const char *ct = harness_header(r, "content-type");
	bson_t *doc;

	if (r->status != status)
		fail_msg("status %ld, want %ld; body %s", r->status, status, r->body);
	if (ct == NULL || strncmp(ct, "application/json", 16) != 0)
		fail_msg("content-type %s, want application/json", ct ? ct : "(none)");
	if ((doc = harness_json(r)) == NULL)
		fail_msg("not a JSON object: %s", r->body);
	return doc;
}

/* The status and an RFC 9457 problem+json body that says the same status. */
void
client_expect_problem(const struct harness_response *r, long status)
{
	char why[512];

	if (r->status != status)
		fail_msg("status %ld, want %ld; body %s", r->status, status, r->body);
	if (harness_problem_check(r, why, sizeof(why)) == -1)
		fail_msg("%ld: %s", status, why);
}

/* A problem whose `errors` array names field. */
void
client_expect_field_error(const struct harness_response *r, long status, const char *field)
{
	client_expect_problem(r, status);
	if (!harness_problem_names(r, field))
		fail_msg("errors do not name `%s`: %s", field, r->body);
}

/* method path as token with body: a problem of status naming field (NULL: any problem). */
void
client_expect_rejected(const char *method, const char *path, const char *token, const char *body,
		       long status, const char *field)
{
	struct harness_response r;

	client_call(method, path, token, body, &r);
	if (field != NULL)
		client_expect_field_error(&r, status, field);
	else
		client_expect_problem(&r, status);
	harness_response_free(&r);
}

void
client_want_str(const bson_t *doc, const char *path, const char *want)
{
	const char *got = harness_json_str(doc, path);

	if (got == NULL || strcmp(got, want) != 0)
		fail_msg("%s is %s, want %s", path, got ? got : "(absent)", want);
}

int64_t
client_int_at(const bson_t *doc, const char *path)
{
	int64_t v;

	if (harness_json_int(doc, path, &v) == -1)
		fail_msg("%s is not an integer", path);
	return v;
}

/* POST body to path as token, 201 expected: the document, its id in id. */
bson_t *
client_create(const char *path, const char *token, const char *body, char id[25])
{
	struct harness_response r;
	bson_t *doc;
	const char *s;

	client_call("POST", path, token, body, &r);
	doc = client_expect_json(&r, 201);
	s = harness_json_str(doc, "id");
	if (!client_is_hex24(s))
		fail_msg("id of the created document is %s", s ? s : "(none)");
	snprintf(id, 25, "%s", s);
	harness_response_free(&r);
	return doc;
}

/* A new organization (as platform_admin). */
void
client_new_org(const char *name, char id[25])
{
	char *body = client_strf("{\"name\":\"%s\"}", name);

	bson_destroy(client_create(CLIENT_V1 "/organizations", client_admin, body, id));
	free(body);
}

/* A new clinic of org from a body (a JSON object). */
void
client_new_clinic(const char *org, const char *body, char id[25])
{
	char *path = client_strf(CLIENT_V1 "/organizations/%s/clinics", org);

	bson_destroy(client_create(path, client_admin, body, id));
	free(path);
}

/* A new clinic with only a name and a code. */
void
client_new_clinic_named(const char *org, const char *name, const char *code, char id[25])
{
	char *body = client_strf("{\"name\":\"%s\",\"code\":\"%s\"}", name, code);

	client_new_clinic(org, body, id);
	free(body);
}

/* GET path as token, 200 expected: the document. */
bson_t *
client_get_json(const char *path, const char *token)
{
	struct harness_response r;
	bson_t *doc;

	client_call("GET", path, token, NULL, &r);
	doc = client_expect_json(&r, 200);
	harness_response_free(&r);
	return doc;
}

/* The ids of the `data` array of a list or search answer, in order. */
void
client_list_ids(const char *path, const char *token, char ids[][25], int *n)
{
	bson_t *doc = client_get_json(path, token);
	bson_iter_t it, arr, row;

	*n = 0;
	if (!bson_iter_init_find(&it, doc, "data") || !BSON_ITER_HOLDS_ARRAY(&it) ||
	    !bson_iter_recurse(&it, &arr))
		fail_msg("GET %s: no data array", path);
	while (bson_iter_next(&arr)) {
		if (*n == CLIENT_MAX_IDS)
			fail_msg("GET %s: more than %d rows", path, CLIENT_MAX_IDS);
		if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &row) ||
		    !bson_iter_find(&row, "id") || !BSON_ITER_HOLDS_UTF8(&row))
			fail_msg("GET %s: a row without id", path);
		snprintf(ids[(*n)++], 25, "%s", bson_iter_utf8(&row, NULL));
	}
	bson_destroy(doc);
}

/* GET path answers exactly the ids of want (NULL-terminated), in any order. */
void
client_expect_ids(const char *path, const char *token, const char *const *want)
{
	char ids[CLIENT_MAX_IDS][25], got[CLIENT_MAX_IDS * 26 + 1] = "";
	int n, i, k, nwant = 0, found;

	client_list_ids(path, token, ids, &n);
	for (i = 0; i < n; i++) {
		strcat(got, " ");
		strcat(got, ids[i]);
	}
	while (want[nwant] != NULL)
		nwant++;
	if (n != nwant)
		fail_msg("GET %s: %d rows (%s), want %d", path, n, got, nwant);
	for (k = 0; k < nwant; k++) {
		for (found = 0, i = 0; i < n && !found; i++)
			found = strcmp(ids[i], want[k]) == 0;
		if (!found)
			fail_msg("GET %s: %s missing from%s", path, want[k], got);
	}
}

/* The value of header name in the first response's head (case-insensitive) into val (vlen
 * bytes, cut to fit); NULL when the head has no such field. */
const char *
client_raw_header(const struct client_raw_reply *r, const char *name, char *val, size_t vlen)
{
	const char *end = strstr(r->data, "\r\n\r\n"), *p = r->data;
	size_t nlen = strlen(name), n;

	while ((p = strstr(p, "\r\n")) != NULL && (end == NULL || p < end)) {
		p += 2;
		if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			p += nlen + 1;
			p += strspn(p, " \t");
			n = strcspn(p, "\r");
			snprintf(val, vlen, "%.*s", (int)n, p);
			return val;
		}
	}
	return NULL;
}

void
client_raw_exchange(int port, const char *req, size_t len, struct client_raw_reply *out)
{
	client_raw_exchange_with(port, req, len, NULL, out);
}

/* Reads into out until EOF, silence, or what o says. */
static void
client_raw_read(SSL *ssl, const struct client_raw_opts *o, struct client_raw_reply *out)
{
	char scratch[16384];
	int n, paused = 0;

	for (;;) {
		size_t room = sizeof(out->data) - 1 - out->len;
		char *into = room > 0 ? out->data + out->len : scratch;
		size_t want = room > 0 ? room : sizeof(scratch);

		if (o == NULL && room == 0)
			break; /* the plain exchange: one buffer's worth */
		if (o != NULL && o->stop_after > 0 && out->total >= o->stop_after)
			break;
		if (o != NULL && o->pause_ms > 0 && !paused && out->total >= o->pause_after) {
			harness_sleep_ms(o->pause_ms);
			paused = 1;
		}
		if (o != NULL && o->pause_ms > 0 && !paused && want > o->pause_after - out->total)
			want = o->pause_after - out->total;
		n = SSL_read(ssl, into, (int)want);
		if (n <= 0) {
			out->closed = SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN ||
				      (SSL_get_error(ssl, n) == SSL_ERROR_SYSCALL &&
				       ERR_peek_error() == 0 && n == 0);
			break;
		}
		if (room > 0)
			out->len += (size_t)n;
		out->total += (size_t)n;
		if ((size_t)n >= sizeof(out->tail) - 1) {
			memcpy(out->tail, into + n - (sizeof(out->tail) - 1),
			       sizeof(out->tail) - 1);
		} else {
			size_t keep = sizeof(out->tail) - 1 - (size_t)n;

			memmove(out->tail, out->tail + (size_t)n, keep);
			memcpy(out->tail + keep, into, (size_t)n);
		}
		out->tail[sizeof(out->tail) - 1] = '\0';
	}
}

void
client_raw_exchange_with(int port, const char *req, size_t len, const struct client_raw_opts *o,
			 struct client_raw_reply *out)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct timeval tv = {.tv_sec = o != NULL ? 10 : 5};
	SSL_CTX *ctx;
	SSL *ssl = NULL;
	const char *p;
	int fd;

	memset(out, 0, sizeof(*out));
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		fail_msg("socket");
	if (o != NULL && o->rcvbuf > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o->rcvbuf, sizeof(o->rcvbuf)) != 0)
		fail_msg("SO_RCVBUF");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		fail_msg("connect to port %d failed", port);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
		fail_msg("SO_RCVTIMEO");
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL || (ssl = SSL_new(ctx)) == NULL)
		fail_msg("SSL_CTX_new");
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1)
		fail_msg("TLS handshake with port %d failed", port);
	/* a peer that refuses a long request may stop reading it: its answer is still read */
	if (SSL_write(ssl, req, (int)len) != (int)len) {
		out->write_failed = 1;
		ERR_clear_error();
	}
	client_raw_read(ssl, o, out);
	ERR_clear_error();
	out->data[out->len] = '\0';
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	for (p = out->data; (p = strstr(p, "HTTP/1.1 ")) != NULL; p += 9)
		out->responses++;
	if (sscanf(out->data, "HTTP/1.1 %d", &out->status) != 1)
		out->status = 0;
	p = strstr(out->data, "\r\n\r\n");
	out->body = p != NULL ? p + 4 : "";
}

/* --- a raw HTTP/1.1 connection kept open --- */

/* c->error from the last SSL_read/SSL_write result n. */
static void
client_conn_why(struct client_conn *c, int n, const char *what)
{
	int e = SSL_get_error(c->ssl, n), sys = errno;
	unsigned long ssl_err = ERR_peek_error();
	char reason[160] = "";

	if (ssl_err != 0)
		ERR_error_string_n(ssl_err, reason, sizeof(reason));
	ERR_clear_error();
	if (e == SSL_ERROR_ZERO_RETURN)
		snprintf(c->error, sizeof(c->error), "%s: the peer closed (close_notify)", what);
	else if (e == SSL_ERROR_SYSCALL && ssl_err == 0 && n == 0)
		snprintf(c->error, sizeof(c->error), "%s: EOF without close_notify", what);
	else if (e == SSL_ERROR_SYSCALL && (sys == EAGAIN || sys == EWOULDBLOCK))
		snprintf(c->error, sizeof(c->error), "%s: no answer within 5 s", what);
	else if (e == SSL_ERROR_SYSCALL)
		snprintf(c->error, sizeof(c->error), "%s: %s", what, strerror(sys));
	else
		snprintf(c->error, sizeof(c->error), "%s: TLS error %d %s", what, e, reason);
}

int
client_conn_open(struct client_conn *c, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct timeval tv = {.tv_sec = 5};
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	X509 *peer;
	int rc;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
		snprintf(c->error, sizeof(c->error), "connect to port %d: %s", port,
			 strerror(errno));
		return -1;
	}
	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    (c->ssl = SSL_new(c->ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
		snprintf(c->error, sizeof(c->error), "SSL_new failed");
		return -1;
	}
	if ((rc = SSL_connect(c->ssl)) != 1) {
		client_conn_why(c, rc, "TLS handshake");
		return -1;
	}
	if ((peer = SSL_get1_peer_certificate(c->ssl)) == NULL ||
	    X509_digest(peer, EVP_sha256(), md, &mdlen) != 1) {
		X509_free(peer);
		snprintf(c->error, sizeof(c->error), "no peer certificate");
		return -1;
	}
	X509_free(peer);
	for (i = 0; i < mdlen && i < 32; i++)
		snprintf(c->fingerprint + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* Reads once more into out; 0, or -1 with c->error set. */
static int
client_conn_read(struct client_conn *c, struct client_raw_reply *out)
{
	int n;

	if (out->len >= sizeof(out->data) - 1) {
		snprintf(c->error, sizeof(c->error), "response larger than %zu bytes",
			 sizeof(out->data) - 1);
		return -1;
	}
	n = SSL_read(c->ssl, out->data + out->len, (int)(sizeof(out->data) - 1 - out->len));
	if (n <= 0) {
		client_conn_why(c, n, "read");
		return -1;
	}
	out->len += (size_t)n;
	out->data[out->len] = '\0';
	return 0;
}

int
client_conn_exchange(struct client_conn *c, const char *req, size_t len,
		     struct client_raw_reply *out)
{
	const char *end, *cl;
	size_t head, body;
	int n;

	memset(out, 0, sizeof(*out));
	c->error[0] = '\0';
	if ((n = SSL_write(c->ssl, req, (int)len)) != (int)len) {
		out->write_failed = 1;
		client_conn_why(c, n, "write");
		return -1;
	}
	while ((end = strstr(out->data, "\r\n\r\n")) == NULL)
		if (client_conn_read(c, out) != 0)
			return -1;
	head = (size_t)(end - out->data) + 4;
	if ((cl = strcasestr(out->data, "\r\ncontent-length:")) == NULL || cl > end) {
		snprintf(c->error, sizeof(c->error), "a response without Content-Length");
		return -1;
	}
	body = strtoul(cl + 17, NULL, 10);
	while (out->len < head + body)
		if (client_conn_read(c, out) != 0)
			return -1;
	if (out->len > head + body) {
		snprintf(c->error, sizeof(c->error), "%zu bytes after the response",
			 out->len - head - body);
		return -1;
	}
	out->responses = 1;
	if (sscanf(out->data, "HTTP/1.1 %d", &out->status) != 1)
		out->status = 0;
	out->body = out->data + head;
	{
		const char *conn = strcasestr(out->data, "\r\nconnection:");

		out->closed = conn != NULL && conn < end &&
			      strncasecmp(conn + 13 + strspn(conn + 13, " "), "close", 5) == 0;
	}
	return 0;
}

int
client_conn_wait_close(struct client_conn *c)
{
	char b[256];
	int n = SSL_read(c->ssl, b, sizeof(b));

	if (n > 0) {
		snprintf(c->error, sizeof(c->error), "%d unexpected bytes instead of the close", n);
		return -1;
	}
	client_conn_why(c, n, "close");
	return strstr(c->error, "close_notify") != NULL || strstr(c->error, "EOF") != NULL ? 0 : -1;
}

void
client_conn_close(struct client_conn *c)
{
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->ctx != NULL)
		SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->ctx = NULL;
	c->fd = -1;
}

int
client_cert_file_fingerprint(const char *path, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	FILE *f = fopen(path, "r");
	X509 *x;

	if (f == NULL)
		return -1;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL || X509_digest(x, EVP_sha256(), md, &mdlen) != 1) {
		X509_free(x);
		return -1;
	}
	X509_free(x);
	for (i = 0; i < mdlen && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int
client_suite_start(struct harness_deps *deps, char **admin, struct harness_server *s,
		   const char *name, const struct harness_conf *c)
{
	if (harness_init() == -1)
		return -1;
	if (deps != NULL && harness_deps_start(deps) == -1)
		return -1;
	if (admin != NULL && (*admin = harness_token("platform_admin", NULL, "root")) == NULL)
		return -1;
	if (s == NULL)
		return 0;
	if (harness_server_start(s, name, c, deps) == -1)
		return -1;
	if (admin != NULL)
		client_use(s, *admin);
	return 0;
}

int
client_suite_stop(struct harness_deps *deps, char **admin)
{
	if (admin != NULL) {
		free(*admin);
		*admin = NULL;
	}
	harness_server_stop_all();
	if (deps != NULL)
		harness_deps_stop(deps);
	harness_cleanup();
	return 0;
}

void
client_test_sanitizer_logs(void **state)
{
	char bad[1024];
	int unclean;

	(void)state;
	unclean = harness_server_stop_all();
	if (harness_server_log_clean(bad, sizeof(bad)) != 0)
		fail_msg("sanitizer report in %s", bad);
	if (unclean != 0)
		fail_msg("%d enterprised did not exit 0 on SIGTERM (named on stderr)", unclean);
}
