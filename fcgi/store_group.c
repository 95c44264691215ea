/* Group commit: the writes of concurrent requests, one transaction for many.
 *
 * Writes that arrive while another group is committing wait in a queue;
 * whoever finds no commit under way leads: it runs every waiting write in
 * one transaction, each under its own savepoint so that one request's
 * failure undoes only that request, commits once (one fsync for the group
 * when synchronous=FULL) and then tells each its outcome.  No write is
 * answered before the commit that holds it.  A process may serve several
 * databases (one per site): a group holds only writes to the leader's, and
 * the others wait for a leader of their own.  Publishes (store_commands.c)
 * and the tutorial's POST (store_tutorial.c) write this way.
 *
 * The queue's lock is held only to join the queue and to take a group from
 * it.  Each waiting write sleeps on a lock and condition of its own, which
 * the leader takes after letting go of the queue's: a waiter woken while the
 * leader still held the queue's lock would at once sleep again on it, two
 * more system calls and a thread switch for every member of every group.
 * Waiting in this queue is in arrival order, unlike waiting for the
 * process's write lock (a mutex), where a few of 32 concurrent writers
 * waited ten times longer than the rest. */
#include "store_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

struct write_job {
	const char *db;     /* the database's file name (sqlite3_db_filename) */
	store_write_fn *run;
	void *arg;
	struct timespec deadline; /* the busy timeout, from when it joined the queue */
	size_t stored;
	enum store_rc rc;
	char error[160];    /* SQLite's reason when rc is a failure */
	struct write_job *next;
	/* Under the job's own lock: */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int done;           /* committed or failed: rc and stored are final */
	int leads;          /* handed the leadership by the previous leader */
};

#define GROUP_MAX 256

static pthread_mutex_t group_lock = PTHREAD_MUTEX_INITIALIZER;
static struct write_job *group_head, *group_tail;
static int group_leading;

/* Takes the queued writes to database db, the head first and in their
 * order, GROUP_MAX at most; the rest stay queued in theirs.  Called with
 * group_lock held. */
static struct write_job *take_group(const char *db)
{
	struct write_job *batch = NULL, **batch_tail = &batch, **link = &group_head;
	int n = 0;

	group_tail = NULL;
	while (*link != NULL) {
		struct write_job *j = *link;

		if (n < GROUP_MAX && strcmp(j->db, db) == 0) {
			*link = j->next;
			j->next = NULL;
			*batch_tail = j;
			batch_tail = &j->next;
			n++;
		} else {
			group_tail = j;
			link = &j->next;
		}
	}
	return batch;
}

/* Each database's groups commit on one connection kept for the purpose.
 * SQLite drops a connection's whole page cache when it starts a transaction
 * and finds the WAL changed since its last one: commits taking turns on the
 * pool's connections read every page they touch again (six reads from the
 * file a publish under load).  A connection that made the last commit
 * itself keeps its cache.  Only the leader uses them, one leader at a time;
 * a process answering one request (CGI) commits on its own connection. */
#define GROUP_WRITERS 8 /* as many as the pool has databases (POOL_MAX_DATABASES) */

static struct store *group_writers[GROUP_WRITERS];
static int group_writers_on;

void store_group_writers_start(void)
{
	group_writers_on = 1;
}

void store_group_writers_close(void)
{
	for (int i = 0; i < GROUP_WRITERS; i++) {
		store_close(group_writers[i]);
		group_writers[i] = NULL;
	}
	group_writers_on = 0;
}

/* The connection to commit the group on: the database's writer, opened
 * like the leader's own connection, or that connection itself when no
 * writer can be had.  A writer whose file is not the leader's (one of the
 * two opened before the file at the path was replaced) is opened again:
 * the leader's passed its check when the pool lent it, so what it has open
 * is at the path.  A writer that cannot be opened is tried again by the
 * next group, and said once in the log. */
static struct store *group_writer(struct store *leader)
{
	static int open_failure_told;
	struct store **free_slot = NULL;
	char why[256];

	if (!group_writers_on)
		return leader;
	for (int i = 0; i < GROUP_WRITERS; i++) {
		struct store *w = group_writers[i];

		if (w == NULL) {
			if (free_slot == NULL)
				free_slot = &group_writers[i];
		} else if (strcmp(w->path, leader->path) == 0) {
			if (w->dev == leader->dev && w->ino == leader->ino)
				return w;
			store_close(w);
			group_writers[i] = NULL;
			free_slot = &group_writers[i];
			break;
		}
	}
	if (free_slot == NULL)
		return leader;
	if ((*free_slot = store_open(leader->path, why, sizeof(why))) == NULL) {
		if (!open_failure_told++)
			log_msg("writes commit on their own connections: cannot open one for them: %s", why);
		return leader;
	}
	return *free_slot;
}

/* After the group: a writer that failed (other than by finding the
 * database busy, which is another's doing) is closed, as the pool closes a
 * connection that failed a request: whatever went wrong (a deleted file, a
 * full disk, an I/O error) is not carried into the next group's commit. */
static void group_writer_after(struct store *writer, const struct write_job *batch)
{
	int failed = 0;

	for (const struct write_job *j = batch; j != NULL; j = j->next)
		failed |= store_rc_failed(j->rc) && j->rc != STORE_BUSY;
	if (!failed)
		return;
	for (int i = 0; i < GROUP_WRITERS; i++)
		if (group_writers[i] == writer) {
			store_close(writer);
			group_writers[i] = NULL;
		}
}

static enum store_rc savepoint(struct store *st, enum stmt id)
{
	return store_exec(store_stmt(st, id));
}

/* Records a job's failure and why.  The request logs the reason from its
 * own connection, which the group may not have used, so it travels with
 * the job: SQLite's message when an SQLite call failed just now, else the
 * result's name (the process's write lock not free in time, a file
 * replaced, a rollback that already reset the message). */
static void job_failed(struct write_job *j, enum store_rc rc, struct store *st)
{
	int code = sqlite3_errcode(st->db);

	j->rc = rc;
	j->stored = 0;
	snprintf(j->error, sizeof(j->error), "%s",
	    code != SQLITE_OK && code != SQLITE_ROW && code != SQLITE_DONE && rc != STORE_MOVED ? sqlite3_errmsg(st->db)
	                                                                                   : store_rc_name(rc));
}

static void run_group(struct store *st, struct write_job *jobs)
{
	int64_t changes;
	enum store_rc rc;

	/* The head joined the queue first: no member waits past its own
	 * deadline for the write lock, however long earlier groups took. */
	if ((rc = store_begin_write_by(st, &jobs->deadline)) != STORE_OK) {
		for (struct write_job *j = jobs; j != NULL; j = j->next)
			job_failed(j, rc, st);
		return;
	}
	changes = sqlite3_total_changes64(st->db);
	for (struct write_job *j = jobs; j != NULL; j = j->next) {
		if ((rc = savepoint(st, STMT_SAVEPOINT)) == STORE_OK && (rc = j->run(st, j->arg, &j->stored)) == STORE_OK) {
			(void)savepoint(st, STMT_RELEASE_SAVEPOINT);
			continue;
		}
		job_failed(j, rc, st);
		/* Some errors (I/O, a full disk) make SQLite roll the whole
		 * transaction back, the members before this one with it; a
		 * savepoint now would begin a transaction of its own, which its
		 * release would commit.  The group ends here: every member failed,
		 * for this one's reason. */
		if (sqlite3_get_autocommit(st->db)) {
			for (struct write_job *k = jobs; k != NULL; k = k->next)
				if (k != j) {
					k->rc = j->rc;
					k->stored = 0;
					memcpy(k->error, j->error, sizeof(k->error));
				}
			store_rollback(st);
			return;
		}
		(void)savepoint(st, STMT_ROLLBACK_TO_SAVEPOINT);
		(void)savepoint(st, STMT_RELEASE_SAVEPOINT);
	}
	/* Nothing changed (every key existed, or every write failed): no commit to sync. */
	rc = sqlite3_total_changes64(st->db) != changes ? store_commit(st) : (store_rollback(st), STORE_OK);
	if (rc != STORE_OK)
		for (struct write_job *j = jobs; j != NULL; j = j->next)
			job_failed(j, rc, st);
}

/* Tells a waiting job that it is done, or that it leads now.  The job lives
 * on its thread's stack: once done is set under its lock, it may be gone as
 * soon as that lock is given back. */
static void job_tell(struct write_job *j, int done)
{
	pthread_mutex_lock(&j->lock);
	if (done)
		j->done = 1;
	else
		j->leads = 1;
	pthread_cond_signal(&j->wake);
	pthread_mutex_unlock(&j->lock);
}

enum store_rc store_group_write(struct store *st, store_write_fn *run, void *arg, size_t *stored)
{
	struct write_job job = { .db = sqlite3_db_filename(st->db, "main"), .run = run, .arg = arg, .rc = STORE_OK,
		.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };
	struct write_job *batch, *next_leader;
	struct store *writer;
	int leads;

	store_deadline(&job.deadline, STORE_BUSY_TIMEOUT_MS);

	pthread_mutex_lock(&group_lock);
	if (group_tail != NULL)
		group_tail->next = &job;
	else
		group_head = &job;
	group_tail = &job;
	if ((leads = !group_leading))
		group_leading = 1;
	pthread_mutex_unlock(&group_lock);
	if (!leads) {
		pthread_mutex_lock(&job.lock);
		while (!job.done && !job.leads)
			pthread_cond_wait(&job.wake, &job.lock);
		leads = !job.done;
		pthread_mutex_unlock(&job.lock);
	}
	if (leads) {
		/* This job is at the queue's head: the group taken starts with it. */
		pthread_mutex_lock(&group_lock);
		batch = take_group(job.db);
		pthread_mutex_unlock(&group_lock);
		writer = group_writer(st);
		run_group(writer, batch);
		group_writer_after(writer, batch);
		/* The queue's head (writes that came meanwhile, or another
		 * database's) leads next; the leadership passes without a gap in
		 * which a newcomer could start a second group beside it. */
		pthread_mutex_lock(&group_lock);
		if ((next_leader = group_head) == NULL)
			group_leading = 0;
		pthread_mutex_unlock(&group_lock);
		/* The next group first, then this one's answers. */
		if (next_leader != NULL)
			job_tell(next_leader, 0);
		for (struct write_job *j = batch, *next; j != NULL; j = next) {
			next = j->next;
			if (j != &job)
				job_tell(j, 1);
		}
	}
	pthread_cond_destroy(&job.wake);
	pthread_mutex_destroy(&job.lock);
	store_set_error(st, store_rc_failed(job.rc) ? job.error : NULL);
	*stored = job.stored;
	return job.rc;
}

