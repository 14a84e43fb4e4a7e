"""The schema registry endpoints of the admin API, through `interlink serve` on the example."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.admin.registry import MAX_BODY, MAX_DIFFERENCES, MAX_NESTING
from interlink.cli.estate import write_example
from tests.integration.test_serve import start

EVENT = "customer.address-updated"
V2 = "contracts/customer.address-updated.v2.schema.json"


class Registry:
    """The served example, called with a viewer token: the role every registry call needs."""

    def __init__(self, base: str, token: str, estate: Path) -> None:
        self.base, self.token, self.estate = base, token, estate

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, headers=self.auth, timeout=10)

    def check(self, body: Any) -> httpx.Response:
        return httpx.post(self.base + "/api/v1/compatibility", json=body, headers=self.auth)

    def post_raw(self, content: bytes) -> httpx.Response:
        headers = {**self.auth, "Content-Type": "application/json"}
        return httpx.post(
            self.base + "/api/v1/compatibility", content=content, headers=headers, timeout=10
        )

    def v2(self) -> dict[str, Any]:
        schema: dict[str, Any] = json.loads((self.estate / V2).read_text())
        return copy.deepcopy(schema)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    estate = tmp_path_factory.mktemp("registry") / "estate"
    write_example("retail", estate)
    served = start(estate)
    try:
        created = httpx.post(
            served.base + "/api/v1/tokens",
            json={"role": "viewer", "name": "registry"},
            headers={"Authorization": f"Bearer {served.token}"},
        )
        yield Registry(served.base, created.json()["token"], estate)
    finally:
        served.proc.stop()


def test_lists_events_with_their_versions(registry: Registry) -> None:
    response = registry.get("/api/v1/events")
    assert response.status_code == 200
    listed = response.json()
    assert [e["name"] for e in listed] == [EVENT, "order.confirmed", "order.placed"]
    assert listed[2]["system"] == "webshop"
    assert listed[2]["versions"] == [{"version": 1, "lifecycle": "active"}]
    assert listed[:1] == [
        {
            "name": EVENT,
            "system": "crm",
            "owner": "sales",
            "compatibility": "BACKWARD",
            "lifecycle": "active",
            "sunset": None,
            "successor": None,
            "latest": 2,
            "versions": [
                {"version": 1, "lifecycle": "active"},
                {"version": 2, "lifecycle": "active"},
            ],
        }
    ]


def test_lists_the_versions_of_an_event(registry: Registry) -> None:
    versions = registry.get(f"/api/v1/events/{EVENT}/versions").json()
    assert [(v["version"], v["lifecycle"], v["file"]) for v in versions] == [
        (1, "active", "contracts/customer.address-updated.v1.schema.json"),
        (2, "active", V2),
    ]
    hashes = [v["hash"] for v in versions]
    assert all(h.startswith("sha256:") and len(h) == 71 for h in hashes)
    assert hashes[0] != hashes[1]


def test_one_version_is_its_schema_and_metadata(registry: Registry) -> None:
    body = registry.get(f"/api/v1/events/{EVENT}/versions/1").json()
    assert body["version"] == 1
    assert body["file"] == "contracts/customer.address-updated.v1.schema.json"
    assert body["schema"]["$id"].endswith("/customer.address-updated/v1")
    listed = registry.get(f"/api/v1/events/{EVENT}/versions").json()[0]
    assert body["hash"] == listed["hash"]


def test_latest_is_the_newest_active_version(registry: Registry) -> None:
    body = registry.get(f"/api/v1/events/{EVENT}/versions/latest").json()
    assert body["version"] == 2
    assert body["schema"] == registry.v2()


def test_an_unknown_version_is_a_404_listing_the_versions(registry: Registry) -> None:
    response = registry.get(f"/api/v1/events/{EVENT}/versions/7")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["hint"] == "versions: 1 (active), 2 (active)"
    assert registry.get(f"/api/v1/events/{EVENT}/versions/newest").status_code == 422


@pytest.mark.parametrize(
    "path", ["/api/v1/events/customer.adress-updated/versions", "/api/v1/events/x/versions/1"]
)
def test_an_unknown_event_is_a_404_with_a_hint(registry: Registry, path: str) -> None:
    response = registry.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "https://interlink.dev/problems/unknown-event"
    assert body["hint"] in (
        f"did you mean '{EVENT}'?",
        f"known events: {EVENT}, order.confirmed, order.placed",
    )


def test_a_compatible_candidate(registry: Registry) -> None:
    candidate = registry.v2()
    candidate["properties"]["address"]["properties"]["street"]["maxLength"] = 400
    response = registry.check({"event": EVENT, "schema": candidate})
    assert response.status_code == 200
    body = response.json()
    assert body["compatible"] is True
    assert (body["mode"], body["policy"], body["against"]) == ("BACKWARD", "strict", [2])
    assert body["truncated"] is False
    assert [(d["code"], d["breaking"], d["version"]) for d in body["differences"]] == [
        ("MAX_LENGTH_INCREASED", False, 2)
    ]


def test_an_incompatible_candidate_lists_what_breaks(registry: Registry) -> None:
    candidate = registry.v2()
    candidate["properties"]["region"] = {"type": "string"}
    candidate["required"].append("region")
    response = registry.check({"event": EVENT, "schema": candidate, "policy": "lenient"})
    assert response.status_code == 200
    body = response.json()
    assert body["compatible"] is False
    required = [d for d in body["differences"] if d["code"] == "REQUIRED_ATTRIBUTE_ADDED"]
    assert required
    assert required[0]["breaking"] is True
    assert required[0]["pointer"] == "#/properties/region"
    assert required[0]["version"] == 2


def test_the_mode_may_be_overridden(registry: Registry) -> None:
    body = registry.check(
        {"event": EVENT, "schema": registry.v2(), "mode": "full_transitive"}
    ).json()
    assert (body["mode"], body["against"]) == ("FULL_TRANSITIVE", [1, 2])
    assert {d["version"] for d in body["differences"]} == {1}
    assert body["compatible"] is False  # v2 relaxed v1: old readers cannot read all of it
    none = registry.check({"event": EVENT, "schema": {"type": "string"}, "mode": "NONE"}).json()
    assert (none["compatible"], none["against"], none["differences"]) == (True, [], [])


def test_an_invalid_schema_is_a_422_listing_violations(registry: Registry) -> None:
    candidate = registry.v2()
    candidate["type"] = "obj"
    candidate["properties"]["customerId"]["minLength"] = -1
    response = registry.check({"event": EVENT, "schema": candidate})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "https://interlink.dev/problems/invalid-schema"
    assert sorted(e["pointer"] for e in body["errors"]) == [
        "/schema/properties/customerId/minLength",
        "/schema/type",
    ]
    assert all(e["code"] == "SCHEMA_INVALID" for e in body["errors"])


@pytest.mark.parametrize(
    ("schema", "pointer", "text"),
    [
        ({"type": "string", "pattern": "^(["}, "/schema/pattern", "invalid regular expression"),
        ({"$ref": "../../../etc/passwd"}, "/schema/$ref", "only references inside this schema"),
        ({"$ref": "#/$defs/missing"}, "/schema/$ref", "points at nothing"),
        (
            {"$schema": "http://json-schema.org/draft-07/schema#"},
            "/schema/$schema",
            "unsupported $schema",
        ),
    ],
)
def test_schemas_the_registry_cannot_use(
    registry: Registry, schema: dict[str, Any], pointer: str, text: str
) -> None:
    response = registry.check({"event": EVENT, "schema": schema})
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["pointer"] == pointer
    assert text in error["detail"]


def test_an_unknown_event_in_a_check_is_a_404_with_a_hint(registry: Registry) -> None:
    response = registry.check({"event": "customer.address-update", "schema": {}})
    assert response.status_code == 404
    assert response.json()["hint"] == f"did you mean '{EVENT}'?"


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"event": EVENT}, "/body/schema"),
        ({"event": EVENT, "schema": {}, "mode": "SIDEWAYS"}, "/body/mode"),
        ({"event": EVENT, "schema": {}, "policy": "loose"}, "/body/policy"),
        ({"event": EVENT, "schema": {}, "extra": 1}, "/body/extra"),
        ({"event": EVENT, "schema": "text"}, "/body/schema"),
    ],
)
def test_a_malformed_request_is_a_422(registry: Registry, body: Any, pointer: str) -> None:
    response = registry.check(body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "https://interlink.dev/problems/invalid-request"
    assert pointer in [e["pointer"] for e in problem["errors"]]


def test_a_body_over_the_limit_is_a_413(registry: Registry) -> None:
    filler = "x" * MAX_BODY
    body = json.dumps({"event": EVENT, "schema": {"description": filler}}).encode()
    response = registry.post_raw(body)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 100_000])
def test_deep_nesting_is_a_422_not_a_hang(registry: Registry, depth: int) -> None:
    nested = '{"not": ' * depth + "{}" + "}" * depth
    body = f'{{"event": "{EVENT}", "schema": {nested}}}'.encode()
    response = registry.post_raw(body)
    assert response.status_code == 422
    assert "nested more than" in response.json()["detail"]


def test_a_candidate_too_large_to_compare_is_a_422(registry: Registry) -> None:
    members = ",".join(["{}"] * 210_000)  # under the body limit, over the comparer's steps
    body = f'{{"event": "{EVENT}", "schema": {{"anyOf": [{members}]}}}}'.encode()
    assert len(body) < MAX_BODY
    response = registry.post_raw(body)
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "cannot compare the candidate: schema too large or deeply nested to compare"
    )


def test_many_differences_are_cut_breaking_first(registry: Registry) -> None:
    candidate = registry.v2()
    candidate["properties"].update({f"p{i}": {"type": "string"} for i in range(MAX_DIFFERENCES)})
    candidate["required"].append("p0")
    body = registry.check({"event": EVENT, "schema": candidate, "policy": "lenient"}).json()
    assert body["truncated"] is True
    assert len(body["differences"]) == MAX_DIFFERENCES
    assert body["differences"][0]["code"] == "REQUIRED_ATTRIBUTE_ADDED"
    assert not any(d["breaking"] for d in body["differences"][1:])


def test_a_body_that_is_not_json_is_a_422(registry: Registry) -> None:
    for content in (b"{", b'{"event": NaN}', b"\xff\xfe"):
        response = registry.post_raw(content)
        assert response.status_code == 422
        assert response.json()["detail"].startswith("the body is not JSON")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/events"),
        ("GET", f"/api/v1/events/{EVENT}/versions"),
        ("GET", f"/api/v1/events/{EVENT}/versions/latest"),
        ("POST", "/api/v1/compatibility"),
    ],
)
def test_every_endpoint_needs_a_token(registry: Registry, method: str, path: str) -> None:
    response = httpx.request(method, registry.base + path, json={"event": EVENT, "schema": {}})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"


def test_the_openapi_document_describes_the_registry(registry: Registry) -> None:
    doc = httpx.get(registry.base + "/openapi.json").json()
    paths = doc["paths"]
    assert {
        "/api/v1/events",
        "/api/v1/events/{name}/versions",
        "/api/v1/events/{name}/versions/{version}",
        "/api/v1/compatibility",
    } <= set(paths)
    post = paths["/api/v1/compatibility"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "event",
        "schema",
    ]
    ok = post["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/CompatibilityOut"}
    assert {"404", "413", "422"} <= set(post["responses"])
    schemas = doc["components"]["schemas"]
    assert {"EventOut", "VersionOut", "VersionDocument", "Problem"} <= set(schemas)
    assert "schema" in schemas["VersionDocument"]["properties"]
