"""Runs the cases of flow test files: the real engine, a store of its own per case, the case's
mocks in place of HTTP, events checked against the estate's schemas and kept, and a virtual
clock, so that a case needs no server, no network and no waiting.

Each case starts one run of the tested flow with its ``input``; a run that waits is woken at
once with the clock moved on to its time. When the run has ended, each expectation the case
writes is compared with what happened, and each that does not hold is a :class:`Failure`
located at the line it was written on. Objects in ``output``, ``body`` and ``data`` match when
every field written matches (others may be there too); arrays match item by item, of the same
length; anything else matches when equal.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from interlink.errors import InterlinkError
from interlink.estate.findings import Location
from interlink.estate.flow_tests import COMPENSATE, Address, ExpectedCall, FlowTestFile, Steps
from interlink.estate.kinds.flow import Flow, FlowSpec
from interlink.estate.model import Estate
from interlink.estate.yamlsource import PathKey
from interlink.events.cloudevents import CloudEvent
from interlink.events.validation import EventRegistry
from interlink.flows.engine import FlowEngine
from interlink.flows.mocks import MockTransport, Sent
from interlink.flows.publish import SOURCE
from interlink.flows.retry import StepFailed
from interlink.flows.runs import FlowRun, FlowRuns
from interlink.flows.timing import VirtualTimer
from interlink.store import open_store

#: A run woken more often than this is taken to wait forever (a loop of waits).
MAX_WAKES = 1000
_MISSING = object()


@dataclass(frozen=True)
class Failure:
    """An expectation that did not hold, where it is written."""

    where: Location
    message: str


@dataclass
class CaseResult:
    file: Path
    name: str
    where: Location  # the case's name
    status: str | None = None  # how the run ended (None: it could not start)
    error: str | None = None
    failures: list[Failure] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class Published:
    event: str
    data: Any


async def run_file(estate: Estate, test: FlowTestFile, scratch: Path) -> list[CaseResult]:
    """Every case of ``test``, in order; each case's store is a file under ``scratch``."""
    return [
        await _run_case(estate, test, number, scratch) for number in range(len(test.spec.cases))
    ]


def run_files(estate: Estate, tests: list[FlowTestFile]) -> list[CaseResult]:
    """Every case of every file, in order, in stores under a temporary directory."""

    async def all_cases() -> list[CaseResult]:
        with tempfile.TemporaryDirectory(prefix="interlink-flow-tests-") as scratch:
            results: list[CaseResult] = []
            for test in tests:
                results.extend(await run_file(estate, test, Path(scratch)))
            return results

    return asyncio.run(all_cases())


def _spec_lookup(estate: Estate) -> Any:
    def spec(name: str) -> FlowSpec:
        item = estate.get("Flow", name)
        if item is None or not isinstance(item.obj, Flow):
            raise InterlinkError(f"no Flow {name!r} in the estate")
        return item.obj.spec

    return spec


class _Events:
    """The events publish steps send, checked as the mesh's ingress would check them."""

    def __init__(self, estate: Estate) -> None:
        self._estate = estate
        self._registry: EventRegistry | None = None
        self.published: list[Published] = []

    async def __call__(self, event_type: str, data: Any, event_id: str) -> None:
        if self._registry is None:
            self._registry = EventRegistry.from_estate(self._estate)
        event = CloudEvent(
            id=event_id,
            source=SOURCE,
            type=event_type,
            data=data,
            datacontenttype="application/json",
        )
        try:
            self._registry.check(event)
        except InterlinkError as exc:
            raise StepFailed(
                f"the bus refused {event_type}: {exc.message}", retryable=False
            ) from None
        self.published.append(Published(event_type, data))


async def _run_case(estate: Estate, test: FlowTestFile, number: int, scratch: Path) -> CaseResult:
    case = test.spec.cases[number]
    at: PathKey = ("cases", number)
    result = CaseResult(test.path, case.name, test.location((*at, "name")))
    timer = VirtualTimer(case.now or datetime.now(UTC))
    store = open_store(
        f"sqlite:///{(scratch / f'case-{uuid.uuid4().hex}.db').as_posix()}", clock=timer
    )
    try:
        store.migrate()
        transport = MockTransport(test.mocks[number], timer)
        events = _Events(estate)
        reach = Steps(estate, test.flow)
        engine = FlowEngine(
            FlowRuns(store.db),
            _spec_lookup(estate),
            transport=transport,
            data=transport.data,
            timer=timer,
            publisher=events,
            lease_ttl=3600.0,  # one engine holds every run: its lease never needs renewing
            owner="flow-tests",
        )
        try:
            run = await engine.start_and_run(test.flow, case.input, trigger="test")
            wakes = 0
            while run.status == "waiting" and run.wake_at is not None and wakes < MAX_WAKES:
                timer.advance_to(run.wake_at)
                run = await engine.run(run.id)
                wakes += 1
        except InterlinkError as exc:
            result.failures.append(Failure(result.where, f"the run could not start: {exc.message}"))
            return result
        finally:
            await engine.aclose()
        result.status, result.error = run.status, run.error
        if transport.unmocked:
            first = transport.unmocked[0]
            where = test.location((*at, "mocks"), key=True) if case.mocks else result.where
            result.failures.append(
                Failure(
                    where,
                    f"step {first.address.render(test.flow)} called {first.to} "
                    f"({first.method} {first.path}) and the case has no mock for it: add "
                    f"one under mocks: {first.address.render(test.flow)}",
                )
            )
            return result
        result.failures.extend(
            _compare(test, number, reach, run, FlowRuns(store.db), transport, events)
        )
    finally:
        store.close()
    return result


def _compare(
    test: FlowTestFile,
    number: int,
    reach: Steps,
    run: FlowRun,
    runs: FlowRuns,
    transport: MockTransport,
    events: _Events,
) -> list[Failure]:
    case = test.spec.cases[number]
    sent = transport.sent
    expect = case.expect
    given = expect.model_fields_set
    at: PathKey = ("cases", number, "expect")
    out: list[Failure] = []

    def fail(path: PathKey, message: str) -> None:
        out.append(Failure(test.location((*at, *path)), message))

    if expect.status is not None and run.status != expect.status:
        why = f" ({run.error})" if run.error else ""
        fail(("status",), f"expected status {expect.status}, got {run.status}{why}")
    if "output" in given:
        mismatch = _mismatch(expect.output, run.context.get("message"), ())
        if mismatch is not None:
            path, message = mismatch
            fail(("output", *path), f"output{_dotted(path)}: {message}")
    if expect.error is not None and expect.error not in (run.error or ""):
        got = repr(run.error) if run.error else "no error"
        fail(("error",), f"expected an error containing {expect.error!r}, got {got}")
    if expect.failed_step is not None:
        found = _failed_step(reach, expect.failed_step, run, runs)
        if found is not None:
            fail(("failedStep",), found)
    if expect.publishes is not None:
        out.extend(_publishes(test, number, events.published))
    for written, calls in (expect.calls or {}).items():
        address = reach.resolve(written)[0]
        mine = [s for s in sent if s.address == address]
        out.extend(_calls(test, (*at, "calls", written), written, calls, mine))
    if expect.compensations is not None:
        found = _compensations(reach, expect.compensations, sent)
        if found is not None:
            fail(("compensations",), found)
    return out


def _failed_step(reach: Steps, wanted: str, run: FlowRun, runs: FlowRuns) -> str | None:
    failed = _failed_steps(run, runs)
    if reach.resolve(wanted)[0] in failed:
        return None
    got = ", ".join(a.render(reach.flow) for a in failed) or "no step failed"
    return f"expected step {wanted} to fail, got {got}"


def _compensations(reach: Steps, wanted: list[str], sent: list[Sent]) -> str | None:
    ran: list[Address] = []
    for s in sent:  # a compensation retried is one compensation
        if s.address.compensate and (not ran or ran[-1] != s.address):
            ran.append(s.address)
    if ran == [reach.resolve(name + COMPENSATE)[0] for name in wanted]:
        return None
    names = [a.render(reach.flow).removesuffix(COMPENSATE) for a in ran]
    return f"expected compensations {_list(wanted)}, got {_list(names)}"


def _failed_steps(run: FlowRun, runs: FlowRuns) -> list[Address]:
    """The forward steps that failed for good, in the run and the runs it started."""
    out: list[Address] = []
    todo = [run]
    seen: set[str] = set()
    while todo:
        current = todo.pop(0)
        if current.id in seen:
            continue
        seen.add(current.id)
        for record in runs.steps(current.id):
            if record.phase == "forward" and record.status == "failed":
                out.append(Address(current.flow, record.name))
        todo.extend(
            r
            for r in runs.latest(None, 10_000)
            if r.trigger in (f"flow:{current.id}", f"split:{current.id}")
        )
    return out


def _publishes(test: FlowTestFile, number: int, published: list[Published]) -> list[Failure]:
    expect = test.spec.cases[number].expect
    assert expect.publishes is not None
    at: PathKey = ("cases", number, "expect", "publishes")
    got = ", ".join(p.event for p in published) or "none"
    if len(published) != len(expect.publishes):
        return [
            Failure(
                test.location(at),
                f"expected {_count(len(expect.publishes), 'event')} published, got "
                f"{len(published)} ({got})",
            )
        ]
    out: list[Failure] = []
    for index, (wanted, event) in enumerate(zip(expect.publishes, published, strict=True)):
        if wanted.event != event.event:
            out.append(
                Failure(
                    test.location((*at, index, "event")),
                    f"publishes[{index}]: expected event {wanted.event}, got {event.event}",
                )
            )
        elif "data" in wanted.model_fields_set:
            mismatch = _mismatch(wanted.data, event.data, ())
            if mismatch is not None:
                path, message = mismatch
                out.append(
                    Failure(
                        test.location((*at, index, "data", *path)),
                        f"publishes[{index}].data{_dotted(path)}: {message}",
                    )
                )
    return out


def _calls(
    test: FlowTestFile,
    at: PathKey,
    written: str,
    expected: ExpectedCall | list[ExpectedCall],
    sent: list[Sent],
) -> list[Failure]:
    if isinstance(expected, list):
        if len(sent) != len(expected):
            return [
                Failure(
                    test.location(at),
                    f"calls of {written}: expected {_count(len(expected), 'call')}, "
                    f"got {len(sent)}",
                )
            ]
        # In any order: a split's runs call side by side.
        if _pairing(test, at, expected, sent) is not None:
            return []
        for index, wanted in enumerate(expected):
            if not any(not _call(test, at, written, wanted, call) for call in sent):
                # None of the calls is this one: say how the call in its place differs.
                label = f"{written}[{index}] (no call matches it)"
                return _call(test, (*at, index), label, wanted, sent[index])
        return [
            Failure(
                test.location(at),
                f"calls of {written}: each call matches one listed, but no one-to-one pairing",
            )
        ]
    if expected.times is not None and len(sent) != expected.times:
        return [
            Failure(
                test.location((*at, "times")),
                f"calls of {written}: expected {_count(expected.times, 'call')}, got {len(sent)}",
            )
        ]
    if not sent and expected.times is None:
        return [Failure(test.location(at), f"expected step {written} to be called, it was not")]
    for call in sent:  # every call of the step (its retries, a split's items) as written
        failures = _call(test, at, written, expected, call)
        if failures:
            return failures
    return []


def _pairing(
    test: FlowTestFile, at: PathKey, expected: list[ExpectedCall], sent: list[Sent]
) -> list[int] | None:
    """For each expected call, a different sent call it matches; None when there is none."""
    fits = [
        [j for j, call in enumerate(sent) if not _call(test, at, "", wanted, call)]
        for wanted in expected
    ]
    taken: list[int] = []

    def place(i: int) -> bool:
        if i == len(fits):
            return True
        for j in fits[i]:
            if j not in taken:
                taken.append(j)
                if place(i + 1):
                    return True
                taken.pop()
        return False

    return taken if place(0) else None


def _call(
    test: FlowTestFile, at: PathKey, label: str, wanted: ExpectedCall, call: Sent
) -> list[Failure]:
    out: list[Failure] = []
    if wanted.method is not None and wanted.method.upper() != call.method:
        out.append(
            Failure(
                test.location((*at, "method")),
                f"{label}: expected method {wanted.method.upper()}, got {call.method}",
            )
        )
    if wanted.path is not None and wanted.path != call.path:
        out.append(
            Failure(
                test.location((*at, "path")),
                f"{label}: expected path {wanted.path}, got {call.path}",
            )
        )
    if "body" in wanted.model_fields_set:
        mismatch = _mismatch(wanted.body, call.body, ())
        if mismatch is not None:
            path, message = mismatch
            out.append(
                Failure(
                    test.location((*at, "body", *path)),
                    f"{label}: body{_dotted(path)}: {message}",
                )
            )
    return out


def _mismatch(expected: Any, actual: Any, path: PathKey) -> tuple[PathKey, str] | None:
    """Where ``actual`` differs from ``expected`` and how; None when it matches."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return path, f"expected an object, got {_show(actual)}"
        for key, value in expected.items():
            got = actual.get(key, _MISSING)
            if got is _MISSING:
                return (*path, key), f"expected {_show(value)}, got nothing (no such field)"
            found = _mismatch(value, got, (*path, key))
            if found is not None:
                return found
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return path, f"expected an array, got {_show(actual)}"
        if len(actual) != len(expected):
            return path, f"expected {len(expected)} items, got {len(actual)}: {_show(actual)}"
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            found = _mismatch(want, got, (*path, index))
            if found is not None:
                return found
        return None
    same_kind = isinstance(expected, bool) == isinstance(actual, bool)
    if not same_kind or expected != actual:
        return path, f"expected {_show(expected)}, got {_show(actual)}"
    return None


def _dotted(path: PathKey) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _show(value: Any) -> str:
    text = json.dumps(value, separators=(", ", ": "), ensure_ascii=False, default=str)
    return text if len(text) <= 200 else text[:197] + "..."


def _list(names: list[str]) -> str:
    return "[" + ", ".join(names) + "]"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
