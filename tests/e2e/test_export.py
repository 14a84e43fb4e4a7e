"""`interlink export` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from interlink.testing.processes import run_interlink
from tests.unit.contracts.export_helpers import asyncapi_errors


def test_asyncapi_to_a_json_file(retail_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "asyncapi.json"
    result = run_interlink(["export", "asyncapi", str(retail_dir), "--output", str(target)])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {target}"
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert asyncapi_errors(doc) == []
    assert doc["info"]["title"] == "retail"
    assert len(doc["info"]["version"]) == 12  # a short content hash of the estate
    assert list(doc["channels"]) == ["customer.address-updated", "order.confirmed", "order.placed"]
    assert len(doc["operations"]) == 7  # a send per event, a receive per subscription


def test_asyncapi_version_follows_the_estate(retail_dir: Path) -> None:
    def version() -> str:
        result = run_interlink(["export", "asyncapi", str(retail_dir), "--format", "json"])
        assert result.returncode == 0, result.stderr
        value: str = json.loads(result.stdout)["info"]["version"]
        return value

    before = version()
    assert version() == before
    teams = retail_dir / "teams.yaml"
    teams.write_text(teams.read_text().replace("Runs Interlink itself", "Runs the platform"))
    assert version() != before


def test_backstage_catalog_on_stdout(retail_dir: Path) -> None:
    result = run_interlink(["export", "backstage", "."], cwd=retail_dir)
    assert result.returncode == 0, result.stderr
    entities = list(yaml.safe_load_all(result.stdout))
    assert len(entities) == 40
    apis = {e["metadata"]["name"]: e["spec"] for e in entities if e["kind"] == "API"}
    assert apis["customers-v1"]["definition"] == {"$text": "./contracts/customers-v1.openapi.yaml"}


def test_backstage_inline_definitions(retail_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "catalog-info.yaml"
    result = run_interlink(["export", "backstage", str(retail_dir), "-o", str(target), "--inline"])
    assert result.returncode == 0, result.stderr
    entities = list(yaml.safe_load_all(target.read_text(encoding="utf-8")))
    api = next(e for e in entities if e["metadata"]["name"] == "customers-v2")
    assert api["spec"]["definition"].startswith("openapi: 3.0.3\n")


def test_openapi_of_a_route(retail_dir: Path) -> None:
    result = run_interlink(
        [
            "export",
            "openapi",
            "customers",
            str(retail_dir),
            "--format",
            "json",
            "--server",
            "https://api.example.com",
        ]
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["servers"][0]["url"] == "https://api.example.com"
    assert "/api/customers/{id}" in doc["paths"]
    assert doc["paths"]["/api/customers/{id}"]["get"]["deprecated"] is True


def test_openapi_of_a_publish_route_as_yaml(retail_dir: Path) -> None:
    result = run_interlink(["export", "openapi", "address-changes", str(retail_dir)])
    assert result.returncode == 0, result.stderr
    doc = yaml.safe_load(result.stdout)
    assert doc["openapi"] == "3.1.0"
    assert "202" in doc["paths"]["/api/address-changes"]["post"]["responses"]


def test_an_unknown_route_is_one_line_and_exit_2(retail_dir: Path) -> None:
    result = run_interlink(["export", "openapi", "custmers", str(retail_dir)])
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "interlink: error: unknown route 'custmers' (did you mean 'customers'?)\n"
    )


def test_a_broken_estate_is_not_exported(retail_dir: Path) -> None:
    apis = retail_dir / "apis.yaml"
    apis.write_text(apis.read_text().replace("owner: sales", "owner: sale", 1))
    for args in (["asyncapi"], ["backstage"], ["openapi", "customers"]):
        result = run_interlink(["export", *args, str(retail_dir)])
        assert result.returncode == 1, args
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert lines[0] == "apis.yaml"
        assert lines[1].startswith("  apis.yaml:7:10: error: Api/customers-v1 refers to Team/sale")
        assert lines[-1].startswith("53 objects in 23 files: 1 error,")
        assert "Traceback" not in result.stderr


def test_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    result = run_interlink(["export", "backstage", str(tmp_path / "missing")])
    assert result.returncode == 2
    assert result.stderr == f"interlink: error: {tmp_path / 'missing'}: no such file or directory\n"
