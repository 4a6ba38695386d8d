/*
 * test_sentinel.c: Redis Sentinel (issue 11). A master, a replica and three sentinels of
 * Debian's redis-server / redis-sentinel on loopback (down-after 1 s, quorum 2), one FerretDB,
 * and enterprised with `redis { sentinels ...; sentinel_master ... }`.
 *
 * The replica replicates through a small TCP relay in this process, so the test can hold back
 * what the master sends it: a write acknowledged by the master (its invalidation included)
 * then never reaches the replica, exactly what asynchronous replication loses when a master
 * dies. The master is killed with SIGKILL while a reader thread keeps reading; then:
 *	- every read answers 200 (from MongoDB while Redis is gone);
 *	- within SWITCH_BOUND_MS of Sentinel naming the new master, reads are cache hits again
 *	  and the new master holds the service's values;
 *	- no read returns a value older than a write acknowledged before the read began: a
 *	  client that merely reconnected to the promoted replica would serve the copy cached
 *	  before the lost invalidation (the test fails it), so the service drops L2 on a switch.
 * Nothing here measures speed; the bound is a stated promise with margin (see DECISIONS.md).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis.h>

#include "client.h"
#include "harness.h"

#define V1 CLIENT_V1
#define MASTER_NAME "entmaster"
#define NSENTINELS 3
/* from Sentinel naming the new master to cache hits on it: the listener's retry (0.5 s), one
 * resolve (SENTINEL_TIMEOUT_MS per step), the L2 drop, then a miss that fills; with margin for
 * a loaded machine */
#define SWITCH_BOUND_MS 10000
#define FAILOVER_WAIT_MS 30000

static struct harness_deps deps;
static struct harness_server server;
static char *admin;
static struct harness_proc master, replica, sentinels[NSENTINELS];
static int master_port, replica_port, relay_port, sentinel_ports[NSENTINELS];
/* org[0]: written while Redis is gone (its missed invalidation is repaired by name); org[1]:
 * written only on the old master, unreplicated: nothing but the switch itself says its
 * cached copy on the new master is old */
static char org_id[2][25];

/* --- Redis helpers (hiredis, real servers) ------------------------------------------------- */

static redisReply *
redis_at(int port, const char *fmt, ...)
{
	struct timeval tv = {2, 0};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
	redisReply *r = NULL;
	va_list ap;

	if (c == NULL || c->err) {
		if (c != NULL)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	redisFree(c);
	return r;
}

/* The port Sentinel on sport names for the master, or 0. */
static int
sentinel_master_port(int sport)
{
	redisReply *r = redis_at(sport, "SENTINEL get-master-addr-by-name %s", MASTER_NAME);
	int port = 0;

	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[1]->type == REDIS_REPLY_STRING)
		port = atoi(r->element[1]->str);
	if (r != NULL)
		freeReplyObject(r);
	return port;
}

/* The number of elements of SENTINEL <sub> MASTER_NAME (replicas, sentinels), or -1. */
static long
rcount(int port, const char *sub)
{
	redisReply *r = redis_at(port, "SENTINEL %s %s", sub, MASTER_NAME);
	long n = r != NULL && r->type == REDIS_REPLY_ARRAY ? (long)r->elements : -1;

	if (r != NULL)
		freeReplyObject(r);
	return n;
}

/* Keys of the service's cached responses on the Redis at port. */
static long
cached_responses(int port)
{
	redisReply *r = redis_at(port, "KEYS ent:v1:r:*");
	long n = r != NULL && r->type == REDIS_REPLY_ARRAY ? (long)r->elements : -1;

	if (r != NULL)
		freeReplyObject(r);
	return n;
}

static int
redis_start(struct harness_proc *p, const char *name, int port, const char *replicaof)
{
	char sport[16], dir[PATH_MAX];
	uint64_t deadline = harness_now_ms() + 10000;

	snprintf(sport, sizeof(sport), "%d", port);
	snprintf(dir, sizeof(dir), "%s", harness_dir());
	if (replicaof != NULL) {
		char *argv[] = {"redis-server",
				"--port",
				sport,
				"--bind",
				"127.0.0.1",
				"--save",
				"",
				"--appendonly",
				"no",
				"--dir",
				dir,
				"--replicaof",
				(char *)replicaof,
				NULL};

		if (harness_proc_start(p, name, argv, NULL) == -1)
			return -1;
	} else {
		/* no 5 s wait before the replica's first (diskless) full sync */
		char *argv[] = {"redis-server",
				"--port",
				sport,
				"--bind",
				"127.0.0.1",
				"--save",
				"",
				"--appendonly",
				"no",
				"--dir",
				dir,
				"--repl-diskless-sync-delay",
				"0",
				NULL};

		if (harness_proc_start(p, name, argv, NULL) == -1)
			return -1;
	}
	while (harness_now_ms() < deadline) {
		redisReply *r = redis_at(port, "PING");

		if (r != NULL) {
			freeReplyObject(r);
			return 0;
		}
		harness_sleep_ms(20);
	}
	return -1;
}

static int
sentinel_start(int i)
{
	char path[PATH_MAX], name[32];
	char *argv[] = {"redis-sentinel", path, NULL};
	FILE *f;

	snprintf(name, sizeof(name), "sentinel%d", i);
	snprintf(path, sizeof(path), "%s/%s.conf", harness_dir(), name);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fprintf(f,
		"port %d\nbind 127.0.0.1\ndir %s\n"
		"sentinel monitor %s 127.0.0.1 %d 2\n"
		"sentinel down-after-milliseconds %s 1000\n"
		"sentinel failover-timeout %s 5000\n"
		"sentinel parallel-syncs %s 1\n",
		sentinel_ports[i], harness_dir(), MASTER_NAME, master_port, MASTER_NAME,
		MASTER_NAME, MASTER_NAME);
	fclose(f);
	return harness_proc_start(&sentinels[i], name, argv, NULL);
}

/* --- the relay between the replica and the master ---------------------------------------- */

/*
 * Accepts the replica's connections on relay_port and forwards both ways to the master. While
 * `held`, nothing from the master is read (it stays in the kernel until the master dies): the
 * replica never sees those writes. `cut` closes every pair.
 */
#define RELAY_PAIRS 4
static atomic_int relay_held, relay_cut, relay_stop;
static pthread_t relay_tid;
static int relay_fd = -1;

static int
relay_connect_master(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)master_port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

static int
relay_copy(int from, int to)
{
	char buf[16384];
	ssize_t n = read(from, buf, sizeof(buf)), off = 0;

	if (n <= 0)
		return -1;
	while (off < n) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));

		if (w <= 0)
			return -1;
		off += w;
	}
	return 0;
}

static void *
relay_main(void *arg)
{
	int down[RELAY_PAIRS], up[RELAY_PAIRS], i, n = 0;

	(void)arg;
	while (!atomic_load(&relay_stop)) {
		struct pollfd p[1 + 2 * RELAY_PAIRS];
		int np = 0;

		if (atomic_load(&relay_cut)) {
			for (i = 0; i < n; i++) {
				close(down[i]);
				close(up[i]);
			}
			n = 0;
		}
		p[np].fd = relay_fd;
		p[np++].events = POLLIN;
		for (i = 0; i < n; i++) {
			p[np].fd = down[i];
			p[np++].events = POLLIN;
			p[np].fd = atomic_load(&relay_held) ? -1 : up[i];
			p[np++].events = POLLIN;
		}
		if (poll(p, (nfds_t)np, 50) <= 0)
			continue;
		if (p[0].revents & POLLIN) {
			int c = accept(relay_fd, NULL, NULL), m;

			if (c >= 0 && (atomic_load(&relay_cut) || n == RELAY_PAIRS ||
				       (m = relay_connect_master()) < 0)) {
				close(c);
			} else if (c >= 0) {
				down[n] = c;
				up[n++] = m;
			}
			continue;
		}
		for (i = 0; i < n; i++) {
			int bad = 0;

			if (p[1 + 2 * i].revents && relay_copy(down[i], up[i]) != 0)
				bad = 1;
			if (!bad && p[2 + 2 * i].revents && relay_copy(up[i], down[i]) != 0)
				bad = 1;
			if (bad) {
				close(down[i]);
				close(up[i]);
				down[i] = down[n - 1];
				up[i] = up[n - 1];
				n--;
				break;
			}
		}
	}
	for (i = 0; i < n; i++) {
		close(down[i]);
		close(up[i]);
	}
	return NULL;
}

/* --- the reader under load --------------------------------------------------------------- */

/*
 * Versions: the organization's name is "Sentinel Org v<N>". `acked` is the highest version
 * whose PATCH answered 200; a read that began after that must show at least it.
 */
static atomic_int acked[2], reader_stop;
static atomic_long reads, non200, older;
static char older_seen[256];
static pthread_t reader_tid;
static int reader_running; /* a failed test leaves it for the teardown */

static int
version_of(const char *body)
{
	const char *p = body != NULL ? strstr(body, "Sentinel Org v") : NULL;

	return p != NULL ? atoi(p + strlen("Sentinel Org v")) : -1;
}

static void *
reader_main(void *arg)
{
	char *url[2];
	long n = 0;

	(void)arg;
	for (int k = 0; k < 2; k++)
		url[k] = client_strf("%s" V1 "/organizations/%s", server.url, org_id[k]);
	while (!atomic_load(&reader_stop)) {
		struct harness_response r;
		int k = (int)(n++ % 2), floor = atomic_load(&acked[k]), v;

		harness_get_token(url[k], admin, &r);
		atomic_fetch_add(&reads, 1);
		if (r.status != 200) {
			atomic_fetch_add(&non200, 1);
		} else if ((v = version_of(r.body)) < floor) {
			if (atomic_fetch_add(&older, 1) == 0)
				snprintf(older_seen, sizeof(older_seen),
					 "org %d: v%d after v%d was acked (X-Cache %s)", k, v,
					 floor, harness_header(&r, "x-cache"));
		}
		harness_response_free(&r);
		harness_sleep_ms(20);
	}
	free(url[0]);
	free(url[1]);
	return NULL;
}

/* PATCH the organization to version v; 200 moves `acked`. */
static void
write_version(int k, int v)
{
	struct harness_response r;
	char *path = client_strf(V1 "/organizations/%s", org_id[k]);
	char *body = client_strf("{\"name\":\"Sentinel Org v%d\"}", v);

	client_call("PATCH", path, admin, body, &r);
	if (r.status != 200)
		fail_msg("PATCH v%d: %ld %s", v, r.status, r.body);
	atomic_store(&acked[k], v);
	harness_response_free(&r);
	free(path);
	free(body);
}

/* GET until X-Cache says a hit (HIT-L1 / HIT-L2); returns its version, fails after ms. */
static int
get_until_hit(int k, unsigned ms, const char *what)
{
	char *path = client_strf(V1 "/organizations/%s", org_id[k]);
	uint64_t deadline = harness_now_ms() + ms;

	for (;;) {
		struct harness_response r;
		const char *xc;

		client_call("GET", path, admin, NULL, &r);
		assert_int_equal(r.status, 200);
		xc = harness_header(&r, "x-cache");
		if (xc != NULL && strncmp(xc, "HIT", 3) == 0) {
			int v = version_of(r.body);

			harness_response_free(&r);
			free(path);
			return v;
		}
		harness_response_free(&r);
		if (harness_now_ms() > deadline)
			fail_msg("org %d, %s: no cache hit within %u ms", k, what, ms);
		harness_sleep_ms(50);
	}
}

/* --- the test ---------------------------------------------------------------------------- */

static void
test_a_master_killed_under_load_loses_no_acknowledged_write(void **state)
{
	redisReply *r;
	uint64_t t_kill, t_named, t_hit;
	int i, k, v;

	(void)state;
	for (k = 0; k < 2; k++) {
		client_new_org("Sentinel Org v1", org_id[k]);
		atomic_store(&acked[k], 1);
		/* v1 cached in Redis on the master */
		v = get_until_hit(k, SWITCH_BOUND_MS, "before the failover");
		assert_int_equal(v, 1);
	}
	/* ... and the replica has all of it */
	r = redis_at(master_port, "WAIT 1 1500");
	assert_non_null(r);
	assert_int_equal(r->integer, 1);
	freeReplyObject(r);
	if (cached_responses(replica_port) < 2)
		fail_msg("the replica holds fewer than 2 of the service's cached responses");

	atomic_store(&reader_stop, 0);
	assert_int_equal(pthread_create(&reader_tid, NULL, reader_main, NULL), 0);
	reader_running = 1;

	/* the master acknowledges v2 of both (invalidations included) but the replica never
	 * sees them */
	atomic_store(&relay_held, 1);
	harness_sleep_ms(100);
	for (k = 0; k < 2; k++) {
		write_version(k, 2);
		v = get_until_hit(k, SWITCH_BOUND_MS, "v2 on the old master");
		assert_int_equal(v, 2);
	}

	t_kill = harness_now_ms();
	assert_int_equal(kill(master.pid, SIGKILL), 0);
	assert_int_equal(harness_proc_wait(&master, 5000), 0);
	atomic_store(&relay_cut, 1);
	/* a write while Redis is gone: MongoDB takes it, Redis misses its invalidation */
	write_version(0, 3);

	/* Sentinel promotes the replica */
	for (;;) {
		if (sentinel_master_port(sentinel_ports[0]) == replica_port)
			break;
		if (harness_now_ms() - t_kill > FAILOVER_WAIT_MS)
			fail_msg("Sentinel named no new master within %d ms", FAILOVER_WAIT_MS);
		harness_sleep_ms(50);
	}
	t_named = harness_now_ms();
	for (k = 0; k < 2; k++) {
		v = get_until_hit(k, SWITCH_BOUND_MS, "caching on the new master");
		if (v < atomic_load(&acked[k]))
			fail_msg("org %d: a cache hit on the new master returned v%d after v%d was "
				 "acknowledged",
				 k, v, atomic_load(&acked[k]));
	}
	t_hit = harness_now_ms();
	if (cached_responses(replica_port) < 1)
		fail_msg("the new master holds none of the service's cached responses");
	print_message("failover: Sentinel named the new master %.1f s after the kill; cache hits "
		      "%.1f s after that\n",
		      (double)(t_named - t_kill) / 1000, (double)(t_hit - t_named) / 1000);

	{
		struct harness_prom p;
		double switches = 0;

		if (harness_prom_fetch(server.metrics_url, &p) == -1)
			fail_msg("/metrics: %s", p.error);
		harness_prom_sum(&p, "enterprise_redis_master_switches_total", NULL, &switches);
		harness_prom_free(&p);
		if (switches != 1)
			fail_msg("enterprise_redis_master_switches_total is %.0f, want 1",
				 switches);
	}

	/* writes invalidate on the new master */
	for (i = 4; i <= 5; i++) {
		for (k = 0; k < 2; k++) {
			write_version(k, i);
			v = get_until_hit(k, SWITCH_BOUND_MS, "after a write on the new master");
			assert_int_equal(v, i);
		}
	}

	atomic_store(&reader_stop, 1);
	pthread_join(reader_tid, NULL);
	reader_running = 0;
	print_message("reader: %ld reads, %ld not 200, %ld older than acknowledged\n",
		      atomic_load(&reads), atomic_load(&non200), atomic_load(&older));
	if (atomic_load(&older) > 0)
		fail_msg("a read returned a value older than an acknowledged write: %s",
			 older_seen);
	if (atomic_load(&non200) > 0)
		fail_msg("%ld reads did not answer 200 across the failover", atomic_load(&non200));
	assert_true(atomic_load(&reads) > 10);
}

/* `enterprised -t` refuses a sentinel list without a master name, and a bad list. */
static void
test_the_check_refuses_half_a_sentinel_configuration(void **state)
{
	static const struct {
		const char *block, *says;
	} cases[] = {
	    {"redis {\n\tsentinels\t127.0.0.1:26379\n}\n", "REDIS_SENTINEL_MASTER"},
	    {"redis {\n\tsentinel_master\tm\n}\n", "REDIS_SENTINELS"},
	    {"redis {\n\tsentinels\t127.0.0.1\n\tsentinel_master\tm\n}\n", "host:port"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct harness_server s;
		struct harness_conf c = {.no_tls = 1, .extra = cases[i].block};
		char *args[] = {"-t", "-c", s.conf_path, NULL};
		char *out = NULL, *err = NULL;
		int status;

		assert_int_equal(harness_conf_write(&s, "sentinel-check", &c), 0);
		status = harness_server_run(args, &deps, 15000, &out, &err);
		if (harness_exit_code(status) != 2 || err == NULL ||
		    strstr(err, cases[i].says) == NULL)
			fail_msg("case %zu: exit %d, stderr %s", i, harness_exit_code(status),
				 err != NULL ? err : "(none)");
		free(out);
		free(err);
	}
}

/* The first element of ROLE at port ("master", "slave", "sentinel"), in role (32 bytes). */
static void
role_of(int port, char *role)
{
	redisReply *r = redis_at(port, "ROLE");

	snprintf(role, 32, "%s",
		 r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
			 r->element[0]->type == REDIS_REPLY_STRING
		     ? r->element[0]->str
		     : "?");
	if (r != NULL)
		freeReplyObject(r);
}

/*
 * After the first test: the old master comes back, Sentinel makes it a replica of the new
 * one, and `SENTINEL FAILOVER` promotes it again while the demoted master stays alive (its
 * connections keep working, as replicas). Nothing fails a connection here: only Sentinel's
 * +switch-master (and READONLY answers) tell the service, which must move to the promoted
 * instance within the bound.
 */
static void
test_a_manual_failover_is_followed_while_the_old_master_lives(void **state)
{
	char role[32];
	uint64_t deadline, t_named, next_try;
	int k, v;

	(void)state;
	if (sentinel_master_port(sentinel_ports[0]) != replica_port)
		skip(); /* the first test did not get this far */
	assert_int_equal(redis_start(&master, "redis-master2", master_port, NULL), 0);
	/* Sentinel turns it into a replica of the current master; then FAILOVER promotes it
	 * (refused with NOGOODSLAVE until the replica is known and synchronized; asked again if
	 * an accepted failover did not complete, as Sentinel may abort one on a slow machine) */
	atomic_store(&reader_stop, 0);
	assert_int_equal(pthread_create(&reader_tid, NULL, reader_main, NULL), 0);
	reader_running = 1;
	deadline = harness_now_ms() + 2 * FAILOVER_WAIT_MS;
	next_try = 0;
	while (sentinel_master_port(sentinel_ports[0]) != master_port) {
		role_of(master_port, role);
		if (strcmp(role, "slave") == 0 && harness_now_ms() >= next_try) {
			redisReply *r =
			    redis_at(sentinel_ports[0], "SENTINEL FAILOVER %s", MASTER_NAME);
			int ok = r != NULL && r->type == REDIS_REPLY_STATUS;

			if (r != NULL)
				freeReplyObject(r);
			next_try = harness_now_ms() + (ok ? 15000 : 250);
		}
		if (harness_now_ms() > deadline)
			fail_msg("no manual failover within %d ms (port %d is %s)",
				 2 * FAILOVER_WAIT_MS, master_port, role);
		harness_sleep_ms(100);
	}
	t_named = harness_now_ms();
	/* writes and cached reads on the promoted instance, within the bound */
	for (k = 0; k < 2; k++) {
		int want = atomic_load(&acked[k]) + 1;

		write_version(k, want);
		v = get_until_hit(k, SWITCH_BOUND_MS, "caching after the manual failover");
		assert_int_equal(v, want);
	}
	while (cached_responses(master_port) < 2) {
		if (harness_now_ms() - t_named > SWITCH_BOUND_MS)
			fail_msg("the promoted instance holds no cached response %d ms after the "
				 "switch",
				 SWITCH_BOUND_MS);
		harness_sleep_ms(100);
	}
	print_message("manual failover: cache hits on the promoted instance %.1f s after "
		      "Sentinel named it\n",
		      (double)(harness_now_ms() - t_named) / 1000);
	atomic_store(&reader_stop, 1);
	pthread_join(reader_tid, NULL);
	reader_running = 0;
	if (atomic_load(&older) > 0)
		fail_msg("a read returned a value older than an acknowledged write: %s",
			 older_seen);
	if (atomic_load(&non200) > 0)
		fail_msg("%ld reads did not answer 200 across the failovers", atomic_load(&non200));
	{
		struct harness_prom p;
		double switches = 0;

		if (harness_prom_fetch(server.metrics_url, &p) == -1)
			fail_msg("/metrics: %s", p.error);
		harness_prom_sum(&p, "enterprise_redis_master_switches_total", NULL, &switches);
		harness_prom_free(&p);
		if (switches != 2)
			fail_msg("enterprise_redis_master_switches_total is %.0f, want 2",
				 switches);
	}
}

/* --- setup -------------------------------------------------------------------------------- */

static int
group_setup(void **state)
{
	static char extra[512], list[256], replicaof[64];
	struct harness_conf c = {.workers = 2, .extra = extra};
	struct sockaddr_in a = {.sin_family = AF_INET};
	uint64_t deadline;
	int i, ready;

	(void)state;
	if (client_suite_start(NULL, &admin, NULL, NULL, NULL) == -1 ||
	    harness_ferretdb_start(&deps) == -1)
		return -1;
	master_port = harness_free_port();
	replica_port = harness_free_port();
	relay_port = harness_free_port();
	for (i = 0; i < NSENTINELS; i++)
		sentinel_ports[i] = harness_free_port();
	deps.redis_port = master_port;
	/* the relay listens first; the replica replicates through it */
	relay_fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_port = htons((uint16_t)relay_port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	i = 1;
	setsockopt(relay_fd, SOL_SOCKET, SO_REUSEADDR, &i, sizeof(i));
	if (bind(relay_fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(relay_fd, 8) != 0 ||
	    pthread_create(&relay_tid, NULL, relay_main, NULL) != 0)
		return -1;
	snprintf(replicaof, sizeof(replicaof), "127.0.0.1 %d", relay_port);
	if (redis_start(&master, "redis-master", master_port, NULL) == -1 ||
	    redis_start(&replica, "redis-replica", replica_port, replicaof) == -1)
		return -1;
	deadline = harness_now_ms() + 20000;
	do {
		redisReply *r = redis_at(replica_port, "INFO replication");

		ready = r != NULL && r->type == REDIS_REPLY_STRING;
		ready = ready && strstr(r->str, "master_link_status:up") != NULL;
		if (r != NULL)
			freeReplyObject(r);
		if (!ready)
			harness_sleep_ms(100);
	} while (!ready && harness_now_ms() < deadline);
	if (!ready) {
		fprintf(stderr, "the replica never synchronized with the master\n");
		return -1;
	}
	for (i = 0; i < NSENTINELS; i++)
		if (sentinel_start(i) == -1)
			return -1;
	/* every sentinel knows the replica and the two other sentinels (hello every 2 s) */
	deadline = harness_now_ms() + 30000;
	do {
		ready = 1;
		for (i = 0; i < NSENTINELS; i++) {
			ready &= rcount(sentinel_ports[i], "replicas") == 1;
			ready &= rcount(sentinel_ports[i], "sentinels") == NSENTINELS - 1;
		}
		if (!ready)
			harness_sleep_ms(200);
	} while (!ready && harness_now_ms() < deadline);
	if (!ready) {
		fprintf(stderr, "sentinels did not discover each other and the replica\n");
		return -1;
	}
	snprintf(list, sizeof(list), "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", sentinel_ports[0],
		 sentinel_ports[1], sentinel_ports[2]);
	snprintf(extra, sizeof(extra), "redis {\n\tsentinels\t%s\n\tsentinel_master\t%s\n}\n", list,
		 MASTER_NAME);
	if (harness_server_start(&server, "sentinel", &c, &deps) == -1)
		return -1;
	client_use(&server, admin);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	if (reader_running) {
		atomic_store(&reader_stop, 1);
		pthread_join(reader_tid, NULL);
	}
	atomic_store(&relay_stop, 1);
	if (relay_fd >= 0) {
		pthread_join(relay_tid, NULL);
		close(relay_fd);
	}
	return client_suite_stop(&deps, &admin);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_the_check_refuses_half_a_sentinel_configuration),
	    cmocka_unit_test(test_a_master_killed_under_load_loses_no_acknowledged_write),
	    cmocka_unit_test(test_a_manual_failover_is_followed_while_the_old_master_lives),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
