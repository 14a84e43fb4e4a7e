"""The event mesh of a running platform: the bus, the registry, ingestion and delivery together.

``EventMesh.start`` opens the bus the Platform object names (the embedded SQLite log by default,
NATS JetStream with ``events.backend: nats``), creates its streams and durable consumers from the
estate, and starts the delivery engine. ``apply`` takes a new estate revision: the registry is
rebuilt off the request path and swapped in one assignment, the bus gains the new streams and
consumers, and delivery takes the new subscriptions (queued deliveries stay in the store,
so nothing is lost; unchanged subscriptions run on undisturbed).

On a PostgreSQL store several nodes may share the bus and the store, so the mesh keeps leases
(``interlink.leases``): each subscription is delivered by the node holding its lease, and only
the node holding the ``reconcile`` lease, on the store's current revision, removes bus
consumers no subscription names (``prune``). Every node creates what its estate names, and
makes again a consumer it finds missing, from the position the queue recorded. On SQLite (one
node by design) there are no leases: everything runs here and ``ensure`` prunes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import replace
from typing import Final

from interlink.errors import ConfigError, UnknownConsumer
from interlink.estate.model import Estate
from interlink.estate.references import SecretSource, resolve
from interlink.events.backends.common import SHARED_ACK_WAIT
from interlink.events.backends.embedded import EmbeddedBus, default_events_path
from interlink.events.bus import Bus
from interlink.events.delivery.dispatcher import EngineSettings
from interlink.events.delivery.engine import DeliveryEngine
from interlink.events.delivery.flowsender import FlowStarter
from interlink.events.delivery.notify_channels import ChannelNotifier
from interlink.events.delivery.queue import DeliveryQueue
from interlink.events.delivery.queues import open_queue
from interlink.events.ingress import EventIngress
from interlink.events.publish_auth import PublishAuth
from interlink.events.topology import topology_of
from interlink.events.validation import EventRegistry
from interlink.leases import DEFAULT_TTL, HeldLease, LeaseKeeper, Singleton
from interlink.observe.lineage import LineageRecorder
from interlink.observe.links import LinkCounts, LinkFlusher
from interlink.observe.metrics import Registry
from interlink.store import Store
from interlink.store.keyring import KeyRing, keep_refreshed
from interlink.tasks import cancel_and_wait

log = logging.getLogger("interlink.events")

KEY_REFRESH: Final = 2.0  # seconds between reloads of consumer keys from the store
RECONCILE: Final = "reconcile"  # the lease of the node that may prune bus resources


def node_id() -> str:
    """This process's name as a lease owner: host, pid and a random part, never reused."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def open_bus(estate: Estate, *, ack_wait: float = SHARED_ACK_WAIT) -> Bus:
    """The bus the estate's Platform object chooses; ``ack_wait`` is NATS's (see ``NatsBus``)."""
    settings = estate.platform.spec.events
    if settings.backend == "embedded":
        return EmbeddedBus(default_events_path(estate.root))
    if not settings.url:
        raise ConfigError("Platform events.backend is nats but events.url is not set")
    try:
        url = resolve(settings.url)
    except ConfigError as exc:
        raise ConfigError(f"Platform events.url: {exc.message}") from exc
    from interlink.events.backends.nats import NatsBus

    return NatsBus(url, prefix=settings.stream_prefix, ack_wait=ack_wait)


class EventMesh:
    def __init__(
        self,
        estate: Estate,
        store: Store,
        store_url: str,
        *,
        metrics: Registry | None = None,
        bus: Bus | None = None,
        secrets: SecretSource | None = None,
        shared: bool | None = None,
        node: str | None = None,
        is_current: Callable[[], bool] | None = None,
        lease_ttl: float = DEFAULT_TTL,
        settings: EngineSettings | None = None,
        start_flow: FlowStarter | None = None,
        links: LinkCounts | None = None,
        lineage: LineageRecorder | None = None,
    ) -> None:
        """``start_flow`` records a flow run for a Subscription that targets a Flow (the
        flows layer, above this one, injects it). ``shared`` (a PostgreSQL store unless given)
        turns leases on; ``node`` names this process as their owner; ``is_current`` says
        whether the estate this mesh runs is the store's current revision (assumed when not
        given). ``links`` counts the publishes and deliveries (the observed connections), written
        to the store while the mesh runs; ``lineage`` records the hops of events that carry a
        subject."""
        self.estate = estate
        self.lineage = lineage
        self.store = store
        # What a dead node pulled and never acked comes back to the others as its leases expire.
        self.bus = bus or open_bus(estate, ack_wait=lease_ttl)
        self.queue: DeliveryQueue = open_queue(store_url)
        self.keyring = KeyRing(store)
        self.metrics = metrics or Registry()
        self.secrets = secrets or SecretSource()
        self.node = node or node_id()
        self.shared = store.db.dialect == "postgres" if shared is None else shared
        self.keeper: LeaseKeeper | None = (
            LeaseKeeper(store.leases, self.node, ttl=lease_ttl) if self.shared else None
        )
        self._is_current = is_current
        self._settings = settings
        self._start_flow = start_flow
        self._reconciler: Singleton | None = None
        self._registry = EventRegistry.from_estate(estate)
        self.auth = PublishAuth(self.keyring, store, lambda: self.estate)
        self.links = links if links is not None else LinkCounts()
        self._links_flusher = LinkFlusher(self.links, store)
        self.ingress = EventIngress(
            self.bus, lambda: self._registry, self.auth, links=self.links, lineage=lineage
        )
        self.notifier = ChannelNotifier(self.secrets)  # tells owning Teams on their channels
        self.engine: DeliveryEngine | None = None
        self._keys_task: asyncio.Task[None] | None = None

    @property
    def registry(self) -> EventRegistry:
        return self._registry

    async def start(self) -> None:
        await asyncio.to_thread(self.keyring.refresh)
        await self.bus.open()
        await self.queue.open()
        topology = topology_of(self.estate)
        await self.bus.ensure(topology.streams, topology.consumers, prune=await self._may_prune())
        self.engine = self._engine(self.estate)
        await self.engine.start()
        if self.keeper is not None:
            self._reconciler = Singleton(self.keeper, RECONCILE, self._reconcile)
            await self.keeper.start()
        self._keys_task = asyncio.create_task(keep_refreshed(self.keyring, KEY_REFRESH))
        self._links_flusher.start()
        log.info(
            "event mesh started: %d event type(s), %d subscription(s), %s backend",
            len(topology.streams),
            len(topology.consumers),
            self.estate.platform.spec.events.backend,
        )

    def _engine(self, estate: Estate) -> DeliveryEngine:
        return DeliveryEngine(
            self.bus,
            self.queue,
            estate,
            secrets=self.secrets,
            registry=self.metrics,
            notifier=self.notifier,
            keeper=self.keeper,
            remake_consumer=self.remake_consumer,
            settings=self._settings,
            start_flow=self._start_flow,
            links=self.links,
            lineage=self.lineage,
        )

    async def _may_prune(self) -> bool:
        """Alone, always; sharing the bus, only holding the reconcile lease on the current
        revision."""
        if self.keeper is None:
            return True
        if self.keeper.held(RECONCILE) is None:
            return False
        return self._is_current is None or await asyncio.to_thread(self._is_current)

    async def _reconcile(self, held: HeldLease) -> None:
        """Taking the reconcile lease: remove what the current revision no longer names."""
        if held.valid() and await self._may_prune():
            topology = topology_of(self.estate)
            await self.bus.ensure(topology.streams, topology.consumers, prune=True)
            log.info("bus resources reconciled with this node's revision")

    async def remake_consumer(self, name: str) -> None:
        """Make a subscription's consumer again, right after the last sequence the queue took
        (or from its ``startAt`` when it never took one)."""
        topology = topology_of(self.estate)
        spec = next((c for c in topology.consumers if c.name == name), None)
        if spec is None:
            raise UnknownConsumer(f"subscription {name!r} is not in this node's estate")
        stream = next(s for s in topology.streams if s.type == spec.type)
        position = await self.queue.position(name, spec.type)
        await self.bus.ensure([stream], [replace(spec, resume_after=position)])

    async def apply(self, estate: Estate) -> None:
        """Take a new estate revision (already checked)."""
        registry = await asyncio.to_thread(EventRegistry.from_estate, estate)
        topology = topology_of(estate)
        await self.bus.ensure(topology.streams, topology.consumers, prune=await self._may_prune())
        self._registry = registry
        self.estate = estate
        if self.lineage is not None:
            self.lineage.use(estate)
        if self.engine is not None:
            await self.engine.reload(estate)

    async def refresh_keys(self) -> None:
        """Reload consumer keys now (after a key is created or revoked in this process)."""
        await asyncio.to_thread(self.keyring.refresh)

    async def close(self) -> None:
        await cancel_and_wait([self._keys_task])
        if self.keeper is not None:
            await self.keeper.stop()  # stops the work it holds, then releases every lease
        if self.engine is not None:
            await self.engine.stop()
        await self._links_flusher.stop()  # the flows stopped first: their last counts too
        await self.notifier.aclose()
        await self.bus.close()
        await self.queue.close()
