/*
 * readcache_listener.h: the monitor's side of the read cache (readcache_listener.c): a thread
 * that hears other instances' invalidations on Redis pub/sub, moves this instance's epochs,
 * and renews the lease under which workers use their memory (L1); see readcache.h.
 */
#ifndef ENTERPRISED_READCACHE_LISTENER_H
#define ENTERPRISED_READCACHE_LISTENER_H

#include <signal.h>

#include "config.h"
#include "shm.h"

/* The monitor's side: hears other instances' invalidations until *stop (a thread body).
 * Returns the listener (owned by the caller, freed by readcache_listener_stop), or NULL when
 * the cache is off or the thread cannot start; c and shm must outlive it. */
struct readcache_listener;
struct readcache_listener *readcache_listener_start(const struct config *c, struct shm_region *shm,
						    volatile sig_atomic_t *stop);
/* Joins the thread (after *stop is set) and frees l; l may be NULL. */
void readcache_listener_stop(struct readcache_listener *l);

#endif
