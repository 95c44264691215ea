-- Readable views of the relay's tables, times as ISO-8601 UTC, for the
-- sqlite3 CLI.  They are TEMP views: they live in your session only, so the
-- database's own schema stays small (every connection the relay opens
-- parses it, and a CGI request opens one each time).  Load them with
--   sqlite3 -cmd '.read /usr/share/cmdrelay/views.sql' /var/lib/cmdrelay/cmdrelay.db
-- or `.read views.sql` at the sqlite3 prompt.  Reading never blocks the relay (WAL).

CREATE TEMP VIEW IF NOT EXISTS commands_readable AS
SELECT id, channel, name, data, mode, target, dedup_key, state, attempts, max_attempts,
       strftime('%Y-%m-%dT%H:%M:%fZ', created_at / 1000.0, 'unixepoch') AS created_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', expires_at / 1000.0, 'unixepoch') AS expires_at,
       lease_consumer,
       strftime('%Y-%m-%dT%H:%M:%fZ', lease_expires_at / 1000.0, 'unixepoch') AS lease_expires_at,
       result,
       strftime('%Y-%m-%dT%H:%M:%fZ', finished_at / 1000.0, 'unixepoch') AS finished_at
FROM commands;

CREATE TEMP VIEW IF NOT EXISTS acks_readable AS
SELECT command_id, consumer,
       strftime('%Y-%m-%dT%H:%M:%fZ', acked_at / 1000.0, 'unixepoch') AS acked_at,
       result
FROM acks;

CREATE TEMP VIEW IF NOT EXISTS consumers_readable AS
SELECT channel, consumer,
       strftime('%Y-%m-%dT%H:%M:%fZ', first_seen / 1000.0, 'unixepoch') AS first_seen,
       strftime('%Y-%m-%dT%H:%M:%fZ', last_seen / 1000.0, 'unixepoch') AS last_seen,
       cursor
FROM consumers;

-- Never the hash: only what an operator needs to tell keys apart.
CREATE TEMP VIEW IF NOT EXISTS api_keys_readable AS
SELECT id, label, scopes, channels,
       strftime('%Y-%m-%dT%H:%M:%fZ', created_at / 1000.0, 'unixepoch') AS created_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', expires_at / 1000.0, 'unixepoch') AS expires_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', last_used_at / 1000.0, 'unixepoch') AS last_used_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', revoked_at / 1000.0, 'unixepoch') AS revoked_at
FROM api_keys;
