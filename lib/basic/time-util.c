#include <stdio.h>

#include "time-util.h"

usec_t now_usec(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

char *format_age(usec_t u, char buf[static FORMAT_AGE_MAX])
{
	unsigned long long s = u / USEC_PER_SEC;

	if (u == USEC_INFINITY)
		snprintf(buf, FORMAT_AGE_MAX, "an unknown time");
	else if (u < 10 * USEC_PER_SEC)
		snprintf(buf, FORMAT_AGE_MAX, "%llu.%llu s", s,
			 (unsigned long long)(u % USEC_PER_SEC / (USEC_PER_SEC / 10)));
	else if (u < 2 * USEC_PER_MINUTE)
		snprintf(buf, FORMAT_AGE_MAX, "%llu s", s);
	else if (u < 2 * USEC_PER_HOUR)
		snprintf(buf, FORMAT_AGE_MAX, "%llu min %llu s", s / 60, s % 60);
	else
		snprintf(buf, FORMAT_AGE_MAX, "%llu h %llu min", s / 3600, s % 3600 / 60);
	return buf;
}
