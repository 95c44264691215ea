-- Queries an operator needs, for the sqlite3 CLI, with the views of views.sql:
--   sqlite3 -header -column -cmd '.read views.sql' /var/lib/cmdrelay/cmdrelay.db < inspect.sql
-- or paste one at a time.  Reading never blocks the relay (WAL mode).

-- Schema version the database is at.
PRAGMA user_version;

-- Commands per channel and state, with the oldest pending one.
SELECT channel, mode, state, count(*) AS commands,
       min(created_at) AS oldest_ms,
       strftime('%Y-%m-%dT%H:%M:%fZ', min(created_at) / 1000.0, 'unixepoch') AS oldest
FROM commands GROUP BY channel, mode, state ORDER BY channel, mode, state;

-- The 20 newest commands, times as ISO-8601 UTC.
SELECT id, channel, name, data, mode, state, attempts, created_at, expires_at
FROM commands_readable ORDER BY id DESC LIMIT 20;

-- Commands that have expired but not yet been swept away.
SELECT id, channel, name, expires_at FROM commands_readable
WHERE expires_at IS NOT NULL AND expires_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
ORDER BY id LIMIT 50;

-- Queue commands that gave up (dead) after max_attempts leases.
SELECT id, channel, name, attempts, max_attempts, finished_at
FROM commands_readable WHERE state = 'dead' ORDER BY id DESC LIMIT 50;

-- Size of the database and of its write-ahead log, in pages.
PRAGMA page_count;
PRAGMA wal_checkpoint(PASSIVE);

-- Integrity (slow on a large database).
PRAGMA quick_check;
