"""The estate's own Policy rules, applied by `check` like the built-in ones.

Each rule's expressions run over the object as written with the defaults filled in (an unset
optional field is absent), so a rule reads the same names as the YAML it judges. Every object
is turned into that form once per check, and only when the estate has a Policy at all: a large
estate without one pays nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from interlink.errors import ExpressionError
from interlink.estate.findings import Finding
from interlink.estate.hints import did_you_mean
from interlink.estate.kinds import KINDS, Policy
from interlink.estate.kinds.policy import PolicyRule
from interlink.estate.model import Estate, Loaded
from interlink.estate.yamlsource import PathKey
from interlink.expressions import Expression, compile_expression, truthy

#: The prefix of every finding a Policy rule reports: built-in codes never start with it.
CODE_PREFIX = "POLICY_"

Documents = dict[str, dict[str, Any]]


def policy_findings(estate: Estate) -> Iterator[Finding]:
    policies = list(estate.loaded_of("Policy"))
    if not policies:
        return
    documents = _documents(estate)
    codes: dict[str, str] = {}
    for item in policies:
        policy = item.obj
        assert isinstance(policy, Policy)
        for index, rule in enumerate(policy.spec.rules):
            at: PathKey = ("spec", "rules", index)
            first = codes.setdefault(rule.code, item.key)
            if first != item.key:
                yield item.finding(
                    (*at, "code"),
                    "POLICY",
                    f"{item.key}: rule code {rule.code} is already used by {first}",
                    hint="codes are unique across the estate's Policies",
                )
                continue
            yield from _apply(estate, item, policy, rule, at, documents)


def _apply(
    estate: Estate,
    item: Loaded,
    policy: Policy,
    rule: PolicyRule,
    at: PathKey,
    documents: Documents,
) -> Iterator[Finding]:
    if rule.kind not in KINDS:
        hint = did_you_mean(rule.kind, KINDS)
        yield item.finding(
            (*at, "kind"), "POLICY", f"{item.key}: unknown kind {rule.kind!r}", hint=hint
        )
        return
    compiled: dict[str, Expression | None] = {}
    for field in ("when", "require"):
        source = getattr(rule, field)
        try:
            compiled[field] = compile_expression(source) if source is not None else None
        except ExpressionError as exc:
            yield item.finding((*at, field), "POLICY", f"{item.key}: rule {rule.code}: {exc}")
            return
    when, require = compiled["when"], compiled["require"]
    assert require is not None
    for target in estate.loaded_of(rule.kind):
        view = documents[rule.kind][target.obj.metadata.name]
        bindings = {
            **policy.spec.values,
            "estate": documents,
            "owner": estate.owner_of(target.obj),
            "key": target.key,
        }
        try:
            if when is not None and not truthy(when.evaluate(view, bindings)):
                continue
            if truthy(require.evaluate(view, bindings)):
                continue
        except ExpressionError as exc:
            yield item.finding(
                (*at, "require"),
                "POLICY",
                f"{item.key}: rule {rule.code} could not be evaluated on {target.key}: {exc}",
            )
            continue
        yield Finding(
            rule.severity,
            CODE_PREFIX + rule.code,
            f"{target.key}: {rule.message or rule.description}",
            target.location(_path(rule.at)),
            hint=f"{item.key}, rule {rule.code}",
            subject=target.key,
        )


def _documents(estate: Estate) -> Documents:
    """Every object as its rules see it, by kind and name."""
    out: Documents = {kind: {} for kind in KINDS}
    for item in estate:
        obj = item.obj
        out[obj.KIND][obj.metadata.name] = obj.model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
    return out


def _path(dotted: str | None) -> PathKey:
    if dotted is None:
        return ("kind",)
    return tuple(int(p) if p.isdigit() else p for p in dotted.split("."))
