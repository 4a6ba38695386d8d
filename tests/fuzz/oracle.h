/*
 * oracle.h: verdicts of other, independent parsers, for the harnesses' properties. Kept in a
 * file of its own (oracle.c) because jansson's names (json_string, json_null) clash with our
 * JSON writer's (src/json.h).
 */
#ifndef ENTERPRISED_FUZZ_ORACLE_H
#define ENTERPRISED_FUZZ_ORACLE_H

#include <stddef.h>
#include <stdint.h>

/* 1 when text[0..len) is exactly one RFC 8259 JSON text with no byte-order mark, by jansson's
 * strict reader (\u0000 allowed, as the service allows it before its field checks); else 0. */
int oracle_json_strict(const uint8_t *text, size_t len);

#endif
