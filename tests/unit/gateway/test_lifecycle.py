"""Lifecycle headers: Deprecation, Sunset and Link on a deprecated Api's route, 410 after."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from interlink.estate.check import check_estate
from interlink.estate.loader import load_estate
from interlink.gateway import compile_gateway
from interlink.gateway.config import CompiledRoute
from interlink.gateway.lifecycle import (
    deprecation_value,
    http_date,
    parse_instant,
    successor_url,
)
from interlink.gateway.policy import Reply, settle
from interlink.gateway.request import Request
from interlink.gateway.services import GatewayServices
from tests.unit.gateway.helpers import route, write_estate

SUNSET = 1_814_313_600.0  # 2027-06-30T00:00:00Z
SUNSET_HEADER = b"Wed, 30 Jun 2027 00:00:00 GMT"


def contract(servers: list[str] | None = None, docs: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {}}
    if servers:
        doc["servers"] = [{"url": url} for url in servers]
    if docs:
        doc["externalDocs"] = {"url": docs}
    return doc


def api(name: str, contract_file: str, labels: dict[str, str] | None = None, **spec: Any) -> str:
    body = {"system": "crm", "contract": contract_file, **spec}
    meta: dict[str, Any] = {"name": name, "owner": "team"}
    if labels:
        meta["labels"] = labels
    return json.dumps({"apiVersion": "interlink/v1", "kind": "Api", "metadata": meta, "spec": body})


def lifecycle_estate(
    root: Path,
    v1: dict[str, Any],
    routes: list[dict[str, Any]] | None = None,
    v2_contract: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    crm: str = "http://127.0.0.1:9",
) -> Path:
    write_estate(
        root,
        {"crm": crm},
        routes
        if routes is not None
        else [
            route("v1", "/api/customers", "crm", api="customers-v1", validation={"request": "off"}),
            route(
                "v2",
                "/api/v2/customers/{id}",
                "crm",
                api="customers-v2",
                validation={"request": "off"},
                match={"host": "api.example.com"},
            ),
        ],
    )
    (root / "v1.openapi.json").write_text(json.dumps(contract()))
    (root / "v2.openapi.json").write_text(json.dumps(v2_contract or contract()))
    docs = [
        api("customers-v1", "v1.openapi.json", labels, version=1, **v1),
        api("customers-v2", "v2.openapi.json", version=2),
    ]
    (root / "apis.yaml").write_text("\n---\n".join(docs) + "\n")
    return root


DEPRECATED = {"lifecycle": "deprecated", "sunset": "2027-06-30", "successor": "customers-v2"}


def compiled(root: Path, services: GatewayServices, *, check: bool = True) -> CompiledRoute:
    if check:
        result = check_estate(root)
        errors = [f.render() for f in result.findings if f.severity == "error"]
        assert not errors, errors
        estate = result.estate
    else:
        estate, _ = load_estate(root)
    config = compile_gateway(estate, services=services)
    assert not config.unserved, config.unserved
    return next(r for r in config.routes if r.name == "v1")


def run(route: CompiledRoute) -> tuple[Reply | None, Request]:
    request = Request(b"GET", "/api/customers", b"", "1.1", [], True, "127.0.0.1", {})

    async def chain() -> Reply | None:
        for policy in route.policies:
            reply = await settle(policy(request))
            if reply is not None:
                return reply
        return None

    return asyncio.run(chain()), request


def test_header_formats() -> None:
    assert http_date(SUNSET) == "Wed, 30 Jun 2027 00:00:00 GMT"
    assert deprecation_value(1_688_169_599.7) == "@1688169599"
    assert parse_instant("2027-06-30") == SUNSET
    assert parse_instant("2027-06-30T02:00:00+02:00") == SUNSET
    assert parse_instant("2027-06-30T00:00:00Z") == SUNSET
    assert parse_instant("soon") is None


def test_a_deprecated_apis_route_says_so_on_every_answer(tmp_path: Path) -> None:
    root = lifecycle_estate(
        tmp_path, DEPRECATED, labels={"interlink.dev/deprecated-at": "2026-01-15"}
    )
    services = GatewayServices(clock=lambda: SUNSET - 86_400)
    reply, request = run(compiled(root, services))
    assert reply is None
    assert request.response_headers == [
        (b"deprecation", b"@1768435200"),  # 2026-01-15T00:00:00Z
        (b"sunset", SUNSET_HEADER),
        (b"link", b'<//api.example.com/api/v2/customers>; rel="successor-version"'),
    ]


def test_without_a_label_deprecation_is_when_first_served_and_kept(tmp_path: Path) -> None:
    root = lifecycle_estate(tmp_path, DEPRECATED)
    now = [1_800_000_000.5]
    services = GatewayServices(clock=lambda: now[0])
    _, request = run(compiled(root, services))
    assert request.response_headers[0] == (b"deprecation", b"@1800000000")
    now[0] += 3600  # a reload later: the same date
    _, request = run(compiled(root, services))
    assert request.response_headers[0] == (b"deprecation", b"@1800000000")


def test_the_route_is_gone_from_its_sunset(tmp_path: Path) -> None:
    root = lifecycle_estate(tmp_path, DEPRECATED)
    now = [SUNSET - 1]
    services = GatewayServices(clock=lambda: now[0])
    route = compiled(root, services)
    assert run(route)[0] is None
    now[0] = SUNSET
    reply, request = run(route)
    assert reply is not None
    assert reply.status == 410
    assert reply.detail == (
        "Api customers-v1 reached its sunset on 2027-06-30; "
        "use Api customers-v2 at //api.example.com/api/v2/customers"
    )
    assert reply.extra == {
        "successor": "customers-v2",
        "successorUrl": "//api.example.com/api/v2/customers",
    }
    assert dict(request.response_headers) == {
        b"sunset": SUNSET_HEADER,
        b"link": b'<//api.example.com/api/v2/customers>; rel="successor-version"',
    }


def test_a_retired_api_is_always_gone(tmp_path: Path) -> None:
    root = lifecycle_estate(tmp_path, {"lifecycle": "retired", "successor": "customers-v2"})
    reply, _ = run(compiled(root, GatewayServices(), check=False))
    assert reply is not None
    assert reply.status == 410
    assert reply.detail.startswith("Api customers-v1 is retired; use Api customers-v2")


@pytest.mark.parametrize(
    ("v2_contract", "expected"),
    [
        (
            contract(servers=["/relative", "https://api.example.com/v2"]),
            "https://api.example.com/v2",
        ),
        (
            contract(docs="https://docs.example.com/customers-v2"),
            "https://docs.example.com/customers-v2",
        ),
        (contract(), None),
    ],
)
def test_without_a_route_the_successor_link_comes_from_its_contract(
    tmp_path: Path, v2_contract: dict[str, Any], expected: str | None
) -> None:
    only_v1 = [
        route("v1", "/api/customers", "crm", api="customers-v1", validation={"request": "off"})
    ]
    root = lifecycle_estate(tmp_path, DEPRECATED, routes=only_v1, v2_contract=v2_contract)
    estate = check_estate(root).estate
    assert successor_url(estate, "customers-v2") == expected
    _, request = run(compiled(root, GatewayServices(clock=lambda: 0.0)))
    links = [v for k, v in request.response_headers if k == b"link"]
    assert links == ([f'<{expected}>; rel="successor-version"'.encode()] if expected else [])


def test_an_active_api_adds_nothing(tmp_path: Path) -> None:
    root = lifecycle_estate(tmp_path, {})
    route = compiled(root, GatewayServices())
    assert route.policies == ()
