"""REST-to-event and flow routes: where they can be served, and the small formats they use."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from interlink.estate.check import check_estate
from interlink.events.ingress import EventIngress
from interlink.flows.engine import FlowEngine
from interlink.gateway import compile_gateway
from interlink.gateway.publish_route import is_json, rfc3339
from interlink.gateway.services import GatewayServices
from tests.unit.gateway.helpers import write_estate


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"application/json", True),
        (b"Application/JSON; charset=utf-8", True),
        (b"application/merge-patch+json", True),
        (b"text/json", False),
        (b"text/plain", False),
        (None, False),
    ],
)
def test_json_media_types(value: bytes | None, expected: bool) -> None:
    assert is_json(value) is expected


def test_event_time_is_rfc3339_utc() -> None:
    assert rfc3339(1_814_313_600.25) == "2027-06-30T00:00:00.250Z"


def test_without_an_event_mesh_the_route_is_not_served(retail_dir: Path) -> None:
    estate = check_estate(retail_dir).estate
    reasons = {u.route: u.reason for u in compile_gateway(estate).unserved}
    assert reasons["address-changes"] == (
        "publishes event customer.address-updated, but this gateway process reaches no event mesh"
    )


def test_with_an_event_mesh_the_route_is_served_without_upstreams(retail_dir: Path) -> None:
    estate = check_estate(retail_dir).estate
    services = GatewayServices(events=cast(EventIngress, object()))
    config = compile_gateway(estate, services=services)
    routes = {r.name: r for r in config.routes}
    reasons = {u.route: u.reason for u in config.unserved}
    if "address-changes" in reasons:  # its authentication may still be missing here
        assert not reasons["address-changes"].startswith("publishes event")
        return
    publish = routes["address-changes"]
    assert publish.handler is not None
    assert publish.upstreams == ()
    assert publish.resilience is None


def test_a_flow_route_is_served_only_with_a_flow_engine(tmp_path: Path) -> None:
    root = write_estate(
        tmp_path, {}, [{"name": "quotes", "spec": {"match": {"path": "/q"}, "flow": "quote"}}]
    )
    with (root / "flow.yaml").open("w", encoding="utf-8") as out:
        out.write(FLOW)
    estate = check_estate(root).estate
    reasons = {u.route: u.reason for u in compile_gateway(estate).unserved}
    assert reasons["quotes"] == "starts Flow/quote, but this gateway process runs no flow engine"
    engine = cast(FlowEngine, object())
    config = compile_gateway(estate, services=GatewayServices(flows=engine))
    assert [r.name for r in config.routes if r.handler is not None] == ["quotes"]


def test_a_route_to_a_missing_flow_is_an_error_for_check(tmp_path: Path) -> None:
    root = write_estate(
        tmp_path, {}, [{"name": "quotes", "spec": {"match": {"path": "/q"}, "flow": "nope"}}]
    )
    findings = [f for f in check_estate(root).findings if f.severity == "error"]
    assert [f.message for f in findings if "nope" in f.message], [f.render() for f in findings]


FLOW = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: quote, owner: team}
spec:
  trigger: {manual: true}
  steps: [{name: shape, type: map, expression: '{"n": n}'}]
"""
