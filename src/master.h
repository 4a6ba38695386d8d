/*
 * master.h: the master process. It binds, forks and supervises; it never serves a request.
 */
#ifndef ENTERPRISED_MASTER_H
#define ENTERPRISED_MASTER_H

#include "config.h"

/* Runs the server described by c until SIGTERM/SIGINT; returns the process exit code
 * (0 after a clean drain, 1 on a runtime failure, 2 on a configuration that cannot be used). */
int master_run(const struct config *c);

#endif
