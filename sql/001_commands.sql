-- Schema version 1: the commands table and a readable view of it.
-- Times are Unix milliseconds (integers compare and index cheaply); the view
-- commands_readable shows them as ISO-8601 UTC.  Payloads are JSON text.

CREATE TABLE commands (
    id               INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: consumers' cursors rely on it
    channel          TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    data             TEXT    NOT NULL DEFAULT 'null',   -- JSON text
    mode             TEXT    NOT NULL DEFAULT 'broadcast' CHECK (mode IN ('broadcast', 'queue')),
    target           TEXT,                              -- consumer id, or NULL for everyone
    dedup_key        TEXT,
    state            TEXT    NOT NULL DEFAULT 'pending'
                             CHECK (state IN ('pending', 'leased', 'done', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 5,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER,                           -- NULL: never (the tutorial's commands)
    lease_token      TEXT,
    lease_consumer   TEXT,
    lease_expires_at INTEGER,
    result           TEXT,                              -- JSON text of a queue command's ack
    finished_at      INTEGER                            -- when it became done or dead
);

-- Every read walks a channel by id.  (No index by name: only the tutorial's
-- endpoints look commands up by name, within one small channel, and each
-- index costs every publish another page written to the WAL.)
CREATE INDEX commands_by_channel ON commands(channel, id);

CREATE VIEW commands_readable AS
SELECT id, channel, name, data, mode, target, dedup_key, state, attempts, max_attempts,
       strftime('%Y-%m-%dT%H:%M:%fZ', created_at / 1000.0, 'unixepoch') AS created_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', expires_at / 1000.0, 'unixepoch') AS expires_at,
       lease_consumer,
       strftime('%Y-%m-%dT%H:%M:%fZ', lease_expires_at / 1000.0, 'unixepoch') AS lease_expires_at,
       result,
       strftime('%Y-%m-%dT%H:%M:%fZ', finished_at / 1000.0, 'unixepoch') AS finished_at
FROM commands;
