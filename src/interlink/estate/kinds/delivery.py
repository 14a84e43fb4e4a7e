"""Subscription: an event delivered to a system's webhook, a flow or an in-process handler."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from interlink.estate.durations import Duration
from interlink.estate.kinds.base import EstateObject, Model, Name, SecretRef

DEFAULT_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


class Target(Model):
    system: Name | None = Field(default=None, description="deliver to this System's webhook")
    path: str = Field(default="/", pattern=r"^/[^\s#]*$", description="under the base URL")
    flow: Name | None = Field(default=None, description="start this Flow")
    handler: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$",
        description="in-process Python handler registered under the interlink.handlers entry point",
    )

    @model_validator(mode="after")
    def _one(self) -> Target:
        chosen = [x for x in (self.system, self.flow, self.handler) if x is not None]
        if len(chosen) != 1:
            raise ValueError("a target names exactly one of: system, flow, handler")
        return self


class Filter(Model):
    attributes: dict[str, str] = Field(
        default_factory=dict, description="CloudEvents attributes that must match exactly"
    )
    jsonata: str | None = Field(default=None, description="a JSONata predicate over the event")


class Retry(Model):
    schedule: list[Duration] = Field(default_factory=lambda: list(DEFAULT_SCHEDULE), max_length=50)
    jitter: float = Field(default=0.2, ge=0, le=1)


class SubscriptionSpec(Model):
    event: Name
    target: Target
    filter: Filter = Field(default_factory=Filter)
    ordered: bool = Field(default=False, description="deliver in order per ordering key")
    retry: Retry = Field(default_factory=Retry)
    dead_letter: bool = True
    max_in_flight: int = Field(default=16, ge=1, le=10_000)
    timeout: Duration = 10.0
    start_at: Literal["new", "earliest"] | datetime = "new"
    secret: SecretRef | None = Field(default=None, description="webhook signing secret")


class Subscription(EstateObject):
    KIND = "Subscription"
    kind: Literal["Subscription"]
    spec: SubscriptionSpec
