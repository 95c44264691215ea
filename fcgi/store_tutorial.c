/* The tutorial's flat commands: one channel, a name and a JSON value each. */
#include "store_internal.h"

struct tutorial_put_args {
	const char *channel;
	const struct tutorial_item *items;
	size_t count;
	int64_t now_ms;
};

/* Each name's command replaced: the old one deleted, the new one stored. */
static enum store_rc tutorial_put_job(struct store *st, void *arg, size_t *stored)
{
	const struct tutorial_put_args *a = arg;
	enum store_rc rc;

	for (size_t i = 0; i < a->count; i++) {
		sqlite3_stmt *del = store_stmt(st, STMT_TUTORIAL_DELETE_NAME);
		sqlite3_stmt *ins;

		if (del == NULL)
			return store_prepare_failed(st);
		sqlite3_bind_text(del, 1, a->channel, -1, SQLITE_STATIC);
		sqlite3_bind_text(del, 2, a->items[i].name, -1, SQLITE_STATIC);
		if ((rc = store_exec(del)) != STORE_OK)
			return rc;
		if ((ins = store_stmt(st, STMT_TUTORIAL_INSERT)) == NULL)
			return store_prepare_failed(st);
		sqlite3_bind_text(ins, 1, a->channel, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, a->items[i].name, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 3, a->items[i].data, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 4, a->now_ms);
		if ((rc = store_exec(ins)) != STORE_OK)
			return rc;
		(*stored)++;
	}
	return STORE_OK;
}

enum store_rc store_tutorial_put(struct store *st, const char *channel, const struct tutorial_item *items,
    size_t count, int64_t now_ms)
{
	struct tutorial_put_args a = { channel, items, count, now_ms };
	size_t stored;

	/* Grouped with other writes: under load, a commit for many requests,
	 * answered in the order they came (see store_group.c). */
	return store_group_write(st, tutorial_put_job, &a, &stored);
}

enum store_rc store_tutorial_list(struct store *st, const char *channel, int64_t now_ms, store_tutorial_fn *fn,
    void *arg)
{
	sqlite3_stmt *s = store_stmt(st, STMT_TUTORIAL_LIST);
	int rc;

	if (s == NULL)
		return store_rc_from(sqlite3_errcode(st->db));
	sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now_ms);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(arg, (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
		    (size_t)sqlite3_column_bytes(s, 1));
	sqlite3_reset(s);
	return store_rc_from(rc);
}

enum store_rc store_tutorial_delete(struct store *st, const char *channel, const char *const *names, size_t count)
{
	enum store_rc rc;

	if ((rc = store_begin_write(st)) != STORE_OK)
		return rc;
	for (size_t i = 0; i < count; i++) {
		sqlite3_stmt *del = store_stmt(st, STMT_TUTORIAL_DELETE_NAME);

		if (del == NULL) {
			rc = STORE_ERROR;
			break;
		}
		sqlite3_bind_text(del, 1, channel, -1, SQLITE_STATIC);
		sqlite3_bind_text(del, 2, names[i], -1, SQLITE_STATIC);
		if ((rc = store_exec(del)) != STORE_OK)
			break;
	}
	if (rc != STORE_OK) {
		store_rollback(st);
		return rc;
	}
	return store_commit(st);
}
