"""The estate as Backstage catalog entities (``catalog-info.yaml``).

==============  =========================================================================
estate          Backstage
==============  =========================================================================
Team            Group (type team)
System          System, and a Component (type service) in it
Flow            Component (type flow)
Api             API (type openapi), its contract as the definition
Event           API (type asyncapi), an AsyncAPI document of that event as the definition
DataProduct     Resource (type data-product) in its source System
Glossary term   Resource (type glossary-term), a dependency of where its data is held
==============  =========================================================================

Relations come from the estate graph: a System provides the Apis it exposes or a Route sends
traffic of, and the Events it publishes; it consumes the Events its Subscriptions deliver to it
and, when a Consumer stands for it, the Apis of the Routes whose scopes that Consumer holds.
Calls and reads (a Flow's steps, a DataProduct's source) become ``dependsOn``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any, TypeVar

from interlink.contracts.asyncapi import asyncapi_document
from interlink.contracts.backstage_names import EntityNames, is_valid_name, sanitize
from interlink.contracts.export_format import to_yaml
from interlink.contracts.export_sources import event_schemas, latest_active
from interlink.errors import ContractError
from interlink.estate.glossary_rules import PlacedTerm, terms
from interlink.estate.kinds import (
    Api,
    Consumer,
    DataProduct,
    EstateObject,
    Event,
    Flow,
    Route,
    System,
    Team,
)
from interlink.estate.kinds.base import Lifecycle
from interlink.estate.kinds.flow import (
    CallStep,
    EnrichStep,
    FileStep,
    PublishStep,
    QueryStep,
    SendStep,
    WriteStep,
    iter_steps,
)
from interlink.estate.kinds.organisation import ChannelType, SystemLifecycle
from interlink.estate.model import Estate
from interlink.estate.subscriptions import subscriptions

T = TypeVar("T", bound=EstateObject)

API_VERSION = "backstage.io/v1alpha1"
ANNOTATION = "interlink.dev"
UNOWNED = "unowned"  # the Group that owns what no Team does

LIFECYCLES = {
    Lifecycle.DRAFT: "experimental",
    Lifecycle.ACTIVE: "production",
    Lifecycle.DEPRECATED: "deprecated",
    Lifecycle.RETIRED: "deprecated",
}
SYSTEM_LIFECYCLES = {
    SystemLifecycle.EXPERIMENTAL: "experimental",
    SystemLifecycle.PRODUCTION: "production",
    SystemLifecycle.DEPRECATED: "deprecated",
    SystemLifecycle.RETIRED: "deprecated",
}


def backstage_entities(estate: Estate, *, definitions: Path | None = None) -> list[dict[str, Any]]:
    """Every entity, Groups first. API definitions refer to contract files with ``$text``,
    relative to the ``definitions`` folder (where the catalog file is written); without one
    the contract text is inlined."""
    return _Catalog(estate, definitions).entities()


class _Catalog:
    def __init__(self, estate: Estate, definitions: Path | None) -> None:
        self.estate = estate
        self.definitions = definitions
        self.names = EntityNames()
        self.provides: dict[str, set[str]] = defaultdict(set)  # entity ref → API refs
        self.consumes: dict[str, set[str]] = defaultdict(set)
        self.depends: dict[str, set[str]] = defaultdict(set)
        self.dependency_of: dict[str, set[str]] = defaultdict(set)
        self.needs_unowned = False

    def entities(self) -> list[dict[str, Any]]:
        self._register()
        self._relations()
        teams = [self._group(t) for t in self._sorted(Team)]
        systems = self._sorted(System)
        out = [
            *[self._system(s) for s in systems],
            *[self._service(s) for s in systems],
            *[self._flow(f) for f in self._sorted(Flow)],
            *[self._api(a) for a in self._sorted(Api)],
            *[self._event(e) for e in self._sorted(Event)],
            *[self._resource(d) for d in self._sorted(DataProduct)],
            *[self._term(t) for t in sorted(terms(self.estate), key=_term_key)],
        ]
        if self.needs_unowned:
            teams.append(self._unowned_group())
        return [*teams, *out]

    # --- names and relations ------------------------------------------------------------

    def _sorted(self, cls: type[T]) -> list[T]:
        return sorted(self.estate.of(cls), key=lambda o: o.name)

    def _register(self) -> None:
        kinds = {
            Team: ("Group",),
            System: ("System", "Component"),
            Flow: ("Component",),
            Api: ("API",),
            Event: ("API",),
            DataProduct: ("Resource",),
        }
        for cls, targets in kinds.items():
            for obj in self.estate.of(cls):
                for kind in targets:
                    self.names.add(kind, obj.key, obj.name)
        for placed in terms(self.estate):
            self.names.add("Resource", _term_key(placed), placed.term.slug)
        self.names.add("Group", UNOWNED, UNOWNED)
        self.names.assign()

    def _ref(self, kind: str, key: str) -> str:
        return self.names.ref(kind, key)

    def _relations(self) -> None:  # noqa: C901 - one loop per relation
        estate = self.estate
        service = {s.name: self._ref("Component", s.key) for s in estate.of(System)}
        flows = {f.name: self._ref("Component", f.key) for f in estate.of(Flow)}
        apis = {a.name: self._ref("API", a.key) for a in estate.of(Api)}
        events = {e.name: self._ref("API", e.key) for e in estate.of(Event)}
        for api in estate.of(Api):
            self._add(self.provides, service.get(api.spec.system), apis[api.name])
        for event in estate.of(Event):
            self._add(self.provides, service.get(event.spec.system), events[event.name])
        routes = estate.of(Route)
        for route in routes:
            if route.spec.api in apis:
                for upstream in route.spec.upstreams:
                    if not upstream.shadow:
                        self._add(self.provides, service.get(upstream.system), apis[route.spec.api])
        for sub in subscriptions(estate):
            target = sub.spec.target
            receiver = service.get(target.system or "") or flows.get(target.flow or "")
            self._add(self.consumes, receiver, events.get(sub.spec.event))
        for consumer in estate.of(Consumer):
            if consumer.spec.system:
                for route in routes:
                    required = route.spec.auth.scopes if route.spec.auth else []
                    # A Route without scopes admits every Consumer: that says nothing of use.
                    if required and all(s in consumer.spec.scopes for s in required):
                        self._add(
                            self.consumes,
                            service.get(consumer.spec.system),
                            apis.get(route.spec.api or ""),
                        )
        for flow in estate.of(Flow):
            ref = flows[flow.name]
            trigger = flow.spec.trigger
            self._add(self.consumes, ref, events.get((trigger and trigger.event) or ""))
            for step in iter_steps(flow.spec.steps):
                if isinstance(step, CallStep | QueryStep | WriteStep | FileStep | SendStep):
                    self._add(self.depends, ref, service.get(step.system))
                    if isinstance(step, CallStep) and step.compensate:
                        self._add(self.depends, ref, service.get(step.compensate.system))
                elif isinstance(step, EnrichStep):
                    self._add(self.consumes, ref, apis.get(step.source.api or ""))
                    read = estate.get("DataProduct", step.source.data_product or "")
                    if read is not None:
                        self._add(self.depends, ref, self._ref("Resource", read.key))
                elif isinstance(step, PublishStep):
                    self._add(self.provides, ref, events.get(step.event))
        for product in estate.of(DataProduct):
            if product.spec.source.system is None:
                continue
            self._add(
                self.depends,
                self._ref("Resource", product.key),
                service.get(product.spec.source.system),
            )
        held_in = {
            "System": service,
            "Api": apis,
            "Event": events,
            "DataProduct": {p.name: self._ref("Resource", p.key) for p in estate.of(DataProduct)},
        }
        for placed in terms(estate):
            ref = self._ref("Resource", _term_key(placed))
            for mapping in placed.term.mappings:
                kind, name = mapping.target
                self._add(self.dependency_of, ref, held_in[kind].get(name))

    @staticmethod
    def _add(table: dict[str, set[str]], source: str | None, target: str | None) -> None:
        if source and target:
            table[source].add(target)

    # --- entities ------------------------------------------------------------------------

    def _metadata(self, kind: str, obj: EstateObject) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.names.name(kind, obj.key)}
        if obj.metadata.title:
            meta["title"] = obj.metadata.title
        if obj.metadata.description:
            meta["description"] = obj.metadata.description
        meta["annotations"] = {f"{ANNOTATION}/object": obj.key}
        return meta

    def _owner(self, obj: EstateObject, owner: str | None = None) -> str:
        """The owning Team's Group: ``owner``, else the object's own, its System's, else the
        Platform's."""
        owner = owner or self.estate.owner_of(obj)
        if owner is None and isinstance(obj, DataProduct):
            source = self.estate.get("System", obj.spec.source.system_name)
            owner = source.obj.metadata.owner if source is not None else None
        if owner is None:
            owner = self.estate.platform.metadata.owner
        if owner is not None and self.estate.get("Team", owner) is not None:
            return self._ref("Group", f"Team/{owner}")
        self.needs_unowned = True
        return self._ref("Group", UNOWNED)

    def _entity(self, kind: str, metadata: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}

    def _relations_of(self, ref: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for field, table in (
            ("dependencyOf", self.dependency_of),
            ("providesApis", self.provides),
            ("consumesApis", self.consumes),
            ("dependsOn", self.depends),
        ):
            if table.get(ref):
                out[field] = sorted(table[ref])
        return out

    def _group(self, team: Team) -> dict[str, Any]:
        profile: dict[str, Any] = {"displayName": team.metadata.title or team.name}
        email = next((c.to for c in team.spec.channels if c.type is ChannelType.EMAIL), None)
        if email:
            profile["email"] = email
        spec = {"type": "team", "profile": profile, "children": []}
        return self._entity("Group", self._metadata("Group", team), spec)

    def _unowned_group(self) -> dict[str, Any]:
        metadata = {
            "name": self.names.name("Group", UNOWNED),
            "description": "Owns what no Team of the estate owns.",
        }
        return self._entity("Group", metadata, {"type": "team", "children": []})

    def _system(self, system: System) -> dict[str, Any]:
        metadata = self._metadata("System", system)
        domain = sanitize(system.spec.domain)
        if is_valid_name(domain):
            metadata["labels"] = {f"{ANNOTATION}/domain": domain}
        return self._entity("System", metadata, {"owner": self._owner(system)})

    def _service(self, system: System) -> dict[str, Any]:
        ref = self._ref("Component", system.key)
        spec: dict[str, Any] = {
            "type": "service",
            "lifecycle": SYSTEM_LIFECYCLES[system.spec.lifecycle],
            "owner": self._owner(system),
            "system": self._ref("System", system.key),
            **self._relations_of(ref),
        }
        return self._entity("Component", self._metadata("Component", system), spec)

    def _flow(self, flow: Flow) -> dict[str, Any]:
        ref = self._ref("Component", flow.key)
        spec: dict[str, Any] = {
            "type": "flow",
            "lifecycle": "production",
            "owner": self._owner(flow),
            **self._relations_of(ref),
        }
        return self._entity("Component", self._metadata("Component", flow), spec)

    def _lifecycle_annotations(self, meta: dict[str, Any], obj: Api | Event) -> None:
        if obj.spec.sunset:
            meta["annotations"][f"{ANNOTATION}/sunset"] = obj.spec.sunset.isoformat()
        if obj.spec.successor:
            meta["annotations"][f"{ANNOTATION}/successor"] = obj.spec.successor

    def _api(self, api: Api) -> dict[str, Any]:
        item = self.estate.get("Api", api.name)
        assert item is not None
        path = item.resolve_file(api.spec.contract)
        meta = self._metadata("API", api)
        self._lifecycle_annotations(meta, api)
        spec = {
            "type": "openapi",
            "lifecycle": LIFECYCLES[api.spec.lifecycle],
            "owner": self._owner(api),
            "system": self._ref("System", f"System/{api.spec.system}"),
            "definition": self._definition(path),
        }
        return self._entity("API", meta, spec)

    def _definition(self, path: Path) -> Any:
        if self.definitions is None:
            try:
                return path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ContractError(f"cannot read {path}: {exc.strerror}") from exc
        relative = Path(os.path.relpath(path, self.definitions.resolve())).as_posix()
        return {"$text": relative if relative.startswith("../") else f"./{relative}"}

    def _event(self, event: Event) -> dict[str, Any]:
        item = self.estate.get("Event", event.name)
        assert item is not None
        latest = latest_active(event_schemas(self.estate, item))
        doc = asyncapi_document(
            self.estate, version=str(latest.version.version), events=[event.name]
        )
        meta = self._metadata("API", event)
        self._lifecycle_annotations(meta, event)
        meta["annotations"][f"{ANNOTATION}/classification"] = event.spec.classification.level.value
        spec = {
            "type": "asyncapi",
            "lifecycle": LIFECYCLES[event.spec.lifecycle],
            "owner": self._owner(event),
            "system": self._ref("System", f"System/{event.spec.system}"),
            "definition": to_yaml(doc),
        }
        return self._entity("API", meta, spec)

    def _resource(self, product: DataProduct) -> dict[str, Any]:
        ref = self._ref("Resource", product.key)
        spec: dict[str, Any] = {"type": "data-product", "owner": self._owner(product)}
        if self.estate.get("System", product.spec.source.system_name) is not None:
            spec["system"] = self._ref("System", f"System/{product.spec.source.system}")
        spec.update(self._relations_of(ref))
        meta = self._metadata("Resource", product)
        domain = sanitize(product.spec.domain)
        if is_valid_name(domain):
            meta["labels"] = {f"{ANNOTATION}/domain": domain}
        return self._entity("Resource", meta, spec)

    def _term(self, placed: PlacedTerm) -> dict[str, Any]:
        """A glossary term: Backstage has no kind for one, so a Resource of its own type that
        the places holding its data depend on; what is inside them (table and column, field)
        and the rest of the term are annotations."""
        term, key = placed.term, _term_key(placed)
        annotations = {
            f"{ANNOTATION}/object": placed.item.key,
            f"{ANNOTATION}/term": term.name,
        }
        if term.synonyms:
            annotations[f"{ANNOTATION}/synonyms"] = ", ".join(term.synonyms)
        if term.classification is not None:
            annotations[f"{ANNOTATION}/classification"] = term.classification.value
        if term.pii:
            annotations[f"{ANNOTATION}/pii"] = "true"
        if term.related:
            annotations[f"{ANNOTATION}/related"] = ", ".join(term.related)
        if term.mappings:
            annotations[f"{ANNOTATION}/mappings"] = "; ".join(m.render() for m in term.mappings)
        meta = {
            "name": self.names.name("Resource", key),
            "title": term.name,
            "description": term.definition,
            "annotations": annotations,
        }
        if term.pii:
            meta["tags"] = ["pii"]
        owner = self._owner(placed.item.obj, placed.owner)
        ref = self._ref("Resource", key)
        spec = {"type": "glossary-term", "owner": owner, **self._relations_of(ref)}
        return self._entity("Resource", meta, spec)


def _term_key(placed: PlacedTerm) -> str:
    """A term's key among the names: its Glossary's and its own (a term is no estate object)."""
    return f"{placed.item.key}#{placed.term.slug}"
