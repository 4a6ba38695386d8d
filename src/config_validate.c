/*
 * config_validate.c: the checks that need the whole configuration, done once the file and the
 * environment are both read (a single value is checked by config.c as it is read).
 *
 * Servers and the monitor bind distinct addresses; TLS material is readable; RS256 comes with a
 * cursor secret; pool and page sizes are ordered. The first rule broken is reported, as
 * "FILE: what is wrong".
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* "FILE: what PATH: strerror" unless PATH is set and readable. */
static int
config_check_readable(const struct config *c, const char *what, const char *path, char *err,
		      size_t errlen)
{
	if (path[0] == '\0') {
		snprintf(err, errlen, "%s: %s is not set", c->path, what);
		return -1;
	}
	if (access(path, R_OK) == -1) {
		snprintf(err, errlen, "%s: %s %s: %s", c->path, what, path, strerror(errno));
		return -1;
	}
	return 0;
}

int
config_validate(const struct config *c, char *err, size_t errlen)
{
	int i, j, tls = 0;

	if (c->nservers < 1) {
		snprintf(err, errlen, "%s: no server block", c->path);
		return -1;
	}
	for (i = 0; i < c->nservers; i++) {
		tls |= c->servers[i].tls;
		if (c->monitor_port != 0 && c->servers[i].port == c->monitor_port &&
		    strcmp(c->servers[i].ip, c->monitor_ip) == 0) {
			snprintf(err, errlen, "%s: server '%s' and monitor both bind %s %d",
				 c->path, c->servers[i].name, c->monitor_ip, c->monitor_port);
			return -1;
		}
		for (j = 0; j < i; j++) {
			if (c->servers[i].port == c->servers[j].port &&
			    strcmp(c->servers[i].ip, c->servers[j].ip) == 0) {
				snprintf(err, errlen, "%s: servers '%s' and '%s' both bind %s %d",
					 c->path, c->servers[j].name, c->servers[i].name,
					 c->servers[i].ip, c->servers[i].port);
				return -1;
			}
		}
	}
	/* Readable is all we check: the master parses the certificate when it builds SSL_CTX. */
	if (tls && (config_check_readable(c, "certfile", c->certfile, err, errlen) == -1 ||
		    config_check_readable(c, "certkey", c->certkey, err, errlen) == -1))
		return -1;
	if (c->jwt_public_key_file[0] != '\0' &&
	    config_check_readable(c, "jwt_public_key_file", c->jwt_public_key_file, err, errlen) ==
		-1)
		return -1;
	/* RS256 has no shared secret to derive the cursor key from: a public value would let
	 * anyone sign cursors */
	if (c->jwt_public_key_file[0] != '\0' && c->cursor_secret[0] == '\0') {
		snprintf(
		    err, errlen,
		    "%s: auth cursor_secret (environment CURSOR_SECRET) is not set: with "
		    "jwt_public_key_file, list cursors need a secret of at least %d bytes, the "
		    "same on every instance",
		    c->path, CONFIG_SECRET_MIN);
		return -1;
	}
	if (c->db_pool_size > c->db_max_pool_size) {
		snprintf(err, errlen, "%s: mongodb pool_size %d is larger than max_pool_size %d",
			 c->path, c->db_pool_size, c->db_max_pool_size);
		return -1;
	}
	if (c->pagination_default_limit > c->pagination_max_limit) {
		snprintf(err, errlen, "%s: pagination default_limit %d is larger than max_limit %d",
			 c->path, c->pagination_default_limit, c->pagination_max_limit);
		return -1;
	}
	return 0;
}
