"""`interlink serve --workers 2` with `telemetry.otlpEndpoint`: each worker process exports the
spans of the requests it served itself, the caller's trace continued to the upstream."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from interlink.testing.otlp import OtlpReceiver
from interlink.testing.processes import InterlinkProcess, free_port
from interlink.testing.upstreams import UpstreamThread
from tests.unit.gateway.helpers import route, write_estate

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def upstream() -> Iterator[UpstreamThread]:
    with UpstreamThread() as up:
        yield up


def test_every_worker_exports_its_own_requests_spans(
    tmp_path: Path, upstream: UpstreamThread
) -> None:
    with OtlpReceiver() as otlp:
        telemetry = {"otlpEndpoint": otlp.url, "serviceName": "shop"}
        root = write_estate(
            tmp_path / "estate",
            {"crm": upstream.url},
            [route("crm", "/crm", "crm")],
            platform={"telemetry": telemetry},
        )
        port = free_port()
        args = ["serve", str(root), "--workers", "2", "--gateway-listen", f"127.0.0.1:{port}"]
        proc = InterlinkProcess([*args, "--admin-listen", f"127.0.0.1:{free_port()}"]).start()
        try:
            proc.wait_for(r"gateway on http://(\S+)")
            told = set()
            for n in range(8):  # a new connection each: the kernel spreads them over the workers
                parent = f"00-{TRACE}-{n + 1:016x}-01"
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/crm/{n}", headers={"traceparent": parent}
                )
                assert answer.status_code == 200
                told.add(answer.json()["headers"]["traceparent"])
            spans = otlp.wait_for(lambda s: len(s) >= 16)
        finally:
            proc.stop()
    upstream_spans = [s for s in spans if s.name == "upstream crm"]
    assert told == {f"00-{TRACE}-{s.span_id}-01" for s in upstream_spans}
    assert {s.trace_id for s in spans} == {TRACE}
    assert {s.resource["service.name"] for s in spans} == {"shop"}
    # Each worker is its own instance: the host and its pid.
    instances = {s.resource["service.instance.id"] for s in spans}
    assert 1 <= len(instances) <= 2
    assert all(":" in i for i in instances)
