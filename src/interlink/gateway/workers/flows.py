"""Flow routes in a gateway worker process: the worker runs the flows it starts itself.

A run is durable in the store, whichever process executes it, so a worker needs no hand-over to
the main process: its own :class:`~interlink.flows.engine.FlowEngine` records the run over the
worker's connection to the store and runs it, reading the estate the worker serves now. Its
``publish`` steps go through the worker's link to the main process's event ingress. A worker
that stops with runs in flight leaves them pending; their lease on the run lapses and recovery
resumes them from their last checkpoint.
"""

from __future__ import annotations

from typing import cast

from interlink.errors import ConfigError, NotFound
from interlink.estate.kinds.flow import Flow, FlowSpec
from interlink.estate.kinds.organisation import System
from interlink.estate.model import Estate
from interlink.events.ingress import EventIngress
from interlink.flows.calls import Target, api_targets, system_targets
from interlink.flows.data import ConnectorTransport, system_lookup
from interlink.flows.engine import FlowEngine
from interlink.flows.payloads import limits_of
from interlink.flows.publish import ingress_publisher
from interlink.flows.runs import FlowRuns
from interlink.gateway.services import EventPublisher
from interlink.store import Store


class WorkerFlows:
    """A worker's flow engine over the estate it serves; :attr:`estate` follows its reloads."""

    def __init__(self, store: Store, events: EventPublisher | None) -> None:
        self.estate: Estate | None = None
        # The link has the ingress's publish_data (EventPublisher); the publisher needs no more.
        publisher = ingress_publisher(cast(EventIngress, events)) if events is not None else None
        self.engine = FlowEngine(
            FlowRuns(store.db, lambda: limits_of(self._current())),
            self._spec,
            self._target,
            apis=self._api,
            data=ConnectorTransport(self._system),
            publisher=publisher,
        )

    def _current(self) -> Estate:
        if self.estate is None:
            raise ConfigError("this gateway worker has not loaded its estate yet")
        return self.estate

    def _spec(self, name: str) -> FlowSpec:
        found = self._current().get("Flow", name)
        if found is None or not isinstance(found.obj, Flow):
            raise NotFound(f"no Flow {name!r} in the estate")
        return found.obj.spec

    def _target(self, system: str) -> Target:
        return system_targets(self._current())(system)

    def _api(self, api: str) -> Target:
        return api_targets(self._current())(api)

    def _system(self, name: str) -> System:
        return system_lookup(self._current())(name)
