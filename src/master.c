/*
 * master.c: bind, fork, supervise (see master.h).
 *
 * The master binds every listener and builds the one SSL_CTX before forking, so that a port
 * in use or a bad certificate stops start-up with a clear message, and so that the workers
 * share one accept queue per listener: a worker that dies leaves the queued connections to
 * the others. Signals are blocked and taken synchronously with sigtimedwait, so the
 * supervision loop is plain sequential code with no handler races.
 *
 * Reload (SIGHUP, as nginx and Kore do): the master reads its configuration file again (the
 * environment is the one it started with: a running process's environment never changes),
 * and when it is good builds a new SSL_CTX from the certificate and key files as they are now
 * and forks a new generation of workers and a new monitor on the same listening sockets.
 * Once every new worker accepts, the previous generation gets SIGTERM and drains
 * (worker_drain); its exits are expected and never restarted. A bad file, a certificate that
 * does not load, or a change that needs new sockets (listen addresses, the monitor's bind,
 * the pidfile) is refused with a log line and the running generation keeps serving.
 *
 * Children live in one table: entries 0..SHM_MAX_WORKERS-1 are worker slots of the shared
 * region (so two generations never share a slot's counters), then MASTER_MONITORS entries for
 * monitors and MASTER_KEYMGRS for key managers.
 *
 * Key manager (keymgr.c, `keymgr on`, the default with TLS): each generation starts with its
 * keymgr, before its workers; the master waits for it to report its key loaded (a key that
 * does not load stops start-up or refuses the reload) and keeps both ends of the generation's
 * socketpairs, so a keymgr that dies is restarted on the same sockets and a restarted worker
 * gets its old one. Retiring a generation closes the master's copies of its worker ends: the
 * keymgr exits once the last of its workers has.
 */
#include "master.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#include "clock.h"
#include "http.h"
#include "keymgr.h"
#include "log.h"
#include "mongo.h"
#include "monitor.h"
#include "redis.h"
#include "sentinel.h"
#include "sandbox.h"
#include "shm.h"
#include "tls.h"
#include "worker.h"

#define MASTER_RESTART_BACKOFF_MS 1000
#define MASTER_KILL_GRACE_MS 5000
/* a reload retires the previous generation once the new one serves, or after this long if
 * at least one new worker serves by then */
#define MASTER_READY_TIMEOUT_MS 10000
#define MASTER_MONITORS SHM_MAX_MONITORS
#define MASTER_KEYMGRS SHM_MAX_KEYMGRS
#define MASTER_KEYMGR_BASE (SHM_MAX_WORKERS + MASTER_MONITORS)
#define MASTER_CHILDREN (MASTER_KEYMGR_BASE + MASTER_KEYMGRS)
/* a keymgr reports its key loaded within this long, or its generation does not start */
#define MASTER_KEYMGR_READY_MS 5000

/* What a child table entry holds, by its range. */
enum master_kind { MASTER_WORKER, MASTER_MONITOR, MASTER_KEYMGR };

struct master_child {
	pid_t pid;	     /* 0: not running */
	int used;	     /* the entry is taken: running, or waiting for its restart */
	int index;	     /* worker number in its generation (worker-N); -1: monitor, keymgr */
	unsigned generation; /* the reload it was started by; 0 at start */
	uint64_t drain_ms;   /* its configuration's worker_shutdown_timeout, ms */
	uint64_t started_ms;
	uint64_t restart_at_ms; /* 0: no restart pending */
	uint64_t kill_at_ms;	/* told to drain: SIGKILL after this; 0: not told */
};

struct master {
	struct config *conf; /* the current generation's; owned */
	SSL_CTX *ssl;	     /* made from conf's certificate; NULL without a TLS server */
	struct shm_region *shm;
	struct worker_listener listeners[CONFIG_MAX_SERVERS];
	int nlisteners;
	struct worker_listener monitor_listener;
	int has_monitor_listener;
	struct master_child children[MASTER_CHILDREN];
	struct keymgr_chan chans[MASTER_KEYMGRS]; /* of the keymgr entries, in their order */
	int keymgr; /* the current generation's keymgr entry; -1: none */
	unsigned generation;
	int retire_pending;    /* older generations still serve, waiting for the new one */
	uint64_t retire_by_ms; /* retire them then even if not every new worker serves */
	sigset_t signals;
	int stopping;
	int exit_code;
};

static int
master_bind(const char *ip, int port, struct worker_listener *l, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, on = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in);
		snprintf(l->addr, sizeof(l->addr), "%s:%d", ip, port);
	} else if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in6);
		snprintf(l->addr, sizeof(l->addr), "[%s]:%d", ip, port);
	} else {
		snprintf(err, errlen, "bind %s %d: not an IP address", ip, port);
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* SO_REUSEADDR only: with SO_REUSEPORT a second instance would silently share the port */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, SOMAXCONN) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", l->addr, strerror(errno));
		close(fd);
		return -1;
	}
	l->fd = fd;
	return 0;
}

static void
master_close_listeners(struct master *m)
{
	int i;

	for (i = 0; i < m->nlisteners; i++) {
		if (m->listeners[i].fd >= 0)
			close(m->listeners[i].fd);
		m->listeners[i].fd = -1;
	}
	if (m->has_monitor_listener && m->monitor_listener.fd >= 0) {
		close(m->monitor_listener.fd);
		m->monitor_listener.fd = -1;
	}
}

static enum master_kind
master_kind(int entry)
{
	return entry < SHM_MAX_WORKERS	    ? MASTER_WORKER
	       : entry < MASTER_KEYMGR_BASE ? MASTER_MONITOR
					    : MASTER_KEYMGR;
}

static int
master_is_monitor(int entry)
{
	return master_kind(entry) == MASTER_MONITOR;
}

/* The socketpairs of keymgr entry `entry`. */
static struct keymgr_chan *
master_chan(struct master *m, int entry)
{
	return &m->chans[entry - MASTER_KEYMGR_BASE];
}

/* The entries of one kind: [*begin, *end). */
static void
master_range(enum master_kind kind, int *begin, int *end)
{
	*begin = kind == MASTER_WORKER	  ? 0
		 : kind == MASTER_MONITOR ? SHM_MAX_WORKERS
					  : MASTER_KEYMGR_BASE;
	*end = kind == MASTER_WORKER	? SHM_MAX_WORKERS
	       : kind == MASTER_MONITOR ? MASTER_KEYMGR_BASE
					: MASTER_CHILDREN;
}

/* A free entry of that kind; -1 when none. */
static int
master_free_entry(const struct master *m, enum master_kind kind)
{
	int i, end;

	for (master_range(kind, &i, &end); i < end; i++)
		if (!m->children[i].used)
			return i;
	return -1;
}

static int
master_free_entries(const struct master *m, enum master_kind kind)
{
	int i, end, n = 0;

	for (master_range(kind, &i, &end); i < end; i++)
		n += !m->children[i].used;
	return n;
}

/* Records that entry runs pid, of generation gen with configuration c. */
static void
master_child_started(struct master *m, int entry, pid_t pid, int index, unsigned gen,
		     const struct config *c)
{
	struct master_child *ch = &m->children[entry];

	ch->pid = pid;
	ch->used = 1;
	ch->index = index;
	ch->generation = gen;
	ch->drain_ms = (uint64_t)c->worker_shutdown_timeout * 1000;
	ch->started_ms = clock_mono_ms();
	ch->restart_at_ms = 0;
	ch->kill_at_ms = 0;
}

/* Forks the keymgr of entry: configuration c, certificate context ssl, generation gen (its key
 * id); ready_fd (-1: none) is where it reports its key loaded. */
static pid_t
master_spawn_keymgr(struct master *m, int entry, const struct config *c, SSL_CTX *ssl, unsigned gen,
		    int ready_fd)
{
	pid_t pid;

	atomic_store_explicit(&m->shm->seccomp_nr[entry], 0, memory_order_relaxed);
	if ((pid = fork()) < 0) {
		log_error("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		sandbox_report_to(&m->shm->seccomp_nr[entry]);
		keymgr_main(c, ssl, master_chan(m, entry), gen, ready_fd,
			    &m->shm->seccomp_nr[entry]);
	}
	master_child_started(m, entry, pid, -1, gen, c);
	return pid;
}

/* Reads the keymgr's report from fd: 0 once it says "ok", -1 with its words in err. */
static int
master_keymgr_ready(int fd, char *err, size_t errlen)
{
	char buf[512];
	size_t len = 0;
	uint64_t deadline = clock_mono_ms() + MASTER_KEYMGR_READY_MS, now;
	struct pollfd p = {fd, POLLIN, 0};
	ssize_t n;

	while (len < sizeof(buf) - 1 && (now = clock_mono_ms()) < deadline) {
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue;
		if ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (strcmp(buf, "ok") == 0)
		return 0;
	snprintf(err, errlen, "keymgr: %s", len > 0 ? buf : "did not report its key loaded");
	return -1;
}

/*
 * Starts the keymgr of a new generation (gen, configuration c with c->workers sockets,
 * certificate context ssl) and waits until it has loaded its key. Returns its entry, or -1
 * with the reason in err (nothing left running).
 */
static int
master_keymgr_start(struct master *m, const struct config *c, SSL_CTX *ssl, unsigned gen, char *err,
		    size_t errlen)
{
	int entry = master_free_entry(m, MASTER_KEYMGR), p[2], status;
	pid_t pid;

	if (entry < 0) {
		snprintf(err, errlen,
			 "earlier generations' key managers still run; try again once "
			 "they are gone");
		return -1;
	}
	if (keymgr_chan_open(master_chan(m, entry), c->workers, err, errlen) != 0)
		return -1;
	if (pipe2(p, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "keymgr: pipe: %s", strerror(errno));
		keymgr_chan_close(master_chan(m, entry));
		return -1;
	}
	pid = master_spawn_keymgr(m, entry, c, ssl, gen, p[1]);
	close(p[1]);
	if (pid > 0 && master_keymgr_ready(p[0], err, errlen) == 0) {
		close(p[0]);
		log_info("generation %u: keymgr pid %d holds the key", gen, (int)pid);
		return entry;
	}
	close(p[0]);
	if (pid < 0) {
		snprintf(err, errlen, "keymgr: fork: %s", strerror(errno));
	} else {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		m->children[entry].pid = 0;
		m->children[entry].used = 0;
	}
	keymgr_chan_close(master_chan(m, entry));
	return -1;
}

/* In a new child: closes the keymgr sockets it must not hold, then becomes entry's process. */
static _Noreturn void
master_child_main(struct master *m, int entry, int index)
{
	struct keymgr_end end = {-1, m->generation};
	int i;

	sandbox_report_to(&m->shm->seccomp_nr[entry]);
	if (master_kind(entry) == MASTER_WORKER && m->keymgr >= 0)
		end.fd = master_chan(m, m->keymgr)->wk[index];
	for (i = 0; i < MASTER_KEYMGRS; i++)
		keymgr_chan_close_except(&m->chans[i], end.fd);
	if (master_kind(entry) == MASTER_WORKER) {
		if (m->has_monitor_listener)
			close(m->monitor_listener.fd);
		worker_main(index, entry, m->conf, m->shm, m->listeners, m->nlisteners, m->ssl,
			    end.fd >= 0 ? &end : NULL);
	}
	for (i = 0; i < m->nlisteners; i++)
		close(m->listeners[i].fd);
	monitor_main(m->conf, m->shm, entry, m->has_monitor_listener ? &m->monitor_listener : NULL);
}

/* Forks the child of entry (worker `index` in the current generation, or a monitor). */
static pid_t
master_spawn(struct master *m, int entry, int index)
{
	enum master_kind kind = master_kind(entry);
	pid_t pid;

	if (kind == MASTER_KEYMGR) /* a restart: the current generation's, on its sockets */
		return master_spawn_keymgr(m, entry, m->conf, m->ssl, m->generation, -1);
	if (kind == MASTER_WORKER) /* a clean slot: serving is set by the worker alone */
		shm_worker_release(m->shm, entry);
	atomic_store_explicit(&m->shm->seccomp_nr[entry], 0, memory_order_relaxed);
	pid = fork();

	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) /* the child never returns: worker_main and monitor_main exit */
		master_child_main(m, entry, index);
	master_child_started(m, entry, pid, kind == MASTER_WORKER ? index : -1, m->generation,
			     m->conf);
	if (kind == MASTER_WORKER)
		shm_worker_claim(m->shm, entry, pid);
	return pid;
}

/* Starts conf->workers workers and a monitor in the current generation. -1 when a fork
 * failed (what started keeps running and is restarted by the usual rule). */
static int
master_spawn_generation(struct master *m)
{
	int i, entry, rc = 0;

	for (i = 0; i < m->conf->workers; i++) {
		if ((entry = master_free_entry(m, MASTER_WORKER)) < 0 ||
		    master_spawn(m, entry, i) < 0)
			rc = -1;
	}
	if ((entry = master_free_entry(m, MASTER_MONITOR)) < 0 || master_spawn(m, entry, -1) < 0)
		rc = -1;
	return rc;
}

static void
master_describe_exit(char *out, size_t outlen, int status)
{
	if (WIFEXITED(status))
		snprintf(out, outlen, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, outlen, "was killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(out, outlen, "stopped (status %d)", status);
}

/* A child killed by its seccomp filter: the call's name into `how`, counted by kind. */
static void
master_seccomp_violation(struct master *m, int entry, int status, char *how, size_t howlen)
{
	enum master_kind mk = master_kind(entry);
	int kind = mk == MASTER_KEYMGR   ? SANDBOX_KEYMGR
		   : mk == MASTER_MONITOR ? SANDBOX_MONITOR
					  : SANDBOX_WORKER;
	int32_t nr = atomic_load_explicit(&m->shm->seccomp_nr[entry], memory_order_relaxed);
	char name[64];

	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS || nr <= 0)
		return;
	atomic_fetch_add_explicit(&m->shm->seccomp_violations[kind], 1, memory_order_relaxed);
	snprintf(how, howlen,
		 "was killed by seccomp: system call %s (%d) is not in the %s "
		 "allow-list",
		 sandbox_syscall_name(nr - 1, name, sizeof(name)), nr - 1, sandbox_kind_name(kind));
}

/* A keymgr died. A retired one (or any while stopping) was waiting for its workers to go: its
 * sockets close. The current generation's is restarted on the same sockets; meanwhile the
 * workers' handshakes fail after KEYMGR_TIMEOUT_MS (shm->keymgr_failures). */
static void
master_on_keymgr_exit(struct master *m, int entry, int status)
{
	struct master_child *ch = &m->children[entry];
	uint64_t now = clock_mono_ms();
	char how[192];

	master_describe_exit(how, sizeof(how), status);
	master_seccomp_violation(m, entry, status, how, sizeof(how));
	ch->pid = 0;
	if (ch->generation != m->generation || m->stopping) {
		ch->used = 0;
		keymgr_chan_close(master_chan(m, entry));
		log_info("keymgr of generation %u %s", ch->generation, how);
		return;
	}
	log_error("keymgr %s; restarting it", how);
	atomic_fetch_add_explicit(&m->shm->keymgr_restarts, 1, memory_order_relaxed);
	ch->restart_at_ms = now - ch->started_ms < MASTER_RESTART_BACKOFF_MS
				? now + MASTER_RESTART_BACKOFF_MS
				: now;
}

/* A child died: schedule its restart, or begin stopping, by policy. A child of a retired
 * generation was told to drain: its exit is the end of its drain, never restarted. */
static void
master_on_child_exit(struct master *m, int entry, int status)
{
	struct master_child *ch = &m->children[entry];
	int monitor = master_is_monitor(entry), retired = ch->generation != m->generation;
	char how[192], who[32];
	uint64_t now = clock_mono_ms();

	master_describe_exit(how, sizeof(how), status);
	if (master_kind(entry) == MASTER_KEYMGR) {
		master_on_keymgr_exit(m, entry, status);
		return;
	}
	master_seccomp_violation(m, entry, status, how, sizeof(how));
	if (monitor)
		snprintf(who, sizeof(who), "monitor");
	else
		snprintf(who, sizeof(who), "worker %d", ch->index);
	ch->pid = 0;
	if (!monitor) {
		shm_worker_release(m->shm, entry);
	} else if (!retired) {
		/* the lease alone would leave worker memory trusted a little longer, and a write
		 * through another instance answers faster than that: withdraw it now (a retired
		 * monitor's successor holds its own lease) */
		atomic_store_explicit(&m->shm->l1_trusted, 0, memory_order_release);
		atomic_store_explicit(&m->shm->monitor_pid, 0, memory_order_relaxed);
	}
	if (retired || m->stopping) {
		ch->used = 0;
		if (retired && WIFEXITED(status) && WEXITSTATUS(status) == 0)
			log_info("%s of generation %u drained and %s", who, ch->generation, how);
		else if (retired)
			log_warn("%s of generation %u (retired) %s", who, ch->generation, how);
		else if (!monitor)
			log_info("%s %s", who, how);
		return;
	}
	log_error("%s %s", who, how);
	if (!monitor && m->conf->worker_death_policy == CONFIG_DEATH_TERMINATE) {
		log_error("worker_death_policy terminate: stopping the server");
		m->stopping = 1;
		m->exit_code = 1;
		ch->used = 0;
		return;
	}
	atomic_fetch_add_explicit(&m->shm->worker_restarts, 1, memory_order_relaxed);
	/* a child that dies at once would otherwise be re-forked in a tight loop */
	ch->restart_at_ms = now - ch->started_ms < MASTER_RESTART_BACKOFF_MS
				? now + MASTER_RESTART_BACKOFF_MS
				: now;
}

static void
master_reap(struct master *m)
{
	pid_t pid;
	int status, i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < MASTER_CHILDREN; i++) {
			if (m->children[i].used && m->children[i].pid == pid) {
				master_on_child_exit(m, i, status);
				break;
			}
		}
	}
}

static void
master_restart_due(struct master *m)
{
	uint64_t now = clock_mono_ms();
	struct master_child *ch;
	int i;

	if (m->stopping)
		return;
	for (i = 0; i < MASTER_CHILDREN; i++) {
		ch = &m->children[i];
		if (!ch->used || ch->pid != 0 || ch->restart_at_ms == 0 || now < ch->restart_at_ms)
			continue;
		/* a keymgr serves its own generation's sockets and key only */
		if (master_kind(i) == MASTER_KEYMGR && ch->generation != m->generation)
			continue;
		if (master_spawn(m, i, ch->index) <= 0)
			continue;
		if (master_kind(i) == MASTER_KEYMGR)
			log_info("keymgr restarted as pid %d", (int)ch->pid);
		else if (master_is_monitor(i))
			log_info("monitor restarted as pid %d", (int)ch->pid);
		else
			log_info("worker %d restarted as pid %d", ch->index, (int)ch->pid);
	}
}

static int
master_children_alive(const struct master *m)
{
	int i, n = 0;

	for (i = 0; i < MASTER_CHILDREN; i++)
		n += m->children[i].pid != 0;
	return n;
}

static void
master_signal_children(struct master *m, int sig)
{
	int i;

	for (i = 0; i < MASTER_CHILDREN; i++)
		if (m->children[i].pid != 0)
			kill(m->children[i].pid, sig);
}

/* 1 when the current generation's workers all accept connections, 0 when some do not yet,
 * -1 when none does. */
static int
master_generation_serving(const struct master *m)
{
	int i, all = 1, any = 0;

	for (i = 0; i < SHM_MAX_WORKERS; i++) {
		const struct master_child *ch = &m->children[i];

		if (!ch->used || ch->generation != m->generation)
			continue;
		if (ch->pid != 0 && shm_worker_is_serving(m->shm, i))
			any = 1;
		else
			all = 0;
	}
	return all ? 1 : any ? 0 : -1;
}

/* Tells every child of an older generation to drain (the SIGTERM path of worker.c). */
static void
master_retire_old(struct master *m)
{
	uint64_t now = clock_mono_ms();
	int i, n = 0;

	for (i = 0; i < MASTER_CHILDREN; i++) {
		struct master_child *ch = &m->children[i];

		if (!ch->used || ch->generation == m->generation || ch->kill_at_ms != 0)
			continue;
		if (ch->pid == 0) { /* was waiting for a restart: not any more */
			ch->used = 0;
			if (master_kind(i) == MASTER_KEYMGR)
				keymgr_chan_close(master_chan(m, i));
			continue;
		}
		/* a keymgr is not told: it exits when its workers have (end-of-file) */
		if (master_kind(i) == MASTER_KEYMGR)
			keymgr_chan_close_workers(master_chan(m, i));
		else
			kill(ch->pid, SIGTERM);
		ch->kill_at_ms = now + ch->drain_ms + MASTER_KILL_GRACE_MS;
		n++;
	}
	m->retire_pending = 0;
	log_info("generation %u serves; %d processes of the previous one drain", m->generation, n);
}

/* After a reload: retire the older generations once the new one serves. */
static void
master_retire_when_ready(struct master *m)
{
	int serving;

	if (!m->retire_pending)
		return;
	serving = master_generation_serving(m);
	if (serving == 1 || (serving == 0 && clock_mono_ms() >= m->retire_by_ms)) {
		if (serving == 0)
			log_warn("generation %u: some workers do not serve yet; retiring the "
				 "previous one anyway",
				 m->generation);
		master_retire_old(m);
	}
}

/* A retired child past its drain deadline is killed. */
static void
master_kill_overdue(struct master *m)
{
	uint64_t now = clock_mono_ms();
	int i;

	for (i = 0; i < MASTER_CHILDREN; i++) {
		struct master_child *ch = &m->children[i];

		if (ch->pid != 0 && ch->kill_at_ms != 0 && now >= ch->kill_at_ms) {
			log_error("pid %d of generation %u still running after its drain "
				  "deadline; killing it",
				  (int)ch->pid, ch->generation);
			kill(ch->pid, SIGKILL);
			ch->kill_at_ms = UINT64_MAX;
		}
	}
}

/* Graceful stop: children drain within worker_shutdown_timeout, then are killed. */
static void
master_drain(struct master *m)
{
	uint64_t deadline = clock_mono_ms() + (uint64_t)m->conf->worker_shutdown_timeout * 1000 +
			    MASTER_KILL_GRACE_MS;
	struct timespec ts = {0, 100 * 1000 * 1000};
	int killed = 0;

	m->stopping = 1;
	atomic_store_explicit(&m->shm->draining, 1, memory_order_relaxed);
	master_close_listeners(m);
	for (int i = 0; i < MASTER_KEYMGRS; i++) /* the keymgrs exit after their workers */
		keymgr_chan_close_workers(&m->chans[i]);
	master_signal_children(m, SIGTERM);
	while (master_children_alive(m) > 0) {
		sigtimedwait(&m->signals, NULL, &ts);
		master_reap(m);
		if (!killed && clock_mono_ms() >= deadline) {
			log_error("children still running after the drain deadline; killing them");
			master_signal_children(m, SIGKILL);
			killed = 1;
			m->exit_code = 1;
		}
	}
}

static int
master_write_pidfile(const char *path)
{
	char line[32];
	int fd, len;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		log_error("pidfile %s: %s", path, strerror(errno));
		return -1;
	}
	len = snprintf(line, sizeof(line), "%d\n", (int)getpid());
	if (write(fd, line, (size_t)len) != len) {
		log_error("pidfile %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
master_config_read(struct config *c, const char *path, int tls_check, char *err, size_t errlen)
{
	struct redis_url url;
	SSL_CTX *ssl;
	char why[CONFIG_ERR_MAX];
	int i, need_tls = 0;

	config_defaults(c);
	if (config_load(c, path, err, errlen) != 0 || config_apply_env(c, err, errlen) != 0 ||
	    config_validate(c, err, errlen) != 0)
		return -1;
	/* a refused value is named by its FILE:LINE (or its environment variable) */
	if (mongo_uri_check(c->mongodb_uri, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s", config_where(c, c->mongodb_uri), why);
		return -1;
	}
	if (redis_url_parse(c->redis_url, &url, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s", config_where(c, c->redis_url), why);
		return -1;
	}
	if (sentinel_config_check(c, err, errlen) != 0)
		return -1;
	for (i = 0; i < c->nservers; i++)
		need_tls |= c->servers[i].tls;
	if (tls_check && need_tls) {
		char tls_err[512];

		if ((ssl = tls_new(c, 1, tls_err, sizeof(tls_err))) == NULL) {
			snprintf(err, errlen, "%.200s: %.300s", c->path, tls_err);
			return -1;
		}
		SSL_CTX_free(ssl);
	}
	return 0;
}

/* What a reload cannot change, since the master holds it from start: the listening sockets
 * (servers, the monitor's bind) and the pidfile. 0, or -1 with "FILE: what" in err. */
static int
master_reload_fixed(const struct config *old, const struct config *next, char *err, size_t errlen)
{
	int i;

	if (next->nservers != old->nservers) {
		snprintf(err, errlen, "%.300s: %d server blocks instead of %d", next->path,
			 next->nservers, old->nservers);
		return -1;
	}
	for (i = 0; i < old->nservers; i++) {
		const struct config_server *a = &old->servers[i], *b = &next->servers[i];

		if (strcmp(a->ip, b->ip) != 0 || a->port != b->port || a->tls != b->tls) {
			snprintf(err, errlen,
				 "%.300s: server '%.63s' binds %.63s %d tls %s instead of %.63s %d "
				 "tls %s",
				 next->path, b->name, b->ip, b->port, b->tls ? "yes" : "no", a->ip,
				 a->port, a->tls ? "yes" : "no");
			return -1;
		}
	}
	if (strcmp(old->monitor_ip, next->monitor_ip) != 0 ||
	    old->monitor_port != next->monitor_port) {
		snprintf(err, errlen, "%.300s: monitor binds %.63s %d instead of %.63s %d",
			 next->path, next->monitor_ip, next->monitor_port, old->monitor_ip,
			 old->monitor_port);
		return -1;
	}
	if (strcmp(old->pidfile, next->pidfile) != 0) {
		snprintf(err, errlen, "%.200s: pidfile %.150s instead of %.150s", next->path,
			 next->pidfile, old->pidfile);
		return -1;
	}
	return 0;
}

/* Reads the next configuration and its TLS context; 0, or -1 with err set. */
static int
master_reload_prepare(struct master *m, struct config *next, SSL_CTX **ssl, char *err,
		      size_t errlen)
{
	char tls_err[512];
	int i, need_tls = 0;

	*ssl = NULL;
	if (master_config_read(next, m->conf->path, 0, err, errlen) != 0)
		return -1;
	next->cli_skip_chroot = m->conf->cli_skip_chroot;
	next->cli_skip_runas = m->conf->cli_skip_runas;
	if (sandbox_check(next, err, errlen) != 0)
		return -1;
	if (master_reload_fixed(m->conf, next, err, errlen) != 0) {
		size_t len = strlen(err);

		snprintf(err + len, errlen - len, " (the sockets change only with a restart)");
		return -1;
	}
	if (master_free_entries(m, MASTER_WORKER) < next->workers ||
	    master_free_entries(m, MASTER_MONITOR) < 1) {
		snprintf(err, errlen,
			 "%.300s: earlier generations still drain and hold the worker slots; "
			 "try again once they are gone",
			 next->path);
		return -1;
	}
	for (i = 0; i < next->nservers; i++)
		need_tls |= next->servers[i].tls;
	if (need_tls && (*ssl = tls_new(next, !next->keymgr, tls_err, sizeof(tls_err))) == NULL) {
		snprintf(err, errlen, "%.200s: %.300s", next->path, tls_err);
		return -1;
	}
	return 0;
}

/* SIGHUP: a new generation with the configuration as it is now, or none and a log line. */
static void
master_reload(struct master *m)
{
	struct config *next;
	SSL_CTX *ssl = NULL;
	char err[CONFIG_ERR_MAX + 128];
	int keymgr = -1;

	if ((next = calloc(1, sizeof(*next))) == NULL) {
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	if (master_reload_prepare(m, next, &ssl, err, sizeof(err)) != 0)
		goto fail;
	/* the new key must load before anything changes */
	if (ssl != NULL && next->keymgr &&
	    (keymgr = master_keymgr_start(m, next, ssl, m->generation + 1, err, sizeof(err))) < 0)
		goto fail;
	free(m->conf);
	SSL_CTX_free(m->ssl);
	m->conf = next;
	m->ssl = ssl;
	m->keymgr = keymgr;
	m->generation++;
	atomic_fetch_add_explicit(&m->shm->config_reloads[SHM_RELOAD_OK], 1, memory_order_relaxed);
	log_info("SIGHUP: %s reloaded; generation %u starts %d workers and a monitor",
		 m->conf->path, m->generation, m->conf->workers);
	if (master_spawn_generation(m) != 0)
		log_error("generation %u: not every child started; retrying", m->generation);
	m->retire_pending = 1;
	m->retire_by_ms = clock_mono_ms() + MASTER_READY_TIMEOUT_MS;
	return;
fail:
	free(next);
	SSL_CTX_free(ssl);
	atomic_fetch_add_explicit(&m->shm->config_reloads[SHM_RELOAD_FAILED], 1,
				  memory_order_relaxed);
	log_error("SIGHUP: reload refused, the running configuration stays: %s", err);
}

/* Binds the listeners, maps the shared region, writes the pidfile. 0, or -1 (logged). */
static int
master_open(struct master *m)
{
	const struct config *c = m->conf;
	char err[512];
	int i;

	m->monitor_listener.fd = -1;
	for (i = 0; i < c->nservers; i++) {
		if (master_bind(c->servers[i].ip, c->servers[i].port, &m->listeners[i], err,
				sizeof(err)) != 0) {
			log_error("%s", err);
			return -1;
		}
		m->listeners[i].tls = c->servers[i].tls;
		m->nlisteners = i + 1;
	}
	if (c->monitor_port != 0) {
		if (master_bind(c->monitor_ip, c->monitor_port, &m->monitor_listener, err,
				sizeof(err)) != 0) {
			log_error("monitor: %s", err);
			return -1;
		}
		m->has_monitor_listener = 1;
	}
	if ((m->shm = shm_create(err, sizeof(err))) == NULL) {
		log_error("shared region: %s", err);
		return -1;
	}
	if (c->pidfile[0] != '\0' && master_write_pidfile(c->pidfile) != 0)
		return -1;
	return 0;
}

int
master_run(const struct config *c)
{
	struct master *m;
	char err[512];
	int i, sig, need_tls = 0, rc;
	struct timespec ts;

	log_init("master");
	prctl(PR_SET_NAME, "master", 0, 0, 0);
	if ((m = calloc(1, sizeof(*m))) == NULL || (m->conf = malloc(sizeof(*m->conf))) == NULL) {
		log_error("out of memory");
		free(m);
		return 1;
	}
	memcpy(m->conf, c, sizeof(*c));
	c = m->conf;
	m->keymgr = -1;
	for (i = 0; i < MASTER_KEYMGRS; i++)
		keymgr_chan_init(&m->chans[i]);
	for (i = 0; i < c->nservers; i++)
		need_tls |= c->servers[i].tls;
	if (need_tls && (m->ssl = tls_new(c, !c->keymgr, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\n", c->path, err);
		free(m->conf);
		free(m);
		return 2;
	}
	if (master_open(m) != 0) {
		rc = 1;
		goto out;
	}
	/* the master never parses a request; from here it forks, reaps and reloads */
	if (sandbox_limits(c, err, sizeof(err)) != 0 ||
	    sandbox_enter(SANDBOX_MASTER, c, NULL, err, sizeof(err)) != 0) {
		log_error("%s", err);
		rc = 1;
		goto out;
	}

	sigemptyset(&m->signals);
	sigaddset(&m->signals, SIGCHLD);
	sigaddset(&m->signals, SIGTERM);
	sigaddset(&m->signals, SIGINT);
	sigaddset(&m->signals, SIGHUP);
	sigprocmask(SIG_BLOCK, &m->signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	for (i = 0; i < c->nservers; i++)
		log_info("listening on %s://%s", c->servers[i].tls ? "https" : "http",
			 m->listeners[i].addr);
	if (need_tls && c->keymgr &&
	    (m->keymgr = master_keymgr_start(m, c, m->ssl, m->generation, err, sizeof(err))) < 0) {
		fprintf(stderr, "%s: %s\n", c->path, err);
		log_error("%s", err);
		if (c->pidfile[0] != '\0')
			unlink(c->pidfile);
		rc = 2;
		goto out;
	}
	master_spawn_generation(m);

	while (!m->stopping) {
		/* poll faster while a new generation comes up */
		ts = (struct timespec){0, (m->retire_pending ? 50 : 250) * 1000 * 1000};
		sig = sigtimedwait(&m->signals, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("%s: stopping gracefully (up to %d s)", strsignal(sig),
				 m->conf->worker_shutdown_timeout);
			break;
		}
		master_reap(m);
		if (sig == SIGHUP && !m->stopping)
			master_reload(m);
		master_retire_when_ready(m);
		master_kill_overdue(m);
		master_restart_due(m);
	}
	master_drain(m);
	rc = m->exit_code;
	if (m->conf->pidfile[0] != '\0')
		unlink(m->conf->pidfile);
	log_info("stopped");
out:
	master_close_listeners(m);
	for (i = 0; i < MASTER_KEYMGRS; i++)
		keymgr_chan_close(&m->chans[i]);
	if (m->shm != NULL)
		shm_destroy(m->shm);
	SSL_CTX_free(m->ssl);
	free(m->conf);
	free(m);
	return rc;
}
