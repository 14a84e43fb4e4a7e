"""Flow test files: ``<flow>.test.yaml`` beside a flow, cases `interlink flows test` runs.

A test file is not an estate object: the loader leaves files ending in ``.test.yaml`` (or
``.test.yml``) out of the estate, and this module reads them, each into a :class:`FlowTestFile`
that remembers where every field was written, so that a malformed file and a failed
expectation are both reported as ``file:line:col``. `check` reports what is wrong in them
against the estate (an unknown flow, a mock for a step that is not there).

Steps are addressed by name: ``update-erp`` is a step of the tested flow, and the compensation
of a call step is ``update-erp.compensate``. A step of a child flow (one a ``flow`` step runs)
is ``<flow>/<step>``, or just its name when no other flow the test reaches has a step so named.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AwareDatetime, BeforeValidator, Field, ValidationError, model_validator

from interlink.estate.durations import Duration
from interlink.estate.findings import Finding, Location
from interlink.estate.flow_templates import template
from interlink.estate.hints import did_you_mean
from interlink.estate.kinds.base import Model, Name
from interlink.estate.kinds.flow import (
    CallStep,
    EnrichStep,
    FileStep,
    Flow,
    FlowStep,
    QueryStep,
    SendStep,
    Step,
    WriteStep,
    iter_steps,
)
from interlink.estate.loader import TEST_SUFFIXES, validation_findings, yaml_files
from interlink.estate.model import Estate
from interlink.estate.yamlsource import Document, PathKey, parse_documents, read_documents

#: How a run may end, as a case expects it.
END_STATES = ("completed", "compensated", "failed", "filtered", "duplicate")
COMPENSATE = ".compensate"


def is_test_file(path: Path) -> bool:
    return path.name.endswith(TEST_SUFFIXES)


def flow_of(path: Path) -> str:
    """The flow a test file tests when it does not say: its name without ``.test.yaml``."""
    name = path.name
    for suffix in TEST_SUFFIXES:
        name = name.removesuffix(suffix)
    return name


def _listed(value: Any) -> Any:
    # One answer written as a mapping is the answer to every call.
    return [value] if isinstance(value, dict) else value


class MockAnswer(Model):
    """One answer of a mocked step: a status and a JSON body, or no answer at all."""

    status: int = Field(default=200, ge=100, le=599, description="the HTTP status answered")
    body: Any = Field(default=None, description="the JSON body answered (none: empty)")
    error: Literal["timeout", "connection"] | None = Field(
        default=None,
        description="no answer: the call timed out, or no connection could be made",
    )
    delay: Duration = Field(
        default=0.0, description="how long the answer takes (virtual time: nothing sleeps)"
    )

    @model_validator(mode="after")
    def _either(self) -> MockAnswer:
        if self.error is not None and self.model_fields_set & {"status", "body"}:
            raise ValueError("an answer is an error, or a status and a body: not both")
        return self


Mock = Annotated[list[MockAnswer], BeforeValidator(_listed), Field(min_length=1)]


class ExpectedCall(Model):
    """What a mocked step sent; only the fields written are compared."""

    method: str | None = None
    path: str | None = None
    body: Any = None
    times: int | None = Field(
        default=None, ge=0, description="how many times it was called (retries count)"
    )


class ExpectedEvent(Model):
    event: Name
    data: Any = None


class Expect(Model):
    status: Literal["completed", "compensated", "failed", "filtered", "duplicate"] | None = None
    output: Any = Field(default=None, description="the run's final message (objects: subset)")
    error: str | None = Field(default=None, description="text the run's error contains")
    failed_step: str | None = Field(default=None, description="the step that failed the run")
    publishes: list[ExpectedEvent] | None = None
    calls: dict[str, ExpectedCall | list[ExpectedCall]] | None = None
    compensations: list[str] | None = Field(
        default=None, description="the steps whose compensation ran, in the order they ran"
    )

    @model_validator(mode="after")
    def _something(self) -> Expect:
        # A case that expects nothing passes whatever the flow does.
        if not self.model_fields_set:
            raise ValueError("expect checks nothing: give at least its status")
        return self


class Case(Model):
    name: str = Field(min_length=1)
    input: Any = Field(default_factory=dict)
    now: AwareDatetime | None = Field(
        default=None,
        description="when the run starts, on the virtual clock (default: the real time)",
    )
    mocks: dict[str, Mock] = Field(default_factory=dict)
    expect: Expect


class FlowTestSpec(Model):
    flow: Name | None = None
    cases: list[Case] = Field(min_length=1)


@dataclass(frozen=True)
class Address:
    """A step as a test file names it, resolved: the flow it is in, its name, and whether its
    compensation is meant."""

    flow: str
    step: str
    compensate: bool = False

    def render(self, tested: str) -> str:
        name = self.step if self.flow == tested else f"{self.flow}/{self.step}"
        return name + (COMPENSATE if self.compensate else "")


@dataclass
class FlowTestFile:
    """A test file read: its cases, the tested flow, and the positions to report against."""

    path: Path
    flow: str
    spec: FlowTestSpec
    doc: Document
    #: Per case, each mock's address and its answers.
    mocks: list[dict[Address, list[MockAnswer]]] = field(default_factory=list)

    def location(self, path: PathKey, *, key: bool = False) -> Location:
        return self.doc.location(path, key=key)


class Steps:
    """The steps a test of ``flow`` can reach: its own and those of the flows it runs."""

    def __init__(self, estate: Estate, flow: str) -> None:
        self.flow = flow
        self.flows: dict[str, dict[str, Step]] = {}
        todo = [flow]
        while todo:
            name = todo.pop()
            item = estate.get("Flow", name)
            if name in self.flows or item is None or not isinstance(item.obj, Flow):
                continue
            spec = item.obj.spec
            steps = {s.name: s for s in iter_steps([*spec.steps, *spec.on_error])}
            self.flows[name] = steps
            todo.extend(s.flow for s in steps.values() if isinstance(s, FlowStep))

    def resolve(self, written: str) -> tuple[Address | None, str | None]:
        """The step ``written`` names, or None and why not."""
        text = written.removesuffix(COMPENSATE)
        compensate = text != written
        if "/" in text:
            flow, _, name = text.partition("/")
            steps = self.flows.get(flow)
            if steps is None:
                hint = did_you_mean(flow, self.flows)
                return None, f"Flow/{self.flow} runs no flow {flow!r}" + (
                    f" ({hint})" if hint else ""
                )
        else:
            flow, name = self.flow, text
            steps = self.flows[flow]
            if name not in steps:
                owners = [f for f, s in self.flows.items() if name in s]
                if len(owners) == 1:
                    flow, steps = owners[0], self.flows[owners[0]]
                elif owners:
                    return None, (
                        f"step {name!r} is in several flows ({', '.join(sorted(owners))}): "
                        "write it as <flow>/<step>"
                    )
        if name not in steps:
            hint = did_you_mean(name.partition(".")[0], steps)
            if "." in name:
                hint = (f"{hint}; " if hint else "") + f"a compensation is <step>{COMPENSATE}"
            return None, f"Flow/{flow} has no step {name!r}" + (f" ({hint})" if hint else "")
        return Address(flow, name, compensate), None

    def step(self, address: Address) -> Step:
        return self.flows[address.flow][address.step]


def flow_test_files(root: Path) -> list[Path]:
    """The test files under ``root`` (or ``root`` itself), sorted, hidden folders left out."""
    files, _ = yaml_files(root)
    return [f for f in files if is_test_file(f)]


def load_flow_tests(root: Path, estate: Estate) -> tuple[list[FlowTestFile], list[Finding]]:
    """The test files under ``root`` and, for each flow that names a template and has no test
    file of its own, the template's cases with its parameters; and what is wrong in them."""
    tests: list[FlowTestFile] = []
    findings: list[Finding] = []
    for path in flow_test_files(root):
        test, problems = read_test_file(path, estate)
        findings.extend(problems)
        if test is not None:
            tests.append(test)
    tested = {t.flow for t in tests}
    for item in estate.loaded_of("Flow"):
        spec = item.obj.spec if isinstance(item.obj, Flow) else None
        name = item.obj.name
        if spec is None or spec.template is None or name in tested:
            continue
        if root.is_file() or not item.doc.file.is_relative_to(root):
            continue
        _, cases = template(spec.template).render(spec.parameters or {})
        if not cases:
            continue
        text = yaml.safe_dump({"flow": name, "cases": cases}, sort_keys=False)
        path = item.doc.file.with_name(f"{item.doc.file.name}#template-{spec.template}")
        test, problems = read_test_file(path, estate, text=text)
        findings.extend(problems)
        if test is not None:
            tests.append(test)
    return tests, findings


def read_test_file(
    path: Path, estate: Estate, *, text: str | None = None
) -> tuple[FlowTestFile | None, list[Finding]]:
    """A test file (or ``text`` read as one), checked against the estate; None when it cannot
    be run, the findings saying why."""
    if text is None:
        docs, findings = read_documents(path, json_values=True)
    else:
        docs, findings = parse_documents(text, path, json_values=True)
    if findings:
        return None, findings
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        where = docs[1].location() if len(docs) > 1 else Location(path)
        return None, [_finding(where, "a flow test file is one mapping with 'cases:'")]
    doc = docs[0]
    try:
        spec = FlowTestSpec.model_validate(doc.data)
    except ValidationError as exc:
        found = validation_findings(exc, doc, FlowTestSpec, doc.data)
        return None, [_retitled(f) for f in found]
    flow = spec.flow or flow_of(path)
    item = estate.get("Flow", flow)
    if item is None or not isinstance(item.obj, Flow):
        hint = did_you_mean(flow, estate.names("Flow"))
        if spec.flow is None:
            message = f"no Flow {flow!r} in the estate (named after the file; say which with flow:)"
            where = Location(path)
        else:
            message = f"no Flow {flow!r} in the estate"
            where = doc.location(("flow",))
        return None, [_finding(where, message + (f" ({hint})" if hint else ""))]
    test = FlowTestFile(path, flow, spec, doc)
    steps = Steps(estate, flow)
    problems = list(_references(test, steps))
    return (None if problems else test), problems


def _references(test: FlowTestFile, steps: Steps) -> Iterator[Finding]:
    """What in ``test`` names a step that is not there (or not of the right kind); fills in
    ``test.mocks``."""

    def check(written: str, at: PathKey, *, calls: bool) -> Address | None:
        address, why = steps.resolve(written)
        if address is None:
            findings.append(_finding(test.location(at, key=True), why or ""))
            return None
        step = steps.step(address)
        if address.compensate and not (isinstance(step, CallStep) and step.compensate):
            why = f"step {address.step!r} has no compensate call"
        elif calls and not isinstance(
            step, CallStep | EnrichStep | QueryStep | WriteStep | FileStep | SendStep
        ):
            why = (
                f"step {address.step!r} is a {step.type} step: only call, enrich, query, "
                "write, file and send steps reach out"
            )
        else:
            return address
        findings.append(_finding(test.location(at, key=True), why))
        return None

    findings: list[Finding] = []
    for number, case in enumerate(test.spec.cases):
        at: PathKey = ("cases", number)
        mocks: dict[Address, list[MockAnswer]] = {}
        for written, answers in case.mocks.items():
            address = check(written, (*at, "mocks", written), calls=True)
            if address is not None:
                mocks[address] = answers
        test.mocks.append(mocks)
        expect = case.expect
        for written in expect.calls or {}:
            check(written, (*at, "expect", "calls", written), calls=True)
        for index, written in enumerate(expect.compensations or []):
            check(written + COMPENSATE, (*at, "expect", "compensations", index), calls=True)
        if expect.failed_step is not None:
            check(expect.failed_step, (*at, "expect", "failedStep"), calls=False)
    yield from findings


def _finding(where: Location, message: str) -> Finding:
    return Finding("error", "FLOW_TEST_INVALID", message, where)


def _retitled(finding: Finding) -> Finding:
    return Finding(
        finding.severity, "FLOW_TEST_INVALID", finding.message, finding.location, finding.hint
    )


def flow_test_findings(estate: Estate, root: Path) -> list[Finding]:
    """What `check` says of the test files under ``root``."""
    return load_flow_tests(root, estate)[1]
