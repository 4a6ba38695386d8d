/* hash.c: keyed hashing for in-memory tables (see hash.h). */
#include "hash.h"

#include <errno.h>
#include <sys/random.h>

#include <xxhash.h>

int
hash_secret_init(struct hash_secret *s)
{
	size_t off = 0;

	while (off < sizeof(s->bytes)) {
		ssize_t n = getrandom(s->bytes + off, sizeof(s->bytes) - off, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

uint64_t
hash_keyed(const struct hash_secret *s, const void *data, size_t len)
{
	return XXH3_64bits_withSecret(data, len, s->bytes, sizeof(s->bytes));
}
