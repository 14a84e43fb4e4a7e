"""Security requirement changes of one OpenAPI operation.

A ``security`` list is a set of alternatives (any one suffices); each alternative names schemes
that must all be satisfied, with scopes. No list, or an empty one, means anonymous access, which
is modelled as the single empty alternative. A client keeps working when the alternative it
uses still exists with no more schemes and no more scopes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlink.contracts.difference import Difference
from interlink.errors import ContractError

Alternatives = dict[frozenset[str], dict[str, frozenset[str]]]


def alternatives(value: Any, where: str) -> Alternatives:
    """The alternatives of a ``security`` value (``None``: anonymous)."""
    if value is None or value == []:
        return {frozenset(): {}}
    if not isinstance(value, list) or not all(isinstance(alt, Mapping) for alt in value):
        raise ContractError(f"invalid OpenAPI document at {where}: 'security' must be a list")
    out: Alternatives = {}
    for alt in value:
        scopes: dict[str, frozenset[str]] = {}
        for name, listed in alt.items():
            if not isinstance(listed, list):
                raise ContractError(
                    f"invalid OpenAPI document at {where}: scopes of '{name}' must be a list"
                )
            scopes[str(name)] = frozenset(str(s) for s in listed)
        out[frozenset(scopes)] = scopes
    return out


def _names(names: frozenset[str]) -> str:
    return " + ".join(sorted(names)) if names else "no authentication"


def diff_security(old: Any, new: Any, where: str, operation: str) -> list[Difference]:
    """Differences between the effective security of an operation before and after."""
    before = alternatives(old, where)
    after = alternatives(new, where)
    out: list[Difference] = []
    for names, scopes in before.items():
        if names in after:
            out.extend(_scopes(scopes, after[names], where, operation))
            continue
        stricter = [alt for alt in after if alt > names]
        if stricter:
            extra = sorted(stricter[0] - names)
            out.append(
                Difference(
                    "SECURITY_REQUIREMENT_ADDED",
                    where,
                    f"{operation} now also requires {', '.join(extra)} where it accepted "
                    f"{_names(names)}: clients without it will be refused",
                    True,
                )
            )
        else:
            out.append(
                Difference(
                    "SECURITY_ALTERNATIVE_REMOVED",
                    where,
                    f"{operation} no longer accepts {_names(names)}: clients using it will be "
                    "refused",
                    True,
                )
            )
    for names in after:
        if names in before:
            continue
        if any(alt > names for alt in before):
            message = f"{operation} now accepts {_names(names)} (fewer security requirements)"
            out.append(Difference("SECURITY_REQUIREMENT_REMOVED", where, message, False))
        elif any(alt < names and alt not in after for alt in before):
            continue  # the stricter successor of a dropped alternative: reported above
        else:
            message = f"{operation} now also accepts {_names(names)}"
            out.append(Difference("SECURITY_ALTERNATIVE_ADDED", where, message, False))
    return out


def _scopes(
    before: dict[str, frozenset[str]],
    after: dict[str, frozenset[str]],
    where: str,
    operation: str,
) -> list[Difference]:
    out: list[Difference] = []
    for scheme, old_scopes in before.items():
        new_scopes = after.get(scheme, frozenset())
        added, removed = sorted(new_scopes - old_scopes), sorted(old_scopes - new_scopes)
        if added:
            message = (
                f"{operation} now requires scope(s) {', '.join(added)} of {scheme}: "
                "tokens without them will be refused"
            )
            out.append(Difference("SECURITY_SCOPE_ADDED", where, message, True))
        if removed:
            message = f"{operation} no longer requires scope(s) {', '.join(removed)} of {scheme}"
            out.append(Difference("SECURITY_SCOPE_REMOVED", where, message, False))
    return out
