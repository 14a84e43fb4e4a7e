"""The request-validation policy: a route's requests checked against its Api's contract.

Strict by design: the gateway exposes the contract and nothing else.

- A path under the route that the contract does not describe is a 404, a method the contract
  does not describe there a 405 with ``Allow`` (``GET`` implies ``HEAD``).
- Parameters (path, query, headers) and the JSON body that break the contract are a 400 listing
  every violation with a JSON pointer into the request: ``/path/id``, ``/query/limit``,
  ``/headers/x-tenant``, ``/body/address/city``. A body that is not JSON is a 400 at ``/body``,
  and so is a body sent to an operation that takes none, or none sent where one is required.
- A body of a media type the operation does not accept is a 415 naming the accepted ones.

Only JSON bodies (``application/json``, ``*+json``) are read before they are forwarded: whole,
within the server's ``maxBodyBytes``, and the same bytes go upstream. Bodies of other accepted
types stream through unread. With ``validation.request: off`` and ``response: record`` the
policy only attaches the response recorder (see :mod:`.drift`).
"""

from __future__ import annotations

from itertools import islice
from typing import Any, Final

from interlink.errors import ContractError, Violation
from interlink.estate.kinds.gateway import RequestValidation, ResponseValidation, Route
from interlink.estate.model import Estate
from interlink.events.cloudevents import pointer
from interlink.events.validation import describe_violation
from interlink.gateway.policy import Outcome, Policy, Reply, Unsupported
from interlink.gateway.request import Request
from interlink.gateway.services import GatewayServices
from interlink.gateway.validation.drift import Observer, recorder
from interlink.gateway.validation.operations import (
    Operation,
    ParamGroup,
    media_type,
    route_contract,
)
from interlink.gateway.validation.params import (
    ABSENT,
    Malformed,
    coerce,
    loads,
    path_segment,
    read_query,
    read_text,
    split_query,
)
from interlink.http.streams import BodyError, BodyStream

MAX_VIOLATIONS: Final = 100
TITLE: Final = "Request does not match the contract"


def request_validation(route: Route, estate: Estate, services: GatewayServices) -> Policy | None:  # noqa: C901 - the policy is a closure over the contract
    """The policy factory: None when the route names no Api or validates nothing."""
    spec = route.spec
    enforce = spec.validation.request is RequestValidation.ENFORCE
    record = spec.validation.response is ResponseValidation.RECORD
    if spec.api is None or not (enforce or record):
        return None
    try:
        contract = route_contract(route, estate, services.state)
    except ContractError as exc:
        raise Unsupported(f"its contract cannot be checked: {exc.message}") from None
    observers: dict[int, list[Observer]] = {}
    if record:
        for op in contract.operations:
            observers[id(op)] = [recorder(route.name, contract.api, op, services)]
    matcher = contract.matcher
    api = contract.api

    def validate(request: Request) -> Outcome:
        found = matcher.match(request.path)
        if found is None:
            if not enforce:
                return None
            return Reply(
                404,
                f"the contract of Api {api} describes no operation at {request.path}",
                title="No such operation",
            )
        methods, raw = found
        method = request.method
        op = methods.get(method)
        if op is None and method == "HEAD":
            op = methods.get("GET")
        if op is None:
            if not enforce:
                return None
            allow = matcher.allowed(methods)
            return Reply(
                405,
                f"the contract of Api {api} has no {method} operation at "
                f"{next(iter(methods.values())).template}",
                headers=[(b"allow", ", ".join(allow).encode("ascii"))],
                title="No such operation",
            )
        if record and method != "HEAD":
            watching = observers[id(op)]
            if request.observers is None:
                request.observers = list(watching)
            else:
                request.observers.extend(watching)
        if not enforce or (op.simple and request.body is None):
            return None
        if not op.simple:
            reply = check_parameters(request, op, raw, api)
            if reply is not None:
                return reply
        if op.body is None and request.body is None:
            return None
        return check_body(request, op, api)  # reads the body: it may wait

    return validate


def check_parameters(  # noqa: C901 - path, query and header parameters in turn
    request: Request, op: Operation, raw: dict[str, str], api: str
) -> Reply | None:
    """Check the path, query and header parameters: None when they match the contract."""
    violations: list[Violation] = []
    if op.path is not None:
        group = op.path
        values: dict[str, Any] = {}
        for param in group.params:
            text = raw.get(param.name)
            if text is None:
                continue
            if param.plain:
                values[param.name] = coerce(path_segment(text), param.types)
            else:
                _read(values, violations, group, param.name, read_text, param, path_segment(text))
        _validate(group, values, violations)
    if op.query is not None and (request.query or op.query.required):
        group = op.query
        query = split_query(request.query) if request.query else {}
        values = {}
        for param in group.params:
            if param.shape == "object":  # its properties may be parameters of their own
                _read(values, violations, group, param.name, read_query, param, query)
                continue
            found = query.get(param.name)
            if found is None:
                continue
            if param.plain:
                values[param.name] = coerce(found[0], param.types)
            else:
                _read(values, violations, group, param.name, read_query, param, query)
        _validate(group, values, violations)
    if op.headers is not None:
        group = op.headers
        wanted = group.by_header
        texts: dict[str, str] = {}
        for name, value in request.headers:
            declared = wanted.get(name)
            if declared is not None:
                text = value.decode("latin-1").strip()
                key = declared.name
                texts[key] = f"{texts[key]}, {text}" if key in texts else text
        values = {}
        for param in group.params:
            if param.name in texts:
                _read(values, violations, group, param.name, read_text, param, texts[param.name])
        _validate(group, values, violations)
    return _invalid(violations, api, op) if violations else None


async def check_body(request: Request, op: Operation, api: str) -> Reply | None:  # noqa: C901 - one answer per body case
    """Check the body; a JSON body is read whole and put back for the upstream."""
    body = request.body
    spec = op.body
    if spec is None:
        if body is None:
            return None
        return _invalid([Violation("/body", "this operation takes no request body")], api, op)
    if body is None:
        if spec.required:
            return _invalid([Violation("/body", "a request body is required")], api, op)
        return None
    content_type = None
    for name, header in request.headers:
        if name == b"content-type":
            content_type = header
            break
    media = media_type(content_type)
    accepted, validator = spec.select(media)
    if not accepted:
        return Reply(
            415,
            f"{op.label} accepts {spec.accepted or 'no request body'}, not {media}",
            title="Unsupported media type",
        )
    if validator is None:
        return None  # a body the contract does not describe as JSON streams through unread
    try:
        data = body.take() if body.complete else await body.read()
    except BodyError as failed:
        return Reply(failed.status, failed.message, title=failed.title)
    request.body = BodyStream.of(data)  # what goes upstream: the very bytes received
    if not data:
        if spec.required:
            return _invalid([Violation("/body", "a request body is required")], api, op)
        return None
    try:
        value = loads(data)
    except RecursionError:
        return _invalid([Violation("/body", "is nested too deeply")], api, op)
    except ValueError as exc:
        return _invalid([Violation("/body", f"is not valid JSON: {_reason(exc)}")], api, op)
    violations: list[Violation] = []
    try:
        if validator.is_valid(value):
            return None
        _errors(validator, value, "body", violations)
    except ValueError:  # the validator's own bound on nesting
        violations = [Violation("/body", "is nested too deeply")]
    return _invalid(violations, api, op)


def _read(
    values: dict[str, Any],
    violations: list[Violation],
    group: ParamGroup,
    name: str,
    reader: Any,
    *args: Any,
) -> None:
    try:
        value = reader(*args)
    except Malformed as exc:
        violations.append(Violation(pointer(group.location, name), str(exc)))
        return
    if value is not ABSENT:
        values[name] = value


def _validate(group: ParamGroup, values: dict[str, Any], violations: list[Violation]) -> None:
    validator = group.validator
    try:
        if not validator.is_valid(values):
            _errors(validator, values, group.location, violations)
    except ValueError:  # the validator's own bound on nesting (a JSON parameter)
        violations.append(Violation(pointer(group.location), "is nested too deeply"))


def _errors(validator: Any, instance: Any, location: str, out: list[Violation]) -> None:
    for error in islice(validator.iter_errors(instance), MAX_VIOLATIONS - len(out)):
        path = list(error.instance_path)
        if type(error.kind).__name__ == "Required":
            path.append(str(error.kind.as_dict().get("property")))
            message = "is required"
        else:
            message = describe_violation(error)
        out.append(Violation(pointer(location, *path), message))


def _invalid(violations: list[Violation], api: str, op: Operation) -> Reply:
    first = violations[0]
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    return Reply(
        400,
        f"{op.label} does not match the contract of Api {api}: "
        f"{first.pointer}: {first.message}{more}",
        title=TITLE,
        extra={"violations": [{"pointer": v.pointer, "message": v.message} for v in violations]},
    )


def _reason(exc: ValueError) -> str:
    text = getattr(exc, "msg", None) or str(exc)
    position = getattr(exc, "pos", None)
    return f"{text} at byte {position}" if isinstance(position, int) else str(text)[:120]
