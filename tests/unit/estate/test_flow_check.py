"""`check` on Flows: expressions, step names, calls, triggers and published data, each located."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlink.estate.check import check_estate
from interlink.estate.subscriptions import subscriptions
from interlink.events.delivery.plan import compile_plans
from interlink.events.topology import topology_of
from tests.unit.estate.helpers import TODAY, check_messages, edit, write

# Flows map, filter and choose with JSONata: each engine must behave the same here.
pytestmark = pytest.mark.usefixtures("jsonata_engine")


FLOW = "flows/address-sync.yaml"
NO_TRIGGER = (
    "  # No trigger: Subscription/erp-address-sync (events/subscriptions.yaml) delivers its "
    "events.\n"
)


def extra_flow(root: Path, steps: str, *, trigger: str = "{manual: true}") -> None:
    """flows/extra.yaml: Flow/extra with ``trigger`` and ``steps`` (YAML at the steps' indent),
    whose first step is on line 7."""
    write(
        root,
        "flows/extra.yaml",
        "apiVersion: interlink/v1\n"
        "kind: Flow\n"
        "metadata: {name: extra, owner: finance}\n"
        "spec:\n"
        f"  trigger: {trigger}\n"
        "  steps:\n" + steps,
    )


# --- expressions -------------------------------------------------------------------------------


def test_every_expression_of_a_flow_is_compiled_and_located(retail: Path) -> None:
    extra_flow(
        retail,
        "    - {name: keep, type: filter, condition: \"status = 'paid' and\"}\n"
        "    - name: reshape\n"
        "      type: map\n"
        "      expression: |\n"
        '        { "id": orderId,\n'
        '          "total": $sum(lines.price }\n'
        "    - name: route\n"
        "      type: choice\n"
        "      branches:\n"
        '        - when: "country = \'DE"\n'
        "          steps: [{name: de, type: publish, event: customer.address-updated}]\n"
        "    - name: book\n"
        "      type: call\n"
        "      system: erp\n"
        "      path: /invoices\n"
        "      body: '{\"id\": id'\n"
        "      compensate: {system: erp, path: /invoices/undo, body: '{\"undo\": }'}\n",
    )
    assert check_messages(retail) == [
        "flows/extra.yaml:7:45: error: Flow/extra: step 'keep': condition does not compile: "
        "JSONata S0207 at position 19: Unexpected end of expression",
        "flows/extra.yaml:10:19: error: Flow/extra: step 'reshape': expression does not "
        "compile: JSONata S0202 at line 2, column 29: Expected ), got }",
        "flows/extra.yaml:16:17: error: Flow/extra: step 'route': when does not compile: "
        "JSONata S0101 at position 13: String literal must be terminated by a matching quote",
        "flows/extra.yaml:22:13: error: Flow/extra: step 'book': body does not compile: "
        "JSONata S0203 at position 9: Expected } before end of expression",
        "flows/extra.yaml:23:61: error: Flow/extra: step 'book': body does not compile: "
        "JSONata S0211 at position 10: The symbol } cannot be used as a unary operator",
    ]


def test_a_wait_is_until_a_compiling_expression_or_for_a_duration(retail: Path) -> None:
    extra_flow(
        retail,
        "    - {name: later, type: wait, until: 'due +'}\n"
        "    - {name: pause, type: wait, for: 10m}\n",
    )
    assert check_messages(retail) == [
        "flows/extra.yaml:7:40: error: Flow/extra: step 'later': until does not compile: "
        "JSONata S0207 at position 5: Unexpected end of expression",
    ]
    extra_flow(retail, "    - {name: both, type: wait, until: due, for: 10m}\n")
    (message,) = check_messages(retail)
    assert "a wait is exactly one of: until, for" in message


def test_a_flow_step_names_a_flow_that_exists_and_an_input_that_compiles(retail: Path) -> None:
    extra_flow(retail, "    - {name: sub, type: flow, flow: no-such-flow, input: '{'}\n")
    messages = check_messages(retail)
    assert any("sub': input does not compile" in m for m in messages), messages
    assert any("no-such-flow" in m and "flows/extra.yaml:7:" in m for m in messages), messages


def test_the_example_flow_expressions_compile(retail: Path) -> None:
    assert check_messages(retail) == []


# --- step names --------------------------------------------------------------------------------


def test_a_step_name_used_twice_is_located_at_the_second(retail: Path) -> None:
    extra_flow(
        retail,
        "    - {name: once, type: idempotency, key: orderId}\n"
        "    - name: route\n"
        "      type: choice\n"
        "      branches:\n"
        "        - when: \"country = 'DE'\"\n"
        "          steps: [{name: once, type: map, expression: $}]\n"
        "      otherwise: [{name: route, type: map, expression: $}]\n",
    )
    assert check_messages(retail) == [
        "flows/extra.yaml:12:26: error: Flow/extra: step name 'once' is used twice (first on "
        "line 7); a run checkpoints each step by its name",
        "flows/extra.yaml:13:26: error: Flow/extra: step name 'route' is used twice (first on "
        "line 8); a run checkpoints each step by its name",
    ]


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        pytest.param(
            "{name: a, type: publish, event: customer.adress-updated}",
            "flows/extra.yaml:7:39: error: Flow/extra refers to Event/customer.adress-updated, "
            "which does not exist (did you mean 'customer.address-updated'?)",
            id="event",
        ),
        pytest.param(
            "{name: a, type: enrich, from: {api: customers-v3, path: /x}, into: c}",
            "flows/extra.yaml:7:43: error: Flow/extra refers to Api/customers-v3, which does not "
            "exist (did you mean 'customers-v2'?)",
            id="api",
        ),
        pytest.param(
            "{name: a, type: enrich, from: {dataProduct: customer-adresses}, into: c}",
            "flows/extra.yaml:7:51: error: Flow/extra refers to DataProduct/customer-adresses, "
            "which does not exist (did you mean 'customer-addresses'?)",
            id="data-product",
        ),
        pytest.param(
            "{name: a, type: flow, flow: adress-sync}",
            "flows/extra.yaml:7:35: error: Flow/extra refers to Flow/adress-sync, which does not "
            "exist (did you mean 'address-sync'?)",
            id="child-flow",
        ),
        pytest.param(
            "{name: a, type: call, system: billingg, path: /x}",
            "flows/extra.yaml:7:37: error: Flow/extra refers to System/billingg, which does not "
            "exist (did you mean 'billing'?)",
            id="system",
        ),
    ],
)
def test_what_a_step_names_exists(retail: Path, step: str, expected: str) -> None:
    extra_flow(retail, f"    - {step}\n")
    assert check_messages(retail) == [expected]


def test_an_on_error_step_names_what_exists_too(retail: Path) -> None:
    extra_flow(
        retail,
        "    - {name: a, type: map, expression: $}\n"
        "  onError:\n"
        "    - {name: tell, type: publish, event: flow.failed}\n",
    )
    (message,) = check_messages(retail)
    assert message.startswith(
        "flows/extra.yaml:9:42: error: Flow/extra refers to Event/flow.failed, which does not exist"
    )


def test_steps_do_not_name_each_other_so_a_goto_is_an_unknown_field(retail: Path) -> None:
    extra_flow(
        retail,
        "    - name: route\n"
        "      type: choice\n"
        "      branches:\n"
        "        - when: 'true'\n"
        "          next: book\n"
        "          steps: [{name: x, type: map, expression: $}]\n"
        "    - {name: book, type: call, system: erp, path: /x, goto: route}\n",
    )
    assert check_messages(retail) == [
        "flows/extra.yaml:11:11: error: unknown field 'next' in spec.steps[0].branches[0] "
        "(valid fields: steps, when)",
        # the fields of a call step, the step type the document names
        "flows/extra.yaml:13:55: error: unknown field 'goto' in spec.steps[1] (valid fields: "
        "body, compensate, method, name, path, retry, system, timeout, type)",
    ]


# --- calls -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param(
            "https://evil.example.com/steal",
            "flows/extra.yaml:7:51: error: Flow/extra: 'https://evil.example.com/steal' is "
            "outside System/erp's base URL (http://127.0.0.1:9105); a call reaches only the "
            "System it names (declare the other host as a System and call that)",
            id="another-host",
        ),
        pytest.param(
            "http://127.0.0.1:9106/address-changes",
            "flows/extra.yaml:7:51: error: Flow/extra: 'http://127.0.0.1:9106/address-changes' "
            "is outside System/erp's base URL (http://127.0.0.1:9105); a call reaches only the "
            "System it names (declare the other host as a System and call that)",
            id="another-port",
        ),
        pytest.param(
            "http://127.0.0.1:9105/invoices",
            "flows/extra.yaml:7:51: warning: Flow/extra: 'http://127.0.0.1:9105/invoices' is "
            "under System/erp's base URL; write the path alone ('/invoices') so it follows the "
            "System when its URL changes",
            id="under-the-base",
        ),
        pytest.param(
            "/invoices/../../admin",
            "flows/extra.yaml:7:51: error: Flow/extra: path '/invoices/../../admin' has '.' or "
            "'..' segments or starts with '//'; a call must stay under System/erp's base URL",
            id="dot-segments",
        ),
        pytest.param(
            "//evil.example.com/steal",
            "flows/extra.yaml:7:51: error: Flow/extra: path '//evil.example.com/steal' has '.' "
            "or '..' segments or starts with '//'; a call must stay under System/erp's base URL",
            id="network-path",
        ),
    ],
)
def test_a_call_stays_under_its_systems_base_url(retail: Path, path: str, expected: str) -> None:
    extra_flow(retail, f"    - {{name: book, type: call, system: erp, path: '{path}'}}\n")
    assert check_messages(retail) == [expected]


@pytest.mark.parametrize("path", ["/customers/../admin", "//evil.example.com/x"])
def test_an_enrich_stays_under_its_apis_base_url(retail: Path, path: str) -> None:
    extra_flow(
        retail,
        f"    - {{name: look, type: enrich, from: {{api: customers-v2, path: '{path}'}}, "
        "into: c}\n",
    )
    assert check_messages(retail) == [
        f"flows/extra.yaml:7:66: error: Flow/extra: path {path!r} has '.' or '..' segments or "
        "starts with '//'; an enrich must stay under Api/customers-v2's base URL"
    ]


def test_a_compensate_is_checked_like_its_call(retail: Path) -> None:
    extra_flow(
        retail,
        "    - name: book\n"
        "      type: call\n"
        "      system: erp\n"
        "      method: GET\n"
        "      path: /invoices\n"
        "      compensate: {system: erp, path: 'https://evil.example.com/undo'}\n",
    )
    assert check_messages(retail) == [
        "flows/extra.yaml:12:19: warning: Flow/extra: step 'book' only reads (GET), so there is "
        "nothing for its compensate to undo",
        "flows/extra.yaml:12:39: error: Flow/extra: 'https://evil.example.com/undo' is outside "
        "System/erp's base URL (http://127.0.0.1:9105); a call reaches only the System it "
        "names (declare the other host as a System and call that)",
    ]


def test_a_called_system_needs_a_base_url_and_to_be_live(retail: Path) -> None:
    edit(retail / "systems/operations.yaml", "  baseUrl: http://127.0.0.1:9106\n", "")
    edit(
        retail / "systems/operations.yaml",
        "  baseUrl: http://127.0.0.1:9105\n",
        "  baseUrl: http://127.0.0.1:9105\n  lifecycle: retired\n",
    )
    assert check_messages(retail) == [
        "flows/address-sync.yaml:20:15: error: Flow/address-sync calls System/erp, which is "
        "retired",
        "flows/address-sync.yaml:24:17: error: Flow/address-sync calls System/erp, which is "
        "retired",
        "flows/address-sync.yaml:29:15: error: Flow/address-sync calls System/billing, which has "
        "no baseUrl",
        "flows/order-saga.yaml:38:15: error: Flow/order-saga calls System/billing, which has no "
        "baseUrl",
        "flows/order-saga.yaml:43:28: error: Flow/order-saga calls System/billing, which has no "
        "baseUrl",
    ]


def test_an_unknown_compensate_system_is_a_dangling_reference(retail: Path) -> None:
    edit(retail / FLOW, "        system: erp\n", "        system: erpp\n")
    assert check_messages(retail) == [
        "flows/address-sync.yaml:24:17: error: Flow/address-sync refers to System/erpp, which "
        "does not exist (did you mean 'erp'?)"
    ]


# --- how events reach a flow ------------------------------------------------------------------


def test_an_event_by_trigger_and_by_subscription_is_refused(retail: Path) -> None:
    edit(retail / FLOW, NO_TRIGGER, "  trigger: {event: customer.address-updated}\n")
    assert check_messages(retail) == [
        "flows/address-sync.yaml:9:20: error: Flow/address-sync: event customer.address-updated "
        "reaches it twice, through trigger.event and through Subscription/erp-address-sync "
        "(events/subscriptions.yaml:39:18); one event starts one run, so keep one (remove "
        "trigger.event: the Subscription carries the filter, ordering, retries and dead letters)"
    ]


def test_a_trigger_event_alone_is_fine(retail: Path) -> None:
    edit(retail / FLOW, NO_TRIGGER, "  trigger: {event: customer.address-updated}\n")
    edit(
        retail / "events/subscriptions.yaml",
        "---\napiVersion: interlink/v1\nkind: Subscription\nmetadata:\n  name: erp-address-sync",
        "---\napiVersion: interlink/v1\nkind: Subscription\nmetadata:\n  name: erp-address-sync2",
    )
    edit(
        retail / "events/subscriptions.yaml",
        "event: customer.address-updated\n  target: {flow: address-sync}",
        "event: customer.address-updated\n  target: {system: erp}",
    )
    assert check_messages(retail) == []


def test_a_schedule_and_a_subscription_are_two_ways_in_and_both_are_fine(retail: Path) -> None:
    edit(retail / FLOW, NO_TRIGGER, "  trigger: {schedule: '0 3 * * *', timezone: Europe/Berlin}\n")
    assert check_messages(retail) == []


def test_a_flow_nothing_starts_is_a_warning(retail: Path) -> None:
    edit(retail / "events/subscriptions.yaml", "{flow: address-sync}", "{system: erp}")
    assert check_messages(retail) == [
        "flows/address-sync.yaml:10:3: warning: Flow/address-sync has no trigger and no "
        "Subscription targets it: nothing starts it (add a Subscription with target: "
        "{flow: address-sync}, or a trigger)"
    ]


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        pytest.param(
            "{schedule: '0 25 * * *'}",
            "flows/extra.yaml:5:23: error: spec.trigger.schedule: not a cron expression "
            "(Bad hour): '0 25 * * *'",
            id="cron",
        ),
        pytest.param(
            "{schedule: '0 3 * * *', timezone: Mars/Olympus}",
            "flows/extra.yaml:5:46: error: spec.trigger.timezone: not an IANA time zone: "
            "'Mars/Olympus' (such as Europe/Berlin or UTC)",
            id="time-zone",
        ),
    ],
)
def test_a_schedule_is_cron_in_an_iana_time_zone(retail: Path, trigger: str, expected: str) -> None:
    extra_flow(retail, "    - {name: reshape, type: map, expression: $}\n", trigger=trigger)
    assert check_messages(retail) == [expected]


# --- published data ----------------------------------------------------------------------------


def test_published_data_missing_required_fields(retail: Path) -> None:
    extra_flow(
        retail,
        "    - {name: tell, type: publish, event: customer.address-updated,\n"
        '       data: \'{"customerId": id, "address": address}\'}\n',
    )
    assert check_messages(retail) == [
        "flows/extra.yaml:8:14: error: Flow/extra: step 'tell' publishes "
        "customer.address-updated without 'changedAt' that its schema requires (its data builds "
        "only 'address', 'customerId')"
    ]


def test_the_message_a_map_built_is_what_is_published(retail: Path) -> None:
    extra_flow(
        retail,
        "    - name: reshape\n"
        "      type: map\n"
        '      expression: \'{"customerId": id, "changedAt": $now()}\'\n'
        "    - {name: paid, type: filter, condition: 'true'}\n"
        "    - {name: tell, type: publish, event: customer.address-updated}\n",
    )
    assert check_messages(retail) == [
        "flows/extra.yaml:11:42: error: Flow/extra: step 'tell' publishes "
        "customer.address-updated without 'address' that its schema requires (step 'reshape' "
        "builds only 'changedAt', 'customerId')"
    ]


def test_an_enrich_adds_its_field_to_the_message(retail: Path) -> None:
    extra_flow(
        retail,
        '    - {name: reshape, type: map, expression: \'{"customerId": id, "changedAt": at}\'}\n'
        "    - {name: look, type: enrich, from: {dataProduct: customer-addresses}, into: address}\n"
        "    - {name: tell, type: publish, event: customer.address-updated}\n",
    )
    assert check_messages(retail) == []


@pytest.mark.parametrize(
    "steps",
    [
        # the data is computed: which keys it has is not known before it runs
        "    - {name: tell, type: publish, event: customer.address-updated,\n"
        "       data: '$merge([a, b])'}\n",
        # the message is the event that started the run
        "    - {name: tell, type: publish, event: customer.address-updated}\n",
        # a call's answer is the message
        "    - {name: ask, type: call, system: erp, path: /x}\n"
        "    - {name: tell, type: publish, event: customer.address-updated}\n",
    ],
)
def test_what_cannot_be_told_before_running_is_not_judged(retail: Path, steps: str) -> None:
    extra_flow(retail, steps)
    assert check_messages(retail) == []


def test_fields_a_closed_schema_forbids(retail: Path) -> None:
    edit(
        retail / "contracts/customer.address-updated.v2.schema.json",
        '  "type": "object",\n  "required"',
        '  "type": "object",\n  "additionalProperties": false,\n  "required"',
    )
    extra_flow(
        retail,
        "    - name: tell\n"
        "      type: publish\n"
        "      event: customer.address-updated\n"
        '      data: \'{"customerId": id, "address": a, "changedAt": t, "colour": "blue"}\'\n',
    )
    assert check_messages(retail) == [
        "flows/extra.yaml:10:13: error: Flow/extra: step 'tell' publishes "
        "customer.address-updated with 'colour', which its schema does not allow"
    ]


def test_published_values_the_schema_refuses(retail: Path) -> None:
    extra_flow(
        retail,
        "    - name: tell\n"
        "      type: publish\n"
        "      event: customer.address-updated\n"
        "      data: |\n"
        '        {"customerId": 5, "changedAt": $millis(), "changedBy": "ops",\n'
        '         "address": {"street": "Main 1", "country": "Germany"}}\n',
    )
    prefix = "flows/extra.yaml:10:13: error: Flow/extra: step 'tell' publishes "
    suffix = " (as its data builds it)"
    assert check_messages(retail) == [
        f"{prefix}customer.address-updated with 'address' lacking 'city', which its schema "
        f"requires{suffix}",
        f"{prefix}customer.address-updated with 'address.country' = \"Germany\", which its "
        f'schema refuses: "Germany" does not match "^[A-Z]{{2}}$"{suffix}',
        f"{prefix}customer.address-updated with 'changedAt' built as a number, where its "
        f"schema wants a string{suffix}",
        f"{prefix}customer.address-updated with 'customerId' = 5, which its schema refuses: 5 "
        f'is not of type "string"{suffix}',
    ]


def test_a_value_a_map_fixed_is_judged_at_the_publish(retail: Path) -> None:
    edit(
        retail / "contracts/customer.address-updated.v2.schema.json",
        '"changedBy": {\n      "type": "string"\n    }',
        '"changedBy": {"$ref": "#/$defs/actor"}\n  },\n  "$defs": {\n    "actor": '
        '{"enum": ["crm", "ops"]}',
    )
    extra_flow(
        retail,
        "    - name: reshape\n"
        "      type: map\n"
        "      expression: >-\n"
        '        {"customerId": id, "address": a, "changedAt": $now(), "changedBy": "me"}\n'
        "    - {name: tell, type: publish, event: customer.address-updated}\n",
    )
    assert check_messages(retail) == [
        "flows/extra.yaml:11:42: error: Flow/extra: step 'tell' publishes "
        'customer.address-updated with \'changedBy\' = "me", which its schema refuses: "me" is '
        'not one of "crm" or "ops" (as step \'reshape\' builds it)'
    ]


@pytest.mark.parametrize(
    "data",
    [
        # right literals and types
        '{"customerId": "C000042", "address": a, "changedAt": $now(), "changedBy": "x" & y}',
        # a block may rebind a built-in: what $number returns here is a string
        '($number := function($v) { "C" & $v }; '
        '{"customerId": $number(id), "address": a, "changedAt": t})',
        # paths, variables and conditions are known only when the flow runs
        '{"customerId": id, "address": {"street": s, "city": c, "country": $c}, '
        '"changedAt": ok ? t : 5}',
    ],
)
def test_values_known_only_at_run_time_are_not_judged(retail: Path, data: str) -> None:
    extra_flow(
        retail,
        f"    - {{name: tell, type: publish, event: customer.address-updated, data: '{data}'}}\n",
    )
    assert check_messages(retail) == []


def test_the_retail_example_checks_clean_with_the_flow_rules() -> None:
    from tests.unit.estate.helpers import RETAIL

    result = check_estate(RETAIL, today=TODAY)
    assert not [f for f in result.findings if f.code.startswith("FLOW_")]


# --- input schema ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        pytest.param(
            "{type: objekt}",
            "flows/extra.yaml:8:16: error: Flow/extra: the inputSchema is not a usable JSON "
            "Schema: ",
            id="not-a-schema",
        ),
        pytest.param(
            "{$ref: 'https://example.com/order.json'}",
            "flows/extra.yaml:8:16: error: Flow/extra: the inputSchema is not a usable JSON "
            "Schema: ",
            id="remote",
        ),
    ],
)
def test_an_input_schema_compiles_and_stays_inside_itself(
    retail: Path, schema: str, expected: str
) -> None:
    extra_flow(
        retail,
        f"    - {{name: reshape, type: map, expression: $}}\n  inputSchema: {schema}\n",
    )
    [message] = check_messages(retail)
    assert message.startswith(expected), message


def test_a_usable_input_schema_is_fine(retail: Path) -> None:
    extra_flow(
        retail,
        "    - {name: reshape, type: map, expression: $}\n"
        "  inputSchema: {type: object, required: [id], properties: {id: {type: string}}}\n",
    )
    assert check_messages(retail) == []


# --- trigger.event as a subscription -----------------------------------------------------------


def test_a_trigger_event_runs_as_an_implied_subscription(retail: Path) -> None:
    extra_flow(
        retail,
        "    - {name: reshape, type: map, expression: $}\n",
        trigger="{event: customer.address-updated}",
    )
    result = check_estate(retail)
    assert result.ok, [f.render() for f in result.findings]
    implied = {s.name: s for s in subscriptions(result.estate)}["flow-extra"]
    assert (implied.spec.event, implied.spec.target.flow) == ("customer.address-updated", "extra")
    assert implied.metadata.owner == "finance"
    assert implied.spec.dead_letter  # the defaults
    assert not implied.spec.ordered
    plans, problems = compile_plans(result.estate)
    assert not problems
    [plan] = [p for p in plans if p.name == "flow-extra"]
    assert (plan.kind, plan.flow, plan.event) == ("flow", "extra", "customer.address-updated")
    consumers = {c.name: c.type for c in topology_of(result.estate).consumers}
    assert consumers["flow-extra"] == "customer.address-updated"


def test_a_subscription_named_like_an_implied_one_is_refused(retail: Path) -> None:
    extra_flow(
        retail,
        "    - {name: reshape, type: map, expression: $}\n",
        trigger="{event: customer.address-updated}",
    )
    write(
        retail,
        "events/clash.yaml",
        "apiVersion: interlink/v1\n"
        "kind: Subscription\n"
        "metadata: {name: flow-extra, owner: finance}\n"
        "spec: {event: customer.address-updated, target: {system: erp, path: /hook}}\n",
    )
    assert check_messages(retail) == [
        "flows/extra.yaml:5:20: error: Flow/extra: trigger.event runs as "
        "Subscription/flow-extra, and a Subscription of that name is declared "
        "(events/clash.yaml:3:18) (rename that Subscription, or remove trigger.event)"
    ]


# --- timeout -----------------------------------------------------------------------------------


def test_a_wait_as_long_as_the_flows_timeout_is_a_warning_at_it(retail: Path) -> None:
    extra_flow(
        retail,
        "    - {name: short, type: wait, for: 10m}\n"
        "    - {name: long, type: wait, for: 1h}\n"
        "    - {name: dated, type: wait, until: at}\n",
        trigger="{manual: true}\n  timeout: 1h",
    )
    assert check_messages(retail) == [
        "flows/extra.yaml:9:37: warning: Flow/extra: wait long is for 1h, and a run may take 1h "
        "in all (spec.timeout): every run would time out at this wait (make spec.timeout "
        "longer than the waits, or the wait shorter)"
    ]


def test_a_flows_timeout_is_more_than_nothing(retail: Path) -> None:
    extra_flow(
        retail,
        "    - {name: same, type: map, expression: '$'}\n",
        trigger="{manual: true}\n  timeout: 0s",
    )
    assert check_messages(retail) == [
        "flows/extra.yaml:6:12: error: spec.timeout: Input should be greater than 0"
    ]


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("{name: c, type: call, system: crm, method: PUT, path: '/customers/{id}/address'}", []),
        ("{name: c, type: call, system: crm, method: PUT, path: '/v2/customers/{x}/address'}", []),
        (
            "{name: c, type: call, system: crm, method: POST, path: '/customers/{id}/address'}",
            [
                "flows/extra.yaml:7:62: warning: Flow/extra: POST /customers/{id}/address is not "
                "an operation of Api/customers-v1, Api/customers-v2 (check the method and path "
                "against the OpenAPI contract)"
            ],
        ),
        (
            "{name: e, type: enrich, from: {api: customers-v2, path: '/v2/customers/{c}'}, "
            "into: c}",
            [],
        ),
        (
            "{name: e, type: enrich, from: {api: customers-v2, path: '/customer/{c}'}, into: c}",
            [
                "flows/extra.yaml:7:63: warning: Flow/extra: GET /customer/{c} is not an "
                "operation of Api/customers-v2 (check the method and path against the OpenAPI "
                "contract)"
            ],
        ),
    ],
)
def test_a_call_to_a_system_with_openapi_contracts_is_one_of_their_operations(
    retail: Path, step: str, expected: list[str]
) -> None:
    extra_flow(retail, f"    - {step}\n")
    assert check_messages(retail) == expected
