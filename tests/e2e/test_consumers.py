"""`interlink consumers key create|list|revoke` through the real entry point."""

from __future__ import annotations

from pathlib import Path

from interlink.store import open_store
from interlink.store.keyring import KeyRing
from interlink.testing.processes import run_interlink


def test_key_lifecycle(retail_dir: Path) -> None:
    created = run_interlink(
        ["consumers", "key", "create", "acme-logistics", "--name", "ci", "--expires", "30d"],
        cwd=retail_dir,
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("ik_")
    assert "shown once" in created.stderr
    assert key not in created.stderr

    listed = run_interlink(["consumers", "key", "list", "--estate", str(retail_dir)])
    (line,) = listed.stdout.splitlines()
    key_id = line.split()[0]
    assert key.startswith(f"ik_{key_id}_")
    assert "acme-logistics" in line
    assert " active " in line
    assert key.split("_", 2)[2] not in listed.stdout

    with open_store(f"sqlite:///{retail_dir / '.interlink' / 'interlink.db'}") as store:
        ring = KeyRing(store)
        ring.refresh()
        found = ring.verify(key)
        assert found is not None
        assert found.consumer == "acme-logistics"

    revoked = run_interlink(["consumers", "key", "revoke", key_id, "--estate", str(retail_dir)])
    assert revoked.stdout.strip() == f"revoked {key_id}"
    listed = run_interlink(["consumers", "key", "list", "acme-logistics"], cwd=retail_dir)
    assert " revoked " in listed.stdout


def test_bad_input_is_one_line(retail_dir: Path) -> None:
    unknown = run_interlink(["consumers", "key", "create", "acme-logistic"], cwd=retail_dir)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        "interlink: error: no Consumer 'acme-logistic' in the estate "
        "(did you mean 'acme-logistics'?)"
    )
    expiry = run_interlink(
        ["consumers", "key", "create", "mobile-app", "--expires", "soon"], cwd=retail_dir
    )
    assert expiry.returncode == 2
    assert expiry.stderr.strip() == (
        "interlink: error: --expires 'soon': give a duration (30d, 12h) or an ISO date (2027-01-31)"
    )
    missing = run_interlink(["consumers", "key", "revoke", "nope"], cwd=retail_dir)
    assert missing.returncode == 2
    assert missing.stderr.strip() == "interlink: error: key 'nope' not found"
