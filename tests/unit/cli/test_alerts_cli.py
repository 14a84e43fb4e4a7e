"""`interlink alerts list|silence|unsilence|silences` on the retail example's store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from interlink.cli.admin import open_estate_store
from interlink.cli.main import main


def interlink(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_list_silence_and_lift(retail_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    estate = ("--estate", str(retail_dir))
    assert interlink(capsys, "alerts", "list", *estate)[1] == "no firing alerts\n"
    with open_estate_store(retail_dir, None) as store:
        alert, _ = store.alerts.fire(
            "customers-availability",
            type="slo",
            severity="critical",
            target="Route/customers",
            summary="The customers route is failing 3% of requests. Owner: Sales.",
            detail="Monitor customers-availability …",
            facts={},
            at=datetime.now(UTC),
        )
        store.alerts.enqueue(
            alert.id,
            "firing",
            [("sales", {"type": "email", "to": "a@example.com"})],
            store.db.now(),
        )

    code, out, _ = interlink(
        capsys, "alerts", "silence", "customers-availability", "--for", "2h", "--reason",
        "CRM upgrade", *estate,
    )  # fmt: skip
    assert code == 0
    assert out.startswith("silence 1: monitor customers-availability until ")

    code, out, _ = interlink(capsys, "alerts", "list", *estate)
    header, row = out.splitlines()
    assert header.split() == [
        "ID",
        "STATE",
        "SEVERITY",
        "MONITOR",
        "SINCE",
        "(UTC)",
        "TOLD",
        "SUMMARY",
    ]
    assert row.split()[:5] == ["1", "firing", "(silenced)", "critical", "customers-availability"]
    assert "pending" in row
    assert row.endswith("The customers route is failing 3% of requests. Owner: Sales.")

    code, out, _ = interlink(
        capsys, "alerts", "list", "--state", "all", "--format", "json", *estate
    )
    [shown] = json.loads(out)["alerts"]
    assert shown["silenced_by"] == 1
    assert shown["notifications"][0]["channel"] == "email a@example.com"

    code, out, _ = interlink(capsys, "alerts", "silences", *estate)
    assert "monitor customers-availability" in out
    assert "CRM upgrade" in out
    assert interlink(capsys, "alerts", "unsilence", "1", *estate)[:2] == (0, "silence 1 lifted\n")
    assert interlink(capsys, "alerts", "silences", *estate)[1] == "no silences\n"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("customers-availabilty", "--for", "2h", "--reason", "x"),
         "no Monitor 'customers-availabilty' in the estate "
         "(did you mean 'customers-availability'?)"),
        (("customers-availability", "--for", "soon", "--reason", "x"),
         "--for 'soon': give a duration such as 2h, 30m or 1d"),
        (("customers-availability", "--for", "40d", "--reason", "x"),
         "a silence lasts more than nothing and at most 30 days"),
        (("--for", "2h", "--reason", "x"), "name a MONITOR or give --target Kind/name"),
        (("--target", "Route/nope", "--for", "2h", "--reason", "x"),
         "no Route 'nope' in the estate"),
    ],
)  # fmt: skip
def test_bad_silences_are_one_line_and_exit_2(
    retail_dir: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], said: str
) -> None:
    code, _, err = interlink(capsys, "alerts", "silence", *args, "--estate", str(retail_dir))
    assert code == 2
    assert err.startswith(f"interlink: error: {said}")
    assert len(err.splitlines()) == 1


def test_unsilencing_what_is_not_silenced(
    retail_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = interlink(capsys, "alerts", "unsilence", "7", "--estate", str(retail_dir))
    assert (code, err) == (2, "interlink: error: no active silence 7\n")
