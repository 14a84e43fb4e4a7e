"""`check` on send steps and trigger.consume: their System, its connector, the consume options,
and a broker URL's password, each said at its line."""

from __future__ import annotations

from pathlib import Path

from interlink.connectors.registry import registry
from interlink.estate.check import check_estate
from interlink.estate.kinds.flow import Flow
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
metadata: {name: rabbit, owner: data}
spec:
  domain: data
  connector: amqp
  connection:
    url: amqp://interlink:${secret:rabbit-pw}@rabbit.example:5672/sales
---
apiVersion: interlink/v1
kind: System
metadata: {name: bus, owner: data}
spec:
  domain: data
  connector: nats
  connection: {url: "nats://nats.example:4222"}
"""

CONSUME = "    consume: {system: rabbit, from: orders, options: {prefetch: 20}}\n"
SEND = (
    "    - name: notify\n      type: send\n      system: bus\n      to: orders.created\n"
    "      message: \"{'id': body.id}\"\n      headers: \"{'origin': key}\"\n"
)


def _flow(trigger: str, steps: str = SEND) -> str:
    return (
        "apiVersion: interlink/v1\nkind: Flow\nmetadata: {name: relay, owner: data}\nspec:\n"
        f"  trigger:\n{trigger}  steps:\n{steps}"
    )


def _check(root: Path, flow: str, systems: str = SYSTEMS) -> list[str]:
    write(root, "systems.yaml", systems)
    write(root, "flow.yaml", flow)
    result = check_estate(root, today=TODAY, connectors=registry())
    return [f.render(root) for f in result.findings if f.severity == "error"]


def test_a_consume_trigger_and_a_send_step_pass(tmp_path: Path) -> None:
    assert _check(tmp_path, _flow(CONSUME)) == []
    flow = check_estate(tmp_path, today=TODAY).estate.get("Flow", "relay")
    assert flow is not None
    assert isinstance(flow.obj, Flow)
    consume = flow.obj.spec.trigger.consume  # type: ignore[union-attr]
    assert consume is not None
    assert consume.trigger_name == "rabbit.orders"
    assert consume.concurrency == 1
    assert load(pin(flow.obj.spec)[0]) == flow.obj.spec  # a pinned run loads it again


def test_a_send_step_on_a_system_that_sends_nothing_is_refused_at_its_line(
    tmp_path: Path,
) -> None:
    errors = _check(tmp_path, _flow(CONSUME, SEND.replace("system: bus", "system: shop")))
    assert errors == [
        "flow.yaml:10:15: error: Flow/relay: step 'notify' (send) needs a System whose "
        "connector sends messages; System/shop has connector sqlite (give the System one of "
        "the connectors: amqp, chat, mqtt, nats, redis-streams, smtp)"
    ]


def test_a_send_to_an_unknown_system_is_a_dangling_reference(tmp_path: Path) -> None:
    errors = _check(tmp_path, _flow(CONSUME, SEND.replace("system: bus", "system: buss")))
    assert len(errors) == 1
    assert errors[0].startswith("flow.yaml:10:15: error: Flow/relay refers to System/buss")


def test_a_send_steps_jsonata_must_compile(tmp_path: Path) -> None:
    errors = _check(tmp_path, _flow(CONSUME, SEND.replace("{'origin': key}", "{'origin': ")))
    assert len(errors) == 1
    assert errors[0].startswith("flow.yaml:13:16: error: Flow/relay: step 'notify': headers ")


def test_a_consume_trigger_needs_a_system_that_receives(tmp_path: Path) -> None:
    errors = _check(tmp_path, _flow(CONSUME.replace("system: rabbit", "system: shop")))
    assert len(errors) == 1
    assert errors[0].startswith("flow.yaml:6:23: error: Flow/relay: trigger.consume needs ")
    assert "System/shop has connector sqlite" in errors[0]
    errors = _check(tmp_path, _flow(CONSUME.replace("system: rabbit", "system: rabit")))
    assert len(errors) == 1
    assert errors[0].startswith("flow.yaml:6:")
    assert "rabit" in errors[0]


def test_consume_options_are_the_connectors(tmp_path: Path) -> None:
    errors = _check(tmp_path, _flow(CONSUME.replace("prefetch: 20", "prefech: 20")))
    assert errors == [
        "flow.yaml:6:64: error: Flow/relay: trigger.consume.options.prefech: "
        "connector amqp takes no option 'prefech' (did you mean 'prefetch'?)"
    ]
    errors = _check(tmp_path, _flow(CONSUME.replace("prefetch: 20", "prefetch: 0")))
    assert len(errors) == 1
    assert "trigger.consume.options.prefetch: 0 is less than the minimum of 1" in errors[0]
    nats = "    consume: {system: bus, from: orders.>, options: {stream: ORDERS, ackWait: 60}}\n"
    assert _check(tmp_path, _flow(nats)) == []


def test_a_trigger_is_one_kind_only(tmp_path: Path) -> None:
    errors = _check(tmp_path, _flow(CONSUME + "    manual: true\n"))
    assert len(errors) == 1
    assert "a trigger is exactly one of: event, schedule, manual, poll, watch, consume" in errors[0]


def test_a_broker_url_holds_its_password_only_as_a_reference(tmp_path: Path) -> None:
    systems = SYSTEMS.replace("interlink:${secret:rabbit-pw}@", "interlink:hunter2@")
    errors = _check(tmp_path, _flow(CONSUME), systems)
    assert len(errors) == 1
    assert errors[0].startswith("systems.yaml:")
    assert "connection.url: carries a password: give it as a ${secret:NAME} reference" in errors[0]
    assert "hunter2" not in errors[0]
