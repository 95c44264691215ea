/* WAL checkpoints on a thread of their own.  By default SQLite checkpoints
 * inside whichever commit pushes the WAL past 1000 pages, so one request in
 * a thousand pays for copying the WAL into the database (and, with
 * synchronous=FULL, for its fsyncs) while holding the write lock.  A
 * long-running server instead has every connection signal this thread,
 * which runs a PASSIVE checkpoint beside the writers.
 *
 * A PASSIVE checkpoint never waits, so under a steady stream of writes it
 * may never find the WAL both fully copied and free of readers at the moment
 * the next writer starts: that writer appends instead of starting the file
 * over, and the WAL grows for as long as the stream lasts.  Once it holds
 * CHECKPOINT_RESTART_PAGES, the thread takes the process's write lock and
 * runs a RESTART checkpoint, which copies the little the passive one left,
 * waits (briefly) for readers to leave the WAL and starts it over. */
#include "store_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* Pages in the WAL at which the thread is asked to checkpoint (SQLite's own default). */
#define CHECKPOINT_PAGES 1000
/* Pages at which the thread restarts the WAL under the write lock. */
#define CHECKPOINT_RESTART_PAGES 2000
/* How long each of a restart's attempts waits for readers (and other
 * processes' writers) while this process's writers queue behind it; if they
 * stay, it is tried again once the WAL has grown as much again. */
#define CHECKPOINT_RESTART_WAIT_MS 50
#define CHECKPOINT_RESTART_ATTEMPTS 3
/* Pages at which a commit checkpoints by itself, should the thread fall behind. */
#define CHECKPOINT_INLINE_PAGES 20000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wanted = PTHREAD_COND_INITIALIZER;
static int running, stopping, due;
static int wal_pages; /* the WAL's size at the last commit that signalled */
static pthread_t thread;
static char *path;

int store_checkpointer_running(void)
{
	int r;

	pthread_mutex_lock(&lock);
	r = running && !stopping;
	pthread_mutex_unlock(&lock);
	return r;
}

int store_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	(void)arg;
	if (pages >= CHECKPOINT_INLINE_PAGES)
		(void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	else if (pages >= CHECKPOINT_PAGES) {
		pthread_mutex_lock(&lock);
		due = 1;
		wal_pages = pages;
		pthread_cond_signal(&wanted);
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

/* Returns whether the WAL was copied whole and started over. */
static int restart_wal(sqlite3 *db)
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
		rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
		if (rc != SQLITE_BUSY)
			break;
	}
	sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
	if (rc == SQLITE_OK) {
		/* No commit through store_begin_write ran since, and any other
		 * (a key's last use) is too small to signal: none has signalled. */
		pthread_mutex_lock(&lock);
		wal_pages = 0;
		pthread_mutex_unlock(&lock);
	}
	store_writers_unlock();
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		log_msg("checkpoint (restart) failed: %s", sqlite3_errmsg(db));
	return rc == SQLITE_OK;
}

static void *checkpointer(void *arg)
{
	sqlite3 *db = NULL;
	int restart_at = CHECKPOINT_RESTART_PAGES, last_pages = 0;

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
		if (!due) {
			pthread_cond_wait(&wanted, &lock);
			continue;
		}
		due = 0;
		pthread_mutex_unlock(&lock);
		if (db != NULL) {
			int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL), pages;

			if (rc != SQLITE_OK && rc != SQLITE_BUSY)
				log_msg("checkpoint failed: %s", sqlite3_errmsg(db));
			pthread_mutex_lock(&lock);
			pages = wal_pages;
			pthread_mutex_unlock(&lock);
			/* A restart that found readers staying is not tried again
			 * at every commit, only once the WAL has grown as much again,
			 * or has started over by itself since. */
			if (pages < last_pages)
				restart_at = CHECKPOINT_RESTART_PAGES;
			last_pages = pages;
			if (pages >= restart_at)
				restart_at = restart_wal(db) ? CHECKPOINT_RESTART_PAGES : pages + CHECKPOINT_RESTART_PAGES;
		}
		pthread_mutex_lock(&lock);
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
