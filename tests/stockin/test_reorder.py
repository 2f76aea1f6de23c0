"""Reorder suggestions: the pure rules, then a known sales history on SQLite and PostgreSQL, and
the import of reorder points from a file with bad rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from syncd.config import StockSettings
from syncd.domain import Document, DocumentKind, utcnow
from syncd.i18n import Translator
from syncd.ledger import ChannelInfo, Product
from syncd.ledger.sqlstore import SqlStore
from syncd.ledger.store import ReorderPoint
from syncd.stockin.booking import Line, book_adjustment, book_count, book_receipt, void
from syncd.stockin.reorder import (
    Imported,
    Rule,
    days_measured,
    merge_rules,
    suggest,
)
from syncd.stockin.reorderfile import (
    ReorderFileError,
    import_reorder_file,
    parse_reorder_file,
)
from syncd.stockin.reorderlist import reorder_csv, reorder_list
from syncd.testing.daemon import settings_for as daemon_settings
from tests.conftest import DaemonStarter
from tests.stockin.test_endofday import config_for, run_syncd

DAY = timedelta(days=1)
NOW = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


# -- the rules, pure ------------------------------------------------------------------------------


def test_56_units_over_28_days_is_2_a_day_and_suggests_a_point_and_a_quantity() -> None:
    s = suggest("A", on_hand=10, units_sold=56, days=Fraction(28), lead_days=7, cover_days=14)
    assert s.rate == 2 and s.days_of_cover == 5
    assert (s.point, s.point_source) == (14, "suggested")  # ⌈2 × 7⌉
    assert s.to_reorder  # 5 days of cover, the supplier takes 7
    assert (s.quantity, s.quantity_source) == (28, "suggested")  # ⌈2 × 14⌉
    calm = suggest("A", on_hand=15, units_sold=56, days=Fraction(28), lead_days=7, cover_days=14)
    assert not calm.to_reorder and calm.cover == 7.5


def test_rates_are_exact_fractions_not_floats_rounded_up() -> None:
    # 10 / 28 × 28 in floating point is 10.000000000000002: ⌈⌉ would order 11.
    s = suggest("A", on_hand=0, units_sold=10, days=Fraction(28), lead_days=28, cover_days=28)
    assert s.quantity == 10 and s.point == 10 and s.rate_per_day == 0.36


def test_a_point_set_decides_and_the_quantity_set_is_used() -> None:
    rule = Rule(point=3, quantity=12, point_source="config", quantity_source="points.csv")
    at_point = suggest(
        "A", on_hand=3, units_sold=0, days=Fraction(28), rule=rule, lead_days=7, cover_days=14
    )
    assert at_point.to_reorder and at_point.quantity == 12
    assert at_point.days_of_cover is None and at_point.rate == 0  # nothing sold: lasts forever
    above = suggest(
        "A", on_hand=4, units_sold=560, days=Fraction(28), rule=rule, lead_days=7, cover_days=14
    )
    assert not above.to_reorder  # a set point wins over the cover rule (0.2 days of cover)


def test_without_a_quantity_the_order_brings_stock_back_above_the_point() -> None:
    rule = Rule(point=8, point_source="config")
    s = suggest(
        "A", on_hand=2, units_sold=7, days=Fraction(28), rule=rule, lead_days=7, cover_days=14
    )
    assert s.quantity == 7  # ⌈0.25 × 14⌉ = 4 would leave it at its point: 8 + 1 − 2
    owed = suggest("A", on_hand=-2, units_sold=28, days=Fraction(28), lead_days=7, cover_days=14)
    assert owed.to_reorder and owed.quantity == 16  # 14 days of sales + the 2 units sold short


def test_a_sku_with_no_sales_and_no_point_is_never_to_reorder() -> None:
    s = suggest("A", on_hand=0, units_sold=0, days=Fraction(28), lead_days=7, cover_days=14)
    assert not s.to_reorder and s.point is None and s.quantity == 0
    returned = suggest("A", on_hand=0, units_sold=-3, days=Fraction(28), lead_days=7, cover_days=14)
    assert returned.rate == 0  # more refunded than sold is no sale, not a negative rate


def test_a_new_sku_is_measured_since_its_first_movement() -> None:
    since = NOW - 28 * DAY
    assert days_measured(since, NOW) == 28
    assert days_measured(since, NOW, NOW - 7 * DAY) == 7
    assert days_measured(since, NOW, NOW - timedelta(hours=2)) == 1  # at least a day
    assert days_measured(since, NOW, NOW - 40 * DAY) == 28


def test_the_config_wins_over_an_imported_point_and_says_so() -> None:
    rules = merge_rules(
        {"B": 20, "X": 1},
        {"C": 9},
        {"B": Imported(30, 0, "points.csv"), "C": Imported(5, 12, "points.csv")},
    )
    assert rules.rules["B"] == Rule(20, None, "config", "")
    assert rules.rules["C"] == Rule(5, 9, "points.csv", "config")
    assert rules.rules["X"] == Rule(1, None, "config", "")
    assert rules.overridden == ["B", "C"]


# -- a known sales history in the ledger -----------------------------------------------------------


async def _shop(store: SqlStore, start: datetime) -> None:
    await store.register_channels(
        [ChannelInfo("till", "fake", push=True), ChannelInfo("web", "fake", push=True)]
    )
    await store.upsert_products(
        [
            Product("A", "Blue shirt", "4000000000001"),
            Product("B", "Cap", "4000000000002"),
            Product("C", "Scarf", "4000000000003"),
            Product("D", "Gloves", "4000000000004"),
            Product("E", "New mug", "4000000000005"),
        ]
    )
    opening = [Line("A", 100), Line("B", 50), Line("C", 5)]
    await book_receipt(store, opening, origin="command", occurred_at=start - 40 * DAY)


def _till(doc_id: str, lines: dict[str, int], at: datetime) -> Document:
    return Document("till", doc_id, DocumentKind.TILL_RECEIPT, lines, at, reference=doc_id)


def _web(
    doc_id: str, lines: dict[str, int], at: datetime, version: int = 1, **kw: bool
) -> Document:
    return Document(
        "web", doc_id, DocumentKind.WEB_ORDER, lines, at, version=version, reference=doc_id, **kw
    )


async def _history(store: SqlStore, start: datetime) -> None:
    """A: 56 units sold in the last 28 days (2 a day), whatever else happened to it."""
    apply = store.apply_document
    await apply(_till("old", {"A": 10}, start - 35 * DAY))  # before the window: not counted
    for day in range(1, 28):  # 27 receipts of 2: 54 units
        await apply(_till(f"t{day}", {"A": 2, "B": 1}, start - day * DAY + timedelta(hours=3)))
    await apply(_web("w1", {"A": 3, "B": 1}, start - 5 * DAY))
    await apply(_web("w1", {"A": 2, "B": 1}, start - 5 * DAY, version=2))  # 1 refunded: 2 + 54
    await apply(_web("w2", {"A": 4}, start - 3 * DAY))
    await apply(_web("w2", {}, start - 3 * DAY, version=2, cancelled=True))  # cancelled: 0
    await apply(_till("mistake", {"A": 5}, start - 2 * DAY))
    await void(store, "till", "mistake", origin="command")  # a till file booked by mistake
    # Deliveries, counts and adjustments are not sales.
    await book_receipt(store, [Line("A", 20)], origin="page", occurred_at=start - 10 * DAY)
    await book_adjustment(store, "A", -1, reason="breakage", origin="command")
    await book_count(store, [Line("A", 10)], origin="command")  # the shelf holds 10
    # E: new a week ago, 14 sold since: 2 a day, not 0.5.
    await book_receipt(store, [Line("E", 20)], origin="file", occurred_at=start - 7 * DAY)
    for day in range(1, 8):
        await apply(_till(f"e{day}", {"E": 2}, start - day * DAY + timedelta(hours=5)))


async def test_suggestions_from_a_known_sales_history(store: SqlStore) -> None:
    start = utcnow()
    await _shop(store, start)
    await _history(store, start)
    await store.save_reorder_points(
        [
            _point("B", 30, 0),  # the config says 20: the config wins
            _point("C", 5, 12),
        ]
    )
    stock = StockSettings(reorder_points={"B": 20}, lead_days=7, cover_days=14, sales_days=28)
    found = await reorder_list(store, stock, now=start)

    lines = {s.sku: s for s in found.lines}
    a = lines["A"]
    assert (a.units_sold, a.rate, a.on_hand) == (56, 2, 10)
    assert (a.point, a.point_source, a.days_of_cover, a.quantity) == (14, "suggested", 5, 28)
    b = lines["B"]  # 27 + 1 sold: 1 a day; 50 − 28 = 22 on hand, above its point of 20
    assert (b.rate, b.on_hand, b.point, b.point_source, b.to_reorder) == (
        1,
        22,
        20,
        "config",
        False,
    )
    c = lines["C"]  # at its imported point, nothing sold: the imported quantity
    assert (c.to_reorder, c.point_source, c.quantity, c.days_of_cover) == (
        True,
        "points.csv",
        12,
        None,
    )
    e = lines["E"]
    assert (e.rate, e.on_hand, e.days_of_cover, e.to_reorder) == (2, 6, 3, True)
    d = lines["D"]  # known, never stocked, never sold
    assert (d.on_hand, d.rate, d.to_reorder, d.point) == (0, 0, False, None)
    assert [s.sku for s in found.to_reorder] == ["E", "A", "C"]  # fewest days of cover first
    assert found.overridden == ["B"]
    data = found.as_json()
    assert data["to_reorder"] == 3 and data["config_wins"] == ["B"]
    first = data["lines"][0]  # type: ignore[index]
    assert first == {
        "sku": "E",
        "name": "New mug",
        "on_hand": 6,
        "point": 14,
        "point_source": "suggested",
        "units_sold": 14,
        "days_measured": pytest.approx(7, abs=0.01),
        "rate_per_day": 2.0,
        "days_of_cover": 3.0,
        "suggested_quantity": 28,
        "quantity_source": "suggested",
        "to_reorder": True,
    }

    text = reorder_csv(found.to_reorder, Translator("fr"))
    assert text.startswith("\ufeffRéférence;Produit;En stock;Point de commande;")
    assert text.splitlines()[1] == "E;New mug;6;14;2;3;28"


def _point(sku: str, point: int, quantity: int) -> ReorderPoint:
    return ReorderPoint(sku, point, quantity, "points.csv")


# -- importing points from a file ------------------------------------------------------------------

FRENCH = (
    "Référence;Seuil;Quantité\r\n"
    "B;30;\r\n"
    "C;5;12\r\n"
    ";3;1\r\n"
    "NOPE;2;1\r\n"
    "A;-1;2\r\n"
    "A;2,5;1\r\n"
    "C;4;1\r\n"
    "\r\n"
    "4000000000004;1;6,0\r\n"  # D by its barcode
    "D;2;2\r\n"
).encode("cp1252")


async def test_an_import_stores_the_good_rows_and_reports_each_bad_one(
    store: SqlStore, tmp_path: Path
) -> None:
    await _shop(store, NOW)
    path = tmp_path / "seuils.csv"
    path.write_bytes(FRENCH)
    result = await import_reorder_file(store, path, config_skus={"B"})
    assert result.parsed.encoding == "cp1252" and result.parsed.delimiter == ";"
    assert [(p.sku, p.point, p.quantity) for p in result.imported] == [
        ("B", 30, 0),
        ("C", 5, 12),
        ("D", 1, 6),
    ]
    assert [(r.source, r.row, r.column, r.value, r.reason) for r in result.rejections] == [
        ("seuils.csv", 4, "Référence", "", "no SKU or barcode on this row"),
        ("seuils.csv", 5, "Référence", "NOPE", "'NOPE' is not a known SKU, barcode or alias"),
        ("seuils.csv", 6, "Seuil", "-1", "reorder point below zero"),
        ("seuils.csv", 7, "Seuil", "2,5", "reorder point not a whole number of units"),
        ("seuils.csv", 8, "Référence", "C", "'C' is already on row 3"),
        ("seuils.csv", 11, "Référence", "D", "'D' is SKU D, already on row 10"),
    ]
    assert result.config_wins == ["B"]
    stored = await store.reorder_points()
    assert {s: (p.point, p.quantity, p.source) for s, p in stored.items()} == {
        "B": (30, 0, "seuils.csv"),
        "C": (5, 12, "seuils.csv"),
        "D": (1, 6, "seuils.csv"),
    }
    # --replace: the file is the whole list
    path.write_text("sku,point,quantity\nA,4,10\n", encoding="utf-8")
    again = await import_reorder_file(store, path, replace=True)
    assert again.rejections == [] and again.parsed.delimiter == ","
    assert list(await store.reorder_points()) == ["A"]


def test_a_file_without_a_sku_or_point_column_is_refused_as_a_whole() -> None:
    with pytest.raises(ReorderFileError, match=r"points.csv: row 1: .* no column for point"):
        parse_reorder_file(b"sku;quantity\nA;3\n", "points.csv")
    with pytest.raises(ReorderFileError, match="empty"):
        parse_reorder_file(b"", "points.csv")
    english = parse_reorder_file(b"\xef\xbb\xbfSKU\tReorder point\tQty\nA\t3\t\n", "p.tsv")
    assert english.encoding == "utf-8-sig" and english.delimiter == "\t"
    assert [(r.identifier, r.point, r.quantity) for r in english.rows] == [("A", 3, 0)]


# -- the commands ---------------------------------------------------------------------------------


async def test_syncd_reorder_and_reorder_import_as_a_merchant_runs_them(
    store: SqlStore,
    ledger_backend: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    start = utcnow()
    await _shop(store, start)
    await _history(store, start)
    config = config_for(tmp_path, ledger_backend)
    with config.open("a", encoding="utf-8") as toml:
        toml.write('\n[stock]\nreorder_points = { "B" = 20 }\n')
    path = tmp_path / "seuils.csv"
    path.write_bytes(FRENCH)

    code, out, err = await run_syncd(
        capsys, "reorder", "import", "--config", str(config), str(path)
    )
    assert code == 1 and out == ""  # rejected rows: reported, the good ones stored
    assert "3 reorder point(s) imported, 6 row(s) rejected" in err
    assert "REJECTED seuils.csv row 6 column 'Seuil' value '-1': reorder point below zero" in err
    assert "B: also set in" in err and "the config's figure is used" in err
    assert list(await store.reorder_points()) == ["B", "C", "D"]
    code, out, err = await run_syncd(
        capsys, "reorder", "import", "--config", str(config), str(path), "--json"
    )
    data = json.loads(out)
    assert [(r["row"], r["column"], r["reason"]) for r in data["rejected"]][:2] == [
        (4, "Référence", "no SKU or barcode on this row"),
        (5, "Référence", "'NOPE' is not a known SKU, barcode or alias"),
    ]
    assert data["rejected"][0]["file"] == "seuils.csv" and data["config_wins"] == ["B"]

    code, out, err = await run_syncd(capsys, "reorder", "--config", str(config), "--json")
    assert code == 0
    found = json.loads(out)
    assert [line["sku"] for line in found["lines"]] == ["E", "A", "D", "C"]
    assert found["config_wins"] == ["B"]
    a = found["lines"][1]
    assert (a["units_sold"], a["on_hand"], a["suggested_quantity"]) == (56, 10, 28)
    assert a["rate_per_day"] == pytest.approx(2, abs=0.01)  # measured up to now, not `start`

    code, out, err = await run_syncd(capsys, "reorder", "--config", str(config), "--csv", "--all")
    assert out.startswith("\ufeff") and out.count("\r\n") == 6  # header + A, B, C, D, E
    code, out, err = await run_syncd(capsys, "reorder", "--config", str(config))
    assert code == 0 and "To reorder (4)" in out and "Blue shirt" in out and "Cap" not in out
    assert "B: set in the config and in an imported file" in err

    code, _, err = await run_syncd(capsys, "reorder", "import", "--config", str(config))
    assert code == 2 and "set [stock] reorder_file" in err  # no file named
    (tmp_path / "bad.csv").write_text("sku;quantity\nA;3\n", encoding="utf-8")
    code, out, err = await run_syncd(
        capsys, "reorder", "import", "--config", str(config), str(tmp_path / "bad.csv")
    )
    assert code == 2 and "bad.csv: row 1: " in err and "no column for point" in err


async def test_the_daemon_imports_the_reorder_file_at_start(
    ledger_backend: tuple[str, str], start_daemon: DaemonStarter, tmp_path: Path
) -> None:
    # ledger_backend first: its database outlives the daemon stopped at teardown.
    (tmp_path / "points.csv").write_text(
        "Référence;Seuil;Quantité\nCAP;2;6\nNOPE;1;1\n", encoding="utf-8"
    )
    settings = daemon_settings(
        tmp_path,
        {"channels": {"till": {"type": "fake"}}},
        ledger=ledger_backend,
        stock={"reorder_file": str(tmp_path / "points.csv")},
    )
    with capture_logs() as logs:
        daemon = await start_daemon(settings)
    assert daemon.store is not None
    # CAP is not known yet when the daemon starts on an empty ledger: rejected, and said so.
    events = {e["event"]: e for e in logs}
    assert events["reorder_points_imported"]["rejected"] == 2
    assert events["reorder_row_rejected"]["file"] == "points.csv"
    await daemon.store.upsert_products([Product("CAP", "Cap")])
    await daemon._import_reorder_file(settings)  # what the next start does
    assert [
        (p.sku, p.point, p.quantity) for p in (await daemon.store.reorder_points()).values()
    ] == [("CAP", 2, 6)]
