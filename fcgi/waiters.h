/* Long polling: requests waiting for a command to arrive.
 *
 * A publish through this process wakes its waiters at once.  A publish
 * through another process (spawn-fcgi children, CGI, mod_fcgid) is seen by
 * one watcher thread per process that reads SQLite's PRAGMA data_version
 * every WATCH_INTERVAL_MS while anyone waits, so waiters never each poll
 * the database, and an idle process does not poll at all. */
#ifndef CMDRELAY_WAITERS_H
#define CMDRELAY_WAITERS_H

#include <stdint.h>

#define WATCH_INTERVAL_MS 20

/* What changes each time the database may hold something new. */
uint64_t waiters_generation(void);

/* Wakes every waiter: this process committed new commands. */
void waiters_notify(void);

/* Waits until the generation moves past *seen (then updates it and returns
 * 0), or for at most until deadline_ms of the wall clock (returns 1: look
 * again if time is left), or until shutdown (returns -1).  db_path is the
 * database to watch for other processes' commits. */
int waiters_wait(const char *db_path, uint64_t *seen, int64_t deadline_ms);

/* Requests now waiting in this process. */
int waiters_count(void);

/* Wakes every waiter for good: the process is stopping. */
void waiters_shutdown(void);

/* Called around each wait, so the server can keep a thread free to accept
 * new requests while others are held (serve.c sets these). */
void waiters_set_hooks(void (*before_wait)(void), void (*after_wait)(void));

#endif
