"""The drop folders: a delivery note or a count file dropped in is booked once complete, moved to
booked/ (or refused/) with its report, once even when dropped twice or found again after a crash;
in a running daemon, the shops follow."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from syncd.cli import main
from syncd.config import Settings, load_config, parse_config
from syncd.domain import Document, DocumentKind
from syncd.engine.stockfolder import StockFolders
from syncd.events import EventFeed
from syncd.ledger import Product
from syncd.ledger.sqlstore import SqlStore
from syncd.stockin.files import receive_file
from syncd.testing import FakeChannel, FakeConnector
from syncd.testing.daemon import settings_for
from syncd.testing.harness import until, write_config
from tests.conftest import DaemonStarter

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
NOTE = "Référence;Désignation;Qté livrée\r\nCAP;Casquette;4\r\nNOPE;Inconnu;1\r\nTotal;;5\r\n"


def drop(folder: Path, name: str, data: bytes, *, mtime: float | None = None) -> Path:
    """Written beside the folder, then renamed into it (as a copy tool or a share does)."""
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder.parent / f".{name}.partial"
    temp.write_bytes(data)
    if mtime is not None:
        os.utime(temp, (mtime, mtime))
    os.replace(temp, folder / name)
    return folder / name


# -- in a running daemon --------------------------------------------------------------------------


async def test_a_dropped_note_is_booked_moved_and_reaches_the_shops_once(
    tmp_path: Path, fake_connector: type[FakeConnector], start_daemon: DaemonStarter
) -> None:
    fake_connector.channels["shop"] = FakeChannel(figures={"SHIRT-44": 1, "CAP": 5})
    receipts = tmp_path / "livraisons"
    receipts.mkdir()
    settings = settings_for(
        tmp_path,
        {"channels": {"shop": {"type": "fake", "poll_seconds": 0.2}}},
        stock={"receipts_folder": str(receipts)},
    )
    daemon = await start_daemon(settings)
    feed = daemon.events.subscribe()
    assert daemon.store is not None
    store = daemon.store

    drop(receipts, "bl-1.csv", NOTE.encode("cp1252"))
    await until(lambda: (receipts / "booked" / "bl-1.csv").exists())
    assert not (receipts / "bl-1.csv").exists()
    assert await store.levels(["CAP"]) == {"CAP": 9}
    await until(lambda: fake_connector.channels["shop"].figures["CAP"] == 9)
    # the report is written just after the move (stockfolder._move): wait for it too (a loaded
    # machine saw the read come first)
    await until(lambda: (receipts / "booked" / "bl-1.csv.report.txt").exists())
    report = (receipts / "booked" / "bl-1.csv.report.txt").read_text(encoding="utf-8")
    assert "booked: document stock receipt:" in report
    assert "CAP\tCap\t4\ton hand 5 -> 9" in report
    assert "bl-1.csv row 3, column 'Référence', value 'NOPE': 'NOPE' is not a known SKU" in report
    assert "row 4: a totals row" in report
    [rejected] = await store.rejections()
    assert (rejected.channel, rejected.source, rejected.row) == ("stock", "bl-1.csv", 3)

    events: list[dict[str, Any]] = []
    while not feed.empty():
        events.append(feed.get_nowait())
    names = [e["event"] for e in events]
    assert "stock_file_booked" in names and "row_rejected" in names
    applied = [e for e in events if e["event"] == "document_applied"]
    assert [(e["channel"], e["movements"]) for e in applied if e["channel"] == "stock"] == [
        ("stock", 1)
    ]

    # the same note dropped again (another name): booked once, moved aside all the same
    drop(receipts, "bl-1 (copie).csv", NOTE.encode("cp1252"))
    await until(lambda: (receipts / "booked" / "bl-1 (copie).csv.report.txt").exists())
    again = (receipts / "booked" / "bl-1 (copie).csv.report.txt").read_text(encoding="utf-8")
    assert "already booked before: nothing changed" in again
    drop(receipts, "bl-1.csv", NOTE.encode("cp1252"))  # and under its own name
    await until(lambda: not (receipts / "bl-1.csv").exists())
    await until(lambda: len(list((receipts / "booked").glob("bl-1.*.csv.report.txt"))) == 1)
    assert await store.levels(["CAP"]) == {"CAP": 9}
    assert daemon.stock_folders is not None and daemon.stock_folders.files_booked == 3


async def test_syncd_receive_beside_a_running_daemon_reaches_the_shop(
    tmp_path: Path, fake_connector: type[FakeConnector], start_daemon: DaemonStarter
) -> None:
    fake_connector.channels["shop"] = FakeChannel(figures={"SHIRT-44": 1, "CAP": 5})
    tables: dict[str, dict[str, Any]] = {
        "ledger": {"backend": "sqlite", "path": str(tmp_path / "ledger.sqlite3")},
        "sync": {"outbox_poll_seconds": 0.2},  # how the daemon hears another process's commit
        "web": {"enabled": False},
        "channels": {"shop": {"type": "fake", "poll_seconds": 0.2}},
    }
    config = write_config(tmp_path / "syncd.toml", tables)
    daemon = await start_daemon(load_config(config))
    note = tmp_path / "bl.csv"
    note.write_text("sku;qty\nCAP;2\n", encoding="utf-8")
    code = await asyncio.to_thread(main, ["receive", "--config", str(config), str(note), "--json"])
    assert code == 0
    await until(lambda: fake_connector.channels["shop"].figures["CAP"] == 7)
    assert daemon.store is not None and await daemon.store.levels(["CAP"]) == {"CAP": 7}


# -- the watcher on its own, on both ledgers ------------------------------------------------------


def folder_settings(tmp_path: Path, store: SqlStore) -> Settings:
    ledger: dict[str, Any] = {"backend": "sqlite", "path": str(tmp_path / "unused.sqlite3")}
    return parse_config(
        {
            "ledger": ledger,
            "web": {"enabled": False, "timezone": "Europe/Paris"},
            "channels": {"till": {"type": "csv_till", "drop_folder": str(tmp_path / "till")}},
            "stock": {
                "receipts_folder": str(tmp_path / "receipts"),
                "counts_folder": str(tmp_path / "counts"),
            },
        },
        file=str(tmp_path / "syncd.toml"),
    )


async def stocked(store: SqlStore) -> None:
    await store.upsert_products([Product("CAP", "Casquette"), Product("MUG", "Tasse")])
    await store.apply_document(
        Document("init", "opening", DocumentKind.STOCK_COUNT, {"CAP": 5, "MUG": 2}, T0)
    )


def watcher(tmp_path: Path, store: SqlStore) -> StockFolders:
    for name in ("receipts", "counts"):
        (tmp_path / name).mkdir(exist_ok=True)
    return StockFolders(
        folder_settings(tmp_path, store), store, EventFeed(), asyncio.Event(), settle_seconds=0.2
    )


async def settled(folders: StockFolders) -> int:
    """Scan until a scan books or refuses a file (files settle first); how many it did."""
    for _ in range(40):
        done = await folders.scan()
        if done:
            return len(done)
        await asyncio.sleep(0.05)
    return 0


async def test_a_crash_between_booking_and_moving_books_nothing_again(
    tmp_path: Path, store: SqlStore
) -> None:
    await stocked(store)
    folders = watcher(tmp_path, store)
    path = drop(tmp_path / "receipts", "bl.csv", b"sku;qty\nCAP;3\n")
    # booked as the watcher books it, then the daemon died before moving the file
    first = await receive_file(store, path.read_bytes(), "bl.csv", origin="folder")
    assert first.booking is not None and first.booking.status == "applied"
    assert await store.levels(["CAP"]) == {"CAP": 8}

    assert await settled(folders) == 1  # the restarted daemon finds it again
    assert await store.levels(["CAP"]) == {"CAP": 8}
    assert not path.exists()
    report = (tmp_path / "receipts" / "booked" / "bl.csv.report.txt").read_text("utf-8")
    assert "already booked before: nothing changed" in report


async def test_a_file_with_nothing_bookable_is_refused_with_its_report(
    tmp_path: Path, store: SqlStore
) -> None:
    await stocked(store)
    folders = watcher(tmp_path, store)
    drop(tmp_path / "receipts", "scan.csv", b"Article;Nombre\nCAP;2\n")
    drop(tmp_path / "receipts", "unknown.csv", b"sku;qty\nNOPE;2\n")
    dropped = [tmp_path / "receipts" / "scan.csv", tmp_path / "receipts" / "unknown.csv"]

    async def taken() -> bool:
        await folders.scan()
        return not any(p.exists() for p in dropped)

    await until(taken, timeout=10)
    refused = tmp_path / "receipts" / "refused"
    assert (refused / "scan.csv").exists() and (refused / "unknown.csv").exists()
    text = (refused / "scan.csv.report.txt").read_text("utf-8")
    assert "nothing booked: scan.csv: no header line" in text and "'Article', 'Nombre'" in text
    text = (refused / "unknown.csv.report.txt").read_text("utf-8")
    assert "unknown.csv row 2, column 'sku', value 'NOPE': 'NOPE' is not a known SKU" in text
    assert await store.levels(["CAP"]) == {"CAP": 5}
    assert {(r.source, r.row) for r in await store.rejections()} == {
        ("scan.csv", None),
        ("unknown.csv", 2),
    }
    assert folders.files_refused == 2 and folders.files_booked == 0


async def test_a_dropped_count_keeps_the_sales_made_since_it_was_written(
    tmp_path: Path, store: SqlStore
) -> None:
    await stocked(store)
    folders = watcher(tmp_path, store)
    time.sleep(0.01)
    written = time.time()  # the count file is saved: CAP 4 on the shelf (the ledger says 5)
    time.sleep(0.01)
    sale = Document("till", "t-1", DocumentKind.TILL_RECEIPT, {"CAP": 2}, T0)
    await store.apply_document(sale)  # sold before the file reached syncd
    drop(tmp_path / "counts", "rayon.csv", b"sku;qty\nCAP;4\n", mtime=written)
    assert await settled(folders) == 1
    assert await store.levels(["CAP"]) == {"CAP": 2}  # 4 counted − 5 then, and the 2 sold
    assert (tmp_path / "counts" / "booked" / "rayon.csv").exists()


async def test_a_file_held_open_by_its_writer_waits_and_a_link_is_moved_aside_unread(
    tmp_path: Path, store: SqlStore
) -> None:
    await stocked(store)
    folders = watcher(tmp_path, store)
    folders.settle_seconds = 30.0
    secret = tmp_path / "secret.csv"
    secret.write_text("sku;qty\nCAP;100\n", encoding="utf-8")
    (tmp_path / "receipts" / "link.csv").symlink_to(secret)
    path = tmp_path / "receipts" / "bl.csv"
    with path.open("w", encoding="utf-8") as writer:
        writer.write("sku;qty\nMUG;1\n")
        writer.flush()
        await folders.scan()
        await folders.scan()
        assert path.exists()  # still being written
    assert await settled(folders) == 1
    assert not path.exists()
    refused = tmp_path / "receipts" / "refused"
    assert (refused / "link.csv").is_symlink()  # moved as a link, never read through
    assert "a symbolic link, not a file: not read" in (refused / "link.csv.report.txt").read_text(
        "utf-8"
    )
    assert await store.levels(["CAP", "MUG"]) == {"CAP": 5, "MUG": 3}
