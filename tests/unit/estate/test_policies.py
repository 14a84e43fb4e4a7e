"""The estate's own Policy rules, applied by `check` beside the built-in ones."""

from __future__ import annotations

from pathlib import Path

from interlink.estate.check import check_estate
from tests.unit.estate.helpers import edit, rendered

POLICIES = "policies.yaml"


def check_messages(root: Path) -> list[str]:
    """Every finding of `check`, rendered: the Policy's included."""
    result = check_estate(root)
    return rendered(result.findings, result.estate.root)


def add_rule(root: Path, rule: str) -> None:
    edit(root / POLICIES, "  rules:\n", "  rules:\n" + rule)


def test_the_example_satisfies_its_own_policies(retail: Path) -> None:
    result = check_estate(retail)
    assert [f.code for f in result.findings if f.code.startswith("POLICY")] == []
    assert result.estate.get("Policy", "organisation") is not None


def test_a_broken_rule_is_reported_at_the_object_with_its_code_and_severity(
    retail: Path,
) -> None:
    edit(
        retail / "gateway" / "routes.yaml",
        "  auth:\n    methods: [{type: apiKey}]\n"
        '    scopes: ["events:publish:customer.address-updated"]\n',
        "",
    )
    result = check_estate(retail)
    found = [f for f in result.findings if f.code == "POLICY_ROUTE_AUTH"]
    assert len(found) == 1
    rendered = found[0].render(result.estate.root)
    assert rendered.startswith("gateway/routes.yaml:44:")
    assert "warning: Route/address-changes: no route without authentication" in rendered
    assert "Policy/organisation, rule ROUTE_AUTH" in rendered
    assert result.ok  # the example's rule is a warning
    edit(
        retail / POLICIES,
        "      severity: warning  # an open route is allowed, and told on every check\n",
        "",
    )
    found = [f for f in check_estate(retail).findings if f.code == "POLICY_ROUTE_AUTH"]
    assert [f.severity for f in found] == ["error"]
    assert not check_estate(retail).ok


def test_a_warning_rule_does_not_fail_check(retail: Path) -> None:
    add_rule(
        retail,
        "    - code: TITLED\n"
        "      description: every Consumer has a title\n"
        "      severity: warning\n"
        "      kind: Consumer\n"
        "      require: $exists(metadata.title)\n"
        "      message: has no title\n"
        "      at: metadata.name\n",
    )
    result = check_estate(retail)
    titled = [f for f in result.findings if f.code == "POLICY_TITLED"]
    assert {f.subject for f in titled} == {
        "Consumer/mobile-app",
        "Consumer/crm-publisher",
        "Consumer/webshop",
    } - {"Consumer/mobile-app"}
    assert all(f.severity == "warning" for f in titled)
    assert all(f.message.endswith(": has no title") for f in titled)
    assert not any(f.code.startswith("POLICY") and f.severity == "error" for f in result.findings)


def test_when_selects_objects_and_values_and_the_estate_are_bound(retail: Path) -> None:
    # analytics in the US receives customer.address-updated, which carries personal data.
    systems = retail / "systems" / "operations.yaml"
    edit(
        systems,
        "  baseUrl: http://127.0.0.1:9104\n",
        "  baseUrl: http://127.0.0.1:9104\n  country: US\n",
    )
    messages = [m for m in check_messages(retail) if "POLICY_" in m or "EEA" in m]
    assert messages == [
        "events/subscriptions.yaml:22:20: error: Subscription/analytics-address-updates: events "
        "carrying personal data are not delivered to Systems outside the EEA "
        "(Policy/organisation, rule PII_STAYS_IN_EEA)"
    ]
    edit(systems, "  country: US\n", "  country: NL\n")
    assert not [m for m in check_messages(retail) if "EEA" in m]


def test_a_rule_that_does_not_compile_or_names_an_unknown_kind_is_located(retail: Path) -> None:
    add_rule(
        retail,
        "    - {code: BAD, description: x, kind: Rout, require: 'true'}\n"
        "    - {code: WORSE, description: y, kind: Route, require: 'spec.(('}\n",
    )
    messages = [m for m in check_messages(retail) if "policies.yaml" in m]
    assert len(messages) == 2, messages
    assert messages[0].startswith("policies.yaml:14:")
    assert "Policy/organisation: unknown kind 'Rout' (did you mean 'Route'?)" in messages[0]
    assert messages[1].startswith("policies.yaml:15:")
    assert "Policy/organisation: rule WORSE:" in messages[1]


def test_codes_are_unique_and_values_cannot_shadow_bindings(retail: Path) -> None:
    add_rule(retail, "    - {code: ROUTE_AUTH, description: again, kind: Api, require: 'true'}\n")
    assert any("rule code ROUTE_AUTH is used twice" in m for m in check_messages(retail))
    (retail / "more.yaml").write_text(
        "apiVersion: interlink/v1\nkind: Policy\nmetadata: {name: more, owner: sales}\n"
        "spec:\n  rules:\n    - {code: OWNER_REACHABLE, description: x, kind: Api, "
        "require: 'true'}\n"
    )
    edit(
        retail / POLICIES,
        "    - {code: ROUTE_AUTH, description: again",
        "    - {code: OTHER, description: again",
    )
    messages = [m for m in check_messages(retail) if "already used" in m]
    assert len(messages) == 1, messages
    assert "rule code OWNER_REACHABLE is already used by Policy/" in messages[0]
    edit(retail / POLICIES, "  values:\n", "  values:\n    owner: x\n")
    assert any("value name 'owner' is reserved" in m for m in check_messages(retail))


def test_a_bad_code_is_refused_with_its_line(retail: Path) -> None:
    edit(retail / POLICIES, "code: ROUTE_AUTH", "code: route-auth")
    messages = check_messages(retail)
    assert any(m.startswith("policies.yaml:") and "is not in capitals" in m for m in messages), (
        messages
    )
