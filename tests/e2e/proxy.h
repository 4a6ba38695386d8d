/*
 * proxy.h: HAProxy (conf/haproxy.cfg, Debian's haproxy) in front of enterprised instances
 * started by the harness, for the end-to-end tests of the front proxy (test_proxy.c) and of
 * a cluster behind it (test_cluster.c).
 *
 * proxy_start writes the harness's certificate and key into one PEM (HAProxy's `crt`),
 * points BACKEND_1..BACKEND_n at the given instance ports (the harness's self-signed
 * certificate is their CA, CN localhost), starts haproxy in the foreground under the harness
 * (its own process group, killed at exit), and waits until a request through it is answered
 * 200. haproxy must be installed (tools/deps installs it): without it proxy_start fails.
 */
#ifndef ENTERPRISED_TESTS_PROXY_H
#define ENTERPRISED_TESTS_PROXY_H

#include "harness.h"

#define PROXY_CFG "conf/haproxy.cfg"
#define PROXY_ERRORS_DIR "conf/haproxy-errors"
#define PROXY_MAX_BACKENDS 8 /* the server lines conf/haproxy.cfg has */

struct proxy {
	struct harness_proc proc;
	int port;	/* where clients connect (TLS) */
	char *env[512]; /* haproxy's environment: the harness's, then ours (owned from own) */
	int own;	/* env[own..] were allocated here */
};

/*
 * Starts HAProxy in front of the instances listening on ports[0..n-1] (n from 1 to
 * PROXY_MAX_BACKENDS; a port may repeat). Returns 0 once a GET of /api/v1/health/live through
 * it answered 200 (10 s at most), -1 otherwise (the reason and haproxy's log on stderr).
 */
int proxy_start(struct proxy *px, const int *ports, int n);
/* SIGTERM, then SIGKILL after 5 s; nothing when it is not running. */
void proxy_stop(struct proxy *px);

#endif
