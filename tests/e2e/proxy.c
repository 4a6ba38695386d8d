/* proxy.c: HAProxy in front of the harness's instances (see proxy.h). */
#include "proxy.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#define PROXY_LIVE_REQ                                                                             \
	"GET /api/v1/health/live HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"

extern char **environ;

/* px->env: environ without EDGE_* / BACKEND_*, then ours. */
static int
proxy_env_build(struct proxy *px, const char *pem, const int *ports, int n)
{
	char cwd[PATH_MAX];
	size_t i;
	int k = 0, j;

	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -1;
	for (i = 0; environ[i] != NULL && k < 490; i++)
		if (strncmp(environ[i], "EDGE_", 5) != 0 && strncmp(environ[i], "BACKEND_", 8) != 0)
			px->env[k++] = environ[i];
	px->own = k;
	px->env[k++] = client_strf("EDGE_BIND=127.0.0.1:%d", px->port);
	px->env[k++] = client_strf("EDGE_CERT=%s", pem);
	px->env[k++] = client_strf("EDGE_ERRORS=%s/" PROXY_ERRORS_DIR, cwd);
	for (j = 0; j < n; j++)
		px->env[k++] = client_strf("BACKEND_%d=127.0.0.1:%d", j + 1, ports[j]);
	/* the harness's certificate is self-signed: it is its own CA; CN=localhost */
	px->env[k++] = client_strf("BACKEND_CA=%s", harness_cert_path());
	px->env[k++] = client_strf("BACKEND_NAME=localhost");
	px->env[k] = NULL;
	return 0;
}

static void
proxy_env_free(struct proxy *px)
{
	int i;

	for (i = px->own; px->env[i] != NULL; i++)
		free(px->env[i]);
	px->env[px->own] = NULL;
}

/* The haproxy binary: in PATH, or Debian's /usr/sbin (not in every user's PATH). */
static int
proxy_find(char *out, size_t outlen)
{
	const char *path = getenv("PATH");
	char *dirs = client_strf("%s:/usr/sbin", path != NULL ? path : ""), *d, *save;

	for (d = strtok_r(dirs, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, outlen, "%s/haproxy", d);
		if (access(out, X_OK) == 0) {
			free(dirs);
			return 0;
		}
	}
	free(dirs);
	return -1;
}

/* The harness's certificate and key in one PEM file, as HAProxy's `crt` takes them. */
static int
proxy_pem_write(const char *pem)
{
	char *cert = harness_read_file(harness_cert_path(), NULL);
	char *key = harness_read_file(harness_key_path(), NULL);
	FILE *f = NULL;
	int rc = -1;

	if (cert != NULL && key != NULL && (f = fopen(pem, "w")) != NULL && fputs(cert, f) >= 0 &&
	    fputs(key, f) >= 0)
		rc = 0;
	if (f != NULL && fclose(f) != 0)
		rc = -1;
	free(cert);
	free(key);
	return rc;
}

int
proxy_start(struct proxy *px, const int *ports, int n)
{
	char bin[PATH_MAX], pem[PATH_MAX];
	uint64_t deadline;
	struct client_raw_reply r;
	char *argv[] = {bin, "-f", PROXY_CFG, "-db", NULL};

	if (n < 1 || n > PROXY_MAX_BACKENDS)
		return -1;
	if (proxy_find(bin, sizeof(bin)) == -1) {
		fprintf(stderr, "haproxy is not installed (tools/deps installs it)\n");
		return -1;
	}
	snprintf(pem, sizeof(pem), "%s/edge.pem", harness_dir());
	if (access(PROXY_CFG, R_OK) != 0 || proxy_pem_write(pem) == -1 ||
	    (px->port = harness_free_port()) == -1 || proxy_env_build(px, pem, ports, n) == -1 ||
	    harness_proc_start(&px->proc, "haproxy", argv, px->env) == -1)
		return -1;
	for (deadline = harness_now_ms() + 10000; !harness_port_accepts(px->port);) {
		if (harness_now_ms() > deadline || harness_proc_wait(&px->proc, 0) == 0) {
			fprintf(stderr, "haproxy did not start:\n");
			harness_print_tail(px->proc.err_path, 20);
			return -1;
		}
		harness_sleep_ms(50);
	}
	/* the servers start up; the first request is proof that TLS to enterprised works */
	client_raw_exchange(px->port, PROXY_LIVE_REQ, sizeof(PROXY_LIVE_REQ) - 1, &r);
	if (r.status != 200) {
		fprintf(stderr, "haproxy does not pass requests: %s\n", r.data);
		harness_print_tail(px->proc.out_path, 20);
		return -1;
	}
	return 0;
}

void
proxy_stop(struct proxy *px)
{
	if (px->proc.pid != 0)
		harness_proc_stop(&px->proc, 5000);
	if (px->env[0] != NULL)
		proxy_env_free(px);
}
