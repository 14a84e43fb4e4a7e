"""The console's sessions in the store, on SQLite and PostgreSQL: only the id's hash kept, the
idle deadline pushed on at most once a minute and never past the session's end, sign-out, the
rows of ended sessions removed at the next sign-in, and the token looked up by id."""

from __future__ import annotations

from datetime import timedelta

import pytest

from interlink.errors import AuthError
from interlink.store import SessionExpired, Store
from interlink.store.console_sessions import session_digest
from tests.integration.test_store import FakeClock, clock, open_stores, store  # noqa: F401

IDLE = timedelta(minutes=30)
LIFETIME = timedelta(hours=2)


def rows(store: Store) -> list[tuple[str, str]]:  # noqa: F811 - the fixture's name
    with store.db.session() as session:
        return [
            tuple(r) for r in session.fetchall("SELECT id_hash, token_id FROM console_sessions")
        ]


def test_a_session_keeps_only_its_hash_and_ends_on_sign_out(
    store: Store,  # noqa: F811 - the fixture
) -> None:
    _, token = store.tokens.create("viewer", "ada")
    session_id = store.console_sessions.open(token.id, IDLE, LIFETIME)
    assert len(session_id) >= 43
    assert rows(store) == [(session_digest(session_id), token.id)]
    assert store.console_sessions.resume(session_id, IDLE).token_id == token.id
    store.console_sessions.close(session_id)
    with pytest.raises(SessionExpired, match="has ended: sign in again"):
        store.console_sessions.resume(session_id, IDLE)
    with pytest.raises(SessionExpired):
        store.console_sessions.resume("not-a-session", IDLE)


def test_use_keeps_a_session_alive_until_its_end(
    store: Store,  # noqa: F811 - the fixture
    clock: FakeClock,  # noqa: F811 - the fixture
) -> None:
    _, token = store.tokens.create("viewer", "ada")
    session_id = store.console_sessions.open(token.id, IDLE, LIFETIME)
    first = store.console_sessions.resume(session_id, IDLE)
    assert first.idle_until == clock.now + IDLE
    clock.advance(30)  # within a minute: the deadline is not rewritten
    assert store.console_sessions.resume(session_id, IDLE).idle_until == first.idle_until
    for _ in range(4):  # used every 25 minutes: past the idle limit in total, still alive
        clock.advance(25 * 60)
        pushed = store.console_sessions.resume(session_id, IDLE)
        assert pushed.idle_until == min(clock.now + IDLE, pushed.ends_at)
    clock.advance(pushed.ends_at.timestamp() - clock.now.timestamp())
    with pytest.raises(SessionExpired, match="expired: sign in again"):
        store.console_sessions.resume(session_id, IDLE)
    assert rows(store) == []  # an expired session's row goes at once


def test_an_idle_session_expires_and_sign_in_removes_ended_ones(
    store: Store,  # noqa: F811 - the fixture
    clock: FakeClock,  # noqa: F811 - the fixture
) -> None:
    _, token = store.tokens.create("viewer", "ada")
    idle = store.console_sessions.open(token.id, IDLE, LIFETIME)
    forgotten = store.console_sessions.open(token.id, IDLE, LIFETIME)
    clock.advance(IDLE.total_seconds())
    with pytest.raises(SessionExpired):
        store.console_sessions.resume(idle, IDLE)
    assert rows(store) == [(session_digest(forgotten), token.id)]
    fresh = store.console_sessions.open(token.id, IDLE, LIFETIME)
    assert rows(store) == [(session_digest(fresh), token.id)]


def test_a_sessions_token_is_read_by_id(
    store: Store,  # noqa: F811 - the fixture
    clock: FakeClock,  # noqa: F811 - the fixture
) -> None:
    store.tokens.create("admin", "root")
    _, token = store.tokens.create("viewer", "ada", expires_in=timedelta(hours=1))
    assert store.tokens.active(token.id).name == "ada"
    clock.advance(3600)
    with pytest.raises(AuthError, match="expired at"):
        store.tokens.active(token.id)
    _, other = store.tokens.create("operator", "bob")
    store.tokens.revoke(other.id)
    with pytest.raises(AuthError, match="unknown or revoked"):
        store.tokens.active(other.id)
    with pytest.raises(AuthError, match="unknown or revoked"):
        store.tokens.active("nosuchid")
