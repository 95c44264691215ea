-- Schema version 2: the v1 API's acknowledgements, consumers and indexes.

-- One row per consumer that acknowledged a command (broadcast: each
-- consumer once; queue: the consumer that finished it).
CREATE TABLE acks (
    command_id INTEGER NOT NULL,
    consumer   TEXT    NOT NULL,
    acked_at   INTEGER NOT NULL,               -- Unix milliseconds
    result     TEXT,                           -- JSON text, or NULL
    PRIMARY KEY (command_id, consumer)
) WITHOUT ROWID;

-- Acks go with their command, whoever deletes it (cancel, sweep, sqlite3 CLI).
CREATE TRIGGER commands_delete_acks AFTER DELETE ON commands
BEGIN
    DELETE FROM acks WHERE command_id = old.id;
END;

-- Every consumer that polled a channel: presence and its confirmed cursor.
CREATE TABLE consumers (
    channel    TEXT    NOT NULL,
    consumer   TEXT    NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    cursor     INTEGER NOT NULL DEFAULT 0,     -- the last "after" it sent
    PRIMARY KEY (channel, consumer)
) WITHOUT ROWID;

CREATE INDEX commands_by_dedup_key ON commands(channel, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX commands_queue ON commands(channel, state, id) WHERE mode = 'queue';
CREATE INDEX commands_by_expiry ON commands(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX commands_finished ON commands(finished_at) WHERE finished_at IS NOT NULL;

CREATE VIEW acks_readable AS
SELECT command_id, consumer,
       strftime('%Y-%m-%dT%H:%M:%fZ', acked_at / 1000.0, 'unixepoch') AS acked_at,
       result
FROM acks;

CREATE VIEW consumers_readable AS
SELECT channel, consumer,
       strftime('%Y-%m-%dT%H:%M:%fZ', first_seen / 1000.0, 'unixepoch') AS first_seen,
       strftime('%Y-%m-%dT%H:%M:%fZ', last_seen / 1000.0, 'unixepoch') AS last_seen,
       cursor
FROM consumers;
