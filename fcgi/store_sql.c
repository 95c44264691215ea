#include "store_sql.h"

/* The columns of a command, in the order store_commands.c reads them. */
#define COMMAND_COLUMNS \
	"id, channel, name, data, mode, target, dedup_key, state, attempts, max_attempts, created_at," \
	" expires_at, lease_token, lease_consumer, lease_expires_at, result"

/* The columns of an API key, in the order store_keys.c reads them. */
#define KEY_COLUMNS "id, label, scopes, channels, created_at, expires_at, last_used_at, revoked_at"

/* Live means not expired: expires_at NULL never expires.  ?now is bound as a parameter. */
#define LIVE "(expires_at IS NULL OR expires_at > ?2)"

/* A queue command a consumer (?3) may lease now (?2): waiting, or its lease
 * ran out with attempts to spare. */
#define CLAIMABLE \
	"channel = ?1 AND mode = 'queue' AND state IN ('pending', 'leased')" \
	" AND (state = 'pending' OR (state = 'leased' AND lease_expires_at <= ?2))" \
	" AND attempts < max_attempts AND " LIVE " AND (target IS NULL OR target = ?3)"

const char *const store_sql[STMT__COUNT] = {
	[STMT_BEGIN] = "BEGIN",
	[STMT_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",
	[STMT_SAVEPOINT] = "SAVEPOINT request",
	[STMT_RELEASE_SAVEPOINT] = "RELEASE request",
	[STMT_ROLLBACK_TO_SAVEPOINT] = "ROLLBACK TO request",

	[STMT_TUTORIAL_DELETE_NAME] =
	    "DELETE FROM commands WHERE channel = ?1 AND name = ?2 AND mode = 'broadcast'",
	[STMT_TUTORIAL_INSERT] =
	    "INSERT INTO commands(channel, name, data, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, NULL)",
	[STMT_TUTORIAL_LIST] =
	    "SELECT name, data FROM commands"
	    " WHERE channel = ?1 AND mode = 'broadcast' AND target IS NULL"
	    " AND (expires_at IS NULL OR expires_at > ?2) ORDER BY id",

	/* A lease that ran out on the last attempt is dead, though still
	 * stored as leased until a claim marks it: it is not live. */
	[STMT_CHANNEL_LIVE_COUNT] =
	    "SELECT count(*) FROM commands WHERE channel = ?1 AND " LIVE " AND (state = 'pending'"
	    " OR (state = 'leased' AND (lease_expires_at > ?2 OR attempts < max_attempts)))",
	[STMT_CHANNEL_LIVE_COUNTER] =
	    "SELECT coalesce((SELECT live FROM channel_counts WHERE channel = ?1), 0)",
	[STMT_DEDUP_FIND] =
	    "SELECT " COMMAND_COLUMNS " FROM commands"
	    " WHERE channel = ?1 AND dedup_key = ?3 AND " LIVE " ORDER BY id DESC LIMIT 1",
	[STMT_COMMAND_INSERT] =
	    "INSERT INTO commands(channel, name, data, mode, target, dedup_key, max_attempts, created_at, expires_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	/* COMMAND_COLUMNS in shape, without reading what a broadcast's row
	 * cannot differ in: its channel and mode are the query's, and a
	 * broadcast is never leased (so no lease, and no attempts limit to
	 * judge one by).  The reads of polls are the hot path. */
	[STMT_READ_BROADCAST] =
	    "SELECT id, ?1, name, data, 'broadcast', target, dedup_key, state, attempts, NULL, created_at,"
	    " expires_at, NULL, NULL, NULL, result FROM commands"
	    " WHERE channel = ?1 AND id > ?3 AND mode = 'broadcast' AND " LIVE
	    " AND (target IS NULL OR target = ?4) ORDER BY id LIMIT ?5",
	/* AUTOINCREMENT's counter: the newest id ever handed out, even if since deleted. */
	[STMT_LAST_ID] =
	    "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'commands'), 0)",
	[STMT_COMMAND_GET] =
	    "SELECT " COMMAND_COLUMNS " FROM commands WHERE channel = ?1 AND id = ?2",
	[STMT_ACKS_LIST] =
	    "SELECT consumer, acked_at, result FROM acks WHERE command_id = ?1 ORDER BY acked_at, consumer",
	[STMT_COMMAND_DELETE] =
	    "DELETE FROM commands WHERE channel = ?1 AND id = ?2",
	[STMT_CLAIMABLE_EXISTS] =
	    "SELECT 1 FROM commands WHERE " CLAIMABLE " LIMIT 1",
	[STMT_CLAIM] =
	    "UPDATE commands SET state = 'leased', attempts = attempts + 1, lease_token = lower(hex(randomblob(16))),"
	    " lease_consumer = ?3, lease_expires_at = ?4"
	    " WHERE id IN (SELECT id FROM commands WHERE " CLAIMABLE " ORDER BY id LIMIT ?5)"
	    " RETURNING " COMMAND_COLUMNS,
	[STMT_MARK_DEAD] =
	    "UPDATE commands SET state = 'dead', finished_at = ?2"
	    " WHERE channel = ?1 AND state = 'leased' AND lease_expires_at <= ?2 AND mode = 'queue'"
	    " AND attempts >= max_attempts",
	[STMT_QUEUE_ACK] =
	    "UPDATE commands SET state = 'done', result = ?3, finished_at = ?4"
	    " WHERE id = ?1 AND state = 'leased' AND lease_token = ?2 RETURNING " COMMAND_COLUMNS,
	[STMT_ACK_INSERT] =
	    "INSERT OR IGNORE INTO acks(command_id, consumer, acked_at, result) VALUES (?1, ?2, ?3, ?4)",
	/* The consumer's row (NULLs for a new one) and, from the same snapshot,
	 * the newest id ever handed out: a poll's cursor is clamped to it. */
	[STMT_CONSUMER_GET] =
	    "SELECT c.cursor, c.last_seen, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'commands'), 0)"
	    " FROM (SELECT 1) LEFT JOIN consumers AS c ON c.channel = ?1 AND c.consumer = ?2",
	[STMT_CONSUMER_UPSERT] =
	    "INSERT INTO consumers(channel, consumer, first_seen, last_seen, cursor) VALUES (?1, ?2, ?3, ?3, ?4)"
	    " ON CONFLICT(channel, consumer) DO UPDATE SET last_seen = excluded.last_seen, cursor = excluded.cursor",
	[STMT_CONSUMERS_LIST] =
	    "SELECT consumer, first_seen, last_seen, cursor FROM consumers"
	    " WHERE channel = ?1 AND last_seen >= ?2 ORDER BY consumer",
	/* Depths by the state each command is in now (?1), counting a lapsed
	 * lease as pending again, or dead once its attempts are spent. */
	[STMT_CHANNELS_LIST] =
	    "SELECT channel, sum(pending), sum(leased), sum(done), sum(dead),"
	    " min(CASE WHEN pending THEN created_at END) FROM ("
	    "  SELECT channel, created_at,"
	    "   (expires_at IS NULL OR expires_at > ?1) AND (mode = 'broadcast' OR state = 'pending'"
	    "    OR (state = 'leased' AND lease_expires_at <= ?1 AND attempts < max_attempts)) AS pending,"
	    "   (expires_at IS NULL OR expires_at > ?1) AND state = 'leased' AND lease_expires_at > ?1 AS leased,"
	    "   state = 'done' AS done,"
	    "   state = 'dead' OR (state = 'leased' AND lease_expires_at <= ?1 AND attempts >= max_attempts) AS dead"
	    "  FROM commands)"
	    " GROUP BY channel HAVING sum(pending) + sum(leased) + sum(done) + sum(dead) > 0 ORDER BY channel",
	/* Is there anything to sweep?  Asked before taking the write lock. */
	[STMT_SWEEP_DUE] =
	    "SELECT EXISTS (SELECT 1 FROM commands WHERE expires_at <= ?1 AND state IN ('pending', 'leased'))"
	    " OR EXISTS (SELECT 1 FROM commands WHERE finished_at <= ?2)"
	    " OR EXISTS (SELECT 1 FROM commands WHERE state = 'leased' AND lease_expires_at <= ?1"
	    "  AND attempts >= max_attempts)",
	/* Leases that ran out on their last attempt become dead letters, kept for the retention period. */
	[STMT_SWEEP_DEAD] =
	    "UPDATE commands SET state = 'dead', finished_at = ?1"
	    " WHERE state = 'leased' AND lease_expires_at <= ?1 AND attempts >= max_attempts",
	[STMT_SWEEP_EXPIRED] =
	    "DELETE FROM commands WHERE id IN (SELECT id FROM commands"
	    " WHERE expires_at <= ?1 AND state IN ('pending', 'leased') LIMIT 1000)",
	[STMT_SWEEP_FINISHED] =
	    "DELETE FROM commands WHERE id IN (SELECT id FROM commands WHERE finished_at <= ?1 LIMIT 1000)",
	/* API keys (store_keys.c): looked up by the hash of the token, never the token. */
	[STMT_KEY_INSERT] =
	    "INSERT INTO api_keys(hash, label, scopes, channels, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[STMT_KEY_FIND] =
	    "SELECT " KEY_COLUMNS " FROM api_keys WHERE hash = ?1",
	/* The condition repeats the caller's check so that processes racing to
	 * record the same use write it once. */
	[STMT_KEY_TOUCH] =
	    "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at <= ?3)",
	[STMT_KEYS_LIST] =
	    "SELECT " KEY_COLUMNS " FROM api_keys ORDER BY id",
	[STMT_KEY_GET] =
	    "SELECT " KEY_COLUMNS " FROM api_keys WHERE id = ?1",
	[STMT_KEY_REVOKE] =
	    "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
	/* The operator's view of a channel (cmdrelay commands): live commands
	 * and finished ones not yet swept, oldest first. */
	[STMT_CHANNEL_COMMANDS] =
	    "SELECT " COMMAND_COLUMNS " FROM commands"
	    " WHERE channel = ?1 AND (state IN ('done', 'dead') OR " LIVE ") ORDER BY id",
	[STMT_NEXT_LEASE_EXPIRY] =
	    "SELECT min(lease_expires_at) FROM commands"
	    " WHERE channel = ?1 AND state = 'leased' AND lease_expires_at > ?2 AND mode = 'queue'",
};
