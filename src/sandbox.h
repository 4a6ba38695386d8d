/*
 * sandbox.h: what each process gives up once it is initialised (issue 12): resource limits,
 * core files, a chroot, root (privsep's runas), new privileges, and every system call outside
 * the allow-list of its kind (seccomp).
 */
#ifndef ENTERPRISED_SANDBOX_H
#define ENTERPRISED_SANDBOX_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Process kinds: one seccomp allow-list each; the index of shm seccomp_violations. */
enum sandbox_kind {
	SANDBOX_MASTER,
	SANDBOX_WORKER,
	SANDBOX_MONITOR,
	SANDBOX_KEYMGR,
	SANDBOX_KINDS
};

/* "master", "worker", "monitor", "keymgr" (the metrics label); "?" out of range. */
const char *sandbox_kind_name(int kind);

/*
 * What `enterprised -t`, the start and a reload refuse before any process is forked: a privsep
 * `runas` user that does not exist, a `root` that is not a directory, an open files hard limit
 * below what worker_max_connections needs (sandbox_nofile_need). 0, or -1 with
 * "FILE: what is wrong" in err.
 */
int sandbox_check(const struct config *c, char *err, size_t errlen);

/* Open files one worker needs, count: worker_max_connections plus the database pool, Redis,
 * the listeners, logs and the event loop's own descriptors. */
unsigned long sandbox_nofile_need(const struct config *c);

/*
 * The master, before it forks: RLIMIT_NOFILE soft limit raised to sandbox_nofile_need (the
 * hard one too when root may), RLIMIT_CORE 0 (every process holds the configuration's
 * secrets). Children inherit both. 0, or -1 with err set.
 */
int sandbox_limits(const struct config *c, char *err, size_t errlen);

/*
 * Confines the calling process once it has opened what it needs, in this order: no core dump
 * (PR_SET_DUMPABLE 0), chroot + chdir("/") to its privsep root (unless `skip chroot` or -n),
 * setgroups/setgid/setuid to its `runas` user (unless -r), checked to be irreversible,
 * PR_SET_NO_NEW_PRIVS, then (with `seccomp yes`) the allow-list of `kind`, synchronised to
 * every thread already running (SECCOMP_FILTER_FLAG_TSYNC). A call outside the list raises
 * SIGSYS: the handler stores the call's number + 1 in *report (a slot of the shared region;
 * NULL: none) and the process dies of SIGSYS, for the master to log and count; with
 * `seccomp_tracing yes` the call is allowed and logged by the kernel (SCMP_ACT_LOG) instead.
 * Built with AddressSanitizer the chroot is skipped and the process stays dumpable, for
 * LeakSanitizer (it reads /proc/self/maps and ptraces its threads at exit).
 * 0, or -1 with err set (the caller exits: a half-confined process must not serve).
 */
int sandbox_enter(int kind, const struct config *c, _Atomic int32_t *report, char *err,
		  size_t errlen);

/* A child just forked under the master's filter: its violations before its own
 * sandbox_enter are reported at `report` too (the slot sandbox_enter will be given). */
void sandbox_report_to(_Atomic int32_t *report);

/* The name of system call nr on this architecture into buf ("syscall N" when unknown);
 * returns buf. */
const char *sandbox_syscall_name(int nr, char *buf, size_t buflen);

#endif
