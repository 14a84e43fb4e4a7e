"""Replay from the console of a real `interlink serve`: the subscription's page and its form,
the progress panel polled until done, the copies re-delivered to a loopback webhook and the
audit entry the API writes; bad forms answered with a page that says why and change nothing; a
run's steps on its time axis; and a replay this node did not start, said so."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.admin.app import create_app
from interlink.runtime.runtime import Runtime
from interlink.runtime.serve import start_mesh, stop_mesh
from interlink.runtime.settings import ServeSettings
from tests.e2e.test_events_operations import (  # noqa: F401 - the fixture
    ANALYTICS,
    Platform,
    platform,
    wait_until,
)

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found is not None, page
    return found.group(1)


def sign_in(client: httpx.Client | Any, token: str) -> None:
    page = client.get("/console/sign-in")
    answer = client.post("/console/sign-in", data={"csrf": csrf_of(page.text), "token": token})
    assert answer.status_code == 303, answer.text


@pytest.fixture
def browser(platform: Platform) -> Iterator[httpx.Client]:  # noqa: F811 - the fixture
    with httpx.Client(base_url=platform.admin, follow_redirects=False) as client:
        sign_in(client, platform.token)
        yield client


def audited_replays(platform: Platform) -> list[tuple[str, str, Any]]:  # noqa: F811
    entries = platform.get("/api/v1/audit", params={"action": "replay.start"}).json()["entries"]
    return [(e["target"], e["result"], e["details"]) for e in entries]


def test_a_replay_started_from_the_console_is_followed_until_its_copies_are_delivered(
    platform: Platform,  # noqa: F811 - the fixture
    browser: httpx.Client,
) -> None:
    ids = platform.publish(1, 2, 3)
    wait_until(lambda: all(platform.analytics.seen[i] == 1 for i in ids))

    listed = browser.get("/console/subscriptions").text
    assert f'href="/console/subscriptions/{ANALYTICS}"' in listed
    assert "Latency p50 / p99" in listed
    page = browser.get(f"/console/subscriptions/{ANALYTICS}")
    assert page.status_code == 200, page.text
    assert f"<h1>Subscription {ANALYTICS}</h1>" in page.text
    assert re.search(r"<dt>Delivered</dt><dd>3</dd>", page.text)
    assert re.search(r"<dt>Lag</dt><dd>0 events behind", page.text)
    assert re.search(r"<dt>Delivery latency</dt><dd>p50 \d+\.\d{3} s, p99", page.text)
    assert "<dt>Failed attempts</dt><dd>0 (" in page.text

    started = browser.post(
        f"/console/subscriptions/{ANALYTICS}/replays",
        data={"csrf": csrf_of(page.text), "from_seq": "1", "from_time": "", "to_seq": "3"},
    )
    assert started.status_code == 303, started.text
    location = started.headers["location"]
    found = re.fullmatch(r"/console/replays/(\d+)", location)
    assert found is not None, location
    replay_id = int(found.group(1))
    shown = browser.get(location)
    assert shown.status_code == 200
    assert f"<h1>Replay {replay_id} of {ANALYTICS}</h1>" in shown.text

    panels: list[str] = []

    def done() -> bool:
        panels.append(browser.get(f"{location}/progress").text)
        return "Progress: done" in panels[-1]

    wait_until(done)
    final = panels[-1]
    assert 'hx-trigger="every 1s"' not in final  # the panel stops polling once done
    assert all('hx-trigger="every 1s"' in p for p in panels[:-1])  # and polled until then
    assert "3 of 3 events read" in final
    assert "3 of 3 copies delivered" in final
    assert "Done: 3 copies delivered." in final
    assert all(platform.analytics.seen[i] == 2 for i in ids)  # each event delivered again
    assert audited_replays(platform) == [
        (f"subscription/{ANALYTICS}", "ok", {"from_seq": 1, "to_seq": 3, "replay": replay_id})
    ]


def test_bad_replay_forms_are_pages_that_say_why_and_change_nothing(
    platform: Platform,  # noqa: F811 - the fixture
    browser: httpx.Client,
) -> None:
    ids = platform.publish(1)
    wait_until(lambda: platform.analytics.seen[ids[0]] == 1)
    csrf = csrf_of(browser.get(f"/console/subscriptions/{ANALYTICS}").text)
    form = f"/console/subscriptions/{ANALYTICS}/replays"
    for fields, status, said in [
        ({"from_seq": "5", "to_seq": "2"}, 400, "cannot end at sequence 2 before it starts at 5"),
        ({"from_seq": "1", "from_time": "2026-01-01T00:00:00Z"}, 400, "give exactly one of"),
        ({}, 400, "give exactly one of from_seq and from_time"),
        ({"from_seq": "0"}, 400, "from_seq: Input should be greater than or equal to 1"),
        ({"from_time": "yesterday"}, 400, "from_time: Input should be a valid datetime"),
    ]:
        answer = browser.post(form, data={"csrf": csrf, **fields})
        assert answer.status_code == status, (fields, answer.text)
        assert "the replay was not started" in answer.text
        assert said in answer.text, (fields, answer.text)
        assert "Traceback" not in answer.text

    forged = browser.post(form, data={"csrf": "forged", "from_seq": "1"})
    assert forged.status_code == 403
    assert "security token does not match" in forged.text
    assert audited_replays(platform) == []  # none of those reached the replay

    unknown = browser.post(
        "/console/subscriptions/analytics-adress-updates/replays",
        data={"csrf": csrf, "from_seq": "1"},
    )
    assert unknown.status_code == 404
    assert f"did you mean &#39;{ANALYTICS}&#39;" in unknown.text
    assert audited_replays(platform) == [
        ("subscription/analytics-adress-updates", "failed", {"from_seq": 1})
    ]
    assert browser.get("/console/subscriptions/nope").status_code == 404
    missing = browser.get("/console/replays/999999")
    assert missing.status_code == 404
    assert "no replay 999999 is known to this node" in missing.text
    time.sleep(0.5)  # a replay started by mistake would have delivered by now
    assert platform.analytics.seen[ids[0]] == 1


def test_a_run_page_draws_its_steps_on_a_time_axis_and_links_its_flow(
    platform: Platform,  # noqa: F811 - the fixture
    browser: httpx.Client,
) -> None:
    # No inventory system answers here: the order's stock reservation fails after its retries.
    order = {"orderId": "O1", "customerId": "C1", "items": [{"sku": "A"}], "amount": 1,
             "currency": "EUR"}  # fmt: skip
    started = platform.post("/api/v1/flows/order-saga/runs", json=order)
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    wait_until(
        lambda: platform.get(f"/api/v1/flows/runs/{run_id}").json()["status"] == "failed",
        timeout=60,
    )
    run = platform.get(f"/api/v1/flows/runs/{run_id}").json()
    page = browser.get(f"/console/runs/{run_id}").text
    assert 'href="/console/flows/order-saga"' in page
    failed = next(s for s in run["steps"] if s["status"] == "failed")
    tries = failed["attempts"]
    assert tries > 1  # the default policy retried the refused connection
    assert [t["attempt"] for t in failed["tries"]] == list(range(1, tries + 1))
    assert [t["retry_at"] is None for t in failed["tries"]] == [False] * (tries - 1) + [True]
    # One bar per attempt: the step that completed at once one, the failed step each try.
    bars = re.findall(r'<rect class="bar (\w+)"', page)
    assert bars == ["completed"] * (len(run["steps"]) - 1) + ["failed"] * tries
    assert f"{failed['name']}: failed, from " in page
    assert f"{tries} attempts, {tries - 1} retries" in page
    assert "attempt 1, failed, at " in page
    runs = browser.get("/console/runs").text
    assert 'href="/console/flows/order-saga"' in runs


def test_a_replay_not_started_here_is_said_so_and_a_viewer_may_not_start_one(
    retail_dir: Path, store_url: str
) -> None:
    """The store knows every replay; how far one has read is known only where it runs. Here
    the engine replays directly, as another node's admin API would, so this process's admin
    module has no progress of it. A viewer's token sees it but may not start one."""
    runtime = Runtime.open(ServeSettings(retail_dir, store_url=store_url))
    token, _ = runtime.store.tokens.create("viewer", "dashboard")

    async def scenario() -> None:
        await start_mesh(runtime)
        try:
            assert runtime.mesh is not None
            assert runtime.mesh.engine is not None
            done = await runtime.mesh.engine.replay(ANALYTICS, 1)
            transport = httpx.ASGITransport(app=create_app(runtime))
            async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
                page = await client.get("/console/sign-in")
                await client.post(
                    "/console/sign-in", data={"csrf": csrf_of(page.text), "token": token}
                )
                panel = (await client.get(f"/console/replays/{done.replay}/progress")).text
                page = await client.get(f"/console/subscriptions/{ANALYTICS}")
                assert "Your token may not replay this subscription" in page.text
                refused = await client.post(
                    f"/console/subscriptions/{ANALYTICS}/replays",
                    data={"csrf": csrf_of(page.text), "from_seq": "1"},
                )
        finally:
            await stop_mesh(runtime)
        assert f"Replay {done.replay} was not started on this node" in panel
        assert "finished reading" in panel
        assert "queued 0 copies" in panel
        assert "Progress: done" in panel
        assert 'hx-trigger="every 1s"' not in panel
        assert refused.status_code == 403  # a viewer's token: the API's refusal, audited
        [entry] = [e for e in runtime.store.audit.list() if e.action == "replay.start"]
        assert (entry.who_name, entry.target, entry.result) == (
            "dashboard",
            f"/console/subscriptions/{ANALYTICS}/replays",
            "refused",
        )
        assert "needs the operator role" in refused.text

    try:
        asyncio.run(scenario())
    finally:
        runtime.close()
