"""What `interlink serve --watch` reloads for: estate files, never the platform's own."""

from __future__ import annotations

from pathlib import Path

from interlink.runtime.watching import estate_changes
from interlink.store import default_store_url


def test_estate_files_count_even_under_a_hidden_folder(tmp_path: Path) -> None:
    root = tmp_path / ".interlink" / "demo"  # where `interlink demo` keeps its estate
    wanted = estate_changes(root, default_store_url(root))
    assert wanted(None, str(root / "apis.yaml"))
    assert wanted(None, str(root / "contracts" / "customers-v1.openapi.yaml"))


def test_the_store_the_bus_and_hidden_files_do_not(tmp_path: Path) -> None:
    root = tmp_path / "estate"
    wanted = estate_changes(root, default_store_url(root))
    for name in (
        ".interlink/interlink.db",
        ".interlink/interlink.db-wal",
        ".interlink/events.db-shm",
        ".secrets/mobile-jwt-key",
        ".apis.yaml.swp",
    ):
        assert not wanted(None, str(root / name)), name
    own = root / "state" / "store.db"  # a store the estate keeps in a folder of its own
    wanted = estate_changes(root, f"sqlite:///{own}")
    for suffix in ("", "-wal", "-shm", "-journal"):
        assert not wanted(None, f"{own}{suffix}"), suffix
    assert wanted(None, str(root / "state" / "notes.yaml"))
    assert wanted(None, str(root / "apis.yaml"))
