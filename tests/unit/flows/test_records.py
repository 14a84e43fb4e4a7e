"""Quick records: the same dataclass as before, built without the frozen ``__init__``'s cost."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from interlink.flows.records import copied, quick
from interlink.flows.runs import FlowRun


@dataclass(frozen=True)
class Plain:
    name: str
    count: int = 1
    tags: list[str] = field(default_factory=list)
    note: str | None = field(default=None, compare=False)


@quick
@dataclass(frozen=True)
class Quick:
    name: str
    count: int = 1
    tags: list[str] = field(default_factory=list)
    note: str | None = field(default=None, compare=False)


@quick
@dataclass(frozen=True)
class Pair:
    name: str
    count: int


def test_a_quick_record_is_built_as_the_dataclass_builds_it() -> None:
    assert dataclasses.asdict(Quick("a")) == dataclasses.asdict(Plain("a"))
    assert dataclasses.asdict(Quick("a", 3, note="n")) == dataclasses.asdict(
        Plain("a", 3, note="n")
    )
    assert dataclasses.asdict(Quick("a", tags=["x"])) == dataclasses.asdict(Plain("a", tags=["x"]))
    assert Quick("a") == Quick("a", 1, [], "other")  # compare=False is the dataclass's own
    assert Quick("a").tags is not Quick("a").tags  # a new default each time
    with pytest.raises(TypeError):
        Quick()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Quick("a", 1, [], None, "too many")  # type: ignore[call-arg]


def test_a_quick_record_stays_frozen_hashable_and_picklable() -> None:
    record = Quick("a", 2, note="n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.count = 3  # type: ignore[misc]
    assert hash(Pair("b", 1)) == hash(Pair("b", 1))
    assert Pair("b", 1) in {Pair("b", 1)}
    assert pickle.loads(pickle.dumps(record)) == record
    assert repr(record) == "Quick(name='a', count=2, tags=[], note='n')"


def test_copied_changes_the_fields_named_and_refuses_others() -> None:
    now = datetime.now(UTC)
    run = FlowRun(
        "r1", "f", "rev", {}, "manual", {}, "running", 0, {}, None, "me", now, now, now, None
    )
    moved = copied(run, step=2, status="completed")
    assert moved == dataclasses.replace(run, step=2, status="completed")
    assert (run.step, run.status) == (0, "running")
    with pytest.raises(TypeError, match="not fields of FlowRun"):
        copied(run, stpe=2)


def test_only_plain_records_can_be_made_quick() -> None:
    @dataclass(frozen=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True, kw_only=True)
    class Named:
        value: int

    for kind in (Checked, Named):
        with pytest.raises(TypeError):
            quick(kind)
