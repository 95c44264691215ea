#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "timeutil.h"

void log_msg(const char *fmt, ...)
{
	char line[1024], when[ISO8601_SIZE];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	for (char *p = line; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	/* One fprintf per line: stdio locks the stream, so threads' lines never interleave. */
	fprintf(stderr, "%s cmdrelay[%ld]: %s\n", time_iso8601(time_now_ms(), when), (long)getpid(), line);
}
