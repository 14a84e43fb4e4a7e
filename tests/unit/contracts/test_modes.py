"""Compatibility modes over a version history (Confluent semantics)."""

from __future__ import annotations

from typing import Any

import pytest

from interlink.contracts import CompatibilityMode, check_against_history, check_schemas
from interlink.errors import ContractError

# v1 allowed "x"; v2 dropped it (registered without checks); the candidate adds "b" to v2.
ENUMS: list[Any] = [{"enum": ["a", "x"]}, {"enum": ["a"]}]
CANDIDATE = {"enum": ["a", "b"]}


def test_backward_checks_only_the_latest_version() -> None:
    report = check_against_history(CANDIDATE, ENUMS, CompatibilityMode.BACKWARD)
    assert report.compatible
    assert [d.code for d in report.differences] == ["ENUM_EXTENDED"]
    assert report.differences[0].message.startswith("against version 2: ")


def test_backward_transitive_checks_every_version() -> None:
    report = check_against_history(CANDIDATE, ENUMS, CompatibilityMode.BACKWARD_TRANSITIVE)
    assert not report.compatible
    (breaking,) = report.breaking
    assert breaking.code == "ENUM_CHANGED"
    assert breaking.message.startswith("against version 1: ")


def test_forward_and_forward_transitive() -> None:
    history: list[Any] = [{"enum": ["a"]}, {"enum": ["a", "b"]}]
    candidate = {"enum": ["b"]}
    assert check_against_history(candidate, history, "FORWARD").compatible
    report = check_against_history(candidate, history, "FORWARD_TRANSITIVE")
    assert not report.compatible
    assert report.breaking[0].message.startswith("against version 1: ")
    assert "readers still using the old schema" in report.breaking[0].message


def test_full_needs_both_directions() -> None:
    history: list[Any] = [{"type": "integer"}, {"type": "number"}]
    assert check_against_history({"type": "number"}, history, "FULL").compatible
    report = check_against_history({"type": "number"}, history, "FULL_TRANSITIVE")
    assert [(d.code, d.breaking) for d in report.differences] == [("TYPE_EXTENDED", True)]
    widened = check_against_history({"type": "number"}, history[:1], "FULL")
    assert not widened.compatible


def test_full_change_breaking_both_ways_says_so() -> None:
    report = check_schemas({"type": "string"}, {"type": "integer"}, mode="FULL")
    (difference,) = report.differences
    assert difference.code == "TYPE_CHANGED"
    assert "readers of either version" in difference.message


def test_full_reports_each_difference_once() -> None:
    report = check_schemas({"maxLength": 3}, {"maxLength": 5}, mode="FULL")
    assert [(d.code, d.breaking) for d in report.differences] == [("MAX_LENGTH_INCREASED", True)]


def test_none_checks_nothing() -> None:
    report = check_against_history({"type": "integer"}, [{"type": "string"}], "NONE")
    assert report.compatible
    assert report.differences == []


def test_empty_history_is_compatible() -> None:
    assert check_against_history({"type": "integer"}, [], "BACKWARD_TRANSITIVE").compatible


def test_three_versions_all_checked_transitively() -> None:
    history: list[Any] = [
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
        {"type": "object", "properties": {"a": {"type": "string"}}},
        {"type": "object", "properties": {"a": {"type": "string"}, "b": {}}},
    ]
    candidate = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {}}}
    report = check_against_history(candidate, history, "BACKWARD_TRANSITIVE")
    versions = sorted({d.message.split(":")[0] for d in report.breaking})
    assert versions == ["against version 1", "against version 2", "against version 3"]


@pytest.mark.parametrize("text", ["backward", "Full_Transitive", "NONE"])
def test_mode_parsing_is_case_insensitive(text: str) -> None:
    assert CompatibilityMode.parse(text).value == text.upper()


def test_unknown_mode_and_policy_are_contract_errors() -> None:
    with pytest.raises(ContractError, match="unknown compatibility mode"):
        check_against_history({}, [{}], "SIDEWAYS")
    with pytest.raises(ContractError, match="unknown policy"):
        check_against_history({}, [{}], "BACKWARD", policy="loose")


def test_modes_expose_transitivity_and_directions() -> None:
    assert CompatibilityMode.FULL_TRANSITIVE.transitive
    assert not CompatibilityMode.FULL.transitive
    assert len(CompatibilityMode.FULL.directions) == 2
    assert CompatibilityMode.NONE.directions == ()
