/* Channels as a whole: consumers' presence and cursors, depths, sweeping,
 * and the operator's listing of a channel's commands. */
#include "store_internal.h"

#include <string.h>

enum store_rc store_consumer_seen(struct store *st, const char *channel, const char *consumer, int64_t *after,
    int64_t now_ms, int64_t presence_ms)
{
	sqlite3_stmt *s = store_stmt(st, STMT_CONSUMER_GET);
	int64_t stored_cursor = 0, last_seen = 0, last_id = 0;
	int known = 0, rc;
	enum store_rc src;

	if (s == NULL)
		return store_prepare_failed(st);
	sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, consumer, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		known = sqlite3_column_type(s, 0) != SQLITE_NULL;
		stored_cursor = sqlite3_column_int64(s, 0);
		last_seen = sqlite3_column_int64(s, 1);
		last_id = sqlite3_column_int64(s, 2);
		rc = SQLITE_OK;
	}
	sqlite3_reset(s);
	if ((src = store_rc_from(rc)) != STORE_OK)
		return src;
	if (*after < 0)
		*after = stored_cursor;
	else if (*after > last_id)
		*after = last_id; /* as store_clamp_cursor() */
	if (known && *after == stored_cursor && now_ms - last_seen < presence_ms)
		return STORE_OK;
	if ((src = store_begin_write(st)) != STORE_OK)
		return src;
	if ((s = store_stmt(st, STMT_CONSUMER_UPSERT)) == NULL) {
		src = store_prepare_failed(st);
		store_rollback(st);
		return src;
	}
	sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, consumer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now_ms);
	sqlite3_bind_int64(s, 4, *after);
	if ((src = store_exec(s)) != STORE_OK) {
		store_rollback(st);
		return src;
	}
	return store_commit(st);
}

enum store_rc store_consumers(struct store *st, const char *channel, int64_t since_ms, store_consumer_fn *fn, void *arg)
{
	sqlite3_stmt *s = store_stmt(st, STMT_CONSUMERS_LIST);
	int rc;

	if (s == NULL)
		return store_prepare_failed(st);
	sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, since_ms);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (fn(arg, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2),
		        sqlite3_column_int64(s, 3)) != 0) {
			rc = SQLITE_ERROR;
			break;
		}
	sqlite3_reset(s);
	return store_rc_from(rc);
}

enum store_rc store_channels(struct store *st, int64_t now_ms, store_channel_fn *fn, void *arg)
{
	sqlite3_stmt *s = store_stmt(st, STMT_CHANNELS_LIST);
	struct channel_depth c;
	int rc;

	if (s == NULL)
		return store_prepare_failed(st);
	sqlite3_bind_int64(s, 1, now_ms);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		c.name = (const char *)sqlite3_column_text(s, 0);
		c.pending = sqlite3_column_int64(s, 1);
		c.leased = sqlite3_column_int64(s, 2);
		c.done = sqlite3_column_int64(s, 3);
		c.dead = sqlite3_column_int64(s, 4);
		c.oldest_pending_at = sqlite3_column_int64(s, 5);
		if (fn(arg, &c) != 0) {
			rc = SQLITE_ERROR;
			break;
		}
	}
	sqlite3_reset(s);
	return store_rc_from(rc);
}

/* Runs one bounded DELETE until it removes nothing, counting rows. */
static enum store_rc sweep_with(struct store *st, enum stmt id, int64_t before_ms, int64_t *count)
{
	enum store_rc rc;

	*count = 0;
	for (;;) {
		sqlite3_stmt *s = store_stmt(st, id);
		int changed;

		if (s == NULL)
			return store_prepare_failed(st);
		sqlite3_bind_int64(s, 1, before_ms);
		if ((rc = store_exec(s)) != STORE_OK)
			return rc;
		changed = sqlite3_changes(st->db);
		*count += changed;
		if (changed < 1000)
			return STORE_OK;
	}
}

enum store_rc store_sweep(struct store *st, int64_t now_ms, int64_t retention_ms, int64_t *expired, int64_t *finished)
{
	sqlite3_stmt *s = store_stmt(st, STMT_SWEEP_DUE);
	enum store_rc rc;
	int step, due;

	*expired = *finished = 0;
	if (s == NULL)
		return store_prepare_failed(st);
	sqlite3_bind_int64(s, 1, now_ms);
	sqlite3_bind_int64(s, 2, now_ms - retention_ms);
	step = sqlite3_step(s);
	due = step == SQLITE_ROW && sqlite3_column_int(s, 0);
	sqlite3_reset(s);
	if (step != SQLITE_ROW)
		return store_rc_from(step);
	/* Nothing due: an idle relay sweeps without ever taking the write lock. */
	if (!due)
		return STORE_OK;
	if ((rc = store_begin_write(st)) != STORE_OK)
		return rc;
	if ((s = store_stmt(st, STMT_SWEEP_DEAD)) == NULL) {
		rc = store_prepare_failed(st);
		store_rollback(st);
		return rc;
	}
	sqlite3_bind_int64(s, 1, now_ms);
	if ((rc = store_exec(s)) != STORE_OK) {
		store_rollback(st);
		return rc;
	}
	if ((rc = sweep_with(st, STMT_SWEEP_EXPIRED, now_ms, expired)) != STORE_OK ||
	    (rc = sweep_with(st, STMT_SWEEP_FINISHED, now_ms - retention_ms, finished)) != STORE_OK) {
		store_rollback(st);
		*expired = *finished = 0;
		return rc;
	}
	return store_commit(st);
}

struct state_filter {
	const char *state;
	long left;
	store_command_fn *fn;
	void *arg;
};

/* Passes on the rows in the wanted state; a non-zero return of 1 means
 * "enough" and is not an error. */
static int filter_state(void *arg, const struct command_row *row)
{
	struct state_filter *f = arg;

	if (f->state != NULL && strcmp(row->state, f->state) != 0)
		return 0;
	if (f->fn(f->arg, row) != 0)
		return -1;
	return --f->left > 0 ? 0 : 1;
}

enum store_rc store_channel_commands(struct store *st, const char *channel, const char *state, int64_t now_ms,
    long limit, store_command_fn *fn, void *arg)
{
	sqlite3_stmt *s = store_stmt(st, STMT_CHANNEL_COMMANDS);
	struct state_filter f = { state, limit, fn, arg };
	struct command_row row;
	int rc, stop = 0;

	if (s == NULL)
		return store_prepare_failed(st);
	if (limit <= 0)
		return STORE_OK;
	sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now_ms);
	/* The state a row is in now is worked out in C (a lapsed lease), so the
	 * filter runs here rather than in SQL. */
	while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		store_read_command(s, now_ms, &row);
		if ((stop = filter_state(&f, &row)) < 0) {
			sqlite3_reset(s);
			return STORE_ERROR;
		}
	}
	if (stop)
		rc = SQLITE_OK;
	sqlite3_reset(s);
	return store_rc_from(rc);
}
