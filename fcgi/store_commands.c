/* v1 commands: publishing, reading, looking one up, cancelling. */
#include "store_internal.h"

#include <string.h>

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

struct publish_args {
	const char *channel;
	const struct new_command *cmds;
	size_t count;
	int64_t now_ms;
	long limit;
	store_command_fn *fn;
	void *arg;
};

static enum store_rc publish_job(struct store *st, void *arg, size_t *stored)
{
	const struct publish_args *a = arg;

	return publish_one(st, a->channel, a->cmds, a->count, a->now_ms, a->limit, a->fn, a->arg, stored);
}

enum store_rc store_publish(struct store *st, const char *channel, const struct new_command *cmds, size_t count,
    int64_t now_ms, long limit, store_command_fn *fn, void *arg, size_t *stored)
{
	struct publish_args a = { channel, cmds, count, now_ms, limit, fn, arg };

	return store_group_write(st, publish_job, &a, stored);
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
