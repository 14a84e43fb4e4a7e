"""The admin API answers as its published OpenAPI document says, checked by Schemathesis.

A real `interlink serve` on SQLite, with the retail example estate, is asked a few generated
requests per operation (every operation the document lists, so new endpoints are covered as
they are added): no answer may be a 5xx, and each status, content type and body must be one
the document declares for that operation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy
from schemathesis import Case, GenerationMode, checks
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok

from interlink.runtime.bundle import BUNDLE_MEDIA_TYPE
from interlink.testing.processes import TOKEN, InterlinkProcess, free_port

#: Generated requests per operation and generation mode (valid, invalid): enough to reach
#: the answers each operation declares, few enough for a run under a minute on two cores.
EXAMPLES = 4

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@schemathesis.serializer(BUNDLE_MEDIA_TYPE)
def _bundle(ctx: schemathesis.SerializationContext, value: Any) -> bytes:
    """Bundles are bytes; generated ones are refused as invalid, which is what is checked."""
    return value if isinstance(value, bytes) else str(value).encode()


class Admin:
    def __init__(self, base: str, token: str, dataplane: str) -> None:
        self.base, self.token, self.dataplane = base, token, dataplane


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Admin]:
    from interlink.cli.estate import write_example

    estate = tmp_path_factory.mktemp("conformance") / "estate"
    write_example("retail", estate)
    port = free_port()
    proc = InterlinkProcess(
        ["serve", str(estate), "--admin-listen", f"127.0.0.1:{port}"],
        env={"INTERLINK_GATEWAY_LISTEN": "127.0.0.1:0"},
    ).start()
    try:
        token = proc.wait_for(
            r"admin token \(shown once, store it now\): " + TOKEN.pattern, timeout=60
        )
        proc.wait_for(r"admin API on http://", timeout=60)
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {token.group(1)}"}
        made = httpx.post(
            f"{base}/api/v1/tokens", json={"role": "dataplane", "name": "dp"}, headers=auth
        )
        yield Admin(base, token.group(1), made.json()["token"])
    finally:
        proc.stop()


def test_the_admin_api_answers_as_documented(admin: Admin) -> None:
    schema = schemathesis.openapi.from_url(f"{admin.base}/openapi.json")
    failures: list[str] = []
    operations = 0
    session = requests.Session()  # one connection for every call
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operation = result.ok()
        operations += 1
        # The data-plane endpoints admit only dataplane tokens, and only they: each gets its own.
        token = admin.dataplane if "data plane" in (operation.tags or []) else admin.token
        headers = {"Authorization": f"Bearer {token}"}
        # A long poll is asked not to wait: its answers are the same, and the run stays short.
        query = {"wait": 0} if "wait" in {p.name for p in operation.query} else None
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            cases = operation.as_strategy(mode, headers=headers, query=query)
            _exercise(cases, admin.base, session, failures)
    assert operations >= 50  # every operation is listed, the ones added later too
    assert failures == [], "\n\n".join(failures)


def _exercise(
    cases: SearchStrategy[Case[Any]], base: str, session: requests.Session, failures: list[str]
) -> None:
    """Call the API with ``EXAMPLES`` generated cases, noting each that breaks a check."""

    @given(cases)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        phases=[Phase.generate],  # no shrinking: every failure is kept as found
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def call(case: Case[Any]) -> None:
        try:
            case.call_and_validate(base_url=base, session=session, checks=CHECKS, timeout=30)
        except (AssertionError, FailureGroup) as exc:
            failures.append(f"{case.operation.label}: {exc}"[:3000])

    with contextlib.suppress(Unsatisfiable):  # no parameters: no invalid request to make
        call()


def test_every_integer_parameter_is_bounded(admin: Admin) -> None:
    """Parameters and body members that are integers hold at most 64 bits (admin/params.py)."""
    document = httpx.get(f"{admin.base}/openapi.json").json()
    unbounded = [
        where
        for where, node in _integers(document)
        if node.get("maximum", node.get("exclusiveMaximum", 1 << 64)) > (1 << 63) - 1
    ]
    assert unbounded == []


def _integers(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    schemas = document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for param in operation.get("parameters", []):
                yield from _walk(f"{method} {path} {param['name']}", param["schema"], schemas)
            for media in operation.get("requestBody", {}).get("content", {}).values():
                yield from _walk(f"{method} {path} body", media.get("schema", {}), schemas)


def _walk(
    where: str, node: Any, schemas: dict[str, Any], seen: frozenset[str] = frozenset()
) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, list):
        for item in node:
            yield from _walk(where, item, schemas, seen)
        return
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        if name not in seen:
            yield from _walk(f"{where} {name}", schemas[name], schemas, seen | {name})
        return
    if node.get("type") == "integer":
        yield where, node
    for key, value in node.items():
        if key != "$ref":
            inner = where if key == "properties" else f"{where}/{key}"
            yield from _walk(inner, value, schemas, seen)
