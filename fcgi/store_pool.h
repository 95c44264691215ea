/* Database connections shared by a process's threads.  A request borrows one
 * for as long as it touches the database (a long poll gives it back while it
 * waits), so connections stay few however many requests are held open. */
#ifndef CMDRELAY_STORE_POOL_H
#define CMDRELAY_STORE_POOL_H

#include <stddef.h>

struct store;

/* Sets the most connections open at once per database (default 16). */
void store_pool_set_max(int max_connections);

/* Borrows a connection to the database at path, opening (and migrating) it if
 * needed; waits while all are in use.  Returns NULL with a reason in why. */
struct store *store_pool_acquire(const char *path, char *why, size_t why_size);

/* Returns a connection.  Pass broken = 1 after an I/O error, to close it. */
void store_pool_release(struct store *st, int broken);

/* Closes every idle connection (at exit). */
void store_pool_shutdown(void);

/* store_empty_wal on every idle connection (a CGI process's last act). */
void store_pool_empty_wals(void);

#endif
