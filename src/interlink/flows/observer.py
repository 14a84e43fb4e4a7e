"""What the engine tells about the steps it runs, for whoever counts them (the node's metrics).

The engine calls these on its event loop, around every attempt of a step: forward steps and
compensations alike (``phase``). The base class hears nothing; a node's runner overrides it.
"""

from __future__ import annotations

from typing import Literal

from interlink.flows.runs import Phase

#: How an attempt ended: ``completed`` (the step's result is checkpointed), ``waiting`` (a wait
#: step not due yet: it runs again when the run wakes), ``retrying`` (it failed and is tried
#: again), ``failed`` (it failed for good).
Outcome = Literal["completed", "waiting", "retrying", "failed"]


class FlowObserver:
    def run_recorded(self, flow: str, trigger: str) -> None:
        """A run of ``flow`` was recorded, started by ``trigger`` (``api``, ``schedule``,
        ``event:<subscription>:<event id>``, ``poll:…``, ``route:…``)."""

    def step_started(self, flow: str, step: str, kind: str, phase: Phase, attempt: int) -> None:
        """Attempt number ``attempt`` (1-based) of ``step`` (of type ``kind``) of a run of
        ``flow`` begins. A ``wait`` step runs again when its run wakes: a later attempt of it
        is that, not a retry."""

    def step_ended(
        self, flow: str, step: str, phase: Phase, attempt: int, seconds: float, outcome: Outcome
    ) -> None:
        """That attempt ended, ``seconds`` after it began."""
