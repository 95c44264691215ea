/* Queue delivery: leases, acknowledgements with results, dead letters. */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

static enum store_rc claimable_exists(struct store *st, const char *channel, const char *consumer, int64_t now_ms,
    int *exists)
{
	sqlite3_stmt *s = store_stmt(st, STMT_CLAIMABLE_EXISTS);
	int rc;

	if (s == NULL)
		return store_prepare_failed(st);
	sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now_ms);
	sqlite3_bind_text(s, 3, consumer, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	*exists = rc == SQLITE_ROW;
	sqlite3_reset(s);
	return store_rc_from(rc);
}

/* RETURNING hands rows back in no promised order: collect and sort by id so
 * a consumer receives its claims oldest first. */
struct claimed_row {
	int64_t id;
	struct command_row row;
	char *strings; /* one block holding copies of the row's strings */
};

static char *dup_into(char **cursor, const char *s, size_t len)
{
	char *out;

	if (s == NULL)
		return NULL;
	out = *cursor;
	memcpy(out, s, len);
	out[len] = '\0';
	*cursor += len + 1;
	return out;
}

static int copy_row(const struct command_row *in, struct claimed_row *out)
{
	const char *fields[] = { in->channel, in->name, in->mode, in->target, in->key, in->state, in->lease_token,
		in->lease_consumer };
	size_t need = in->data_len + 1 + in->result_len + 1;
	char *cursor;

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		need += fields[i] != NULL ? strlen(fields[i]) + 1 : 0;
	if ((out->strings = malloc(need)) == NULL)
		return -1;
	cursor = out->strings;
	out->id = in->id;
	out->row = *in;
	out->row.channel = dup_into(&cursor, in->channel, strlen(in->channel));
	out->row.name = dup_into(&cursor, in->name, strlen(in->name));
	out->row.data = dup_into(&cursor, in->data, in->data_len);
	out->row.mode = dup_into(&cursor, in->mode, strlen(in->mode));
	out->row.target = in->target != NULL ? dup_into(&cursor, in->target, strlen(in->target)) : NULL;
	out->row.key = in->key != NULL ? dup_into(&cursor, in->key, strlen(in->key)) : NULL;
	out->row.state = dup_into(&cursor, in->state, strlen(in->state));
	out->row.lease_token = in->lease_token != NULL ? dup_into(&cursor, in->lease_token, strlen(in->lease_token)) : NULL;
	out->row.lease_consumer =
	    in->lease_consumer != NULL ? dup_into(&cursor, in->lease_consumer, strlen(in->lease_consumer)) : NULL;
	out->row.result = in->result != NULL ? dup_into(&cursor, in->result, in->result_len) : NULL;
	return 0;
}

static int by_id(const void *a, const void *b)
{
	const struct claimed_row *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

enum store_rc store_claim(struct store *st, const char *channel, const char *consumer, int max, int64_t lease_ms,
    int64_t now_ms, store_command_fn *fn, void *arg, size_t *claimed)
{
	struct claimed_row *rows = NULL;
	size_t n = 0;
	sqlite3_stmt *s;
	enum store_rc rc;
	int exists = 0, step;

	*claimed = 0;
	/* Look before taking the write lock: an empty queue costs a read only. */
	if ((rc = claimable_exists(st, channel, consumer, now_ms, &exists)) != STORE_OK || !exists)
		return rc;
	if ((rows = calloc((size_t)max, sizeof(*rows))) == NULL)
		return STORE_ERROR;
	if ((rc = store_begin_write(st)) != STORE_OK)
		goto out;
	/* Leases that ran out on their last attempt become dead letters first. */
	if ((s = store_stmt(st, STMT_MARK_DEAD)) == NULL) {
		rc = store_prepare_failed(st);
		goto rollback;
	}
	sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now_ms);
	if ((rc = store_exec(s)) != STORE_OK)
		goto rollback;
	if ((s = store_stmt(st, STMT_CLAIM)) == NULL) {
		rc = store_prepare_failed(st);
		goto rollback;
	}
	sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now_ms);
	sqlite3_bind_text(s, 3, consumer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now_ms + lease_ms);
	sqlite3_bind_int(s, 5, max);
	while ((step = sqlite3_step(s)) == SQLITE_ROW && n < (size_t)max) {
		struct command_row row;

		store_read_command(s, now_ms, &row);
		if (copy_row(&row, &rows[n]) == -1) {
			step = SQLITE_NOMEM;
			break;
		}
		n++;
	}
	sqlite3_reset(s);
	if (step != SQLITE_DONE && step != SQLITE_ROW) {
		rc = store_rc_from(step);
		goto rollback;
	}
	if ((rc = store_commit(st)) != STORE_OK)
		goto out;
	/* Only a committed lease is handed out. */
	qsort(rows, n, sizeof(*rows), by_id);
	for (size_t i = 0; i < n; i++)
		if (fn(arg, &rows[i].row) != 0)
			rc = STORE_ERROR;
	*claimed = n;
	goto out;
rollback:
	store_rollback(st);
out:
	for (size_t i = 0; i < n; i++)
		free(rows[i].strings);
	free(rows);
	return rc;
}

enum store_rc store_next_lease_expiry(struct store *st, const char *channel, int64_t now_ms, int64_t *at)
{
	sqlite3_stmt *s = store_stmt(st, STMT_NEXT_LEASE_EXPIRY);
	int rc;

	*at = 0;
	if (s == NULL)
		return store_prepare_failed(st);
	sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now_ms);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		*at = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return store_rc_from(rc);
}

/* The command as it is now, for the ack's reply. */
struct current {
	struct claimed_row copy;
	int have;
};

static int keep_current(void *arg, const struct command_row *row)
{
	struct current *c = arg;

	if (c->have)
		free(c->copy.strings);
	c->have = copy_row(row, &c->copy) == 0;
	return c->have ? 0 : -1;
}

enum store_rc store_ack(struct store *st, const char *channel, int64_t id, const char *consumer, const char *lease,
    const char *result, int64_t now_ms, store_command_fn *fn, void *arg)
{
	struct current cur = { .have = 0 };
	sqlite3_stmt *s;
	enum store_rc rc;
	int queue;

	if ((rc = store_begin_write(st)) != STORE_OK)
		return rc;
	if ((rc = store_command_get(st, channel, id, now_ms, keep_current, &cur)) != STORE_OK)
		goto rollback;
	queue = strcmp(cur.copy.row.mode, "queue") == 0;
	if (queue) {
		if (lease == NULL) {
			rc = STORE_NEEDS_LEASE;
			goto rollback;
		}
		if (strcmp(cur.copy.row.state, "done") == 0 && cur.copy.row.lease_token != NULL &&
		    strcmp(cur.copy.row.lease_token, lease) == 0) {
			/* The same ack again (its reply was lost): harmless. */
			store_rollback(st);
			rc = fn(arg, &cur.copy.row) == 0 ? STORE_OK : STORE_ERROR;
			goto out;
		}
		if ((s = store_stmt(st, STMT_QUEUE_ACK)) == NULL) {
			rc = store_prepare_failed(st);
			goto rollback;
		}
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_text(s, 2, lease, -1, SQLITE_STATIC);
		if (result != NULL)
			sqlite3_bind_text(s, 3, result, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, now_ms);
		cur.have = 0;
		free(cur.copy.strings);
		cur.copy.strings = NULL;
		if ((rc = store_each_command(s, now_ms, keep_current, &cur)) != STORE_OK)
			goto rollback;
		if (!cur.have) {
			/* Not leased under this token: it lapsed and went to someone else, or was never ours. */
			rc = STORE_CONFLICT;
			goto rollback;
		}
	}
	if ((s = store_stmt(st, STMT_ACK_INSERT)) == NULL) {
		rc = store_prepare_failed(st);
		goto rollback;
	}
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, consumer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now_ms);
	if (result != NULL)
		sqlite3_bind_text(s, 4, result, -1, SQLITE_STATIC);
	if ((rc = store_exec(s)) != STORE_OK)
		goto rollback;
	if ((rc = store_commit(st)) != STORE_OK)
		goto out;
	rc = fn(arg, &cur.copy.row) == 0 ? STORE_OK : STORE_ERROR;
	goto out;
rollback:
	store_rollback(st);
out:
	if (cur.have || cur.copy.strings != NULL)
		free(cur.copy.strings);
	return rc;
}
