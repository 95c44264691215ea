/* Unit tests of the ISO-8601 times every response shows. */
#include <string.h>

#include "tap.h"
#include "timeutil.h"

int main(void)
{
	char buf[ISO8601_SIZE];

	ok(strcmp(time_iso8601(0, buf), "1970-01-01T00:00:00.000Z") == 0, "the epoch");
	ok(strcmp(time_iso8601(1764020439123LL, buf), "2025-11-24T21:40:39.123Z") == 0, "a time with milliseconds");
	ok(strcmp(time_iso8601(1764020439007LL, buf), "2025-11-24T21:40:39.007Z") == 0,
	    "the same second again (cached) with other milliseconds");
	ok(strcmp(time_iso8601(1764020440000LL, buf), "2025-11-24T21:40:40.000Z") == 0, "the next second");
	ok(strcmp(time_iso8601(951782400999LL, buf), "2000-02-29T00:00:00.999Z") == 0, "a leap day");
	ok(strcmp(time_iso8601(253402300799999LL, buf), "9999-12-31T23:59:59.999Z") == 0, "the last four-digit year");
	return tap_done();
}
