#include "timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *time_iso8601(int64_t ms, char out[ISO8601_SIZE])
{
	/* gmtime_r and snprintf cost thousands of instructions, and a list of
	 * commands shows many times within the same second: each thread keeps
	 * the last second it formatted. */
	static _Thread_local int64_t cached_sec = -1;
	static _Thread_local char cached[ISO8601_SIZE];
	static _Thread_local size_t cached_len;
	int64_t sec = ms / 1000;
	int milli = (int)(ms % 1000);

	if (ms < 0) {
		sec = 0;
		milli = 0;
	}
	if (sec != cached_sec) {
		time_t t = (time_t)sec;
		struct tm tm;

		if (gmtime_r(&t, &tm) == NULL)
			return strcpy(out, "1970-01-01T00:00:00.000Z");
		cached_len = (size_t)snprintf(cached, sizeof(cached) - 6, "%04d-%02d-%02dT%02d:%02d:%02d",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		if (cached_len >= sizeof(cached) - 6)
			cached_len = sizeof(cached) - 7;
		cached_sec = sec;
	}
	memcpy(out, cached, cached_len);
	out[cached_len] = '.';
	out[cached_len + 1] = (char)('0' + milli / 100);
	out[cached_len + 2] = (char)('0' + milli / 10 % 10);
	out[cached_len + 3] = (char)('0' + milli % 10);
	out[cached_len + 4] = 'Z';
	out[cached_len + 5] = '\0';
	return out;
}
