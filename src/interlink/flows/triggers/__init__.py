"""Triggers that connectors plug into: a source class each, the cluster guarantees here.

``sources.py`` is what a connector writes: a polling source (``poll(cursor, limit)`` →
:class:`Batch` of :class:`Item`) or a consumed source (``receive()`` → :class:`Delivery`).
``poller.py`` runs a polling source for one flow: runs recorded, then the cursor stored in
``checkpoints.py`` (``flow_trigger_checkpoints``, fenced by the trigger's lease).
``consumer.py`` runs a consumed source: the run recorded, then the message acked. Each runs on
one node at a time under the lease ``flow-trigger:<flow>:<trigger>`` (``owned.py``), backing off
on failures with one log line a streak (``backoff.py``). ``registry.py``'s
:class:`FlowTriggers` starts, keeps and stops them as the wanted list changes.
"""

from __future__ import annotations

from interlink.flows.triggers.checkpoints import Checkpoint, Fence, TriggerCheckpoints
from interlink.flows.triggers.consumer import Begin, Consumer
from interlink.flows.triggers.owned import LEASE_PREFIX
from interlink.flows.triggers.poller import Poller, Start
from interlink.flows.triggers.registry import Applied, FlowTriggers, TriggerSource
from interlink.flows.triggers.sources import (
    JSON,
    Batch,
    ConsumedSource,
    Delivery,
    Item,
    PollingSource,
    item_run_id,
    trigger_id,
)

__all__ = [
    "JSON",
    "LEASE_PREFIX",
    "Applied",
    "Batch",
    "Begin",
    "Checkpoint",
    "ConsumedSource",
    "Consumer",
    "Delivery",
    "Fence",
    "FlowTriggers",
    "Item",
    "Poller",
    "PollingSource",
    "Start",
    "TriggerCheckpoints",
    "TriggerSource",
    "item_run_id",
    "trigger_id",
]
