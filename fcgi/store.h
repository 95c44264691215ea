/* The command store: SQLite in WAL mode, one connection per struct store.
 * Nothing here knows about HTTP, FastCGI or JSON libraries: values that are
 * JSON arrive and leave as text. */
#ifndef CMDRELAY_STORE_H
#define CMDRELAY_STORE_H

#include <stdbool.h>
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
	STORE_CHANNEL_FULL, /* the channel holds its limit of live commands */
	STORE_NEEDS_LEASE,  /* a queue command was acked without its lease token */
	STORE_MOVED,        /* the file at the path is no longer the one this connection has open */
};

struct store;

/* Configures SQLite for the process; before any other store call. */
int store_library_init(void);

/* Opens the database at path, creating it and applying pending migrations
 * (once, even when many processes start together).  Returns a store, or NULL
 * with a one-line reason in why. */
struct store *store_open(const char *path, char *why, size_t why_size);
void store_close(struct store *st);

/* PRAGMA synchronous for connections opened from now on: FULL (1) makes an
 * acknowledged commit survive power loss; NORMAL (0, the default) survives a
 * crash of the relay or the machine's processes. */
void store_set_synchronous_full(int full);

/* Moves WAL checkpoints of the database at db_path off the requests' commits
 * onto a thread of their own, for connections opened from now on (a
 * long-running server; CGI keeps SQLite's inline checkpoints).  Returns 0 or -1. */
int store_checkpointer_start(const char *db_path);
void store_checkpointer_stop(void);

/* The schema version the database is at, and the one this build creates. */
int store_schema_version(struct store *st);
int store_schema_latest(void);

/* Lets the reads that follow, up to store_snapshot_end(), share one read
 * transaction (one snapshot of the database) instead of a transaction each:
 * beginning one takes SQLite's lock on the shared WAL index, which the
 * threads of a busy process queue on.  Every write ends it first (through
 * store_begin_write, or by calling store_snapshot_end before a write in
 * autocommit), and so does returning the connection to the pool. */
enum store_rc store_snapshot_begin(struct store *st);
void store_snapshot_end(struct store *st);

/* Returns true when the database file this connection has open is no longer
 * the one at its path (deleted, or replaced by another): reads would be stale
 * and writes lost, so the connection is good for nothing but closing. */
bool store_moved(struct store *st);

/* For a process about to exit (a CGI request) whose connection wrote:
 * copies the WAL into the database and empties it, unless another process
 * is using it (no waiting).  The next CGI process usually finds no other
 * holding the database open, and would otherwise read the whole WAL back
 * (up to 1000 pages) before it could answer. */
void store_empty_wal(struct store *st);

/* The last SQLite error of this connection, for log lines. */
const char *store_errmsg(struct store *st);
const char *store_rc_name(enum store_rc rc);

/* Whether rc is the database failing (busy, full, read-only, moved, an
 * error: a 503 with a reason to log) rather than an answer about the
 * request (not found, conflict, a full channel, a lease required). */
bool store_rc_failed(enum store_rc rc);

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

/* --- v1 commands --- */

/* A command as stored.  Strings live until the callback returns; expires_at
 * and lease_expires_at are 0 when NULL.  state is the state now: a lapsed
 * lease reads as "pending", or "dead" once its attempts are spent. */
struct command_row {
	int64_t id;
	const char *channel;
	const char *name;
	const char *data;         /* JSON text */
	size_t data_len;
	const char *mode;         /* "broadcast" or "queue" */
	const char *target;       /* NULL for every consumer */
	const char *key;          /* dedup key or NULL */
	const char *state;
	int64_t attempts;
	int64_t max_attempts;
	int64_t created_at;
	int64_t expires_at;
	const char *lease_token;
	const char *lease_consumer;
	int64_t lease_expires_at;
	const char *result;       /* JSON text or NULL */
	size_t result_len;
	int existed;              /* publish: an earlier command with the same key */
};

/* Called once per row; returning non-zero stops the walk (and the store returns STORE_ERROR). */
typedef int store_command_fn(void *arg, const struct command_row *row);

struct new_command {
	const char *name;
	const char *data;          /* JSON text */
	const char *mode;          /* "broadcast" or "queue" */
	const char *target;        /* or NULL */
	const char *key;           /* or NULL */
	int64_t ttl_ms;
	int64_t max_attempts;
};

/* Stores commands all or nothing.  An element whose key a live command of the
 * channel already has (or an earlier element of the same batch) stores
 * nothing and reports that command, existed = 1.  fn sees each element in
 * order; *stored counts the new ones.  STORE_CHANNEL_FULL when the channel
 * would hold more than limit live commands. */
enum store_rc store_publish(struct store *st, const char *channel, const struct new_command *cmds, size_t count,
    int64_t now_ms, long limit, store_command_fn *fn, void *arg, size_t *stored);

/* Between the two calls, grouped writes (publishes, the tutorial's POST)
 * commit on one connection per database kept for them (a server's many
 * threads); without, on the writing request's connection (one request a
 * process).  Close after the last write. */
void store_group_writers_start(void);
void store_group_writers_close(void);

/* Live broadcast commands of the channel with id > after that consumer (NULL:
 * nobody in particular) may see, oldest first, at most limit. */
enum store_rc store_read(struct store *st, const char *channel, int64_t after, int limit, const char *consumer,
    int64_t now_ms, store_command_fn *fn, void *arg);

/* The newest command id ever handed out: a cursor that means "from now on". */
enum store_rc store_last_id(struct store *st, int64_t *id);

/* Lowers *cursor to the newest id ever handed out when it is beyond it (a
 * client that kept its cursor across a restored or replaced database would
 * otherwise never see a command until the ids caught up). */
enum store_rc store_clamp_cursor(struct store *st, int64_t *cursor);

enum store_rc store_command_get(struct store *st, const char *channel, int64_t id, int64_t now_ms,
    store_command_fn *fn, void *arg);

typedef int store_ack_fn(void *arg, const char *consumer, int64_t acked_at, const char *result, size_t result_len);
enum store_rc store_command_acks(struct store *st, int64_t id, store_ack_fn *fn, void *arg);

/* Cancels (deletes) a command.  STORE_NOT_FOUND when the channel has no such id. */
enum store_rc store_cancel(struct store *st, const char *channel, int64_t id);

/* Leases up to max claimable queue commands to consumer for lease_ms.  Takes
 * the write lock only when something is claimable. */
enum store_rc store_claim(struct store *st, const char *channel, const char *consumer, int max, int64_t lease_ms,
    int64_t now_ms, store_command_fn *fn, void *arg, size_t *claimed);

/* When the next lease of the channel runs out (0: none), so a waiting claim can wake for it. */
enum store_rc store_next_lease_expiry(struct store *st, const char *channel, int64_t now_ms, int64_t *at);

/* Acknowledges command id for consumer with result (JSON text or NULL).
 * Queue: needs the current lease token (STORE_NEEDS_LEASE without one,
 * STORE_CONFLICT when it is not the current lease) and marks it done.
 * Broadcast: records the consumer's first ack.  fn sees the command after. */
enum store_rc store_ack(struct store *st, const char *channel, int64_t id, const char *consumer, const char *lease,
    const char *result, int64_t now_ms, store_command_fn *fn, void *arg);

/* Records that consumer polled the channel: *after is the cursor it sent (or
 * -1), and comes back as the cursor to read from (its remembered one, 0 for a
 * new consumer; one it sent is clamped as by store_clamp_cursor()).  Writes
 * only when the cursor moved or presence is older than presence_ms, so an
 * idle poll costs no write. */
enum store_rc store_consumer_seen(struct store *st, const char *channel, const char *consumer, int64_t *after,
    int64_t now_ms, int64_t presence_ms);

typedef int store_consumer_fn(void *arg, const char *consumer, int64_t first_seen, int64_t last_seen, int64_t cursor);
enum store_rc store_consumers(struct store *st, const char *channel, int64_t since_ms, store_consumer_fn *fn, void *arg);

struct channel_depth {
	const char *name;
	int64_t pending, leased, done, dead;
	int64_t oldest_pending_at; /* 0 when nothing is pending */
};
typedef int store_channel_fn(void *arg, const struct channel_depth *c);
enum store_rc store_channels(struct store *st, int64_t now_ms, store_channel_fn *fn, void *arg);

/* Marks leases that ran out on their last attempt dead, deletes expired
 * commands, and done or dead ones finished before now - retention_ms.
 * Counts what went in *expired and *finished.  Takes the write lock only
 * when something is due. */
enum store_rc store_sweep(struct store *st, int64_t now_ms, int64_t retention_ms, int64_t *expired, int64_t *finished);

/* The commands of a channel that are live, or done or dead and not yet swept,
 * oldest first: with state (as command_row.state) only those in it.  At most
 * limit reach fn.  For the operator's command line. */
enum store_rc store_channel_commands(struct store *st, const char *channel, const char *state, int64_t now_ms,
    long limit, store_command_fn *fn, void *arg);

/* --- API keys (store_keys.c) --- */

/* A key as stored: never its token, only the SHA-256 of it (not shown here).
 * Times are Unix ms, 0 when NULL.  Strings live until the callback returns. */
struct key_row {
	int64_t id;
	const char *label;
	const char *scopes;       /* "publish,consume" */
	const char *channels;     /* "game-*,lobby" */
	int64_t created_at;
	int64_t expires_at;       /* 0: never */
	int64_t last_used_at;     /* 0: never */
	int64_t revoked_at;       /* 0: not revoked */
};
typedef int store_key_fn(void *arg, const struct key_row *key);

/* Stores a new key by the hash of its token; expires_at 0 never expires. *id is the new key's. */
enum store_rc store_key_insert(struct store *st, const unsigned char *hash, size_t hash_len, const char *label,
    const char *scopes, const char *channels, int64_t now_ms, int64_t expires_at, int64_t *id);

/* Calls fn with the key whose token hashes to hash.  STORE_NOT_FOUND if none. */
enum store_rc store_key_find(struct store *st, const unsigned char *hash, size_t hash_len, store_key_fn *fn,
    void *arg);

/* Calls fn with key id.  STORE_NOT_FOUND if none. */
enum store_rc store_key_get(struct store *st, int64_t id, store_key_fn *fn, void *arg);

/* Records that key id was used now, unless that was recorded less than
 * every_ms ago: a busy key costs one write a minute, not one per request.
 * Never waits for the write lock: STORE_BUSY at once when another holds it. */
enum store_rc store_key_touch(struct store *st, int64_t id, int64_t now_ms, int64_t every_ms);

/* Every key, by id. */
enum store_rc store_keys_list(struct store *st, store_key_fn *fn, void *arg);

/* Revokes key id.  STORE_NOT_FOUND if there is none; a key revoked before
 * stays revoked as of then (*newly = 0). */
enum store_rc store_key_revoke(struct store *st, int64_t id, int64_t now_ms, int *newly);

#endif
