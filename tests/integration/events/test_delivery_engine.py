"""The delivery engine end to end: the embedded bus, the queue in the store database, real
loopback receivers that verify signatures, and a fake clock that runs retry schedules in
milliseconds (no test waits for a retry delay in real time)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from interlink.errors import StoreUnavailable
from interlink.estate.check import check_estate
from interlink.estate.model import Estate
from interlink.estate.references import SecretSource
from interlink.events.backends.embedded import EmbeddedBus
from interlink.events.bus import Envelope
from interlink.events.cloudevents import STRUCTURED_MEDIA_TYPE, CloudEvent
from interlink.events.delivery import (
    DeliveryEngine,
    EngineSettings,
    HttpxClient,
    LogNotifier,
    ReplayProgress,
)
from interlink.events.delivery.flowsender import event_run_id
from interlink.events.delivery.queue import DeliveryQueue
from interlink.events.delivery.queues import open_queue
from interlink.events.signing import generate_secret
from interlink.events.topology import topology_of
from interlink.observe.metrics import Registry
from interlink.observe.signals import recorded
from interlink.store import open_store
from interlink.testing.clock import T0, FakeClock
from interlink.testing.receivers import Receiver, Reply

TYPE = "order.created"
SECRET = generate_secret()
# Real-time knobs kept short; every schedule runs on the fake clock.
FAST = EngineSettings(pull_timeout=0.05, poll_interval=0, stats_interval=3600, stop_grace=0.5)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- the estate --------------------------------------------------------------------------------


def subscription(name: str, target: Mapping[str, Any], **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event": TYPE,
        "target": dict(target),
        "secret": "${secret:hook-secret}",
        "retry": {"schedule": ["5s", "5m", "30m"], "jitter": 0},
    }
    body.update(spec)
    return {
        "apiVersion": "interlink/v1",
        "kind": "Subscription",
        "metadata": {"name": name, "owner": "ops"},
        "spec": body,
    }


def write_estate(
    root: Path,
    systems: Mapping[str, str],
    subscriptions: Sequence[Mapping[str, Any]],
    flows: Sequence[str] = (),
    credentials: Mapping[str, Any] | None = None,
) -> Estate:
    """A small estate: a Team, the publishing System, one Event, receivers (``credentials``:
    System name → its ``credentials``) and subscriptions."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "order.schema.json").write_text(
        json.dumps({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"})
    )

    def credential(system: str) -> dict[str, Any]:
        found = (credentials or {}).get(system)
        return {} if found is None else {"credentials": found}

    def obj(kind: str, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        meta = {"name": name, "owner": "ops"}
        return {"apiVersion": "interlink/v1", "kind": kind, "metadata": meta, "spec": spec}

    docs = [
        obj("Team", "ops", {"channels": [{"type": "email", "to": "ops@example.com"}]}),
        obj("System", "shop", {"domain": "sales", "baseUrl": "http://127.0.0.1:9"}),
        obj(
            "Event",
            TYPE,
            {"system": "shop", "schemas": [{"version": 1, "file": "order.schema.json"}]},
        ),
        *(
            obj("System", name, {"domain": "ops", "baseUrl": url, **credential(name)})
            for name, url in systems.items()
        ),
        *(
            obj(
                "Flow",
                name,
                # No trigger: the subscriptions that target it bring its events.
                {"steps": [{"name": "pick", "type": "map", "expression": "data"}]},
            )
            for name in flows
        ),
        *subscriptions,
    ]
    (root / "estate.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    result = check_estate(root)
    errors = [f.render() for f in result.findings if f.severity == "error"]
    assert not errors, errors
    return result.estate


def envelope(
    id: str, key: str | None = None, *, subject: str | None = None, **data: Any
) -> Envelope:
    event = CloudEvent(id=id, source="shop", type=TYPE, subject=subject, data=data or {"n": id})
    return Envelope(TYPE, id, "shop", key, event.to_structured())


# --- the harness -------------------------------------------------------------------------------


class Env:
    def __init__(self, tmp: Path, store_url: str) -> None:
        self.tmp = tmp
        self.store_url = store_url
        self.clock = FakeClock()
        self.secrets = SecretSource(environ={"INTERLINK_SECRET_HOOK_SECRET": SECRET})
        self.engines: list[DeliveryEngine] = []
        self.estate: Estate | None = None
        self.bus: EmbeddedBus
        self.queue: DeliveryQueue

    async def open(self) -> None:
        with open_store(self.store_url) as store:
            store.migrate()
        self.queue = open_queue(self.store_url)
        await self.queue.open()
        self.bus = EmbeddedBus(self.tmp / "events.db", clock=self.clock)
        await self.bus.open()

    async def close(self) -> None:
        for engine in self.engines:
            await engine.stop()
        self.engines.clear()
        await self.bus.close()
        await self.queue.close()

    async def restart(self) -> None:
        """Everything closed and opened again on the same files: a process restart."""
        await self.close()
        await self.open()

    def write(
        self,
        systems: Mapping[str, str],
        subscriptions: Sequence[Mapping[str, Any]],
        flows: Sequence[str] = (),
        credentials: Mapping[str, Any] | None = None,
    ) -> Estate:
        self.estate = write_estate(self.tmp / "estate", systems, subscriptions, flows, credentials)
        return self.estate

    async def start(self, estate: Estate | None = None, **options: Any) -> DeliveryEngine:
        estate = estate or self.estate
        assert estate is not None
        topology = topology_of(estate)
        await self.bus.ensure(topology.streams, topology.consumers)
        options.setdefault("settings", FAST)
        engine = DeliveryEngine(
            self.bus, self.queue, estate, secrets=self.secrets, clock=self.clock, **options
        )
        await engine.start()
        self.engines.append(engine)
        return engine

    async def publish(self, *envelopes: Envelope) -> list[int]:
        return [a.seq for a in await self.bus.publish(envelopes)]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    opened = Env(tmp_path, f"sqlite:///{tmp_path / 'store.db'}")
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
async def env_any(tmp_path: Path, store_url: str) -> AsyncIterator[Env]:
    """``env`` on each store backend in turn."""
    opened = Env(tmp_path, store_url)
    await opened.open()
    yield opened
    await opened.close()


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.002)


async def settled(engine: DeliveryEngine, name: str) -> None:
    """Every attempt sent so far has its outcome written."""
    await until(lambda: engine.workers[name].busy == 0)


async def quiet(seconds: float = 0.15) -> None:
    """Give the engine real time to do something it should not do."""
    await asyncio.sleep(seconds)


def receiver(env: Env, **options: Any) -> Receiver:
    options.setdefault("secret", SECRET)
    return Receiver(clock=env.clock, **options)


# --- delivering ----------------------------------------------------------------------------------


async def test_delivers_signed_cloudevents(env_any: Env) -> None:
    env = env_any
    async with receiver(env) as rx:
        env.write(
            {"hooks": rx.url + "/api"}, [subscription("orders", {"system": "hooks", "path": "/in"})]
        )
        engine = await env.start()
        sent = [envelope(f"o-{n}") for n in range(3)]
        await env.publish(*sent)
        await rx.wait_delivered(3)
        assert [r.verified for r in rx.requests] == [True, True, True]
        assert sorted(map(str, rx.delivered_ids())) == ["o-0", "o-1", "o-2"]
        first = next(r for r in rx.delivered if r.event_id == "o-0")
        assert first.path == "/api/in"
        assert first.headers["content-type"] == STRUCTURED_MEDIA_TYPE
        assert first.headers["webhook-timestamp"] == str(int(T0.timestamp()))
        assert first.body == sent[0].body
        await settled(engine, "orders")
        assert await env.queue.depth("orders") == 0
        assert engine.metrics_of("orders").delivered == 3
        assert [(s.name, s.state) for s in engine.status()] == [("orders", "running")]
        assert await engine.lag("orders") == 0


async def test_deliveries_carry_the_target_systems_credential(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = "key-" + uuid.uuid4().hex
    env.secrets = SecretSource(
        environ={"INTERLINK_SECRET_HOOK_SECRET": SECRET, "INTERLINK_SECRET_HOOKS_KEY": key}
    )
    async with receiver(env) as rx:
        env.write(
            {"hooks": rx.url + "/api", "keyed": rx.url, "open": rx.url},
            [
                subscription("bearer", {"system": "hooks", "path": "/in?x=1"}),
                subscription("query", {"system": "keyed", "path": "/q?key=old&y=2"}),
                subscription("none", {"system": "open", "path": "/none"}),
            ],
            credentials={
                "hooks": {"scheme": "bearer", "token": "${secret:hooks-key}"},
                "keyed": {"scheme": "query", "name": "key", "value": "${secret:hooks-key}"},
            },
        )
        await env.start()
        await env.publish(envelope("o-1"))
        await rx.wait_delivered(3)
        by_path = {r.path: r for r in rx.delivered}
        assert all(r.verified for r in rx.delivered)
        assert by_path["/api/in"].headers["authorization"] == f"Bearer {key}"
        assert by_path["/api/in"].query == "x=1"
        assert by_path["/q"].query == f"y=2&key={key}"
        assert "authorization" not in by_path["/q"].headers
        assert "authorization" not in by_path["/none"].headers
        assert by_path["/none"].query == ""
    assert key not in caplog.text


async def test_retries_follow_the_schedule_exactly(env: Env) -> None:
    async with receiver(env) as rx:
        rx.fail(3, status=500, body=b"try later")
        env.write({"hooks": rx.url}, [subscription("orders", {"system": "hooks"})])
        engine = await env.start()
        attempts = recorded("Subscription", "orders")
        await env.publish(envelope("o-1"))
        expected = [T0]
        await until(lambda: len(rx.requests) == 1)
        for wait in (5, 300, 1800):
            await settled(engine, "orders")
            env.clock.advance(wait - 1)
            await quiet(0.05)
            assert len(rx.requests) == len(expected), "sent before it was due"
            env.clock.advance(1)
            expected.append(expected[-1] + timedelta(seconds=wait))
            await until(lambda: len(rx.requests) == len(expected))
        assert [r.at for r in rx.requests] == expected
        assert [r.status for r in rx.requests] == [500, 500, 500, 204]
        assert {r.event_id for r in rx.requests} == {"o-1"}
        assert len({r.webhook_id for r in rx.requests}) == 1  # stable across retries
        await settled(engine, "orders")
        stats = engine.metrics_of("orders")
        assert (stats.delivered, stats.failed, stats.retries) == (1, 3, 3)
        assert recorded("Subscription", "orders") - attempts == 4  # the monitors' signals


async def test_jittered_retry_stays_in_its_band(env: Env) -> None:
    async with receiver(env) as rx:
        rx.fail(1)
        sub = subscription(
            "orders", {"system": "hooks"}, retry={"schedule": ["100s"], "jitter": 0.5}
        )
        env.write({"hooks": rx.url}, [sub])
        engine = await env.start()
        await env.publish(envelope("o-1"))
        await until(lambda: len(rx.requests) == 1)
        await settled(engine, "orders")
        row = await env.queue.get("orders:1")
        assert T0 + timedelta(seconds=50) <= row.next_at <= T0 + timedelta(seconds=150)
        env.clock.advance_to(row.next_at)
        await rx.wait_delivered(1)
        assert rx.delivered[0].at == row.next_at


@pytest.mark.parametrize(
    ("status", "retry_after", "seconds"),
    [
        (429, "120", 120),
        (503, format_datetime(T0 + timedelta(seconds=600), usegmt=True), 600),
        (429, "9999999", 86_400),  # at most a day
    ],
)
async def test_retry_after_sets_the_next_attempt(
    env: Env, status: int, retry_after: str, seconds: int
) -> None:
    async with receiver(env) as rx:
        rx.throttle(retry_after, status=status)
        env.write({"hooks": rx.url}, [subscription("orders", {"system": "hooks"})])
        engine = await env.start()
        await env.publish(envelope("o-1"))
        await until(lambda: len(rx.requests) == 1)
        await settled(engine, "orders")
        row = await env.queue.get("orders:1")
        assert (row.next_at, row.attempt, row.last_status) == (
            T0 + timedelta(seconds=seconds),
            1,
            status,
        )
        env.clock.advance(seconds - 1)
        await quiet(0.05)
        assert len(rx.requests) == 1
        env.clock.advance(1)
        await rx.wait_delivered(1)
        assert rx.delivered[0].at == T0 + timedelta(seconds=seconds)


async def test_throttling_holds_the_whole_subscription(env: Env) -> None:
    async with receiver(env) as rx:
        rx.throttle("60")
        sub = subscription("orders", {"system": "hooks"}, maxInFlight=1)
        env.write({"hooks": rx.url}, [sub])
        await env.start()
        await env.publish(envelope("o-1"), envelope("o-2"))
        await until(lambda: len(rx.requests) == 1)
        await quiet()
        assert len(rx.requests) == 1  # o-2 waits too
        env.clock.advance(60)
        await rx.wait_delivered(2)


async def test_gone_disables_notifies_and_survives_a_restart(env: Env) -> None:
    async with receiver(env) as rx:
        rx.gone(times=1)
        sub = subscription("orders", {"system": "hooks", "path": "/x"}, maxInFlight=1)
        env.write({"hooks": rx.url}, [sub])
        notifier = LogNotifier()
        engine = await env.start(notifier=notifier)
        await env.publish(envelope("o-1"), envelope("o-2"))
        await until(lambda: bool(notifier.recent()))
        [notice] = notifier.recent()
        assert (notice.kind, notice.subject, notice.team) == (
            "subscription-disabled",
            "Subscription/orders",
            "ops",
        )
        assert [c.to for c in notice.channels] == ["ops@example.com"]
        assert "410" in notice.summary
        assert [(s.state, s.reason) for s in engine.status()] == [
            ("disabled", "System/hooks /x answered 410 Gone")
        ]
        await env.publish(envelope("o-3"))
        await quiet()
        assert [r.status for r in rx.requests] == [410]

        await env.restart()
        engine = await env.start()
        await quiet()
        assert engine.status()[0].state == "disabled"
        assert len(rx.requests) == 1
        assert await engine.lag("orders") == 3

        assert await engine.enable("orders")
        await rx.wait_delivered(3)
        assert sorted(map(str, rx.delivered_ids())) == ["o-1", "o-2", "o-3"]
        assert not await engine.enable("orders")
        assert (await env.queue.disabled()) == {}


async def test_exhausted_deliveries_go_to_the_dead_letter_queue(env: Env) -> None:
    async with receiver(env) as rx:
        rx.fail(None, status=422, body=b"bad address " * 1000)
        sub = subscription("orders", {"system": "hooks"}, retry={"schedule": ["5s"], "jitter": 0})
        env.write({"hooks": rx.url}, [sub])
        engine = await env.start()
        await env.publish(envelope("o-1"), envelope("o-2"))
        await until(lambda: len(rx.requests) == 2)
        await settled(engine, "orders")
        env.clock.advance(5)
        await until(lambda: len(rx.requests) == 4)
        await settled(engine, "orders")
        page = await env.queue.list_dead("orders")
        assert [d.id for d in page.items] == ["orders:1", "orders:2"]
        dead = page.items[0]
        assert (dead.attempt, dead.last_status, dead.last_error) == (2, 422, "HTTP 422")
        assert dead.last_response is not None
        assert dead.last_response.startswith("bad address bad address")
        assert len(dead.last_response) == 4097
        await engine.refresh_stats()
        stats = engine.metrics_of("orders")
        assert (stats.dead_lettered, stats.dlq_depth, stats.queue_depth) == (2, 2, 0)
        assert "interlink_delivery_dlq_depth" in engine.metrics.registry.render()

        # Fixed receiver: a dead letter retried is delivered; a discarded one is gone.
        rx.clear()
        assert await engine.retry(["orders:1"]) == 1
        await rx.wait_delivered(1)
        assert rx.delivered_ids() == ["o-1"]
        assert await engine.discard(["orders:2"]) == 1
        assert (await env.queue.list_dead("orders")).items == []
        assert await env.queue.depth("orders") == 0


async def test_retry_all_sends_every_dead_letter_again(env: Env) -> None:
    async with receiver(env) as rx:
        rx.fail(3)
        sub = subscription("orders", {"system": "hooks"}, retry={"schedule": [], "jitter": 0})
        env.write({"hooks": rx.url}, [sub])
        engine = await env.start()
        await env.publish(envelope("o-1"), envelope("o-2"), envelope("o-3"))
        await until(lambda: len(rx.requests) == 3)
        await settled(engine, "orders")
        assert await env.queue.dlq_depth("orders") == 3
        assert await engine.retry_all("orders") == 3
        await rx.wait_delivered(3)


async def test_without_dead_letters_exhausted_deliveries_are_dropped_and_logged(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "interlink.events.delivery")
    async with receiver(env) as rx:
        rx.fail(None)
        sub = subscription("orders", {"system": "hooks"}, retry={"schedule": []}, deadLetter=False)
        env.write({"hooks": rx.url}, [sub])
        engine = await env.start()
        await env.publish(envelope("o-1"))
        await until(lambda: len(rx.requests) == 1)
        await settled(engine, "orders")
        assert await env.queue.dlq_depth("orders") == 0
        assert await env.queue.depth("orders") == 0
        assert engine.metrics_of("orders").dropped == 1
        assert any("o-1 dropped after 1 attempts" in r.getMessage() for r in caplog.records)


# --- replay ------------------------------------------------------------------------------------


async def test_replay_from_a_sequence_and_from_a_time(env: Env) -> None:
    async with receiver(env) as rx:
        env.write({"hooks": rx.url}, [subscription("orders", {"system": "hooks"})])
        engine = await env.start()
        await env.publish(*(envelope(f"early-{n}") for n in range(3)))
        await rx.wait_delivered(3)
        env.clock.advance(3600)
        await env.publish(*(envelope(f"late-{n}") for n in range(2)))
        await rx.wait_delivered(5)

        seen: list[ReplayProgress] = []
        result = await engine.replay("orders", 2, progress=seen.append)
        assert (result.read, result.enqueued, result.position, result.last) == (4, 4, 5, 5)
        assert seen[-1].done
        await until(lambda: rx.counts["duplicates"] == 4)
        replayed = [r.event_id for r in rx.requests if r.duplicate]
        assert sorted(map(str, replayed)) == ["early-1", "early-2", "late-0", "late-1"]
        assert all(r.verified for r in rx.requests)

        result = await engine.replay("orders", T0 + timedelta(minutes=30))
        assert result.enqueued == 2
        await until(lambda: rx.counts["duplicates"] == 6)

        bounded = await engine.replay("orders", 1, 2)
        assert (bounded.read, bounded.enqueued) == (2, 2)
        await until(lambda: rx.counts["duplicates"] == 8)
        await settled(engine, "orders")
        assert await env.queue.depth("orders") == 0


async def test_replay_applies_the_filter(env: Env) -> None:
    async with receiver(env) as rx:
        sub = subscription("vip", {"system": "hooks"}, filter={"attributes": {"subject": "vip"}})
        env.write({"hooks": rx.url}, [sub])
        engine = await env.start()
        await env.publish(envelope("a", subject="vip"), envelope("b"), envelope("c", subject="vip"))
        await rx.wait_delivered(2)
        result = await engine.replay("vip", 1)
        assert (result.read, result.enqueued) == (3, 2)


# --- filters, ordering, concurrency ------------------------------------------------------------


async def test_filters_by_attribute_and_jsonata(env: Env) -> None:
    async with receiver(env) as vip_rx, receiver(env) as big_rx:
        env.write(
            {"vip": vip_rx.url, "big": big_rx.url},
            [
                subscription("vip", {"system": "vip"}, filter={"attributes": {"subject": "vip"}}),
                subscription("big", {"system": "big"}, filter={"jsonata": "data.total > 100"}),
            ],
        )
        engine = await env.start()
        await env.publish(
            envelope("small-vip", subject="vip", total=5),
            envelope("big-plain", total=500),
            envelope("big-vip", subject="vip", total=900),
            envelope("odd", total="not a number"),
        )
        await vip_rx.wait_delivered(2)
        await big_rx.wait_delivered(2)
        await quiet()
        assert sorted(map(str, vip_rx.delivered_ids())) == ["big-vip", "small-vip"]
        assert sorted(map(str, big_rx.delivered_ids())) == ["big-plain", "big-vip"]
        assert engine.metrics_of("vip").filtered == 2
        assert engine.metrics_of("big").filtered == 2


async def test_one_failing_key_holds_only_its_own_later_events(env: Env) -> None:
    async with receiver(env) as rx:
        rx.fail(1, when=lambda r: r.event_id == "a1")
        env.write({"hooks": rx.url}, [subscription("orders", {"system": "hooks"}, ordered=True)])
        engine = await env.start()
        await env.publish(
            envelope("a1", "A"), envelope("b1", "B"), envelope("a2", "A"), envelope("b2", "B")
        )
        await rx.wait_delivered(2)
        await settled(engine, "orders")
        await quiet()
        assert rx.delivered_ids() == ["b1", "b2"]
        assert [r.event_id for r in rx.requests] == ["a1", "b1", "b2"]
        env.clock.advance(5)
        await rx.wait_delivered(4)
        assert rx.delivered_ids() == ["b1", "b2", "a1", "a2"]


async def test_max_in_flight_bounds_concurrent_requests(env: Env) -> None:
    async with receiver(env, default=Reply(delay=0.03)) as rx:
        env.write({"hooks": rx.url}, [subscription("orders", {"system": "hooks"}, maxInFlight=3)])
        await env.start()
        await env.publish(*(envelope(f"o-{n}") for n in range(15)))
        await rx.wait_delivered(15)
        assert rx.max_concurrency == 3


async def test_a_hanging_receiver_does_not_delay_another_subscription(env: Env) -> None:
    async with receiver(env) as slow, receiver(env) as fast:
        slow.hang()
        env.write(
            {"slow": slow.url, "fast": fast.url},
            [
                subscription("slow", {"system": "slow"}, maxInFlight=4, timeout="30s"),
                subscription("fast", {"system": "fast"}),
            ],
        )
        engine = await env.start()
        await env.publish(*(envelope(f"o-{n}") for n in range(4)))
        await until(lambda: slow.active == 4)  # its maxInFlight, all hanging
        await env.publish(*(envelope(f"o-{n}") for n in range(4, 24)))
        await fast.wait_delivered(24, timeout=3)
        assert slow.active == 4
        assert engine.workers["slow"].in_flight == 4
        assert slow.delivered == []
        slow.release()
        await slow.wait_delivered(24)


async def test_a_receiver_that_never_answers_times_out_and_is_retried(env: Env) -> None:
    async with receiver(env) as rx:
        rx.hang(times=1)
        sub = subscription("orders", {"system": "hooks"}, timeout="200ms")
        env.write({"hooks": rx.url}, [sub])
        engine = await env.start()
        await env.publish(envelope("o-1"))
        await until(lambda: engine.metrics_of("orders").failed == 1)
        row = await env.queue.get("orders:1")
        assert row.last_error == "no answer within 0.2s"
        env.clock.advance(5)
        await rx.wait_delivered(1)


# --- restarts ----------------------------------------------------------------------------------


async def test_a_restart_resumes_pending_retries_without_loss(env_any: Env) -> None:
    env = env_any
    async with receiver(env) as rx:
        rx.fail(1, when=lambda r: r.event_id == "o-1")
        env.write({"hooks": rx.url}, [subscription("orders", {"system": "hooks"})])
        engine = await env.start()
        await env.publish(envelope("o-1"), envelope("o-2"))
        await rx.wait_delivered(1)
        await settled(engine, "orders")

        await env.restart()
        await env.publish(envelope("o-3"))  # published while no engine ran
        engine = await env.start()
        await rx.wait_delivered(2)
        env.clock.advance(5)
        await rx.wait_delivered(3)
        await settled(engine, "orders")
        assert sorted(map(str, rx.delivered_ids())) == ["o-1", "o-2", "o-3"]
        assert rx.counts["duplicates"] == 0
        assert await env.queue.depth("orders") == 0


async def test_attempts_cut_off_by_a_stop_are_sent_again_after_the_restart(env: Env) -> None:
    async with receiver(env) as rx:
        rx.hang(times=1)
        env.write({"hooks": rx.url}, [subscription("orders", {"system": "hooks"})])
        await env.start()
        await env.publish(envelope("o-1"))
        await until(lambda: rx.active == 1)
        await env.restart()  # the hanging attempt is cut off after the grace period
        await env.start()
        await rx.wait_delivered(1)
        await settled(env.engines[-1], "orders")
        assert await env.queue.depth("orders") == 0


# --- targets and secrets -------------------------------------------------------------------------


async def test_rotating_secrets_sign_with_each(env: Env) -> None:
    new = generate_secret()
    env.secrets = SecretSource(environ={"INTERLINK_SECRET_HOOK_SECRET": f"{SECRET}  {new}"})
    async with receiver(env, secret=new) as rx_new, receiver(env, secret=SECRET) as rx_old:
        env.write(
            {"new": rx_new.url, "old": rx_old.url},
            [subscription("new", {"system": "new"}), subscription("old", {"system": "old"})],
        )
        await env.start()
        await env.publish(envelope("o-1"))
        await rx_new.wait_delivered(1)
        await rx_old.wait_delivered(1)
        signature = rx_new.delivered[0].headers["webhook-signature"]
        assert len(signature.split()) == 2


async def test_wrong_secret_is_refused_by_the_receiver_and_retried(env: Env) -> None:
    async with receiver(env, secret=generate_secret()) as rx:
        env.write({"hooks": rx.url}, [subscription("orders", {"system": "hooks"})])
        engine = await env.start()
        await env.publish(envelope("o-1"))
        await until(lambda: engine.metrics_of("orders").retries == 1)
        assert [(r.verified, r.status) for r in rx.requests] == [(False, 401)]


async def test_handlers_receive_the_event_and_failures_retry(env: Env) -> None:
    got: list[dict[str, Any]] = []
    calls = {"n": 0}

    def plain(event: dict[str, Any]) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database down")
        got.append(event)

    async def coroutine(event: dict[str, Any]) -> None:
        got.append(event)

    env.write(
        {},
        [
            subscription("plain", {"handler": "plain"}),
            subscription("coro", {"handler": "coro"}),
        ],
    )
    engine = await env.start(handlers={"plain": plain, "coro": coroutine})
    await env.publish(envelope("o-1"))
    await until(lambda: len(got) == 1)
    await until(lambda: engine.metrics_of("plain").retries == 1)
    row = await env.queue.get("plain:1")
    assert row.last_error == "RuntimeError: database down"
    env.clock.advance(5)
    await until(lambda: len(got) == 2)
    assert [e["id"] for e in got] == ["o-1", "o-1"]
    assert got[0]["type"] == TYPE


async def test_handlers_are_found_through_entry_points(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    (site / "audit_pkg").mkdir(parents=True)
    (site / "audit_pkg" / "__init__.py").write_text(
        "SEEN = []\n\nasync def handle(event):\n    SEEN.append(event['id'])\n"
    )
    info = site / "audit_pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: audit-pkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[interlink.handlers]\naudit = audit_pkg:handle\n")
    monkeypatch.syspath_prepend(str(site))
    env.write(
        {}, [subscription("audit", {"handler": "audit"}), subscription("nope", {"handler": "nope"})]
    )
    engine = await env.start()
    await env.publish(envelope("o-1"))
    module = sys.modules.get("audit_pkg")
    await until(lambda: module is not None and module.SEEN == ["o-1"])
    states = {s.name: (s.state, s.reason) for s in engine.status()}
    assert states["audit"] == ("running", None)
    assert states["nope"][0] == "failed"
    assert "no handler 'nope'" in (states["nope"][1] or "")


async def test_a_flow_target_records_one_run_per_event_through_start_flow(env: Env) -> None:
    started: list[tuple[str, str, str, Any]] = []
    fails = {"n": 1}

    class Starter:
        def refusal(self, flow: str) -> str | None:
            return None

        async def record(self, flow: str, run_id: str, trigger: str, data: Any) -> None:
            if fails["n"]:
                fails["n"] -= 1
                raise RuntimeError("store away")
            started.append((flow, run_id, trigger, data))

    env.write({}, [subscription("to-flow", {"flow": "sync"})], flows=["sync"])
    engine = await env.start(start_flow=Starter())
    assert [(s.name, s.state) for s in engine.status()] == [("to-flow", "running")]
    await env.publish(envelope("o-1", n=1))
    await until(lambda: engine.metrics_of("to-flow").retries == 1)
    row = await env.queue.get("to-flow:1")
    assert row.last_error == "Flow/sync: store away"
    env.clock.advance(5)
    await until(lambda: len(started) == 1)
    ((flow, run_id, trigger, data),) = started
    assert (flow, trigger, data) == ("sync", "event:to-flow:o-1", {"n": 1})
    assert run_id == event_run_id("to-flow", "o-1")
    assert run_id != event_run_id("other", "o-1")


async def test_a_flow_target_that_cannot_start_fails_and_says_why(env: Env) -> None:
    class Refusing:
        def refusal(self, flow: str) -> str | None:
            return f"Flow/{flow} cannot run: its step once (idempotency) does not run yet"

        async def record(self, flow: str, run_id: str, trigger: str, data: Any) -> None:
            raise AssertionError("not called")

    env.write({}, [subscription("to-flow", {"flow": "sync"})], flows=["sync"])
    engine = await env.start()
    assert [(s.name, s.state, s.reason) for s in engine.status()] == [
        ("to-flow", "failed", "Flow/sync cannot run here: this process runs no flows")
    ]
    refusing = await env.start(start_flow=Refusing())
    assert [(s.name, s.state, s.reason) for s in refusing.status()] == [
        ("to-flow", "failed", "Flow/sync cannot run: its step once (idempotency) does not run yet")
    ]


async def test_a_subscription_that_cannot_compile_does_not_stop_the_others(env: Env) -> None:
    env.secrets = SecretSource(
        environ={"INTERLINK_SECRET_HOOK_SECRET": SECRET, "HOOK_URL": "ftp://files.example"}
    )
    async with receiver(env) as rx:
        env.write(
            {"hooks": rx.url, "broken": "${env:HOOK_URL}"},
            [
                subscription("good", {"system": "hooks"}),
                subscription("bad", {"system": "broken"}),
                subscription("nosecret", {"system": "hooks"}, secret="${secret:missing}"),
            ],
        )
        engine = await env.start()
        states = {s.name: s for s in engine.status()}
        assert states["good"].state == "running"
        assert states["bad"].state == "failed"
        assert "http(s)" in (states["bad"].reason or "")
        assert states["nosecret"].state == "failed"
        assert "secret 'missing' is not set" in (states["nosecret"].reason or "")
        await env.publish(envelope("o-1"))
        await rx.wait_delivered(1)


async def test_the_httpx_client_can_be_plugged_in(env: Env) -> None:
    async with receiver(env) as rx:
        rx.fail(1, body=b"nope")
        env.write({"hooks": rx.url}, [subscription("orders", {"system": "hooks"})])
        engine = await env.start(client_factory=HttpxClient, registry=Registry())
        await env.publish(envelope("o-1"))
        await until(lambda: engine.metrics_of("orders").retries == 1)
        assert (await env.queue.get("orders:1")).last_response == "nope"
        env.clock.advance(5)
        await rx.wait_delivered(1)
        assert rx.delivered[0].verified


async def test_store_failures_are_retried_without_losing_or_repeating(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_complete, real_enqueue = env.queue.complete, env.queue.enqueue
    failures = {"complete": 2, "enqueue": 1}

    async def complete(outcomes: Any, now: Any, **kwargs: Any) -> None:
        if failures["complete"]:
            failures["complete"] -= 1
            raise StoreUnavailable("database is locked")
        await real_complete(outcomes, now, **kwargs)

    async def enqueue(*args: Any, **kwargs: Any) -> int:
        if failures["enqueue"]:
            failures["enqueue"] -= 1
            raise StoreUnavailable("database is locked")
        return await real_enqueue(*args, **kwargs)

    monkeypatch.setattr(env.queue, "complete", complete)
    monkeypatch.setattr(env.queue, "enqueue", enqueue)
    async with receiver(env) as rx:
        env.write({"hooks": rx.url}, [subscription("orders", {"system": "hooks"})])
        engine = await env.start(settings=replace(FAST, error_pause=0.01))
        await env.publish(envelope("o-1"), envelope("o-2"))
        await rx.wait_delivered(2)
        await settled(engine, "orders")
        assert failures == {"complete": 0, "enqueue": 0}
        assert await env.queue.depth("orders") == 0
        assert len(rx.requests) == 2  # each sent once


async def test_reload_starts_stops_and_restarts_only_what_changed(env: Env) -> None:
    async with receiver(env) as rx:
        env.write(
            {"hooks": rx.url},
            [
                subscription("kept", {"system": "hooks", "path": "/kept"}),
                subscription("moved", {"system": "hooks", "path": "/old"}),
                subscription("dropped", {"system": "hooks", "path": "/dropped"}),
            ],
        )
        engine = await env.start()
        kept = engine.workers["kept"]
        await env.publish(envelope("o-1"))
        await rx.wait_delivered(3)

        estate = env.write(
            {"hooks": rx.url},
            [
                subscription("kept", {"system": "hooks", "path": "/kept"}),
                subscription("moved", {"system": "hooks", "path": "/new"}),
                subscription("added", {"system": "hooks", "path": "/added"}),
            ],
        )
        topology = topology_of(estate)
        await env.bus.ensure(topology.streams, topology.consumers)
        await engine.reload(estate)
        assert engine.workers["kept"] is kept
        assert sorted(engine.workers) == ["added", "kept", "moved"]
        await env.publish(envelope("o-2"))
        await rx.wait_delivered(6)
        paths = sorted(r.path for r in rx.delivered if r.event_id == "o-2")
        assert paths == ["/added", "/kept", "/new"]
        assert [s.name for s in engine.status()] == ["added", "kept", "moved"]
