"""The ``read`` record of a product's PII columns: which columns it names in clear and
masked, its detail as text and back, and its holding with the other hops."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from interlink.estate.kinds.data import MaskMethod
from interlink.estate.loader import load_estate
from interlink.observe.lineage import LineageRecorder
from interlink.observe.lineage.reads import parse_detail, pii_read
from interlink.store import Store, open_store
from interlink.store.lineage import micros

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.anyio


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with open_store(f"sqlite:///{tmp_path / 'store.db'}") as opened:
        opened.migrate()
        yield opened


def test_a_read_names_the_pii_columns_in_clear_and_masked_in_contract_order() -> None:
    masks = {"street": MaskMethod.REDACT, "email": MaskMethod.HASH}
    read = pii_read(["name", "email", "street"], {"id", "street", "email", "name"}, masks, 7)
    assert read is not None
    assert (read.unmasked, read.masked, read.rows) == (
        ("name",),
        (("email", "hash"), ("street", "redact")),
        7,
    )
    text = read.detail("sql")
    assert text == "rows=7 unmasked=name masked=email:hash,street:redact via=sql"
    assert parse_detail(text) == {
        "rows": 7,
        "unmasked": ["name"],
        "masked": {"email": "hash", "street": "redact"},
        "via": "sql",
    }
    assert pii_read(["email"], {"id", "amount"}, masks, 7) is None
    assert pii_read([], {"id", "email"}, {}, 7) is None


def test_a_detail_that_is_not_a_reads_parses_to_nothing() -> None:
    for detail in ("email", "", "rows=x unmasked= masked= via=page", "step send", "rows=1"):
        assert parse_detail(detail) is None, detail


async def test_reads_are_held_bounded_and_written_with_the_hops(
    store: Store, retail_dir: Path
) -> None:
    estate, _ = load_estate(retail_dir)
    recorder = LineageRecorder(store, estate, limit=2, clock=lambda: micros(T0))
    read = pii_read(["email"], {"email"}, {}, 3)
    assert read is not None
    for reader in ("Consumer/a", "Consumer/b", "Consumer/c"):
        recorder.read("customer-360", reader, read, "page")
    assert recorder.dropped == 1  # over the limit: counted, said at the flush
    assert await recorder.flush() == 2
    hops = store.lineage.trace("DataProduct", "customer-360")
    assert [(h.kind, h.actor, h.target, h.detail, h.at) for h in hops] == [
        ("read", "DataProduct/customer-360", reader, "rows=3 unmasked=email masked= via=page", T0)
        for reader in ("Consumer/a", "Consumer/b")
    ]
