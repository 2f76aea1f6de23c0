"""A reconciliation's outcome as values, and its renderings: JSON, CSV, rich tables.

Pure: building a table is not printing it; the caller chooses the console.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.table import Table

from syncd.csvcells import safe_row
from syncd.domain import iso_utc, lane_channel
from syncd.reconcile.compare import Finding, FindingKind, lane_location, where
from syncd.reconcile.onboard import OnboardPlan

TABLE_ROWS = 200  # rows shown per table on a terminal; the CSV report has them all


@dataclass
class ChannelReport:
    channel: str
    type: str = ""
    compared: int = 0  # SKUs read and compared
    in_flight: int = 0  # SKUs with a push still in the outbox (not drift)
    findings: list[Finding] = field(default_factory=list)
    fixed: int = 0  # corrections queued
    pushed: int = 0  # corrections written to the channel by this run
    refreshed: int = 0  # figures recorded as what the channel shows (no push needed)
    moved: int = 0  # differences that moved during the run (checked again next time)
    drift_again: int = 0  # conflicts recorded
    adopted: int = 0  # back-office edits booked as adjustments (hand_edits = "adopt")
    reported_edits: int = 0  # back-office edits recorded as conflicts (hand_edits = "report")
    error: str = ""  # the channel could not be reconciled
    seconds: float = 0.0
    resumed: bool = False
    # The location compared, for a lane of a channel told each location apart (``channel`` is
    # then the lane's ledger name, syncd.domain.lane_name); '' for a channel.
    location: str = ""

    @property
    def differences(self) -> list[Finding]:
        return [f for f in self.findings if f.is_difference]

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(f.kind.value for f in self.differences).items()))


@dataclass
class RunReport:
    run_id: int
    mode: str  # dry_run | fix
    started_at: datetime
    channels: list[ChannelReport] = field(default_factory=list)
    resumed: bool = False

    @property
    def differences(self) -> int:
        return sum(len(c.differences) for c in self.channels)

    @property
    def failed(self) -> bool:
        return any(c.error for c in self.channels)


def finding_json(f: Finding) -> dict[str, Any]:
    return {
        "channel": f.channel,
        "location": lane_location(f.channel),
        "sku": f.sku,
        "kind": f.kind.value,
        "wanted": f.wanted,
        "figure": f.figure,
        "known": f.shown,
        "fixable": f.fixable,
        "explanation": f.explain(),
        **({"detail": dict(f.detail)} if f.detail else {}),
    }


def report_json(report: RunReport) -> dict[str, Any]:
    return {
        "run": report.run_id,
        "mode": report.mode,
        "started_at": iso_utc(report.started_at),
        "resumed": report.resumed,
        "differences": report.differences,
        "channels": [
            {
                "channel": c.channel,
                "location": c.location,
                "type": c.type,
                "compared": c.compared,
                "in_flight": c.in_flight,
                "differences": len(c.differences),
                "by_kind": c.counts(),
                "fixed": c.fixed,
                "pushed": c.pushed,
                "refreshed": c.refreshed,
                "moved_during_run": c.moved,
                "drift_again": c.drift_again,
                "seconds": round(c.seconds, 2),
                "resumed": c.resumed,
                "error": c.error,
                "findings": [finding_json(f) for f in c.differences],
            }
            for c in report.channels
        ],
    }


# "location" last: a script reading the earlier columns by position keeps working.
CSV_COLUMNS = (
    "channel",
    "sku",
    "kind",
    "wanted",
    "figure",
    "known",
    "fixable",
    "explanation",
    "location",
)


def report_csv(report: RunReport) -> str:
    """Every difference, one row each (the CSV report file)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for channel in report.channels:
        for f in channel.differences:
            row = finding_json(f)
            # A SKU or product text from a shop can start a formula: quoted (safe_cell); the
            # figures are our own ints and stay numbers, negative ones included.
            writer.writerow(safe_row([row[c] for c in CSV_COLUMNS]))
    return out.getvalue()


def _num(value: int | None) -> str:
    return "-" if value is None else str(value)


def report_tables(report: RunReport) -> list[Table]:
    """A summary table per run, and a table of differences per channel that has some."""
    summary = Table(title=f"Reconciliation #{report.run_id} ({report.mode.replace('_', ' ')})")
    lanes = any(c.location for c in report.channels)
    columns = ("channel", *(("location",) if lanes else ()), "compared", "in flight")
    for column in (*columns, "differences", "fixed", "note"):
        left = column in ("channel", "location", "note")
        summary.add_column(column, justify="left" if left else "right")
    for c in report.channels:
        kinds = ", ".join(f"{k}: {n}" for k, n in c.counts().items())
        note = c.error or kinds or "clean"
        summary.add_row(
            lane_channel(c.channel),
            *((c.location or "-",) if lanes else ()),
            str(c.compared),
            str(c.in_flight),
            str(len(c.differences)),
            str(c.fixed),
            note,
        )
    tables = [summary]
    for c in report.channels:
        diffs = c.differences
        if not diffs:
            continue
        shown = diffs[:TABLE_ROWS]
        title = f"{where(c.channel)}: {len(diffs)} difference(s)"
        if len(diffs) > len(shown):
            title += f" (first {len(shown)}; --report FILE.csv has them all)"
        table = Table(title=title)
        for column in ("SKU", "kind", "should", "shows", "known", "why"):
            table.add_column(column)
        for f in shown:
            table.add_row(
                f.sku,
                f.kind.value,
                _num(f.wanted),
                _num(f.figure),
                _num(f.shown),
                f.explain(),
            )
        tables.append(table)
    return tables


# -- onboarding ---------------------------------------------------------------------------------


def onboard_json(plan: OnboardPlan, *, applied: bool, dry_run: bool) -> dict[str, Any]:
    by_channel: dict[str, list[dict[str, Any]]] = {}
    for change in plan.channels:
        by_channel.setdefault(change.channel, []).append(
            {"sku": change.sku, "shows": change.shows, "will_show": change.will_show}
        )
    return {
        "source": plan.source,
        "dry_run": dry_run,
        "applied": applied,
        "skus": len(plan.counts),
        "ledger_changes": [
            {"sku": c.sku, "location": c.location, "before": c.before, "after": c.after}
            for c in plan.ledger
        ],
        # A source told each location apart: each location's count (SKU → units).
        "locations": {location: dict(lines) for location, lines in plan.at.items()},
        "ledger_unchanged": plan.unchanged,
        "channel_changes": by_channel,
        "audit": [finding_json(f) for f in plan.audit],
    }


def onboard_tables(plan: OnboardPlan) -> list[Table]:
    tables = []
    ledger = Table(
        title=f"Ledger set from {plan.source}: {len(plan.ledger)} change(s), "
        f"{plan.unchanged} unchanged"
    )
    # A source told each location apart is counted per location: one row per location.
    for column in ("SKU", *(("location",) if plan.at else ()), "on hand now", "will be"):
        ledger.add_column(column)
    for change in plan.ledger[:TABLE_ROWS]:
        at = (change.location,) if plan.at else ()
        ledger.add_row(change.sku, *at, _num(change.before), str(change.after))
    tables.append(ledger)
    channels = sorted({c.channel for c in plan.channels})
    for name in channels:
        changes = plan.changes_for(name)
        table = Table(title=f"{where(name)}: {len(changes)} figure(s) will change")
        for column in ("SKU", "shows now", "will show"):
            table.add_column(column)
        for diff in changes[:TABLE_ROWS]:
            table.add_row(diff.sku, _num(diff.shows), str(diff.will_show))
        tables.append(table)
    if plan.audit:
        table = Table(title=f"SKU mapping audit: {len(plan.audit)} problem(s)")
        for column in ("channel", "SKU", "problem"):
            table.add_column(column)
        for f in plan.audit[:TABLE_ROWS]:
            table.add_row(f.channel or "-", f.sku, _audit_text(f))
        tables.append(table)
    return tables


def _audit_text(f: Finding) -> str:
    if f.kind is FindingKind.ONLY_IN_CHANNEL:
        missing = ", ".join(where(str(m)) for m in f.detail.get("missing_in", []))
        return f"only in {where(f.channel)}; missing in {missing}"
    if f.kind is FindingKind.DUPLICATE_REFERENCE and "barcode" in f.detail:
        return f"barcode {f.detail['barcode']} maps to several SKUs"
    if f.kind is FindingKind.DUPLICATE_REFERENCE:
        return f"{f.detail.get('rows', 2)} rows share this reference in {where(f.channel)}"
    return f.explain()
