"""Comparing a shadow upstream's answer with the primary's: JSON-aware, with ignore paths."""

from __future__ import annotations

import json
from typing import Any

import pytest

from interlink.gateway.shadow.compare import (
    BODY,
    MATCH,
    ROOT,
    STATUS,
    Ignore,
    compare_responses,
    diff_json,
    field_of,
    pointer,
)
from interlink.http.headers import Headers

JSON: Headers = [(b"Content-Type", b"application/json; charset=utf-8")]
TEXT: Headers = [(b"content-type", b"text/plain")]


def pointers(left: Any, right: Any, *ignore: str) -> list[str]:
    return [pointer(p) for p in diff_json(left, right, Ignore.parse(ignore))]


def answer(value: Any, status: int = 200, headers: Headers = JSON) -> tuple[int, Headers, bytes]:
    return status, headers, json.dumps(value).encode()


def test_equal_documents_match_whatever_the_key_order_or_spacing() -> None:
    left = {"id": 1, "name": "Ada", "tags": ["a", "b"], "n": 1.0}
    assert pointers(left, {"tags": ["a", "b"], "n": 1, "name": "Ada", "id": 1}) == []
    primary = (200, JSON, b'{"a": 1, "b": [1, 2]}')
    assert compare_responses(primary, (200, JSON, b'{"b":[1,2],"a":1}')) == MATCH


def test_differences_are_reported_where_they_are() -> None:
    left = {"items": [{"name": "a", "qty": 1}, {"name": "b"}], "total": 2, "gone": True}
    right = {"items": [{"name": "A", "qty": 1}, {"name": "b"}, {"name": "c"}], "total": 2, "new": 0}
    assert pointers(left, right) == ["/items/0/name", "/items/2", "/gone", "/new"]


def test_types_nesting_and_booleans_are_told_apart() -> None:
    assert pointers({"a": 1}, {"a": "1"}) == ["/a"]
    assert pointers({"a": True}, {"a": 1}) == ["/a"]
    assert pointers({"a": None}, {"a": False}) == ["/a"]
    assert pointers({"a": {"b": 1}}, {"a": [1]}) == ["/a"]
    assert pointers([1], {"a": 1}) == [""]
    assert pointers({"a/b": 1, "c~d": 1}, {"a/b": 2, "c~d": 2}) == ["/a~1b", "/c~0d"]


def test_ignore_paths_leave_out_a_place_and_everything_under_it() -> None:
    left = {"meta": {"at": 1, "by": "x"}, "items": [{"id": 1, "at": 5}, {"id": 2, "at": 6}]}
    right = {"meta": {"at": 2, "by": "y"}, "items": [{"id": 1, "at": 7}, {"id": 3, "at": 8}]}
    assert pointers(left, right) == [
        "/meta/at",
        "/meta/by",
        "/items/0/at",
        "/items/1/id",
        "/items/1/at",
    ]
    assert pointers(left, right, "/meta", "/items/*/at") == ["/items/1/id"]
    assert pointers(left, right, "/meta/at", "/items/1") == ["/meta/by", "/items/0/at"]
    assert pointers({"only": 1}, {}, "/only") == []
    assert pointers(left, right, "/*") == []


def test_ignore_accepts_only_json_pointers() -> None:
    assert Ignore.parse(["/a~1b/*"]).covers(("a/b", 3, "x"))
    with pytest.raises(ValueError, match="not a JSON pointer"):
        Ignore.parse(["items.name"])


def test_fields_name_array_elements_with_a_star() -> None:
    assert field_of(("items", 3, "name")) == "/items/*/name"
    assert pointer(("items", 3, "name")) == "/items/3/name"


def test_a_status_difference_is_reported_alone() -> None:
    outcome = compare_responses(answer({"a": 1}), answer({"a": 2}, status=500))
    assert outcome.fields == (STATUS,)
    assert not outcome.matched


def test_json_fields_are_deduplicated_per_comparison() -> None:
    left = {"items": [{"name": "a"}, {"name": "b"}]}
    right = {"items": [{"name": "A"}, {"name": "B"}]}
    outcome = compare_responses(answer(left), answer(right))
    assert outcome.fields == ("/items/*/name",)
    assert outcome.paths == ("/items/0/name", "/items/1/name")
    whole = compare_responses(answer([1]), answer({"a": 1}))
    assert whole.fields == (ROOT,)


def test_ignored_differences_match() -> None:
    outcome = compare_responses(
        answer({"id": 1, "at": "now"}), answer({"id": 1, "at": "later"}), Ignore.parse(["/at"])
    )
    assert outcome.matched


def test_other_bodies_compare_as_bytes() -> None:
    assert compare_responses((200, TEXT, b"ok"), (200, TEXT, b"ok")).matched
    assert compare_responses((200, TEXT, b"ok"), (200, TEXT, b"no")).fields == (BODY,)
    # JSON on one side only, or a body that does not parse: bytes decide.
    assert compare_responses(answer({"a": 1}), (200, TEXT, b'{"a": 2}')).fields == (BODY,)
    assert compare_responses((200, JSON, b"{"), (200, JSON, b"{}")).fields == (BODY,)
    assert compare_responses((204, JSON, b""), (204, TEXT, b"")).matched


def test_differences_are_bounded() -> None:
    left = {f"k{i}": i for i in range(500)}
    right = {f"k{i}": -i - 1 for i in range(500)}
    assert len(diff_json(left, right)) == 100
