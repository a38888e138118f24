/* fuzz.h — the fuzz targets: one entry per parser that reads hostile bytes.
 *
 * Each takes any bytes, runs them through the parser and checks the parser's own promises
 * (an error carries its message, a decoded record encodes back to the same record, …),
 * calling abort() when one is broken; it returns 0.  The same functions are linked into
 * libFuzzer binaries (tests/fuzz/libfuzzer-entry.c, `make fuzz`) and into the Check suite
 * tests/unit/test-fuzz-regressions.c, which replays the seed corpora and every input a
 * fuzzer once crashed on (tests/fuzz/{corpus,regressions}/NAME/). */
#pragma once

#include <stddef.h>
#include <stdint.h>

int fuzz_plan(const uint8_t *data, size_t size);
int fuzz_proto(const uint8_t *data, size_t size);
int fuzz_migration(const uint8_t *data, size_t size);

/* abort() with a message on stderr when cond is false: a broken promise is a crash. */
#define fuzz_assert(cond)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_fail(__FILE__, __LINE__, #cond);                                      \
	} while (0)

_Noreturn void fuzz_fail(const char *file, int line, const char *what);
