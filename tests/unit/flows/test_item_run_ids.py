"""A consumed item's run id is the UUID 5 of its trigger and key, computed without building
a UUID: the same ids as before, so an item redelivered across an upgrade starts no new run."""

from __future__ import annotations

import uuid

import pytest

from interlink.flows.triggers.sources import _NAMESPACE, batch_run_id, item_run_id


@pytest.mark.parametrize(
    ("trigger", "key"),
    [
        ("relay:consume", "m1"),
        ("orders:queue", "sha256:" + "ab" * 32),
        ("", ""),
        ("flöw:trigger", "clé 漢字 😀"),
        ("a:b", "x" * 5000),
    ],
)
def test_item_run_id_is_the_uuid5_of_trigger_and_key(trigger: str, key: str) -> None:
    expected = str(uuid.uuid5(_NAMESPACE, f"{trigger}\x00{key}"))
    assert item_run_id(trigger, key) == expected
    assert uuid.UUID(item_run_id(trigger, key)).version == 5


def test_an_items_run_is_never_a_batchs() -> None:
    assert item_run_id("t", "1") != batch_run_id("t", "1", "1")
