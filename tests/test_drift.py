"""The drift-aware push decision PrestaShop and WooCommerce share (syncd/connectors/drift.py)."""

from __future__ import annotations

from syncd.connectors.base import PushItem, PushStatus
from syncd.connectors.drift import drift_decision


def test_lower_defers_unless_forced_and_higher_defers_only_when_watched() -> None:
    item = PushItem("CAP", available=6, last_known=5)
    lower = drift_decision(item, 4)
    assert lower is not None and lower.status is PushStatus.DEFERRED and lower.observed == 4
    assert drift_decision(PushItem("CAP", 6, 5, force=True), 4) is None
    assert drift_decision(item, 7) is None  # an edit written over (hand_edits = "revert")
    higher = drift_decision(PushItem("CAP", 6, 5, defer_higher=True), 7)
    assert higher is not None and higher.status is PushStatus.DEFERRED
    same = drift_decision(item, 6)
    assert same is not None and same.status is PushStatus.UNCHANGED and same.shown == 6
    assert drift_decision(item, 5) is None  # as believed: written


def test_a_figure_below_zero_counts_as_zero() -> None:
    item = PushItem("CAP", available=0, last_known=0)
    kept = drift_decision(item, -2)  # PrestaShop: nothing to fix
    assert kept is not None and kept.status is PushStatus.UNCHANGED and kept.shown == 0
    assert drift_decision(item, -2, negative_is_zero=False) is None  # WooCommerce: 0 written
