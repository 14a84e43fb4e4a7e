"""A serving node's alerts: the runtime starts them with the event mesh, a verdict handed to
``runtime.alerts`` reaches the notify Team's webhook in the background, signed."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from interlink.events.signing import generate_secret
from interlink.observe.verdicts import Verdict
from interlink.runtime.runtime import Runtime
from interlink.runtime.serve import start_mesh, stop_mesh
from interlink.runtime.settings import ServeSettings
from interlink.testing.receivers import Receiver


def test_a_verdict_reaches_the_teams_webhook_from_a_serving_node(
    retail_dir: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = generate_secret()
    teams = retail_dir / "teams.yaml"
    teams.write_text(
        teams.read_text(encoding="utf-8").replace(
            '{type: webhook, to: "${secret:analytics-alert-hook}"}',
            '{type: webhook, to: "${secret:analytics-alert-hook}", '
            'secret: "${secret:analytics-alert-key}"}',
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("INTERLINK_SECRET_ANALYTICS_ALERT_KEY", secret)
    runtime = Runtime.open(ServeSettings(retail_dir, store_url=store_url))

    async def scenario() -> None:
        async with Receiver(secret=secret) as hook:
            monkeypatch.setenv("INTERLINK_SECRET_ANALYTICS_ALERT_HOOK", f"{hook.url}/alerts")
            await start_mesh(runtime)
            try:
                assert runtime.alerts is not None
                verdict = Verdict(
                    "addresses-fresh",
                    "freshness",
                    True,
                    datetime.now(UTC),
                    {"age_seconds": 10_800, "max_age_seconds": 7200, "signal": "refreshed"},
                )
                await runtime.alerts.verdicts([verdict])
                await hook.wait_for(lambda: bool(hook.delivered))
            finally:
                await stop_mesh(runtime)
            assert runtime.alerts is None
            [received] = hook.delivered
            assert received.verified is True
            document = json.loads(received.body)
            assert document["type"] == "alert.firing"
            assert document["team"] == "analytics"
            assert document["summary"] == (
                "The customer addresses data product has not been refreshed for 3 hours; the "
                "monitor allows at most 2 hours. Owner: Sales."
            )

    try:
        asyncio.run(scenario())
    finally:
        runtime.close()
