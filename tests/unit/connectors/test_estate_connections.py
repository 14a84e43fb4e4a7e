"""`check` on Systems that name a connector, and on the query and write steps that use them."""

from __future__ import annotations

from pathlib import Path

from interlink.connectors.registry import registry
from interlink.estate.check import check_estate
from tests.unit.estate.helpers import TODAY, write

TEAM = """\
apiVersion: interlink/v1
kind: Team
metadata: {name: data}
"""


def _check(root: Path, system: str, flow: str = "") -> list[str]:
    write(root, "team.yaml", TEAM)
    write(root, "system.yaml", system)
    if flow:
        write(root, "flow.yaml", flow)
    result = check_estate(root, today=TODAY, connectors=registry())
    return [f.render(root) for f in result.findings if f.severity == "error"]


def _system(spec: str, name: str = "db") -> str:
    return (
        "apiVersion: interlink/v1\nkind: System\n"
        f"metadata: {{name: {name}, owner: data}}\nspec:\n  domain: data\n{spec}"
    )


def test_a_valid_postgresql_system_passes(tmp_path: Path) -> None:
    system = _system(
        "  connector: postgresql\n  connection:\n    host: 127.0.0.1\n    database: d\n"
        "    user: u\n    password: ${secret:db-password}\n"
    )
    assert _check(tmp_path, system) == []


def test_a_plain_text_secret_is_an_error_at_its_line(tmp_path: Path) -> None:
    system = _system(
        "  connector: postgresql\n  connection:\n    host: 127.0.0.1\n    database: d\n"
        "    user: u\n    password: hunter2\n"
    )
    errors = _check(tmp_path, system)
    assert len(errors) == 1
    assert errors[0].startswith("system.yaml:11:")
    assert "connection.password: is a secret" in errors[0]
    assert "hunter2" not in errors[0]


def test_an_unknown_connector_says_did_you_mean(tmp_path: Path) -> None:
    system = _system("  connector: postgres\n  connection: {host: x}\n")
    errors = _check(tmp_path, system)
    assert len(errors) == 1
    assert errors[0].startswith("system.yaml:6:")
    assert "no connector 'postgres'" in errors[0]
    assert "did you mean 'postgresql'?" in errors[0]


def test_a_wrong_field_is_located_and_named(tmp_path: Path) -> None:
    system = _system(
        "  connector: mariadb\n  connection:\n    host: h\n    database: d\n    user: u\n"
        "    port: high\n    pasword: ${secret:p}\n"
    )
    errors = _check(tmp_path, system)
    assert any(e.startswith("system.yaml:11:") and "connection.port" in e for e in errors)
    assert any(e.startswith("system.yaml:12:") and "did you mean 'password'?" in e for e in errors)


def test_a_missing_required_field_is_an_error(tmp_path: Path) -> None:
    errors = _check(tmp_path, _system("  connector: sqlite\n  connection: {readOnly: true}\n"))
    assert len(errors) == 1
    assert '"path" is a required property' in errors[0]


def test_base_url_systems_work_unchanged_and_http_is_implied(tmp_path: Path) -> None:
    assert _check(tmp_path, _system("  baseUrl: https://erp.example\n")) == []
    named = _system("  connector: http\n  baseUrl: https://erp.example\n")
    assert _check(tmp_path, named) == []


def test_a_database_system_takes_no_base_url(tmp_path: Path) -> None:
    system = _system(
        "  connector: sqlite\n  baseUrl: https://x.example\n  connection: {path: a.db}\n"
    )
    errors = _check(tmp_path, system)
    assert errors
    assert "reached through its connection, not baseUrl" in errors[0]


FLOW = """\
apiVersion: interlink/v1
kind: Flow
metadata: {name: sync, owner: data}
spec:
  trigger: {manual: true}
  steps:
    - name: read
      type: query
      system: erp
      sql: "select * from orders where id = :id"
      params: "{'id': id"
    - name: save
      type: write
      system: db
      table: orders
      mode: upsert
      key: [id]
"""


def test_sql_steps_need_a_sql_system_and_compiling_expressions(tmp_path: Path) -> None:
    system = _system("  connector: sqlite\n  connection: {path: a.db}\n")
    write(tmp_path, "erp.yaml", _system("  baseUrl: https://erp.example\n", name="erp"))
    errors = _check(tmp_path, system, FLOW)
    assert any(
        e.startswith("flow.yaml:9:") and "System/erp has connector http" in e for e in errors
    ), errors
    assert any(e.startswith("flow.yaml:11:") and "params does not compile" in e for e in errors), (
        errors
    )
    assert not any("flow.yaml:14" in e for e in errors)


def test_an_upsert_without_key_is_refused(tmp_path: Path) -> None:
    system = _system("  connector: sqlite\n  connection: {path: a.db}\n")
    flow = FLOW.replace("      key: [id]\n", "").replace("system: erp", "system: db")
    flow = flow.replace("{'id': id", "{'id': id}")
    errors = _check(tmp_path, system, flow)
    assert len(errors) == 1
    assert "needs key" in errors[0]


def test_file_and_message_systems_pass_as_their_examples_show(tmp_path: Path) -> None:
    for name in ("s3", "smtp", "chat"):
        example = registry().get(name).spec.example.replace("owner: finance", "owner: data")
        example = example.replace("owner: platform", "owner: data")
        example = example.replace("domain: finance", "domain: data")
        example = example.replace("domain: platform", "domain: data")
        assert _check(tmp_path, example) == [], name


def test_a_webhook_url_given_as_text_is_refused_without_echoing_it(tmp_path: Path) -> None:
    url = "https://hooks.slack.example/services/T0/B0/il-token-4c3b2a"
    errors = _check(tmp_path, _system(f"  connector: chat\n  connection:\n    webhook: {url}\n"))
    assert len(errors) == 1
    assert errors[0].startswith("system.yaml:8:")
    assert "connection.webhook: is a secret" in errors[0]
    assert "il-token" not in errors[0]


def test_an_sftp_system_needs_a_pinned_host_key_and_a_login_secret(tmp_path: Path) -> None:
    system = _system(
        "  connector: sftp\n  connection:\n    host: sftp.example\n    username: acme\n"
        "    password: hunter2\n"
    )
    errors = _check(tmp_path, system)
    assert len(errors) == 2, errors
    assert 'connection: "hostKey" is a required property' in errors[0]
    assert "connection.password: is a secret" in errors[1]
    assert not any("hunter2" in e for e in errors)
    system = _system(
        "  connector: sftp\n  connection:\n    host: sftp.example\n    username: acme\n"
        "    hostKey: SHA256:Vbq5fGmYkHh8vDcNd1OQ0hM0wZCqG6b9pOe0c8Q2bHg\n"
    )
    (error,) = _check(tmp_path, system)
    assert error.endswith("System/db: connection: needs one of: password, privateKey")
    system = _system("  connector: directory\n  connection: {root: /srv/drop}\n")
    assert _check(tmp_path, system) == []
