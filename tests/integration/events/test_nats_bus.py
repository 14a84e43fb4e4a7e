"""What only the NATS backend has: names on a shared server, and a server that goes away."""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from interlink.errors import BusUnavailable, ConfigError, PayloadTooLarge, UnknownConsumer
from interlink.events.backends.nats import NatsBus
from interlink.events.backends.nats_names import (
    MAX_TOKEN,
    check_prefix,
    consumer_name,
    decode_header,
    encode_header,
    owned,
    stream_name,
    subject,
    token,
)
from interlink.events.bus import ConsumerSpec, Envelope, Message, StreamSpec
from interlink.testing.processes import free_port
from interlink.testing.services import nats_reachable, require_service

from .conftest import delete_streams, event

TYPE = "com.example.order.created"
STREAM = StreamSpec(TYPE, 600.0, 65_536)
NATS_SERVER = Path("/usr/sbin/nats-server")
NAME = re.compile(r"[A-Za-z0-9_-]+")


# --- names ---------------------------------------------------------------------------------------


def test_plain_names_stay_readable() -> None:
    assert stream_name("il", "customer.address-updated") == "il_customer_address-updated"
    assert subject("il", "customer.address-updated") == "il.ev.customer.address-updated"
    assert consumer_name("il", "erp.address-sync") == "il_erp_address-sync"


def test_every_other_name_is_escaped_without_collisions() -> None:
    names = ["a.b", "a_b", "a-b", "a..b", ".a", "a.", "_a", "A.b", "a b", "a*", "a>", "é", "a-5fb"]
    tokens = [token(n) for n in names]
    assert len(set(tokens)) == len(names)
    assert all(NAME.fullmatch(t) for t in tokens)
    assert token("a..b") == "_a__b"
    assert token("a b*>") == "_a-20b-2a-3e"
    subjects = [subject("il", n) for n in names]
    assert len(set(subjects)) == len(names)
    for s in subjects:
        assert all(part and not re.search(r"[\s*>]", part) for part in s.split("."))


def test_long_names_are_shortened_and_stay_distinct() -> None:
    long_a, long_b = "x" * 300, "x" * 299 + "y"
    assert len(token(long_a)) == MAX_TOKEN
    assert token(long_a) != token(long_b)


def test_prefixes_cannot_overlap() -> None:
    for bad in ("", "a_b", "a.b", "a b", "x" * 33):
        with pytest.raises(ConfigError):
            check_prefix(bad)
    with pytest.raises(ConfigError):
        NatsBus("nats://127.0.0.1:4222", prefix="a.b")
    assert owned("il", "il_orders")
    assert not owned("il", "il-x_orders")
    assert not owned("il", "il-read-0123")


def test_header_values_round_trip() -> None:
    for value in ["plain", " padded ", "line\nbreak", "ünïcode", "50%", "https://x/y?a=1&b=2"]:
        encoded = encode_header(value)
        assert encoded == encoded.strip()
        assert encoded.isascii()
        assert encoded.isprintable()
        assert decode_header(encoded) == value


# --- a server that is not there ------------------------------------------------------------------


@pytest.mark.anyio
async def test_open_fails_fast_and_keeps_credentials_out() -> None:
    bus = NatsBus(f"nats://admin:s3cret@127.0.0.1:{free_port()}", prefix="t", connect_timeout=1)
    start = time.monotonic()
    with pytest.raises(BusUnavailable) as caught:
        await bus.open()
    assert time.monotonic() - start < 3
    message = str(caught.value)
    assert "s3cret" not in message
    assert "\n" not in message
    assert caught.value.retry_after
    with pytest.raises(BusUnavailable):
        await bus.publish([event(TYPE, 1)])


# --- a shared server -----------------------------------------------------------------------------


@pytest.mark.nats
@pytest.mark.anyio
async def test_other_prefixes_are_left_alone(nats_server_url: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:12]}"
    mine, theirs = (
        NatsBus(nats_server_url, prefix=prefix),
        NatsBus(nats_server_url, prefix=f"{prefix}-x"),
    )
    try:
        async with mine, theirs:
            for bus in (mine, theirs):
                await bus.ensure([STREAM], [ConsumerSpec("c", TYPE, "earliest")])
                await bus.publish([event(TYPE, 1)])
            await mine.ensure([STREAM], [], prune=True)
            with pytest.raises(UnknownConsumer):
                await mine.pending("c")
            assert await theirs.pending("c") == 1
            assert len(await mine.read(TYPE, 1, 10)) == 1
            nc = await nats.connect(nats_server_url)
            try:
                consumers = await nc.jetstream().consumers_info(stream_name(prefix, TYPE))
            finally:
                await nc.close()
            assert consumers == []  # readers clean up after themselves
    finally:
        await delete_streams(nats_server_url, prefix)
        await delete_streams(nats_server_url, f"{prefix}-x")


@pytest.mark.nats
@pytest.mark.anyio
async def test_max_payload_warns_only_when_the_settings_conflict(
    nats_server_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    nc = await nats.connect(nats_server_url)
    server_max = nc.max_payload
    await nc.close()
    prefix = f"t{uuid.uuid4().hex[:12]}"
    try:
        async with NatsBus(nats_server_url, prefix=prefix) as bus:
            # The default body cap equal to the server's: only header room is at stake.
            with caplog.at_level(logging.WARNING, logger="interlink"):
                await bus.ensure([StreamSpec(TYPE, 600.0, server_max)], [])
            assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
            # What the server would refuse is refused first, precisely.
            body = b'{"data":"' + b"x" * (server_max - 20) + b'"}'
            with pytest.raises(PayloadTooLarge, match="the stream accepts at most"):
                await bus.publish([Envelope(TYPE, "big", "/test", None, body)])
            with caplog.at_level(logging.WARNING, logger="interlink"):
                await bus.ensure([StreamSpec(TYPE, 600.0, server_max + 1)], [])
            (warning,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert "raise its max_payload or lower events.maxPayloadBytes" in warning.getMessage()
    finally:
        await delete_streams(nats_server_url, prefix)


# --- a server that restarts ----------------------------------------------------------------------


class PrivateNats:
    """A nats-server of the test's own, so stopping it disturbs nobody else."""

    def __init__(self, store: Path) -> None:
        self.port = free_port()
        self.store = store
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [str(NATS_SERVER), "-a", "127.0.0.1", "-p", str(self.port), "-js"]
        self.proc = subprocess.Popen(
            [*command, "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while nats_reachable(self.url, timeout=0.5) is not True:
            assert self.proc.poll() is None, "nats-server exited"
            assert time.monotonic() < deadline, "nats-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[PrivateNats]:
    require_service(
        "nats-server", lambda: NATS_SERVER.exists() or f"{NATS_SERVER} is not installed"
    )
    server = PrivateNats(tmp_path / "jetstream")
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def pull_until(bus: NatsBus, ids: set[str], within: float = 15.0) -> list[Message]:
    """Pull until every event in ``ids`` came, riding out unavailability."""
    got: list[Message] = []
    deadline = time.monotonic() + within
    while not ids <= {m.id for m in got} and time.monotonic() < deadline:
        try:
            got.extend(await bus.pull("c", 100, 1.0))
        except BusUnavailable:
            await asyncio.sleep(0.2)
    return got


@pytest.mark.nats
@pytest.mark.slow
@pytest.mark.anyio
async def test_a_restarted_server_loses_nothing(private_nats: PrivateNats) -> None:
    bus = NatsBus(private_nats.url, prefix="restart", timeout=1.0, ack_wait=2.0)
    async with bus:
        await bus.ensure([STREAM], [ConsumerSpec("c", TYPE, "earliest")])
        appended = await bus.publish([event(TYPE, n) for n in range(1, 11)])
        assert [a.seq for a in appended] == list(range(1, 11))
        first = await bus.pull("c", 5, 1.0)
        assert [m.seq for m in first] == [1, 2, 3, 4, 5]
        await bus.ack("c", [m.seq for m in first])

        private_nats.stop()
        for n in range(100, 103):  # fails fast, and says when to come back
            start = time.monotonic()
            with pytest.raises(BusUnavailable) as caught:
                await bus.publish([event(TYPE, n)])
            assert time.monotonic() - start < 2.5
            assert caught.value.retry_after
        with pytest.raises(BusUnavailable):
            await bus.pull("c", 10, 0.5)

        private_nats.start()  # same port, same store
        deadline = time.monotonic() + 20
        while True:  # the client reconnects by itself
            try:
                (recovered,) = await bus.publish([event(TYPE, 11)])
                break
            except BusUnavailable:
                assert time.monotonic() < deadline, "the bus did not recover"
                await asyncio.sleep(0.2)
        assert not recovered.duplicate
        stored = {m.id: m.seq for m in await bus.read(TYPE, 1, 100)}
        assert all(stored[f"e{n}"] == n for n in range(1, 11))
        wanted = [f"e{n}" for n in range(6, 12)]
        rest = await pull_until(bus, set(wanted))
        # Nothing acked comes back, nothing acknowledged is missing, and order holds. (A publish
        # that failed may still land once: nats-py sends what it had queued before it noticed
        # the loss, which the dedup window makes harmless on retry.)
        assert [m.id for m in rest if m.id in wanted] == wanted
        assert all(m.seq > 5 for m in rest)
        assert [m.seq for m in rest] == sorted(m.seq for m in rest)
        await bus.ack("c", [m.seq for m in rest])
        assert await bus.pending("c") == 0


@pytest.mark.nats
@pytest.mark.anyio
async def test_a_small_publish_window_still_takes_everything(nats_server_url: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:12]}"
    bus = NatsBus(nats_server_url, prefix=prefix, publish_window=10)
    try:
        async with bus:
            await bus.ensure([STREAM], [])
            batches = [
                [event(TYPE, p * 100 + n) for n in range(size)]
                for p, size in enumerate([50, 5, 5, 5, 30])
            ]
            results = await asyncio.gather(*(bus.publish(b) for b in batches))
            assert sorted(a.seq for r in results for a in r) == list(range(1, 96))
    finally:
        await delete_streams(nats_server_url, prefix)


@pytest.mark.nats
@pytest.mark.anyio
async def test_a_consumer_at_max_ack_pending_waits_instead_of_failing(
    nats_server_url: str,
) -> None:
    prefix = f"t{uuid.uuid4().hex[:12]}"
    bus = NatsBus(nats_server_url, prefix=prefix, max_ack_pending=2)
    try:
        async with bus:
            await bus.ensure([STREAM], [ConsumerSpec("c", TYPE, "earliest")])
            await bus.publish([event(TYPE, n) for n in range(1, 6)])
            assert [m.seq for m in await bus.pull("c", 10, 0.3)] == [1, 2]
            assert await bus.pull("c", 10, 0.3) == []  # the limit, not an outage
            await bus.ack("c", [1, 2])
            assert [m.seq for m in await bus.pull("c", 10, 0.3)] == [3, 4]
    finally:
        await delete_streams(nats_server_url, prefix)
