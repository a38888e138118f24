/* libfuzzer-entry.c — libFuzzer's entry point for one target, chosen at compile time with
 * -DFUZZ_ENTRY=fuzz_NAME (see the Makefile's fuzz rules). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return FUZZ_ENTRY(data, size);
}
