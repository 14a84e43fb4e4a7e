"""What `check` finds in Flows: expressions, step names, calls, triggers and published data.

A Flow's references to Systems, Apis, Events and DataProducts are checked with every other
reference (estate/links.py); these rules judge what only a Flow has. Each finding is located
at the exact field: the expression, the step name, the path.

Steps do not name each other: a choice holds its branches' steps and ``onError`` is a list of
steps, so the only names a step gives are references (a System, an Api, an Event, a DataProduct,
a child Flow), checked with all the others and hinted ("did you mean"); a ``next`` or ``goto``
is an unknown field.

What a published event will hold is judged only where the flow fixes it before running: an
object constructor with literal keys (the publish step's ``data``, or the last map's message).
A literal value is validated against its property's schema (``type``, ``pattern``, ``enum``,
``format``… as the event's validation would); a value whose type the expression fixes (``&``
is a string, arithmetic a number, a comparison a boolean, ``$string()`` a string, an object or
array constructor) is compared with the property's ``type``, a number with "integer" passing
(whether it is whole is not known); an object constructor is judged like the event, field by
field. Paths, variables and other functions are not judged: their value is known only at run
time.

How events reach a flow: a Subscription that targets it is the way (it carries the filter,
ordering, retries and the dead-letter queue); ``trigger.event`` is shorthand for such a
Subscription with the defaults. One event must start one run per flow, so a flow may not have
both for the same event: `check` refuses that, and says which to remove.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import jsonschema_rs

from interlink.errors import ContractError, ExpressionError
from interlink.estate.durations import format_duration
from interlink.estate.findings import Finding
from interlink.estate.input_schema import input_validator
from interlink.estate.kinds import Api, Event, Flow, Subscription, System
from interlink.estate.kinds.flow import (
    CallStep,
    ChoiceStep,
    EnrichStep,
    FileStep,
    FilterStep,
    FlowSpec,
    FlowStep,
    HttpCall,
    IdempotencyStep,
    MapStep,
    PublishStep,
    QueryStep,
    SendStep,
    SplitStep,
    Step,
    WaitStep,
    WriteStep,
)
from interlink.estate.model import Estate, Loaded
from interlink.estate.operations import matches
from interlink.estate.subscriptions import implied_name
from interlink.estate.yamlsource import PathKey
from interlink.expressions import Shape, compile_expression, constructed_object


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
    several: dict[type, tuple[str, ...]] = {
        QueryStep: ("params",),
        WriteStep: ("rows",),
        FileStep: ("path", "rows", "content"),
        SendStep: ("message", "headers", "subject"),
    }
    for field in several.get(type(step), ()):
        text = getattr(step, field)
        if text is not None:
            yield (*at, field), text
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
            if isinstance(step, EnrichStep) and step.source.api and step.source.path:
                path = step.source.path
                if path_leaves_base(path) or path.startswith("//"):
                    yield item.finding(
                        (*placed.path, "from", "path"),
                        "FLOW_CALL_OUTSIDE",
                        f"{item.key}: path {path!r} has '.' or '..' segments or starts with "
                        f"'//'; an enrich must stay under Api/{step.source.api}'s base URL",
                    )
                yield from _operation(
                    estate, item, "GET", path, (*placed.path, "from", "path"), api=step.source.api
                )
            if not isinstance(step, CallStep):
                continue
            yield from _call(estate, item, step, placed.path)
            yield from _operation(
                estate, item, step.method, step.path, (*placed.path, "path"), system=step.system
            )
            if step.compensate is not None:
                at = (*placed.path, "compensate")
                yield from _call(estate, item, step.compensate, at)
                comp = step.compensate
                yield from _operation(
                    estate, item, comp.method, comp.path, (*at, "path"), system=comp.system
                )
                if step.method in ("GET", "HEAD"):
                    yield item.finding(
                        (*placed.path, "compensate"),
                        "FLOW_COMPENSATE_READ",
                        f"{item.key}: step '{step.name}' only reads ({step.method}), so there "
                        "is nothing for its compensate to undo",
                        severity="warning",
                    )


def _operation(
    estate: Estate,
    item: Loaded,
    method: str,
    path: str,
    at: PathKey,
    *,
    system: str | None = None,
    api: str | None = None,
) -> Iterator[Finding]:
    """A warning when the System's (or the Api's) OpenAPI contracts declare no such call."""
    if "://" in path or path_leaves_base(path) or path.startswith("//"):
        return  # said already: it leaves the System
    apis = []
    for api_item in estate.loaded_of("Api"):
        obj = api_item.obj
        assert isinstance(obj, Api)
        if obj.name == api or (api is None and obj.spec.system == system):
            contract = estate.contracts.get(api_item.resolve_file(obj.spec.contract))
            if contract is not None and isinstance(contract.data, dict):
                apis.append((obj.name, contract.data))
    if not apis or any(matches(method, path, data) for _, data in apis):
        return
    names = ", ".join(f"Api/{name}" for name, _ in apis)
    yield item.finding(
        at,
        "FLOW_CALL_OPERATION",
        f"{item.key}: {method} {path} is not an operation of {names}",
        severity="warning",
        hint="check the method and path against the OpenAPI contract",
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
        declared = estate.get("Subscription", implied_name(flow.name))
        if declared is not None:
            where = declared.location(("metadata", "name")).render(estate.root)
            yield item.finding(
                ("spec", "trigger", "event"),
                "FLOW_TRIGGER_NAME",
                f"{item.key}: trigger.event runs as Subscription/{implied_name(flow.name)}, "
                f"and a Subscription of that name is declared ({where})",
                hint="rename that Subscription, or remove trigger.event",
            )
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
            fields, source = _published_fields(placed)
            if fields is None or not isinstance(schema, dict) or schema.get("type") != "object":
                continue
            keys = set(fields)
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
            for problem in value_problems(fields, schema, schema, ""):
                yield item.finding(
                    at,
                    "FLOW_PUBLISH_SCHEMA",
                    f"{item.key}: step '{step.name}' publishes {step.event} with {problem} "
                    f"(as {source} builds it)",
                )


def value_problems(
    fields: Mapping[str, Shape], schema: dict[str, Any], root: dict[str, Any], prefix: str
) -> Iterator[str]:
    """What the schema refuses in fields whose values are fixed before the flow runs: a
    literal it does not accept, a value of a fixed type it does not allow, and the same
    inside an object built with fixed keys (a field it requires missing, one it forbids)."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return
    for key, shape in sorted(fields.items()):
        sub = properties.get(key)
        if not isinstance(sub, dict):
            continue
        name = f"{prefix}{key}"
        wrong = _literal_refused(shape, sub, root) or _type_refused(shape, sub)
        if wrong is not None:
            yield f"'{name}' {wrong}"
            continue
        if shape.fields is None:
            continue
        missing = sorted(set(_required(sub)) - set(shape.fields))
        if missing:
            yield f"'{name}' lacking {_fields(missing)}, which its schema requires"
        inner = sub.get("properties")
        if sub.get("additionalProperties") is False and isinstance(inner, dict):
            extra = sorted(set(shape.fields) - set(inner))
            if extra:
                yield f"'{name}' holding {_fields(extra)}, which its schema does not allow"
        yield from value_problems(shape.fields, sub, root, f"{name}.")


def _literal_refused(shape: Shape, sub: dict[str, Any], root: dict[str, Any]) -> str | None:
    """Why the property's schema refuses a literal value, as the event's validation would;
    None when it accepts it or cannot be read alone (a reference to another file)."""
    if not shape.literal:
        return None
    # The root's definitions come along, so a "#/$defs/…" reference still resolves.
    alone = {k: root[k] for k in ("$schema", "$defs", "definitions") if k in root} | sub
    try:
        validator = jsonschema_rs.validator_for(alone, validate_formats=True)
        errors = list(validator.iter_errors(shape.value))
    except Exception:  # a reference it cannot follow alone: not decidable here
        return None
    if not errors:
        return None
    return f"= {json.dumps(shape.value)}, which its schema refuses: {errors[0].message}"


def _type_refused(shape: Shape, sub: dict[str, Any]) -> str | None:
    """Why the property's ``type`` refuses a value of the type the expression fixes."""
    wanted = sub.get("type")
    allowed = [wanted] if isinstance(wanted, str) else wanted
    if shape.literal or shape.type is None or not isinstance(allowed, list):
        return None
    # A computed number may or may not be whole: "integer" is not decidable.
    if shape.type in allowed or (shape.type == "number" and "integer" in allowed):
        return None
    return f"built as {_a(shape.type)}, where its schema wants {' or '.join(map(_a, allowed))}"


def _a(json_type: Any) -> str:
    json_type = str(json_type)
    return f"an {json_type}" if json_type[0] in "aeiou" else f"a {json_type}"


def _published_fields(placed: Placed) -> tuple[Mapping[str, Shape] | None, str]:
    """The top-level fields of the data a publish step sends, where the flow makes them plain:
    its own ``data``, else the message as the last map before it built it (a filter or an
    idempotency step keeps the message; an enrich adds its ``into`` field, of unknown shape)."""
    step = placed.step
    assert isinstance(step, PublishStep)
    if step.data is not None:
        return constructed_object(step.data), "its data"
    added: dict[str, Shape] = {}
    for earlier in reversed(placed.before):
        if isinstance(earlier, FilterStep | IdempotencyStep):
            continue
        if isinstance(earlier, EnrichStep):
            added.setdefault(earlier.into, Shape(None))  # the key as written, dots too
            continue
        if isinstance(earlier, MapStep):
            fields = constructed_object(earlier.expression)
            if fields is None:
                return None, ""
            return {**fields, **added}, f"step '{earlier.name}'"
        return None, ""  # a call, split or choice makes the message something else
    return None, ""  # the event that started the run: its shape is the trigger's


def input_schema_findings(estate: Estate) -> Iterator[Finding]:
    for item, flow in _flows(estate):
        if flow.spec.input_schema is None:
            continue
        try:
            input_validator(flow.spec.input_schema)
        except ContractError as exc:
            yield item.finding(
                ("spec", "inputSchema"), "FLOW_INPUT_SCHEMA", f"{item.key}: {exc.message}"
            )


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
        "a Flow's call and its compensate reach a live System with a base URL, and stay under "
        "it, as an enrich's path stays under its Api's",
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
        "Event's latest schema requires and no others it forbids, and its literal values and "
        "values of a fixed type (nested objects too) are ones the schema accepts",
        publish_findings,
    ),
    (
        "FLOW_INPUT_SCHEMA",
        "a Flow's inputSchema compiles as a JSON Schema that refers only inside itself",
        input_schema_findings,
    ),
]
