/* Random numbers from getrandom() (random-util.h). */
#include <errno.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "random-util.h"

static uint64_t random_u64(void)
{
	uint64_t v;
	struct timespec ts;

	for (;;) {
		ssize_t n = getrandom(&v, sizeof(v), 0);
		if (n == (ssize_t)sizeof(v))
			return v;
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	/* splitmix64 of the clock and the pid. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	v = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 32);
	v += 0x9E3779B97F4A7C15u;
	v = (v ^ (v >> 30)) * 0xBF58476D1CE4E5B9u;
	v = (v ^ (v >> 27)) * 0x94D049BB133111EBu;
	return v ^ (v >> 31);
}

uint64_t random_below(uint64_t n)
{
	/* Draws past the largest multiple of n would favour small values: drawn again. */
	uint64_t limit, v;

	if (n == 0)
		return 0;
	limit = UINT64_MAX - UINT64_MAX % n;
	do
		v = random_u64();
	while (v >= limit);
	return v % n;
}
