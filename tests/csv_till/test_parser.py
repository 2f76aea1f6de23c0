"""Real export layouts: presets by header name, refunds, voids, decimal commas, cp1252, BOM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncd.cli import main
from syncd.connectors.csv_till.parser import ParseOptions, parse_bytes, parse_quantity
from syncd.testing import tillsamples as samples


def lines_by_ref(result: object) -> dict[str, dict[str, int]]:
    return {d.doc_id: dict(d.lines) for d in result.documents}  # type: ignore[attr-defined]


def test_square_items_with_fallbacks_and_refunds() -> None:
    result = parse_bytes(samples.SQUARE.encode(), "items-2026-07-18.csv", ParseOptions())
    assert result.preset == "square_items" and result.delimiter == ","
    docs = lines_by_ref(result)
    assert docs["T1"] == {"SHIRT-0000-44": 2}  # quoted field with a comma inside
    assert docs["T1:refund"] == {"SHIRT-0000-44": -1}
    assert docs["T2"] == {"2000000000022": 2}  # GTIN when SKU is empty
    assert docs["T3"] == {"TOKEN-CAP": 1}  # then the catalogue token
    [rejected] = result.rejections
    assert (rejected.row, rejected.column) == (7, "SKU") and "no SKU" in rejected.reason


def test_loyverse_with_bom_refund_cancelled_and_bad_quantity() -> None:
    result = parse_bytes(samples.LOYVERSE.encode("utf-8"), "receipts.csv", ParseOptions())
    assert result.preset == "loyverse_receipts_by_item" and result.encoding == "utf-8-sig"
    docs = lines_by_ref(result)
    assert docs == {
        "4-10378": {"SHIRT-0000-44": 1, "SHIRT-0001-40": 2},
        "4-10379": {"SHIRT-0001-40": -1},
    }
    assert result.skipped == 1  # the cancelled receipt
    [rejected] = result.rejections
    assert (rejected.row, rejected.column, rejected.value) == (6, "Quantity", "two")
    sale = next(d for d in result.documents if d.doc_id == "4-10378")
    assert sale.occurred_at.isoformat() == "2026-07-28T11:33:00+00:00"  # 13:33 Paris time


def test_sumup_german_refunds_are_separate_documents() -> None:
    result = parse_bytes(
        samples.SUMUP.encode(), "sumup.csv", ParseOptions(timezone="Europe/Berlin")
    )
    assert result.preset == "sumup_sales_de"
    assert lines_by_ref(result) == {
        "TX-1": {"SHIRT-0000-44": 1},
        "TX-1:refund": {"SHIRT-0000-44": -1},
        "TX-2": {"CAP-1": 3},
    }


def test_generic_french_cp1252_decimal_comma_semicolon() -> None:
    result = parse_bytes(samples.GENERIC_FR, "ventes.csv", ParseOptions())
    assert result.preset == "generic_fr" and result.encoding == "cp1252" and result.delimiter == ";"
    assert lines_by_ref(result) == {
        "T-001": {"SHIRT-0000-44": 1, "CAP-1": 2},
        "T-002": {"CAP-1": -1},
    }
    [rejected] = result.rejections
    assert rejected.value == "1,5" and "fractional" in rejected.reason
    assert (
        next(d for d in result.documents if d.doc_id == "T-001").names["CAP-1"]
        == "Casquette « été »"
    )


def test_generic_preset_with_configured_columns() -> None:
    data = b"when|ticket|code|units\n2026-01-02 10:00|R1|ABC|3\n"
    options = ParseOptions(
        preset="generic",
        delimiter="|",
        columns={"receipt": "ticket", "sku": "code", "quantity": "units", "date": "when"},
    )
    result = parse_bytes(data, "x.csv", options)
    assert lines_by_ref(result) == {"R1": {"ABC": 3}}


def test_unreadable_files_say_why() -> None:
    assert "NUL" in parse_bytes(b"\x00\x01\x02", "x.csv", ParseOptions()).unreadable
    assert (
        "no known till export layout"
        in parse_bytes(b"foo,bar\n1,2\n", "x.csv", ParseOptions()).unreadable
    )
    assert "empty" in parse_bytes(b"", "x.csv", ParseOptions()).unreadable


@pytest.mark.parametrize(
    ("text", "comma", "expected"),
    [
        ("1", None, 1),
        ("1.0", None, 1),
        ("-2", None, -2),
        ("(3)", None, -3),
        ("€4", None, 4),
        ("1,000", False, 1000),
        ("2,0", None, 2),
    ],
)
def test_quantities(text: str, comma: bool | None, expected: int) -> None:
    assert parse_quantity(text, comma) == expected


def test_till_parse_command_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "receipts.csv"
    path.write_text(samples.LOYVERSE, encoding="utf-8")
    assert main(["till", "parse", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["preset"] == "loyverse_receipts_by_item"
    assert len(report["documents"]) == 2 and report["rejected"][0]["row"] == 6
    assert main(["till", "parse", str(path), "--preset", "nope"]) == 2
    assert main(["till", "parse", str(tmp_path / "missing.csv")]) == 2


good_row = st.tuples(
    st.from_regex(r"[A-Z]{1,4}-[0-9]{1,3}", fullmatch=True),
    st.integers(-5, 50),
    st.from_regex(r"R[0-9]{1,4}", fullmatch=True),
)
bad_row = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.one_of(good_row, bad_row), max_size=30), noise=st.binary(max_size=50))
def test_fuzz_never_raises_and_never_loses_a_good_row(rows: list[object], noise: bytes) -> None:
    text = "sku,quantity,receipt\n"
    expected: dict[str, dict[str, int]] = {}
    for row in rows:
        if isinstance(row, tuple):
            sku, qty, receipt = row
            text += f"{sku},{qty},{receipt}\n"
            doc = expected.setdefault(receipt, {})
            doc[sku] = doc.get(sku, 0) + qty
        else:
            text += str(row).replace("\n", " ").replace("\r", " ").replace('"', "") + "\n"
    data = text.encode() + noise
    result = parse_bytes(data, "fuzz.csv", ParseOptions(preset="generic", delimiter=","))
    got = lines_by_ref(result)
    for receipt, lines in expected.items():
        for sku in lines:
            # a junk line may add to a receipt (then it is a valid row too) but never removes one
            assert receipt in got and sku in got[receipt], (receipt, sku)
    assert result.rows >= sum(1 for r in rows if isinstance(r, tuple))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400))
def test_fuzz_random_bytes(data: bytes) -> None:
    result = parse_bytes(data, "random.bin", ParseOptions())
    assert result.ok or result.unreadable
