"""Every Subscription the estate runs: those declared, and one implied by each Flow's
``trigger.event``.

``trigger.event: order.placed`` is shorthand for a Subscription with the defaults (retries,
dead letters, no filter, unordered) whose target is the flow. It is named ``flow-<flow name>``
and owned by the flow's owner, and it is run, listed and operated (dead letters, replay) like
a declared one under that name. ``check`` refuses a declared Subscription of the same name, and
a flow fed the same event both ways.
"""

from __future__ import annotations

from interlink.estate.kinds import Flow, Subscription
from interlink.estate.kinds.base import Metadata
from interlink.estate.kinds.delivery import SubscriptionSpec, Target
from interlink.estate.model import Estate

PREFIX = "flow-"


def implied_name(flow: str) -> str:
    """The name of the Subscription a Flow's ``trigger.event`` implies."""
    return PREFIX + flow


def implied_subscriptions(estate: Estate) -> list[Subscription]:
    """One Subscription per Flow with ``trigger.event``, by the flow's name."""
    implied: list[Subscription] = []
    for flow in sorted(estate.of(Flow), key=lambda f: f.name):
        trigger = flow.spec.trigger
        if trigger is None or trigger.event is None:
            continue
        implied.append(
            Subscription(
                api_version="interlink/v1",
                kind="Subscription",
                metadata=Metadata(
                    name=implied_name(flow.name),
                    owner=flow.metadata.owner,
                    description=f"implied by Flow/{flow.name}'s trigger.event",
                ),
                spec=SubscriptionSpec(event=trigger.event, target=Target(flow=flow.name)),
            )
        )
    return implied


def subscriptions(estate: Estate) -> list[Subscription]:
    """The declared Subscriptions and the implied ones, by name; a declared one wins a
    name both have (``check`` refuses that estate)."""
    found = {sub.name: sub for sub in implied_subscriptions(estate)}
    found.update((sub.name, sub) for sub in estate.of(Subscription))
    return [found[name] for name in sorted(found)]
