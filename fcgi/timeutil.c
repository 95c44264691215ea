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

struct iso_slot {
	int64_t sec_plus_one; /* 0: an empty slot */
	size_t len;
	char text[ISO8601_SIZE];
};

const char *time_iso8601(int64_t ms, char out[ISO8601_SIZE])
{
	/* gmtime_r and snprintf cost thousands of instructions, and a list of
	 * commands shows the same few seconds over and over (each command's
	 * creation and expiry): each thread keeps the last eight seconds it
	 * formatted, looked up by comparing all eight, replaced in turn. */
	static _Thread_local struct iso_slot cache[8];
	static _Thread_local unsigned next_victim;
	int64_t sec = ms >= 0 ? ms / 1000 : 0;
	int milli = ms >= 0 ? (int)(ms % 1000) : 0;
	struct iso_slot *slot = NULL;

	for (size_t i = 0; i < sizeof(cache) / sizeof(cache[0]); i++)
		if (cache[i].sec_plus_one == sec + 1) {
			slot = &cache[i];
			break;
		}
	if (slot == NULL) {
		slot = &cache[next_victim++ % (sizeof(cache) / sizeof(cache[0]))];
		slot->sec_plus_one = 0;
	}
	if (slot->sec_plus_one != sec + 1) {
		time_t t = (time_t)sec;
		struct tm tm;
		int n;

		if (gmtime_r(&t, &tm) == NULL)
			return strcpy(out, "1970-01-01T00:00:00.000Z");
		n = snprintf(slot->text, sizeof(slot->text) - 6, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		slot->len = n > 0 && (size_t)n < sizeof(slot->text) - 6 ? (size_t)n : sizeof(slot->text) - 7;
		slot->sec_plus_one = sec + 1;
	}
	memcpy(out, slot->text, slot->len);
	out[slot->len] = '.';
	out[slot->len + 1] = (char)('0' + milli / 100);
	out[slot->len + 2] = (char)('0' + milli / 10 % 10);
	out[slot->len + 3] = (char)('0' + milli % 10);
	out[slot->len + 4] = 'Z';
	out[slot->len + 5] = '\0';
	return out;
}
