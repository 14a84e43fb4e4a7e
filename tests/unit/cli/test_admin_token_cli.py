"""`interlink admin token create|list|revoke` with teams, expiry and the name rules, on the
retail example's store."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlink.cli.admin import open_estate_store
from interlink.cli.main import main


def interlink(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_a_team_token_with_an_expiry(retail_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    estate = ("--estate", str(retail_dir))
    code, out, err = interlink(
        capsys, "admin", "token", "create", "--role", "operator", "--team", "sales",
        "--expires-in", "30d", "sales-oncall", *estate,
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("il_")
    assert "(operator of team sales, expires 20" in err
    with open_estate_store(retail_dir, None) as store:
        info = store.tokens.check(out.strip())
        assert (info.team, info.name) == ("sales", "sales-oncall")
        assert info.expires_at is not None
        assert (info.expires_at - info.created_at).days == 30

    code, out, _ = interlink(capsys, "admin", "token", "list", *estate)
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["ID", "ROLE", "TEAM", "STATE", "EXPIRES", "USED", "NAME"]
    assert row.split()[1:4] == ["operator", "sales", "active"]
    assert row.split()[-1] == "sales-oncall"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--team", "sales", "--role", "admin", "x"],
            "admin tokens are platform-wide: only viewer and operator tokens take a team",
        ),
        (["--team", "sale", "x"], "no Team 'sale' (did you mean 'sales'?)"),
        (["--expires-in", "soon", "x"], "--expires-in: expected a duration like"),
        (["--expires-in", "0s", "x"], "more than nothing and at most 3650 days"),
        (["bad name"], "token name 'bad name' is not allowed"),
        (["--name", "x", "y"], "name the token once: as NAME or with --name"),
        ([], "name the token once"),
    ],
)
def test_what_create_refuses(
    retail_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = interlink(
        capsys, "admin", "token", "create", *args, "--estate", str(retail_dir)
    )
    assert code != 0
    assert out == ""
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_the_last_platform_admin_is_kept(
    retail_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    estate = ("--estate", str(retail_dir))
    code, _, err = interlink(capsys, "admin", "token", "create", "--role", "admin", "root", *estate)
    assert code == 0
    token_id = err.split()[1]
    code, _, err = interlink(capsys, "admin", "token", "revoke", token_id, *estate)
    assert code != 0
    assert f"token {token_id} is the last active platform admin" in err
    assert interlink(capsys, "admin", "token", "create", "--role", "admin", "next", *estate)[0] == 0
    assert interlink(capsys, "admin", "token", "revoke", token_id, *estate)[1] == (
        f"revoked {token_id}\n"
    )
