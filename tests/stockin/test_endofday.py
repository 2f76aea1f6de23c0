"""The end of the day (`syncd day`): a day of sales, a delivery, a count, adjustments, a void and
an oversell on SQLite and PostgreSQL, and a day the clocks go forward (23 hours)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from syncd.cli import main
from syncd.domain import Document, DocumentKind, utcnow
from syncd.ledger import ChannelInfo, Product
from syncd.ledger.sqlstore import SqlStore
from syncd.stockin.booking import Line, book_adjustment, book_count, book_receipt, void
from syncd.stockin.endofday import day_bounds, day_report, shop_day
from syncd.testing.harness import write_config

PARIS = ZoneInfo("Europe/Paris")


def test_a_day_runs_midnight_to_midnight_in_the_shop_and_dst_days_are_23_or_25_hours() -> None:
    start, end = day_bounds(date(2026, 11, 26), PARIS)
    assert (start.isoformat(), end.isoformat()) == (
        "2026-11-25T23:00:00+00:00",
        "2026-11-26T23:00:00+00:00",
    )
    spring = day_bounds(date(2026, 3, 29), PARIS)  # 02:00 → 03:00
    autumn = day_bounds(date(2026, 10, 25), PARIS)  # 03:00 → 02:00
    assert spring[1] - spring[0] == timedelta(hours=23)
    assert autumn[1] - autumn[0] == timedelta(hours=25)
    assert spring[0].isoformat() == "2026-03-28T23:00:00+00:00"
    assert spring[1].isoformat() == "2026-03-29T22:00:00+00:00"
    # A zone whose clocks jump at midnight: the day starts at 01:00 there.
    santiago = ZoneInfo("America/Santiago")
    start, _ = day_bounds(date(2026, 9, 6), santiago)
    assert start.astimezone(santiago).hour == 1


def config_for(tmp: Path, ledger: tuple[str, str]) -> Path:
    backend, dsn = ledger
    return write_config(
        tmp,
        {
            "ledger": (
                {"backend": "sqlite", "path": str(tmp / "ledger.sqlite3")}
                if backend == "sqlite"
                else {"backend": "postgres", "dsn": dsn}
            ),
            "web": {"timezone": "Europe/Paris", "enabled": False},
            "channels": {
                "till": {"type": "csv_till", "drop_folder": "in", "stock_file": "stock.csv"}
            },
        },
    )


async def run_syncd(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`syncd …` in-process (in a thread: it runs its own event loop): code, stdout, stderr."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def _shop(store: SqlStore, at: datetime) -> None:
    await store.register_channels(
        [ChannelInfo("till", "fake", push=True), ChannelInfo("web", "fake", push=True)]
    )
    await store.upsert_products(
        [Product("A", "Blue shirt"), Product("B", "Cap"), Product("C", "Scarf")]
    )
    await store.apply_document(
        Document("init", "opening", DocumentKind.STOCK_COUNT, {"A": 10, "B": 4, "C": 1}, at)
    )


async def _after_midnight_margin() -> None:
    """The test books "now" (adjustments, a count): not in the last two minutes of a shop day."""
    now = utcnow()
    _, end = day_bounds(shop_day(now, PARIS), PARIS)
    if end - now < timedelta(minutes=2):
        await asyncio.sleep((end - now).total_seconds() + 1)


async def test_syncd_day_json_for_a_day_of_sales_deliveries_counts_and_adjustments(
    store: SqlStore,
    ledger_backend: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await _after_midnight_margin()
    now = utcnow()
    today = shop_day(now, PARIS)
    start, _ = day_bounds(today, PARIS)
    span = now - start

    def at(fraction: float) -> datetime:  # a moment of today, before now
        return start + span * fraction

    await _shop(store, start - timedelta(days=3))
    apply = store.apply_document
    await apply(
        Document("till", "y1", DocumentKind.TILL_RECEIPT, {"A": 1}, start - timedelta(minutes=1))
    )  # yesterday, 23:59
    await apply(Document("till", "t1", DocumentKind.TILL_RECEIPT, {"A": 2, "B": 1}, at(0.1)))
    await apply(Document("till", "t2", DocumentKind.TILL_RECEIPT, {"A": -1}, at(0.2)))  # refund
    await apply(Document("web", "w1", DocumentKind.WEB_ORDER, {"B": 2}, at(0.3), version=1))
    await apply(Document("web", "w2", DocumentKind.WEB_ORDER, {"C": 1}, at(0.4), version=1))
    await apply(
        Document("web", "w2", DocumentKind.WEB_ORDER, {}, at(0.4), version=2, cancelled=True)
    )
    delivery = await book_receipt(
        store,
        [Line("A", 6), Line("C", 2)],
        origin="file",
        supplier="Acme",
        delivery_note="BL-7",
        occurred_at=at(0.5),
    )
    mistake = await book_receipt(store, [Line("B", 9)], origin="page", occurred_at=at(0.6))
    await void(store, "stock", mistake.doc_id, origin="page", note="wrong box")
    # Oversell: B had 4, the till sold 1, the web 2; the web sells 2 more.
    await apply(Document("web", "w3", DocumentKind.WEB_ORDER, {"B": 2}, at(0.7), version=1))
    await book_adjustment(store, "A", -1, reason="breakage", origin="command", note="dropped")
    count = await book_count(store, [Line("A", 10), Line("C", 3)], origin="page")

    config = config_for(tmp_path, ledger_backend)
    code, out, _ = await run_syncd(capsys, "day", "--config", str(config), "--json")
    assert code == 0
    data: dict[str, Any] = json.loads(out)
    assert data["date"] == today.isoformat() and data["timezone"] == "Europe/Paris"
    assert data["start"] == start.isoformat() and data["start"].endswith("+00:00")
    assert data["sales"]["channels"] == [
        {"channel": "till", "documents": 2, "units_sold": 3, "units_returned": 1, "net_units": 2},
        {"channel": "web", "documents": 3, "units_sold": 5, "units_returned": 1, "net_units": 4},
    ]
    assert data["sales"]["total"] == {
        "documents": 5,
        "units_sold": 8,
        "units_returned": 2,
        "net_units": 6,
    }
    deliveries = {d["doc_id"]: d for d in data["deliveries"]}
    acme = deliveries[delivery.doc_id]
    assert (acme["supplier"], acme["delivery_note"], acme["origin"]) == ("Acme", "BL-7", "file")
    assert acme["units"] == 8 and acme["voided"] is False
    assert acme["occurred_at"] == at(0.5).isoformat()
    assert acme["lines"] == [
        {"sku": "A", "name": "Blue shirt", "quantity": 6},
        {"sku": "C", "name": "Scarf", "quantity": 2},
    ]
    assert deliveries[mistake.doc_id]["voided"] is True
    [counted] = data["counts"]
    # A: 10 − 1 (y1) − 2 + 1 + 6 − 1 (breakage) = 13 before the count: 10 counted, −3.
    # C: 1 − 1 + 1 (w2 cancelled) + 2 = 3: counted 3, no difference.
    assert counted["doc_id"] == count.doc_id
    assert counted["lines"] == [
        {"sku": "A", "name": "Blue shirt", "counted": 10, "difference": -3},
        {"sku": "C", "name": "Scarf", "counted": 3, "difference": 0},
    ]
    assert (counted["lines_with_difference"], counted["difference"]) == (1, -3)
    [adjusted] = data["adjustments"]
    assert (adjusted["reason"], adjusted["note"], adjusted["lines"]) == (
        "breakage",
        "dropped",
        [{"sku": "A", "name": "Blue shirt", "quantity": -1}],
    )
    [voided] = data["voids"]
    assert (voided["doc_id"], voided["voided_by"], voided["note"]) == (
        mistake.doc_id,
        "page",
        "wrong box",
    )
    assert voided["given_back"] == [{"sku": "B", "name": "Cap", "quantity": -9}]
    [conflict] = data["conflicts"]
    assert (conflict["kind"], conflict["sku"], conflict["shortfall"]) == ("oversell", "B", 1)
    assert conflict["created_at"].endswith("+00:00")
    assert [(z["sku"], z["on_hand"]) for z in data["out_of_stock"]] == [("B", -1)]

    # The day before holds only the receipt of 23:59.
    yesterday = (today - timedelta(days=1)).isoformat()
    code, out, _ = await run_syncd(
        capsys, "day", "--config", str(config), "--date", yesterday, "--json"
    )
    before = json.loads(out)
    assert before["sales"]["channels"] == [
        {"channel": "till", "documents": 1, "units_sold": 1, "units_returned": 0, "net_units": 1}
    ]
    assert before["deliveries"] == before["counts"] == before["conflicts"] == []

    # The human form shows times in the shop's zone.
    code, out, _ = await run_syncd(capsys, "day", "--config", str(config))
    assert code == 0
    assert f"{at(0.5).astimezone(PARIS):%H:%M}  Acme BL-7: A +6, C +2" in out
    assert "breakage: A -1 — dropped" in out
    code, _, _ = await run_syncd(capsys, "day", "--config", str(config), "--date", "26/11/2026")
    assert code == 2


async def test_a_count_without_a_reference_is_named_by_its_id(
    store: SqlStore,
    ledger_backend: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The demo's opening count (as `syncd init`'s) has no reference: the day showed ": 40 ...".
    await _after_midnight_margin()
    await _shop(store, utcnow() - timedelta(days=3))
    await store.apply_document(
        Document("init", "opening-count", DocumentKind.STOCK_COUNT, {"A": 5}, utcnow())
    )
    config = config_for(tmp_path, ledger_backend)
    code, out, _ = await run_syncd(capsys, "day", "--config", str(config))
    assert code == 0
    assert "  opening-count: 1 line(s) counted, 1 with a difference: A 5 (" in out


async def test_the_day_the_clocks_go_forward_has_23_hours_of_sales(store: SqlStore) -> None:
    await _shop(store, datetime(2026, 3, 1, tzinfo=UTC))
    times = {
        "before": datetime(2026, 3, 28, 22, 59, tzinfo=UTC),  # 23:59 on the 28th in Paris
        "first": datetime(2026, 3, 28, 23, 0, tzinfo=UTC),  # 00:00 on the 29th
        "last": datetime(2026, 3, 29, 21, 59, tzinfo=UTC),  # 23:59 CEST on the 29th
        "after": datetime(2026, 3, 29, 22, 0, tzinfo=UTC),  # 00:00 on the 30th
    }
    for doc_id, when in times.items():
        await store.apply_document(
            Document("till", doc_id, DocumentKind.TILL_RECEIPT, {"A": 1}, when)
        )
    report = await day_report(store, date(2026, 3, 29), PARIS)
    assert report.hours == 23
    assert [(s.channel, s.documents, s.sold) for s in report.sales] == [("till", 2, 2)]
    data = report.as_json()
    assert (data["start"], data["end"]) == (
        "2026-03-28T23:00:00+00:00",
        "2026-03-29T22:00:00+00:00",
    )
    autumn = await day_report(store, date(2026, 10, 25), PARIS)
    assert autumn.hours == 25 and autumn.sales == []
