"""What keys a received message when the broker gives it no id of its own."""

from __future__ import annotations

from datetime import UTC, datetime

from interlink.connectors.amqp import message_key


def test_an_amqp_message_id_is_its_key() -> None:
    assert message_key("order-7", b"{}", {}, None) == "order-7"


def test_without_an_id_the_key_is_a_hash_of_body_headers_and_timestamp() -> None:
    key = message_key(None, b"same", {"b": 2, "a": b"x"}, None)
    assert key.startswith("sha256:")
    assert key == message_key("", b"same", {"a": b"x", "b": 2}, None)  # order does not matter
    assert key != message_key(None, b"other", {"b": 2, "a": b"x"}, None)
    assert key != message_key(None, b"same", {"b": 3, "a": b"x"}, None)
    stamped = message_key(None, b"same", {"b": 2, "a": b"x"}, datetime(2026, 1, 1, tzinfo=UTC))
    assert stamped != key
