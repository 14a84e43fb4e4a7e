"""The console's flow pages: each flow of the example estate drawn with every step in order,
its compensations and what starts it; a flow with a choice and onError steps drawn with its
branches; an unknown flow a page saying so; and a real run's steps on a time axis."""

from __future__ import annotations

import html
import re

from interlink.admin.console.flow_view import box, compensations
from interlink.admin.console.step_chart import LABEL, PLOT, chart
from interlink.estate.kinds import Flow
from interlink.estate.kinds.flow import FlowSpec, iter_steps
from tests.integration.test_console import Console, console  # noqa: F401 - the fixture


def _steps_in_order(page: str) -> list[str]:
    return re.findall(r"<strong>([a-z0-9_-]+)</strong>", page)


def test_every_example_flow_is_drawn_with_all_its_steps_in_order(
    console: Console,  # noqa: F811 - the fixture
) -> None:
    client = console.sign_in(console.viewer)
    estate = console.runtime.snapshot.estate
    flows = sorted(estate.of(Flow), key=lambda f: f.name)
    assert [f.name for f in flows] == ["address-sync", "order-saga"]
    for flow in flows:
        page = client.get(f"/console/flows/{flow.name}")
        assert page.status_code == 200, page.text
        assert f"<h1>Flow {flow.name}</h1>" in page.text
        names = [s.name for s in iter_steps([*flow.spec.steps, *flow.spec.on_error])]
        drawn = _steps_in_order(page.text.split("<h2>Compensation</h2>")[0])
        assert drawn == names
        assert f'href="/console/runs?flow={flow.name}"' in page.text

    saga = html.unescape(client.get("/console/flows/order-saga").text)
    assert "POST inventory /reservations" in saga
    assert "undone by DELETE inventory /reservations/{reservation}" in saga
    assert "undone by POST billing /payments/{payment}/refund" in saga
    undo = saga.split("<h2>Compensation</h2>")[1]
    assert undo.index("charge-payment") < undo.index("reserve-stock")  # the last done first
    assert "each order.placed event, delivered by Subscription/order-saga-orders" in saga
    assert "each request to Route/orders" in saga
    sync = html.unescape(client.get("/console/flows/address-sync").text)
    assert "keeps the message when address.country in ['DE', 'AT', 'CH']" in sync
    assert "once per key customerId & '/' & changedAt within 1w" in sync


def test_an_unknown_flow_is_a_page_saying_so(console: Console) -> None:  # noqa: F811
    client = console.sign_in(console.viewer)
    page = client.get("/console/flows/order-sagas")
    assert page.status_code == 404
    assert "no flow &#39;order-sagas&#39; (did you mean &#39;order-saga&#39;?)" in page.text
    assert "Traceback" not in page.text
    assert client.get("/console/flows/" + "x" * 101).status_code == 400


def test_branches_on_error_and_nested_compensations_are_drawn() -> None:
    spec = FlowSpec.model_validate(
        {
            "steps": [
                {"name": "pay", "type": "call", "system": "billing", "path": "/pay",
                 "compensate": {"system": "billing", "path": "/refund"}},
                {"name": "route", "type": "choice", "branches": [
                    {"when": "country = 'DE'", "steps": [
                        {"name": "ship-de", "type": "call", "system": "dhl", "path": "/s",
                         "compensate": {"system": "dhl", "method": "DELETE", "path": "/s"}},
                    ]},
                ], "otherwise": [{"name": "note", "type": "map", "expression": "$"}]},
                {"name": "pause", "type": "wait", "for": "90m"},
                {"name": "done", "type": "publish", "event": "order.done",
                 "retry": {"attempts": 5}},
            ],
            "onError": [{"name": "tell", "type": "publish", "event": "order.failed"}],
        }
    )  # fmt: skip
    steps = [box(s) for s in spec.steps]
    [choice] = [b for b in steps if b.kind == "choice"]
    assert [(lane.label, [b.name for b in lane.steps]) for lane in choice.branches] == [
        ("when country = 'DE'", ["ship-de"]),
        ("otherwise", ["note"]),
    ]
    assert steps[2].detail == "waits 90m"
    assert steps[3].retry == "up to 5 tries"
    assert [b.name for b in compensations(steps)] == ["ship-de", "pay"]


def test_a_runs_steps_are_attempts_on_its_time_axis() -> None:
    at = "2026-12-07T10:00:0{}+00:00".format
    run = {
        "started_at": at(0),
        "steps": [
            {"name": "once", "phase": "forward", "status": "completed", "attempts": 1,
             "started_at": at(0), "finished_at": at(1), "error": None, "tries": []},
            {"name": "reserve-stock", "phase": "forward", "status": "completed", "attempts": 2,
             "started_at": at(1), "finished_at": at(4), "error": None,
             "tries": [{"attempt": 1, "started_at": at(1), "ended_at": at(2),
                        "error": "answered 503", "retry_at": at(3)}]},
            {"name": "charge", "phase": "forward", "status": "failed", "attempts": 1,
             "started_at": at(4), "finished_at": at(8), "error": "answered 402",
             "tries": [{"attempt": 1, "started_at": at(4), "ended_at": at(8),
                        "error": "answered 402", "retry_at": None}]},
        ],
    }  # fmt: skip
    drawn = chart(run)
    once, reserve, charge = drawn.rows
    unit = PLOT / 8
    assert [(b.x, b.width, b.status) for b in once.bars] == [(LABEL, unit, "completed")]
    # The failed try, the wait until its retry was due left empty, then the retry.
    assert [(b.x, b.width, b.status) for b in reserve.bars] == [
        (LABEL + unit, unit, "failed"),
        (LABEL + 3 * unit, unit, "completed"),
    ]
    assert reserve.bars[0].text == "attempt 1, failed, at 1.000 s for 1.000 s: answered 503"
    assert reserve.text == "reserve-stock: completed, from 1.000 s to 4.000 s, 2 attempts, 1 retry"
    # A step that gave up: its last try is its end, not drawn twice.
    assert [(b.x, b.width, b.status) for b in charge.bars] == [
        (LABEL + 4 * unit, 4 * unit, "failed")
    ]
    assert [label for _, label in drawn.ticks] == ["0 s", "4 s", "8 s"]
