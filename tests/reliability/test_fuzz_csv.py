"""Fuzzing the till CSV parser: it never raises, and every data row is applied, rejected (file,
row, column, reason) or counted as skipped — rows == applied + rejected + skipped."""

from __future__ import annotations

import csv
import io
import random
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.reliability.fuzz_inputs import CELL_TOKENS, T0, check_csv, csv_case, csv_options
from syncd.connectors.csv_till.parser import ParseOptions, parse_bytes, parse_quantity
from syncd.testing import tillsamples as samples

FAST = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(seed=st.integers(min_value=0, max_value=2**63))
def test_mutated_real_exports_never_crash_nor_drop_a_row(seed: int) -> None:
    data, name, options = csv_case(random.Random(seed))
    assert check_csv(data, name, options) == [], f"replay: csv_case(random.Random({seed}))"


header = st.sampled_from(
    ["sku,quantity,receipt,date,type,status", "SKU;Qty;Ticket", "barcode\tqty\treceipt"]
)
cell = st.one_of(st.sampled_from(CELL_TOKENS), st.text(max_size=12))


@FAST
@given(
    head=header,
    rows=st.lists(st.lists(cell, max_size=7), max_size=25),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_generated_tables_account_for_every_row(
    head: str, rows: list[list[str]], seed: int
) -> None:
    delimiter = next(d for d in ",;\t" if d in head)
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=delimiter).writerows([head.split(delimiter), *(r for r in rows if r)])
    data = out.getvalue().encode("utf-8", errors="surrogatepass")
    options = csv_options(random.Random(seed))
    assert check_csv(data, "table.csv", options) == []


@FAST
@given(data=st.binary(max_size=600), seed=st.integers(min_value=0, max_value=2**32))
def test_random_bytes_are_unreadable_or_accounted(data: bytes, seed: int) -> None:
    assert check_csv(b"sku,quantity\n" + data, "noise.csv", csv_options(random.Random(seed))) == []


# -- the inputs that crashed or mis-counted before the fixes (regressions) -------------------------


def test_the_samples_account_for_every_row() -> None:
    loyverse = parse_bytes(samples.LOYVERSE.encode(), "receipts.csv", ParseOptions())
    # 5 rows: 3 applied, 1 cancelled (skipped), 1 with quantity "two" (rejected)
    assert (loyverse.rows, loyverse.applied, loyverse.skipped) == (5, 3, 1)
    assert len(loyverse.rejections) == 1
    for sample in (samples.SQUARE.encode(), samples.SUMUP.encode(), samples.GENERIC_FR):
        result = parse_bytes(sample, "x.csv", ParseOptions())
        assert result.rows == result.applied + len(result.rejections) + result.skipped > 0


def test_an_encoding_whose_decoder_raises_a_bare_unicode_error_is_unreadable() -> None:
    # punycode (and idna) raise UnicodeError, not UnicodeDecodeError: it used to escape.
    result = parse_bytes(b"sku,quantity\nA,1\n\\x", "x.csv", ParseOptions(encoding="punycode"))
    assert "cannot decode" in result.unreadable
    assert (
        check_csv(b"sku,qty\n" + b"a" * 70 + b".b,1\n", "x.csv", ParseOptions(encoding="idna"))
        == []
    )


def test_a_date_before_year_one_in_utc_falls_back_instead_of_crashing() -> None:
    # 0001-01-01 00:00 in Paris is 0000-12-31 in UTC: astimezone overflowed.
    data = b"sku,quantity,receipt,date\nCAP,1,R1,0001-01-01 00:00:00\n"
    result = parse_bytes(data, "x.csv", ParseOptions(), fallback_time=T0)
    assert [d.occurred_at for d in result.documents] == [T0] and result.applied == 1


def test_a_broken_csv_row_is_counted_as_a_row_and_rejected() -> None:
    huge = b'"' + b"x" * (csv.field_size_limit() + 10) + b'"'
    data = b"sku,quantity,receipt\nCAP,1,R1\n" + huge + b",1,R2\nMUG,2,R3\n"
    result = parse_bytes(data, "x.csv", ParseOptions())
    assert result.rows == 3 and result.applied == 2
    assert [r.row for r in result.rejections] == [3]
    assert result.rejections[0].reason.startswith("broken CSV row")
    assert check_csv(data, "x.csv", ParseOptions()) == []


def test_huge_and_odd_numbers_are_rejected_with_the_column_named() -> None:
    rows = [
        "1e400",
        str(10**30),
        "9" * 5000,
        "NaN",
        "1_000",
        "١٢",
        "(2)",
        "2x3",
        "+-1",
        '"1.000,00"',
    ]
    body = "".join(f"S{i},{q},R{i}\n" for i, q in enumerate(rows))
    data = ("sku,quantity,receipt\n" + body).encode()
    result = parse_bytes(data, "x.csv", ParseOptions())
    assert result.rows == len(rows) == result.applied + len(result.rejections)
    assert {r.column for r in result.rejections} == {"quantity"}
    applied = {sku: qty for d in result.documents for sku, qty in d.lines.items()}
    # Arabic-Indic digits, (2) and a thousands separator are numbers; nothing else is.
    assert applied == {"S5": 12, "S6": -2, "S9": 1000}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1e400", None),  # was read as 1400: letters inside a number were stripped
        ("1E5", None),  # was 15
        ("2x3", None),  # was 23
        ("1_000", None),
        ("+-1", None),  # double signs were accepted
        ("--1", None),
        ("1.000,00", 1000),  # was 1: with both separators, the last one is the decimal one
        ("1,000.00", 1000),
        ("-€3", -3),
        ("(€2)", -2),
        ("3 pcs", 3),
        ("EUR 3,50", Decimal("3.5")),
    ],
)
def test_quantity_text_is_read_whole_or_refused(text: str, expected: object) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="not a number"):
            parse_quantity(text, None)
    else:
        assert parse_quantity(text, None) == expected
