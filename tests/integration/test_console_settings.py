"""The console's session timeouts as Platform settings: defaults as before, validated, and read
by sign-in and by every page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from interlink.admin.console.session import COOKIE
from interlink.estate.kinds.organisation import ConsoleSettings, PlatformSpec
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from tests.integration.test_console import Console


def test_defaults_are_thirty_minutes_idle_and_twelve_hours() -> None:
    settings = PlatformSpec().console
    assert (settings.idle_timeout, settings.session_lifetime) == (1800.0, 43200.0)
    parsed = ConsoleSettings.model_validate({"idleTimeout": "5m", "sessionLifetime": "1h"})
    assert (parsed.idle_timeout, parsed.session_lifetime) == (300.0, 3600.0)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"idleTimeout": "2h", "sessionLifetime": "1h"}, "longer than sessionLifetime"),
        ({"idleTimeout": "10s"}, "greater than or equal to 60"),
        ({"sessionLifetime": "60d"}, "less than or equal to 2592000"),
        ({"idleTimeout": "soon"}, "soon"),
        ({"idle": "5m"}, "idle"),
    ],
)
def test_bad_timeouts_are_refused(given: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ConsoleSettings.model_validate(given)


@pytest.fixture
def short_sessions(retail_dir: Path, store_url: str) -> Iterator[Console]:
    platform = retail_dir / "platform.yaml"
    platform.write_text(
        platform.read_text() + "  console:\n    idleTimeout: 5m\n    sessionLifetime: 1h\n"
    )
    runtime = Runtime.open(ServeSettings(retail_dir, store_url=store_url))
    yield Console(runtime)
    runtime.close()


def test_sign_in_and_pages_follow_the_platform_settings(short_sessions: Console) -> None:
    console = short_sessions
    client = console.sign_in(console.viewer)
    db = console.runtime.store.db

    def deadlines() -> tuple[timedelta, timedelta]:
        with db.session() as session:
            row = session.fetchone("SELECT created_at, idle_until, ends_at FROM console_sessions")
        assert row is not None
        created = db.dt(row[0])
        return db.dt(row[1]) - created, db.dt(row[2]) - created

    assert deadlines() == (timedelta(minutes=5), timedelta(hours=1))
    with db.session() as session:  # used 4 minutes after sign-in
        session.execute(
            "UPDATE console_sessions SET created_at = ?, idle_until = ?",
            (db.ts(db.now() - timedelta(minutes=4)), db.ts(db.now() + timedelta(minutes=1))),
        )
    assert client.get("/console/runs").status_code == 200
    idle, _ = deadlines()
    assert timedelta(minutes=8, seconds=59) <= idle <= timedelta(minutes=9, seconds=1)
    assert COOKIE in client.cookies
