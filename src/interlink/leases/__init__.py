"""Background work owned through leases in the store, so two nodes never do the same work.

``keeper.py`` holds a node's leases (taking, renewing, giving up, telling the work when one is
lost); ``singleton.py`` runs a job only while this node holds one named lease. Subscriptions'
deliveries, reconciling bus resources and, as they come, schedules, polling triggers and
monitors are owned this way (docs/operations.md, "Work owned by leases").
"""

from __future__ import annotations

from interlink.leases.keeper import DEFAULT_TTL, NODE_PREFIX, HeldLease, LeaseKeeper
from interlink.leases.singleton import Singleton

__all__ = ["DEFAULT_TTL", "NODE_PREFIX", "HeldLease", "LeaseKeeper", "Singleton"]
