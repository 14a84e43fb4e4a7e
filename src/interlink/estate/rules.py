"""Governance rules `interlink check` applies once the estate has loaded.

Each rule is a function from the estate to findings, registered with a stable code prefix and
a one-line description (listed by `interlink check --list-rules`). A rule that depends on the
calendar (sunset dates) also takes the day it judges by, so checks stay reproducible.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

from interlink.errors import ExpressionError
from interlink.estate import flow_rules, monitor_rules, product_rules, tls_rules
from interlink.estate.durations import format_duration
from interlink.estate.findings import Finding
from interlink.estate.flow_rules import path_leaves_base
from interlink.estate.glossary_rules import glossary_findings
from interlink.estate.kinds import (
    Api,
    Consumer,
    DataProduct,
    Event,
    Plan,
    Platform,
    Route,
    Subscription,
    System,
)
from interlink.estate.kinds.base import Classification, Lifecycle
from interlink.estate.lifecycle import lifecycle_bindings
from interlink.estate.model import Estate, Loaded
from interlink.estate.not_yet import no_effect_findings, not_run_findings
from interlink.estate.policy_rules import policy_findings
from interlink.estate.schema_fields import schema_properties
from interlink.estate.subjects import key_problem
from interlink.expressions import compile_expression

RuleFn = Callable[[Estate], Iterator[Finding]]
DatedRuleFn = Callable[[Estate, date], Iterator[Finding]]


@dataclass(frozen=True)
class Rule:
    code: str
    description: str
    run: DatedRuleFn

    def check(self, estate: Estate, today: date | None = None) -> Iterator[Finding]:
        return self.run(estate, today or date.today())


RULES: list[Rule] = []


def rule(code: str, description: str) -> Callable[[RuleFn], RuleFn]:
    def register(fn: RuleFn) -> RuleFn:
        RULES.append(Rule(code, description, lambda estate, _today: fn(estate)))
        return fn

    return register


def dated_rule(code: str, description: str) -> Callable[[DatedRuleFn], DatedRuleFn]:
    def register(fn: DatedRuleFn) -> DatedRuleFn:
        RULES.append(Rule(code, description, fn))
        return fn

    return register


_finding = Loaded.finding


@rule("OWNER_MISSING", "every System, Api and Event has an owner Team (its own or its System's)")
def owners(estate: Estate) -> Iterator[Finding]:
    for item in estate:
        if isinstance(item.obj, System | Api | Event) and estate.owner_of(item.obj) is None:
            yield _finding(
                item,
                ("metadata",),
                "OWNER_MISSING",
                f"{item.key} has no owner Team",
                hint="set metadata.owner",
            )


@rule("DEPRECATION_INCOMPLETE", "a deprecated Api or Event names its sunset date and successor")
def deprecations(estate: Estate) -> Iterator[Finding]:
    for item in estate:
        obj = item.obj
        if not isinstance(obj, Api | Event) or obj.spec.lifecycle != Lifecycle.DEPRECATED:
            continue
        missing = [f for f in ("sunset", "successor") if getattr(obj.spec, f) is None]
        if missing:
            yield _finding(
                item,
                ("spec", "lifecycle"),
                "DEPRECATION_INCOMPLETE",
                f"{item.key} is deprecated but has no {' and no '.join(missing)}",
                hint="consumers need to know when it goes and what replaces it",
            )


@dated_rule(
    "LIFECYCLE",
    "nothing is bound to a deprecated Api, Event or schema version past its sunset, or to a "
    "retired one (before the sunset: a warning)",
)
def lifecycle(estate: Estate, today: date) -> Iterator[Finding]:
    for binding in lifecycle_bindings(estate, today):
        yield binding.finding()


@rule("PII", "fields marked x-pii in an event schema are declared in the Event's classification")
def pii(estate: Estate) -> Iterator[Finding]:
    for item in estate.loaded_of("Event"):
        event = item.obj
        assert isinstance(event, Event)
        schema = estate.event_schema(item)
        if schema is None:
            continue
        fields = dict(schema_properties(schema))
        declared = event.spec.classification.pii
        marked = [p for p, sub in fields.items() if sub.get("x-pii") is True]
        for path in marked:
            if path not in declared:
                yield _finding(
                    item,
                    ("spec", "classification"),
                    "PII_UNDECLARED",
                    f"{item.key}: field '{path}' is marked x-pii in the schema but not "
                    "listed in classification.pii",
                )
        for i, path in enumerate(declared):
            if path not in fields:
                yield _finding(
                    item,
                    ("spec", "classification", "pii", i),
                    "PII_UNKNOWN_FIELD",
                    f"{item.key}: PII field '{path}' is not in the latest schema",
                )
        low = (Classification.PUBLIC, Classification.INTERNAL)
        if declared and event.spec.classification.level in low:
            yield _finding(
                item,
                ("spec", "classification", "level"),
                "PII_CLASSIFICATION",
                f"{item.key} carries personal data but is classified "
                f"'{event.spec.classification.level.value}'",
                hint="use confidential or restricted",
            )
        key = event.spec.ordering_key
        if key and key not in fields:
            yield _finding(
                item,
                ("spec", "orderingKey"),
                "ORDERING_KEY_UNKNOWN",
                f"{item.key}: ordering key '{key}' is not a field of the latest schema",
            )


@rule("SUBJECT_KEY", "an Event's or DataProduct's subject key reads one value of its data")
def subject_keys(estate: Estate) -> Iterator[Finding]:
    for item in estate.loaded_of("Event"):
        event = item.obj
        assert isinstance(event, Event)
        if event.spec.subject is None:
            continue
        schema = estate.event_schema(item)
        fields = set(dict(schema_properties(schema))) if isinstance(schema, dict) else None
        problem = key_problem(event.spec.subject.key, fields or None)
        if problem is not None:
            yield _finding(
                item,
                ("spec", "subject", "key"),
                "SUBJECT_KEY",
                f"{item.key}: subject key {problem}",
            )
    for item in estate.loaded_of("DataProduct"):
        product = item.obj
        assert isinstance(product, DataProduct)
        subject = product.spec.subject
        columns = [c.name for c in product.spec.contract.columns]
        if subject is not None and columns and subject.key not in columns:
            yield _finding(
                item,
                ("spec", "subject", "key"),
                "SUBJECT_KEY",
                f"{item.key}: subject key '{subject.key}' is not a column of its contract "
                f"({', '.join(columns)})",
            )


@rule("SUBSCRIPTION_TARGET", "a Subscription's webhook target is a live System with a base URL")
def subscription_targets(estate: Estate) -> Iterator[Finding]:
    for item in estate.loaded_of("Subscription"):
        sub = item.obj
        assert isinstance(sub, Subscription)
        if sub.spec.target.system is None:
            continue
        target = estate.get("System", sub.spec.target.system)
        if target is None:
            continue  # reported as a dangling reference
        system = target.obj
        assert isinstance(system, System)
        if system.spec.base_url is None:
            yield _finding(
                item,
                ("spec", "target", "system"),
                "SUBSCRIPTION_TARGET_NO_URL",
                f"{item.key} delivers to System/{system.name}, which has no baseUrl",
            )
        if system.spec.lifecycle.value == "retired":
            yield _finding(
                item,
                ("spec", "target", "system"),
                "SUBSCRIPTION_TARGET_RETIRED",
                f"{item.key} delivers to System/{system.name}, which is retired",
            )


@rule(
    "SUBSCRIPTION_FILTER",
    "a Subscription's JSONata filter compiles and its target path stays under the base URL",
)
def subscription_filters(estate: Estate) -> Iterator[Finding]:
    for item in estate.loaded_of("Subscription"):
        sub = item.obj
        assert isinstance(sub, Subscription)
        expression = sub.spec.filter.jsonata
        if expression is not None:
            problem = _jsonata_problem(expression)
            if problem is not None:
                yield _finding(
                    item,
                    ("spec", "filter", "jsonata"),
                    "SUBSCRIPTION_FILTER_INVALID",
                    f"{item.key}: the JSONata filter does not compile: {problem}",
                )
        if path_leaves_base(sub.spec.target.path):
            yield _finding(
                item,
                ("spec", "target", "path"),
                "SUBSCRIPTION_TARGET_PATH",
                f"{item.key}: target path {sub.spec.target.path!r} has '.' or '..' segments; "
                "a webhook path must stay under the System's base URL",
            )


def _jsonata_problem(expression: str) -> str | None:
    try:
        compile_expression(expression)
    except ExpressionError as exc:
        return str(exc)
    return None


@rule("UPSTREAM_NO_URL", "every System a Route sends traffic to has a base URL")
def upstream_urls(estate: Estate) -> Iterator[Finding]:
    for item in estate.loaded_of("Route"):
        route = item.obj
        assert isinstance(route, Route)
        for i, upstream in enumerate(route.spec.upstreams):
            target = estate.get("System", upstream.system)
            if (
                target is not None
                and isinstance(target.obj, System)
                and not target.obj.spec.base_url
            ):
                yield _finding(
                    item,
                    ("spec", "upstreams", i, "system"),
                    "UPSTREAM_NO_URL",
                    f"{item.key} routes to System/{upstream.system}, which has no baseUrl",
                )


@rule("ROUTE_CONFLICT", "no two Routes match the same host, path and methods")
def route_conflicts(estate: Estate) -> Iterator[Finding]:
    seen: dict[tuple[str, str, str], Loaded] = {}
    for item in estate.loaded_of("Route"):
        route = item.obj
        assert isinstance(route, Route)
        match = route.spec.match
        methods = ",".join(sorted(match.methods)) if match.methods else "*"
        template = _normalise_template(match.path)
        key = (match.host or "*", template, methods)
        first = seen.get(key)
        if first is not None:
            yield _finding(
                item,
                ("spec", "match"),
                "ROUTE_CONFLICT",
                f"{item.key} matches exactly what {first.key} matches",
                hint=f"{first.key} is at {first.location().render(estate.root)}",
            )
        else:
            seen[key] = item


def _normalise_template(path: str) -> str:
    import re

    return re.sub(r"\{[^}]*\}", "{}", path.rstrip("/") or "/")


_TEMPLATE_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


@rule("ROUTE_TEMPLATE", "a Route's path template has whole {name} segments, used by its rewrite")
def route_templates(estate: Estate) -> Iterator[Finding]:
    import re

    for item in estate.loaded_of("Route"):
        route = item.obj
        assert isinstance(route, Route)
        names: list[str] = []
        for segment in route.spec.match.path.split("/"):
            if re.fullmatch(r"\{" + _TEMPLATE_NAME + r"\}", segment):
                names.append(segment[1:-1])
            elif "{" in segment or "}" in segment:
                yield _finding(
                    item,
                    ("spec", "match", "path"),
                    "ROUTE_TEMPLATE",
                    f"{item.key}: path segment {segment!r} is neither text nor one whole "
                    "{name}; the gateway cannot serve it",
                )
        for name in sorted({n for n in names if names.count(n) > 1}):
            yield _finding(
                item,
                ("spec", "match", "path"),
                "ROUTE_TEMPLATE",
                f"{item.key}: template parameter {{{name}}} appears twice",
            )
        if route.spec.rewrite is not None:
            for name in re.findall(r"\{(" + _TEMPLATE_NAME + r")\}", route.spec.rewrite.path):
                if name not in names:
                    yield _finding(
                        item,
                        ("spec", "rewrite", "path"),
                        "ROUTE_TEMPLATE",
                        f"{item.key}: rewrite.path uses {{{name}}}, which match.path does not "
                        "capture",
                    )


@rule("ROUTE_OVERLAP", "Routes on one host and path that list shared methods: one always wins")
def route_overlaps(estate: Estate) -> Iterator[Finding]:
    groups: dict[tuple[str, str], list[tuple[Loaded, frozenset[str]]]] = {}
    for item in estate.loaded_of("Route"):
        route = item.obj
        assert isinstance(route, Route)
        match = route.spec.match
        if not match.methods:
            continue  # a route without methods is the fallback by design
        methods = set(match.methods) | ({"HEAD"} if "GET" in match.methods else set())
        key = (match.host or "*", _normalise_template(match.path))
        groups.setdefault(key, []).append((item, frozenset(methods)))
    for (_, path), members in groups.items():
        for (a, ma), (b, mb) in itertools.combinations(members, 2):
            shared = ma & mb
            if not shared or ma == mb:  # identical sets are ROUTE_CONFLICT's
                continue
            # The gateway prefers fewer methods, then the first name (docs/architecture.md).
            (winner, _), (loser, _) = sorted(
                [(a, ma), (b, mb)], key=lambda m: (len(m[1]), m[0].obj.name)
            )
            yield _finding(
                loser,
                ("spec", "match", "methods"),
                "ROUTE_OVERLAP",
                f"{loser.key} and {winner.key} both match {', '.join(sorted(shared))} on "
                f"{path}; {winner.key} serves those",
                severity="warning",
            )


@rule("PLAN_LIMITS", "Plan limits are consistent: no limit that another makes unreachable")
def plan_limits(estate: Estate) -> Iterator[Finding]:
    for item in estate.loaded_of("Plan"):
        plan = item.obj
        assert isinstance(plan, Plan)
        limits = sorted(enumerate(plan.spec.limits), key=lambda x: x[1].per)
        windows: dict[float, int] = {}
        for i, limit in limits:
            if limit.per in windows:
                yield _finding(
                    item,
                    ("spec", "limits", i),
                    "PLAN_LIMIT_DUPLICATE",
                    f"{item.key} has two limits per {format_duration(limit.per)}",
                )
            windows[limit.per] = i
            if limit.burst is not None and limit.burst > limit.requests:
                yield _finding(
                    item,
                    ("spec", "limits", i, "burst"),
                    "PLAN_BURST",
                    f"{item.key}: burst {limit.burst} exceeds the limit itself "
                    f"({limit.requests} per {format_duration(limit.per)})",
                )
        for (i, short), (_j, long) in itertools.pairwise(limits):
            if long.requests < short.requests:
                yield _finding(
                    item,
                    ("spec", "limits", i),
                    "PLAN_LIMIT_SHADOWED",
                    f"{item.key}: {short.requests} per {format_duration(short.per)} can "
                    f"never be reached under {long.requests} per "
                    f"{format_duration(long.per)}",
                    severity="warning",
                )
        quotas = plan.spec.quotas
        if quotas.daily and quotas.monthly and quotas.monthly < quotas.daily:
            yield _finding(
                item,
                ("spec", "quotas", "monthly"),
                "PLAN_QUOTA",
                f"{item.key}: monthly quota {quotas.monthly} is below the daily "
                f"quota {quotas.daily}",
            )
        if quotas.daily and limits:
            per_day = min(lim.requests * 86400 / lim.per for _, lim in limits)
            if per_day < quotas.daily:
                yield _finding(
                    item,
                    ("spec", "quotas", "daily"),
                    "PLAN_QUOTA_UNREACHABLE",
                    f"{item.key}: the rate limits allow at most {int(per_day)} "
                    f"requests a day, below the daily quota {quotas.daily}",
                    severity="warning",
                )


@rule("PLATFORM_SINGLE", "an estate has at most one Platform")
def single_platform(estate: Estate) -> Iterator[Finding]:
    platforms = [i for i in estate if isinstance(i.obj, Platform)]
    for extra in platforms[1:]:
        yield _finding(
            extra,
            ("metadata", "name"),
            "PLATFORM_SINGLE",
            f"a second Platform ({extra.key}); an estate has one",
            hint=f"the first is {platforms[0].key}",
        )


@rule(
    "OAUTH2_ISSUER",
    "a Route taking oauth2 tokens, or a Consumer's private_key_jwt key, has a Platform that "
    "issues tokens",
)
def oauth2_issuer(estate: Estate) -> Iterator[Finding]:
    if estate.platform.spec.gateway.oauth is not None:
        return
    for item in estate.loaded_of("Consumer"):
        assert isinstance(item.obj, Consumer)
        for i, credential in enumerate(item.obj.spec.credentials):
            if credential.type == "private_key_jwt":
                yield _finding(
                    item,
                    ("spec", "credentials", i, "type"),
                    "OAUTH2_ISSUER",
                    f"{item.key} signs client assertions, but the Platform has no token endpoint",
                    hint="set the Platform's spec.gateway.oauth.issuer",
                    severity="warning",
                )
    for item in estate.loaded_of("Route"):
        route = item.obj
        assert isinstance(route, Route)
        auth = route.spec.auth
        for i, method in enumerate(auth.methods if auth is not None else []):
            if method.type == "oauth2":
                yield _finding(
                    item,
                    ("spec", "auth", "methods", i, "type"),
                    "OAUTH2_ISSUER",
                    f"{item.key} takes oauth2 tokens, but the Platform issues none",
                    hint="set the Platform's spec.gateway.oauth.issuer",
                )


@rule("ALERTS_MAIL", "the Platform's alert mail System sends mail: its connector is smtp")
def alerts_mail(estate: Estate) -> Iterator[Finding]:
    for item in estate.loaded_of("Platform"):
        name = item.obj.spec.alerts.mail
        system = estate.get("System", name) if name else None
        if system is None:  # unset, or a dangling reference said as one
            continue
        connector = system.obj.spec.connector
        if connector != "smtp":
            yield _finding(
                item,
                ("spec", "alerts", "mail"),
                "ALERTS_MAIL",
                f"alert emails go through {system.key}, whose connector is "
                f"{connector or 'none'}, not smtp",
            )


@rule("MONITOR_AUDIENCE", "every Monitor tells somebody: its notify list or the target's owner")
def monitor_audience(estate: Estate) -> Iterator[Finding]:
    for item in estate.loaded_of("Monitor"):
        spec = item.obj.spec
        if spec.notify:
            continue
        target = estate.get(spec.target.kind, spec.target.name)
        owner = item.obj.metadata.owner or (estate.owner_of(target.obj) if target else None)
        if owner is None:
            yield _finding(
                item,
                ("spec",),
                "MONITOR_AUDIENCE",
                f"{item.key} tells nobody: it has no notify list and no owner",
                severity="warning",
            )


@rule(
    "GLOSSARY",
    "a Glossary's terms are unique, their related terms exist, and each mapping names an Event "
    "field of the latest schema, a DataProduct column, an Api schema property; a personal-data "
    "term maps to data declared personal (a warning)",
)
def glossary(estate: Estate) -> Iterator[Finding]:
    return glossary_findings(estate)


@rule(
    "POLICY",
    "the estate's own Policy rules: each object a rule applies to satisfies it (reported as "
    "POLICY_<code>, with the rule's severity)",
)
def policies(estate: Estate) -> Iterator[Finding]:
    return policy_findings(estate)


@rule("NO_EFFECT", "a field that is accepted but has no effect yet is a warning where it is set")
def no_effect(estate: Estate) -> Iterator[Finding]:
    return no_effect_findings(estate)


@rule(
    "NOT_RUN",
    "a DataProduct whose source type is not read yet is a warning; so is each Flow step of a "
    "kind the flow engine does not run",
)
def not_run(estate: Estate) -> Iterator[Finding]:
    return not_run_findings(estate)


for _code, _description, _run in (*flow_rules.FLOW_RULES, *monitor_rules.MONITOR_RULES):
    rule(_code, _description)(_run)
for _code, _description, _run in (*product_rules.PRODUCT_RULES, *tls_rules.TLS_RULES):
    rule(_code, _description)(_run)
