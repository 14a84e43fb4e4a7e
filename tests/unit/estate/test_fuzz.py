"""Property-based tests: whatever is written into an estate, `check` reports, never crashes.

Every finding points at a real file and a line inside it, and the `interlink check` command
answers with findings and an exit code, never a traceback.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interlink.estate.check import CheckResult, check_estate
from interlink.estate.kinds import KINDS
from interlink.estate.loader import load_estate
from interlink.testing.processes import run_interlink
from tests.unit.estate.helpers import copy_retail, edit, write

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LINE_BREAKS = ("\n", "\r", "\x85", "\u2028", "\u2029")


def assert_located(result: CheckResult) -> None:
    """Every finding names an existing file and a line and column inside it (but the one
    saying the estate holds no object at all, which is about no file)."""
    for finding in result.findings:
        if finding.code == "ESTATE_EMPTY":
            assert not result.estate.objects
            continue
        location = finding.location
        assert location is not None, finding
        assert location.line >= 1, finding
        assert location.col >= 1, finding
        assert location.file.exists(), finding
        if location.file.is_file():
            text = location.file.read_bytes().decode("utf-8", errors="replace")
            lines = 1 + sum(text.count(brk) for brk in LINE_BREAKS)
            assert location.line <= lines + 1, (finding, lines)
        assert finding.render(result.estate.root)
        assert json.dumps(finding.to_json(result.estate.root))


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A fresh folder per example (pytest's tmp_path is one per test, not per example)."""
    with tempfile.TemporaryDirectory(prefix="estate-fuzz-") as name:
        yield Path(name)


# --- (a) random text and bytes ---------------------------------------------------------------

TOKENS = [
    "apiVersion: interlink/v1\n",
    "apiVersion: ",
    "interlink/v1",
    "kind: ",
    *KINDS,
    "Sytem",
    "metadata: ",
    "{name: a}",
    "{name: ",
    "name: ",
    "owner: ",
    "spec:",
    "spec: ",
    "system: a",
    "contract: o.yaml",
    "schemas: [{version: 1, file: s.json}]",
    "match: {path: /a}",
    "upstreams: [{system: a}]",
    "target: {kind: Route, name: a}",
    "trigger: {manual: true}",
    "\n",
    "\n  ",
    "\n    ",
    "  ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ", ",
    ": ",
    "&a ",
    "*a",
    "<<: ",
    "<<: *a",
    "!!int ",
    "!!binary ",
    "!!timestamp ",
    "!!python/object ",
    "? ",
    "---\n",
    "...\n",
    "'",
    '"',
    "# c",
    "|\n",
    ">-\n",
    "\t",
    "a",
    "1",
    "1e5",
    "-1",
    ".inf",
    ".nan",
    "null",
    "~",
    "off",
    "yes",
    "2027-01-31",
    "${secret:x}",
    "5s",
    "/path/{id}",
    "\x00",
    "\ufeff",
    "\u2028",
]

YAMLISH = st.lists(st.sampled_from(TOKENS), max_size=80).map("".join)


@FUZZ
@given(
    texts=st.lists(st.text(max_size=300) | YAMLISH, min_size=1, max_size=3),
    contracts=st.tuples(st.text(max_size=200) | YAMLISH, st.text(max_size=200) | YAMLISH),
)
def test_random_text_is_reported_not_raised(texts: list[str], contracts: tuple[str, str]) -> None:
    with scratch() as root:
        for i, text in enumerate(texts):
            (root / f"f{i}.yaml").write_text(text, encoding="utf-8")
        (root / "s.json").write_text(contracts[0], encoding="utf-8")
        (root / "o.yaml").write_text(contracts[1], encoding="utf-8")
        estate, _ = load_estate(root)
        assert len(estate.files) == len(texts) + 1
        result = check_estate(root)
        assert_located(result)


@FUZZ
@given(blobs=st.lists(st.binary(max_size=300), min_size=1, max_size=3))
def test_random_bytes_are_reported_not_raised(blobs: list[bytes]) -> None:
    with scratch() as root:
        for i, blob in enumerate(blobs):
            (root / f"f{i}.yaml").write_bytes(blob)
        assert_located(check_estate(root))


# --- (b) mutations of the retail example -----------------------------------------------------

FIELD_NAMES = [
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "owner",
    "spec",
    "system",
    "event",
    "flow",
    "plan",
    "api",
    "target",
    "schemas",
    "version",
    "file",
    "contract",
    "upstreams",
    "publish",
    "weight",
    "shadow",
    "notify",
    "type",
    "steps",
    "trigger",
    "lifecycle",
    "successor",
    "sunset",
    "pii",
    "classification",
    "level",
    "orderingKey",
    "baseUrl",
    "limits",
    "quotas",
    "per",
    "burst",
    "requests",
    "daily",
    "monthly",
    "match",
    "path",
    "methods",
    "auth",
    "methods",
    "secret",
    "$ref",
    "pattern",
    "properties",
    "x-pii",
    "items",
    "paths",
    "parameters",
    "in",
    "openapi",
    "required",
    "compensate",
    "branches",
    "otherwise",
    "slo",
    "freshness",
    "anomaly",
    "window",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "${secret:x}",
            "5s",
            "-1s",
            "0s",
            "crm",
            "sales",
            "http://a",
            "https://u:p@h/",
            "/p/{id}",
            "Team",
            "interlink/v1",
            "",
            "deprecated",
            "HS256",
            "../x.yaml",
            "/abs.json",
            "(",
            "#/x",
        ]
    )
)
JSONISH: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
KEYS = st.sampled_from(FIELD_NAMES) | st.text(min_size=1, max_size=8)
OPERATIONS = [
    "delete",
    "replace",
    "rename",
    "insert",
    "duplicate",
    "kind",
    "apiVersion",
    "truncate",
    "bytes",
]


def slots(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) in ``node``, depth first."""
    out: list[tuple[Any, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((node, key))
            out.extend(slots(value))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append((node, i))
            out.extend(slots(value))
    return out


def containers(node: Any) -> list[dict[str, Any]]:
    found = [node] if isinstance(node, dict) else []
    for parent, key in slots(node):
        if isinstance(parent[key], dict):
            found.append(parent[key])
    return found


def mutate(path: Path, data: st.DataObject) -> None:
    """Apply one random mutation to the file at ``path``."""
    operation = data.draw(st.sampled_from(OPERATIONS), label="operation")
    raw = path.read_bytes()
    if operation == "truncate":
        path.write_bytes(raw[: data.draw(st.integers(0, len(raw)), label="cut")])
        return
    if operation == "bytes":
        at = data.draw(st.integers(0, len(raw)), label="at")
        path.write_bytes(raw[:at] + data.draw(st.binary(min_size=1, max_size=8)) + raw[at:])
        return
    try:
        docs = list(yaml.safe_load_all(raw.decode("utf-8")))
    except (yaml.YAMLError, UnicodeDecodeError):  # broken by an earlier mutation
        path.write_bytes(raw[: data.draw(st.integers(0, len(raw)), label="cut")])
        return
    if not docs:
        docs = [{}]
    index = data.draw(st.integers(0, len(docs) - 1), label="document")
    doc = docs[index]
    places = slots(doc)
    if operation == "duplicate":
        docs.insert(index, copy.deepcopy(doc))
    elif operation in ("kind", "apiVersion") and isinstance(doc, dict):
        values = [*KINDS, "Sytem", "", None, 5, ["Team"], {"a": 1}]
        if operation == "apiVersion":
            values = ["interlink/v1", "interlink/v2", "v1", None, 1, "backstage.io/v1alpha1"]
        doc[operation] = data.draw(st.sampled_from(values), label=operation)
    elif operation == "insert" or not places:
        target = data.draw(st.sampled_from(containers(doc) or [{}]), label="container")
        target[data.draw(KEYS, label="key")] = data.draw(JSONISH, label="value")
    else:
        parent, key = data.draw(st.sampled_from(places), label="slot")
        if operation == "delete":
            del parent[key]
        elif operation == "rename" and isinstance(parent, dict):
            parent[data.draw(KEYS, label="new key")] = parent.pop(key)
        else:
            parent[key] = data.draw(JSONISH, label="value")
    if path.suffix == ".json" and len(docs) == 1:
        text = json.dumps(docs[0], ensure_ascii=False, default=str)
    else:
        text = yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8")


@FUZZ
@given(data=st.data())
def test_mutated_retail_estate_is_reported_not_raised(data: st.DataObject) -> None:
    with scratch() as tmp:
        root = copy_retail(tmp / "retail")
        files = sorted(p for p in root.rglob("*") if p.is_file())
        for _ in range(data.draw(st.integers(1, 3), label="mutations")):
            mutate(data.draw(st.sampled_from(files), label="file"), data)
        assert_located(check_estate(root))


# --- (c) random contracts --------------------------------------------------------------------

PROPERTY_NAMES = st.sampled_from(["customerId", "address", "street", "a", "b", "items"]) | st.text(
    max_size=6
)
PATTERNS = st.sampled_from(
    ["^[A-Z]{2}$", "(", "[", "a{99999999999}", "\\", "(?P<x>a)", "\\p{L}", "*", "(?<=a+)b", ""]
) | st.text(max_size=6)
REFS = st.sampled_from(
    [
        "#",
        "#/$defs/a",
        "#/nowhere",
        "other.json",
        "other.json#/a",
        "https://x.example/y",
        "%",
        "a%00b",
        "/abs",
        "",
        "#/properties/a",
        "#/components/schemas/A",
        "x" * 300,
        "#/paths/~1a",
    ]
)
TYPES = st.sampled_from(["object", "string", "integer", "number", "array", "boolean", "null"])


def json_schemas() -> st.SearchStrategy[Any]:
    leaf = st.booleans() | st.fixed_dictionaries(
        {},
        optional={
            "type": TYPES | st.lists(TYPES, max_size=2) | SCALARS,
            "pattern": PATTERNS,
            "$ref": REFS,
            "x-pii": st.booleans(),
            "format": st.sampled_from(["date-time", "email", "uuid", "nope"]),
            "minimum": st.integers() | st.floats() | SCALARS,
            "enum": st.lists(SCALARS, max_size=3),
            "maxLength": st.integers(-2, 10**6) | SCALARS,
        },
    )

    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.fixed_dictionaries(
            {},
            optional={
                "type": TYPES,
                "properties": st.dictionaries(PROPERTY_NAMES, children, max_size=4),
                "items": children,
                "allOf": st.lists(children, max_size=2),
                "$defs": st.dictionaries(st.sampled_from(["a", "b"]), children, max_size=2),
                "patternProperties": st.dictionaries(PATTERNS, children, max_size=2),
                "required": st.lists(PROPERTY_NAMES, max_size=3),
                "x-pii": st.booleans(),
                "$ref": REFS,
                "not": children,
            },
        )

    return st.recursive(leaf, extend, max_leaves=25)


SCHEMA = json_schemas()
PARAMETERS = (
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "name": st.sampled_from(["id", "x", "cursor"]) | SCALARS,
                "in": st.sampled_from(["path", "query", "header", "cookie", "body"]) | SCALARS,
                "required": st.booleans(),
                "schema": SCHEMA,
                "$ref": REFS,
            },
        ),
        max_size=3,
    )
    | JSONISH
)
OPERATION = st.fixed_dictionaries(
    {},
    optional={
        "operationId": st.text(max_size=8) | SCALARS,
        "parameters": PARAMETERS,
        "responses": st.dictionaries(
            st.sampled_from(["200", "201", "404", "default", "2XX", "abc"]),
            st.fixed_dictionaries(
                {"description": st.text(max_size=5)},
                optional={
                    "content": st.fixed_dictionaries(
                        {"application/json": st.fixed_dictionaries({"schema": SCHEMA})}
                    )
                },
            )
            | JSONISH,
            max_size=2,
        )
        | JSONISH,
        "requestBody": st.fixed_dictionaries({}, optional={"$ref": REFS, "content": JSONISH}),
    },
)
OPENAPI = st.fixed_dictionaries(
    {"openapi": st.sampled_from(["3.0.3", "3.1.0", "3.0.0", "3.1.1", "2.0", "3.1", ""]) | SCALARS},
    optional={
        "info": st.fixed_dictionaries(
            {"title": st.text(max_size=5), "version": st.sampled_from(["1", "1.0.0"]) | SCALARS}
        )
        | JSONISH,
        "paths": st.dictionaries(
            st.sampled_from(["/a", "/a/{id}", "/a/{id}/b/{x}", "/{}", "a", "/a/{id", "/{id}/{id}"]),
            st.fixed_dictionaries(
                {},
                optional={
                    "get": OPERATION,
                    "put": OPERATION,
                    "parameters": PARAMETERS,
                    "summary": SCALARS,
                },
            )
            | JSONISH,
            max_size=3,
        )
        | JSONISH,
        "components": st.fixed_dictionaries(
            {},
            optional={
                "schemas": st.dictionaries(st.sampled_from(["A", "B"]), SCHEMA, max_size=2),
                "parameters": st.dictionaries(st.sampled_from(["Id"]), JSONISH, max_size=1),
            },
        )
        | JSONISH,
    },
)

CONTRACT_ESTATE = """\
apiVersion: interlink/v1
kind: Team
metadata: {{name: t}}
---
apiVersion: interlink/v1
kind: System
metadata: {{name: s, owner: t}}
spec: {{domain: d}}
---
apiVersion: interlink/v1
kind: Api
metadata: {{name: a}}
spec: {{system: s, contract: {openapi}}}
---
apiVersion: interlink/v1
kind: Event
metadata: {{name: e}}
spec:
  system: s
  schemas: [{{version: 1, file: {schema}}}]
  orderingKey: {key}
  classification: {{level: {level}, pii: {pii}}}
"""


def dump(value: Any, path: Path) -> None:
    if path.suffix == ".json":
        path.write_text(json.dumps(value, default=str), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(value, allow_unicode=True), encoding="utf-8")


@FUZZ
@given(
    schema=SCHEMA,
    openapi=OPENAPI,
    draft=st.sampled_from(["https://json-schema.org/draft/2020-12/schema", "", "draft-07", 5]),
    schema_file=st.sampled_from(["e.schema.json", "e.schema.yaml"]),
    openapi_file=st.sampled_from(["openapi.yaml", "openapi.json"]),
    key=st.sampled_from(["customerId", "address.street", "a.b", "zzz"]),
    pii=st.lists(st.sampled_from(["customerId", "address.street", "a", "items.a"]), max_size=3),
    level=st.sampled_from(["internal", "confidential"]),
)
def test_random_contracts_are_reported_not_raised(
    schema: Any,
    openapi: Any,
    draft: object,
    schema_file: str,
    openapi_file: str,
    key: str,
    pii: list[str],
    level: str,
) -> None:
    if draft and isinstance(schema, dict):
        schema = {"$schema": draft, **schema}
    with scratch() as root:
        write(
            root,
            "estate.yaml",
            CONTRACT_ESTATE.format(
                openapi=openapi_file, schema=schema_file, key=key, level=level, pii=json.dumps(pii)
            ),
        )
        dump(schema, root / schema_file)
        dump(openapi, root / openapi_file)
        dump({"a": {"type": "string"}}, root / "other.json")
        result = check_estate(root)
        assert_located(result)
        assert {"Api/a", "Event/e"} <= set(result.estate.objects)


# --- the command never shows a traceback -----------------------------------------------------


def run_check_in_process(root: Path) -> tuple[int, str]:
    """`interlink check ROOT` through the real entry function, in this process."""
    out, err = io.StringIO(), io.StringIO()
    try:
        from interlink.cli.main import main
    except ImportError:  # pragma: no cover - another command module is not there yet
        from click.testing import CliRunner

        from interlink.cli.check import check_command

        result = CliRunner().invoke(check_command, [str(root)])
        assert result.exception is None or isinstance(result.exception, SystemExit)
        return result.exit_code, result.output
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(["check", str(root)])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
    return code, out.getvalue() + err.getvalue()


BROKEN: dict[str, list[tuple[str, str, str]]] = {
    "truncated": [
        (
            "gateway/routes.yaml",
            "  rewrite: {path: /customers}\n  upstreams:\n",
            "  rewrite: {path: /customers}\n  upstreams: [\n",
        )
    ],
    "bad-tag": [("apis.yaml", "version: 1", "version: !!int one")],
    "recursive-merge": [
        ("teams.yaml", "itself}\nspec:\n  members:", "itself}\nspec: &s\n  <<: *s\n  members:")
    ],
    "list-kind": [("platform.yaml", "kind: Platform", "kind: [Platform]\napiVersion_: x")],
    "infinite-duration": [("gateway/plans.yaml", "per: 1m}", "per: .inf}")],
    "huge-duration": [
        ("gateway/plans.yaml", "{requests: 10, per: 1s}", "{requests: 10, per: " + "9" * 400 + "s}")
    ],
    "nul-contract-path": [
        ("apis.yaml", "contract: contracts/customers-v1.openapi.yaml", 'contract: "a\\0b.yaml"')
    ],
    "long-contract-path": [
        ("apis.yaml", "contract: contracts/customers-v1.openapi.yaml", "contract: " + "a" * 300)
    ],
    "parameters-not-a-list": [
        (
            "contracts/customers-v1.openapi.yaml",
            "  /customers/{id}:\n    parameters:\n",
            "  /customers/{id}:\n    parameters: 5\n    x-was:\n",
        )
    ],
    "huge-regex-repeat": [
        ("contracts/customer.address-updated.v1.schema.json", "^C[0-9]{6}$", "a{99999999999}")
    ],
    "dangling-and-invalid": [
        ("apis.yaml", "new CRM.\n  owner: sales", "new CRM.\n  owner: sale"),
        ("contracts/customers-v1.openapi.yaml", "openapi: 3.0.3", "openapi: 9"),
    ],
}


def broken_estate(tmp: Path, name: str) -> Path:
    root = copy_retail(tmp / name)
    for file, old, new in BROKEN[name]:
        edit(root / file, old, new)
    return root


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_estates_check_with_findings(tmp_path: Path, name: str) -> None:
    result = check_estate(broken_estate(tmp_path, name))
    assert_located(result)
    assert result.errors, name


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_check_command_never_shows_a_traceback(tmp_path: Path, name: str) -> None:
    code, output = run_check_in_process(broken_estate(tmp_path, name))
    assert code == 1, output
    assert "Traceback" not in output
    assert "internal error" not in output
    assert "error:" in output


def test_deeply_nested_file_through_the_command(tmp_path: Path) -> None:
    root = copy_retail(tmp_path / "retail")
    (root / "deep.yaml").write_text("[" * 200_000 + "]" * 200_000)
    code, output = run_check_in_process(root)
    assert code == 1
    assert "deep.yaml:1:202: error: nested deeper than 200 levels" in output


@settings(FUZZ, max_examples=25)
@given(data=st.data())
def test_check_command_on_mutated_estates(data: st.DataObject) -> None:
    with scratch() as tmp:
        root = copy_retail(tmp / "retail")
        files = sorted(p for p in root.rglob("*") if p.is_file())
        mutate(data.draw(st.sampled_from(files), label="file"), data)
        code, output = run_check_in_process(root)
        assert code in (0, 1), output
        assert "Traceback" not in output
        assert "internal error" not in output


@pytest.mark.parametrize("name", ["truncated", "recursive-merge", "huge-regex-repeat"])
def test_real_entry_point_never_shows_a_traceback(tmp_path: Path, name: str) -> None:
    result = run_interlink(["check", str(broken_estate(tmp_path, name))])
    output = result.stdout + result.stderr
    assert result.returncode in (0, 1, 2), output
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert "internal error" not in output


def test_real_entry_point_on_random_bytes(tmp_path: Path) -> None:
    (tmp_path / "noise.yaml").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "text.yaml").write_text("kind: [\n{{{{\n")
    result = run_interlink(["check", str(tmp_path), "--format", "json"])
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert [(f["file"], f["code"]) for f in report["findings"]] == [
        ("noise.yaml", "YAML_ENCODING"),
        ("text.yaml", "YAML_SYNTAX"),
    ]
    result = run_interlink(["check", str(tmp_path / "missing")])
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
