/* One event a line on stderr, which the web server or the service manager
 * keeps.  Control characters are replaced so a client cannot forge lines;
 * callers never pass a key or token. */
#ifndef CMDRELAY_LOG_H
#define CMDRELAY_LOG_H

void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
