"""Delivery: every event a subscription takes reaches its target, or a dead-letter queue.

The bus keeps events and a cursor per subscription; this layer does the rest, the same on
every bus backend: filters, a durable queue in the store database, retries on a schedule with
jitter, ``Retry-After``, per-key ordering, dead letters, replay, signed webhooks and in-process
handlers. ``DeliveryEngine`` runs it all; the modules behind it each hold one concept.
"""

from __future__ import annotations

from interlink.events.delivery.attempt import Attempt, Sender
from interlink.events.delivery.clock import Clock, SystemClock
from interlink.events.delivery.dispatcher import EngineSettings, SubscriptionWorker
from interlink.events.delivery.engine import DeliveryEngine, SubscriptionStatus
from interlink.events.delivery.filtering import EventFilter, FilterError
from interlink.events.delivery.handlers import GROUP as HANDLER_GROUP
from interlink.events.delivery.handlers import Handler, load_handler
from interlink.events.delivery.metrics import DeliveryMetrics, SubscriptionMetrics
from interlink.events.delivery.notify import LogNotifier, Notice, Notifier
from interlink.events.delivery.plan import DeliveryPlan, PlanProblem, compile_plans
from interlink.events.delivery.queue import (
    Delivery,
    DeliveryQueue,
    Disabled,
    Job,
    JobKey,
    Outcome,
    Page,
)
from interlink.events.delivery.queues import open_queue
from interlink.events.delivery.replay import ReplayProgress
from interlink.events.delivery.schedule import parse_retry_after, retry_delay
from interlink.events.delivery.webhook import (
    ClientFactory,
    ClientLimits,
    HttpxClient,
    PooledClient,
    WebhookClient,
    WebhookResponse,
    webhook_url,
)

__all__ = [
    "HANDLER_GROUP",
    "Attempt",
    "ClientFactory",
    "ClientLimits",
    "Clock",
    "Delivery",
    "DeliveryEngine",
    "DeliveryMetrics",
    "DeliveryPlan",
    "DeliveryQueue",
    "Disabled",
    "EngineSettings",
    "EventFilter",
    "FilterError",
    "Handler",
    "HttpxClient",
    "Job",
    "JobKey",
    "LogNotifier",
    "Notice",
    "Notifier",
    "Outcome",
    "Page",
    "PlanProblem",
    "PooledClient",
    "ReplayProgress",
    "Sender",
    "SubscriptionMetrics",
    "SubscriptionStatus",
    "SubscriptionWorker",
    "SystemClock",
    "WebhookClient",
    "WebhookResponse",
    "compile_plans",
    "load_handler",
    "open_queue",
    "parse_retry_after",
    "retry_delay",
    "webhook_url",
]
