/*
 * sandbox.c: privilege separation and seccomp, as Kore does it (see sandbox.h).
 *
 * Order matters. Everything a process needs from the file system (configuration, certificates,
 * the access log, the shared region) and every name it must resolve is opened before
 * sandbox_enter; then the chroot (needs CAP_SYS_CHROOT, so before the uid change), then the
 * uid change (after which setuid(0) must fail), then no_new_privs (nothing exec'd can gain
 * privileges), then the filter, which needs no_new_privs when not root.
 *
 * The allow-lists are tables of names, one per reason, resolved by libseccomp for the running
 * architecture; a name this kernel's table does not know is skipped. Every process gets
 * sandbox_base; each kind adds its own. They were built with `strace -f` over the end-to-end
 * suite and checked by running that suite with the filters on (docs/SECURITY.md). The master's
 * filter is inherited by every child it forks (filters stack: a call must pass both), so its
 * list holds the children's calls too; it still forbids exec, ptrace, mount, module loading,
 * and the rest. ioctl is allowed only for the requests stdio and the event loop make.
 *
 * Violations: the default action is SCMP_ACT_TRAP. The kernel sends SIGSYS to the offending
 * thread; the handler (installed with SA_RESETHAND, so it runs once) records the number and
 * re-raises SIGSYS, which kills the process with that signal once the handler returns. The
 * master sees WTERMSIG == SIGSYS, reads the number from the child's slot, logs the name and
 * counts it (enterprise_seccomp_violations_total), then restarts the child as any dead one.
 */
#include "sandbox.h"

#include <errno.h>
#include <grp.h>
#include <jansson.h>
#include <pwd.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_ASAN 1
#endif
#endif
#ifndef SANDBOX_ASAN
#define SANDBOX_ASAN 0
#endif

/* descriptors beyond the connections: listeners, logs, epoll, pipes, Redis, slack */
#define SANDBOX_NOFILE_MARGIN 128

/* The allow-lists read as tables, one reason a line. */
/* clang-format off */

/* Every process, the key manager included: memory, locks, time, signals, exit, I/O on
 * descriptors it already has, waiting on them. */
static const char *const sandbox_base[] = {
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise",	/* malloc, OpenSSL */
    "futex",							/* locks */
    "clock_gettime", "clock_getres", "gettimeofday", "time",	/* clock.c, log.c */
    "getrandom",						/* OpenSSL, hash seeds */
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "restart_syscall",
    "tgkill", "getpid", "gettid",				/* raise(): the SIGSYS handler */
    "read", "write", "readv", "writev", "close", "fstat", "newfstatat", "fcntl",
    "poll", "ppoll",						/* the key manager's loop */
    "exit", "exit_group",
};

/* Processes with threads and an event loop (master, workers, monitor): threads, h2o's epoll
 * loop and its wake-up pipes, sleeping, what libraries ask (mongoc's handshake sends uname). */
static const char *const sandbox_loop[] = {
    "clone", "clone3", "set_robust_list", "get_robust_list", "rseq", "set_tid_address",
    "sched_yield", "sched_getaffinity", "nanosleep", "clock_nanosleep",
    "sigaltstack", "getppid",
    "pread64", "pwrite64", "lseek", "dup", "dup3",
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "pipe2",
    "eventfd2",
    "getuid", "geteuid", "getgid", "getegid", "uname", "getrusage", "sysinfo", "prlimit64",
};

/* Workers: accept clients, talk to MongoDB and Redis, answer. */
static const char *const sandbox_worker[] = {
    "accept", "accept4", "socket", "connect", "setsockopt", "getsockopt", "getsockname",
    "getpeername", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
    "shutdown", "socketpair",
};

/* The monitor: serves /metrics, subscribes to Redis invalidations. */
static const char *const sandbox_monitor[] = {
    "accept", "accept4", "socket", "connect", "setsockopt", "getsockopt", "getsockname",
    "getpeername", "sendto", "recvfrom", "sendmsg", "recvmsg", "shutdown",
};

/* The key manager: a poll loop over socketpairs with the workers; no thread, no file, no new
 * socket. The smallest list. */
static const char *const sandbox_keymgr[] = {
    "sendmsg", "recvmsg", "sendto", "recvfrom",
};

/* The master: fork, reap, signal, reload (re-reads the configuration and certificates,
 * removes the pidfile at the end). Its filter is inherited by every child, which initialises
 * under it (opens its log, connects, starts threads) before adding its own: the master's rules
 * are these plus every other kind's (sandbox_rules). */
static const char *const sandbox_master[] = {
    "wait4", "waitid", "kill", "rt_sigtimedwait", "rt_sigsuspend",
    "openat", "open", "stat", "lstat", "access", "faccessat", "faccessat2", "readlink",
    "readlinkat", "getcwd", "getdents64", "unlink", "unlinkat", "chdir", "statx", "ftruncate",
    "prctl", "setrlimit",
    /* the keymgr raises its priority (keymgr.c keymgr_boost) before its own filter */
    "getpriority", "setpriority",
    /* sandbox_enter in the children, before their own filter */
    "chroot", "setgroups", "setgid", "setuid", "setresuid", "setresgid", "seccomp",
};

/* The file system after start: refused with EACCES rather than a kill, since libraries try
 * and cope: glibc's malloc reads /proc/sys/vm/overcommit_memory once; mongoc_cleanup at exit
 * shm_unlinks the driver's counters (/dev/shm/mongoc-PID, the master's). The chroot holds
 * nothing anyway. */
static const char *const sandbox_no_open[] = {"open", "openat", "openat2", "creat"};
static const char *const sandbox_no_fs[] = {
    "unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir",
};

/* LeakSanitizer at exit: a tracer that ptraces every thread and reads /proc/self/maps. */
static const char *const sandbox_asan[] = {
    "ptrace", "wait4", "waitid", "openat", "open", "readlink", "readlinkat", "getdents",
    "getdents64", "prctl", "process_vm_readv", "sched_getaffinity", "mincore", "statx", "stat",
    "lstat", "access", "faccessat", "faccessat2", "kill", "setrlimit", "getrlimit", "clone",
    "sigaltstack", "getppid", "sched_yield",
    "lseek", /* LeakSanitizer's tracer reads /proc: without it the tracer dies and the keymgr
	      * spins in LSan's wait for it at exit (drain deadline, SIGKILL, exit 1) */
};

/* clang-format on */

/* The only process-wide state: where the SIGSYS handler reports (set once, before the filter). */
static _Atomic int32_t *sandbox_report;

#define SANDBOX_NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *
sandbox_kind_name(int kind)
{
	static const char *const names[SANDBOX_KINDS] = {"master", "worker", "monitor", "keymgr"};

	return kind >= 0 && kind < SANDBOX_KINDS ? names[kind] : "?";
}

void
sandbox_report_to(_Atomic int32_t *report)
{
	sandbox_report = report;
}

const char *
sandbox_syscall_name(int nr, char *buf, size_t buflen)
{
	char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

	if (name != NULL)
		snprintf(buf, buflen, "%s", name);
	else
		snprintf(buf, buflen, "syscall %d", nr);
	free(name);
	return buf;
}

/* The privsep block of a kind; NULL for the master. */
static const struct config_privsep *
sandbox_privsep(const struct config *c, int kind)
{
	switch (kind) {
	case SANDBOX_WORKER:
		return &c->privsep[CONFIG_PRIVSEP_WORKER];
	case SANDBOX_MONITOR:
		return &c->privsep[CONFIG_PRIVSEP_MONITOR];
	case SANDBOX_KEYMGR:
		return &c->privsep[CONFIG_PRIVSEP_KEYMGR];
	}
	return NULL;
}

static int
sandbox_wants_chroot(const struct config *c, const struct config_privsep *ps)
{
	return ps != NULL && ps->root[0] != '\0' && !ps->skip_chroot && !c->cli_skip_chroot;
}

static int
sandbox_wants_runas(const struct config *c, const struct config_privsep *ps)
{
	return ps != NULL && ps->runas[0] != '\0' && !c->cli_skip_runas;
}

unsigned long
sandbox_nofile_need(const struct config *c)
{
	return (unsigned long)c->worker_max_connections + (unsigned long)c->db_max_pool_size +
	       SANDBOX_NOFILE_MARGIN;
}

int
sandbox_check(const struct config *c, char *err, size_t errlen)
{
	static const char *const names[CONFIG_PRIVSEP_MAX] = {"worker", "monitor", "keymgr"};
	struct rlimit rl;
	struct stat st;
	int i;

	for (i = 0; i < CONFIG_PRIVSEP_MAX; i++) {
		const struct config_privsep *ps = &c->privsep[i];

		const struct passwd *pw = NULL;

		if (sandbox_wants_runas(c, ps) && (pw = getpwnam(ps->runas)) == NULL) {
			snprintf(err, errlen, "%.300s: privsep %s: runas user '%s' does not exist",
				 ps->runas_at[0] != '\0' ? ps->runas_at : c->path, names[i],
				 ps->runas);
			return -1;
		}
		/* uid 0 would give the process back every privilege the separation takes away */
		if (pw != NULL && pw->pw_uid == 0) {
			snprintf(err, errlen,
				 "%.300s: privsep %s: runas user '%s' is root (uid 0): name an "
				 "unprivileged user",
				 ps->runas_at[0] != '\0' ? ps->runas_at : c->path, names[i],
				 ps->runas);
			return -1;
		}
		if (sandbox_wants_chroot(c, ps) &&
		    (stat(ps->root, &st) != 0 || !S_ISDIR(st.st_mode))) {
			snprintf(err, errlen, "%.200s: privsep %s: root %.200s is not a directory",
				 ps->root_at[0] != '\0' ? ps->root_at : c->path, names[i], ps->root);
			return -1;
		}
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
	    rl.rlim_max < sandbox_nofile_need(c) && geteuid() != 0) {
		snprintf(
		    err, errlen,
		    "%.300s: open files hard limit %lu is below the %lu that "
		    "worker_max_connections %d needs (raise LimitNOFILE / ulimit -Hn, or lower "
		    "worker_max_connections)",
		    c->path, (unsigned long)rl.rlim_max, sandbox_nofile_need(c),
		    c->worker_max_connections);
		return -1;
	}
	return 0;
}

int
sandbox_limits(const struct config *c, char *err, size_t errlen)
{
	struct rlimit rl, core = {0, 0};
	rlim_t need = (rlim_t)sandbox_nofile_need(c);

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		snprintf(err, errlen, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return -1;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur < need) {
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
			rl.rlim_max = need; /* only root (CAP_SYS_RESOURCE) may */
		rl.rlim_cur = need;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			snprintf(err, errlen,
				 "open files limit: cannot raise to %lu for worker_max_connections "
				 "%d: %s (raise LimitNOFILE / ulimit -Hn, or lower "
				 "worker_max_connections)",
				 (unsigned long)need, c->worker_max_connections, strerror(errno));
			return -1;
		}
	}
	/* every process holds jwt_secret and the TLS key: no core file may carry them */
	if (setrlimit(RLIMIT_CORE, &core) != 0) {
		snprintf(err, errlen, "setrlimit(RLIMIT_CORE): %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Async-signal-safe: records the number, says it on stderr, dies of SIGSYS. */
static void
sandbox_on_sigsys(int sig, siginfo_t *si, void *uctx)
{
	char line[64] = "seccomp: forbidden system call ", digits[16];
	size_t len = strlen(line), n = 0;
	unsigned v = (unsigned)si->si_syscall;

	(void)uctx;
	if (sandbox_report != NULL)
		atomic_store_explicit(sandbox_report, si->si_syscall + 1, memory_order_relaxed);
	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0 && n < sizeof(digits));
	while (n > 0)
		line[len++] = digits[--n];
	line[len++] = '\n';
	if (write(STDERR_FILENO, line, len) < 0) {
		/* nothing left to tell */
	}
	/* SA_RESETHAND made the action default again; delivered once the handler returns */
	raise(sig);
}

static int
sandbox_add(scmp_filter_ctx ctx, const char *const *names, size_t n, uint32_t action, char *err,
	    size_t errlen)
{
	size_t i;
	int nr, rc;

	for (i = 0; i < n; i++) {
		if ((nr = seccomp_syscall_resolve_name(names[i])) == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		if ((rc = seccomp_rule_add(ctx, action, nr, 0)) != 0 && rc != -EEXIST) {
			snprintf(err, errlen, "seccomp: allow %s: %s", names[i], strerror(-rc));
			return -1;
		}
	}
	return 0;
}

/* ioctl: only what stdio (isatty) and non-blocking sockets ask. */
static int
sandbox_add_ioctl(scmp_filter_ctx ctx, char *err, size_t errlen)
{
	static const unsigned long reqs[] = {TCGETS, FIONREAD, FIONBIO, FIOCLEX};
	size_t i;
	int rc;

	for (i = 0; i < SANDBOX_NELEM(reqs); i++) {
		/* spelt out: libseccomp's SCMP_A1 leaves datum_b to the compiler (clang warns) */
		struct scmp_arg_cmp cmp = {
		    .arg = 1, .op = SCMP_CMP_EQ, .datum_a = reqs[i], .datum_b = 0};

		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, cmp);
		if (rc != 0) {
			snprintf(err, errlen, "seccomp: allow ioctl: %s", strerror(-rc));
			return -1;
		}
	}
	return 0;
}

static int
sandbox_rules(scmp_filter_ctx ctx, int kind, char *err, size_t errlen)
{
	static const struct {
		const char *const *names;
		size_t n;
	} lists[SANDBOX_KINDS] = {
	    [SANDBOX_MASTER] = {sandbox_master, SANDBOX_NELEM(sandbox_master)},
	    [SANDBOX_WORKER] = {sandbox_worker, SANDBOX_NELEM(sandbox_worker)},
	    [SANDBOX_MONITOR] = {sandbox_monitor, SANDBOX_NELEM(sandbox_monitor)},
	    [SANDBOX_KEYMGR] = {sandbox_keymgr, SANDBOX_NELEM(sandbox_keymgr)},
	};

	int k;

	if (sandbox_add(ctx, sandbox_base, SANDBOX_NELEM(sandbox_base), SCMP_ACT_ALLOW, err,
			errlen) != 0 ||
	    /* ASan builds: LeakSanitizer's tracer at exit is a thread (clone, sigaltstack, ...);
	     * without these the keymgr spun in StopTheWorld until the master's SIGKILL */
	    ((kind != SANDBOX_KEYMGR || SANDBOX_ASAN) &&
	     sandbox_add(ctx, sandbox_loop, SANDBOX_NELEM(sandbox_loop), SCMP_ACT_ALLOW, err,
			 errlen) != 0) ||
	    sandbox_add_ioctl(ctx, err, errlen) != 0)
		return -1;
	for (k = 0; k < SANDBOX_KINDS; k++)
		if ((k == kind || kind == SANDBOX_MASTER) &&
		    sandbox_add(ctx, lists[k].names, lists[k].n, SCMP_ACT_ALLOW, err, errlen) != 0)
			return -1;
	/* LeakSanitizer opens /proc/self/maps: ASan builds may open (sandbox_asan) */
	if (kind != SANDBOX_MASTER && !SANDBOX_ASAN &&
	    sandbox_add(ctx, sandbox_no_open, SANDBOX_NELEM(sandbox_no_open),
			SCMP_ACT_ERRNO(EACCES), err, errlen) != 0)
		return -1;
	if (kind != SANDBOX_MASTER && sandbox_add(ctx, sandbox_no_fs, SANDBOX_NELEM(sandbox_no_fs),
						  SCMP_ACT_ERRNO(EACCES), err, errlen) != 0)
		return -1;
	if (SANDBOX_ASAN && sandbox_add(ctx, sandbox_asan, SANDBOX_NELEM(sandbox_asan),
					SCMP_ACT_ALLOW, err, errlen) != 0)
		return -1;
	return 0;
}

/* Builds and loads the filter of kind for every thread of the process. */
static int
sandbox_seccomp(int kind, const struct config *c, _Atomic int32_t *report, char *err, size_t errlen)
{
	scmp_filter_ctx ctx;
	struct sigaction sa;
	int rc;

	if ((ctx = seccomp_init(c->seccomp_tracing ? SCMP_ACT_LOG : SCMP_ACT_TRAP)) == NULL) {
		snprintf(err, errlen, "seccomp: cannot initialise the filter");
		return -1;
	}
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) != 0) {
		snprintf(err, errlen, "seccomp: thread synchronisation: %s", strerror(-rc));
		goto fail;
	}
	if (sandbox_rules(ctx, kind, err, errlen) != 0)
		goto fail;
	sandbox_report = report;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sandbox_on_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) != 0) {
		snprintf(err, errlen, "seccomp: SIGSYS handler: %s", strerror(errno));
		goto fail;
	}
	if ((rc = seccomp_load(ctx)) != 0) {
		snprintf(err, errlen, "seccomp: cannot load the filter: %s", strerror(-rc));
		goto fail;
	}
	seccomp_release(ctx);
	return 0;
fail:
	seccomp_release(ctx);
	return -1;
}

/* setgroups, setgid, setuid to user (looked up before the chroot); then proves root cannot
 * come back. */
static int
sandbox_runas(const char *user, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 ||
	    setresuid(uid, uid, uid) != 0) {
		snprintf(err, errlen, "runas %s: %s", user, strerror(errno));
		return -1;
	}
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0 || geteuid() != uid || getuid() != uid ||
			 getegid() != gid)) {
		snprintf(err, errlen, "runas %s: root can still be regained", user);
		return -1;
	}
	return 0;
}

int
sandbox_enter(int kind, const struct config *c, _Atomic int32_t *report, char *err, size_t errlen)
{
	const struct config_privsep *ps = sandbox_privsep(c, kind);
	int root = geteuid() == 0;
	struct passwd *pw = NULL;
	uid_t uid = 0;
	gid_t gid = 0;

	/* libraries that read a file on first use read it now: jansson seeds its hash from
	 * /dev/urandom when it makes its first object */
	json_object_seed(0);
	/* no core dump, no ptrace by the same user: this process holds secrets */
	prctl(PR_SET_DUMPABLE, SANDBOX_ASAN ? 1 : 0, 0, 0, 0);
	/* /etc/passwd is outside the chroot */
	if (sandbox_wants_runas(c, ps)) {
		if ((pw = getpwnam(ps->runas)) == NULL) {
			snprintf(err, errlen, "privsep %s: runas user '%s' does not exist",
				 sandbox_kind_name(kind), ps->runas);
			return -1;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
		if (!root && uid == geteuid()) {
			pw = NULL; /* started as that user already (systemd User=) */
		} else if (!root) {
			snprintf(err, errlen,
				 "privsep %s: runas %s needs the master to start as root (-r skips "
				 "it)",
				 sandbox_kind_name(kind), ps->runas);
			return -1;
		}
	}
	if (sandbox_wants_chroot(c, ps)) {
		if (SANDBOX_ASAN) {
			log_warn("privsep %s: built with AddressSanitizer: chroot %s skipped "
				 "(LeakSanitizer reads /proc at exit)",
				 sandbox_kind_name(kind), ps->root);
		} else if (chroot(ps->root) != 0 || chdir("/") != 0) {
			snprintf(err, errlen, "privsep %s: chroot %s: %s", sandbox_kind_name(kind),
				 ps->root, strerror(errno));
			return -1;
		}
	}
	if (pw != NULL && sandbox_runas(ps->runas, uid, gid, err, errlen) != 0)
		return -1;
	/* a changed uid resets dumpable; LeakSanitizer's tracer needs it set */
	prctl(PR_SET_DUMPABLE, SANDBOX_ASAN ? 1 : 0, 0, 0, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		snprintf(err, errlen, "no_new_privs: %s", strerror(errno));
		return -1;
	}
	if (c->seccomp && sandbox_seccomp(kind, c, report, err, errlen) != 0)
		return -1;
	return 0;
}
