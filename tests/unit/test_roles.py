"""The dataplane role admits only itself (the ranked roles are pinned in test_store.py)."""

from __future__ import annotations

import pytest

from interlink.errors import ConfigError
from interlink.store import ROLES, role_allows
from interlink.store.admin_tokens import as_role


@pytest.mark.parametrize("other", ["viewer", "operator", "admin"])
def test_dataplane_admits_only_itself(other: str) -> None:
    role = as_role(other)
    assert not role_allows("dataplane", role)
    assert not role_allows(role, "dataplane")
    assert role_allows("dataplane", "dataplane")


def test_every_role_is_known_and_others_are_refused() -> None:
    assert ROLES == ("viewer", "operator", "admin", "dataplane")
    with pytest.raises(ConfigError, match="use one of viewer, operator, admin, dataplane"):
        as_role("superuser")
