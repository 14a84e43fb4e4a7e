"""Loading an estate: every problem is a finding located at file:line:col, never an exception."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from interlink.errors import EstateError
from interlink.estate.findings import Finding, Location
from interlink.estate.kinds import Route, System, Team
from interlink.estate.loader import estate_files, load_estate
from interlink.estate.yamlsource import MAX_DEPTH, parse_documents, read_documents
from tests.unit.estate.helpers import load_messages, write

TEAM = "apiVersion: interlink/v1\nkind: Team\nmetadata: {name: sales}\n"


def only(root: Path, text: str) -> list[str]:
    """What loading an estate of the single file ``a.yaml`` holding ``text`` reports."""
    write(root, "a.yaml", text)
    return load_messages(root)


# --- exact locations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "apiVersion: interlink/v1\nkind: Team\nmetadata: {name: sales\nspec: {}\n",
            "a.yaml:4:5: error: invalid YAML: did not find expected ',' or '}'",
            id="unclosed-flow-mapping",
        ),
        pytest.param(
            "apiVersion: interlink/v1\nkind: Team\nmetadata:\n  name: sales\n   owner: x\n",
            "a.yaml:5:9: error: invalid YAML: mapping values are not allowed in this context",
            id="bad-indentation",
        ),
        pytest.param(
            "apiVersion: interlink/v1\nkind: Team\nmetadata:\n\tname: sales\n",
            "a.yaml:4:1: error: invalid YAML: found character that cannot start any token",
            id="tab-indentation",
        ),
        pytest.param(
            "apiVersion: interlink/v1\nkind: Team\nmetadata: {name: a\x07}\n",
            "a.yaml:3:19: error: invalid YAML: unacceptable character #x0007: "
            "control characters are not allowed",
            id="control-character",
        ),
        pytest.param(
            "apiVersion: interlink/v1\nkind: Team\nmetadata:\n  name: a\n  name: b\n",
            "a.yaml:5:3: error: duplicate key 'name'",
            id="duplicate-key",
        ),
        pytest.param(
            "apiVersion: interlink/v1\nkind: Sytem\nmetadata: {name: a}\n",
            "a.yaml:2:7: error: unknown kind 'Sytem' (did you mean 'System'?)",
            id="kind-typo",
        ),
        pytest.param(
            "apiVersion: interlink/v1\nkind: Widget\nmetadata: {name: a}\n",
            "a.yaml:2:7: error: unknown kind 'Widget' (kinds: Platform, Team, System, Api, Event, "
            "Route, Plan, Consumer, Subscription, Flow, DataProduct, Monitor, Glossary, Policy)",
            id="kind-unknown",
        ),
        pytest.param(
            "apiVersion: interlink/v1\nkind: System\nmetadata: {name: crm}\nspec:\n"
            "  domain: sales\n  baseURL: http://crm.internal\n",
            "a.yaml:6:3: error: unknown field 'baseURL' in spec (did you mean 'baseUrl'?)",
            id="field-typo",
        ),
        pytest.param(
            "apiVersion: interlink/v1\nkind: System\nmetadata: {name: crm, ownr: sales}\n"
            "spec: {domain: sales}\n",
            "a.yaml:3:23: error: unknown field 'ownr' in metadata (did you mean 'owner'?)",
            id="metadata-field-typo",
        ),
        pytest.param(
            "apiVersion: interlink/v1\nkind: Team\nmetadata: {name: crm}\nspec:\n  zzz: 1\n",
            "a.yaml:5:3: error: unknown field 'zzz' in spec "
            "(valid fields: channels, codeowners, members)",
            id="field-unknown",
        ),
        pytest.param(
            "apiVersion: interlink/v1\nkind: Subscription\nmetadata: {name: s}\nspec:\n"
            "  event: e\n  target: {flow: f}\n  maxInFlight: lots\n",
            "a.yaml:7:16: error: spec.maxInFlight: Input should be a valid integer, unable to "
            "parse string as an integer",
            id="wrong-type",
        ),
        pytest.param(
            "apiVersion: interlink/v1\nkind: System\nmetadata: {name: crm}\nspec:\n"
            "  domain: sales\n  criticality: hihg\n",
            "a.yaml:6:16: error: spec.criticality: must be one of low, medium, high, critical, "
            "got 'hihg' (did you mean 'high'?)",
            id="enum-typo",
        ),
        pytest.param(
            "apiVersion: interlink/v1\nkind: Route\nmetadata: {name: r}\nspec:\n"
            "  match: {path: /a}\n  upstreams: [{system: a}]\n  auth:\n    methods:\n"
            "      - type: jwtt\n        issuer: x\n",
            "a.yaml:9:9: error: spec.auth.methods[0]: unknown type 'jwtt'; expected one of "
            "apiKey, jwt, mtls, oauth2, introspection (did you mean 'jwt'?)",
            id="union-tag-typo",
        ),
        pytest.param(
            "apiVersion: interlink/v1\nkind: System\nmetadata: {name: crm}\nspec:\n"
            "  baseUrl: http://crm.internal\n",
            "a.yaml:5:3: error: missing required field 'spec.domain'",
            id="missing-field",
        ),
        pytest.param(
            "apiVersion: interlink/v1\nkind: System\nmetadata: {name: crm}\n",
            "a.yaml:1:1: error: missing required field 'spec'",
            id="missing-spec",
        ),
        pytest.param(
            "apiVersion: interlink/v1\nkind: System\nmetadata: {owner: crm}\nspec: {domain: a}\n",
            "a.yaml:3:11: error: missing required field 'metadata.name'",
            id="missing-name",
        ),
        pytest.param(
            "apiVersion: interlink/v1\nkind: Team\nmetadata: {name: Sales}\n",
            "a.yaml:3:18: error: metadata.name: names are lower-case letters, digits, '.' and '-', "
            "starting with a letter or digit",
            id="bad-name",
        ),
        pytest.param(
            "apiVersion: interlink/v1\nkind: Route\nmetadata: {name: r}\nspec:\n"
            "  match: {path: /a}\n  upstreams:\n    - {system: a, weight: 0}\n",
            "a.yaml:5:3: error: spec: upstream weights add up to 0: no request could be routed",
            id="model-validator",
        ),
        pytest.param(
            "apiVersion: interlink/v2\nkind: System\nmetadata: {name: crm}\n",
            "a.yaml:1:13: error: apiVersion 'interlink/v2' is not supported (use interlink/v1)",
            id="unsupported-api-version",
        ),
        pytest.param(
            "# a system\nkind: System\nmetadata: {name: crm}\n",
            "a.yaml:2:7: error: missing 'apiVersion: interlink/v1'",
            id="missing-api-version",
        ),
        pytest.param(
            "apiVersion: interlink/v1\nmetadata: {name: crm}\n",
            "a.yaml:1:1: error: missing 'kind'",
            id="missing-kind",
        ),
        pytest.param(
            "apiVersion: interlink/v1\nkind: Team\nmetadata: {name: !!int x}\n",
            "a.yaml:3:18: error: invalid !!int value 'x'",
            id="bad-tagged-value",
        ),
        pytest.param(
            "apiVersion: interlink/v1\nkind: Team\nmetadata:\n  name: !!python/name:os.system\n",
            "a.yaml:4:9: error: invalid YAML: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/name:os.system'",
            id="unsafe-tag",
        ),
        pytest.param(
            "apiVersion: interlink/v1\nkind: Team\nmetadata:\n  ? [name]\n  : sales\n",
            "a.yaml:4:3: error: mapping keys must be plain values",
            id="complex-key",
        ),
    ],
)
def test_problem_is_located_exactly(tmp_path: Path, text: str, expected: str) -> None:
    assert only(tmp_path, text) == [expected]


def test_every_problem_of_one_document_is_reported(tmp_path: Path) -> None:
    text = (
        "apiVersion: interlink/v1\n"
        "kind: Route\n"
        "metadata: {name: r, ownr: x}\n"
        "spec:\n"
        "  match: {path: api}\n"
        "  upstreams:\n"
        "    - {system: a}\n"
        "    - {system: B, weight: many}\n"
    )
    assert only(tmp_path, text) == [
        "a.yaml:3:21: error: unknown field 'ownr' in metadata (did you mean 'owner'?)",
        "a.yaml:5:17: error: spec.match.path: String should match pattern '^/[^\\s?#]*$'",
        "a.yaml:8:16: error: spec.upstreams[1].system: String should match pattern "
        "'^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$'",
        "a.yaml:8:27: error: spec.upstreams[1].weight: Input should be a valid integer, unable to "
        "parse string as an integer",
    ]


def test_findings_carry_code_subject_and_json(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "apiVersion: interlink/v1\nkind: Team\nmetadata: {name: t, x: 1}\n")
    estate, findings = load_estate(tmp_path)
    assert len(findings) == 1
    finding = findings[0]
    assert finding.code == "FIELD_UNKNOWN"
    assert finding.subject == "Team/t"
    assert finding.location == Location(tmp_path.resolve() / "a.yaml", 3, 21)
    assert finding.to_json(estate.root) == {
        "severity": "error",
        "code": "FIELD_UNKNOWN",
        "message": "unknown field 'x' in metadata",
        "file": "a.yaml",
        "line": 3,
        "col": 21,
        "hint": "valid fields: description, labels, name, owner, title",
        "subject": "Team/t",
        "details": [],
    }
    assert json.loads(json.dumps(finding.to_json())) == finding.to_json()


def test_a_finding_without_location_renders_without_one() -> None:
    finding = Finding("warning", "X", "something", hint="do this")
    assert finding.render() == "warning: something (do this)"
    assert finding.to_json()["file"] is None


def test_location_outside_the_root_renders_absolute(tmp_path: Path) -> None:
    elsewhere = Location(Path("/elsewhere/a.yaml"), 2, 3)
    assert elsewhere.render(tmp_path) == "/elsewhere/a.yaml:2:3"


# --- names -----------------------------------------------------------------------------------


def test_duplicate_name_points_at_the_first_definition(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", TEAM.replace("sales", "ops") + "---\n" + TEAM)
    write(tmp_path, "b.yaml", "# the same team again\n" + TEAM)
    estate, findings = load_estate(tmp_path)
    assert [f.render(estate.root) for f in findings] == [
        "b.yaml:4:18: error: Team/sales is defined twice (first defined at a.yaml:5:1)"
    ]
    assert findings[0].code == "DUPLICATE_NAME"
    assert estate.get("Team", "sales") is not None
    first = estate.get("Team", "sales")
    assert first is not None
    assert first.doc.file.name == "a.yaml"


def test_same_name_in_different_kinds_is_fine(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", TEAM + "---\n" + TEAM.replace("Team", "Plan"))
    estate, findings = load_estate(tmp_path)
    assert findings == []
    assert sorted(estate.objects) == ["Plan/sales", "Team/sales"]


# --- files and folders -----------------------------------------------------------------------


def test_non_utf8_file_is_a_finding(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_bytes(b"apiVersion: interlink/v1\nkind: Team\nname: \xff\xfe\n")
    assert load_messages(tmp_path) == ["a.yaml:1:1: error: not UTF-8 text (invalid start byte)"]


def test_utf8_with_bom_and_unicode_text_loads(tmp_path: Path) -> None:
    text = TEAM.replace(
        "{name: sales}", "{name: sales, description: Vertrieb an der Straße und Ärger}"
    )
    (tmp_path / "a.yaml").write_bytes(b"\xef\xbb\xbf" + text.encode())
    estate, findings = load_estate(tmp_path)
    assert findings == []
    team = estate.get("Team", "sales")
    assert team is not None
    assert team.obj.metadata.description == "Vertrieb an der Straße und Ärger"


def test_multi_document_files_locate_each_document(tmp_path: Path) -> None:
    write(
        tmp_path,
        "all.yaml",
        """\
        # teams and systems
        apiVersion: interlink/v1
        kind: Team
        metadata: {name: sales}
        ---
        ---
        apiVersion: interlink/v1
        kind: System
        metadata: {name: crm, owner: sales}
        spec: {domain: sales}
        ...
        ---
        apiVersion: interlink/v1
        kind: System
        metadata: {name: erp, owner: sales}
        spec: {domain: finance, critical: yes}
        """,
    )
    estate, findings = load_estate(tmp_path)
    assert [f.render(estate.root) for f in findings] == [
        "all.yaml:16:25: error: unknown field 'critical' in spec (did you mean 'criticality'?)"
    ]
    assert sorted(estate.objects) == ["System/crm", "Team/sales"]
    crm = estate.get("System", "crm")
    assert crm is not None
    assert crm.location() == Location(tmp_path.resolve() / "all.yaml", 7, 1)
    assert crm.location(("spec", "domain")) == Location(tmp_path.resolve() / "all.yaml", 10, 16)
    assert crm.location(("spec", "domain"), key=True).col == 8
    assert crm.doc.index == 2  # the empty document between the two markers counts as one


def test_a_broken_document_keeps_the_ones_before_it(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", TEAM + "---\napiVersion: interlink/v1\nkind: [\n")
    estate, findings = load_estate(tmp_path)
    assert list(estate.objects) == ["Team/sales"]
    assert [f.code for f in findings] == ["YAML_SYNTAX"]
    assert findings[0].location is not None
    assert findings[0].location.line == 7


def test_nested_folders_and_both_suffixes_are_read(tmp_path: Path) -> None:
    write(tmp_path, "teams.yaml", TEAM)
    write(tmp_path, "domains/sales/systems/crm.yml", TEAM.replace("Team", "Plan"))
    write(tmp_path, "domains/sales/deep/er/still/erp.yaml", TEAM.replace("sales", "ops"))
    write(tmp_path, "domains/notes.md", "# not YAML\n")
    write(tmp_path, "domains/data.json", '{"apiVersion": "interlink/v1", "kind": "Sytem"}')
    estate, findings = load_estate(tmp_path)
    assert findings == []
    assert sorted(estate.objects) == ["Plan/sales", "Team/ops", "Team/sales"]
    assert [p.relative_to(tmp_path.resolve()).as_posix() for p in estate.files] == [
        "domains/sales/deep/er/still/erp.yaml",
        "domains/sales/systems/crm.yml",
        "teams.yaml",
    ]


@pytest.mark.parametrize(
    "folder", [".interlink", ".git", ".hidden", "node_modules", ".venv", "__pycache__"]
)
def test_hidden_and_tool_folders_are_skipped(tmp_path: Path, folder: str) -> None:
    write(tmp_path, "teams.yaml", TEAM)
    write(tmp_path, f"{folder}/broken.yaml", "kind: [\n")
    write(tmp_path, f"{folder}/inner/team.yaml", TEAM.replace("sales", "ghost"))
    write(tmp_path, f"sub/{folder}/team.yaml", TEAM.replace("sales", "ghost"))
    estate, findings = load_estate(tmp_path)
    assert findings == []
    assert list(estate.objects) == ["Team/sales"]
    assert len(estate.files) == 1


def test_hidden_files_in_ordinary_folders_are_read(tmp_path: Path) -> None:
    write(tmp_path, ".teams.yaml", TEAM)
    estate, _ = load_estate(tmp_path)
    assert list(estate.objects) == ["Team/sales"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: crm\n"
            "spec:\n  type: service\n  lifecycle: production\n  owner: sales\n",
            id="backstage-component",
        ),
        pytest.param(
            "apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata: {name: crm}\n"
            "spec: {owner: sales}\n",
            id="backstage-system-same-kind-name",
        ),
        pytest.param(
            "apiVersion: v1\nkind: Service\nmetadata: {name: crm}\nspec: {ports: [{port: 80}]}\n",
            id="kubernetes",
        ),
        pytest.param("server:\n  port: 8080\n  debug: true\n", id="plain-config"),
        pytest.param("- one\n- two\n", id="a-list"),
        pytest.param("just a string\n", id="a-scalar"),
        pytest.param("", id="empty"),
        pytest.param("# only a comment\n", id="comment"),
        pytest.param("openapi: 3.0.3\ninfo: {title: a, version: '1'}\npaths: {}\n", id="openapi"),
        pytest.param("kind: Component\nmetadata: {name: crm}\n", id="kind-without-apiversion"),
        pytest.param("apiVersion: 7\nkind: System\n", id="numeric-apiversion"),
        pytest.param("kind: [System]\n", id="list-kind"),
    ],
)
def test_yaml_that_is_not_ours_is_ignored(tmp_path: Path, text: str) -> None:
    write(tmp_path, "teams.yaml", TEAM)
    write(tmp_path, "other.yaml", text)
    estate, findings = load_estate(tmp_path)
    assert findings == []
    assert list(estate.objects) == ["Team/sales"]
    assert len(estate.files) == 2


def test_a_single_file_is_an_estate(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "estate.yaml",
        TEAM + "---\napiVersion: interlink/v1\nkind: System\nmetadata: {name: crm, owner: sales}\n"
        "spec: {domain: sales}\n",
    )
    write(tmp_path, "other.yaml", TEAM.replace("sales", "ignored"))
    estate, findings = load_estate(path)
    assert findings == []
    assert estate.root == tmp_path.resolve()
    assert estate.files == [path.resolve()]
    assert sorted(estate.objects) == ["System/crm", "Team/sales"]
    assert isinstance(estate.get("System", "crm").obj, System)  # type: ignore[union-attr]


def test_a_single_file_with_another_suffix_is_read_too(tmp_path: Path) -> None:
    path = write(tmp_path, "estate.txt", TEAM)
    estate, findings = load_estate(path)
    assert findings == []
    assert list(estate.objects) == ["Team/sales"]


def test_a_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(EstateError, match="no such file or directory"):
        load_estate(tmp_path / "nowhere")


def test_an_empty_directory_is_an_empty_estate(tmp_path: Path) -> None:
    estate, findings = load_estate(tmp_path)
    assert findings == []
    assert len(estate) == 0
    assert estate.platform.name == "default"


def unreadable(path: Path) -> None:
    """chmod 000 ``path``, skipping the test when this user can read it anyway (root)."""
    path.chmod(0)
    if os.access(path, os.R_OK):
        path.chmod(0o755)
        pytest.skip("this user reads files whatever their mode (running as root?)")


def test_an_unreadable_folder_is_a_finding(tmp_path: Path) -> None:
    write(tmp_path, "teams.yaml", TEAM)
    locked = tmp_path / "locked"
    write(locked, "team.yaml", TEAM.replace("sales", "hidden"))
    unreadable(locked)
    try:
        estate, findings = load_estate(tmp_path)
    finally:
        locked.chmod(0o755)
    assert [f.render(estate.root) for f in findings] == [
        "locked:1:1: error: cannot read directory: Permission denied"
    ]
    assert list(estate.objects) == ["Team/sales"]


def test_an_unreadable_file_is_a_finding(tmp_path: Path) -> None:
    locked = write(tmp_path, "teams.yaml", TEAM)
    unreadable(locked)
    try:
        messages = load_messages(tmp_path)
    finally:
        locked.chmod(0o644)
    assert messages == ["teams.yaml:1:1: error: cannot read file: Permission denied"]


def test_an_unreadable_root_raises(tmp_path: Path) -> None:
    root = tmp_path / "estate"
    write(root, "teams.yaml", TEAM)
    unreadable(root)
    try:
        with pytest.raises(EstateError, match="permission denied"):
            estate_files(root)
    finally:
        root.chmod(0o755)


# --- the YAML reader itself ------------------------------------------------------------------


def test_merge_keys_expand_with_explicit_keys_and_earlier_merges_winning(tmp_path: Path) -> None:
    text = """\
        defaults: &defaults {connect: 1s, read: 5s}
        slow: &slow {read: 30s, extra: 1}
        route:
          <<: [*defaults, *slow]
          connect: 2s
        """
    docs, problems = parse_documents(textwrap.dedent(text), tmp_path / "a.yaml")
    assert problems == []
    assert docs[0].data["route"] == {"connect": "2s", "read": "5s", "extra": 1}


def test_merge_keys_work_in_estate_files(tmp_path: Path) -> None:
    write(
        tmp_path,
        "routes.yaml",
        """\
        apiVersion: interlink/v1
        kind: Route
        metadata: {name: customers}
        spec:
          match: {path: /customers}
          upstreams: [{system: crm}]
          resilience:
            timeouts:
              <<: {connect: 1s, read: 9s}
              read: 3s
        """,
    )
    estate, findings = load_estate(tmp_path)
    assert findings == []
    route = estate.get("Route", "customers")
    assert route is not None
    assert isinstance(route.obj, Route)
    assert route.obj.spec.resilience.timeouts.connect == 1.0
    assert route.obj.spec.resilience.timeouts.read == 3.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &a\n  b: 1\n  <<: *a\n", "a.yaml:1:4: error: a mapping merges itself ('<<')"),
        ("a: {<<: [1, 2]}\n", "a.yaml:1:10: error: '<<' merges only mappings"),
        ("a: {<<: {[x]: 1}}\n", "a.yaml:1:4: error: mapping keys must be plain values"),
        ("a: &a [*a]\n", f"a.yaml:1:4: error: nested deeper than {MAX_DEPTH} levels"),
        ("a: !!float x\n", "a.yaml:1:4: error: invalid !!float value 'x'"),
        ("a: !!int\n", "a.yaml:1:4: error: invalid !!int value ''"),
        (
            "a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: [*b, *c]}\n",
            "a.yaml:3:14: error: invalid YAML: found undefined alias",
        ),
        ("a: &a {<<: &b {<<: *a}}\n", "a.yaml:1:4: error: a mapping merges itself ('<<')"),
        ("a: !!timestamp x\n", "a.yaml:1:4: error: invalid !!timestamp value 'x'"),
        ("a: !!bool x\n", "a.yaml:1:4: error: invalid !!bool value 'x'"),
        ("a: !!binary aGVsbG8=\n", "a.yaml:1:4: error: binary values are not allowed here"),
    ],
)
def test_hostile_yaml_is_a_finding(tmp_path: Path, text: str, expected: str) -> None:
    assert only(tmp_path, text) == [expected]


def test_documents_of_one_file_do_not_share_merges(tmp_path: Path) -> None:
    docs = [f"base: &b {{x: {i}}}\nitem: {{<<: *b, y: {i}}}\n" for i in range(300)]
    parsed, problems = parse_documents("---\n".join(docs), tmp_path / "a.yaml")
    assert problems == []
    assert [d.data["item"] for d in parsed] == [{"x": i, "y": i} for i in range(300)]


def test_merges_through_aliases_are_expanded_once(tmp_path: Path) -> None:
    lines = ["a0: &a0 {x: 1, y: 2}"]
    lines += [f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}], k{i}: {i}}}" for i in range(1, 60)]
    docs, problems = parse_documents("\n".join(lines) + "\n", tmp_path / "a.yaml")
    assert problems == []
    assert docs[0].data["a59"]["x"] == 1
    assert docs[0].data["a59"]["k1"] == 1
    assert len(docs[0].data["a59"]) == 61


@pytest.mark.parametrize("opener", ["[", "{a: ", "- "])
def test_absurd_nesting_is_a_finding_not_a_crash(tmp_path: Path, opener: str) -> None:
    depth = 100_000
    closer = {"[": "]", "{a: ": "}", "- ": ""}[opener]
    (tmp_path / "a.yaml").write_text(opener * depth + "1" + closer * depth)
    messages = load_messages(tmp_path)
    assert len(messages) == 1
    assert messages[0].endswith(f"error: nested deeper than {MAX_DEPTH} levels")


def test_nesting_below_the_limit_loads(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("[" * 150 + "]" * 150)
    assert load_messages(tmp_path) == []


def test_json_numbers_with_exponents_are_numbers_in_json_files(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"maximum": 1e6, "minimum": -2.5E-3, "id": "1e6", "n": 12}')
    docs, problems = read_documents(path, json_values=True)
    assert problems == []
    assert docs[0].data == {"maximum": 1e6, "minimum": -2.5e-3, "id": "1e6", "n": 12}


def test_yaml_files_keep_yaml_scalars(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("version: 1e6\nsunset: 2027-01-31\nat: 2026-01-01T10:00:00Z\n")
    docs, _ = read_documents(path, json_values=True)
    assert docs[0].data == {
        "version": "1e6",
        "sunset": "2027-01-31",
        "at": "2026-01-01T10:00:00+00:00",
    }
    docs, _ = read_documents(path)
    assert str(docs[0].data["sunset"]) == "2027-01-31"


def test_documents_know_where_keys_and_values_are(tmp_path: Path) -> None:
    text = "a:\n  b: [1, {c: 2}]\n  d:\n    - e\n"
    docs, _ = parse_documents(text, tmp_path / "a.yaml")
    doc = docs[0]
    assert doc.location(("a", "b", 1, "c")) == Location(tmp_path / "a.yaml", 2, 14)
    assert doc.location(("a", "b", 1, "c"), key=True) == Location(tmp_path / "a.yaml", 2, 11)
    assert doc.location(("a", "d", 0)) == Location(tmp_path / "a.yaml", 4, 7)
    # an unknown path falls back to its nearest known parent
    assert doc.location(("a", "d", 5, "x")) == Location(tmp_path / "a.yaml", 4, 5)
    assert doc.location(("zzz",)) == Location(tmp_path / "a.yaml", 1, 1)


def test_loaded_objects_keep_their_typed_model(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", TEAM)
    estate, _ = load_estate(tmp_path)
    assert estate.of(Team)[0].name == "sales"
    assert estate.names("Team") == ["sales"]
    assert [item.key for item in estate.loaded_of("Team")] == ["Team/sales"]
    assert len(estate) == 1
