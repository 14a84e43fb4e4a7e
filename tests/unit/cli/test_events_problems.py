"""How `interlink events` shows a problem document: every violation, up to a bound."""

from __future__ import annotations

import httpx

from interlink.cli.events import _problem_message as problem_message


def _problem(violations: list[dict[str, str]]) -> httpx.Response:
    first = violations[0]
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    return httpx.Response(
        422,
        json={
            "type": "about:blank",
            "title": "Event data does not match its schema",
            "status": 422,
            "detail": f"{first['pointer']}: {first['message']}{more}",
            "violations": violations,
        },
    )


def test_every_violation_is_shown() -> None:
    response = _problem(
        [
            {"pointer": "/data/customerId", "message": "'x' does not match '^C[0-9]{6}$'"},
            {"pointer": "/data/address", "message": "'city' is a required property"},
            {"pointer": "", "message": "something about the whole event"},
        ]
    )
    assert problem_message(response) == (
        "Event data does not match its schema (3 violations):\n"
        "  /data/customerId: 'x' does not match '^C[0-9]{6}$'\n"
        "  /data/address: 'city' is a required property\n"
        "  something about the whole event"
    )


def test_a_long_list_is_bounded() -> None:
    response = _problem([{"pointer": f"/data/{i}", "message": "bad"} for i in range(25)])
    lines = problem_message(response).splitlines()
    assert lines[0] == "Event data does not match its schema (25 violations):"
    assert lines[1:21] == [f"  /data/{i}: bad" for i in range(20)]
    assert lines[21:] == ["  and 5 more"]


def test_one_violation_is_one_line() -> None:
    response = _problem([{"pointer": "/data/customerId", "message": "must be of type string"}])
    assert problem_message(response) == (
        "Event data does not match its schema: /data/customerId: must be of type string"
    )


def test_a_problem_without_violations_is_its_title_and_detail() -> None:
    response = httpx.Response(
        401, json={"title": "Unauthorized", "status": 401, "detail": "unknown key"}
    )
    assert problem_message(response) == "Unauthorized: unknown key"
