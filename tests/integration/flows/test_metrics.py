"""The node's flow metrics as the engine reports steps to them, rendered as /metrics does."""

from __future__ import annotations

import asyncio
from pathlib import Path

from interlink.observe.metrics import Registry
from interlink.runtime.flows import FlowMetrics
from interlink.store import Store
from interlink.testing.upstreams import UpstreamThread
from tests.integration.flows.test_engine import SAGA, engine_for, write_estate


def test_steps_are_counted_started_retried_ended_and_compensated(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, SAGA)
    registry = Registry()
    engine = engine_for(root, store, observer=FlowMetrics(registry))

    async def go() -> None:
        upstream.fail_next(1, 503)  # create: tried again, then done
        assert (await engine.start_and_run("onboard", {"name": "Ada"})).status == "completed"
        await engine.aclose()

    asyncio.run(go())
    broken = engine_for(
        write_estate(
            tmp_path / "broken", upstream.url, SAGA.replace("path: /notify", "path: /x/{no}")
        ),
        store,
        observer=FlowMetrics(registry),
    )
    # notify cannot be sent (its path needs a field the message lacks): create is undone
    undone = asyncio.run(broken.start_and_run("onboard", {"name": "Bo"}))
    assert undone.status == "compensated", undone.error
    text = registry.render()
    lines = set(text.splitlines())
    for line in [
        'interlink_flow_steps_started_total{flow="onboard",step="create"} 2',
        'interlink_flow_step_retries_total{flow="onboard",step="create"} 1',
        'interlink_flow_steps_ended_total{flow="onboard",step="create",status="completed"} 2',
        'interlink_flow_steps_ended_total{flow="onboard",step="create",status="compensated"} 1',
        'interlink_flow_steps_ended_total{flow="onboard",step="notify",status="completed"} 1',
        'interlink_flow_steps_ended_total{flow="onboard",step="notify",status="failed"} 1',
        'interlink_flow_steps_ended_total{flow="onboard",step="shape",status="completed"} 2',
        'interlink_flow_step_duration_seconds_count{flow="onboard",step="create"} 3',
    ]:
        assert line in lines, line
    assert "# TYPE interlink_flow_step_duration_seconds histogram" in lines
    assert engine.holding == {}  # nothing in flight once the runs ended
    assert broken.holding == {}
