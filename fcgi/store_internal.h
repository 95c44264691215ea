/* Shared by the store_*.c files only: the connection, its statements and
 * transaction helpers. */
#ifndef CMDRELAY_STORE_INTERNAL_H
#define CMDRELAY_STORE_INTERNAL_H

#include <sqlite3.h>
#include <sys/types.h>
#include <time.h>

#include "store.h"
#include "store_sql.h"

struct store {
	sqlite3 *db;
	char *path;                       /* as given to store_open, to open another connection like it */
	sqlite3_stmt *stmts[STMT__COUNT]; /* prepared on first use, kept for the connection's life */
	int writing;                      /* holds the process's write lock (store_begin_write) */
	int snapshot;                     /* inside store_snapshot_begin's read transaction */
	char group_error[160];            /* why its last grouped write failed, until store_errmsg has told it */
	int group_failed;
	dev_t dev;                        /* the file at the path when it was opened (store_moved) */
	ino_t ino;
};

/* Returns the statement, reset and with bindings cleared, or NULL if it could not be prepared. */
sqlite3_stmt *store_stmt(struct store *st, enum stmt id);

/* Sets the reason the next store_errmsg gives, once, for a write that
 * failed on another connection (the group's); NULL: SQLite's own message. */
void store_set_error(struct store *st, const char *why);

/* Maps an SQLite result code onto the store's. */
enum store_rc store_rc_from(int sqlite_rc);

/* The process's write lock, which store_begin_write takes and the commit or
 * rollback gives back: the checkpointer holds it to restart the WAL.
 * store_writers_lock returns 0, or -1 when the deadline (CLOCK_REALTIME,
 * from store_deadline) passed first. */
void store_deadline(struct timespec *deadline, int ms);
int store_writers_lock(const struct timespec *deadline);
void store_writers_unlock(void);
enum store_rc store_begin_write(struct store *st);
/* The same, waiting no later than deadline (CLOCK_REALTIME): a group's
 * leader begins by its oldest member's. */
enum store_rc store_begin_write_by(struct store *st, const struct timespec *deadline);
enum store_rc store_commit(struct store *st);
void store_rollback(struct store *st);

/* One request's write, run by a group's leader (store_group.c) on the
 * connection the group commits on, inside the group's transaction and under
 * a savepoint of its own; *stored counts what it stored, for the caller.  A
 * failure undoes this write only (unless SQLite rolled the whole
 * transaction back: then the group fails).  A group that changed no row
 * (every publish's key existed already) ends without a commit. */
typedef enum store_rc store_write_fn(struct store *st, void *arg, size_t *stored);

/* Runs run(arg) in a group commit and returns once the commit that holds it
 * is done: run's result, or the group's failure to begin or commit. */
enum store_rc store_group_write(struct store *st, store_write_fn *run, void *arg, size_t *stored);

/* Reads the command at the statement's current row (columns as COMMAND_COLUMNS). */
void store_read_command(sqlite3_stmt *s, int64_t now_ms, struct command_row *row);

/* Steps s and hands each command row to fn.  Returns STORE_OK at the end. */
enum store_rc store_each_command(sqlite3_stmt *s, int64_t now_ms, store_command_fn *fn, void *arg);

/* The error of a statement that could not be prepared. */
enum store_rc store_prepare_failed(struct store *st);

/* The background checkpointer (store_checkpoint.c): whether it runs for the
 * database at db_path, and the WAL hook that hands it the work. */
int store_checkpointer_serves(const char *db_path);
int store_wal_hook(void *arg, sqlite3 *db, const char *name, int pages);

/* Steps a statement that returns no rows (or whose rows are ignored) to completion. */
enum store_rc store_exec(sqlite3_stmt *s);

#endif
