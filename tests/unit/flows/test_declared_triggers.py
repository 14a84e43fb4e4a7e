"""The triggers an estate declares: a source per Flow with trigger.poll, named for good, equal
across reloads that do not touch it, left out with one line when its System is gone."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlink.connectors.connections import Connections
from interlink.estate.kinds.flow import Flow
from interlink.estate.loader import load_estate
from interlink.estate.model import Estate
from interlink.flows.catalog import catalog
from interlink.flows.definition import load, pin
from interlink.flows.triggers.api import ApiSource
from interlink.flows.triggers.declared import declared_triggers
from interlink.flows.triggers.files import WatchSource
from interlink.flows.triggers.inbox import InboxSource
from interlink.flows.triggers.stream import StreamSource
from interlink.flows.triggers.table import TableSource

ESTATE = """\
apiVersion: interlink/v1
kind: Team
metadata: {name: data}
---
apiVersion: interlink/v1
kind: System
metadata: {name: shop, owner: data}
spec:
  domain: data
  connector: sqlite
  connection: {path: shop.db}
---
apiVersion: interlink/v1
kind: System
metadata: {name: crm, owner: data}
spec:
  domain: data
  baseUrl: https://crm.example
---
apiVersion: interlink/v1
kind: Api
metadata: {name: contacts, owner: data}
spec: {system: crm, contract: contacts.openapi.yaml, version: 1}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: orders, owner: data}
spec:
  trigger:
    poll: {system: shop, table: orders, cursor: at, key: [id], interval: 2s, batch: 50}
  steps: [{name: keep, type: map, expression: '$'}]
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: people, owner: data}
spec:
  trigger:
    poll: {api: contacts, path: /people, items: data, key: id, name: people-feed}
  steps: [{name: keep, type: map, expression: '$'}]
"""


def _load(root: Path, text: str = ESTATE) -> Estate:
    root.mkdir(exist_ok=True)
    (root / "estate.yaml").write_text(text, encoding="utf-8")
    estate, findings = load_estate(root)
    assert not [f for f in findings if f.severity == "error"], findings
    return estate


def test_each_poll_trigger_becomes_a_source(tmp_path: Path) -> None:
    connections = Connections()
    estate = _load(tmp_path)
    wanted = {t.id: t for t in declared_triggers(estate, connections)}
    assert sorted(wanted) == ["orders:shop.orders", "people:people-feed"]
    table = wanted["orders:shop.orders"]
    assert isinstance(table.source, TableSource)
    assert (table.interval, table.limit) == (2.0, 50)
    assert (table.source.cursor, table.source.key) == ("at", ("id",))
    api = wanted["people:people-feed"]
    assert isinstance(api.source, ApiSource)
    assert api.source.system == "crm"
    assert api.source.base_url.startswith("https://crm.example")
    # The same estate read again declares equal triggers: a reload keeps them running.
    again = declared_triggers(_load(tmp_path), connections)
    assert {t.id: t for t in again} == wanted
    flows = {entry.name: entry for entry in catalog(estate)}
    assert "poll shop.orders" in flows["orders"].triggers


def test_a_poll_on_a_gone_system_is_left_out_with_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = ESTATE.replace("connector: sqlite\n  connection: {path: shop.db}", "baseUrl: https://s")
    estate = _load(tmp_path, text)
    wanted = declared_triggers(estate, Connections())
    assert [t.id for t in wanted] == ["people:people-feed"]
    assert "Flow/orders trigger shop.orders is not run: System/shop has no SQL connector" in (
        caplog.text
    )


TAP = """\
---
apiVersion: interlink/v1
kind: System
metadata: {name: gh, owner: data}
spec:
  domain: data
  connector: airbyte
  connection: {command: [source-github], config: {token: "${secret:gh-token}"}}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: issues, owner: data}
spec:
  trigger:
    poll: {system: gh, stream: issues, batch: 20, interval: 1m}
  steps: [{name: keep, type: map, expression: '$'}]
"""


CONSUMING = """\
---
apiVersion: interlink/v1
kind: System
metadata: {name: bus, owner: data}
spec:
  domain: data
  connector: nats
  connection: {url: "nats://127.0.0.1:4222"}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: relay, owner: data}
spec:
  trigger:
    consume: {system: bus, from: orders.created, concurrency: 3, options: {batch: 5}}
  steps: [{name: keep, type: map, expression: '$'}]
"""


def test_a_stream_poll_runs_the_systems_tap(tmp_path: Path) -> None:
    estate = _load(tmp_path, ESTATE + TAP)
    wanted = {t.id: t for t in declared_triggers(estate, Connections())}
    found = wanted["issues:gh.issues"]
    assert isinstance(found.source, StreamSource)
    assert (found.source.connector, found.source.stream) == ("airbyte", "issues")
    assert (found.interval, found.limit) == (60.0, 20)


WATCHED = """\
---
apiVersion: interlink/v1
kind: System
metadata: {name: drop, owner: data}
spec:
  domain: data
  connector: directory
  connection: {root: /srv/drop}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: inbox, owner: data}
spec:
  trigger:
    watch: {system: drop, prefix: in/, pattern: "*.csv", format: csv, interval: 3s, batch: 7}
  steps:
    - name: out
      type: file
      system: drop
      path: "'out/' & name"
      content: "'seen'"
"""


def test_a_watch_trigger_becomes_a_source_and_its_flow_pins(tmp_path: Path) -> None:
    connections = Connections()
    estate = _load(tmp_path, ESTATE + WATCHED)
    wanted = {t.id: t for t in declared_triggers(estate, connections)}
    (name,) = [key for key in wanted if key.startswith("inbox:")]
    assert name.startswith("inbox:drop.watch-")
    watch = wanted[name]
    assert isinstance(watch.source, WatchSource)
    assert (watch.interval, watch.limit) == (3.0, 7)
    assert (watch.source.prefix, watch.source.pattern, watch.source.then) == (
        "in/",
        "*.csv",
        "move",
    )
    again = declared_triggers(_load(tmp_path, ESTATE + WATCHED), connections)
    assert {t.id: t for t in again} == wanted
    flows = {entry.name: entry for entry in catalog(estate)}
    assert flows["inbox"].triggers == [f"watch {name.removeprefix('inbox:')}"]
    # A run pins the definition, and it loads again as it was.
    item = estate.get("Flow", "inbox")
    assert item is not None
    assert isinstance(item.obj, Flow)
    definition, _ = pin(item.obj.spec)
    assert load(definition) == item.obj.spec


@pytest.mark.parametrize(
    ("watch", "error"),
    [
        ("{system: drop, prefix: ../up/}", "is not under the System's root"),
        ("{system: drop, moveTo: /abs/}", "is not under the System's root"),
        ("{system: drop, pattern: a/*.csv}", "pattern matches a file's name"),
        ("{system: drop, moveTo: x/, errorTo: x}", "moveTo and errorTo are different folders"),
        ("{system: drop, then: rename}", "then"),
        ("{system: drop, then: delete, moveTo: x/}", "moveTo applies to then: move, not delete"),
        ("{system: drop, then: keep, errorTo: x/}", "errorTo applies to then: move or delete"),
    ],
)
def test_a_wrong_watch_is_refused_at_load(tmp_path: Path, watch: str, error: str) -> None:
    text = (ESTATE + WATCHED).replace(
        '{system: drop, prefix: in/, pattern: "*.csv", format: csv, interval: 3s, batch: 7}', watch
    )
    root = tmp_path / "estate"
    root.mkdir()
    (root / "estate.yaml").write_text(text, encoding="utf-8")
    _, findings = load_estate(root)
    errors = [f.message for f in findings if f.severity == "error"]
    assert len(errors) == 1
    assert error in errors[0]


def test_a_consume_trigger_becomes_an_inbox_source_named_for_good(tmp_path: Path) -> None:
    connections = Connections()
    estate = _load(tmp_path, ESTATE + CONSUMING)
    wanted = {t.id: t for t in declared_triggers(estate, connections)}
    relay = wanted["relay:bus.orders.created"]
    assert isinstance(relay.source, InboxSource)
    assert relay.concurrency == 3
    assert (relay.source.system, relay.source.connector) == ("bus", "nats")
    assert relay.source.source == "orders.created"
    assert dict(relay.source.options) == {"batch": 5, "trigger": "relay:bus.orders.created"}
    again = declared_triggers(_load(tmp_path, ESTATE + CONSUMING), connections)
    assert {t.id: t for t in again} == wanted  # a reload keeps it consuming
    flows = {entry.name: entry for entry in catalog(estate)}
    assert "consume bus.orders.created" in flows["relay"].triggers


def test_a_consume_on_a_system_without_a_connector_is_left_out_with_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = CONSUMING.replace(
        'connector: nats\n  connection: {url: "nats://127.0.0.1:4222"}', "baseUrl: https://b"
    )
    wanted = declared_triggers(_load(tmp_path, ESTATE + text), Connections())
    assert "relay:bus.orders.created" not in [t.id for t in wanted]
    assert (
        "Flow/relay trigger bus.orders.created is not run: System/bus has no connector that "
        "receives messages"
    ) in caplog.text
