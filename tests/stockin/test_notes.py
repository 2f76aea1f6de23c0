"""Delivery notes and count files as suppliers and shops write them: `;` cp1252 French with a
decimal comma, `,` UTF-8 English, a BOM, lines above the table, totals, repeats, bad rows."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from syncd.stockin.notes import StockFile, parse_columns, read_stock_file

FRENCH = (
    "Fournisseur;Textiles Dupont\r\n"
    "Bon de livraison n°;BL-2291\r\n"
    "\r\n"
    "Référence;Désignation;Qté commandée;Qté livrée;\r\n"
    "SHIRT-44;Chemise bleue 44;10;10,0;\r\n"
    "CAP;Casquette rayée;5;2,5;\r\n"
    ";;;;\r\n"
    "Référence;Désignation;Qté commandée;Qté livrée;\r\n"
    "MUG;Tasse;3;3;\r\n"
    "Total;;18;15,5;\r\n"
)


def rows(parsed: StockFile) -> list[tuple[int, str, int]]:
    return [(r.row, r.identifier, r.quantity) for r in parsed.rows]


def refused(parsed: StockFile) -> list[tuple[int | None, str, str, str]]:
    return [(r.row, r.column, r.value, r.reason) for r in parsed.rejections]


def test_a_french_note_in_cp1252_with_a_decimal_comma() -> None:
    parsed = read_stock_file(FRENCH.encode("cp1252"), "bl.csv", kind="receipt")
    assert parsed.ok and (parsed.encoding, parsed.delimiter) == ("cp1252", ";")
    # "Qté livrée" wins over "Qté commandée": what was delivered is booked
    assert parsed.columns == {"sku": "Référence", "quantity": "Qté livrée", "name": "Désignation"}
    assert (parsed.supplier, parsed.delivery_note) == ("Textiles Dupont", "BL-2291")
    assert rows(parsed) == [(5, "SHIRT-44", 10), (9, "MUG", 3)]  # "10,0" is 10
    assert refused(parsed) == [
        (6, "Qté livrée", "2,5", "quantity '2,5' is not a whole number of units")
    ]
    assert parsed.rejections[0].channel == "stock" and parsed.rejections[0].source == "bl.csv"
    assert parsed.ignored == [(8, "the header, repeated"), (10, "a totals row")]
    assert parsed.rows[0].name == "Chemise bleue 44"


def test_an_english_note_in_utf8_with_commas_and_a_bom() -> None:
    text = (
        "sku,barcode,qty,supplier,delivery note\n"
        "SHIRT-44,,3,Acme,DN-7\n"
        ',4000000000001,"3,0",Acme,DN-7\n'  # a quoted decimal comma in a comma file
        "X-1,,-2,Acme,DN-7\n"
        "X-2,,two,Acme,DN-7\n"
        ",,,,\n"
        ",,6,,\n"  # a totals row without its word: the sum so far
        ",,4,,\n"  # not the sum: a line without SKU
    )
    for data in (text.encode(), b"\xef\xbb\xbf" + text.encode()):
        parsed = read_stock_file(data, "note.csv", kind="receipt")
        assert parsed.delimiter == ","
        assert parsed.encoding == ("utf-8-sig" if data.startswith(b"\xef") else "utf-8")
        assert (parsed.supplier, parsed.delivery_note) == ("Acme", "DN-7")
        assert rows(parsed) == [(2, "SHIRT-44", 3), (3, "4000000000001", 3)]
        assert refused(parsed) == [
            (
                4,
                "qty",
                "-2",
                "quantity -2 is below zero: a delivery adds units (book a return with syncd"
                " adjust --reason supplier_return)",
            ),
            (5, "qty", "two", "quantity 'two' is not a number"),
            (8, "sku", "", "no SKU or barcode on this row"),
        ]
        assert parsed.ignored == [(7, "a totals row")]


def test_a_row_names_its_sku_and_its_barcode_both_kept() -> None:
    data = "Code article;Code-barres;Qté\nA-1;4000000000009;2\n;'4000000000010;1\n".encode()
    parsed = read_stock_file(data, "n.csv", kind="receipt")
    assert [r.identifiers for r in parsed.rows] == [("A-1", "4000000000009"), ("4000000000010",)]


def test_an_unquoted_decimal_comma_in_a_comma_file_is_refused_not_misread() -> None:
    parsed = read_stock_file(b"sku,qty\nA,2,5\nB,3,\n", "n.csv", kind="receipt")
    assert rows(parsed) == [(3, "B", 3)]  # a trailing separator is nothing
    [(row, _, _, reason)] = refused(parsed)
    assert row == 2 and "the row has 3 fields, the header 2" in reason


def test_a_file_without_a_known_header_names_what_it_found_and_what_is_accepted() -> None:
    parsed = read_stock_file(b"Article;Nombre\nA;2\n", "x.csv", kind="receipt")
    assert not parsed.ok
    assert "columns found: 'Article', 'Nombre'" in parsed.unreadable
    assert "référence" in parsed.unreadable and "quantité" in parsed.unreadable
    assert "--columns" in parsed.unreadable
    # …and --columns names them
    parsed = read_stock_file(
        b"Article;Nombre\nA;2\n",
        "x.csv",
        kind="receipt",
        columns=parse_columns("sku=article,qty=Nombre"),
    )
    assert rows(parsed) == [(2, "A", 2)]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "the file is empty"),
        (b"PK\x03\x04\x14\x00rest", "spreadsheet workbook"),
        (b"%PDF-1.7\n", "a PDF"),
    ],
)
def test_what_is_no_csv_says_so(data: bytes, why: str) -> None:
    parsed = read_stock_file(data, "x", kind="receipt")
    assert why in parsed.unreadable


def test_unicode_text_from_a_spreadsheet_is_read() -> None:
    data = "Référence\tQuantité\r\nMUG\t4\r\n".encode("utf-16")
    parsed = read_stock_file(data, "x.txt", kind="receipt")
    assert parsed.encoding == "utf-16" and rows(parsed) == [(2, "MUG", 4)]


def test_parse_columns_refuses_what_it_cannot_use() -> None:
    assert parse_columns("sku=Ref. fournisseur, quantity=Qté") == {
        "sku": "Ref. fournisseur",
        "quantity": "Qté",
    }
    for bad, message in (
        ("sku", "is not ROLE=COLUMN"),
        ("colour=Red", "unknown column role 'colour'"),
        ("", "no column given"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_columns(bad)


def test_a_count_file_with_local_dates_and_times() -> None:
    data = (
        "Code article;Quantité comptée;Date;Heure\n"
        "A;3;26/11/2026;10:15\n"
        "B;0;26/11/2026;10:20\n"
        "C;4;26/11/2026;\n"  # today without a time: at booking
        "D;1;25/11/2026;\n"  # an earlier day: at its end
        "E;2;demain;\n"
        "F;1;;09:30\n"  # a time without a day: today's
    ).encode("cp1252")
    parsed = read_stock_file(
        data, "count.csv", kind="count", timezone="Europe/Paris", today=date(2026, 11, 26)
    )
    at = {r.identifier: r.at for r in parsed.rows}
    assert at == {
        "A": datetime(2026, 11, 26, 9, 15, tzinfo=UTC),
        "B": datetime(2026, 11, 26, 9, 20, tzinfo=UTC),
        "C": None,
        "D": datetime(2026, 11, 25, 23, 0, tzinfo=UTC),
        "F": datetime(2026, 11, 26, 8, 30, tzinfo=UTC),
    }
    assert [r.quantity for r in parsed.rows] == [3, 0, 4, 1, 1]
    assert refused(parsed) == [
        (6, "Date", "demain", "time 'demain' is not understood (write it like 2026-11-26 10:15)")
    ]


def test_a_count_file_may_call_its_quantity_stock() -> None:
    parsed = read_stock_file(b"EAN;Stock\n4000000000001;7\n", "c.csv", kind="count")
    assert rows(parsed) == [(2, "4000000000001", 7)]
    assert not read_stock_file(b"EAN;Stock\n4000000000001;7\n", "c.csv", kind="receipt").ok


def test_numbers_as_french_files_write_them() -> None:
    data = "Référence;Quantité\nA;3.0\nB;1.000\nC;1 200\nD;2.5\n4,00E+12;1\n".encode()
    parsed = read_stock_file(data, "n.csv", kind="receipt")
    assert rows(parsed) == [(2, "A", 3), (3, "B", 1000), (4, "C", 1200)]
    assert [(r.row, r.reason.split(":")[0]) for r in parsed.rejections] == [
        (5, "quantity '2.5' is not a whole number of units"),
        (6, "'4,00E+12' is a code a spreadsheet turned into a rounded number"),
    ]
