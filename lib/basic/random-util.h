/* random-util.h — random numbers from the kernel (getrandom()), never from an unseeded or
 * inherited PRNG: processes forked from one daemon, and daemons on many hosts, draw
 * independently.
 *
 * random_below(n) is uniform in [0, n) (0 for n == 0), without modulo bias.  Should getrandom()
 * fail (it does not once the kernel's pool is initialized; before that it waits), the value
 * comes from the monotonic clock's nanoseconds mixed with the pid: still different per
 * process, never constant. */
#pragma once

#include <stdint.h>

uint64_t random_below(uint64_t n);
