#include "store_sql.h"

/* Live means not expired: expires_at NULL never expires. */
const char *const store_sql[STMT__COUNT] = {
	[STMT_BEGIN] = "BEGIN",
	[STMT_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",

	[STMT_TUTORIAL_DELETE_NAME] =
	    "DELETE FROM commands WHERE channel = ?1 AND name = ?2 AND mode = 'broadcast'",
	[STMT_TUTORIAL_INSERT] =
	    "INSERT INTO commands(channel, name, data, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, NULL)",
	[STMT_TUTORIAL_LIST] =
	    "SELECT name, data FROM commands"
	    " WHERE channel = ?1 AND mode = 'broadcast' AND target IS NULL"
	    " AND (expires_at IS NULL OR expires_at > ?2) ORDER BY id",
};
