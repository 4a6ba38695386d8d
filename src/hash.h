/*
 * hash.h: keyed hashing of client-influenced bytes for in-memory hash tables.
 *
 * Every table whose keys a client can choose (worker memory, reads in flight, the token memo)
 * hashes with a secret drawn from the kernel when the table is made, in the process that owns
 * it, so nobody outside the process can predict which keys share a bucket and flood one chain
 * (the reason Redis seeds its dict hash). XXH3 with a full random secret, not only a 64-bit
 * seed: xxHash documents the secret form as the one that resists crafted collisions.
 * Not a cryptographic MAC: for that (cursors, cache keys that must never collide) use OpenSSL.
 */
#ifndef ENTERPRISED_HASH_H
#define ENTERPRISED_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_SECRET_LEN 192 /* bytes; xxHash wants at least 136 */

struct hash_secret {
	uint8_t bytes[HASH_SECRET_LEN];
};

/* Fills s with random bytes from getrandom(2). Returns 0, or -1 with errno set (the kernel
 * gave no randomness: the caller must not go on with an unseeded table). */
int hash_secret_init(struct hash_secret *s);

/* The 64-bit XXH3 of data[0..len) under s. */
uint64_t hash_keyed(const struct hash_secret *s, const void *data, size_t len);

#endif
