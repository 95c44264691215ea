/* The command store: SQLite in WAL mode, one connection per struct store.
 * Nothing here knows about HTTP, FastCGI or JSON libraries: values that are
 * JSON arrive and leave as text. */
#ifndef CMDRELAY_STORE_H
#define CMDRELAY_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_BUSY_TIMEOUT_MS 5000

enum store_rc {
	STORE_OK = 0,
	STORE_NOT_FOUND,  /* no such row */
	STORE_CONFLICT,   /* a lease token or state that no longer holds */
	STORE_BUSY,       /* the database stayed locked past the busy timeout */
	STORE_FULL,       /* the disk or the database is full */
	STORE_READONLY,   /* the file or its directory cannot be written */
	STORE_ERROR,      /* anything else: I/O error, corruption, out of memory */
};

struct store;

/* Opens the database at path, creating it and applying pending migrations
 * (once, even when many processes start together).  Returns a store, or NULL
 * with a one-line reason in why. */
struct store *store_open(const char *path, char *why, size_t why_size);
void store_close(struct store *st);

/* The schema version the database is at, and the one this build creates. */
int store_schema_version(struct store *st);
int store_schema_latest(void);

/* The last SQLite error of this connection, for log lines. */
const char *store_errmsg(struct store *st);
const char *store_rc_name(enum store_rc rc);

/* --- The tutorial's flat name -> value commands (one channel) --- */

struct tutorial_item {
	const char *name;
	const char *data; /* JSON text */
};

/* Stores every item, replacing live commands of the same name, in one transaction. */
enum store_rc store_tutorial_put(struct store *st, const char *channel, const struct tutorial_item *items,
    size_t count, int64_t now_ms);

/* Calls fn for each live command of the channel, oldest first (so a later one
 * of the same name should win).  fn's strings live until it returns. */
typedef void store_tutorial_fn(void *arg, const char *name, const char *data, size_t data_len);
enum store_rc store_tutorial_list(struct store *st, const char *channel, int64_t now_ms, store_tutorial_fn *fn,
    void *arg);

/* Deletes the commands with these names; unknown names are not an error. */
enum store_rc store_tutorial_delete(struct store *st, const char *channel, const char *const *names, size_t count);

#endif
