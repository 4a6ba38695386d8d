/*
 * fuzz_config: kore.conf text through config_parse, then config_validate (src/config.c), from
 * a buffer. The name given makes relative `include`s point into a directory that does not
 * exist, so nothing on disk is read by accident.
 *
 * Properties: no crash, no leak; a refusal says where ("NAME:LINE: ..." or "NAME: ...").
 */
#include "fuzz.h"

#include "config.h"

#define FUZZ_NAME "/nonexistent-enterprised-fuzz/kore.conf"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config c;
	char err[512], *text;

	if (size > 65536)
		return 0;
	text = fuzz_strndup(data, size);
	config_defaults(&c);
	err[0] = '\0';
	if (config_parse(&c, FUZZ_NAME, text, err, sizeof(err)) != 0)
		FUZZ_ASSERT(err[0] != '\0');
	else
		(void)config_validate(&c, err, sizeof(err));
	free(text);
	return 0;
}
