"""Request validation: the operation matcher, parameter reading, schemas and violations."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from interlink.gateway import compile_gateway
from interlink.gateway.policy import Reply, settle
from interlink.gateway.services import GatewayServices
from interlink.gateway.state import SharedState
from interlink.gateway.validation import request_validation
from interlink.gateway.validation.documents import _to_2020
from interlink.gateway.validation.drift import DriftLog, drift
from interlink.gateway.validation.operations import Operation, OperationMatcher, route_contract
from interlink.gateway.validation.params import (
    ABSENT,
    Param,
    coerce,
    read_query,
    read_text,
    split_query,
)
from interlink.http.streams import BodyStream
from tests.unit.gateway.helpers import route
from tests.unit.gateway.validation_helpers import (
    contract,
    load,
    request,
    the_route,
    write_validation_estate,
)

JSON = [(b"content-type", b"application/json")]
INTS = frozenset({"integer"})

# --- parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "types", "expected"),
    [
        ("42", INTS, 42),
        ("-7", frozenset({"integer", "null"}), -7),
        ("4.5", INTS, "4.5"),
        ("4.5", frozenset({"number"}), 4.5),
        ("4", frozenset({"number"}), 4),
        ("1e3", frozenset({"number"}), 1000.0),
        ("1e999", frozenset({"number"}), "1e999"),
        ("NaN", frozenset({"number"}), "NaN"),
        ("true", frozenset({"boolean"}), True),
        ("false", frozenset({"boolean"}), False),
        ("True", frozenset({"boolean"}), "True"),
        ("", frozenset({"integer", "null"}), None),
        ("", frozenset({"string", "null"}), ""),
        ("42", frozenset({"string"}), "42"),
        ("42", None, "42"),
        ("1" * 400, INTS, "1" * 400),
    ],
)
def test_coercion_from_text(text: str, types: frozenset[str] | None, expected: Any) -> None:
    value = coerce(text, types)
    assert value == expected
    assert type(value) is type(expected)


def test_split_query_reads_form_encoding() -> None:
    assert split_query(b"a=1&b=x+y&a=2&c=%C3%A9&d&=e&&") == {
        "a": ["1", "2"],
        "b": ["x y"],
        "c": ["é"],
        "d": [""],
        "": ["e"],
    }


def _param(**fields: Any) -> Param:
    base: dict[str, Any] = {
        "name": "p",
        "location": "query",
        "required": False,
        "style": "form",
        "explode": True,
        "shape": "scalar",
    }
    base.update(fields)
    return Param(**base)


@pytest.mark.parametrize(
    ("param", "query", "expected"),
    [
        (_param(types=INTS), "p=3", 3),
        (_param(types=INTS), "q=3", ABSENT),
        (_param(types=INTS), "p=3&p=4", 3),
        (_param(shape="array", types=INTS), "p=1&p=2", [1, 2]),
        (_param(shape="array", types=INTS, explode=False), "p=1,2", [1, 2]),
        (_param(shape="array", types=INTS, style="pipeDelimited", explode=False), "p=1|2", [1, 2]),
        (
            _param(shape="array", style="spaceDelimited", explode=False),
            "p=a%20b",
            ["a", "b"],
        ),
        (
            _param(shape="object", properties={"x": INTS, "y": None}),
            "x=1&y=2&z=3",
            {"x": 1, "y": "2"},
        ),
        (
            _param(shape="object", properties={"x": INTS}, explode=False),
            "p=x,1,y,b",
            {"x": 1, "y": "b"},
        ),
        (
            _param(shape="object", style="deepObject", properties={"x": INTS}),
            "p%5Bx%5D=1&p[y]=b",
            {"x": 1, "y": "b"},
        ),
        (_param(shape="json"), "p=%7B%22a%22%3A1%7D", {"a": 1}),
    ],
)
def test_query_styles(param: Param, query: str, expected: Any) -> None:
    assert read_query(param, split_query(query.encode())) == expected


@pytest.mark.parametrize(
    ("param", "text", "expected"),
    [
        (_param(location="path", style="simple", types=INTS), "7", 7),
        (_param(location="path", style="simple", shape="array", types=INTS), "1,2", [1, 2]),
        (
            _param(location="path", style="label", explode=False, shape="array", types=INTS),
            ".1,2",
            [1, 2],
        ),
        (_param(location="path", style="label", explode=True, shape="array"), ".a.b", ["a", "b"]),
        (_param(name="id", location="path", style="matrix", types=INTS), ";id=5", 5),
        (
            _param(
                location="header",
                style="simple",
                explode=False,
                shape="object",
                properties={"a": INTS},
            ),
            "a,1,b,x",
            {"a": 1, "b": "x"},
        ),
        (
            _param(location="header", style="simple", explode=True, shape="object"),
            "a=1, b=2",
            {"a": "1", "b": "2"},
        ),
        (_param(location="header", style="simple", shape="array"), "a, b", ["a", "b"]),
    ],
)
def test_path_and_header_styles(param: Param, text: str, expected: Any) -> None:
    assert read_text(param, text) == expected


# --- the OpenAPI 3.0 dialect -----------------------------------------------------------------


def test_nullable_and_exclusive_bounds_become_2020_12() -> None:
    doc = {
        "components": {
            "schemas": {
                "A": {"type": "string", "nullable": True},
                "B": {"type": "string", "enum": ["x"], "nullable": True},
                "C": {"allOf": [{"$ref": "#/components/schemas/A"}], "nullable": True},
                "D": {"type": "integer", "minimum": 1, "exclusiveMinimum": True},
                "E": {"type": "integer", "maximum": 9, "exclusiveMaximum": False},
                "F": {"type": "object", "properties": {"nullable": {"type": "boolean"}}},
                "G": {"type": "object", "example": {"nullable": True, "type": "x"}},
            }
        }
    }
    schemas = _to_2020(doc, in_map=False)["components"]["schemas"]
    assert schemas["A"] == {"type": ["string", "null"]}
    assert schemas["B"] == {"type": ["string", "null"], "enum": ["x", None]}
    assert schemas["C"] == {
        "anyOf": [{"allOf": [{"$ref": "#/components/schemas/A"}]}, {"type": "null"}]
    }
    assert schemas["D"] == {"type": "integer", "exclusiveMinimum": 1}
    assert schemas["E"] == {"type": "integer", "maximum": 9}
    assert schemas["F"] == doc["components"]["schemas"]["F"]
    assert schemas["G"] == doc["components"]["schemas"]["G"]
    assert doc["components"]["schemas"]["A"] == {"type": "string", "nullable": True}  # unchanged


# --- matching --------------------------------------------------------------------------------


def _ops(*labels: str) -> list[Operation]:
    return [Operation(label.split()[0], label.split()[1]) for label in labels]


def test_the_matcher_prefers_literals_and_captures_parameters() -> None:
    matcher = OperationMatcher(
        _ops(
            "GET /c",
            "POST /c",
            "GET /c/me",
            "GET /c/{id}",
            "PUT /c/{id}/a",
            "GET /c/{id}/{x}",
            "GET /c/{id}/b",
            "GET /f/{name}.{ext}",
        )
    )

    def match(path: str) -> tuple[list[str], dict[str, str]] | None:
        found = matcher.match(path)
        if found is None:
            return None
        methods, params = found
        return sorted(f"{m} {op.template}" for m, op in methods.items()), params

    assert match("/c") == (["GET /c", "POST /c"], {})
    assert match("/c/me") == (["GET /c/me"], {})
    assert match("/c/42") == (["GET /c/{id}"], {"id": "42"})
    assert match("/c/42/b") == (["GET /c/{id}/b"], {"id": "42"})
    assert match("/c/42/a") == (["PUT /c/{id}/a"], {"id": "42"})
    assert match("/c/42/z") == (["GET /c/{id}/{x}"], {"id": "42", "x": "z"})
    assert match("/f/report.tar.gz") == (
        ["GET /f/{name}.{ext}"],
        {"name": "report", "ext": "tar.gz"},
    )
    assert match("/c/") is None  # an empty segment is no parameter
    assert match("/c/42/b/c") is None
    assert match("/d") is None
    assert matcher.allowed({"GET": Operation("GET", "/c")}) == ("GET", "HEAD")


def test_contract_paths_are_served_at_the_public_paths(tmp_path: Path) -> None:
    doc = contract()
    doc["servers"] = [
        {"url": "https://shop.example.com/v{major}", "variables": {"major": {"default": "2"}}}
    ]
    root = write_validation_estate(
        tmp_path,
        "http://127.0.0.1:9",
        doc=doc,
        routes=[
            route("orders", "/api/orders", "shop", api="orders", rewrite={"path": "/v2/orders"}),
            route("plain", "/v2/orders", "shop", api="orders", match={"methods": ["GET"]}),
        ],
    )
    estate = load(root)
    served = route_contract(the_route(estate), estate, SharedState())
    assert sorted(op.label for op in served.operations) == [
        "GET /api/orders",
        "GET /api/orders/latest",
        "GET /api/orders/{id}",
        "GET /api/orders/{id}/lines/{line}",
        "PATCH /api/orders/{id}",
        "POST /api/orders",
    ]
    plain = route_contract(the_route(estate, "plain"), estate, SharedState())
    assert sorted(op.label for op in plain.operations) == [
        "GET /v2/orders",
        "GET /v2/orders/latest",
        "GET /v2/orders/{id}",
        "GET /v2/orders/{id}/lines/{line}",
    ]


def test_compiled_documents_are_shared_per_estate(tmp_path: Path) -> None:
    estate = load(write_validation_estate(tmp_path, "http://127.0.0.1:9"))
    services = GatewayServices()
    first = route_contract(the_route(estate), estate, services.state)
    second = route_contract(the_route(estate), estate, services.state)
    assert first.operations[0].responses["200"].validator is (
        second.operations[0].responses["200"].validator
    )


def test_a_contract_reaching_no_path_is_not_served(tmp_path: Path) -> None:
    root = write_validation_estate(
        tmp_path,
        "http://127.0.0.1:9",
        routes=[route("orders", "/api/things", "shop", api="orders")],
    )
    config = compile_gateway(load(root))
    assert [(u.route, u.reason) for u in config.unserved] == [
        (
            "orders",
            "its contract cannot be checked: the contract of Api/orders describes no "
            "operation under /api/things",
        )
    ]


def test_remote_references_are_not_fetched(tmp_path: Path) -> None:
    doc = contract()
    doc["components"]["schemas"]["Status"] = {"$ref": "https://example.com/status.json"}
    root = write_validation_estate(tmp_path, "http://127.0.0.1:9", doc=doc)
    config = compile_gateway(load(root))
    reasons = {u.route: u.reason for u in config.unserved}
    assert "remote references are not fetched" in reasons["orders"]


def test_validation_off_needs_no_policy(tmp_path: Path) -> None:
    root = write_validation_estate(
        tmp_path, "http://127.0.0.1:9", validation={"request": "off", "response": "off"}
    )
    estate = load(root)
    assert request_validation(the_route(estate), estate, GatewayServices()) is None


# --- violations ------------------------------------------------------------------------------


def _check(root: Path, req: Any, name: str = "orders") -> Reply | None:
    estate = load(root)
    policy = request_validation(the_route(estate, name), estate, GatewayServices())
    assert policy is not None
    return asyncio.run(settle(policy(req)))


def _violations(reply: Reply | None) -> list[tuple[str, str]]:
    assert reply is not None
    assert reply.status == 400, reply
    return [(v["pointer"], v["message"]) for v in reply.extra["violations"]]


GOOD_ORDER = {"customer": "c1", "lines": [{"sku": "a", "quantity": 1}]}


def _body(value: Any) -> bytes:
    return json.dumps(value).encode()


CASES: list[tuple[str, Any, list[tuple[str, str]]]] = [
    ("missing query", request("GET", "/api/orders"), [("/query/limit", "is required")]),
    (
        "query type",
        request("GET", "/api/orders", b"limit=x&urgent=yes"),
        [("/query/limit", "must be of type integer"), ("/query/urgent", "must be of type boolean")],
    ),
    (
        "query range and enum via $ref",
        request("GET", "/api/orders", b"limit=0&status=lost"),
        [
            ("/query/limit", "must be at least 1"),
            ("/query/status", 'must be one of "open", "closed"'),
        ],
    ),
    (
        "query array items",
        request("GET", "/api/orders", b"limit=1&tags=1&tags=x&tags=3&tags=4"),
        [
            ("/query/tags", "must have at most 3 items"),
            ("/query/tags/1", "must be of type integer"),
        ],
    ),
    (
        "header from components",
        request("GET", "/api/orders", b"limit=1", headers=[(b"x-tenant", b"mars")]),
        [("/headers/x-tenant", 'must be one of "eu", "us"')],
    ),
    (
        "path pattern",
        request("GET", "/api/orders/X1"),
        [("/path/id", "must match the pattern ^O[0-9]{4}$")],
    ),
    (
        "path integer",
        request("GET", "/api/orders/O1234/lines/0"),
        [("/path/line", "must be at least 1")],
    ),
    (
        "body",
        request(
            "POST",
            "/api/orders",
            body=_body(
                {"customer": "", "lines": [{"sku": "a", "quantity": 0, "price": {"amount": -1}}]}
            ),
            headers=JSON,
        ),
        [
            ("/body/customer", "must be at least 1 characters long"),
            ("/body/lines/0/price/currency", "is required"),
            ("/body/lines/0/price/amount", "must be at least 0"),
            ("/body/lines/0/quantity", "must be at least 1"),
        ],
    ),
    (
        "oneOf",
        request(
            "POST",
            "/api/orders",
            body=_body({**GOOD_ORDER, "delivery": {"address": {"town": "x"}}}),
            headers=JSON,
        ),
        [("/body/delivery", "matches none of the 'oneOf' alternatives")],
    ),
    (
        "nullable is not any type",
        request("POST", "/api/orders", body=_body({**GOOD_ORDER, "note": 5}), headers=JSON),
        [("/body/note", "must be of type null or string")],
    ),
    (
        "invalid JSON",
        request("POST", "/api/orders", body=b'{"customer": ', headers=JSON),
        [("/body", "is not valid JSON: Expecting value at byte 13")],
    ),
    (
        "NaN is not JSON",
        request("POST", "/api/orders", body=b'{"customer": NaN}', headers=JSON),
        [("/body", "is not valid JSON: NaN is not a JSON value")],
    ),
    (
        "required body",
        request("POST", "/api/orders", headers=JSON),
        [("/body", "a request body is required")],
    ),
    (
        "no body expected",
        request("GET", "/api/orders/O1234", body=b"{}", headers=JSON),
        [("/body", "this operation takes no request body")],
    ),
    (
        "cross-file $ref with +json",
        request(
            "PATCH",
            "/api/orders/O1234",
            body=_body({"total": {"amount": 1, "currency": "euro"}, "extra": 1}),
            headers=[(b"content-type", b"application/merge-patch+json")],
        ),
        [
            ("/body", "has properties the schema does not allow: 'extra'"),
            ("/body/total/currency", "must match the pattern ^[A-Z]{3}$"),
        ],
    ),
]


@pytest.mark.parametrize(("name", "req", "expected"), CASES, ids=[c[0] for c in CASES])
def test_violations_point_into_the_request(
    tmp_path: Path, name: str, req: Any, expected: list[tuple[str, str]]
) -> None:
    root = write_validation_estate(tmp_path, "http://127.0.0.1:9")
    assert sorted(_violations(_check(root, req))) == sorted(expected)


VALID = [
    request("GET", "/api/orders", b"limit=5&status=open&tags=1&tags=2&ids=a,b&urgent=true&other=1"),
    request("GET", "/api/orders", b"limit=5", headers=[(b"x-tenant", b"eu")]),
    request("HEAD", "/api/orders", b"limit=5"),
    request("GET", "/api/orders/latest"),
    request("GET", "/api/orders/O1234"),
    request("GET", "/api/orders/O1234/lines/2"),
    request("POST", "/api/orders", body=_body({**GOOD_ORDER, "note": None}), headers=JSON),
    request(
        "POST",
        "/api/orders",
        body=_body({**GOOD_ORDER, "delivery": {"pickup": "store 1"}}),
        headers=[(b"content-type", b"Application/JSON; charset=utf-8")],
    ),
    request(
        "PATCH",
        "/api/orders/O1234",
        body=_body({"note": None}),
        headers=[(b"content-type", b"application/merge-patch+json")],
    ),
    request("PATCH", "/api/orders/O1234"),  # the body is optional
]


@pytest.mark.parametrize(
    "req", VALID, ids=[f"{r.method} {r.path}?{r.query.decode()}" for r in VALID]
)
def test_valid_requests_pass(tmp_path: Path, req: Any) -> None:
    root = write_validation_estate(tmp_path, "http://127.0.0.1:9")
    assert _check(root, req) is None


@pytest.mark.parametrize("openapi", ["3.0.3", "3.1.0"])
def test_nullable_and_type_lists(tmp_path: Path, openapi: str) -> None:
    root = write_validation_estate(tmp_path, "http://127.0.0.1:9", doc=contract(openapi))
    for note, ok in ((None, True), ("x", True), (3, False)):
        req = request("POST", "/api/orders", body=_body({**GOOD_ORDER, "note": note}), headers=JSON)
        assert (_check(root, req) is None) is ok, note


def test_the_body_read_is_the_body_forwarded(tmp_path: Path) -> None:
    root = write_validation_estate(tmp_path, "http://127.0.0.1:9")
    data = b'{"customer":"c1",  "lines":[{"sku":"a","quantity":1}]}'
    req = request("POST", "/api/orders", headers=JSON)
    req.body = BodyStream()
    req.body.feed(data[:10])
    req.body.feed(data[10:])
    req.body.finish()
    assert _check(root, req) is None
    assert req.body.complete
    assert req.body.take() == data


def test_unknown_operations_and_media_types(tmp_path: Path) -> None:
    root = write_validation_estate(tmp_path, "http://127.0.0.1:9")
    reply = _check(root, request("DELETE", "/api/orders/O1234"))
    assert reply is not None
    assert reply.status == 405
    assert reply.headers == [(b"allow", b"GET, HEAD, PATCH")]
    assert reply.detail == "the contract of Api orders has no DELETE operation at /api/orders/{id}"
    reply = _check(root, request("GET", "/api/orders/O1234/notes"))
    assert reply is not None
    assert reply.status == 404
    assert (
        reply.detail
        == "the contract of Api orders describes no operation at /api/orders/O1234/notes"
    )
    reply = _check(
        root, request("POST", "/api/orders", body=b"x", headers=[(b"content-type", b"text/csv")])
    )
    assert reply is not None
    assert (reply.status, reply.detail) == (
        415,
        "POST /api/orders accepts application/json, not text/csv",
    )
    reply = _check(root, request("POST", "/api/orders", body=b"{}"))
    assert reply is not None
    assert reply.status == 415
    assert reply.detail.endswith("not application/octet-stream")


def test_non_json_bodies_stream_through_unread(tmp_path: Path) -> None:
    root = write_validation_estate(tmp_path, "http://127.0.0.1:9")
    req = request(
        "PUT", "/api/files/a.json", headers=[(b"content-type", b"application/octet-stream")]
    )
    stream = req.body = BodyStream()
    stream.feed(b"not finished")
    assert _check(root, req, "files") is None
    assert req.body is stream
    assert not stream.done
    reply = _check(root, request("PUT", "/api/files/toolong.json"), "files")
    assert _violations(reply) == [("/path/name", "must be at most 5 characters long")]


def test_record_only_never_refuses(tmp_path: Path) -> None:
    root = write_validation_estate(
        tmp_path, "http://127.0.0.1:9", validation={"request": "off", "response": "record"}
    )
    for req in (
        request("GET", "/api/orders"),
        request("DELETE", "/api/orders"),
        request("GET", "/api/orders/1/2/3"),
    ):
        assert _check(root, req) is None
    req = request("GET", "/api/orders")
    _check(root, req)
    assert req.observers is not None
    assert len(req.observers) == 1


# --- drift -----------------------------------------------------------------------------------


def test_drift_of_responses(tmp_path: Path) -> None:
    estate = load(write_validation_estate(tmp_path, "http://127.0.0.1:9"))
    ops = {
        op.label: op for op in route_contract(the_route(estate), estate, SharedState()).operations
    }
    post, get = ops["POST /api/orders"], ops["GET /api/orders/{id}"]
    good = _body({**GOOD_ORDER, "id": "O1"})
    assert drift(post, 201, JSON, good) is None
    assert drift(post, 201, JSON, _body(GOOD_ORDER)) == ("/body/id", "is required")
    assert drift(post, 201, JSON, b"{") == ("/body", "is not valid JSON")
    assert drift(post, 201, [(b"Content-Type", b"text/html")], b"<p>") == (
        "",
        "the body is text/html; the contract describes JSON",
    )
    assert drift(post, 500, JSON, b"{}") == ("", "the contract describes no 500 response")
    assert drift(get, 200, [(b"content-type", b"text/plain")], b"anything") is None


def test_drift_is_logged_once_per_kind_within_a_rate() -> None:
    now = [0.0]
    log = DriftLog(clock=lambda: now[0])
    assert log.first(("a",))
    assert not log.first(("a",))
    for i in range(19):
        assert log.first((i,))
    assert not log.first(("b",))
    now[0] = 61.0
    assert log.first(("b",))
