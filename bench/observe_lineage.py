"""The cost of record-level lineage: event throughput with it on and off, in one run.

    .venv/bin/python bench/observe_lineage.py [--events 20000] [--rounds 3]

One real ``interlink serve`` (embedded backend, SQLite store) runs an estate with two Event
types that differ only in one thing: ``bench.subject`` declares ``subject: {type: customer,
key: data.customerId}``, ``bench.plain`` declares none. Each has a signed Subscription to the
same receiver in this process. A round publishes ``--events`` events of one type with the
batching ``AsyncPublisher`` and times publish to last delivery; rounds alternate plain and
subject ``--rounds`` times each, so both see the same machine, with a pause after each round
for the recorder's last flush of it (rounds of several seconds keep that tail, written outside
the timing, a small part). Lineage on records two hops
per event (published, delivered), buffered and written in batches every second. Both types
have ``orderingKey: customerId``, the subject's key too, as is usual: a delivery then takes the
key from the queued job rather than parsing the event again.

Printed: each side's best and range of events/s, and the ratio of the bests (on / off); the
target is a cost of at most 10 % (ratio >= 0.90).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

import events
from interlink.events.signing import generate_secret
from interlink.sdk import AsyncPublisher
from interlink.store import default_store_url, open_store
from interlink.store.lineage_rows import hops_in

PLAIN = "bench.plain"
SUBJECT = "bench.subject"
TARGET = 0.90
#: Whose data an event carries, and where its key is (bench/observe_traces.py --lineage too).
SUBJECT_SPEC = {"type": "customer", "key": "data.customerId"}


def write_estate(root: Path, receiver_url: str) -> None:
    root.mkdir(parents=True)
    (root / "address.schema.json").write_text(json.dumps(events.SCHEMA))

    def obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        meta = {"name": name, "owner": "ops"}
        return {"apiVersion": "interlink/v1", "kind": kind, "metadata": meta, "spec": spec}

    def event(subject: bool) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "system": "crm",
            "schemas": [{"version": 1, "file": "address.schema.json"}],
            "classification": {"level": "confidential"},
            "orderingKey": "customerId",
        }
        if subject:
            spec["subject"] = dict(SUBJECT_SPEC)
        return spec

    def subscription(name: str, type_: str) -> dict[str, Any]:
        return obj(
            "Subscription",
            name,
            {
                "event": type_,
                "target": {"system": "sink", "path": "/hooks"},
                "secret": "${secret:bench-secret}",
                "maxInFlight": 64,
            },
        )

    docs = [
        obj("Platform", "bench", {"events": {"backend": "embedded"}}),
        obj("Team", "ops", {}),
        obj("System", "crm", {"domain": "sales", "baseUrl": "http://127.0.0.1:9"}),
        obj("System", "sink", {"domain": "ops", "baseUrl": receiver_url}),
        obj("Event", PLAIN, event(False)),
        obj("Event", SUBJECT, event(True)),
        obj("Plan", "internal", {"limits": [{"requests": 100000, "per": "1s"}]}),
        obj(
            "Consumer",
            "bench-publisher",
            {"type": "internal", "plan": "internal", "scopes": ["events:publish:*"]},
        ),
        subscription("plain-sink", PLAIN),
        subscription("subject-sink", SUBJECT),
    ]
    (root / "estate.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))


async def one_round(
    gateway: str, key: str, receiver: events.ThreadReceiver, type_: str, count: int, offset: int
) -> float:
    """Events of ``type_`` a second, from the first publish to the last delivery."""
    delivered = receiver.receiver.delivered
    wanted = len(delivered) + count
    async with AsyncPublisher(gateway, source="bench", key=key) as publisher:
        batch = [publisher.event(type_, events.data(offset + n)) for n in range(count)]
        began = time.perf_counter()
        await publisher.publish_many(batch)
        deadline = time.monotonic() + 120
        while len(delivered) < wanted:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(delivered) - wanted + count} of {count} delivered")
            await asyncio.sleep(0.005)
        return count / (time.perf_counter() - began)


async def measure(args: argparse.Namespace, tmp: Path) -> None:
    secret = generate_secret()
    receiver = events.ThreadReceiver(secret)
    write_estate(tmp / "estate", receiver.url)
    served = events.serve(tmp / "estate", secret)
    rates: dict[str, list[float]] = {PLAIN: [], SUBJECT: []}
    try:
        for type_ in (PLAIN, SUBJECT):  # warm both paths once, not counted
            await one_round(served.gateway, served.key, receiver, type_, 500, 0)
        offset = 1000
        for _ in range(args.rounds):
            for type_ in (PLAIN, SUBJECT):
                rate = await one_round(
                    served.gateway, served.key, receiver, type_, args.events, offset
                )
                rates[type_].append(rate)
                offset += args.events
                # The hops of the round's last second are written by the next flush: let it
                # happen now, not in the next round (a plain one would pay for it).
                await asyncio.sleep(1.5)
    finally:
        served.proc.stop()
        receiver.stop()
    with open_store(default_store_url(tmp / "estate")) as store, store.db.session() as session:
        rows = session.fetchall("SELECT hops FROM lineage_trails")
    hops = sum(len(hops_in(text)) for (text,) in rows)
    expected = 2 * (500 + args.rounds * args.events)  # published and delivered, per event
    if hops != expected:
        raise SystemExit(f"lineage recorded {hops} hops, not {expected}: the bench is wrong")
    off, on = max(rates[PLAIN]), max(rates[SUBJECT])
    for label, type_ in (("lineage off", PLAIN), ("lineage on ", SUBJECT)):
        got = rates[type_]
        print(
            f"{label}: best {max(got):,.0f} events/s published -> delivered "
            f"(range {min(got):,.0f}-{max(got):,.0f}, {len(got)} rounds of {args.events:,})"
        )
    verdict = "meets" if on / off >= TARGET else "BELOW"
    print(
        f"ratio on/off {on / off:.2f} ({verdict} the {TARGET:.2f} target: at most 10 % cost); "
        f"{hops:,} hops recorded"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(measure(args, Path(tmp)))


if __name__ == "__main__":
    main()
