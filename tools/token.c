/*
 * token.c: prints one HS256 development token made by auth_token_hs256.
 *
 *	token --secret S --role ROLE [--org ID] [--sub ID] [--ttl SECONDS]
 *	      [--issuer I] [--audience A]
 *
 * The claims are checked with the verifier's own rules first, so a token that enterprised
 * would refuse is never printed. tools/dev token is the usual way in.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"

#define TOKEN_DEFAULT_SUB "dev-user"
#define TOKEN_DEFAULT_TTL 3600

static void
token_usage(FILE *f)
{
	fprintf(f,
		"usage: token --secret S --role ROLE [--org ID] [--sub ID] [--ttl SECONDS]\n"
		"             [--issuer I] [--audience A]\n"
		"roles: platform_admin, org_admin, clinic_manager, provider\n"
		"--org (24 hex digits) is required for every role except platform_admin;\n"
		"--sub defaults to " TOKEN_DEFAULT_SUB ", --ttl to %d seconds\n",
		TOKEN_DEFAULT_TTL);
}

static int
token_is_org(const char *s)
{
	size_t i;

	for (i = 0; i < 24; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	}
	return s[24] == '\0';
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"secret", required_argument, NULL, 's'},
	    {"role", required_argument, NULL, 'r'},
	    {"org", required_argument, NULL, 'o'},
	    {"sub", required_argument, NULL, 'u'},
	    {"ttl", required_argument, NULL, 't'},
	    {"issuer", required_argument, NULL, 'i'},
	    {"audience", required_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *secret = NULL, *role = NULL, *org = NULL, *sub = TOKEN_DEFAULT_SUB;
	const char *issuer = NULL, *audience = NULL;
	unsigned long long ttl = TOKEN_DEFAULT_TTL;
	enum auth_role r;
	char *end, *tok;
	time_t now;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			secret = optarg;
			break;
		case 'r':
			role = optarg;
			break;
		case 'o':
			org = optarg;
			break;
		case 'u':
			sub = optarg;
			break;
		case 't':
			errno = 0;
			ttl = strtoull(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || optarg[0] == '-' ||
			    ttl == 0 || ttl > 10ULL * 365 * 24 * 3600) {
				fprintf(stderr, "token: --ttl wants seconds, 1 to 10 years\n");
				return 2;
			}
			break;
		case 'i':
			issuer = optarg;
			break;
		case 'a':
			audience = optarg;
			break;
		case 'h':
			token_usage(stdout);
			return 0;
		default:
			token_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || secret == NULL || role == NULL) {
		token_usage(stderr);
		return 2;
	}
	if (secret[0] == '\0') {
		fprintf(stderr, "token: --secret is empty\n");
		return 2;
	}
	if (auth_role_parse(role, &r) == -1) {
		fprintf(stderr, "token: unknown role '%s'\n", role);
		return 2;
	}
	if (sub[0] == '\0' || strlen(sub) > 127) {
		fprintf(stderr, "token: --sub must be 1 to 127 bytes\n");
		return 2;
	}
	if (org != NULL && !token_is_org(org)) {
		fprintf(stderr, "token: --org must be 24 hex digits\n");
		return 2;
	}
	if (org == NULL && r != AUTH_ROLE_PLATFORM_ADMIN) {
		fprintf(stderr, "token: role %s needs --org\n", role);
		return 2;
	}

	now = time(NULL);
	tok = auth_token_hs256(secret, sub, role, org, issuer, audience, (uint64_t)now,
			       (uint64_t)ttl);
	if (tok == NULL) {
		fprintf(stderr, "token: could not make the token\n");
		return 1;
	}
	printf("%s\n", tok);
	free(tok);
	return 0;
}
