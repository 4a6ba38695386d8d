/*
 * fuzz.h: what the libFuzzer harnesses of tests/fuzz/ share. Each harness feeds one parser that
 * sees client bytes and checks what must hold whatever the input (no crash, no sanitizer
 * report, and the properties its file names). See docs/FUZZING.md.
 */
#ifndef ENTERPRISED_FUZZ_H
#define ENTERPRISED_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property broke: say which and abort, so libFuzzer keeps the input as a crash. */
#define FUZZ_ASSERT(cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__,        \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* A NUL-terminated copy of data (the parsers take C strings); the caller frees it. */
static inline char *
fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
