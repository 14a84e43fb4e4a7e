"""The MQTT connector against the test broker, on topics of its own per test."""

from __future__ import annotations

import asyncio
import functools
import getpass
import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from interlink.connectors.base import (
    ConnectionFailed,
    ConnectorError,
    OutgoingMessage,
    StatementError,
)
from interlink.connectors.connections import Connections
from interlink.connectors.mqtt import MqttConnector
from interlink.connectors.mqtt_client import KEY_PROPERTY, client_id
from interlink.testing.connectors import SYSTEM, run_message_conformance
from interlink.testing.processes import free_port
from interlink.testing.services import mqtt_config, mqtt_reachable, require_service

pytestmark = pytest.mark.mqtt

WITHIN = 10.0


@functools.cache
def _status() -> bool | str:
    return mqtt_reachable(mqtt_config())


async def _forget_sessions(config: dict[str, Any], ids: list[str]) -> None:
    """End the persistent sessions a test left on the broker."""
    for identifier in ids:
        async with aiomqtt.Client(
            config["host"],
            config["port"],
            username=config.get("username"),
            password=config.get("password"),
            identifier=identifier,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=True,
        ):
            pass


@pytest.fixture
def config() -> dict[str, Any]:
    require_service("MQTT broker", _status)
    return {**mqtt_config(), "connectTimeout": 5}


@pytest.fixture
def topic(config: dict[str, Any]) -> Iterator[str]:
    """A topic of this test's own; the sessions the tests open on it (all of which expire in a
    minute anyway) are ended afterwards."""
    name = f"il-test/{uuid.uuid4().hex[:12]}"
    yield name
    sources = (name, f"{name}/#", f"{name}/#/x")
    ids = [client_id(system, source) for system in (SYSTEM, "plant") for source in sources]
    asyncio.run(_forget_sessions(config, ids))


def test_conformance(config: dict[str, Any], topic: str) -> None:
    passed = asyncio.run(
        run_message_conformance(MqttConnector(), config, topic, {"sessionExpiry": 60})
    )
    assert passed == [
        "spec",
        "send-receive-ack",
        "text",
        "nack-redelivers",
        "close-redelivers",
        "closed",
    ]


def test_keys_headers_and_a_foreign_publisher(config: dict[str, Any], topic: str) -> None:
    async def go() -> list[tuple[str, bytes, dict[str, str]]]:
        conn = await MqttConnector().open(config, "plant")
        inbox = await conn.subscribe(f"{topic}/#", {"sessionExpiry": 60})
        try:
            await conn.send(
                OutgoingMessage(to=f"{topic}/a", body={"t": 21.5}, headers={"site": "b"}, key="r1")
            )
            async with aiomqtt.Client(config["host"], config["port"]) as plain:  # MQTT 3.1.1
                for payload in (b"on", b"on", b"off"):
                    await plain.publish(f"{topic}/b", payload, qos=1)
            got = []
            for _ in range(4):
                message = await asyncio.wait_for(inbox.receive(), WITHIN)
                got.append((message.key, message.body, dict(message.headers)))
                await message.ack()
            return got
        finally:
            await inbox.close()
            await conn.close()

    sent, on, on_again, off = asyncio.run(go())
    assert sent == (
        "r1",
        b'{"t":21.5}',
        {"site": "b", KEY_PROPERTY: "r1", "content-type": "application/json"},
    )
    assert on[0].startswith("sha256:")
    assert on[0] == on_again[0], "the same payload on the same topic has one key"
    assert off[0] != on[0]
    assert (on[1], on[2]) == (b"on", {})


def test_a_bad_topic_names_it(config: dict[str, Any], topic: str) -> None:
    async def go() -> tuple[ConnectorError, ConnectorError]:
        conn = await MqttConnector().open(config, "plant")
        try:
            with pytest.raises(StatementError) as sent:
                await conn.send(OutgoingMessage(to=f"{topic}/+", body=1))
            with pytest.raises(ConnectorError) as subscribed:
                await conn.subscribe(f"{topic}/#/x", {"sessionExpiry": 60})
            return sent.value, subscribed.value
        finally:
            await conn.close()

    sent, subscribed = asyncio.run(go())
    assert sent.message.startswith(f"System/plant (topic {topic}/+): ")
    assert not sent.retryable
    assert subscribed.message.startswith(f"System/plant (topic {topic}/#/x): cannot subscribe")
    assert not subscribed.retryable


def test_close_ends_a_waiting_receive(config: dict[str, Any], topic: str) -> None:
    async def go() -> BaseException | None:
        conn = await MqttConnector().open(config, "plant")
        try:
            inbox = await conn.subscribe(topic, {"sessionExpiry": 60})
            waiting = asyncio.create_task(inbox.receive())
            await asyncio.sleep(0)  # the receive is under way
            await inbox.close()
            done, _ = await asyncio.wait([waiting], timeout=WITHIN)
            assert done, "a receive went on waiting after close"
            return waiting.exception()
        finally:
            await conn.close()

    error = asyncio.run(go())
    assert isinstance(error, ConnectorError)
    assert error.message == f"System/plant (topic {topic}): the inbox is closed"


def test_an_unreachable_broker_is_retryable_and_says_where(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERLINK_SECRET_PLANT_PW", "never-shown-xyz")
    connection = {**config, "port": 1, "username": "u", "password": "${secret:plant-pw}"}
    with pytest.raises(ConnectionFailed) as caught:
        asyncio.run(Connections().get("plant", "mqtt", connection))
    assert caught.value.message.startswith("System/plant (127.0.0.1:1): ")
    assert "never-shown-xyz" not in caught.value.message
    assert caught.value.retryable


def test_body_json_for_objects(config: dict[str, Any], topic: str) -> None:
    async def go() -> bytes:
        conn = await MqttConnector().open(config, "plant")
        inbox = await conn.subscribe(topic, {"sessionExpiry": 60})
        try:
            await conn.send(OutgoingMessage(to=topic, body=[1, "two", None]))
            message = await asyncio.wait_for(inbox.receive(), WITHIN)
            await message.ack()
            return message.body
        finally:
            await inbox.close()
            await conn.close()

    assert json.loads(asyncio.run(go())) == [1, "two", None]


def test_through_the_process_connections(config: dict[str, Any], topic: str) -> None:
    async def go() -> tuple[str, bytes, str]:
        connections = Connections()
        try:
            conn = await connections.get("plant", "mqtt", config)
            inbox = await conn.subscribe(topic, {"sessionExpiry": 60})
            await conn.send(OutgoingMessage(to=topic, body="via connections", key="v1"))
            message = await asyncio.wait_for(inbox.receive(), WITHIN)
            await message.ack()
            await inbox.close()
            return message.source, message.body, message.key
        finally:
            await connections.aclose()

    assert asyncio.run(go()) == (topic, b"via connections", "v1")


def test_a_cancelled_receive_leaves_the_inbox_usable(config: dict[str, Any], topic: str) -> None:
    async def go() -> bytes:
        conn = await MqttConnector().open(config, "plant")
        try:
            inbox = await conn.subscribe(topic, {"sessionExpiry": 60})
            waiting = asyncio.create_task(inbox.receive())
            await asyncio.sleep(0)  # the receive is under way
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await conn.send(OutgoingMessage(to=topic, body="after"))
            message = await asyncio.wait_for(inbox.receive(), WITHIN)
            await message.ack()
            await asyncio.wait_for(inbox.close(), WITHIN)
            return message.body
        finally:
            await conn.close()

    assert asyncio.run(go()) == b"after"


# --- a broker of the test's own, with passwords and an ACL ------------------------------------


@pytest.fixture
def locked_broker(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A Mosquitto of this test's own that takes user ``interlink`` with password
    ``right-one`` only, and lets it use topics under ``allowed/`` only; stopped afterwards."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    passwd = shutil.which("mosquitto_passwd")
    # A broker of the test's own (password file, ACL): under INTERLINK_REQUIRE_SERVICES=1 a
    # missing binary fails instead of skipping, like any service.
    require_service(
        "mosquitto",
        lambda: (
            (Path(binary).exists() and passwd is not None)
            or "mosquitto and mosquitto_passwd are not installed here"
        ),
    )
    assert passwd is not None
    port = free_port()
    (tmp_path / "acl").write_text("user interlink\ntopic readwrite allowed/#\n")
    subprocess.run(
        [passwd, "-b", "-c", str(tmp_path / "passwd"), "interlink", "right-one"], check=True
    )
    (tmp_path / "mosquitto.conf").write_text(
        # Run as this user: as root, Mosquitto would become one that cannot read tmp_path.
        f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\n"
        "allow_anonymous false\npersistence false\n"
        f"password_file {tmp_path / 'passwd'}\nacl_file {tmp_path / 'acl'}\n"
    )
    process = subprocess.Popen(
        [binary, "-c", str(tmp_path / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    error = process.stderr.read().decode() if process.stderr else ""
                    pytest.fail(f"the test's Mosquitto did not start: {error}")
                time.sleep(0.05)
        yield {"host": "127.0.0.1", "port": port, "username": "interlink", "connectTimeout": 5}
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def test_refused_credentials_are_a_clear_error_without_the_secret(
    locked_broker: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERLINK_SECRET_PLANT_PW", "wrong-one-xyz")
    connection = {**locked_broker, "password": "${secret:plant-pw}"}
    with pytest.raises(ConnectionFailed) as caught:
        asyncio.run(Connections().get("plant", "mqtt", connection))
    error = caught.value
    assert error.message.startswith(f"System/plant (127.0.0.1:{locked_broker['port']}): ")
    assert "Bad user name or password" in error.message or "Not authorized" in error.message
    assert "wrong-one-xyz" not in error.message
    assert not error.retryable


def test_a_publish_the_broker_refuses_is_an_error_naming_the_topic(
    locked_broker: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERLINK_SECRET_PLANT_PW", "right-one")
    connection = {**locked_broker, "password": "${secret:plant-pw}"}

    async def go() -> tuple[ConnectorError, bytes]:
        connections = Connections()
        try:
            conn = await connections.get("plant", "mqtt", connection)
            with pytest.raises(ConnectorError) as published:
                await conn.send(OutgoingMessage(to="denied/x", body=1))
            # The connection still works for what is allowed.
            inbox = await conn.subscribe("allowed/#", {"sessionExpiry": 5})
            await conn.send(OutgoingMessage(to="allowed/x", body="fine"))
            message = await asyncio.wait_for(inbox.receive(), WITHIN)
            await message.ack()
            await inbox.close()
            return published.value, message.body
        finally:
            await connections.aclose()

    published, body = asyncio.run(go())
    assert published.message == (
        "System/plant (topic denied/x): the broker refused the message: Not authorized"
    )
    assert not published.retryable
    assert body == b"fine"


def test_large_and_back_to_back_messages_arrive_whole_and_acked_ones_stay_acked(
    config: dict[str, Any], topic: str
) -> None:
    """The consuming client reads the socket through a buffer (64 KiB a read) and writes its
    PUBACKs itself: a message larger than a read, and many small ones sent before the first is
    received, all come whole and in order; once acked, none is sent again on reconnecting."""
    large = bytes(range(256)) * 1100  # 281,600 bytes: several reads of the buffer

    async def go() -> tuple[list[bytes], bytes]:
        conn = await MqttConnector().open(config, "plant")
        inbox = await conn.subscribe(topic, {"sessionExpiry": 60})
        try:
            async with aiomqtt.Client(config["host"], config["port"]) as plain:
                await plain.publish(topic, large, qos=1)
                for n in range(50):
                    await plain.publish(topic, b"m%d" % n, qos=1)
            got = []
            for _ in range(51):
                message = await asyncio.wait_for(inbox.receive(), WITHIN)
                got.append(message.body)
                await message.ack()
            await inbox.close()
            async with aiomqtt.Client(config["host"], config["port"]) as plain:
                await plain.publish(topic, b"after", qos=1)
            inbox = await conn.subscribe(topic, {"sessionExpiry": 60})
            first = await asyncio.wait_for(inbox.receive(), WITHIN)
            await first.ack()
            return got, first.body
        finally:
            await inbox.close()
            await conn.close()

    got, first_again = asyncio.run(go())
    assert got == [large] + [b"m%d" % n for n in range(50)]
    assert first_again == b"after", "a message acked before the reconnect came again"
