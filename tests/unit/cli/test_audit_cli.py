"""`interlink audit verify|list|export`, and the audit entries of the commands that change the
store directly (tokens, keys, silences, flow runs), on the retail example's store."""

from __future__ import annotations

import getpass
import json
import socket
from pathlib import Path

import pytest

from interlink.cli.admin import open_estate_store
from interlink.cli.main import main


def interlink(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def entries(
    capsys: pytest.CaptureFixture[str], estate: Path, *args: str
) -> list[dict[str, object]]:
    code, out, _ = interlink(capsys, "audit", "export", "--estate", str(estate), *args)
    assert code == 0
    return [json.loads(line) for line in out.splitlines()]


def test_local_commands_are_recorded(retail_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    estate = ("--estate", str(retail_dir))
    code, token, _ = interlink(capsys, "admin", "token", "create", "--name", "ci", *estate)
    assert code == 0
    token = token.strip()
    token_id = token.split("_")[1]
    assert interlink(capsys, "admin", "token", "revoke", token_id, *estate)[0] == 0
    assert interlink(capsys, "admin", "token", "revoke", "nosuchid", *estate)[0] == 2
    code, key, _ = interlink(capsys, "consumers", "key", "create", "webshop", *estate)
    assert code == 0
    key = key.strip()
    key_id = key.split("_")[1]
    assert interlink(capsys, "consumers", "key", "revoke", key_id, *estate)[0] == 0
    silence = ("customers-availability", "--for", "1h", "--reason", "upgrade")
    assert interlink(capsys, "alerts", "silence", *silence, *estate)[0] == 0
    assert interlink(capsys, "alerts", "unsilence", "1", *estate)[0] == 0
    assert interlink(capsys, "flows", "cancel", "nosuchrun", *estate)[0] == 2
    assert interlink(capsys, "flows", "resume", *estate)[0] == 0

    found = entries(capsys, retail_dir)
    assert [(e["action"], e["target"], e["result"]) for e in found] == [
        ("token.create", f"token/{token_id}", "ok"),
        ("token.revoke", f"token/{token_id}", "ok"),
        ("token.revoke", "token/nosuchid", "failed"),
        ("consumer_key.create", "consumer/webshop", "ok"),
        ("consumer_key.revoke", f"key/{key_id}", "ok"),
        ("alert.silence", "monitor/customers-availability", "ok"),
        ("alert.unsilence", "silence/1", "ok"),
        ("flow.cancel", "run/nosuchrun", "failed"),
        ("flow.resume", "flow/*", "ok"),
    ]
    where = f"{getpass.getuser()}@{socket.gethostname()}"
    assert {(e["who"]["name"], e["address"]) for e in found} == {("cli-local", where)}  # type: ignore[index]
    assert found[3]["details"] == {"expires": None, "key_id": key_id, "name": "default"}
    text = json.dumps(found)
    assert token not in text
    assert key not in text


def test_list_filters_and_verify(retail_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    estate = ("--estate", str(retail_dir))
    for name in ("a", "b", "c"):
        interlink(capsys, "admin", "token", "create", "--name", name, *estate)
    code, out, _ = interlink(capsys, "audit", "list", "--limit", "2", *estate)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[0] == "2"
    assert "token.create" in lines[1]
    assert "cli-local from " in lines[1]
    assert interlink(capsys, "audit", "list", "--action", "token.revoke", *estate)[1] == ""
    code, out, _ = interlink(
        capsys, "audit", "list", "--since", "1h", "--who", "cli-local", *estate
    )
    assert len(out.splitlines()) == 3
    code, _, err = interlink(capsys, "audit", "list", "--since", "yesterday", *estate)
    assert code == 2
    assert err.startswith("interlink: error: --since 'yesterday'")

    code, out, _ = interlink(capsys, "audit", "verify", *estate)
    assert code == 0
    assert out.startswith("audit log intact: 3 entries, head 3 ")

    target = retail_dir / "audit.jsonl"
    code, _, err = interlink(capsys, "audit", "export", "-o", str(target), *estate)
    assert (code, err) == (0, f"3 entries written to {target}\n")
    exported = [json.loads(line) for line in target.read_text().splitlines()]
    assert [e["seq"] for e in exported] == [1, 2, 3]
    assert exported[1]["prev_hash"] == exported[0]["hash"]

    with open_estate_store(retail_dir, None) as store, store.db.transaction() as session:
        session.execute("DELETE FROM audit_log WHERE seq = 2")
    code, out, err = interlink(capsys, "audit", "verify", *estate)
    assert (code, out) == (1, "")
    assert err == "interlink: audit log broken: entry 2 is missing before entry 3: deleted\n"


def test_the_demos_credentials_are_recorded(retail_dir: Path) -> None:
    from interlink.cli.demo import backoffice_token, fresh_credentials

    with open_estate_store(retail_dir, None) as store:
        first = fresh_credentials(store)
        again = fresh_credentials(store)
        backoffice_token(store)
        found = [(e.action, e.result, e.who_name) for e in store.audit.entries()]
        text = repr(list(store.audit.entries()))
    # a token and four keys, then the same again with the earlier five revoked (a new token before
    # the old is revoked: the last admin token cannot be), then one token
    assert [a for a, _, _ in found] == [
        "token.create",
        *["consumer_key.create"] * 4,
        "token.create",
        "token.revoke",
        *["consumer_key.revoke", "consumer_key.create"] * 4,
        "token.create",
    ]
    assert {(r, w) for _, r, w in found} == {("ok", "cli-local")}
    for secret in (*first, *again):
        assert secret not in text
