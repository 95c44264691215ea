/* WAL checkpoints on a thread of their own.  By default SQLite checkpoints
 * inside whichever commit pushes the WAL past 1000 pages, so one request in
 * a thousand pays for copying the WAL into the database (and, with
 * synchronous=FULL, for its fsyncs) while holding the write lock.  A
 * long-running server instead has every connection signal this thread,
 * which runs a PASSIVE checkpoint beside the writers. */
#include "store_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Pages in the WAL at which the thread is asked to checkpoint (SQLite's own default). */
#define CHECKPOINT_PAGES 1000
/* Pages at which a commit checkpoints by itself, should the thread fall behind. */
#define CHECKPOINT_INLINE_PAGES 20000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wanted = PTHREAD_COND_INITIALIZER;
static int running, stopping, due;
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
		pthread_cond_signal(&wanted);
		pthread_mutex_unlock(&lock);
	}
	return SQLITE_OK;
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
		if (!due) {
			pthread_cond_wait(&wanted, &lock);
			continue;
		}
		due = 0;
		pthread_mutex_unlock(&lock);
		if (db != NULL) {
			int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);

			if (rc != SQLITE_OK && rc != SQLITE_BUSY)
				log_msg("checkpoint failed: %s", sqlite3_errmsg(db));
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
