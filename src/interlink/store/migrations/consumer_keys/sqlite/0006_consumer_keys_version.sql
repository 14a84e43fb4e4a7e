-- A counter that every change to consumer_keys moves, whoever makes it: a key ring reads this
-- one row to learn whether its keys are still current, and reloads them only when it moved.
CREATE TABLE consumer_keys_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);

INSERT INTO consumer_keys_version (id, version) VALUES (1, 0);

CREATE TRIGGER consumer_keys_inserted AFTER INSERT ON consumer_keys BEGIN
    UPDATE consumer_keys_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER consumer_keys_updated AFTER UPDATE ON consumer_keys BEGIN
    UPDATE consumer_keys_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER consumer_keys_deleted AFTER DELETE ON consumer_keys BEGIN
    UPDATE consumer_keys_version SET version = version + 1 WHERE id = 1;
END;
