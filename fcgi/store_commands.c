/* v1 commands: publishing, reading, looking one up, cancelling. */
#include "store_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static const char *text_or_null(sqlite3_stmt *s, int col)
{
	return (const char *)sqlite3_column_text(s, col);
}

void store_read_command(sqlite3_stmt *s, int64_t now_ms, struct command_row *row)
{
	memset(row, 0, sizeof(*row));
	row->id = sqlite3_column_int64(s, 0);
	row->channel = text_or_null(s, 1);
	row->name = text_or_null(s, 2);
	row->data = text_or_null(s, 3);
	row->data_len = (size_t)sqlite3_column_bytes(s, 3);
	row->mode = text_or_null(s, 4);
	row->target = text_or_null(s, 5);
	row->key = text_or_null(s, 6);
	row->state = text_or_null(s, 7);
	row->attempts = sqlite3_column_int64(s, 8);
	row->max_attempts = sqlite3_column_int64(s, 9);
	row->created_at = sqlite3_column_int64(s, 10);
	row->expires_at = sqlite3_column_int64(s, 11);
	row->lease_token = text_or_null(s, 12);
	row->lease_consumer = text_or_null(s, 13);
	row->lease_expires_at = sqlite3_column_int64(s, 14);
	row->result = text_or_null(s, 15);
	row->result_len = (size_t)sqlite3_column_bytes(s, 15);
	/* A lapsed lease is not written back until something else writes: it
	 * reads as pending again, or dead once its attempts are spent. */
	if (row->state != NULL && strcmp(row->state, "leased") == 0 && row->lease_expires_at <= now_ms)
		row->state = row->attempts >= row->max_attempts ? "dead" : "pending";
}

enum store_rc store_each_command(sqlite3_stmt *s, int64_t now_ms, store_command_fn *fn, void *arg)
{
	struct command_row row;
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		store_read_command(s, now_ms, &row);
		if (fn(arg, &row) != 0) {
			sqlite3_reset(s);
			return STORE_ERROR;
		}
	}
	sqlite3_reset(s);
	return store_rc_from(rc);
}

enum store_rc store_prepare_failed(struct store *st)
{
	enum store_rc rc = store_rc_from(sqlite3_errcode(st->db));

	return rc == STORE_OK ? STORE_ERROR : rc;
}

/* Counts the channel's live commands into *live: exactly (a scan of the
 * channel), or by the trigger-kept counter, which may still include
 * commands that expired but were not yet swept. */
static enum store_rc channel_live_count(struct store *st, const char *channel, int64_t now_ms, int exactly,
    int64_t *live)
{
	sqlite3_stmt *s = store_stmt(st, exactly ? STMT_CHANNEL_LIVE_COUNT : STMT_CHANNEL_LIVE_COUNTER);
	int rc;

	if (s == NULL)
		return store_prepare_failed(st);
	sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
	if (exactly)
		sqlite3_bind_int64(s, 2, now_ms);
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		sqlite3_reset(s);
		return store_rc_from(rc);
	}
	*live = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return STORE_OK;
}

/* Looks for a live command of the channel holding key; calls fn with it. */
static enum store_rc dedup_find(struct store *st, const char *channel, const char *key, int64_t now_ms,
    store_command_fn *fn, void *arg, int *found)
{
	sqlite3_stmt *s = store_stmt(st, STMT_DEDUP_FIND);
	struct command_row row;
	int rc;

	*found = 0;
	if (s == NULL)
		return store_prepare_failed(st);
	sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now_ms);
	sqlite3_bind_text(s, 3, key, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		*found = 1;
		store_read_command(s, now_ms, &row);
		row.existed = 1;
		rc = fn(arg, &row) == 0 ? SQLITE_OK : SQLITE_ERROR;
	}
	sqlite3_reset(s);
	return store_rc_from(rc);
}

static enum store_rc insert_command(struct store *st, const char *channel, const struct new_command *c, int64_t now_ms,
    store_command_fn *fn, void *arg)
{
	sqlite3_stmt *s = store_stmt(st, STMT_COMMAND_INSERT);
	struct command_row row;
	enum store_rc rc;

	if (s == NULL)
		return store_prepare_failed(st);
	sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, c->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, c->data, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, c->mode, -1, SQLITE_STATIC);
	if (c->target != NULL)
		sqlite3_bind_text(s, 5, c->target, -1, SQLITE_STATIC);
	if (c->key != NULL)
		sqlite3_bind_text(s, 6, c->key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 7, c->max_attempts);
	sqlite3_bind_int64(s, 8, now_ms);
	sqlite3_bind_int64(s, 9, now_ms + c->ttl_ms);
	if ((rc = store_exec(s)) != STORE_OK)
		return rc;
	/* The new row is exactly what was bound: no RETURNING, which would
	 * build an ephemeral table for every insert. */
	memset(&row, 0, sizeof(row));
	row.id = sqlite3_last_insert_rowid(st->db);
	row.channel = channel;
	row.name = c->name;
	row.data = c->data;
	row.data_len = strlen(c->data);
	row.mode = c->mode;
	row.target = c->target;
	row.key = c->key;
	row.state = "pending";
	row.max_attempts = c->max_attempts;
	row.created_at = now_ms;
	row.expires_at = now_ms + c->ttl_ms;
	return fn(arg, &row) == 0 ? STORE_OK : STORE_ERROR;
}

/* One request's publish, inside the group's transaction, all or nothing.
 * Only commands actually stored count against the channel's limit: a
 * request whose keys all exist already is answered even when it is full. */
static enum store_rc publish_one(struct store *st, const char *channel, const struct new_command *cmds, size_t count,
    int64_t now_ms, long limit, store_command_fn *fn, void *arg, size_t *stored)
{
	int64_t live = -1;
	enum store_rc rc;

	for (size_t i = 0; i < count; i++) {
		int found = 0;

		/* An earlier element of this batch (or of this group) with the same
		 * key is found too: it was inserted in this same transaction. */
		if (cmds[i].key != NULL && (rc = dedup_find(st, channel, cmds[i].key, now_ms, fn, arg, &found)) != STORE_OK)
			return rc;
		if (found)
			continue;
		if (live < 0 && (rc = channel_live_count(st, channel, now_ms, 0, &live)) != STORE_OK)
			return rc;
		if (live + (int64_t)*stored + 1 > limit) {
			/* The counter errs high: count exactly before refusing. */
			if ((rc = channel_live_count(st, channel, now_ms, 1, &live)) != STORE_OK)
				return rc;
			live -= (int64_t)*stored; /* the exact count includes what this request stored */
			if (live + (int64_t)*stored + 1 > limit)
				return STORE_CHANNEL_FULL;
		}
		if ((rc = insert_command(st, channel, &cmds[i], now_ms, fn, arg)) != STORE_OK)
			return rc;
		(*stored)++;
	}
	return STORE_OK;
}

/* Group commit.  Publishes that arrive while another is committing wait in
 * a queue; whoever finds no commit under way leads: it runs every waiting
 * publish in one transaction, each under its own savepoint so that one
 * request's failure undoes only that request, commits once (one fsync for
 * the group when synchronous=FULL) and then tells each its outcome.  No
 * publish is answered before the commit that holds it.  A process may serve
 * several databases (one per site): a group holds only publishes to the
 * leader's, and the others wait for a leader of their own.
 *
 * The queue's lock is held only to join the queue and to take a group from
 * it.  Each waiting publish sleeps on a lock and condition of its own, which
 * the leader takes after letting go of the queue's: a waiter woken while the
 * leader still held the queue's lock would at once sleep again on it, two
 * more system calls and a thread switch for every member of every group. */
struct publish_job {
	const char *db;     /* the database's file name (sqlite3_db_filename) */
	const char *channel;
	const struct new_command *cmds;
	size_t count;
	int64_t now_ms;
	long limit;
	store_command_fn *fn;
	void *arg;
	size_t stored;
	enum store_rc rc;
	char error[160];    /* SQLite's reason when rc is a failure */
	struct publish_job *next;
	/* Under the job's own lock: */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int done;           /* committed or failed: rc and stored are final */
	int leads;          /* handed the leadership by the previous leader */
};

#define GROUP_MAX 256

static pthread_mutex_t group_lock = PTHREAD_MUTEX_INITIALIZER;
static struct publish_job *group_head, *group_tail;
static int group_leading;

/* Takes the queued publishes to database db, the head first and in their
 * order, GROUP_MAX at most; the rest stay queued in theirs.  Called with
 * group_lock held. */
static struct publish_job *take_group(const char *db)
{
	struct publish_job *batch = NULL, **batch_tail = &batch, **link = &group_head;
	int n = 0;

	group_tail = NULL;
	while (*link != NULL) {
		struct publish_job *j = *link;

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

void store_publish_writers_start(void)
{
	group_writers_on = 1;
}

void store_publish_writers_close(void)
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
			log_msg("publishes commit on their own connections: cannot open one for them: %s", why);
		return leader;
	}
	return *free_slot;
}

/* After the group: a writer that failed other than by finding the database
 * busy or a channel full is closed, as the pool closes a connection that
 * failed a request: whatever went wrong (a deleted file, a full disk, an
 * I/O error) is not carried into the next group's commit. */
static void group_writer_after(struct store *writer, const struct publish_job *batch)
{
	int failed = 0;

	for (const struct publish_job *j = batch; j != NULL; j = j->next)
		failed |= j->rc != STORE_OK && j->rc != STORE_BUSY && j->rc != STORE_CHANNEL_FULL;
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
static void job_failed(struct publish_job *j, enum store_rc rc, struct store *st)
{
	int code = sqlite3_errcode(st->db);

	j->rc = rc;
	j->stored = 0;
	snprintf(j->error, sizeof(j->error), "%s",
	    code != SQLITE_OK && code != SQLITE_ROW && code != SQLITE_DONE && rc != STORE_MOVED ? sqlite3_errmsg(st->db)
	                                                                                   : store_rc_name(rc));
}

static void run_group(struct store *st, struct publish_job *jobs)
{
	enum store_rc rc;
	size_t stored_total = 0;

	if ((rc = store_begin_write(st)) != STORE_OK) {
		for (struct publish_job *j = jobs; j != NULL; j = j->next)
			job_failed(j, rc, st);
		return;
	}
	for (struct publish_job *j = jobs; j != NULL; j = j->next) {
		if ((rc = savepoint(st, STMT_SAVEPOINT)) != STORE_OK) {
			job_failed(j, rc, st);
			continue;
		}
		rc = publish_one(st, j->channel, j->cmds, j->count, j->now_ms, j->limit, j->fn, j->arg, &j->stored);
		if (rc != STORE_OK) {
			job_failed(j, rc, st);
			(void)savepoint(st, STMT_ROLLBACK_TO_SAVEPOINT);
		}
		(void)savepoint(st, STMT_RELEASE_SAVEPOINT);
		stored_total += j->stored;
	}
	/* Nothing new (every key existed, or every request failed): no commit to sync. */
	rc = stored_total > 0 ? store_commit(st) : (store_rollback(st), STORE_OK);
	if (rc != STORE_OK)
		for (struct publish_job *j = jobs; j != NULL; j = j->next)
			job_failed(j, rc, st);
}

/* Tells a waiting job that it is done, or that it leads now.  The job lives
 * on its thread's stack: once done is set under its lock, it may be gone as
 * soon as that lock is given back. */
static void job_tell(struct publish_job *j, int done)
{
	pthread_mutex_lock(&j->lock);
	if (done)
		j->done = 1;
	else
		j->leads = 1;
	pthread_cond_signal(&j->wake);
	pthread_mutex_unlock(&j->lock);
}

enum store_rc store_publish(struct store *st, const char *channel, const struct new_command *cmds, size_t count,
    int64_t now_ms, long limit, store_command_fn *fn, void *arg, size_t *stored)
{
	struct publish_job job = { .db = sqlite3_db_filename(st->db, "main"), .channel = channel, .cmds = cmds,
		.count = count, .now_ms = now_ms, .limit = limit, .fn = fn, .arg = arg, .rc = STORE_OK,
		.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };
	struct publish_job *batch, *next_leader;
	struct store *writer;
	int leads;

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
		/* The queue's head (publishes that came meanwhile, or another
		 * database's) leads next; the leadership passes without a gap in
		 * which a newcomer could start a second group beside it. */
		pthread_mutex_lock(&group_lock);
		if ((next_leader = group_head) == NULL)
			group_leading = 0;
		pthread_mutex_unlock(&group_lock);
		/* The next group first, then this one's answers. */
		if (next_leader != NULL)
			job_tell(next_leader, 0);
		for (struct publish_job *j = batch, *next; j != NULL; j = next) {
			next = j->next;
			if (j != &job)
				job_tell(j, 1);
		}
	}
	pthread_cond_destroy(&job.wake);
	pthread_mutex_destroy(&job.lock);
	/* A full channel is an answer, not a failure with a reason to log. */
	store_set_error(st, job.rc != STORE_OK && job.rc != STORE_CHANNEL_FULL ? job.error : NULL);
	*stored = job.stored;
	return job.rc;
}

enum store_rc store_read(struct store *st, const char *channel, int64_t after, int limit, const char *consumer,
    int64_t now_ms, store_command_fn *fn, void *arg)
{
	sqlite3_stmt *s = store_stmt(st, STMT_READ_BROADCAST);

	if (s == NULL)
		return store_prepare_failed(st);
	sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now_ms);
	sqlite3_bind_int64(s, 3, after);
	if (consumer != NULL)
		sqlite3_bind_text(s, 4, consumer, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 5, limit);
	return store_each_command(s, now_ms, fn, arg);
}

enum store_rc store_last_id(struct store *st, int64_t *id)
{
	sqlite3_stmt *s = store_stmt(st, STMT_LAST_ID);
	int rc;

	*id = 0; /* the query always has a row; 0 (read from the start) if it had none */
	if (s == NULL)
		return store_prepare_failed(st);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		*id = sqlite3_column_int64(s, 0);
		rc = SQLITE_OK;
	}
	sqlite3_reset(s);
	return store_rc_from(rc);
}

enum store_rc store_clamp_cursor(struct store *st, int64_t *cursor)
{
	int64_t last;
	enum store_rc rc;

	if (*cursor <= 0)
		return STORE_OK;
	if ((rc = store_last_id(st, &last)) != STORE_OK)
		return rc;
	if (*cursor > last)
		*cursor = last;
	return STORE_OK;
}

enum store_rc store_command_get(struct store *st, const char *channel, int64_t id, int64_t now_ms,
    store_command_fn *fn, void *arg)
{
	sqlite3_stmt *s = store_stmt(st, STMT_COMMAND_GET);
	struct command_row row;
	int rc;

	if (s == NULL)
		return store_prepare_failed(st);
	sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, id);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		store_read_command(s, now_ms, &row);
		rc = fn(arg, &row) == 0 ? SQLITE_OK : SQLITE_ERROR;
	} else if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return STORE_NOT_FOUND;
	}
	sqlite3_reset(s);
	return store_rc_from(rc);
}

enum store_rc store_command_acks(struct store *st, int64_t id, store_ack_fn *fn, void *arg)
{
	sqlite3_stmt *s = store_stmt(st, STMT_ACKS_LIST);
	int rc;

	if (s == NULL)
		return store_prepare_failed(st);
	sqlite3_bind_int64(s, 1, id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (fn(arg, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1),
		        (const char *)sqlite3_column_text(s, 2), (size_t)sqlite3_column_bytes(s, 2)) != 0) {
			rc = SQLITE_ERROR;
			break;
		}
	sqlite3_reset(s);
	return store_rc_from(rc);
}

enum store_rc store_cancel(struct store *st, const char *channel, int64_t id)
{
	sqlite3_stmt *s;
	enum store_rc rc;

	if ((rc = store_begin_write(st)) != STORE_OK)
		return rc;
	if ((s = store_stmt(st, STMT_COMMAND_DELETE)) == NULL) {
		rc = store_prepare_failed(st);
		store_rollback(st);
		return rc;
	}
	sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, id);
	if ((rc = store_exec(s)) != STORE_OK) {
		store_rollback(st);
		return rc;
	}
	if (sqlite3_changes(st->db) == 0) {
		store_rollback(st);
		return STORE_NOT_FOUND;
	}
	return store_commit(st);
}
