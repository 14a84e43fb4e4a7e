"""Impact over the retail example, declared and observed connections; and both commands."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from interlink.cli.estate import write_example
from interlink.cli.main import main
from interlink.errors import BadRequest, NotFound
from interlink.estate.loader import load_estate
from interlink.estate.model import Estate
from interlink.observe.impact import impact, resolve_subject
from interlink.observe.inventory import Seen, inventory
from interlink.store import ObservedConnection, ObservedLink, open_store

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Estate:
    root = tmp_path_factory.mktemp("retail") / "estate"
    write_example("retail", root)
    return load_estate(root)[0]


def test_a_bare_name_resolves_when_one_kind_has_it(estate: Estate) -> None:
    assert resolve_subject(estate, "crm") == "System/crm"
    assert resolve_subject(estate, "event/order.placed") == "Event/order.placed"
    with pytest.raises(NotFound, match=r"did you mean Api/customers-v2\?"):
        resolve_subject(estate, "customers-v3")
    with pytest.raises(NotFound, match="no Api 'crm'"):
        resolve_subject(estate, "Api/crm")
    with pytest.raises(BadRequest, match="impact starts from a System, Api, Event"):
        resolve_subject(estate, "Route/customers")
    api = estate.objects["Api/customers-v2"]
    named = api.obj.metadata.model_copy(update={"name": "crm"})
    twins = Estate(estate.root, dict(estate.objects))
    twins.objects["Api/crm"] = replace(api, obj=api.obj.model_copy(update={"metadata": named}))
    with pytest.raises(BadRequest, match="several objects: System/crm, Api/crm; give one"):
        resolve_subject(twins, "crm")


def test_an_event_reaches_its_subscribers_their_flows_and_what_those_call(estate: Estate) -> None:
    result = impact(estate, inventory(estate, [], NOW, NOW).connections, "Event/order.placed")
    assert result.of_kind("Subscription") == ["order-saga-orders"]
    assert result.of_kind("Flow") == ["order-saga"]
    assert set(result.of_kind("System")) >= {"billing", "inventory", "logistics", "webshop"}
    assert "order.confirmed" in result.of_kind("Event")  # the flow's output
    assert "webshop" in result.of_kind("Consumer")  # its publisher: a change reaches it
    assert result.teams == ["finance", "logistics", "sales"]
    saga = next(a for a in result.affected if a.key == "Flow/order-saga")
    assert (saga.parent, saga.how, saga.depth) == (
        "Subscription/order-saga-orders",
        "delivers to",
        2,
    )
    # Missing its events fails no one depending on what the flow calls.
    assert "Route/orders" not in {a.key for a in result.affected}
    document = result.to_json()
    assert document["subscriptions"] == ["order-saga-orders"]
    assert document["teams"] == result.teams
    assert result.tree()[0] == "Event/order.placed  (owner sales)"


def test_a_failing_system_fails_its_routes_consumers_and_the_flows_calling_it(
    estate: Estate,
) -> None:
    result = impact(estate, inventory(estate, [], NOW, NOW).connections, "System/billing")
    keys = {a.key for a in result.affected}
    assert {"Flow/order-saga", "Flow/address-sync", "Route/orders"} <= keys
    route = next(a for a in result.affected if a.key == "Route/orders")
    assert route.how == "answers"  # the route waits for the flow's answer


def test_observed_connections_count_too(estate: Estate) -> None:
    hour = NOW - timedelta(hours=1)
    seen = [Seen(hour, "request", "Consumer/webshop", "System/analytics", "Route/orders", 3)]
    result = impact(estate, inventory(estate, seen, NOW - timedelta(days=1), NOW).connections,
                    "System/analytics")  # fmt: skip
    route = next(a for a in result.affected if a.key == "Route/orders")
    assert route.observed
    assert not route.declared
    assert "[observed only]" in "\n".join(result.tree())


def interlink(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_the_commands_read_the_estates_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "estate"
    write_example("retail", root)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    hour = datetime.now(UTC) - timedelta(hours=1)
    with open_store(url) as store:
        store.migrate()
        store.connections.record([ObservedConnection(hour, "webshop", "customers-v2", "crm", 2)])
        store.links.record(
            [ObservedLink(hour, "publish", "Consumer/crm-publisher",
                          "Event/customer.address-updated", "events", 4, 1)]
        )  # fmt: skip
    at = ("--estate", str(root), "--store-url", url)

    code, out, _ = interlink(capsys, "inventory", *at)
    assert code == 0
    assert "UNDECLARED" in out
    assert "unused" in out
    assert out.strip().splitlines()[-1].startswith("25 declared, 2 observed")

    code, out, _ = interlink(capsys, "inventory", "--format", "json", "--undeclared", *at)
    document = json.loads(out)
    assert [(c["from"], c["to"], c["how"]) for c in document["connections"]] == [
        ("Consumer/webshop", "System/crm", "Route/customers-v2")
    ]
    assert document["summary"]["undeclared"] == 1

    code, out, _ = interlink(capsys, "inventory", "--format", "csv", "--kind", "publish", *at)
    rows = list(csv.DictReader(io.StringIO(out)))
    published = next(r for r in rows if r["from"] == "Consumer/crm-publisher")
    assert (published["count"], published["errorRate"]) == ("4", "0.25")
    assert published["declared"] == "true"

    code, out, _ = interlink(capsys, "inventory", "--format", "markdown", "--unused", *at)
    assert out.startswith("| Kind | From | To |")
    assert "UNDECLARED" not in out
    assert "| Consumer/crm-publisher | Event/customer.address-updated | events |" not in out

    code, out, _ = interlink(capsys, "impact", "crm", "--format", "json", *at)
    assert code == 0
    assert "webshop" in json.loads(out)["consumers"]  # over an observed, undeclared call
    code, out, _ = interlink(capsys, "impact", "customer.address-updated", *at)
    assert out.splitlines()[0] == "Event/customer.address-updated  (owner sales)"
    assert "teams: analytics, finance, logistics, sales" in out

    code, _, err = interlink(capsys, "impact", "crn", *at)
    assert code == 2
    assert err == (
        "interlink: error: no System, Api or Event 'crn' in the estate (did you mean System/crm?)\n"
    )
    code, _, err = interlink(capsys, "inventory", "--since", "lately", *at)
    assert code == 2
    assert err.count("\n") == 1
    assert "--since 'lately'" in err
