"""Flow: a trigger, then steps (map, filter, enrich, split, choice, idempotency, saga calls)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from interlink.estate.durations import Duration
from interlink.estate.kinds.base import EstateObject, Model, Name
from interlink.estate.kinds.gateway import Method

CRON_FIELD = r"(\*|\d+|\d+-\d+)(/\d+)?(,(\*|\d+|\d+-\d+)(/\d+)?)*"
CRON_PATTERN = rf"^{CRON_FIELD}( {CRON_FIELD}){{4}}$"


class Trigger(Model):
    event: Name | None = Field(default=None, description="run for every event of this type")
    schedule: str | None = Field(
        default=None, pattern=CRON_PATTERN, description="cron: minute hour day month weekday"
    )
    manual: bool = Field(default=False, description="started only through the API or CLI")

    @model_validator(mode="after")
    def _one(self) -> Trigger:
        chosen = [self.event is not None, self.schedule is not None, self.manual]
        if sum(chosen) != 1:
            raise ValueError("a trigger is exactly one of: event, schedule, manual")
        return self


class StepBase(Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")


class MapStep(StepBase):
    type: Literal["map"]
    expression: str = Field(description="JSONata expression producing the new message")


class FilterStep(StepBase):
    type: Literal["filter"]
    condition: str = Field(description="JSONata predicate; false drops the message")


class EnrichSource(Model):
    api: Name | None = None
    path: str | None = Field(default=None, pattern=r"^/")
    data_product: Name | None = None
    query: str | None = None

    @model_validator(mode="after")
    def _one(self) -> EnrichSource:
        if (self.api is None) == (self.data_product is None):
            raise ValueError("enrich from exactly one of: api, dataProduct")
        if self.api is not None and self.path is None:
            raise ValueError("enrich from an api needs 'path'")
        return self


class EnrichStep(StepBase):
    type: Literal["enrich"]
    source: EnrichSource = Field(alias="from")
    into: str = Field(description="field of the message that receives the result")


class SplitStep(StepBase):
    type: Literal["split"]
    items: str = Field(description="JSONata expression yielding the array to split")


class IdempotencyStep(StepBase):
    type: Literal["idempotency"]
    key: str = Field(description="JSONata expression for the idempotency key")
    window: Duration = 86400.0


class HttpCall(Model):
    system: Name
    method: Method = "POST"
    path: str = Field(pattern=r"^/")
    body: str | None = Field(default=None, description="JSONata expression for the body")


class CallStep(StepBase):
    type: Literal["call"]
    system: Name
    method: Method = "POST"
    path: str = Field(pattern=r"^/")
    body: str | None = None
    compensate: HttpCall | None = Field(
        default=None, description="undoes this step when a later one fails (saga)"
    )


class PublishStep(StepBase):
    type: Literal["publish"]
    event: Name
    data: str | None = Field(default=None, description="JSONata; default: the message")


class Branch(Model):
    when: str = Field(description="JSONata predicate")
    steps: list[Step] = Field(min_length=1)


class ChoiceStep(StepBase):
    type: Literal["choice"]
    branches: list[Branch] = Field(min_length=1)
    otherwise: list[Step] = Field(default_factory=list)


Step = Annotated[
    MapStep
    | FilterStep
    | EnrichStep
    | SplitStep
    | IdempotencyStep
    | CallStep
    | PublishStep
    | ChoiceStep,
    Field(discriminator="type"),
]
Branch.model_rebuild()
ChoiceStep.model_rebuild()


class FlowSpec(Model):
    trigger: Trigger
    steps: list[Step] = Field(min_length=1)
    timeout: Duration = 300.0

    @model_validator(mode="after")
    def _unique_steps(self) -> FlowSpec:
        seen: set[str] = set()
        for step in iter_steps(self.steps):
            if step.name in seen:
                raise ValueError(f"step name '{step.name}' is used twice")
            seen.add(step.name)
        return self


def iter_steps(steps: list[Step]) -> list[Step]:
    """Every step, depth first, including those inside choice branches."""
    out: list[Step] = []
    for step in steps:
        out.append(step)
        if isinstance(step, ChoiceStep):
            for branch in step.branches:
                out.extend(iter_steps(branch.steps))
            out.extend(iter_steps(step.otherwise))
    return out


class Flow(EstateObject):
    KIND = "Flow"
    kind: Literal["Flow"]
    spec: FlowSpec
