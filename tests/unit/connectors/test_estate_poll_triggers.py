"""`check` on a Flow's trigger.poll: its shape, its System, its columns and its JSONata, each
said at its line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from interlink.connectors.registry import registry
from interlink.connectors.singer import SPEC as SINGER
from interlink.estate.check import check_estate
from interlink.estate.kinds.flow import Flow, PollTrigger
from interlink.flows.definition import load, pin
from tests.unit.estate.helpers import TODAY, write

SYSTEMS = """\
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
kind: System
metadata: {name: gh, owner: data}
spec:
  domain: data
  connector: singer
  connection:
    command: [/opt/taps/tap-github/bin/tap-github]
    config: {token: "${secret:gh-token}", repositories: [acme/shop]}
"""


def _flow(poll: str) -> str:
    return (
        "apiVersion: interlink/v1\nkind: Flow\nmetadata: {name: ingest, owner: data}\nspec:\n"
        f"  trigger:\n    poll:\n{poll}"
        "  steps:\n    - {name: keep, type: map, expression: '$'}\n"
    )


def _check(root: Path, poll: str) -> list[str]:
    write(root, "systems.yaml", SYSTEMS)
    write(root, "flow.yaml", _flow(poll))
    result = check_estate(root, today=TODAY, connectors=registry())
    return [f.render(root) for f in result.findings if f.severity == "error"]


TABLE = "      system: shop\n      table: orders\n      cursor: updated_at\n      key: [id]\n"
HTTP = (
    "      system: crm\n      path: /contacts\n      items: data\n      key: id\n"
    "      cursor: next\n      param: page\n"
)


def test_a_table_and_an_http_api_pass(tmp_path: Path) -> None:
    assert _check(tmp_path, TABLE + "      interval: 30s\n      start: now\n") == []
    assert _check(tmp_path, HTTP) == []


def test_the_trigger_name_is_stable_and_can_be_given(tmp_path: Path) -> None:
    write(tmp_path, "systems.yaml", SYSTEMS)
    write(tmp_path, "flow.yaml", _flow(TABLE))
    flow = check_estate(tmp_path, today=TODAY).estate.get("Flow", "ingest")
    assert flow is not None
    assert isinstance(flow.obj, Flow)
    poll = flow.obj.spec.trigger.poll  # type: ignore[union-attr]
    assert poll is not None
    assert poll.trigger_name == "shop.orders"
    assert poll.interval == 10.0
    assert poll.rows_per_poll == 500
    assert load(pin(flow.obj.spec)[0]) == flow.obj.spec  # a pinned run loads it again
    named = _flow(TABLE + "      name: orders-feed\n")
    write(tmp_path, "flow.yaml", named)
    again = check_estate(tmp_path, today=TODAY).estate.get("Flow", "ingest")
    assert again is not None
    assert again.obj.spec.trigger.poll.trigger_name == "orders-feed"


def test_a_table_on_an_http_system_is_refused_at_its_line(tmp_path: Path) -> None:
    errors = _check(tmp_path, TABLE.replace("system: shop", "system: crm"))
    assert len(errors) == 1
    assert errors[0].startswith("flow.yaml:7:")
    assert "System/crm, which has connector http" in errors[0]


def test_an_unknown_system_is_a_dangling_reference(tmp_path: Path) -> None:
    errors = _check(tmp_path, TABLE.replace("system: shop", "system: shp"))
    assert len(errors) == 1
    assert errors[0].startswith("flow.yaml:7:")
    assert "shp" in errors[0]


def test_a_column_must_be_an_identifier(tmp_path: Path) -> None:
    errors = _check(tmp_path, TABLE.replace("key: [id]", "key: [id; drop table x]"))
    assert len(errors) == 1
    assert errors[0].startswith("flow.yaml:7:")  # the poll trigger
    assert "column 'id; drop table x' is not a plain identifier" in errors[0]


def test_sql_and_http_fields_do_not_mix(tmp_path: Path) -> None:
    errors = _check(tmp_path, TABLE.replace("      cursor: updated_at\n", ""))
    assert len(errors) == 1
    assert "needs cursor: a column name" in errors[0]
    errors = _check(tmp_path, HTTP.replace("      items: data\n", ""))
    assert len(errors) == 1
    assert "needs items and key" in errors[0]
    errors = _check(tmp_path, HTTP + "      start: now\n")
    assert "not now" in errors[0]


def test_http_jsonata_must_compile(tmp_path: Path) -> None:
    errors = _check(tmp_path, HTTP.replace("items: data", "items: 'data[0'"))
    assert len(errors) == 1
    assert errors[0].startswith("flow.yaml:9:")
    assert "trigger.poll: items does not compile" in errors[0]


def test_an_http_poll_needs_a_base_url(tmp_path: Path) -> None:
    errors = _check(tmp_path, HTTP.replace("system: crm", "system: shop"))
    assert len(errors) == 1
    assert errors[0].startswith("flow.yaml:7:")
    assert "System/shop, which has no baseUrl" in errors[0]


@pytest.mark.parametrize(
    ("poll", "message"),
    [
        (
            {"system": "crm", "path": "/x", "items": "items", "key": "id", "batch": 50},
            "batch applies to a SQL poll trigger (table, query) only",
        ),
        (
            {"system": "db", "table": "t", "cursor": "c", "key": ["id"], "param": "after"},
            "param applies to an HTTP poll trigger (path) only",
        ),
    ],
)
def test_a_poll_field_with_no_effect_for_its_kind_is_refused(
    poll: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        PollTrigger.model_validate(poll)


STREAM = "      system: gh\n      stream: issues\n      batch: 100\n"


def test_a_stream_of_a_tap_passes_and_names_its_trigger(tmp_path: Path) -> None:
    assert _check(tmp_path, STREAM) == []
    poll = PollTrigger.model_validate({"system": "gh", "stream": "issues"})
    assert poll.trigger_name == "gh.issues"
    assert not poll.sql


def test_a_stream_is_read_from_a_tap_only(tmp_path: Path) -> None:
    errors = _check(tmp_path, STREAM.replace("system: gh", "system: shop"))
    assert len(errors) == 1
    assert errors[0].startswith("flow.yaml:8:")  # the stream
    assert "reads stream 'issues' from System/shop, which has connector sqlite" in errors[0]
    errors = _check(tmp_path, TABLE.replace("system: shop", "system: gh"))
    assert len(errors) == 1
    assert "System/gh, which has connector singer" in errors[0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"table": "orders"}, "exactly one of: table, query (SQL), path (HTTP), stream (a tap)"),
        ({"path": "/x"}, "exactly one of: table, query (SQL), path (HTTP), stream (a tap)"),
        ({"cursor": "updated"}, "cursor does not apply to a stream"),
        ({"key": ["id"]}, "key does not apply to a stream"),
        ({"start": "now"}, "start is earliest"),
    ],
)
def test_a_stream_refuses_the_fields_of_other_polls(extra: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        PollTrigger.model_validate({"system": "gh", "stream": "issues", **extra})
    with pytest.raises(ValidationError, match="not an api"):
        PollTrigger.model_validate({"api": "contacts", "stream": "issues"})


def test_a_tap_setting_named_like_a_secret_is_a_reference() -> None:
    connection = {
        "command": ["tap-x"],
        "config": {
            "auth": [{"client_secret": "plain", "token_type": "bearer"}],
            "access_token": "${secret:gh-token}",
            "start_date": "2024-01-01",
        },
        "env": {"API_KEY": "plain", "REGION": "eu"},
    }
    assert SINGER.problems(connection) == [
        (("config", "auth", 0, "client_secret"), SECRET_TEXT),
        (("env", "API_KEY"), SECRET_TEXT),
    ]


SECRET_TEXT = "is named like a secret: give it as a ${secret:NAME} reference, never the value"


def test_a_batch_trigger_s_write_step_needs_rows(tmp_path: Path) -> None:
    write(tmp_path, "systems.yaml", SYSTEMS)
    steps = (
        "  steps:\n"
        "    - {name: seen, type: idempotency, key: first, window: 1h}\n"
        "    - {name: save, type: write, system: shop, table: copied}\n"
    )
    flow = _flow(TABLE + "      each: batch\n").split("  steps:\n")[0] + steps
    write(tmp_path, "flow.yaml", flow)
    result = check_estate(tmp_path, today=TODAY, connectors=registry())
    errors = [f for f in result.findings if f.severity == "error"]
    assert [f.code for f in errors] == ["FLOW_POLL_BATCH"]
    assert errors[0].render(tmp_path).startswith("flow.yaml:14:")
    assert "step 'save' writes the message as one row" in errors[0].render(tmp_path)
    write(tmp_path, "flow.yaml", flow.replace("table: copied}", "table: copied, rows: rows}"))
    result = check_estate(tmp_path, today=TODAY, connectors=registry())
    assert [f for f in result.findings if f.severity == "error"] == []
    poll = result.estate.get("Flow", "ingest").obj.spec.trigger.poll  # type: ignore[union-attr]
    assert poll.per_batch
