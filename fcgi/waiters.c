#include "waiters.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "timeutil.h"

/* Each waiting thread sleeps on a condition of its own, not on one shared
 * by all: the kernel keeps a futex's sleepers in a list per hash bucket, and
 * a thousand on one futex made every wake-up of another futex that hashed
 * to the same bucket walk all thousand.  Which futex shares a bucket moves
 * with the layout of memory: one build spent 4.2% of a core on it while
 * 1000 long polls waited, against 1.1% (docs/performance.md). */
struct waiter {
	pthread_cond_t wake; /* generation moved, or shutdown */
	struct waiter *prev, *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct waiter *sleepers; /* the threads in waiters_wait */
static pthread_cond_t wanted = PTHREAD_COND_INITIALIZER;    /* someone started waiting */
/* Moved under the lock (so a waiter checking it under the lock cannot miss
 * a move), read without it by every read and poll before it looks. */
static _Atomic uint64_t generation;
static int waiting;
static int stopping;
static int watcher_started;
static char *watched_path;
static void (*hook_before)(void);
static void (*hook_after)(void);

uint64_t waiters_generation(void)
{
	return generation;
}

/* Called with the lock held. */
static void wake_all(void)
{
	for (struct waiter *w = sleepers; w != NULL; w = w->next)
		pthread_cond_signal(&w->wake);
}

void waiters_notify(void)
{
	pthread_mutex_lock(&lock);
	generation++;
	wake_all();
	pthread_mutex_unlock(&lock);
}

int waiters_count(void)
{
	int n;

	pthread_mutex_lock(&lock);
	n = waiting;
	pthread_mutex_unlock(&lock);
	return n;
}

void waiters_shutdown(void)
{
	pthread_mutex_lock(&lock);
	stopping = 1;
	wake_all();
	pthread_cond_broadcast(&wanted);
	pthread_mutex_unlock(&lock);
}

void waiters_set_hooks(void (*before_wait)(void), void (*after_wait)(void))
{
	hook_before = before_wait;
	hook_after = after_wait;
}

static int data_version(sqlite3 *db, int *version)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &s, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Opens the watched database, or opens it again when its file was deleted
 * or replaced (a restore from backup): a watcher of the old file would never
 * see another commit.  Returns the connection, or NULL to try again on the
 * next look; says why once per failure, not every WATCH_INTERVAL_MS. */
static sqlite3 *watch_open(sqlite3 *db, int *reopened)
{
	static int complained;
	int moved = 0;

	*reopened = 0;
	if (db != NULL && (sqlite3_file_control(db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK || !moved))
		return db;
	sqlite3_close(db);
	db = NULL;
	if (sqlite3_open_v2(watched_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		if (!complained)
			log_msg("long-poll watcher cannot open the database: %s", db != NULL ? sqlite3_errmsg(db) : "no memory");
		complained = 1;
		sqlite3_close(db);
		return NULL;
	}
	complained = 0;
	*reopened = 1;
	return db;
}

/* Watches the database for commits by other connections, but only while
 * somebody waits.  data_version changes whenever another connection (in this
 * process or any other) commits; reading it touches only the WAL index. */
static void *watcher(void *arg)
{
	sqlite3 *db = NULL;
	int last = -1, v, reopened;

	(void)arg;
	pthread_mutex_lock(&lock);
	while (!stopping) {
		struct timespec pause = { 0, WATCH_INTERVAL_MS * 1000000L };

		if (waiting == 0) {
			last = -1;
			pthread_cond_wait(&wanted, &lock);
			continue;
		}
		pthread_mutex_unlock(&lock);
		/* The first look after an idle spell (last == -1) wakes the waiters
		 * too: a commit landing between a waiter's own look and this
		 * baseline would otherwise go unseen until its wait ran out.  It
		 * costs them one more look. */
		if ((db = watch_open(db, &reopened)) != NULL && reopened)
			last = -1; /* another file's counter: start from its own */
		if (db != NULL && data_version(db, &v) == 0 && v != last) {
			waiters_notify();
			last = v;
		}
		nanosleep(&pause, NULL);
		pthread_mutex_lock(&lock);
	}
	pthread_mutex_unlock(&lock);
	sqlite3_close(db);
	return NULL;
}

/* Starts the watcher on first use.  Called with lock held. */
static void watcher_start(const char *db_path)
{
	pthread_t tid;
	pthread_attr_t attr;

	if (watcher_started || (watched_path = strdup(db_path)) == NULL)
		return;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&tid, &attr, watcher, NULL) == 0)
		watcher_started = 1;
	pthread_attr_destroy(&attr);
}

int waiters_wait(const char *db_path, uint64_t *seen, int64_t deadline_ms)
{
	struct waiter self = { .wake = PTHREAD_COND_INITIALIZER };
	int rc;

	if (hook_before != NULL)
		hook_before();
	pthread_mutex_lock(&lock);
	watcher_start(db_path);
	self.next = sleepers;
	if (sleepers != NULL)
		sleepers->prev = &self;
	sleepers = &self;
	waiting++;
	pthread_cond_broadcast(&wanted);
	while (!stopping && generation == *seen) {
		int64_t now = time_now_ms(), until = deadline_ms;
		struct timespec ts;

		if (now >= deadline_ms)
			break;
		/* A database other than the watched one is re-checked every 200 ms. */
		if (watched_path != NULL && strcmp(watched_path, db_path) != 0 && until > now + 200)
			until = now + 200;
		ts.tv_sec = (time_t)(until / 1000);
		ts.tv_nsec = (long)(until % 1000) * 1000000L;
		if (pthread_cond_timedwait(&self.wake, &lock, &ts) != 0 && until != deadline_ms)
			break;
	}
	if (stopping) {
		rc = -1;
	} else if (generation != *seen) {
		*seen = generation;
		rc = 0;
	} else {
		rc = 1;
	}
	waiting--;
	if (self.prev != NULL)
		self.prev->next = self.next;
	else
		sleepers = self.next;
	if (self.next != NULL)
		self.next->prev = self.prev;
	pthread_mutex_unlock(&lock);
	pthread_cond_destroy(&self.wake);
	if (hook_after != NULL)
		hook_after();
	return rc;
}
