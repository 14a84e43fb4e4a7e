"""What keys a received message when the broker gives it no id of its own, and the run input
a received message becomes."""

from __future__ import annotations

from datetime import UTC, datetime

from interlink.connectors.amqp_client import message_key
from interlink.connectors.base import Received
from interlink.flows.triggers.inbox import message_input


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


class _Got(Received):
    def __init__(self, body: bytes) -> None:
        self.key, self.body, self.headers, self.source = "k1", body, {"h": "v"}, "orders"

    async def ack(self) -> None:
        return None

    async def nack(self) -> None:
        return None


def test_a_run_input_has_the_body_parsed_when_json_else_as_text() -> None:
    base = {"headers": {"h": "v"}, "from": "orders", "key": "k1"}
    assert message_input(_Got(b'{"id": 4}')) == {"body": {"id": 4}, **base}
    assert message_input(_Got(b"42")) == {"body": 42, **base}
    assert message_input(_Got("héllo".encode())) == {"body": "héllo", **base}
    assert message_input(_Got(b"\xff\x00")) == {"body": "/wA=", "encoding": "base64", **base}
