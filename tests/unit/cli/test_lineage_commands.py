"""`interlink lineage trace` and `interlink compliance ropa` on the retail example."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from interlink.cli.main import main
from interlink.store import Hop, default_store_url, open_store

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def interlink(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_trace_tells_a_customers_hops_or_that_there_are_none(
    retail_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_store(default_store_url(retail_dir)) as store:
        store.migrate()
        store.lineage.record(
            [
                Hop("customer", "C000042", AT, "published", "System/crm", "Event/e"),
                Hop("customer", "C000042", AT, "delivered", "Subscription/s", "System/erp"),
            ]
        )
    estate = ("--estate", str(retail_dir))
    code, out, _ = interlink(capsys, "lineage", "trace", "customer", "C000042", *estate)
    assert code == 0
    assert out.splitlines()[0] == "customer C000042: 2 hop(s)"
    code, out, _ = interlink(
        capsys, "lineage", "trace", "customer", "C000042", "--format", "graph", *estate
    )
    assert out.splitlines()[1:4] == ["flowchart LR", '    n0["System/crm"]', '    n1["Event/e"]']
    code, out, _ = interlink(
        capsys, "lineage", "trace", "customer", "C000042", "--format", "json", *estate
    )
    assert len(json.loads(out)["hops"]) == 2
    code, out, _ = interlink(
        capsys, "lineage", "trace", "customer", "C000042", "--since", "1d", *estate
    )
    assert (code, out) == (0, out)
    assert out.startswith("no record of customer C000042 since ")
    code, out, err = interlink(capsys, "lineage", "trace", "client", "C1", *estate)
    assert code == 2
    assert err == (
        "interlink: error: no Event or DataProduct declares subject type 'client'; "
        "declared: customer, and DataProduct for product reads\n"
    )
    code, _, err = interlink(capsys, "lineage", "trace", "customer", "C1", "--since", "x", *estate)
    assert code == 2
    assert "--since 'x'" in err


def test_ropa_is_markdown_or_json_from_the_estate(
    retail_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = interlink(capsys, "compliance", "ropa", "--estate", str(retail_dir))
    assert code == 0
    assert out.startswith("# Record of processing activities\n")
    assert "| Data subjects | customer |" in out
    target = tmp_path / "ropa.json"
    code, _, err = interlink(
        capsys, "compliance", "ropa", "--estate", str(retail_dir), "--format", "json", "-o",
        str(target),
    )  # fmt: skip
    assert code == 0
    record = json.loads(target.read_text(encoding="utf-8"))
    activity = next(a for a in record["activities"] if a["name"] == "customer.address-updated")
    assert activity["dataSubjects"] == ["customer"]
    assert activity["personalData"]["categories"] == ["contact"]
    assert activity["purposes"] == ["delivery of orders", "customer service"]
    assert {r["system"] for r in activity["recipients"]} >= {"logistics", "erp"}
    code, _, err = interlink(capsys, "compliance", "ropa", "--estate", str(tmp_path / "none"))
    assert code == 2
    assert err.startswith("interlink: error: ")
