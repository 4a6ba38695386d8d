/*
 * breaker.h: one circuit breaker per dependency, shared by every worker.
 *
 * The state lives in the shared region, so a breaker opened by one worker is open for all.
 * Transitions are compare-and-swap on one 64-bit word (state in bits 0-7, consecutive
 * failures in 8-31, consecutive successes in 32-55), so the request path takes no lock.
 * CLOSED -> OPEN after failure_threshold consecutive failures; OPEN -> HALF_OPEN once
 * timeout_ms has passed; HALF_OPEN admits one probe at a time (a probe that never reports
 * back is forgotten after another timeout_ms) and closes after success_threshold successes;
 * a failure while HALF_OPEN opens it again.
 */
#ifndef ENTERPRISED_BREAKER_H
#define ENTERPRISED_BREAKER_H

#include <stdint.h>

#include "shm.h"

struct breaker_config {
	int enabled;
	int failure_threshold;
	int success_threshold;
	uint64_t timeout_ms;
};

/* The breaker settings of c (circuit_breaker { }, CIRCUIT_BREAKER_*; the same for every
 * dependency), read once where a breaker is asked. */
struct config;
void breaker_config_of(struct breaker_config *bc, const struct config *c);

/* Returns 1 when a call may go ahead; 0 means answer from the fallback now. */
int breaker_allow(struct shm_breaker *b, const struct breaker_config *c, uint64_t now_ms);
/*
 * 1 when breaker_allow would surely refuse a call now (OPEN within its timeout, or HALF_OPEN
 * with a probe out); 0 otherwise. It changes nothing, so a caller can look before it queues
 * work for the dependency (and answer at once instead of waiting for a thread) and still leave
 * the probe to whoever calls breaker_allow next.
 */
int breaker_refuses(const struct shm_breaker *b, const struct breaker_config *c, uint64_t now_ms);
void breaker_success(struct shm_breaker *b, const struct breaker_config *c);
void breaker_failure(struct shm_breaker *b, const struct breaker_config *c, uint64_t now_ms);
enum shm_breaker_state breaker_state(const struct shm_breaker *b);

#endif
