"""Gate tests on real services: skip when one is down locally, fail when CI demands it.

Set ``INTERLINK_REQUIRE_SERVICES=1`` (as CI does) to turn a missing service into a failure, so
a broken service container cannot pass as a green run full of skips.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Final

REQUIRE_ENV: Final = "INTERLINK_REQUIRE_SERVICES"
POSTGRES_URL_ENV: Final = "INTERLINK_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL: Final = "postgresql://postgres@127.0.0.1:5432/test"
NATS_URL_ENV: Final = "INTERLINK_TEST_NATS_URL"
DEFAULT_NATS_URL: Final = "nats://127.0.0.1:4222"
REDIS_URL_ENV: Final = "INTERLINK_TEST_REDIS_URL"
DEFAULT_REDIS_URL: Final = "redis://127.0.0.1:6379/0"
MQTT_URL_ENV: Final = "INTERLINK_TEST_MQTT_URL"
DEFAULT_MQTT_URL: Final = "mqtt://127.0.0.1:1883"
AMQP_URL_ENV: Final = "INTERLINK_TEST_AMQP_URL"
DEFAULT_AMQP_URL: Final = "amqp://guest:guest@127.0.0.1:5672/"
MARIADB_URL_ENV: Final = "INTERLINK_TEST_MARIADB_URL"
DEFAULT_MARIADB_URL: Final = "mysql://root@127.0.0.1:3306/test"


def require_service(name: str, reachable: Callable[[], bool | str]) -> None:
    """Skip (or fail, under ``INTERLINK_REQUIRE_SERVICES=1``) unless ``reachable()`` is True.

    ``reachable`` returns True when the service answers; False or a string saying why not
    otherwise. An exception it raises counts as unreachable, with the exception as the reason.
    """
    import pytest

    try:
        result = reachable()
    except Exception as exc:
        result = f"{type(exc).__name__}: {exc}"
    if result is True:
        return
    reason = result if isinstance(result, str) and result else "no answer"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(
            f"{name} is required ({REQUIRE_ENV}=1) but unreachable: {reason}", pytrace=False
        )
    pytest.skip(f"{name} unreachable ({reason}); set {REQUIRE_ENV}=1 to fail instead")


def postgres_url() -> str:
    """The PostgreSQL server tests use: ``INTERLINK_TEST_POSTGRES_URL`` or a local default."""
    return os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL


def postgres_reachable(url: str, timeout: int = 3) -> bool | str:
    """True if ``url`` accepts a connection, else libpq's reason on one line."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=timeout):
            return True
    except psycopg.Error as exc:
        return " ".join(str(exc).split()) or type(exc).__name__


def nats_url() -> str:
    """The NATS server tests use: ``INTERLINK_TEST_NATS_URL`` or a local default."""
    return os.environ.get(NATS_URL_ENV) or DEFAULT_NATS_URL


def nats_reachable(url: str, timeout: float = 3) -> bool | str:
    """True if a NATS server with JetStream greets at ``url``, else why not, on one line.

    Reads only the server's INFO greeting, which comes before any authentication, so no
    credentials are needed or sent.
    """
    import json
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url if "://" in url else f"nats://{url}")
    address = (parts.hostname or "127.0.0.1", parts.port or 4222)
    try:
        with socket.create_connection(address, timeout=timeout) as sock:
            sock.settimeout(timeout)
            greeting = sock.makefile("rb").readline(1 << 16)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    if not greeting.startswith(b"INFO "):
        return f"no NATS server at {address[0]}:{address[1]}"
    try:
        info = json.loads(greeting[5:])
    except ValueError:
        return "unreadable INFO greeting"
    return True if info.get("jetstream") else "the server runs without JetStream (-js)"


def redis_url() -> str:
    """The Redis server tests use: ``INTERLINK_TEST_REDIS_URL`` or a local default."""
    return os.environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL


def redis_reachable(url: str, timeout: float = 3) -> bool | str:
    """True if the Redis server at ``url`` answers PING, else why not, on one line."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return True if client.ping() else "no PONG"
    except redis.RedisError as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    finally:
        client.close()


def mqtt_config() -> dict[str, Any]:
    """The MQTT broker tests use, as an ``mqtt`` connector's connection: ``INTERLINK_TEST_MQTT_URL``
    (``mqtt://[user[:password]@]host:port``) or the local Mosquitto."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(os.environ.get(MQTT_URL_ENV) or DEFAULT_MQTT_URL)
    config: dict[str, Any] = {"host": parts.hostname or "127.0.0.1", "port": parts.port or 1883}
    if parts.username:
        config["username"] = unquote(parts.username)
    if parts.password:
        config["password"] = unquote(parts.password)
    return config


def mqtt_reachable(config: dict[str, Any], timeout: float = 3) -> bool | str:
    """True if an MQTT broker accepts a connection at ``config``'s host and port, else why not,
    on one line (an MQTT 3.1.1 CONNECT, with the config's user when it has one)."""
    import socket
    import struct

    def text(value: str) -> bytes:
        data = value.encode()
        return struct.pack("!H", len(data)) + data

    flags, payload = 0x02, text("")  # a clean session with an id the broker assigns
    if config.get("username"):
        flags |= 0x80
        payload += text(config["username"])
        if config.get("password"):
            flags |= 0x40
            payload += text(config["password"])
    variable = text("MQTT") + bytes([4, flags]) + struct.pack("!H", 10)
    body = variable + payload
    try:
        with socket.create_connection((config["host"], config["port"]), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(bytes([0x10, len(body)]) + body)
            answer = sock.recv(4)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    if len(answer) < 4 or answer[0] != 0x20:
        return "no MQTT broker answered"
    return True if answer[3] == 0 else f"the broker refused the connection (code {answer[3]})"


def amqp_url() -> str:
    """The RabbitMQ broker tests use: ``INTERLINK_TEST_AMQP_URL`` or a local default."""
    return os.environ.get(AMQP_URL_ENV) or DEFAULT_AMQP_URL


def amqp_reachable(url: str, timeout: float = 3) -> bool | str:
    """True if the broker at ``url`` logs the user in, else why not, on one line."""
    import asyncio

    import aio_pika

    async def probe() -> None:
        connection = await aio_pika.connect(url, timeout=timeout)
        await connection.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return True


def mariadb_config() -> dict[str, Any]:
    """The MariaDB server tests use, as a ``mariadb`` connector's connection:
    ``INTERLINK_TEST_MARIADB_URL`` (``mysql://user[:password]@host:port/database``) or root
    without a password on the local server."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(os.environ.get(MARIADB_URL_ENV) or DEFAULT_MARIADB_URL)
    config: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "database": parts.path.lstrip("/") or "test",
    }
    if parts.password:
        config["password"] = unquote(parts.password)
    return config


def mariadb_reachable(config: dict[str, Any], timeout: int = 3) -> bool | str:
    """True if the MariaDB server logs the user in, else why not, on one line."""
    import asyncio

    import asyncmy

    async def probe() -> None:
        conn = await asyncmy.connect(
            host=config["host"],
            port=config["port"],
            user=config["user"],
            password=config.get("password", ""),
            connect_timeout=timeout,
        )
        conn.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return True
