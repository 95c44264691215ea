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
-- Only the queue commands still to be done: claims never walk past finished ones.
CREATE INDEX commands_queue_active ON commands(channel, id)
    WHERE mode = 'queue' AND state IN ('pending', 'leased');
-- Leases by when they run out: dead letters and a waiting claim's wake-up.
CREATE INDEX commands_leases ON commands(channel, lease_expires_at) WHERE state = 'leased';
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

-- Live (pending or leased) commands per channel, kept by triggers, so that
-- a publish checks the channel's limit with one lookup instead of a count.
-- Expired commands still count until they are swept (at most a second or so
-- later); a publish that finds the channel full counts exactly before refusing.
CREATE TABLE channel_counts (
    channel TEXT PRIMARY KEY,
    live    INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO channel_counts(channel, live)
SELECT channel, count(*) FROM commands WHERE state IN ('pending', 'leased') GROUP BY channel;

CREATE TRIGGER channel_counts_insert AFTER INSERT ON commands
WHEN new.state IN ('pending', 'leased')
BEGIN
    INSERT OR IGNORE INTO channel_counts(channel, live) VALUES (new.channel, 0);
    UPDATE channel_counts SET live = live + 1 WHERE channel = new.channel;
END;

CREATE TRIGGER channel_counts_delete AFTER DELETE ON commands
WHEN old.state IN ('pending', 'leased')
BEGIN
    UPDATE channel_counts SET live = live - 1 WHERE channel = old.channel;
END;

CREATE TRIGGER channel_counts_update AFTER UPDATE OF state ON commands
WHEN (old.state IN ('pending', 'leased')) != (new.state IN ('pending', 'leased'))
BEGIN
    UPDATE channel_counts
    SET live = live + (CASE WHEN new.state IN ('pending', 'leased') THEN 1 ELSE -1 END)
    WHERE channel = new.channel;
END;
