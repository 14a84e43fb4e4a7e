"""Throughput of event ingestion checks on the retail example's customer.address-updated event.

    .venv/bin/python bench/events_validation.py [--seconds 2]

Reports events per second on one core for each stage, and end to end:

- ``check``: ``EventRegistry.check`` on an already parsed event (schema validation, the
  structured body, the ordering key);
- ``parse structured``, ``parse binary``: ``parse_structured`` and ``parse_binary`` alone;
- ``structured + check``, ``binary + check``: what an ingress does per event;
- ``batch of 100 + check``: ``parse_batch`` and a check per event, counted per event;
- ``check (invalid)``: an event that fails three rules, so the errors are collected.

The target is 50,000 events/s per core for ``check``; figures are reported, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import interlink.examples
from interlink.errors import InvalidEventData
from interlink.estate.check import check_estate
from interlink.events.cloudevents import parse_batch, parse_binary, parse_structured
from interlink.events.validation import EventRegistry

TARGET = 50_000
RETAIL = Path(interlink.examples.__file__).parent / "retail"

DATA: dict[str, Any] = {
    "customerId": "C004211",
    "address": {
        "street": "12 Harbour Road",
        "city": "Portsmouth",
        "postalCode": "PO1 3AX",
        "country": "GB",
    },
    "changedAt": "2024-05-01T12:30:00Z",
    "changedBy": "crm-sync",
}
EVENT: dict[str, Any] = {
    "specversion": "1.0",
    "id": "4f8c2d0e-8d3b-4a51-9a55-0c1d6f1e2b7a",
    "source": "https://crm.example.com/customers",
    "type": "customer.address-updated",
    "time": "2024-05-01T12:30:00Z",
    "datacontenttype": "application/json",
    "dataschema": "https://schemas.example.com/retail/customer.address-updated/v2",
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "data": DATA,
}
HEADERS = {
    "ce-specversion": "1.0",
    "ce-id": EVENT["id"],
    "ce-source": EVENT["source"],
    "ce-type": EVENT["type"],
    "ce-time": EVENT["time"],
    "ce-dataschema": EVENT["dataschema"],
    "ce-traceparent": EVENT["traceparent"],
    "content-type": "application/json",
}


def rate(label: str, seconds: float, per_call: int, call: Callable[[], object]) -> float:
    for _ in range(200):  # warm up
        call()
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            call()
        calls += 100
    elapsed = time.perf_counter() - start
    per_second = calls * per_call / elapsed
    print(f"{label:<24} {per_second:>12,.0f} events/s   {1e6 / per_second:6.1f} µs/event")
    return per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()

    result = check_estate(RETAIL)
    assert result.ok, "the retail example must check clean"
    start = time.perf_counter()
    registry = EventRegistry.from_estate(result.estate)
    compiled = sum(len(t.versions) for t in registry.types.values())
    print(f"compile: {compiled} schemas in {(time.perf_counter() - start) * 1000:.2f} ms")

    structured = json.dumps(EVENT).encode()
    binary_body = json.dumps(DATA).encode()
    batch = json.dumps([dict(EVENT, id=f"e{i}") for i in range(100)]).encode()
    event = parse_structured(structured)
    bad_data = dict(DATA, customerId="X1", changedAt="yesterday")
    bad = parse_structured(json.dumps(dict(EVENT, data=bad_data)).encode())

    def check_invalid() -> None:
        with contextlib.suppress(InvalidEventData):
            registry.check(bad)

    def batch_and_check() -> None:
        for item in parse_batch(batch):
            registry.check(item)

    print(f"body: {len(structured)} bytes structured, {len(binary_body)} bytes binary data")
    checked = rate("check", args.seconds, 1, lambda: registry.check(event))
    rate("parse structured", args.seconds, 1, lambda: parse_structured(structured))
    rate("parse binary", args.seconds, 1, lambda: parse_binary(HEADERS, binary_body))
    rate(
        "structured + check",
        args.seconds,
        1,
        lambda: registry.check(parse_structured(structured)),
    )
    rate(
        "binary + check",
        args.seconds,
        1,
        lambda: registry.check(parse_binary(HEADERS, binary_body)),
    )
    rate("batch of 100 + check", args.seconds, 100, batch_and_check)
    rate("check (invalid)", args.seconds, 1, check_invalid)
    verdict = "meets" if checked >= TARGET else "misses"
    print(f"check {verdict} the target of {TARGET:,} events/s per core")


if __name__ == "__main__":
    main()
