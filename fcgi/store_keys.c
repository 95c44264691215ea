/* API keys: stored, found by the hash of their token, listed, revoked.
 * Nothing here sees a token; the caller hashes it (apikey.c). */
#include "store_internal.h"

static const char *text_or_empty(sqlite3_stmt *s, int col)
{
	const char *t = (const char *)sqlite3_column_text(s, col);

	return t != NULL ? t : "";
}

/* Steps s and hands each key row (columns as KEY_COLUMNS) to fn.
 * Returns STORE_OK, or STORE_NOT_FOUND when want_one and there was no row. */
static enum store_rc each_key(sqlite3_stmt *s, int want_one, store_key_fn *fn, void *arg)
{
	struct key_row k;
	int rc, rows = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		rows++;
		k.id = sqlite3_column_int64(s, 0);
		k.label = text_or_empty(s, 1);
		k.scopes = text_or_empty(s, 2);
		k.channels = text_or_empty(s, 3);
		k.created_at = sqlite3_column_int64(s, 4);
		k.expires_at = sqlite3_column_int64(s, 5);
		k.last_used_at = sqlite3_column_int64(s, 6);
		k.revoked_at = sqlite3_column_int64(s, 7);
		if (fn(arg, &k) != 0) {
			sqlite3_reset(s);
			return STORE_ERROR;
		}
	}
	/* Reset at once: a finished read must not hold the WAL snapshot. */
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store_rc_from(rc);
	return want_one && rows == 0 ? STORE_NOT_FOUND : STORE_OK;
}

/* The statement of a write in autocommit, after ending any reader's
 * snapshot on the connection: a write inside one would fail when another
 * connection committed since the snapshot began. */
static sqlite3_stmt *autocommit_write(struct store *st, enum stmt id)
{
	store_snapshot_end(st);
	return store_stmt(st, id);
}

enum store_rc store_key_insert(struct store *st, const unsigned char *hash, size_t hash_len, const char *label,
    const char *scopes, const char *channels, int64_t now_ms, int64_t expires_at, int64_t *id)
{
	sqlite3_stmt *s = autocommit_write(st, STMT_KEY_INSERT);
	enum store_rc rc;

	if (s == NULL)
		return store_prepare_failed(st);
	sqlite3_bind_blob(s, 1, hash, (int)hash_len, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, label != NULL ? label : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, scopes, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, channels, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, now_ms);
	if (expires_at > 0)
		sqlite3_bind_int64(s, 6, expires_at);
	if ((rc = store_exec(s)) == STORE_OK)
		*id = sqlite3_last_insert_rowid(st->db);
	return rc;
}

enum store_rc store_key_find(struct store *st, const unsigned char *hash, size_t hash_len, store_key_fn *fn,
    void *arg)
{
	sqlite3_stmt *s = store_stmt(st, STMT_KEY_FIND);

	if (s == NULL)
		return store_prepare_failed(st);
	sqlite3_bind_blob(s, 1, hash, (int)hash_len, SQLITE_STATIC);
	return each_key(s, 1, fn, arg);
}

enum store_rc store_key_get(struct store *st, int64_t id, store_key_fn *fn, void *arg)
{
	sqlite3_stmt *s = store_stmt(st, STMT_KEY_GET);

	if (s == NULL)
		return store_prepare_failed(st);
	sqlite3_bind_int64(s, 1, id);
	return each_key(s, 1, fn, arg);
}

enum store_rc store_key_touch(struct store *st, int64_t id, int64_t now_ms, int64_t every_ms)
{
	sqlite3_stmt *s = autocommit_write(st, STMT_KEY_TOUCH);
	enum store_rc rc;

	if (s == NULL)
		return store_prepare_failed(st);
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, now_ms);
	sqlite3_bind_int64(s, 3, now_ms - every_ms);
	/* Recording a use is worth no wait: while another writer holds the
	 * lock it is skipped, and tried again at the key's next lookup. */
	sqlite3_busy_timeout(st->db, 0);
	rc = store_exec(s);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	return rc;
}

enum store_rc store_keys_list(struct store *st, store_key_fn *fn, void *arg)
{
	sqlite3_stmt *s = store_stmt(st, STMT_KEYS_LIST);

	if (s == NULL)
		return store_prepare_failed(st);
	return each_key(s, 0, fn, arg);
}

static int key_exists(void *arg, const struct key_row *key)
{
	(void)key;
	*(int *)arg = 1;
	return 0;
}

enum store_rc store_key_revoke(struct store *st, int64_t id, int64_t now_ms, int *newly)
{
	sqlite3_stmt *s;
	enum store_rc rc;
	int found = 0;

	*newly = 0;
	if ((s = autocommit_write(st, STMT_KEY_REVOKE)) == NULL)
		return store_prepare_failed(st);
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, now_ms);
	if ((rc = store_exec(s)) != STORE_OK)
		return rc;
	if (sqlite3_changes(st->db) > 0) {
		*newly = 1;
		return STORE_OK;
	}
	/* Nothing changed: revoked before, or no such key. */
	if ((rc = store_key_get(st, id, key_exists, &found)) != STORE_OK)
		return rc;
	return found ? STORE_OK : STORE_NOT_FOUND;
}
