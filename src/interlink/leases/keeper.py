"""A node's leases, kept: taken when free, renewed on a schedule, given up or lost.

Each piece of background work a node may do is *claimed* under a lease name with two callbacks:
``start(held)`` when this node takes the lease, ``stop(name, lost)`` when it must stop. The
keeper runs a round every ``ttl / 3`` seconds in one worker thread call to the store:

1. it renews ``node:<owner>``, its heartbeat, and counts the live nodes (the unexpired
   ``node:`` leases);
2. it renews every lease it holds; one the store refuses is lost: ``stop(name, lost=True)``
   at once;
3. it takes free leases of what it claimed. *Shared* claims (a subscription's deliveries, a
   monitors' shard) are spread over the live nodes: a node holds at most
   ``ceil(shared claims / live nodes)`` of each family of them (the part of the name before
   ``:``) and gives up the excess when more nodes come, so a node joining takes its part
   within a few rounds. Each node tries names in its own order (a hash of owner and name), so
   nodes starting together do not all race for the same ones. *Unshared* claims (reconcile, a
   schedule) are taken by whichever node finds them free first.

A lease counts as held only until ``ttl - margin`` after the round that last renewed it began,
measured on this process's monotonic clock: when the store cannot be reached, the work stops
before the lease can expire in the store and another node take it. Work checks
:meth:`HeldLease.valid` before each batch it starts, so it never starts one on a lease it lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from interlink.errors import InterlinkError
from interlink.store.leases import Lease, Leases
from interlink.tasks import cancel_and_wait

log = logging.getLogger("interlink.leases")

NODE_PREFIX: Final = "node:"
DEFAULT_TTL: Final = 5.0  # seconds: a dead node's work moves on within about this


class HeldLease:
    """A lease this node holds; ``valid()`` is false from the moment it may not be."""

    def __init__(self, lease: Lease, deadline: float) -> None:
        self.lease = lease
        self.deadline = deadline  # the event loop's time; -inf once lost or given up

    @property
    def name(self) -> str:
        return self.lease.name

    @property
    def token(self) -> int:
        return self.lease.token

    def valid(self) -> bool:
        return asyncio.get_running_loop().time() < self.deadline

    def end(self) -> None:
        self.deadline = -math.inf


Start = Callable[[HeldLease], Awaitable[None]]
Stop = Callable[[str, bool], Awaitable[None]]  # (name, lost): lost means stop at once


@dataclass
class _Claim:
    name: str
    start: Start
    stop: Stop
    shared: bool


@dataclass
class _Round:
    """What one round decided, in the worker thread, for the event loop to act on."""

    live: int = 1
    renewed: dict[str, Lease] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    taken: list[Lease] = field(default_factory=list)
    excess: list[str] = field(default_factory=list)


class LeaseKeeper:
    """Takes, renews and gives up ``owner``'s leases in ``leases`` (the store's repository)."""

    def __init__(
        self,
        leases: Leases,
        owner: str,
        *,
        ttl: float = DEFAULT_TTL,
        interval: float | None = None,
        margin: float | None = None,
    ) -> None:
        self.leases = leases
        self.owner = owner
        self.ttl = ttl
        self.interval = interval if interval is not None else ttl / 3
        self.margin = margin if margin is not None else ttl / 5
        self.live_nodes = 1
        self._claims: dict[str, _Claim] = {}
        self._held: dict[str, HeldLease] = {}
        self._leaving: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._failing = False
        self._round_lock = asyncio.Lock()
        self._refusals: set[str] = set()  # leases a fenced write found taken

    # --- what the work asks -----------------------------------------------------------------------

    def claim(self, name: str, start: Start, stop: Stop, *, shared: bool = True) -> None:
        """Do ``name``'s work while this node holds its lease; taken at the next round."""
        self._claims[name] = _Claim(name, start, stop, shared)
        self._wake.set()

    async def unclaim(self, name: str) -> None:
        """Stop ``name``'s work here (gracefully) and release its lease."""
        if name in self._held:
            self._give_up(name)
        self._claims.pop(name, None)
        task = self._leaving.get(name)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    def held(self, name: str) -> HeldLease | None:
        """The lease on ``name`` when this node holds it now."""
        held = self._held.get(name)
        return held if held is not None and held.valid() and name not in self._leaving else None

    def refused(self, name: str) -> None:
        """The work found ``name`` held by another node (the store refused a write fenced by
        its token): it stops counting as held now, and a round run at once stops the work."""
        held = self._held.get(name)
        if held is not None and held.deadline != -math.inf:
            held.end()
            self._refusals.add(name)
            self._wake.set()

    def holding(self) -> list[str]:
        return sorted(name for name in self._held if self.held(name) is not None)

    # --- life cycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Run the first round now, then one every ``interval``."""
        if self._task is None:
            await self.round()
            self._task = asyncio.create_task(self._run(), name=f"leases {self.owner}")

    async def stop(self) -> None:
        """Stop every piece of work (gracefully) and release every lease, the heartbeat too."""
        task, self._task = self._task, None
        await cancel_and_wait([task])
        for name in list(self._held):
            if name not in self._leaving:
                self._give_up(name)
        await asyncio.gather(*self._leaving.values(), return_exceptions=True)
        with contextlib.suppress(InterlinkError):
            await asyncio.to_thread(self._release_heartbeat)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._sleep_time())
            try:
                await self.round()
            except Exception:  # a bug must not stop renewals for good
                log.exception("lease round failed")

    def _sleep_time(self) -> float:
        """Until the next round, or the earliest local deadline when that comes first."""
        now = asyncio.get_running_loop().time()
        deadlines = [h.deadline - now for h in self._held.values() if h.deadline > now]
        return max(min([self.interval, *deadlines]), 0.0)

    # --- one round --------------------------------------------------------------------------------

    async def round(self) -> None:
        """Renew, count the live nodes, take what is free, give up the excess."""
        async with self._round_lock:
            self._wake.clear()
            loop = asyncio.get_running_loop()
            for name, held in list(self._held.items()):
                if name not in self._leaving and not held.valid():
                    refused = name in self._refusals
                    why = (
                        "a write fenced by it was refused" if refused else "its renewal is overdue"
                    )
                    await self._lose(name, why)
            began = loop.time()
            held_now = {name: held.lease for name, held in self._held.items()}
            claims = list(self._claims.values())
            leaving = set(self._leaving)
            try:
                decided = await asyncio.to_thread(self._decide, held_now, claims, leaving)
            except InterlinkError as exc:
                if not self._failing:
                    self._failing = True
                    log.error(
                        "leases of %s not renewed: %s; work stops as they lapse",
                        self.owner,
                        exc.message,
                    )
                return
            if self._failing:
                self._failing = False
                log.info("leases of %s renewed again", self.owner)
            self.live_nodes = decided.live
            deadline = began + self.ttl - self.margin
            for name, renewed in decided.renewed.items():
                current = self._held.get(name)
                if current is not None and current.deadline != -math.inf:
                    current.lease, current.deadline = renewed, deadline
            for name in decided.lost:
                await self._lose(name, "another node holds it now")
            for lease in decided.taken:
                await self._take(HeldLease(lease, deadline))
            for name in decided.excess:
                self._give_up(name)

    def _decide(self, held: dict[str, Lease], claims: list[_Claim], leaving: set[str]) -> _Round:
        """The store's side of a round; runs in a worker thread, on copies."""
        out = _Round()
        self.leases.acquire(NODE_PREFIX + self.owner, self.owner, self.ttl)
        now = self.leases.now()
        listing = {lease.name: lease for lease in self.leases.list()}
        out.live = max(
            1,
            sum(
                1
                for lease in listing.values()
                if lease.name.startswith(NODE_PREFIX) and lease.held_at(now)
            ),
        )
        for name, lease in held.items():
            renewed = self.leases.renew(lease, self.ttl)
            if renewed is None:
                out.lost.append(name)
            else:
                out.renewed[name] = renewed
        kept = {n for n in out.renewed if n not in leaving}
        # Each family of shared claims (``subscription:``, ``monitors:``) is spread on its
        # own: pooled, one family's claims could fill a node's share of the other's.
        room: dict[str, int] = {}
        for family, names in _families(c.name for c in claims if c.shared).items():
            share = math.ceil(len(names) / out.live)
            mine = sorted((n for n in names if n in kept), key=self._preference)
            out.excess.extend(mine[share:])
            room[family] = share - len(mine)
        free = [
            c
            for c in sorted(claims, key=lambda c: self._preference(c.name))
            if c.name not in held and (c.name not in listing or not listing[c.name].held_at(now))
        ]
        for claim in free:
            family = _family(claim.name)
            if claim.shared and room[family] <= 0:
                continue
            taken = self.leases.acquire(claim.name, self.owner, self.ttl)
            if taken is not None:
                out.taken.append(taken)
                if claim.shared:
                    room[family] -= 1
        return out

    def _preference(self, name: str) -> bytes:
        return hashlib.sha256(f"{self.owner}\x00{name}".encode()).digest()

    # --- acting on it -----------------------------------------------------------------------------

    async def _take(self, held: HeldLease) -> None:
        claim = self._claims.get(held.name)
        self._refusals.discard(held.name)
        self._held[held.name] = held
        if claim is None:  # unclaimed meanwhile
            self._give_up(held.name)
            return
        log.info("%s took lease %s (token %d)", self.owner, held.name, held.token)
        try:
            await claim.start(held)
        except InterlinkError as exc:  # the store or the bus away: another round takes it again
            log.warning(
                "starting the work of lease %s failed: %s; giving it up", held.name, exc.message
            )
            self._give_up(held.name)
        except Exception:
            log.exception("starting the work of lease %s failed; giving it up", held.name)
            self._give_up(held.name)

    async def _lose(self, name: str, why: str) -> None:
        held = self._held.pop(name, None)
        self._refusals.discard(name)
        if held is None:
            return
        held.end()
        log.warning("%s lost lease %s: %s; its work stops", self.owner, name, why)
        claim = self._claims.get(name)
        if claim is not None and name not in self._leaving:  # else it is stopping already
            try:
                await claim.stop(name, True)
            except Exception:
                log.exception("stopping the work of lease %s failed", name)

    def _give_up(self, name: str) -> None:
        """Stop the work gracefully (renewing meanwhile), then release the lease."""
        if name in self._leaving:
            return
        claim = self._claims.get(name)
        self._leaving[name] = asyncio.create_task(self._leave(name, claim), name=f"leaving {name}")

    async def _leave(self, name: str, claim: _Claim | None) -> None:
        try:
            if claim is not None:
                await claim.stop(name, False)
        except Exception:
            log.exception("stopping the work of lease %s failed", name)
        finally:
            held = self._held.pop(name, None)
            self._leaving.pop(name, None)
            if held is not None and held.valid():
                held.end()
                with contextlib.suppress(InterlinkError):
                    await asyncio.to_thread(self.leases.release, held.lease)
                log.info("%s released lease %s", self.owner, name)

    def _release_heartbeat(self) -> None:
        for lease in self.leases.list(NODE_PREFIX + self.owner):
            if lease.owner == self.owner and lease.name == NODE_PREFIX + self.owner:
                self.leases.release(lease)


def _family(name: str) -> str:
    """What a lease name is one of: the part before its first ``:``."""
    return name.split(":", 1)[0]


def _families(names: Iterable[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in names:
        out.setdefault(_family(name), []).append(name)
    return out
