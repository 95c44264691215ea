/* Wall-clock time as the relay stores it (Unix milliseconds) and shows it. */
#ifndef CMDRELAY_TIMEUTIL_H
#define CMDRELAY_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define ISO8601_SIZE 64

int64_t time_now_ms(void);

/* Formats ms as "2026-11-24T21:40:39.123Z" into out (ISO8601_SIZE bytes). */
const char *time_iso8601(int64_t ms, char out[ISO8601_SIZE]);

#endif
