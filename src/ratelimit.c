/*
 * ratelimit.c: per-caller token buckets in the shared region (see ratelimit.h).
 *
 * The table (shm.h, struct shm_ratelimit) is fixed: SHM_RL_SLOTS slots, a key probing the
 * SHM_RL_PROBE slots after its hash. Choosing a slot reads keys without the lock (relaxed);
 * the bucket itself is read and written only under the slot's lock, and the key is checked
 * again once it is held. What happens when the window is full:
 *	- a bucket that is full again (now >= full_at_ms) is as good as no bucket: a new one
 *	  starts full, so replacing it changes no answer. The least recently refilled goes first;
 *	- an address (no verified token) may take only even slots, RATELIMIT_ADDRESS_PROBE of
 *	  any window: a flood from many addresses (an IPv6 /48 holds 2^16 /64s), whatever
 *	  slots its keys hash to, fills half the table at most and never pushes a tenant's
 *	  verified caller out to the overflow bucket it drains;
 *	- when every bucket of the window is still in use, nobody is evicted: the new caller is
 *	  charged to its class's overflow bucket (one per class, RATELIMIT_OVERFLOW_SHARE times a
 *	  caller's shape). A hostile caller with many addresses or subs thus cannot push out the
 *	  buckets of callers who are active, and memory never grows; the price is that callers
 *	  without a slot share one bucket while the table is under such pressure (counted in
 *	  enterprise_ratelimit_overflow_total).
 * The hash is XXH3 under a secret drawn when the region is made (hash.h), the same for every
 * worker, so nobody outside can aim keys at one window.
 *
 * Locks: a lock word holds 1 + the ms it was taken at; a holder that died inside it (a few
 * instructions) leaves it stale, and after SHM_RL_LOCK_STALE_MS it is taken over. A lock still
 * busy after RATELIMIT_SPINS tries lets the request through unmetered (counted in lock_busy):
 * the limiter must never be the reason an answer is late.
 */
#include "ratelimit.h"

#include <inttypes.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#define RATELIMIT_SPINS 64

const struct config_rate *
ratelimit_policy(const struct config *c, enum shm_route_class cls)
{
	const struct config_rate *p;

	if (!c->ratelimit_enabled)
		return NULL;
	switch (cls) {
	case SHM_CLASS_ORGANIZATION:
		p = &c->ratelimit_organization;
		break;
	case SHM_CLASS_CLINIC:
		p = &c->ratelimit_clinic;
		break;
	case SHM_CLASS_ASSIGNMENT:
		p = &c->ratelimit_assignment;
		break;
	case SHM_CLASS_LIST:
		p = &c->ratelimit_list;
		break;
	case SHM_CLASS_SEARCH:
		p = &c->ratelimit_search;
		break;
	case SHM_CLASS_REPORT:
		p = &c->ratelimit_report;
		break;
	case SHM_CLASS_EXPORT:
		p = &c->ratelimit_export;
		break;
	default: /* health, performance (and /metrics), background, unknown routes */
		return NULL;
	}
	return p->rate > 0 && p->burst > 0 ? p : NULL;
}

static int64_t
ratelimit_full(const struct config_rate *p)
{
	return (int64_t)p->burst * RATELIMIT_MILLI;
}

int64_t
ratelimit_refill(int64_t milli, uint64_t stamp_ms, uint64_t now_ms, const struct config_rate *p)
{
	int64_t full = ratelimit_full(p);
	uint64_t elapsed, need;

	if (milli >= full)
		return full;
	if (now_ms <= stamp_ms || p->rate <= 0)
		return milli < 0 ? 0 : milli;
	if (milli < 0)
		milli = 0;
	elapsed = now_ms - stamp_ms;
	/* compared before multiplying: a huge elapsed time cannot overflow */
	need = ((uint64_t)(full - milli) + (uint64_t)p->rate - 1) / (uint64_t)p->rate;
	if (elapsed >= need)
		return full;
	return milli + (int64_t)(elapsed * (uint64_t)p->rate);
}

uint64_t
ratelimit_seconds_until(int64_t milli, int64_t want, const struct config_rate *p)
{
	uint64_t ms;

	if (milli >= want || p->rate <= 0)
		return 0;
	ms = ((uint64_t)(want - milli) + (uint64_t)p->rate - 1) / (uint64_t)p->rate;
	return (ms + 999) / 1000;
}

size_t
ratelimit_peer(const struct sockaddr *sa, size_t len, unsigned char *out)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const unsigned char *a6;

	out[0] = 'a';
	if (sa != NULL && sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		out[1] = 4;
		memcpy(out + 2, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 6;
	}
	if (sa != NULL && sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		a6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (memcmp(a6, mapped, sizeof(mapped)) == 0) {
			out[1] = 4;
			memcpy(out + 2, a6 + 12, 4);
			return 6;
		}
		out[1] = 6;
		memcpy(out + 2, a6, 8);
		return 10;
	}
	out[1] = '?';
	return 2;
}

uint64_t
ratelimit_key(const struct shm_region *r, enum shm_route_class cls, const void *caller, size_t len)
{
	unsigned char buf[320];
	uint64_t k;

	if (len > sizeof(buf) - 1)
		len = sizeof(buf) - 1;
	buf[0] = (unsigned char)cls;
	memcpy(buf + 1, caller, len);
	k = hash_keyed(&r->ratelimit.secret, buf, len + 1);
	if (len > 0 && ((const unsigned char *)caller)[0] == 'a')
		return k | RATELIMIT_KEY_ADDRESS;
	k &= ~RATELIMIT_KEY_ADDRESS;
	return k != 0 ? k : 1;
}

/* 0 with the slot's lock held, or -1 when it stayed busy. */
static int
ratelimit_lock(struct shm_rl_slot *s, uint64_t now_ms)
{
	uint64_t held;
	int i;

	for (i = 0; i < RATELIMIT_SPINS; i++) {
		held = 0;
		if (atomic_compare_exchange_weak_explicit(
			&s->lock, &held, now_ms + 1, memory_order_acquire, memory_order_relaxed))
			return 0;
		/* a holder that died inside: take it over */
		if (held != 0 && now_ms + 1 > held + SHM_RL_LOCK_STALE_MS &&
		    atomic_compare_exchange_strong_explicit(
			&s->lock, &held, now_ms + 1, memory_order_acquire, memory_order_relaxed))
			return 0;
		if (i >= 8)
			sched_yield(); /* the holder may be off the CPU: let it finish */
	}
	return -1;
}

static void
ratelimit_unlock(struct shm_rl_slot *s)
{
	atomic_store_explicit(&s->lock, 0, memory_order_release);
}

#define RL_LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)
#define RL_STORE(x, v) atomic_store_explicit(&(x), (v), memory_order_relaxed)

/* Under the slot's lock: refill, take a token or refuse, and fill v. */
static void
ratelimit_charge(struct shm_rl_slot *s, const struct config_rate *p, uint64_t now_ms,
		 struct ratelimit_verdict *v)
{
	int64_t full = ratelimit_full(p), milli;
	uint64_t stamp = RL_LOAD(s->stamp_ms);

	milli = ratelimit_refill(RL_LOAD(s->milli), stamp, now_ms, p);
	if (now_ms > stamp)
		RL_STORE(s->stamp_ms, now_ms); /* never backwards: no refill twice */
	v->known = 1;
	v->allowed = milli >= RATELIMIT_MILLI;
	if (v->allowed)
		milli -= RATELIMIT_MILLI;
	RL_STORE(s->milli, milli);
	/* the bucket can be replaced from the moment it would be full again */
	RL_STORE(s->full_at_ms,
		 RL_LOAD(s->stamp_ms) +
		     ((uint64_t)(full - milli) + (uint64_t)p->rate - 1) / (uint64_t)p->rate);
	v->remaining = (uint64_t)milli / RATELIMIT_MILLI;
	v->reset = ratelimit_seconds_until(milli, full, p);
	v->retry_after = v->allowed ? 0 : ratelimit_seconds_until(milli, RATELIMIT_MILLI, p);
	if (!v->allowed && v->retry_after == 0)
		v->retry_after = 1;
}

/* Under the slot's lock: makes it key's new, full bucket. */
static void
ratelimit_claim(struct shm_rl_slot *s, uint64_t key, const struct config_rate *p, uint64_t now_ms)
{
	RL_STORE(s->key, key);
	RL_STORE(s->stamp_ms, now_ms);
	RL_STORE(s->milli, ratelimit_full(p));
}

/* The slot of the window holding key, or NULL. */
static struct shm_rl_slot *
ratelimit_find(struct shm_ratelimit *t, uint64_t key)
{
	size_t i, base = (size_t)(key & (SHM_RL_SLOTS - 1));

	for (i = 0; i < SHM_RL_PROBE; i++)
		if (RL_LOAD(t->slots[(base + i) & (SHM_RL_SLOTS - 1)].key) == key)
			return &t->slots[(base + i) & (SHM_RL_SLOTS - 1)];
	return NULL;
}

/* An empty slot of key's window, else the least recently refilled bucket that is full again
 * at now_ms, else NULL; an address key looks only at the even slots of its window (windows
 * overlap, so a limit by position in the window would not hold: by slot index it does). A
 * hint: the caller checks again under the lock. */
static struct shm_rl_slot *
ratelimit_free_slot(struct shm_ratelimit *t, uint64_t key, uint64_t now_ms)
{
	size_t i, at, base = (size_t)(key & (SHM_RL_SLOTS - 1));
	int address = (key & RATELIMIT_KEY_ADDRESS) != 0;
	struct shm_rl_slot *s, *best = NULL;

	for (i = 0; i < SHM_RL_PROBE; i++) {
		at = (base + i) & (SHM_RL_SLOTS - 1);
		if (address && (at & 1) != 0)
			continue;
		s = &t->slots[at];
		if (RL_LOAD(s->key) == 0)
			return s;
		if (now_ms >= RL_LOAD(s->full_at_ms) &&
		    (best == NULL || RL_LOAD(s->stamp_ms) < RL_LOAD(best->stamp_ms)))
			best = s;
	}
	return best;
}

/* Under the slot's lock: 1 when it still holds key, or may be taken for it now. */
static int
ratelimit_usable(struct shm_rl_slot *s, uint64_t key, uint64_t now_ms)
{
	uint64_t k = RL_LOAD(s->key);

	return k == key || k == 0 || now_ms >= RL_LOAD(s->full_at_ms);
}

int
ratelimit_take(struct shm_region *r, enum shm_route_class cls, const struct config_rate *p,
	       uint64_t key, uint64_t now_ms, struct ratelimit_verdict *v)
{
	struct shm_ratelimit *t = &r->ratelimit;
	struct config_rate share;
	struct shm_rl_slot *s;
	int tries;

	memset(v, 0, sizeof(*v));
	v->allowed = 1;
	if ((unsigned)cls >= SHM_CLASS_MAX)
		return 1;
	for (tries = 0; tries < 2; tries++) {
		if ((s = ratelimit_find(t, key)) == NULL &&
		    (s = ratelimit_free_slot(t, key, now_ms)) == NULL)
			break;
		if (ratelimit_lock(s, now_ms) == -1) {
			atomic_fetch_add_explicit(&t->lock_busy, 1, memory_order_relaxed);
			return 1;
		}
		if (!ratelimit_usable(s, key, now_ms)) { /* taken meanwhile: look again */
			ratelimit_unlock(s);
			continue;
		}
		if (RL_LOAD(s->key) != key)
			ratelimit_claim(s, key, p, now_ms);
		ratelimit_charge(s, p, now_ms, v);
		ratelimit_unlock(s);
		goto counted;
	}
	/* no slot: the class's shared bucket, as large as the window it could not enter */
	share.rate = p->rate * RATELIMIT_OVERFLOW_SHARE;
	share.burst = p->burst * RATELIMIT_OVERFLOW_SHARE;
	s = &t->overflow[cls];
	if (ratelimit_lock(s, now_ms) == -1) {
		atomic_fetch_add_explicit(&t->lock_busy, 1, memory_order_relaxed);
		return 1;
	}
	if (RL_LOAD(s->key) == 0)
		ratelimit_claim(s, 1, &share, now_ms);
	ratelimit_charge(s, &share, now_ms, v);
	ratelimit_unlock(s);
	v->overflow = 1;
	/* the headers speak of the caller's policy (q = its burst): never more left than that */
	if (v->remaining > (uint64_t)p->burst)
		v->remaining = (uint64_t)p->burst;
	atomic_fetch_add_explicit(&t->overflowed[cls], 1, memory_order_relaxed);
counted:
	if (!v->allowed)
		atomic_fetch_add_explicit(&t->limited[cls], 1, memory_order_relaxed);
	return v->allowed;
}

void
ratelimit_headers(enum shm_route_class cls, const struct config_rate *p,
		  const struct ratelimit_verdict *v, char *policy, size_t policy_len, char *state,
		  size_t state_len)
{
	const char *name = shm_class_name(cls);
	uint64_t w = ((uint64_t)p->burst + (uint64_t)p->rate - 1) / (uint64_t)p->rate;

	/* q units over w seconds: the burst, and how long an empty bucket takes to refill */
	snprintf(policy, policy_len, "\"%s\";q=%d;w=%" PRIu64, name, p->burst, w ? w : 1);
	snprintf(state, state_len, "\"%s\";r=%" PRIu64 ";t=%" PRIu64, name, v->remaining, v->reset);
}
