-- Schema version 4: the same tables, cheaper to load and to write.
--
-- Every connection parses the whole schema when it opens, and a CGI request
-- opens one each time: the four *_readable views were a sixth of a CGI
-- request's instructions.  They move to sql/views.sql as TEMP views, which
-- an operator loads into the sqlite3 session that wants them.
--
-- The commands table is rebuilt because its state CHECK listed four values:
-- SQLite checks an IN list of more than two constants through a temporary
-- B-tree, built and freed on every insert.  The same rule written with
-- equalities costs a few comparisons.  Comments stay outside the CREATE
-- statements: text inside one is stored, and parsed by every connection.

DROP VIEW IF EXISTS commands_readable;
DROP VIEW IF EXISTS acks_readable;
DROP VIEW IF EXISTS consumers_readable;
DROP VIEW IF EXISTS api_keys_readable;

-- AUTOINCREMENT's counter may be above the highest id (the newest commands
-- were deleted): cursors rely on an id never coming back, so it is carried over.
CREATE TEMP TABLE commands_sequence AS SELECT seq FROM sqlite_sequence WHERE name = 'commands';

-- Column order and meaning as in 001_commands.sql (times in Unix ms, payloads JSON text).
CREATE TABLE commands_rebuilt (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    channel          TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    data             TEXT    NOT NULL DEFAULT 'null',
    mode             TEXT    NOT NULL DEFAULT 'broadcast' CHECK (mode = 'broadcast' OR mode = 'queue'),
    target           TEXT,
    dedup_key        TEXT,
    state            TEXT    NOT NULL DEFAULT 'pending'
                             CHECK (state = 'pending' OR state = 'leased' OR state = 'done' OR state = 'dead'),
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 5,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER,
    lease_token      TEXT,
    lease_consumer   TEXT,
    lease_expires_at INTEGER,
    result           TEXT,
    finished_at      INTEGER
);

INSERT INTO commands_rebuilt SELECT * FROM commands;
-- Drops the table's indexes and triggers too; nothing fires.
DROP TABLE commands;
ALTER TABLE commands_rebuilt RENAME TO commands;
UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT seq FROM temp.commands_sequence), 0))
WHERE name = 'commands';
INSERT INTO sqlite_sequence(name, seq)
SELECT 'commands', seq FROM temp.commands_sequence
WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'commands');
DROP TABLE temp.commands_sequence;

-- The indexes of 001 and 002, as they were.
CREATE INDEX commands_by_channel ON commands(channel, id);
CREATE INDEX commands_by_dedup_key ON commands(channel, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX commands_queue_active ON commands(channel, id)
    WHERE mode = 'queue' AND state IN ('pending', 'leased');
CREATE INDEX commands_leases ON commands(channel, lease_expires_at) WHERE state = 'leased';
CREATE INDEX commands_by_expiry ON commands(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX commands_finished ON commands(finished_at) WHERE finished_at IS NOT NULL;

-- The triggers of 002.  A new live command now counts with one upsert
-- instead of an insert-or-ignore and an update.
CREATE TRIGGER commands_delete_acks AFTER DELETE ON commands
BEGIN
    DELETE FROM acks WHERE command_id = old.id;
END;

CREATE TRIGGER channel_counts_insert AFTER INSERT ON commands
WHEN new.state IN ('pending', 'leased')
BEGIN
    INSERT INTO channel_counts(channel, live) VALUES (new.channel, 1)
    ON CONFLICT (channel) DO UPDATE SET live = live + 1;
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
