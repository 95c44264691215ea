/* WAL checkpoints on a thread of their own.  By default SQLite checkpoints
 * inside whichever commit pushes the WAL past 1000 pages, so one request in
 * a thousand pays for copying the WAL into the database (and for the
 * checkpoint's two fsyncs) while holding the write lock.  A long-running
 * server instead has the commit that takes the WAL past CHECKPOINT_PAGES
 * signal this thread, once, and the thread runs one cycle:
 *
 * - a PASSIVE checkpoint, beside the writers, copies the bulk of the WAL;
 * - a RESTART checkpoint, under the process's write lock, copies the little
 *   appended meanwhile, waits (briefly) for readers to leave the WAL and
 *   starts it over, so the next commits write at its start again.
 *
 * A PASSIVE checkpoint alone never waits, so under a steady stream of writes
 * it seldom finds the WAL both copied whole and free of readers at the
 * moment the next writer starts: the WAL would grow for as long as the
 * stream lasts.  And one cycle per CHECKPOINT_PAGES, not a checkpoint at
 * every commit past it: commits rewrite the same few pages (the newest
 * leaves, the channel counter), so each checkpoint copies little but pays
 * two fsyncs, which at every commit were a tenth of the relay's CPU under a
 * stream of publishes.  Should readers stay past the restart's wait, the
 * next cycle comes once the WAL has grown by CHECKPOINT_PAGES again. */
#include "store_internal.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* WAL pages from a cycle's start to the next (SQLite's own default). */
#define CHECKPOINT_PAGES 1000
/* How long each of a restart's attempts waits for readers (and other
 * processes' writers) while this process's writers queue behind it. */
#define CHECKPOINT_RESTART_WAIT_MS 50
#define CHECKPOINT_RESTART_ATTEMPTS 3
/* Pages at which a commit checkpoints by itself, should the thread fall behind. */
#define CHECKPOINT_INLINE_PAGES 20000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wanted = PTHREAD_COND_INITIALIZER;
static int running, stopping, due;
/* The WAL's size at which the next commit signals the thread; INT_MAX while
 * a cycle is due or under way.  Read by every commit without the lock. */
static _Atomic int signal_at = CHECKPOINT_PAGES;
/* The WAL's size at the last commit, to tell when it started over. */
static _Atomic int last_pages;
static pthread_t thread;
static char *path;

int store_checkpointer_serves(const char *db_path)
{
	int r;

	pthread_mutex_lock(&lock);
	r = running && !stopping && strcmp(path, db_path) == 0;
	pthread_mutex_unlock(&lock);
	return r;
}

int store_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	(void)arg;
	/* Started over (another process checkpointed it whole) after a cycle
	 * whose restart gave up: the next cycle is due at CHECKPOINT_PAGES
	 * again, not at the size it gave up at. */
	if (pages < atomic_exchange_explicit(&last_pages, pages, memory_order_relaxed)) {
		int at = atomic_load_explicit(&signal_at, memory_order_relaxed);

		if (at != INT_MAX && at > CHECKPOINT_PAGES)
			atomic_compare_exchange_strong_explicit(&signal_at, &at, CHECKPOINT_PAGES, memory_order_relaxed,
			    memory_order_relaxed);
	}
	if (pages >= CHECKPOINT_INLINE_PAGES)
		(void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	else if (pages >= atomic_load_explicit(&signal_at, memory_order_relaxed)) {
		pthread_mutex_lock(&lock);
		if (pages >= atomic_load_explicit(&signal_at, memory_order_relaxed)) {
			atomic_store_explicit(&signal_at, INT_MAX, memory_order_relaxed);
			due = 1;
			pthread_cond_signal(&wanted);
		}
		pthread_mutex_unlock(&lock);
	}
	return SQLITE_OK;
}

/* SQLite's busy timeout sleeps in steps that grow to 100 ms; while this
 * process's writers queue behind a restart, it should see a reader leave
 * within a fraction of a millisecond. */
static int restart_busy(void *arg, int count)
{
	const struct timespec *deadline = arg;
	struct timespec now, pause = { 0, 200000 };

	(void)count;
	clock_gettime(CLOCK_REALTIME, &now); /* store_deadline's clock */
	if (now.tv_sec > deadline->tv_sec || (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec))
		return 0;
	nanosleep(&pause, NULL);
	return 1;
}

/* Returns whether the WAL was copied whole and started over.  Once an attempt
 * ran, *wal_frames is the WAL's size in frames as it left it. */
static int restart_wal(sqlite3 *db, int *wal_frames)
{
	struct timespec lock_deadline, deadline;
	int rc, attempt;

	/* Writers of this process wait on the lock, not in SQLite's busy handler. */
	store_deadline(&lock_deadline, STORE_BUSY_TIMEOUT_MS);
	if (store_writers_lock(&lock_deadline) != 0)
		return 0;
	sqlite3_busy_handler(db, restart_busy, &deadline);
	/* A reader that ends and begins again at once can take back the slot an
	 * attempt is waiting for, until the attempt gives up; its new snapshot is
	 * the newest, so the next attempt does not wait for it. */
	for (attempt = 0; attempt < CHECKPOINT_RESTART_ATTEMPTS; attempt++) {
		store_deadline(&deadline, CHECKPOINT_RESTART_WAIT_MS);
		rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_RESTART, wal_frames, NULL);
		if (rc != SQLITE_BUSY)
			break;
	}
	sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
	store_writers_unlock();
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		log_msg("checkpoint (restart) failed: %s", sqlite3_errmsg(db));
	return rc == SQLITE_OK;
}

/* One cycle: see the comment at the top.  Returns the WAL's size at which
 * the next cycle is due. */
static int checkpoint_cycle(sqlite3 *db)
{
	int frames = -1, rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, NULL);

	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		log_msg("checkpoint failed: %s", sqlite3_errmsg(db));
	if (restart_wal(db, &frames))
		return CHECKPOINT_PAGES;
	/* Readers stayed, or the lock was not had: again once the WAL has grown
	 * by as many pages more, or once it has started over (store_wal_hook). */
	return frames > 0 ? frames + CHECKPOINT_PAGES : CHECKPOINT_PAGES;
}

static void *checkpointer(void *arg)
{
	sqlite3 *db = NULL;

	(void)arg;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_msg("checkpointer cannot open the database: %s", db != NULL ? sqlite3_errmsg(db) : "no memory");
		sqlite3_close(db);
		db = NULL;
	} else {
		sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
		/* A connection learns the database is in WAL mode when it first
		 * reads it; until then a checkpoint would do nothing at all. */
		(void)sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
	}
	pthread_mutex_lock(&lock);
	while (!stopping) {
		int next_at = CHECKPOINT_PAGES;

		if (!due) {
			pthread_cond_wait(&wanted, &lock);
			continue;
		}
		due = 0;
		pthread_mutex_unlock(&lock);
		if (db != NULL)
			next_at = checkpoint_cycle(db);
		pthread_mutex_lock(&lock);
		atomic_store_explicit(&signal_at, next_at, memory_order_relaxed);
	}
	pthread_mutex_unlock(&lock);
	sqlite3_close(db);
	return NULL;
}

int store_checkpointer_start(const char *db_path)
{
	int rc;

	pthread_mutex_lock(&lock);
	if (running || (path = strdup(db_path)) == NULL) {
		pthread_mutex_unlock(&lock);
		return running ? 0 : -1;
	}
	rc = pthread_create(&thread, NULL, checkpointer, NULL);
	running = rc == 0;
	pthread_mutex_unlock(&lock);
	return rc == 0 ? 0 : -1;
}

void store_checkpointer_stop(void)
{
	pthread_mutex_lock(&lock);
	if (!running) {
		pthread_mutex_unlock(&lock);
		return;
	}
	stopping = 1;
	pthread_cond_signal(&wanted);
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	free(path);
	path = NULL;
	running = 0;
}
