"""What `interlink check` says about routes the gateway would resolve in a way users may miss."""

from __future__ import annotations

from pathlib import Path

from interlink.estate.check import check_estate
from tests.unit.gateway.helpers import route, write_estate


def findings(root: Path, code: str) -> list[tuple[str, str]]:
    result = check_estate(root)
    return [(f.severity, f.message) for f in result.findings if f.code == code]


def test_overlapping_method_lists_are_a_warning_naming_the_winner(tmp_path: Path) -> None:
    root = write_estate(
        tmp_path,
        {"crm": "http://crm"},
        [
            route("reads", "/items", "crm", match={"methods": ["GET"]}),
            route("all", "/items/", "crm", match={"methods": ["GET", "POST"]}),
            route("writes", "/items", "crm", match={"methods": ["PUT"]}),
            route("fallback", "/items", "crm"),
        ],
    )
    assert findings(root, "ROUTE_OVERLAP") == [
        (
            "warning",
            "Route/all and Route/reads both match GET, HEAD on /items; Route/reads serves those",
        )
    ]


def test_template_mistakes_are_errors(tmp_path: Path) -> None:
    root = write_estate(
        tmp_path,
        {"crm": "http://crm"},
        [
            route("partial", "/files/{name}.json", "crm"),
            route("twice", "/a/{id}/b/{id}", "crm"),
            route("unknown", "/c/{id}", "crm", rewrite={"path": "/customers/{cid}"}),
            route("fine", "/d/{id}", "crm", rewrite={"path": "/customers/{id}"}),
        ],
    )
    assert findings(root, "ROUTE_TEMPLATE") == [
        (
            "error",
            "Route/partial: path segment '{name}.json' is neither text nor one whole {name}; "
            "the gateway cannot serve it",
        ),
        ("error", "Route/twice: template parameter {id} appears twice"),
        ("error", "Route/unknown: rewrite.path uses {cid}, which match.path does not capture"),
    ]
