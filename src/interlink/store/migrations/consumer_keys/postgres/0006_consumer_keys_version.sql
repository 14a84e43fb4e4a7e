-- A counter that every change to consumer_keys moves, whoever makes it: a key ring reads this
-- one row to learn whether its keys are still current, and reloads them only when it moved.
CREATE TABLE consumer_keys_version (
    id BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    version BIGINT NOT NULL
);

INSERT INTO consumer_keys_version (id, version) VALUES (TRUE, 0);

-- The search path is fixed to the one of the migration, so the trigger finds the counter from
-- any session.
CREATE FUNCTION consumer_keys_bump_version() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE consumer_keys_version SET version = version + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER consumer_keys_changed
AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON consumer_keys
FOR EACH STATEMENT EXECUTE FUNCTION consumer_keys_bump_version();
