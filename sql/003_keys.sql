-- Schema version 3: API keys (issue 4).
-- A key is stored only as the SHA-256 of its token: whoever reads this table
-- (a backup, the sqlite3 CLI) learns nothing a client could send.  Times are
-- Unix milliseconds, as everywhere.

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: a revoked id stays revoked
    hash         BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32), -- SHA-256(token)
    label        TEXT    NOT NULL DEFAULT '',
    scopes       TEXT    NOT NULL,                  -- comma-separated: publish, consume, admin
    channels     TEXT    NOT NULL DEFAULT '*',      -- comma-separated globs
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,                           -- NULL: never
    last_used_at INTEGER,                           -- NULL: never; updated at most once a minute
    revoked_at   INTEGER                            -- NULL: not revoked
);

CREATE VIEW api_keys_readable AS
SELECT id, label, scopes, channels,
       strftime('%Y-%m-%dT%H:%M:%fZ', created_at / 1000.0, 'unixepoch') AS created_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', expires_at / 1000.0, 'unixepoch') AS expires_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', last_used_at / 1000.0, 'unixepoch') AS last_used_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', revoked_at / 1000.0, 'unixepoch') AS revoked_at
FROM api_keys;
