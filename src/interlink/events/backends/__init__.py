"""The two implementations of ``Bus``: ``embedded`` (SQLite) and ``nats`` (JetStream)."""
