"""The pure core: classification, confirmation, fix decisions, missed events, onboarding plans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from syncd.reconcile.compare import (
    Comparison,
    Figure,
    Finding,
    FindingKind,
    LedgerView,
    classify,
    confirm,
)
from syncd.reconcile.fixes import RememberedFix, decide_fixes
from syncd.reconcile.missed import (
    TillFile,
    earliest_cursors,
    id_gaps,
    missing_files,
    missing_orders,
    rewind_cursors,
)
from syncd.reconcile.onboard import audit, plan_onboarding
from syncd.reconcile.report import ChannelReport, RunReport, report_csv, report_json

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_each_difference_gets_its_kind_and_an_explanation() -> None:
    ledger = {
        "OK": LedgerView(5, 5),
        "EDITED": LedgerView(5, 5),
        "NEVER": LedgerView(3, None),
        "SKIPPED": LedgerView(3, 7),
        "QUEUED": LedgerView(2, 4, queued=2),
        "MANAGED": LedgerView(1, 1),
        "MISSING": LedgerView(9, 9),
    }
    cmp = Comparison("webshop", ledger)
    found = cmp.feed(
        [
            Figure("OK", 5),
            Figure("EDITED", 50),
            Figure("NEVER", 0),
            Figure("SKIPPED", 7),
            Figure("QUEUED", 4),
            Figure("MANAGED", 8, managed=True),
            Figure("STRAY", 2, name="Stray cap"),
            Figure("", 1, where="id_product 9, id_product_attribute 4"),
        ]
    )
    found += cmp.feed([Figure("OK", 5)])  # the same reference on a second row
    found += cmp.finish()
    kinds = {f.sku: f.kind for f in found}
    assert kinds == {
        "EDITED": FindingKind.HAND_EDIT,
        "NEVER": FindingKind.NOT_PUSHED,
        "SKIPPED": FindingKind.NOT_PUSHED,
        "QUEUED": FindingKind.IN_FLIGHT,
        "MANAGED": FindingKind.MANAGED_BY_CHANNEL,
        "STRAY": FindingKind.ONLY_IN_CHANNEL,
        "id_product 9, id_product_attribute 4": FindingKind.NO_REFERENCE,
        "OK": FindingKind.DUPLICATE_REFERENCE,
        "MISSING": FindingKind.ONLY_IN_LEDGER,
    }
    edited = next(f for f in found if f.sku == "EDITED")
    assert "shows 50 but should show 5" in edited.explain()
    assert "last known to show 5" in edited.explain()
    assert all(f.explain() for f in found)
    assert cmp.in_flight == 1 and cmp.compared == 7 and cmp.duplicates == {"OK"}
    queued = next(f for f in found if f.sku == "QUEUED")
    assert not queued.is_difference and "not drift" in queued.explain()


def test_a_push_in_flight_is_never_drift_and_a_figure_right_but_unknown_is_refreshed() -> None:
    cmp = Comparison("webshop", {"A": LedgerView(4, 6, queued=4), "B": LedgerView(2, None)})
    assert cmp.feed([Figure("A", 4), Figure("B", 2)]) == []
    assert cmp.in_flight == 1
    assert cmp.refresh == {"B": 2}
    assert classify("w", "A", 6, LedgerView(4, 6, queued=4)) is not None  # reported, in flight


def test_confirm_drops_what_moved_during_the_run() -> None:
    edited = Finding("w", "A", FindingKind.HAND_EDIT, 5, 50, 5)
    sold = Finding("w", "B", FindingKind.HAND_EDIT, 5, 3, 5)
    pushed = Finding("w", "C", FindingKind.NOT_PUSHED, 5, 3, 3)
    dup = Finding("w", "D", FindingKind.HAND_EDIT, 5, 1, 5)
    stray = Finding("w", "E", FindingKind.ONLY_IN_CHANNEL, figure=1)
    fresh = {
        "A": LedgerView(5, 5),
        "B": LedgerView(3, 3),  # the order was pulled meanwhile: the channel is right
        "C": LedgerView(5, 3, queued=5),  # a push got queued meanwhile
        "D": LedgerView(5, 5),
    }
    confirmed, moved = confirm([edited, sold, pushed, dup, stray], fresh, {"D"})
    assert [f.sku for f in confirmed] == ["A", "E"]
    assert sorted(f.sku for f in moved) == ["B", "C"]


def test_drift_again_right_after_a_fix_and_fixes_forgotten_when_clean() -> None:
    edited = Finding("w", "A", FindingKind.HAND_EDIT, 5, 50, 5)
    remembered = {
        "A": RememberedFix("A", 50, 5, NOW - timedelta(hours=1)),
        "B": RememberedFix("B", 7, 2, NOW - timedelta(hours=1)),
        "C": RememberedFix("C", 7, 2, NOW - timedelta(days=2)),
    }
    decision = decide_fixes(
        [edited],
        clean=["B"],
        remembered=remembered,
        now=NOW,
        window=timedelta(hours=3),
        fix=True,
    )
    assert [(f.sku, before.figure) for f, before in decision.drift_again] == [("A", 50)]
    assert decision.record == {"A": 50}
    assert [r.sku for r in decision.remember] == ["A"]
    assert decision.forget == ["B", "C"]
    report_only = decide_fixes(
        [edited], clean=[], remembered={}, now=NOW, window=timedelta(hours=3), fix=False
    )
    assert report_only.record == {} and report_only.remember == []


def test_missed_events() -> None:
    cursors = {"orders.date_upd": "2026-11-23 10:00:00", "file:abc": "done"}
    assert rewind_cursors(cursors, 3600) == {
        "orders.date_upd": "2026-11-23 09:00:00",
        "file:abc": "done",
    }
    assert earliest_cursors(cursors, "2026-11-20 08:00:00")["orders.date_upd"] == (
        "2026-11-20 07:59:59"
    )
    assert earliest_cursors(cursors, "2026-11-24 08:00:00") == cursors  # never forward
    shop = {"1": "2026-01-01 10:00:00", "2": "2026-01-02 10:00:00", "10": "2026-01-03 10:00:00"}
    assert [m.order_id for m in missing_orders(shop, ["1"])] == ["2", "10"]
    assert [m.order_id for m in missing_orders(shop, ["1"], since="2026-01-03 00:00:00")] == ["10"]
    assert id_gaps(["1", "2", "5", "x"]) == [3, 4]
    files = [TillFile("a.csv", "done", "h1"), TillFile("b.csv", "inbox", "h2")]
    assert missing_files(files, {"file:h1": "done"}) == [files[1]]


def test_onboarding_plan_counts_the_source_and_shows_every_channel_change() -> None:
    reads = {
        "webshop": [
            Figure("CAP", 5, barcode="200"),
            Figure("SHIRT-42", 3),
            Figure("DUP", 1),
            Figure("DUP", 2),
            Figure("", 4, where="id_product 7"),
            Figure("MUG", 9, managed=True),
        ],
        "magento": [Figure("CAP", 4, barcode="200"), Figure("SHIRT-42", 3), Figure("ODD", 1)],
        "till": [Figure("CAP", 0, barcode="201"), Figure("OTHER", 1, barcode="200")],
    }
    plan = plan_onboarding(
        "webshop",
        reads,
        {"CAP": 2, "SHIRT-42": 3},
        buffer=lambda channel, sku: 1 if channel == "till" else 0,
    )
    assert plan.counts == {"CAP": 5, "MUG": 9, "SHIRT-42": 3}
    assert [(c.sku, c.before, c.after) for c in plan.ledger] == [("CAP", 2, 5), ("MUG", None, 9)]
    assert [(c.channel, c.sku, c.shows, c.will_show) for c in plan.channels] == [
        ("magento", "CAP", 4, 5),
        ("magento", "MUG", None, 9),
        ("till", "CAP", 0, 4),
        ("till", "MUG", None, 8),
        ("till", "SHIRT-42", None, 2),
    ]
    problems = {(f.kind, f.sku) for f in plan.audit}
    assert (FindingKind.DUPLICATE_REFERENCE, "DUP") in problems
    assert (FindingKind.NO_REFERENCE, "id_product 7") in problems
    assert (FindingKind.ONLY_IN_CHANNEL, "ODD") in problems
    assert (FindingKind.DUPLICATE_REFERENCE, "CAP, OTHER") in problems  # barcode 200
    assert audit({"webshop": reads["webshop"]}) != []


def test_reports_render_every_difference() -> None:
    report = RunReport(7, "fix", NOW)
    channel = ChannelReport("webshop", "prestashop", compared=3, in_flight=1)
    channel.findings = [
        Finding("webshop", "A", FindingKind.HAND_EDIT, 5, 50, 5),
        Finding("webshop", "Q", FindingKind.IN_FLIGHT, 5, 4, 4, {"queued": 5}),
    ]
    report.channels.append(channel)
    data = report_json(report)
    assert data["differences"] == 1
    assert data["channels"][0]["by_kind"] == {"hand_edit": 1}
    assert data["channels"][0]["findings"][0]["explanation"].startswith("webshop shows 50")
    csv_text = report_csv(report)
    assert csv_text.splitlines()[0].startswith("channel,sku,kind")
    assert len(csv_text.splitlines()) == 2


def test_reconcile_settings_every_bad_value_is_reported_with_its_key() -> None:
    from syncd.config import parse_config
    from syncd.exceptions import ConfigError

    till = {"type": "csv_till", "drop_folder": "/tmp"}
    settings = parse_config({"channels": {"till": till}}, file="syncd.toml")
    assert settings.reconcile.interval_seconds == 3600 and settings.reconcile.fix
    bad = {
        "interval_seconds": -1,
        "fix": "yes",
        "channels": ["till", "webshop"],
        "drift_again_seconds": 10,
        "every": 5,
    }
    try:
        parse_config({"channels": {"till": till}, "reconcile": bad}, file="syncd.toml")
    except ConfigError as err:
        keys = sorted(str(i).split(": ")[1] for i in err.issues)
    else:
        raise AssertionError("bad [reconcile] values were accepted")
    assert keys == [
        "reconcile.channels",
        "reconcile.drift_again_seconds",
        "reconcile.every",
        "reconcile.fix",
        "reconcile.interval_seconds",
    ]


def test_a_channel_that_reports_no_figure_is_missing_no_sku() -> None:
    shop = [Figure("A", 3), Figure("B", 1)]
    assert audit({"webshop": shop, "till": []}) == []
    [only] = audit({"webshop": shop, "till": [Figure("A", 3)], "market": []})
    assert (only.sku, only.detail["missing_in"]) == ("B", ["till"])
