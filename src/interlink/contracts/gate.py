"""The compatibility gate of `interlink check --against REF`.

Breaking changes are new versions: an Api may change incompatibly only by becoming a new major
version, an Event schema version once published never changes, and a new schema version must be
compatible with the earlier ones under the Event's compatibility mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from interlink.contracts.difference import Difference
from interlink.contracts.modes import check_against_history
from interlink.contracts.openapi_diff import diff_openapi
from interlink.contracts.policy import Policy
from interlink.errors import ContractError
from interlink.estate.findings import Finding
from interlink.estate.kinds import Api, Event
from interlink.estate.model import Estate, Loaded


def gate_findings(
    old: Estate, new: Estate, *, policy: Policy | str = Policy.STRICT
) -> list[Finding]:
    return [*_api_findings(old, new), *_event_findings(old, new, policy)]


def _contract_data(estate: Estate, item: Loaded, relative: str) -> tuple[Any, Path] | None:
    path = item.resolve_file(relative)
    contract = estate.contracts.get(path)
    return (contract.data, path) if contract is not None else None


def _details(differences: list[Difference]) -> tuple[str, ...]:
    return tuple(f"{d.code} {d.pointer}: {d.message}" for d in differences)


def _api_findings(old: Estate, new: Estate) -> Iterator[Finding]:
    for item in new.loaded_of("Api"):
        api = item.obj
        assert isinstance(api, Api)
        before = old.get("Api", api.name)
        if before is None or not isinstance(before.obj, Api):
            continue  # a new Api, or a new major version under a new name
        if before.obj.spec.version != api.spec.version:
            continue  # the major version moved: anything may change
        was = _contract_data(old, before, before.obj.spec.contract)
        now = _contract_data(new, item, api.spec.contract)
        if was is None or now is None:
            continue  # unreadable contracts are reported by check itself
        try:
            report = diff_openapi(was[0], now[0], old_path=was[1], new_path=now[1])
        except ContractError as exc:
            yield Finding(
                "error",
                "API_DIFF_FAILED",
                f"{item.key}: cannot compare: {exc.message}",
                item.location(("spec", "contract")),
                subject=item.key,
            )
            continue
        breaking = [d for d in report.differences if d.breaking]
        if breaking:
            yield Finding(
                "error",
                "API_BREAKING_CHANGE",
                f"{item.key}: {len(breaking)} breaking change(s) inside major version "
                f"{api.spec.version}",
                item.location(("spec", "contract")),
                hint=f"publish them as a new Api with version: {api.spec.version + 1}",
                subject=item.key,
                details=_details(breaking),
            )


def _event_findings(old: Estate, new: Estate, policy: Policy | str) -> Iterator[Finding]:
    for item in new.loaded_of("Event"):
        event = item.obj
        assert isinstance(event, Event)
        before = old.get("Event", event.name)
        if before is None or not isinstance(before.obj, Event):
            continue
        published = {v.version: v for v in before.obj.spec.schemas}
        history: list[Any] = []
        for i, version in enumerate(event.spec.schemas):
            now = _contract_data(new, item, version.file)
            if now is None:
                break
            at = ("spec", "schemas", i)
            if version.version in published:
                was = _contract_data(old, before, published[version.version].file)
                if was is not None and was[0] != now[0]:
                    yield Finding(
                        "error",
                        "SCHEMA_VERSION_MODIFIED",
                        f"{item.key}: schema version {version.version} was changed after "
                        "publication",
                        item.location(at),
                        hint="published versions are immutable: add a new version instead",
                        subject=item.key,
                    )
            elif history:
                yield from _new_version(item, event, version.version, now, history, at, policy)
            history.append(now[0])


def _new_version(
    item: Loaded,
    event: Event,
    number: int,
    now: tuple[Any, Path],
    history: list[Any],
    at: tuple[str | int, ...],
    policy: Policy | str,
) -> Iterator[Finding]:
    mode = event.spec.compatibility.value
    try:
        report = check_against_history(
            now[0], history, event.spec.compatibility, policy, base_path=now[1]
        )
    except ContractError as exc:
        yield Finding(
            "error",
            "SCHEMA_DIFF_FAILED",
            f"{item.key}: cannot compare: {exc.message}",
            item.location(at),
            subject=item.key,
        )
        return
    breaking = [d for d in report.differences if d.breaking]
    if breaking:
        yield Finding(
            "error",
            "SCHEMA_INCOMPATIBLE",
            f"{item.key}: schema version {number} is not {mode}-compatible "
            f"({len(breaking)} difference(s))",
            item.location(at),
            hint="make the change compatible, or publish a new Event type",
            subject=item.key,
            details=_details(breaking),
        )
