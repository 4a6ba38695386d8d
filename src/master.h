/*
 * master.h: the master process. It binds, forks and supervises; it never serves a request.
 */
#ifndef ENTERPRISED_MASTER_H
#define ENTERPRISED_MASTER_H

#include <stddef.h>

#include "config.h"

/*
 * The one way a configuration is read, at start, for `-t` and on reload (SIGHUP): defaults,
 * the file at path, the environment of this process over it, cross-field checks, the MongoDB
 * URI and the Redis URL, and with tls_check the certificate and key loaded into a TLS context.
 * Returns 0, or -1 with err set to "FILE:LINE: what is wrong", "FILE: what is wrong" or
 * "environment NAME: what is wrong" (config.h).
 */
int master_config_read(struct config *c, const char *path, int tls_check, char *err, size_t errlen);

/* Runs the server described by c until SIGTERM/SIGINT, reloading on SIGHUP (master.c says
 * how); returns the process exit code (0 after a clean drain, 1 on a runtime failure, 2 on a
 * configuration that cannot be used). c is copied: the caller may free it. */
int master_run(const struct config *c);

#endif
