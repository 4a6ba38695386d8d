/*
 * clock.h: the one clock of the service. Two readings, for two purposes:
 *	- monotonic milliseconds for durations, deadlines and timeouts (never jumps with NTP);
 *	- wall-clock milliseconds since the Unix epoch for what is shown or stored (createdAt,
 *	  token exp/nbf, cache expiries compared across processes).
 */
#ifndef ENTERPRISED_CLOCK_H
#define ENTERPRISED_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in ms (an arbitrary origin: compare two readings only). */
uint64_t clock_mono_ms(void);
/* CLOCK_MONOTONIC in µs, for short durations shown with a fraction of a ms. */
uint64_t clock_mono_us(void);
/* CLOCK_REALTIME in ms since 1970-01-01T00:00:00Z. */
int64_t clock_wall_ms(void);

#endif
