"""The demo's control endpoints: the CRM simulator paused and resumed on the CRM's port."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from interlink.estate.loader import load_estate
from interlink.events.mesh import EventMesh
from interlink.examples.companions import PAUSE_PATH, RESUME_PATH, DemoCompanions

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_the_crm_simulator_is_paused_and_resumed_on_the_crms_port(
    retail_dir: Path,
) -> None:
    estate, _ = load_estate(retail_dir)
    told: list[str] = []
    secrets = {"logistics-webhook-secret": "whsec_x", "analytics-webhook-secret": "whsec_y"}
    mesh = cast(EventMesh, None)  # not reached: nothing is published or replayed here
    companions = DemoCompanions(
        estate, mesh, "http://127.0.0.1:9", "key", "key", secrets, told.append
    )
    await companions.crm.start(0)
    answers: list[Any] = []
    try:
        async with httpx.AsyncClient(base_url=companions.crm.url) as client:
            answers.append((await client.post(PAUSE_PATH)).json())
            paused = companions.paused
            answers.append((await client.post(RESUME_PATH)).json())
            customer = await client.get("/customers/C000001")  # the CRM answers as before
    finally:
        await companions.crm.stop()
    assert paused
    assert not companions.paused
    assert answers == [
        {"simulator": "crm", "paused": True},
        {"simulator": "crm", "paused": False},
    ]
    assert customer.json()["id"] == "C000001"
    assert told[0].startswith("crm        ! simulator paused")
