"""`syncd receive | count | adjust | void` run as a merchant runs them, through `syncd.cli.main`,
on SQLite and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from syncd.cli import main
from syncd.config import load_config
from syncd.connectors.csv_till.parser import ParseOptions, parse_bytes
from syncd.domain import Document, DocumentKind
from syncd.ledger import ChannelInfo, Product, open_store
from syncd.ledger.store import Store
from syncd.testing.harness import write_config

T = TypeVar("T")
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
STOCK = {"SHIRT-44": 2, "SHIRT-45": 3, "CAP": 1, "MUG": 4}
BARCODES = {"SHIRT-44": "4000000000001", "CAP": "4000000000002", "MUG": "4000000000003"}
PARIS = ZoneInfo("Europe/Paris")

NOTE = (
    "Fournisseur;Textiles Dupont\r\n"
    "Bon de livraison n°;BL-2291\r\n"
    "\r\n"
    "Référence;EAN;Désignation;Qté commandée;Qté livrée;\r\n"
    "SHIRT-44;;Chemise bleue 44;10;10,0;\r\n"
    ";4000000000002;Casquette;5;2,5;\r\n"
    "NOPE;;Inconnu;1;1;\r\n"
    ";4000000000003;Tasse;3;3;\r\n"
    "Total;;;19;16,5;\r\n"
).encode("cp1252")


@pytest.fixture
def config(tmp_path: Path, ledger_backend: tuple[str, str]) -> Path:
    """A shop with a till channel and four products in its ledger."""
    backend, dsn = ledger_backend
    ledger = (
        {"backend": "postgres", "dsn": dsn}
        if backend == "postgres"
        else {"backend": "sqlite", "path": "ledger.sqlite3"}
    )
    path = write_config(
        tmp_path / "syncd.toml",
        {
            "ledger": ledger,
            "web": {"enabled": False, "timezone": "Europe/Paris"},
            "channels": {"till": {"type": "csv_till", "drop_folder": "in"}},
        },
    )

    async def stock(store: Store) -> None:
        await store.register_channels([ChannelInfo("till", "csv_till", push=True)])
        await store.upsert_products([Product(sku, sku.title(), BARCODES.get(sku)) for sku in STOCK])
        await store.apply_document(
            Document("init", "opening", DocumentKind.STOCK_COUNT, dict(STOCK), T0)
        )

    ledger_do(path, stock)
    return path


def ledger_do(config: Path, work: Callable[[Store], Awaitable[T]]) -> T:
    async def go() -> T:
        store = await open_store(load_config(config).ledger)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(go())


def levels(config: Path) -> dict[str, int]:
    return ledger_do(config, lambda s: s.levels())


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def as_json(out: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(out)
    return loaded


# -- receive --------------------------------------------------------------------------------------


def test_receive_books_a_note_reports_each_refused_row_and_books_it_once(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    note = config.parent / "BL-2291.csv"
    note.write_bytes(NOTE)
    code, out, err = run(capsys, "receive", "--config", str(config), str(note))
    assert code == 0
    assert "Shirt-44" in out and "2 → 12" in out and "4 → 7" in out  # name, before → after
    assert (
        "refused: BL-2291.csv row 6, column 'Qté livrée', value '2,5': quantity '2,5' is not a"
        " whole number of units" in err
    )
    assert "refused: BL-2291.csv row 7, column 'Référence', value 'NOPE'" in err
    assert "ignored: BL-2291.csv row 9: a totals row" in err
    assert "2 row(s) refused (listed above); the rest is booked" in err
    assert "delivery booked at " in err and "(Europe/Paris)" in err
    assert levels(config) == {"SHIRT-44": 12, "SHIRT-45": 3, "CAP": 1, "MUG": 7}

    # pushed like a sale: the till is owed the new figures
    outbox = ledger_do(config, lambda s: s.take_outbox("till", 10))
    assert {i.sku: i.wanted for i in outbox} == {"SHIRT-44": 12, "SHIRT-45": 3, "CAP": 1, "MUG": 7}
    # the refused rows wait on the status page, with their file and row
    stored = ledger_do(config, lambda s: s.rejections())
    assert sorted((r.channel, r.source, r.row, r.reason) for r in stored) == [
        ("stock", "BL-2291.csv", 6, "quantity '2,5' is not a whole number of units"),
        ("stock", "BL-2291.csv", 7, "'NOPE' is not a known SKU, barcode or alias"),
    ]

    # the same note again, under another name and as JSON: booked once
    copy = config.parent / "copie.csv"
    copy.write_bytes(NOTE)
    code, out, err = run(capsys, "receive", "--config", str(config), str(copy), "--json")
    assert code == 0 and err == ""
    result = as_json(out)
    assert result["status"] == "unchanged" and result["file"] == "copie.csv"
    assert (result["supplier"], result["delivery_note"]) == ("Textiles Dupont", "BL-2291")
    assert result["lines"] == [
        {"sku": "MUG", "quantity": 3, "on_hand_before": 7, "on_hand_after": 7, "name": "Mug"},
        {
            "sku": "SHIRT-44",
            "quantity": 10,
            "on_hand_before": 12,
            "on_hand_after": 12,
            "name": "Shirt-44",
        },
    ]
    assert [(r["file"], r["row"], r["column"]) for r in result["refused"]] == [
        ("copie.csv", 6, "Qté livrée"),
        ("copie.csv", 7, "Référence"),
    ]
    assert levels(config)["SHIRT-44"] == 12
    assert len(ledger_do(config, lambda s: s.rejections())) == 4  # copie.csv's rows too, once


def test_a_note_without_a_number_books_once_per_file(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    note = config.parent / "delivery.csv"
    note.write_text("sku,qty\nCAP,2\nMUG,1\n", encoding="utf-8")
    assert run(capsys, "receive", "--config", str(config), str(note))[0] == 0
    code, _, err = run(capsys, "receive", "--config", str(config), str(note))
    assert code == 0 and "already booked" in err
    assert levels(config)["CAP"] == 3
    # another delivery of the same goods is another file: booked too
    other = config.parent / "delivery-2.csv"
    other.write_text("sku,qty\nCAP,2\nMUG,1\n\n", encoding="utf-8")
    assert run(capsys, "receive", "--config", str(config), str(other))[0] == 0
    assert levels(config)["CAP"] == 5
    # given a number, the note is that note: booked once whatever file it comes in
    for _ in range(2):
        run(capsys, "receive", "--config", str(config), str(note), "--note-number", "DN-9")
    assert levels(config)["CAP"] == 7


def test_receive_dry_run_writes_nothing(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    note = config.parent / "n.csv"
    note.write_bytes(NOTE)
    code, out, err = run(capsys, "receive", "--config", str(config), str(note), "--dry-run")
    assert code == 0 and "2 → 12" in out and "dry run: nothing booked" in err
    assert levels(config) == STOCK
    assert ledger_do(config, lambda s: s.rejections()) == []


def test_receive_says_why_nothing_could_be_booked(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = config.parent
    (folder / "unknown.csv").write_text("sku;qty\nNOPE;2\n", encoding="utf-8")
    code, _, err = run(capsys, "receive", "--config", str(config), str(folder / "unknown.csv"))
    assert code == 1
    assert "unknown.csv: no line of the delivery can be booked: row 2: 'NOPE' is not a known" in err
    assert "nothing was booked" in err

    (folder / "other.csv").write_text("Article;Nombre\nCAP;2\n", encoding="utf-8")
    code, out, err = run(capsys, "receive", "--config", str(config), str(folder / "other.csv"))
    assert code == 1 and out == ""
    assert "columns found: 'Article', 'Nombre'" in err and "--columns" in err
    code, _, _ = run(
        capsys,
        "receive",
        "--config",
        str(config),
        str(folder / "other.csv"),
        "--columns",
        "sku=Article,quantity=Nombre",
    )
    assert code == 0 and levels(config)["CAP"] == 3

    code, _, err = run(capsys, "receive", "--config", str(config), str(folder / "missing.csv"))
    assert code == 2 and "cannot read" in err and "missing.csv" in err
    code, _, err = run(
        capsys, "receive", "--config", str(config), str(folder / "other.csv"), "--columns", "x"
    )
    assert code == 2 and "--columns: 'x' is not ROLE=COLUMN" in err
    assert levels(config)["CAP"] == 3


# -- count ----------------------------------------------------------------------------------------


def test_count_with_a_prefix_counts_the_rest_of_the_prefix_as_zero(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    count = config.parent / "shirts.csv"
    count.write_text("Référence;Quantité\nSHIRT-44;5\n", encoding="utf-8")
    code, out, err = run(
        capsys, "count", "--config", str(config), str(count), "--prefix", "SHIRT-", "--json"
    )
    assert code == 0 and err == ""
    result = as_json(out)
    assert result["status"] == "applied" and result["zeroed"] == 1
    assert levels(config) == {"SHIRT-44": 5, "SHIRT-45": 0, "CAP": 1, "MUG": 4}


def test_a_sku_refused_for_its_quantity_is_not_counted_as_missing(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    count = config.parent / "shirts.csv"
    count.write_text("sku;qty\nSHIRT-44;5\nSHIRT-45;2,5\n", encoding="utf-8")
    code, _, err = run(capsys, "count", "--config", str(config), str(count), "--prefix", "SHIRT-")
    assert code == 0 and "row 3" in err and "not a whole number" in err
    assert levels(config)["SHIRT-45"] == 3  # refused, not zeroed


def test_a_full_count_asks_before_zeroing_what_the_file_does_not_name(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    count = config.parent / "all.csv"
    count.write_text("sku,qty\nSHIRT-44,1\nMUG,4\n", encoding="utf-8")
    code, _, err = run(capsys, "count", "--config", str(config), str(count), "--full")
    assert code == 2
    assert "2 SKU(s) of the ledger with stock are not in" in err and "CAP, SHIRT-45" in err
    assert "confirm with --yes" in err
    assert levels(config) == STOCK
    code, out, err = run(capsys, "count", "--config", str(config), str(count), "--full", "--yes")
    assert code == 0 and "2 SKU(s) of the ledger not in the file counted 0" in err
    assert levels(config) == {"SHIRT-44": 1, "SHIRT-45": 0, "CAP": 0, "MUG": 4}


def test_a_count_at_a_past_time_keeps_the_sales_made_since(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --at has whole seconds: the next one, after the opening stock and before the sale
    counted = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    time.sleep((counted - datetime.now(UTC)).total_seconds() + 0.05)
    sale = Document("till", "t-1", DocumentKind.TILL_RECEIPT, {"MUG": 2}, counted)
    ledger_do(config, lambda s: s.apply_document(sale))
    count = config.parent / "mugs.csv"
    count.write_text("sku;qty\nMUG;3\n", encoding="utf-8")
    at = f"{counted.astimezone(PARIS):%Y-%m-%d %H:%M:%S}"
    code, out, err = run(capsys, "count", "--config", str(config), str(count), "--at", at)
    assert code == 0, err
    # 3 on the shelf when the ledger said 4: one missing; the 2 sold since stay sold
    assert levels(config)["MUG"] == 1
    code, _, err = run(capsys, "count", "--config", str(config), str(count), "--at", "tomorrow")
    assert code == 2 and "--at 'tomorrow' is not a time" in err


# -- adjust ---------------------------------------------------------------------------------------


def test_adjust_books_a_reason_and_a_note(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "adjust",
        "--config",
        str(config),
        "MUG",
        "-2",
        "--reason",
        "breakage",
        "--note",
        "box dropped",
    )
    assert code == 0 and "4 → 2" in out and "-2" in out and "adjustment booked" in err
    moves = ledger_do(config, lambda s: s.movements(sku="MUG"))
    assert [(m.delta, m.reason.value) for m in moves if m.channel == "stock"] == [(-2, "breakage")]
    code, out, _ = run(
        capsys,
        "adjust",
        "--config",
        str(config),
        "4000000000003",
        "+3",
        "--reason",
        "correction",
        "--json",
    )
    result = as_json(out)
    assert (
        code == 0 and result["lines"][0]["on_hand_after"] == 5 and result["reason"] == "correction"
    )
    code, _, err = run(capsys, "adjust", "--config", str(config), "NOPE", "1", "--reason", "gift")
    assert code == 1 and "'NOPE' is not a known SKU" in err
    with pytest.raises(SystemExit) as exit_:
        main(["adjust", "--config", str(config), "MUG", "1", "--reason", "lost"])
    assert exit_.value.code == 2
    assert levels(config)["MUG"] == 5


# -- void -----------------------------------------------------------------------------------------


def test_void_undoes_a_delivery_once(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    note = config.parent / "n.csv"
    note.write_text("sku;qty\nCAP;4\n", encoding="utf-8")
    _, out, _ = run(capsys, "receive", "--config", str(config), str(note), "--json")
    doc_id = as_json(out)["doc_id"]
    assert levels(config)["CAP"] == 5
    code, out, err = run(
        capsys, "void", "--config", str(config), "stock", doc_id, "--note", "wrong shop"
    )
    assert code == 0 and "5 → 1" in out and "voided 1 document(s) of stock" in err
    assert levels(config)["CAP"] == 1
    code, out, err = run(capsys, "void", "--config", str(config), "stock", doc_id, "--json")
    assert code == 0 and as_json(out)["status"] == "unchanged"
    assert levels(config)["CAP"] == 1
    stored = ledger_do(config, lambda s: s.stored_document("stock", doc_id))
    assert stored is not None and stored.cancelled and stored.meta["void_note"] == "wrong shop"

    code, _, err = run(capsys, "void", "--config", str(config), "stock", "receipt:nope")
    assert code == 1 and "no document 'receipt:nope'" in err
    code, _, err = run(capsys, "void", "--config", str(config), "shop", "x")
    assert code == 2 and "no channel 'shop'" in err


def test_void_a_till_file_voids_every_receipt_read_from_it(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = (
        "Date;Ticket;Référence;Quantité\r\n"
        "26/11/2026 10:00;T-1;CAP;1\r\n"
        "26/11/2026 10:05;T-2;MUG;2\r\n"
        "26/11/2026 10:06;T-2;4000000000001;1\r\n"
    ).encode("cp1252")
    parsed = parse_bytes(data, "ventes-0926.csv", ParseOptions(), channel="till")
    assert len(parsed.documents) >= 2
    assert {d.meta["file"] for d in parsed.documents} == {"ventes-0926.csv"}
    before = levels(config)
    ledger_do(config, lambda s: s.apply_batch(parsed.documents))
    assert levels(config) == {**before, "CAP": 0, "MUG": 2, "SHIRT-44": 1}
    code, out, err = run(
        capsys, "void", "--config", str(config), "till", "ventes-0926.csv", "--json"
    )
    result = as_json(out)
    assert code == 0 and result["status"] == "voided"
    assert sorted(v["doc_id"] for v in result["voided"]) == sorted(
        d.doc_id for d in parsed.documents
    )
    assert levels(config) == before
    # the file's receipts are void, never deleted: they are still there, with no lines in effect
    stored = ledger_do(config, lambda s: s.stored_document("till", "T-2"))
    assert stored is not None and stored.cancelled and stored.meta["file"] == "ventes-0926.csv"
