"""CSV cells syncd writes (rejected rows, the reconcile report) never start a formula, and
figures stay numbers (issue 22, item 8)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from syncd.csvcells import safe_cell
from syncd.reconcile.compare import Finding, FindingKind
from syncd.reconcile.report import ChannelReport, RunReport, report_csv


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+1+1", "'+1+1"),
        ("-1+cmd|' /C calc'!A0", "'-1+cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("+-1", "'+-1"),
        ("-", "'-"),
        ("-3", "-3"),
        ("-2.5", "-2.5"),
        ("-1,5", "-1,5"),
        ("+2", "+2"),
        ("SHIRT-44", "SHIRT-44"),
        ("", ""),
        (None, ""),
        (-4, "-4"),
        (True, "True"),
    ],
)
def test_a_cell_that_could_start_a_formula_is_quoted_a_number_is_not(
    value: object, cell: str
) -> None:
    assert safe_cell(value) == cell


def test_the_reconcile_report_quotes_a_formula_sku_and_keeps_negative_figures() -> None:
    report = RunReport(1, "dry_run", datetime(2026, 3, 14, tzinfo=UTC))
    report.channels.append(
        ChannelReport(
            "till",
            "csv_till",
            findings=[
                Finding("till", "=SUM(A1:A9)", FindingKind.HAND_EDIT, 5, 3, 5),
                Finding("till", "NEG", FindingKind.HAND_EDIT, 0, -4, 0),
            ],
        )
    )
    rows = list(csv.DictReader(io.StringIO(report_csv(report))))
    assert [r["sku"] for r in rows] == ["'=SUM(A1:A9)", "NEG"]
    assert rows[1]["figure"] == "-4" and rows[0]["wanted"] == "5"
    for row in rows:
        assert not any(v.startswith(("=", "+", "@", "\t", "\r")) for v in row.values())
