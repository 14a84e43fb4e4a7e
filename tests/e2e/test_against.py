"""`interlink check --against GIT_REF` on a real git repository."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from interlink.cli.estate import write_example
from interlink.testing.processes import run_interlink

# Checked as of a day before the example's sunset (2027-06-30), so the calendar changes nothing.
ON = ("--date", "2026-11-22")


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose first commit holds the retail estate under estate/."""
    git(tmp_path, "init", "-q")
    write_example("retail", tmp_path / "estate")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "retail")
    return tmp_path


def add_schema_version(estate: Path, version: int, change: dict[str, object]) -> None:
    latest = estate / "contracts" / "customer.address-updated.v2.schema.json"
    schema = json.loads(latest.read_text())
    schema.update(change)
    name = f"customer.address-updated.v{version}.schema.json"
    (estate / "contracts" / name).write_text(json.dumps(schema, indent=2))
    event = estate / "events" / "customer-address-updated.yaml"
    line = f"    - {{version: {version}, file: ../contracts/{name}}}\n"
    text = event.read_text().replace("  compatibility:", line + "  compatibility:")
    event.write_text(text)


def test_unchanged_estate_passes(repo: Path) -> None:
    result = run_interlink(["check", str(repo / "estate"), "--against", "HEAD", *ON])
    assert result.returncode == 0, result.stdout


def test_breaking_api_change_inside_a_major_version_fails(repo: Path) -> None:
    contract = repo / "estate" / "contracts" / "customers-v1.openapi.yaml"
    contract.write_text(
        contract.read_text().replace("                  next: {type: string, nullable: true}\n", "")
    )
    result = run_interlink(["check", str(repo / "estate"), "--against", "HEAD", *ON])
    assert result.returncode == 1
    assert (
        "apis.yaml:10:13: error: Api/customers-v1: 1 breaking change(s) inside major "
        "version 1 (publish them as a new Api with version: 2)"
    ) in result.stdout
    assert "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL" in result.stdout


def test_a_new_major_version_may_break(repo: Path) -> None:
    estate = repo / "estate"
    contract = estate / "contracts" / "customers-v1.openapi.yaml"
    contract.write_text(
        contract.read_text().replace("                  next: {type: string, nullable: true}\n", "")
    )
    apis = estate / "apis.yaml"
    apis.write_text(apis.read_text().replace("version: 1", "version: 2"))
    assert run_interlink(["check", str(estate), "--against", "HEAD", *ON]).returncode == 0


def test_schema_versions_follow_the_compatibility_mode(repo: Path) -> None:
    estate = repo / "estate"
    add_schema_version(estate, 3, {"title": "v3", "required": ["customerId", "address"]})
    ok = run_interlink(["check", str(estate), "--against", "HEAD", *ON])
    assert ok.returncode == 0, ok.stdout  # dropping a required field reads old data fine
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v3")
    add_schema_version(
        estate, 4, {"title": "v4", "required": ["customerId", "address", "changedAt", "changedBy"]}
    )
    result = run_interlink(["check", str(estate), "--against", "HEAD", "--format", "json", *ON])
    assert result.returncode == 1
    findings = json.loads(result.stdout)["findings"]
    (finding,) = [f for f in findings if f["severity"] == "error"]
    assert finding["code"] == "SCHEMA_INCOMPATIBLE"
    assert any("REQUIRED_ATTRIBUTE_ADDED" in d for d in finding["details"])


def test_a_published_schema_version_is_immutable(repo: Path) -> None:
    v1 = repo / "estate" / "contracts" / "customer.address-updated.v1.schema.json"
    v1.write_text(v1.read_text().replace('"maxLength": 100', '"maxLength": 80'))
    result = run_interlink(
        ["check", str(repo / "estate"), "--against", "HEAD", "--format", "markdown", *ON]
    )
    assert result.returncode == 1
    assert result.stdout.startswith("### ❌ interlink check against `HEAD`")
    assert "schema version 1 was changed after publication" in result.stdout


def test_bad_ref_and_no_repository_are_one_line(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    bad = run_interlink(["check", str(repo / "estate"), "--against", "no-such-ref"])
    assert bad.returncode == 2
    assert bad.stderr.strip() == "interlink: error: unknown git ref 'no-such-ref'"
    outside = tmp_path_factory.mktemp("plain")
    write_example("retail", outside / "estate")
    result = run_interlink(["check", str(outside / "estate"), "--against", "HEAD", *ON])
    assert result.returncode == 2
    assert "is not inside a git repository" in result.stderr


def test_a_change_lists_the_approvals_other_teams_must_give(repo: Path) -> None:
    estate = repo / "estate"
    routes = estate / "gateway" / "routes.yaml"
    routes.write_text(routes.read_text().replace("maxConcurrent: 200", "maxConcurrent: 100"))
    plans = estate / "gateway" / "plans.yaml"
    plans.write_text(plans.read_text().replace("daily: 200000", "daily: 100000"))
    result = run_interlink(["check", str(estate), "--against", "HEAD", *ON])
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    at = lines.index("Approvals needed")
    assert lines[at + 1 :] == [
        "  Team/platform (@retail/platform): changed Plan/partner",
        "  Team/sales (@retail/sales): changed Route/customers",
    ]
    # The sales team changing its own route needs only the platform team's approval.
    mine = run_interlink(
        ["check", str(estate), "--against", "HEAD", "--team", "sales", "--format", "json", *ON]
    )
    assert json.loads(mine.stdout)["approvals"] == [
        {
            "team": "platform",
            "codeowners": ["@retail/platform"],
            "changes": ["changed Plan/partner"],
        }
    ]


def test_a_contract_edit_needs_its_owner_and_an_unchanged_estate_none(repo: Path) -> None:
    estate = repo / "estate"
    assert (
        "Approvals: the change touches no other Team's objects"
        in run_interlink(["check", str(estate), "--against", "HEAD", *ON]).stdout
    )
    contract = estate / "contracts" / "customers-v1.openapi.yaml"
    contract.write_text(contract.read_text() + "\n# a comment changes nothing\n")
    assert (
        "Approvals: the change touches"
        in run_interlink(["check", str(estate), "--against", "HEAD", *ON]).stdout
    )
    contract.write_text(contract.read_text().replace("version:", "x-note: reviewed\n  version:", 1))
    result = run_interlink(["check", str(estate), "--against", "HEAD", "--format", "markdown", *ON])
    assert "#### Approvals needed" in result.stdout
    assert "| sales | @retail/sales | changed Api/customers-v1 |" in result.stdout


def test_export_codeowners_gives_each_file_to_its_teams(repo: Path) -> None:
    result = run_interlink(["export", "codeowners", str(repo / "estate")])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "/estate/teams.yaml @retail/platform @retail/sales" in lines
    assert "/estate/contracts/customers-v1.openapi.yaml @retail/sales" in lines
    assert "/estate/policies.yaml @retail/platform" in lines
    # finance, logistics and analytics name no codeowners: said on stderr, no line for them
    assert "interlink: warning: Team/logistics has no spec.codeowners" in result.stderr
    assert not any(line.startswith("/estate/systems/operations.yaml") for line in lines)
    assert lines[0].startswith("# Generated by `interlink export codeowners`")
