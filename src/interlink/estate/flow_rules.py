"""What `check` finds in Flows: expressions, step names, calls, triggers and published data.

A Flow's references to Systems, Apis, Events and DataProducts are checked with every other
reference (estate/links.py); these rules judge what only a Flow has. Each finding is located
at the exact field: the expression, the step name, the path.

How events reach a flow: a Subscription that targets it is the way (it carries the filter,
ordering, retries and the dead-letter queue); ``trigger.event`` is shorthand for such a
Subscription with the defaults. One event must start one run per flow, so a flow may not have
both for the same event: `check` refuses that, and says which to remove.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from interlink.errors import ExpressionError
from interlink.estate.durations import format_duration
from interlink.estate.findings import Finding
from interlink.estate.kinds import Event, Flow, Subscription, System
from interlink.estate.kinds.flow import (
    CallStep,
    ChoiceStep,
    EnrichStep,
    FilterStep,
    FlowSpec,
    FlowStep,
    HttpCall,
    IdempotencyStep,
    MapStep,
    PublishStep,
    SplitStep,
    Step,
    WaitStep,
)
from interlink.estate.model import Estate, Loaded
from interlink.estate.yamlsource import PathKey
from interlink.expressions import compile_expression, constructed_keys


@dataclass(frozen=True)
class Placed:
    """A step, where it is in the flow's document, and the steps before it in its sequence."""

    step: Step
    path: PathKey
    before: tuple[Step, ...]


def placed_steps(steps: list[Step], at: PathKey = ("spec", "steps")) -> Iterator[Placed]:
    """Every step with its path, depth first, including those inside choice branches."""
    for i, step in enumerate(steps):
        yield Placed(step, (*at, i), tuple(steps[:i]))
        if isinstance(step, ChoiceStep):
            for b, branch in enumerate(step.branches):
                yield from placed_steps(branch.steps, (*at, i, "branches", b, "steps"))
            yield from placed_steps(step.otherwise, (*at, i, "otherwise"))


def every_step(spec: FlowSpec) -> Iterator[Placed]:
    """The flow's steps, then its ``onError`` steps, each with its path."""
    yield from placed_steps(spec.steps)
    yield from placed_steps(spec.on_error, ("spec", "onError"))


def _flows(estate: Estate) -> Iterator[tuple[Loaded, Flow]]:
    for item in estate.loaded_of("Flow"):
        assert isinstance(item.obj, Flow)
        yield item, item.obj


def expressions_of(placed: Placed) -> Iterator[tuple[PathKey, str]]:
    """The JSONata expressions a step holds, each with its path."""
    step, at = placed.step, placed.path
    fields: dict[type, str] = {
        MapStep: "expression",
        FilterStep: "condition",
        SplitStep: "items",
        IdempotencyStep: "key",
        PublishStep: "data",
        CallStep: "body",
        WaitStep: "until",
        FlowStep: "input",
    }
    name = fields.get(type(step))
    value = getattr(step, name) if name else None
    if name and value is not None:
        yield (*at, name), value
    if isinstance(step, CallStep) and step.compensate and step.compensate.body is not None:
        yield (*at, "compensate", "body"), step.compensate.body
    if isinstance(step, ChoiceStep):
        for b, branch in enumerate(step.branches):
            yield (*at, "branches", b, "when"), branch.when


def expression_findings(estate: Estate) -> Iterator[Finding]:
    for item, flow in _flows(estate):
        for placed in every_step(flow.spec):
            for path, source in expressions_of(placed):
                try:
                    compile_expression(source)
                except ExpressionError as exc:
                    yield item.finding(
                        path,
                        "FLOW_EXPRESSION",
                        f"{item.key}: step '{placed.step.name}': {path[-1]} does not compile: "
                        f"{exc}",
                    )


def step_name_findings(estate: Estate) -> Iterator[Finding]:
    for item, flow in _flows(estate):
        first: dict[str, Placed] = {}
        for placed in every_step(flow.spec):
            earlier = first.setdefault(placed.step.name, placed)
            if earlier is not placed:
                line = item.location((*earlier.path, "name")).line
                yield item.finding(
                    (*placed.path, "name"),
                    "FLOW_STEP_DUPLICATE",
                    f"{item.key}: step name '{placed.step.name}' is used twice (first on line "
                    f"{line}); a run checkpoints each step by its name",
                )


def path_leaves_base(path: str) -> bool:
    """Whether a path could climb out of the base URL it is appended to: '.' or '..'
    segments, or a backslash (which some servers read as a slash)."""
    plain = unquote(path.partition("?")[0])
    return "\\" in plain or any(s in (".", "..") for s in plain.split("/"))


def call_findings(estate: Estate) -> Iterator[Finding]:
    for item, flow in _flows(estate):
        for placed in every_step(flow.spec):
            step = placed.step
            if not isinstance(step, CallStep):
                continue
            yield from _call(estate, item, step, placed.path)
            if step.compensate is not None:
                yield from _call(estate, item, step.compensate, (*placed.path, "compensate"))
                if step.method in ("GET", "HEAD"):
                    yield item.finding(
                        (*placed.path, "compensate"),
                        "FLOW_COMPENSATE_READ",
                        f"{item.key}: step '{step.name}' only reads ({step.method}), so there "
                        "is nothing for its compensate to undo",
                        severity="warning",
                    )


def _call(
    estate: Estate, item: Loaded, call: CallStep | HttpCall, at: PathKey
) -> Iterator[Finding]:
    target = estate.get("System", call.system)
    if target is None:
        return  # reported as a dangling reference
    system = target.obj
    assert isinstance(system, System)
    base = str(system.spec.base_url) if system.spec.base_url is not None else None
    if base is None:
        yield item.finding(
            (*at, "system"),
            "FLOW_CALL_NO_URL",
            f"{item.key} calls System/{system.name}, which has no baseUrl",
        )
    elif system.spec.lifecycle.value == "retired":
        yield item.finding(
            (*at, "system"),
            "FLOW_CALL_RETIRED",
            f"{item.key} calls System/{system.name}, which is retired",
        )
    path = call.path
    if "://" in path.partition("?")[0]:
        under = base is not None and path.startswith(base.rstrip("/") + "/")
        if under:
            assert base is not None
            relative = "/" + path[len(base.rstrip("/")) + 1 :]
            yield item.finding(
                (*at, "path"),
                "FLOW_CALL_ABSOLUTE",
                f"{item.key}: {path!r} is under System/{system.name}'s base URL; write the "
                f"path alone ({relative!r}) so it follows the System when its URL changes",
                severity="warning",
            )
        else:
            yield item.finding(
                (*at, "path"),
                "FLOW_CALL_OUTSIDE",
                f"{item.key}: {path!r} is outside System/{system.name}'s base URL "
                f"({base or 'none'}); a call reaches only the System it names",
                hint="declare the other host as a System and call that",
            )
    elif path_leaves_base(path) or path.startswith("//"):
        yield item.finding(
            (*at, "path"),
            "FLOW_CALL_OUTSIDE",
            f"{item.key}: path {path!r} has '.' or '..' segments or starts with '//'; a call "
            f"must stay under System/{system.name}'s base URL",
        )


def trigger_findings(estate: Estate) -> Iterator[Finding]:
    feeding: dict[str, list[Loaded]] = {}
    for sub_item in estate.loaded_of("Subscription"):
        sub = sub_item.obj
        assert isinstance(sub, Subscription)
        if sub.spec.target.flow is not None:
            feeding.setdefault(sub.spec.target.flow, []).append(sub_item)
    for item, flow in _flows(estate):
        subs = feeding.get(flow.name, [])
        trigger = flow.spec.trigger
        if trigger is None and not subs:
            yield item.finding(
                ("spec",),
                "FLOW_UNREACHABLE",
                f"{item.key} has no trigger and no Subscription targets it: nothing starts it",
                severity="warning",
                hint="add a Subscription with target: {flow: " + flow.name + "}, or a trigger",
            )
        if trigger is None or trigger.event is None:
            continue
        for sub_item in subs:
            sub = sub_item.obj
            assert isinstance(sub, Subscription)
            if sub.spec.event == trigger.event:
                where = sub_item.location(("spec", "target", "flow")).render(estate.root)
                yield item.finding(
                    ("spec", "trigger", "event"),
                    "FLOW_TRIGGER_TWICE",
                    f"{item.key}: event {trigger.event} reaches it twice, through trigger.event "
                    f"and through {sub_item.key} ({where}); one event starts one run, so "
                    "keep one",
                    hint="remove trigger.event: the Subscription carries the filter, ordering, "
                    "retries and dead letters",
                )


def publish_findings(estate: Estate) -> Iterator[Finding]:
    for item, flow in _flows(estate):
        for placed in every_step(flow.spec):
            step = placed.step
            if not isinstance(step, PublishStep):
                continue
            event_item = estate.get("Event", step.event)
            if event_item is None or not isinstance(event_item.obj, Event):
                continue  # reported as a dangling reference
            schema = estate.event_schema(event_item)
            keys, source = _published_keys(placed)
            if keys is None or not isinstance(schema, dict) or schema.get("type") != "object":
                continue
            at = (*placed.path, "data") if step.data is not None else (*placed.path, "event")
            missing = sorted(set(_required(schema)) - keys)
            if missing:
                yield item.finding(
                    at,
                    "FLOW_PUBLISH_SCHEMA",
                    f"{item.key}: step '{step.name}' publishes {step.event} without "
                    f"{_fields(missing)} that its schema requires ({source} builds only "
                    f"{_fields(sorted(keys)) or 'an empty object'})",
                )
            properties = schema.get("properties")
            if schema.get("additionalProperties") is False and isinstance(properties, dict):
                extra = sorted(keys - set(properties))
                if extra:
                    yield item.finding(
                        at,
                        "FLOW_PUBLISH_SCHEMA",
                        f"{item.key}: step '{step.name}' publishes {step.event} with "
                        f"{_fields(extra)}, which its schema does not allow",
                    )


def _published_keys(placed: Placed) -> tuple[frozenset[str] | None, str]:
    """The top-level keys of the data a publish step sends, where the flow makes them plain:
    its own ``data``, else the message as the last map before it built it (a filter or an
    idempotency step keeps the message; an enrich adds its ``into`` field)."""
    step = placed.step
    assert isinstance(step, PublishStep)
    if step.data is not None:
        return constructed_keys(step.data), "its data"
    added: set[str] = set()
    for earlier in reversed(placed.before):
        if isinstance(earlier, FilterStep | IdempotencyStep):
            continue
        if isinstance(earlier, EnrichStep):
            added.add(earlier.into.split(".")[0])
            continue
        if isinstance(earlier, MapStep):
            keys = constructed_keys(earlier.expression)
            if keys is None:
                return None, ""
            return keys | added, f"step '{earlier.name}'"
        return None, ""  # a call, split or choice makes the message something else
    return None, ""  # the event that started the run: its shape is the trigger's


def _required(schema: dict[str, Any]) -> list[str]:
    required = schema.get("required")
    return [r for r in required if isinstance(r, str)] if isinstance(required, list) else []


def _fields(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def timeout_findings(estate: Estate) -> Iterator[Finding]:
    """A fixed wait as long as the flow's whole timeout: every run would time out there."""
    for item, flow in _flows(estate):
        timeout = flow.spec.timeout
        if timeout is None:
            continue
        for placed in every_step(flow.spec):
            step = placed.step
            if not isinstance(step, WaitStep) or step.duration is None:
                continue
            if step.duration >= timeout:
                yield item.finding(
                    (*placed.path, "for"),
                    "FLOW_TIMEOUT",
                    f"{item.key}: wait {step.name} is for {format_duration(step.duration)}, "
                    f"and a run may take {format_duration(timeout)} in all (spec.timeout): "
                    "every run would time out at this wait",
                    severity="warning",
                    hint="make spec.timeout longer than the waits, or the wait shorter",
                )


#: The rules above as `check` lists them (estate/rules.py registers them): code, description.
FLOW_RULES = [
    ("FLOW_EXPRESSION", "every JSONata expression in a Flow compiles", expression_findings),
    (
        "FLOW_STEP_DUPLICATE",
        "step names are unique within a Flow, inside choices too",
        step_name_findings,
    ),
    (
        "FLOW_CALL",
        "a Flow's call and its compensate reach a live System with a base URL, and stay under it",
        call_findings,
    ),
    (
        "FLOW_TRIGGER",
        "one event starts one run: a Flow's trigger.event and a Subscription targeting it are "
        "not both given for one event; something starts every Flow",
        trigger_findings,
    ),
    (
        "FLOW_TIMEOUT",
        "no fixed wait of a Flow lasts its whole timeout",
        timeout_findings,
    ),
    (
        "FLOW_PUBLISH_SCHEMA",
        "where a Flow's published data is an object built with fixed keys, it has the fields the "
        "Event's latest schema requires and no others it forbids",
        publish_findings,
    ),
]
