"""Background work owned through leases in the store, so two nodes never do the same work.

``keeper.py`` holds a node's leases (taking, renewing, giving up, telling the work when one is
lost); ``singleton.py`` runs a job only while this node holds one named lease;
``repeated.py`` repeats a pass (a purge) under a lease, or alone on the embedded store.
Subscriptions' deliveries, reconciling bus resources, schedules, polling triggers, purges and
monitors are owned this way (docs/operations.md, "Work owned by leases").
"""

from __future__ import annotations

from interlink.leases.keeper import DEFAULT_TTL, NODE_PREFIX, HeldLease, LeaseKeeper
from interlink.leases.repeated import RepeatedPass
from interlink.leases.singleton import Singleton

__all__ = [
    "DEFAULT_TTL",
    "NODE_PREFIX",
    "HeldLease",
    "LeaseKeeper",
    "RepeatedPass",
    "Singleton",
]
