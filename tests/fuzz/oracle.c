/* oracle.c: verdicts of independent parsers for the fuzz harnesses (see oracle.h). */
#include "oracle.h"

#include <string.h>

#include <jansson.h>

int
oracle_json_strict(const uint8_t *text, size_t len)
{
	json_error_t error;
	json_t *v;

	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		return 0;
	if ((v = json_loadb((const char *)text, len, JSON_ALLOW_NUL, &error)) == NULL)
		return 0;
	json_decref(v);
	return 1;
}
