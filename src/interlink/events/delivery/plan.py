"""A Subscription compiled for delivery: its target resolved, its filter compiled.

Compiling checks what only run time can: the webhook URL (the base URL may be a reference),
and the filter. A subscription that does not compile is reported and not run; the others are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from interlink.errors import ConfigError
from interlink.estate.kinds import Subscription, System, Team
from interlink.estate.kinds.organisation import Channel
from interlink.estate.model import Estate
from interlink.estate.references import SecretSource, resolve
from interlink.estate.subscriptions import subscriptions
from interlink.events.delivery.filtering import EventFilter, FilterError
from interlink.events.delivery.webhook import webhook_url
from interlink.http.credential import Credential, compile_credential

TargetKind = Literal["webhook", "handler", "flow"]


@dataclass(frozen=True)
class DeliveryPlan:
    name: str
    event: str  # the event type: the bus stream the subscription's consumer reads
    kind: TargetKind
    target: str  # for people and logs: "System/crm /hooks", "handler audit", "Flow/sync"
    url: str | None  # the webhook URL, resolved: may hold values from references, never logged
    handler: str | None
    secret: str | None  # the signing secret's reference
    filter: EventFilter
    ordered: bool
    schedule: tuple[float, ...]
    jitter: float
    dead_letter: bool
    max_in_flight: int
    timeout: float
    owner: str | None  # the Team told when the subscription is disabled
    channels: tuple[Channel, ...]
    fingerprint: str = ""  # equal for plans compiled from the same inputs: reload keeps those
    # The target System's credentials, resolved: on every delivery (http/credential.py).
    credential: Credential | None = None
    flow: str | None = None  # the Flow a flow target starts


@dataclass(frozen=True)
class PlanProblem:
    subscription: str
    message: str


def compile_plans(
    estate: Estate, secrets: SecretSource | None = None
) -> tuple[list[DeliveryPlan], list[PlanProblem]]:
    """One plan per Subscription that compiles, and one problem per one that does not."""
    plans: list[DeliveryPlan] = []
    problems: list[PlanProblem] = []
    for sub in subscriptions(estate):
        try:
            plans.append(compile_plan(sub, estate, secrets))
        except (ConfigError, ValueError) as exc:
            message = exc.message if isinstance(exc, ConfigError) else str(exc)
            problems.append(PlanProblem(sub.name, message))
    return plans, problems


def compile_plan(
    sub: Subscription, estate: Estate, secrets: SecretSource | None = None
) -> DeliveryPlan:
    spec = sub.spec
    target = spec.target
    url: str | None = None
    system: System | None = None
    credential: Credential | None = None
    if target.system is not None:
        found = estate.get("System", target.system)
        if found is None or not isinstance(found.obj, System):
            raise ConfigError(f"target System/{target.system} does not exist")
        system = found.obj
        if system.spec.base_url is None:
            raise ConfigError(f"target System/{system.name} has no baseUrl")
        base = resolve(system.spec.base_url, secrets)
        try:
            url = webhook_url(base, target.path)
        except ValueError as exc:
            raise ConfigError(
                f"webhook URL of System/{system.name} with path {target.path!r}: {exc}"
            ) from None
        if system.spec.credentials is not None:
            credential = compile_credential(system.spec.credentials, system.name, secrets)
        kind: TargetKind = "webhook"
        label = f"System/{system.name} {target.path}"
    elif target.handler is not None:
        kind, label = "handler", f"handler {target.handler}"
    else:
        kind, label = "flow", f"Flow/{target.flow}"
    try:
        event_filter = EventFilter(sub.name, spec.filter.attributes, spec.filter.jsonata)
    except FilterError as exc:
        raise ConfigError(str(exc)) from None
    owner = sub.metadata.owner or (system.metadata.owner if system is not None else None)
    channels = _channels(estate, owner)
    # A digest, so the resolved URL is compared without being kept in the clear twice.
    inputs = [sub.model_dump_json(), url or "", owner or ""]
    if credential is not None:  # a rotated secret makes a new plan
        inputs += [repr(credential), credential.value.decode("latin-1")]
        inputs.append(credential.source.fingerprint if credential.source is not None else "")
    inputs += [c.model_dump_json() for c in channels]
    if target.flow is not None:  # a flow fixed by a reload may start where it could not
        flow = estate.get("Flow", target.flow)
        inputs.append(flow.obj.model_dump_json() if flow is not None else "")
    fingerprint = hashlib.sha256("\x00".join(inputs).encode()).hexdigest()
    return DeliveryPlan(
        name=sub.name,
        event=spec.event,
        kind=kind,
        target=label,
        url=url,
        handler=target.handler,
        secret=spec.secret,
        filter=event_filter,
        ordered=spec.ordered,
        schedule=tuple(spec.retry.schedule),
        jitter=spec.retry.jitter,
        dead_letter=spec.dead_letter,
        max_in_flight=spec.max_in_flight,
        timeout=spec.timeout,
        owner=owner,
        channels=channels,
        fingerprint=fingerprint,
        credential=credential,
        flow=target.flow,
    )


def _channels(estate: Estate, team: str | None) -> tuple[Channel, ...]:
    if team is None:
        return ()
    found = estate.get("Team", team)
    if found is None or not isinstance(found.obj, Team):
        return ()
    channels: Iterable[Channel] = found.obj.spec.channels
    return tuple(channels)
