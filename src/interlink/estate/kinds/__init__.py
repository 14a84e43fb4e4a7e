"""The fourteen kinds of estate object, and the registry that maps a `kind:` to its model."""

from __future__ import annotations

from interlink.estate.kinds.base import API_VERSION, EstateObject, Lifecycle, Metadata
from interlink.estate.kinds.contracts import Api, CompatibilityMode, Event
from interlink.estate.kinds.data import DataProduct, Monitor
from interlink.estate.kinds.delivery import Subscription
from interlink.estate.kinds.flow import Flow
from interlink.estate.kinds.gateway import Consumer, Plan, Route
from interlink.estate.kinds.glossary import Glossary
from interlink.estate.kinds.organisation import Platform, System, Team
from interlink.estate.kinds.policy import Policy

KINDS: dict[str, type[EstateObject]] = {
    cls.KIND: cls
    for cls in (
        Platform,
        Team,
        System,
        Api,
        Event,
        Route,
        Plan,
        Consumer,
        Subscription,
        Flow,
        DataProduct,
        Monitor,
        Glossary,
        Policy,
    )
}

__all__ = [
    "API_VERSION",
    "KINDS",
    "Api",
    "CompatibilityMode",
    "Consumer",
    "DataProduct",
    "EstateObject",
    "Event",
    "Flow",
    "Glossary",
    "Lifecycle",
    "Metadata",
    "Monitor",
    "Plan",
    "Platform",
    "Policy",
    "Route",
    "Subscription",
    "System",
    "Team",
]
