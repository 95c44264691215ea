/* Opening the database, migrating its schema, and the helpers every store
 * operation uses: statements prepared once, transactions, result codes. */
#include "store_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_migrations.h"

static int synchronous_full;

int store_library_init(void)
{
	/* SQLite's memory statistics take one process-wide mutex on every
	 * allocation: every thread of the relay would queue on it, and nothing
	 * here reads the statistics. */
	if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
		return -1;
	/* No page-cache slab per connection: by default each connection
	 * allocates room for 20 pages at once and writes a header into every
	 * one, 14 fresh memory pages a CGI request that reads 7.  Pages are
	 * allocated one at a time as they are read instead. */
	return sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0) == SQLITE_OK ? 0 : -1;
}

void store_set_synchronous_full(int full)
{
	synchronous_full = full;
}

const char *store_rc_name(enum store_rc rc)
{
	switch (rc) {
	case STORE_OK: return "ok";
	case STORE_NOT_FOUND: return "not found";
	case STORE_CONFLICT: return "conflict";
	case STORE_BUSY: return "database busy";
	case STORE_FULL: return "disk full";
	case STORE_READONLY: return "database read-only";
	case STORE_MOVED: return "database file deleted or replaced";
	case STORE_CHANNEL_FULL: return "channel full";
	case STORE_NEEDS_LEASE: return "lease required";
	default: return "database error";
	}
}

bool store_rc_failed(enum store_rc rc)
{
	switch (rc) {
	case STORE_BUSY:
	case STORE_FULL:
	case STORE_READONLY:
	case STORE_MOVED:
	case STORE_ERROR:
		return true;
	default:
		return false;
	}
}

enum store_rc store_rc_from(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return STORE_OK;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return STORE_BUSY;
	case SQLITE_FULL:
		return STORE_FULL;
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
		return STORE_READONLY;
	case SQLITE_CONSTRAINT:
		return STORE_CONFLICT;
	default:
		return STORE_ERROR;
	}
}

sqlite3_stmt *store_stmt(struct store *st, enum stmt id)
{
	sqlite3_stmt *s = st->stmts[id];

	if (s == NULL) {
		/* Prepared lazily: a CGI process pays only for the statements it runs. */
		if (sqlite3_prepare_v3(st->db, store_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK)
			return NULL;
		st->stmts[id] = s;
	} else {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	}
	return s;
}

enum store_rc store_exec(sqlite3_stmt *s)
{
	int rc;

	if (s == NULL)
		return STORE_ERROR;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		;
	rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	sqlite3_reset(s);
	return store_rc_from(rc);
}

enum store_rc store_snapshot_begin(struct store *st)
{
	enum store_rc rc;

	if (!sqlite3_get_autocommit(st->db))
		return STORE_OK; /* already inside a transaction */
	if ((rc = store_exec(store_stmt(st, STMT_BEGIN))) == STORE_OK)
		st->snapshot = 1;
	return rc;
}

void store_snapshot_end(struct store *st)
{
	if (!st->snapshot)
		return;
	st->snapshot = 0;
	if (!sqlite3_get_autocommit(st->db) && store_exec(store_stmt(st, STMT_COMMIT)) != STORE_OK)
		(void)store_exec(store_stmt(st, STMT_ROLLBACK));
}

/* Writers of one process queue on this mutex rather than in SQLite's busy
 * handler, which sleeps in steps of milliseconds: a thread gets the write
 * lock the moment the previous one commits.  Other processes still meet
 * at SQLite's lock, with the busy timeout. */
static pthread_mutex_t process_write_lock = PTHREAD_MUTEX_INITIALIZER;

void store_deadline(struct timespec *deadline, int ms)
{
	clock_gettime(CLOCK_REALTIME, deadline);
	deadline->tv_sec += ms / 1000;
	deadline->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (deadline->tv_nsec >= 1000000000L) {
		deadline->tv_sec++;
		deadline->tv_nsec -= 1000000000L;
	}
}

int store_writers_lock(const struct timespec *deadline)
{
	return pthread_mutex_timedlock(&process_write_lock, deadline) == 0 ? 0 : -1;
}

void store_writers_unlock(void)
{
	pthread_mutex_unlock(&process_write_lock);
}

enum store_rc store_begin_write(struct store *st)
{
	struct timespec deadline;

	/* The busy timeout bounds the whole wait, in this queue and in SQLite's
	 * busy handler together: while another process holds the lock, each
	 * writer queued here must not wait a busy timeout of its own in turn. */
	store_deadline(&deadline, STORE_BUSY_TIMEOUT_MS);
	return store_begin_write_by(st, &deadline);
}

enum store_rc store_begin_write_by(struct store *st, const struct timespec *deadline)
{
	struct timespec now;
	int64_t left_ms;
	enum store_rc rc;

	/* A write sees the newest data, not a reader's snapshot. */
	store_snapshot_end(st);
	if (store_writers_lock(deadline) != 0)
		return STORE_BUSY;
	clock_gettime(CLOCK_REALTIME, &now);
	left_ms = ((int64_t)deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
	sqlite3_busy_timeout(st->db, left_ms > 0 ? (int)left_ms : 0);
	/* IMMEDIATE takes the write lock up front, so the busy handler can wait
	 * for it; a deferred transaction upgrading later could only fail. */
	rc = store_exec(store_stmt(st, STMT_BEGIN_IMMEDIATE));
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	if (rc != STORE_OK) {
		store_writers_unlock();
		return rc;
	}
	st->writing = 1;
	/* A database file deleted or replaced under an open connection still
	 * takes writes, into a file nobody opens again: every command
	 * acknowledged from then on would be lost.  Refuse instead; the 503
	 * closes this connection and the next request opens what is at the path. */
	if (store_moved(st)) {
		store_rollback(st);
		return STORE_MOVED;
	}
	return STORE_OK;
}

bool store_moved(struct store *st)
{
	struct stat sb;
	int moved = 0;

	/* One stat a call (every request makes one): the file's identity,
	 * device and inode, against what store_open recorded.  SQLite's own
	 * test compares inode numbers only, which a file system mounted anew
	 * from a copy (a repaired disk) has the same of, on another device;
	 * it serves when nothing was recorded (an in-memory database). */
	if (st->ino == 0)
		return sqlite3_file_control(st->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK && moved;
	return stat(sqlite3_db_filename(st->db, "main"), &sb) == -1 || sb.st_dev != st->dev || sb.st_ino != st->ino;
}

void store_empty_wal(struct store *st)
{
	if (sqlite3_total_changes64(st->db) == 0)
		return;
	sqlite3_busy_timeout(st->db, 0);
	(void)sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
}

static void write_done(struct store *st)
{
	if (st->writing) {
		st->writing = 0;
		store_writers_unlock();
	}
}

enum store_rc store_commit(struct store *st)
{
	enum store_rc rc = store_exec(store_stmt(st, STMT_COMMIT));

	if (rc != STORE_OK)
		store_rollback(st);
	write_done(st);
	return rc;
}

void store_rollback(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		(void)store_exec(store_stmt(st, STMT_ROLLBACK));
	write_done(st);
}

void store_set_error(struct store *st, const char *why)
{
	st->group_failed = why != NULL;
	if (why != NULL)
		snprintf(st->group_error, sizeof(st->group_error), "%s", why);
}

const char *store_errmsg(struct store *st)
{
	/* A grouped write may have failed on another connection: its reason
	 * is told once, right after, and not for later failures of this one. */
	if (st->group_failed) {
		st->group_failed = 0;
		return st->group_error;
	}
	return sqlite3_errmsg(st->db);
}

int store_schema_latest(void)
{
	return migrations[migrations_count - 1].version;
}

static int pragma_int(sqlite3 *db, const char *sql, int *value)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL)) != SQLITE_OK)
		return rc;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*value = sqlite3_column_int(s, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	return rc;
}

int store_schema_version(struct store *st)
{
	int v = -1;

	(void)pragma_int(st->db, "PRAGMA user_version", &v);
	return v;
}

/* Applies the migrations the database lacks.  The version is read first
 * without a lock so that an up-to-date database (the usual case, and every
 * CGI request) costs no write; only then is it re-read under the write lock,
 * so that processes starting together migrate exactly once. */
static int migrate(sqlite3 *db, char *why, size_t why_size)
{
	int version = 0, latest = store_schema_latest(), rc;
	char pragma[48];

	if ((rc = pragma_int(db, "PRAGMA user_version", &version)) != SQLITE_OK)
		goto fail;
	if (version == latest)
		return 0;
	if (version > latest) {
		snprintf(why, why_size, "database schema version %d is newer than this cmdrelay (%d)", version, latest);
		return -1;
	}
	if ((rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK)
		goto fail;
	if ((rc = pragma_int(db, "PRAGMA user_version", &version)) != SQLITE_OK)
		goto fail_rollback;
	for (int i = 0; i < migrations_count; i++) {
		if (migrations[i].version <= version)
			continue;
		if ((rc = sqlite3_exec(db, migrations[i].sql, NULL, NULL, NULL)) != SQLITE_OK) {
			snprintf(why, why_size, "migration %s failed: %s", migrations[i].file, sqlite3_errmsg(db));
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
	}
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", latest);
	if ((rc = sqlite3_exec(db, pragma, NULL, NULL, NULL)) != SQLITE_OK)
		goto fail_rollback;
	if ((rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
		goto fail_rollback;
	return 0;
fail_rollback:
	snprintf(why, why_size, "cannot migrate the database: %s", sqlite3_errmsg(db));
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
fail:
	snprintf(why, why_size, "cannot read the database: %s", sqlite3_errmsg(db));
	return -1;
}

/* Explains why path cannot be opened in terms an operator can act on. */
static void explain_open_failure(const char *path, const char *sqlite_msg, char *why, size_t why_size)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	struct stat sb;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (stat(dir, &sb) == -1)
		snprintf(why, why_size, "database directory %s does not exist", dir);
	else if (!S_ISDIR(sb.st_mode))
		snprintf(why, why_size, "database directory %s is not a directory", dir);
	else if (access(dir, W_OK) == -1 && errno == EROFS)
		snprintf(why, why_size, "database directory %s is on a read-only file system", dir);
	else if (access(path, F_OK) == 0 && access(path, R_OK | W_OK) == -1)
		snprintf(why, why_size, "database file %s is not readable and writable by this user", path);
	else if (access(dir, W_OK | X_OK) == -1)
		snprintf(why, why_size, "database directory %s is not writable by this user", dir);
	else
		snprintf(why, why_size, "cannot open database %s: %s", path, sqlite_msg);
}

/* Runs sql, retrying for up to the busy timeout while the database is busy.
 * Switching a new database to WAL takes an exclusive lock, and a connection
 * that meets it while another process converts or recovers the file gets
 * SQLITE_BUSY at once, without the busy handler being called: processes
 * starting together on a new database would fail at random.  Returns the
 * SQLite result code. */
static int exec_while_busy(sqlite3 *db, const char *sql)
{
	int rc, waited = 0;

	while ((rc = sqlite3_exec(db, sql, NULL, NULL, NULL)) != SQLITE_OK && (rc & 0xff) == SQLITE_BUSY &&
	    waited < STORE_BUSY_TIMEOUT_MS)
		waited += sqlite3_sleep(10);
	return rc;
}

struct store *store_open(const char *path, char *why, size_t why_size)
{
	struct store *st;
	int rc;

	if ((st = calloc(1, sizeof(*st))) == NULL || (st->path = strdup(path)) == NULL) {
		free(st);
		snprintf(why, why_size, "out of memory");
		return NULL;
	}
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		explain_open_failure(path, st->db != NULL ? sqlite3_errmsg(st->db) : "out of memory", why, why_size);
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	/* WAL lets readers run beside the one writer.  NORMAL in WAL mode loses no
	 * commit when the relay crashes, only (rarely) the last ones on power loss;
	 * FULL syncs every commit, which store_group_write groups to keep it fast. */
	rc = exec_while_busy(st->db, synchronous_full ? "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
	                                              : "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
	if (rc != SQLITE_OK) {
		explain_open_failure(path, sqlite3_errmsg(st->db), why, why_size);
		goto fail;
	}
	if (migrate(st->db, why, why_size) == -1)
		goto fail;
	/* Replaces SQLite's auto-checkpoint: see store_checkpoint.c.  A
	 * database other than the one the thread checkpoints (a site's, named
	 * by a request) keeps SQLite's own. */
	if (store_checkpointer_serves(path))
		sqlite3_wal_hook(st->db, store_wal_hook, NULL);
	{
		struct stat sb;
		int moved = 0;

		if (stat(sqlite3_db_filename(st->db, "main"), &sb) == 0) {
			st->dev = sb.st_dev;
			st->ino = sb.st_ino;
		}
		/* Should the file have been replaced between SQLite's open and that
		 * stat, the identity recorded would be the wrong file's. */
		if (sqlite3_file_control(st->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK && moved) {
			snprintf(why, why_size, "the database file %s was replaced while it was being opened", path);
			goto fail;
		}
	}
	return st;
fail:
	store_close(st);
	return NULL;
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	for (int i = 0; i < STMT__COUNT; i++)
		sqlite3_finalize(st->stmts[i]);
	sqlite3_close(st->db);
	free(st->path);
	free(st);
}
