/*
 * main.c: enterprised's command line.
 *
 *	enterprised [-c FILE]	run the server described by FILE (default: kore.conf)
 *	enterprised -t [-c FILE]	check FILE and the environment, then exit
 *	-n / -r			development: no chroot / no runas, over every privsep block (Kore)
 *
 * Exit codes: 0 success, 1 runtime failure (a port in use, ...), 2 unusable configuration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#include "config.h"
#include "master.h"
#include "sandbox.h"

static void
main_usage(FILE *out)
{
	fprintf(out, "usage: enterprised [-t] [-n] [-r] [-c FILE]\n"
		     "  -c FILE  configuration in Kore's syntax (default: kore.conf)\n"
		     "  -t       check the configuration and the environment, then exit\n"
		     "  -n       no chroot for any process (development; privsep root ignored)\n"
		     "  -r       no privilege drop (development; privsep runas ignored)\n");
}

int
main(int argc, char **argv)
{
	static struct config conf; /* large; lives for the whole process */
	const char *path = "kore.conf";
	char err[CONFIG_ERR_MAX + 64];
	int opt, test_only = 0, skip_chroot = 0, skip_runas = 0, rc;

	while ((opt = getopt(argc, argv, "c:thnr")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test_only = 1;
			break;
		case 'n':
			skip_chroot = 1;
			break;
		case 'r':
			skip_runas = 1;
			break;
		case 'h':
			main_usage(stdout);
			return 0;
		default:
			main_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		main_usage(stderr);
		return 2;
	}
	mongoc_init();
	if (master_config_read(&conf, path, test_only, err, sizeof(err)) != 0 ||
	    ((conf.cli_skip_chroot = skip_chroot), (conf.cli_skip_runas = skip_runas),
	     sandbox_check(&conf, err, sizeof(err))) != 0) {
		fprintf(stderr, "enterprised: %s\n", err);
		mongoc_cleanup();
		return 2;
	}
	if (test_only) {
		printf("enterprised: configuration %s is ok\n", path);
		mongoc_cleanup();
		return 0;
	}
	rc = master_run(&conf);
	mongoc_cleanup();
	return rc;
}
