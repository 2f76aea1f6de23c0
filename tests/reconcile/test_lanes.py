"""Reconcile and init of channels told each location apart (lanes), the pure side: the plan
counts a source's locations apart and tells each other lane what its location will show; the
report names the location of each lane, in the tables, the JSON and the CSV."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from syncd.reconcile.compare import Figure, Finding, FindingKind
from syncd.reconcile.onboard import Lanes, plan_onboarding
from syncd.reconcile.report import (
    ChannelReport,
    RunReport,
    onboard_json,
    onboard_tables,
    report_csv,
    report_json,
    report_tables,
)

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def text(tables: list[Table]) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    for table in tables:
        console.print(table)
    return console.export_text()


def test_a_source_told_each_location_apart_is_counted_per_location() -> None:
    reads = {
        "shop@store": [Figure("CAP", 5), Figure("SHIRT", 1), Figure("DUP", 1), Figure("DUP", 2)],
        "shop@warehouse": [Figure("CAP", 3), Figure("DUP", 4)],
        # another channel told the same locations apart, and one told their sum
        "magento@store": [Figure("CAP", 5), Figure("SHIRT", 0)],
        "magento@warehouse": [Figure("CAP", 0)],
        "till": [Figure("CAP", 8), Figure("SHIRT", 1), Figure("DUP", 5)],
    }
    lanes = Lanes(
        of={
            "shop@store": ("shop", "store"),
            "shop@warehouse": ("shop", "warehouse"),
            "magento@store": ("magento", "store"),
            "magento@warehouse": ("magento", "warehouse"),
        },
        on_hand_at={("store", "CAP"): 5, ("warehouse", "CAP"): 1, ("warehouse", "SHIRT"): 2},
    )
    plan = plan_onboarding(
        "shop",
        reads,
        {"CAP": 6, "SHIRT": 2},
        buffer=lambda channel, sku: 1 if channel == "magento" and sku == "CAP" else 0,
        lanes=lanes,
    )
    # A reference shared by two rows of one location is left out of that location's count.
    assert plan.at == {"store": {"CAP": 5, "SHIRT": 1}, "warehouse": {"CAP": 3, "DUP": 4}}
    assert plan.counts == {"CAP": 8, "DUP": 4, "SHIRT": 1}
    assert [(c.location, c.sku, c.before, c.after) for c in plan.ledger] == [
        ("store", "SHIRT", 0, 1),
        ("warehouse", "CAP", 1, 3),
        ("warehouse", "DUP", None, 4),
    ]
    assert plan.unchanged == 4 - 3
    # Each other lane will show its location's count (less its channel's buffer); a SKU not
    # counted at a location keeps that location's on hand (SHIRT: 2 at the warehouse).
    assert [(c.channel, c.sku, c.shows, c.will_show) for c in plan.channels] == [
        ("magento@store", "CAP", 5, 4),
        ("magento@store", "DUP", None, 0),
        ("magento@store", "SHIRT", 0, 1),
        ("magento@warehouse", "CAP", 0, 2),
        ("magento@warehouse", "DUP", None, 4),
        ("magento@warehouse", "SHIRT", None, 2),
        ("till", "DUP", 5, 4),
    ]
    data = onboard_json(plan, applied=False, dry_run=True)
    assert data["locations"]["warehouse"] == {"CAP": 3, "DUP": 4}
    assert {"sku": "CAP", "location": "warehouse", "before": 1, "after": 3} in data[
        "ledger_changes"
    ]
    shown = " ".join(text(onboard_tables(plan)).split())
    assert "┃ SKU ┃ location ┃ on hand now ┃ will be ┃" in shown
    assert "│ CAP │ warehouse │ 1 │ 3 │" in shown
    assert "magento at warehouse: 3 figure(s) will change" in shown
    assert "2 rows share this reference in shop at store" in shown


def test_a_source_told_one_figure_tells_each_lane_its_first_location_holds_the_count() -> None:
    reads = {"till": [Figure("CAP", 6)], "shop@store": [Figure("CAP", 5)], "shop@wh": []}
    lanes = Lanes(
        of={"shop@store": ("shop", "store"), "shop@wh": ("shop", "wh")},
        on_hand_at={("wh", "CAP"): 2},
        counted_at="store",
    )
    plan = plan_onboarding("till", reads, {}, buffer=lambda c, s: 0, lanes=lanes)
    assert plan.at == {} and plan.counts == {"CAP": 6}
    assert [(c.sku, c.location, c.after) for c in plan.ledger] == [("CAP", "", 6)]
    assert [(c.channel, c.will_show) for c in plan.channels] == [
        ("shop@store", 6),
        ("shop@wh", 2),
    ]
    assert "location" not in text(onboard_tables(plan))


def test_the_report_names_each_lanes_location() -> None:
    report = RunReport(3, "dry_run", NOW)
    store = ChannelReport("shop@store", "shopify", compared=2, location="store")
    warehouse = ChannelReport("shop@warehouse", "shopify", compared=2, location="warehouse")
    warehouse.findings = [Finding("shop@warehouse", "CAP", FindingKind.HAND_EDIT, 3, 9, 3)]
    report.channels += [store, warehouse, ChannelReport("till", "csv_till", compared=2)]
    data = report_json(report)
    assert [(c["channel"], c["location"]) for c in data["channels"]] == [
        ("shop@store", "store"),
        ("shop@warehouse", "warehouse"),
        ("till", ""),
    ]
    [finding] = data["channels"][1]["findings"]
    assert finding["location"] == "warehouse"
    assert finding["explanation"].startswith("shop at warehouse shows 9 but should show 3")
    rows = report_csv(report).splitlines()
    assert rows[0].endswith(",location") and rows[1].endswith(",warehouse")
    shown = " ".join(text(report_tables(report)).split())
    assert "┃ channel ┃ location ┃ compared ┃" in shown
    assert "│ shop │ warehouse │ 2 │ 0 │ 1 │ 0 │ hand_edit: 1 │" in shown
    assert "│ till │ - │ 2 │" in shown
    assert "shop at warehouse: 1 difference(s)" in shown
    gone = Finding("shop@wh", "MUG", FindingKind.ONLY_IN_LEDGER, wanted=0)
    assert "shop does not stock it at wh" in gone.explain()
