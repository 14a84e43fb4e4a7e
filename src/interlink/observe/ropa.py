"""The record of processing activities (GDPR Art. 30), generated from the estate.

Each Event that carries personal data (a ``subject``, ``classification.piiCategories`` or
``classification.pii`` fields) is one processing activity: whose data (the subject type), which
categories, why (the Event's ``purposes``, else its publishing System's), who publishes it,
who receives it (each Subscription's target, and the Systems the Flows it reaches call, read
or write), the transfers (recipient Systems in a country other than the controller's
``privacy.country``) and how long each System keeps the data (its ``retention``). The Systems
and data products involved are listed after the activities. What the estate does not say is
written as ``not declared``, so a reader sees the gap instead of a guess.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any, Final

from interlink.estate.durations import format_duration
from interlink.estate.kinds import DataProduct, Event, Flow, Subscription, System
from interlink.estate.links import links_of
from interlink.estate.model import Estate

NOT_DECLARED: Final = "not declared"
#: Kinds of flow references that move data to a System.
_DATA_EDGES: Final = frozenset({"calls", "reads", "writes", "uses", "publishes"})


def record_of_processing(estate: Estate, today: date | None = None) -> dict[str, Any]:
    """The record as a JSON document."""
    privacy = estate.platform.spec.privacy
    found = [_activity(estate, item.obj) for item in estate.loaded_of("Event")]
    activities = [a for a in found if a is not None]
    involved = sorted(
        {a["source"]["system"] for a in activities}
        | {r["system"] for a in activities for r in a["recipients"] if r["system"]}
    )
    return {
        "generated": (today or date.today()).isoformat(),
        "controller": {
            "name": privacy.controller or NOT_DECLARED,
            "contact": privacy.contact or NOT_DECLARED,
            "country": privacy.country or NOT_DECLARED,
        },
        "activities": activities,
        "systems": [_system(estate, name) for name in involved],
        "dataProducts": list(_products(estate)),
    }


def _activity(estate: Estate, event: Any) -> dict[str, Any] | None:
    assert isinstance(event, Event)
    spec = event.spec
    classification = spec.classification
    if spec.subject is None and not classification.pii_categories and not classification.pii:
        return None
    publisher = _system_obj(estate, spec.system)
    purposes = classification.purposes or (publisher.spec.purposes if publisher else [])
    recipients = list(_recipients(estate, event.name))
    home = estate.platform.spec.privacy.country
    transfers = [
        {"system": r["system"], "country": r["country"]}
        for r in recipients
        if r["country"] not in (None, home) and home is not None
    ]
    systems = [spec.system, *(r["system"] for r in recipients if r["system"])]
    return {
        "name": event.name,
        "title": event.metadata.title or event.name,
        "description": event.metadata.description,
        "owner": estate.owner_of(event) or NOT_DECLARED,
        "dataSubjects": [spec.subject.type] if spec.subject is not None else [],
        "personalData": {
            "categories": list(classification.pii_categories),
            "fields": list(classification.pii),
        },
        "purposes": list(purposes),
        "source": {"system": spec.system, "country": _country(publisher)},
        "recipients": recipients,
        "transfers": transfers,
        "retention": {
            name: _retention(_system_obj(estate, name)) for name in dict.fromkeys(systems)
        },
        "classification": classification.level.value,
    }


def _recipients(estate: Estate, event: str) -> Iterator[dict[str, Any]]:
    """Who receives the event's data: Subscription targets and what the Flows reached touch."""
    seen: set[tuple[str, str]] = set()
    flows: list[str] = []
    for item in estate.loaded_of("Subscription"):
        sub = item.obj
        assert isinstance(sub, Subscription)
        if sub.spec.event != event:
            continue
        if sub.spec.target.system is not None:
            yield from _once(estate, seen, sub.spec.target.system, f"Subscription/{sub.name}")
        if sub.spec.target.flow is not None:
            flows.append(sub.spec.target.flow)
    for item in estate.loaded_of("Flow"):
        flow = item.obj
        assert isinstance(flow, Flow)
        if flow.spec.trigger is not None and flow.spec.trigger.event == event:
            flows.append(flow.name)
    for name in dict.fromkeys(flows):
        found = estate.get("Flow", name)
        if found is None:
            continue
        for link in links_of(found.obj):
            if link.target_kind == "System" and link.edge in _DATA_EDGES:
                yield from _once(estate, seen, link.target, f"Flow/{name} ({link.edge})")


def _once(
    estate: Estate, seen: set[tuple[str, str]], system: str, via: str
) -> Iterator[dict[str, Any]]:
    if (system, via) in seen:
        return
    seen.add((system, via))
    obj = _system_obj(estate, system)
    yield {
        "system": system,
        "via": via,
        "owner": (estate.owner_of(obj) if obj else None) or NOT_DECLARED,
        "country": _country(obj),
    }


def _system(estate: Estate, name: str) -> dict[str, Any]:
    obj = _system_obj(estate, name)
    return {
        "name": name,
        "owner": (estate.owner_of(obj) if obj else None) or NOT_DECLARED,
        "domain": obj.spec.domain if obj else NOT_DECLARED,
        "country": _country(obj) or NOT_DECLARED,
        "retention": _retention(obj),
        "purposes": list(obj.spec.purposes) if obj else [],
        "classification": obj.spec.data_classification.value if obj else NOT_DECLARED,
    }


def _products(estate: Estate) -> Iterator[dict[str, Any]]:
    for item in estate.loaded_of("DataProduct"):
        product = item.obj
        assert isinstance(product, DataProduct)
        spec = product.spec
        pii_columns = [c.name for c in spec.contract.columns if c.pii]
        if spec.subject is None and not spec.pii_categories and not pii_columns:
            continue
        yield {
            "name": product.name,
            "owner": estate.owner_of(product) or NOT_DECLARED,
            "dataSubjects": [spec.subject.type] if spec.subject is not None else [],
            "categories": list(spec.pii_categories),
            "columns": pii_columns,
            "source": spec.source.system,
            "masking": [f"{m.column} ({m.method.value})" for m in spec.masking],
        }


def _system_obj(estate: Estate, name: str) -> System | None:
    found = estate.get("System", name)
    return found.obj if found is not None and isinstance(found.obj, System) else None


def _country(system: System | None) -> str | None:
    return system.spec.country if system is not None else None


def _retention(system: System | None) -> str:
    if system is None or system.spec.retention is None:
        return NOT_DECLARED
    return format_duration(system.spec.retention)


def ropa_markdown(record: dict[str, Any]) -> str:
    """The record as Markdown, for people (and auditors)."""
    c = record["controller"]
    out = [
        "# Record of processing activities",
        "",
        f"Generated {record['generated']} from the integration estate (GDPR Art. 30).",
        "",
        f"- Controller: {c['name']}",
        f"- Contact: {c['contact']}",
        f"- Country: {c['country']}",
        "",
    ]
    if not record["activities"]:
        out += ["No Event declares a subject or personal data.", ""]
    for a in record["activities"]:
        data = a["personalData"]
        recipients = [f"System/{r['system']} via {r['via']}" for r in a["recipients"]]
        transfers = [f"System/{t['system']} ({t['country']})" for t in a["transfers"]]
        retention = [f"{name}: {kept}" for name, kept in a["retention"].items()]
        out += [
            f"## {a['title']}" + (f" (`{a['name']}`)" if a["title"] != a["name"] else ""),
            "",
            *([a["description"], ""] if a["description"] else []),
            "| | |",
            "|---|---|",
            f"| Owner | {a['owner']} |",
            f"| Data subjects | {_list(a['dataSubjects'])} |",
            f"| Personal data | {_list(data['categories'])} |",
            f"| Fields | {_list(data['fields'])} |",
            f"| Purposes | {_list(a['purposes'])} |",
            f"| Classification | {a['classification']} |",
            f"| Source | System/{a['source']['system']} |",
            f"| Recipients | {_list(recipients, 'none')} |",
            f"| Transfers | {_list(transfers, 'none')} |",
            f"| Retention | {_list(retention)} |",
            "",
        ]
    if record["systems"]:
        out += [
            "## Systems",
            "",
            "| System | Owner | Country | Retention | Purposes |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| {s['name']} | {s['owner']} | {s['country']} | {s['retention']} | "
            f"{_list(s['purposes'])} |"
            for s in record["systems"]
        ]
        out.append("")
    if record["dataProducts"]:
        out += ["## Data products", "", "| Product | Owner | Subjects | Categories | Masking |"]
        out.append("|---|---|---|---|---|")
        out += [
            f"| {p['name']} | {p['owner']} | {_list(p['dataSubjects'])} | "
            f"{_list(p['categories'])} | {_list(p['masking'], 'none')} |"
            for p in record["dataProducts"]
        ]
        out.append("")
    return "\n".join(out)


def _list(values: list[str], empty: str = NOT_DECLARED) -> str:
    return ", ".join(v.replace("|", "\\|") for v in values) if values else empty
