"""Reconciliation of the other channels: Magento (salable = source − reserved: an unshipped
order is never drift, and a fix writes source = wanted + reserved) and the CSV till (its figure
is its stock file; a file the ledger never applied, found in done/, is applied once)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from syncd.config import parse_config
from syncd.connectors.csv_till.connector import CsvTillConnector
from syncd.connectors.magento.connector import MagentoConnector
from syncd.domain import Document, DocumentKind
from syncd.engine.catchup import pull_into
from syncd.engine.reconciler import ChannelTarget, ReconcileOptions, Reconciler
from syncd.ledger import ChannelInfo, Product
from syncd.ledger.sqlstore import SqlStore
from syncd.reconcile.compare import FindingKind
from syncd.testing.tillsamples import LOYVERSE
from tests.magento.conftest import Shop, start

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _reconciler(store: SqlStore, settings: Any, **options: Any) -> Reconciler:
    return Reconciler(store, settings.sync, ReconcileOptions(**options))


@pytest.fixture
async def magento() -> AsyncIterator[Shop]:
    shop, runner = await start(True)
    yield shop
    await runner.cleanup()


async def test_magento_an_unshipped_order_is_not_drift_and_a_fix_keeps_its_reservation(
    store: SqlStore, magento: Shop
) -> None:
    settings = parse_config(
        {
            "channels": {
                "magento": {
                    "hand_edits": "revert",  # a fix writes syncd's figure back
                    "type": "magento",
                    "url": magento.url,
                    "username": "admin",
                    "password": "s3cret-pass",
                    "overlap_seconds": 0,
                    "timeout_seconds": 5,
                }
            }
        },
        file="test.toml",
    )
    channel = settings.channel("magento")
    connector = MagentoConnector("magento", channel.options)
    await connector.open()
    try:
        await connector.check()
        target = ChannelTarget(channel, connector)
        figures = {"SHIRT-BLUE-42": 3, "SHIRT-BLUE-44": 1, "CAP": 5}
        await store.register_channels([ChannelInfo("magento", "magento")])
        await store.upsert_products([Product(s) for s in figures])
        await store.apply_document(Document("init", "c", DocumentKind.STOCK_COUNT, figures, T0))
        await store.record_shown("magento", figures)
        magento.emulator.place_order({"CAP": 2})  # unshipped: source 5, salable 3
        await pull_into(store, connector, "magento", {}, store_cursors=True)
        assert await store.levels(["CAP"]) == {"CAP": 3}

        clean = (await _reconciler(store, settings).run([target])).channels[0]
        assert clean.differences == [] and clean.compared == 3

        magento.emulator.set_source_quantity("CAP", 9)  # by hand: salable 7
        found = (await _reconciler(store, settings).run([target])).channels[0]
        assert [(f.sku, f.kind, f.figure, f.wanted) for f in found.differences] == [
            ("CAP", FindingKind.HAND_EDIT, 7, 3)
        ]
        await _reconciler(store, settings, fix=True, push=True).run([target])
        assert magento.emulator.salable("CAP") == 3
        assert magento.emulator.source_quantity("CAP") == 5  # 3 to sell + 2 reserved
        again = (await _reconciler(store, settings).run([target])).channels[0]
        assert again.differences == []
    finally:
        await connector.close()


async def test_till_stock_file_edited_is_rewritten_and_a_missed_file_is_applied_once(
    store: SqlStore, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    settings = parse_config(
        {
            "channels": {
                "till": {
                    "type": "csv_till",
                    "drop_folder": str(inbox),
                    "stock_file": str(tmp_path / "stock.csv"),
                    "stock_min_interval_seconds": 0,
                    "settle_seconds": 0,
                }
            }
        },
        file="test.toml",
    )
    channel = settings.channel("till")
    connector = CsvTillConnector("till", channel.options)
    await connector.open()
    target = ChannelTarget(channel, connector)
    figures = {"SHIRT-0000-44": 10, "SHIRT-0001-40": 6}
    await store.register_channels([ChannelInfo("till", "csv_till", follows_own_sales=False)])
    await store.upsert_products([Product(s) for s in figures])
    await store.apply_document(Document("init", "c", DocumentKind.STOCK_COUNT, figures, T0))
    try:
        # No stock file yet: every SKU is missing from it; --fix writes it.
        first = (await _reconciler(store, settings).run([target])).channels[0]
        assert {f.kind for f in first.differences} == {FindingKind.ONLY_IN_LEDGER}
        await _reconciler(store, settings, fix=True).run([target])
        assert (tmp_path / "stock.csv").read_text().splitlines()[1:] == [
            "SHIRT-0000-44;10",
            "SHIRT-0001-40;6",
        ]
        # A person edits the file the till imports: found, and the file written again.
        (tmp_path / "stock.csv").write_text(
            "sku;quantity\r\nSHIRT-0000-44;10\r\nSHIRT-0001-40;60\r\n"
        )
        edited = (await _reconciler(store, settings).run([target])).channels[0]
        assert [(f.sku, f.kind, f.figure) for f in edited.differences] == [
            ("SHIRT-0001-40", FindingKind.HAND_EDIT, 60)
        ]
        await _reconciler(store, settings, fix=True).run([target])
        assert "SHIRT-0001-40;6" in (tmp_path / "stock.csv").read_text()

        # An export applied by another ledger (a restored backup): in done/, unknown here.
        done = inbox / "done"
        done.mkdir(exist_ok=True)
        (done / "receipts.csv").write_text(LOYVERSE, encoding="utf-8")
        report = (await _reconciler(store, settings, fix=True).run([target])).channels[0]
        missed = [f for f in report.differences if f.kind is FindingKind.MISSED_FILE]
        assert [(f.sku, f.detail["applied"]) for f in missed] == [("receipts.csv", True)]
        levels = await store.levels(list(figures))
        assert levels["SHIRT-0000-44"] < 10
        again = (await _reconciler(store, settings, fix=True).run([target])).channels[0]
        assert [f for f in again.differences if f.kind is FindingKind.MISSED_FILE] == []
        assert await store.levels(list(figures)) == levels  # applied once
        shutil.rmtree(done)
    finally:
        await connector.close()


async def test_till_files_moved_while_the_catch_up_looks_at_them_are_not_an_error(
    store: SqlStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by `bench soak --month`: the ingest loop moved a file from the inbox to done/
    between the catch-up's listing and its stat, and FileNotFoundError crashed the reconcile
    loop. A file listed and gone is the ingest loop's, not a missed one."""
    import syncd.connectors.csv_till.missed_files as catchup

    inbox = tmp_path / "inbox"
    (inbox / "done").mkdir(parents=True)
    settings = parse_config(
        {
            "channels": {
                "till": {"type": "csv_till", "drop_folder": str(inbox), "settle_seconds": 0}
            }
        },
        file="test.toml",
    )
    channel = settings.channel("till")
    connector = CsvTillConnector("till", channel.options)
    await connector.open()
    await store.register_channels([ChannelInfo("till", "csv_till", follows_own_sales=False)])
    real = catchup.list_files

    def listing_then_moved(settings: Any, since: float) -> list[tuple[Path, str]]:
        (inbox / "r1.csv").write_text(LOYVERSE, encoding="utf-8")
        (inbox / "done" / "r2.csv").write_text(LOYVERSE, encoding="utf-8")
        found = real(settings, since)
        (inbox / "r1.csv").unlink()  # the ingest loop took them meanwhile
        (inbox / "done" / "r2.csv").unlink()
        return found

    monkeypatch.setattr(catchup, "list_files", listing_then_moved)
    try:
        report = await _reconciler(store, settings).run([ChannelTarget(channel, connector)])
        assert report.channels[0].error == ""
    finally:
        await connector.close()
