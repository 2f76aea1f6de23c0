"""The kit rules of the pure planner: what a kit line moves, a kit's figure on each channel."""

from __future__ import annotations

from datetime import UTC, datetime

from syncd.domain import DEFAULT_LOCATION, Document, DocumentKind, kit_problems
from syncd.ledger.planner import (
    Kit,
    Levels,
    PushChannel,
    Snapshot,
    channel_figure,
    plan_batch,
)

T0 = datetime(2026, 11, 26, 10, tzinfo=UTC)
GIFTBOX = Kit("GIFTBOX", {"MUG": 1, "TEA": 2})


def snapshot(on_hand: dict[str, int], **extra: object) -> Snapshot:
    kits = {"GIFTBOX": GIFTBOX}
    return Snapshot(
        docs={},
        lines={},
        on_hand=dict(on_hand),
        resolve={s: s for s in ("GIFTBOX", "MUG", "TEA", "PEN")},
        channels=[PushChannel("till", "csv_till"), PushChannel("web", "prestashop")],
        buffers=extra.get("buffers", {}),  # type: ignore[arg-type]
        shown={},
        outbox={},
        kits=extra.get("kits", kits),  # type: ignore[arg-type]
        # One location holds it all, as in a ledger without configured locations.
        at={(DEFAULT_LOCATION, sku): qty for sku, qty in on_hand.items()},
    )


def test_a_kit_figure_is_the_least_number_of_kits_its_components_make() -> None:
    view = Levels({"MUG": 5, "TEA": 7}, {}, {"GIFTBOX": GIFTBOX})
    assert channel_figure(view, "web", "GIFTBOX") == 3  # min(5 // 1, 7 // 2)
    assert channel_figure(view, "web", "MUG") == 5


def test_a_kit_figure_uses_each_component_buffer_and_never_goes_below_zero() -> None:
    view = Levels({"MUG": 5, "TEA": -3}, {("web", "MUG"): 4}, {"GIFTBOX": GIFTBOX})
    assert channel_figure(view, "web", "GIFTBOX") == 0
    view = Levels({"MUG": 5, "TEA": 30}, {("web", "MUG"): 4}, {"GIFTBOX": GIFTBOX})
    assert channel_figure(view, "web", "GIFTBOX") == 1
    assert channel_figure(view, "till", "GIFTBOX") == 5


def test_a_channel_that_derives_the_kit_itself_is_never_told_its_figure() -> None:
    bundle = Kit("GIFTBOX", {"MUG": 1, "TEA": 2}, frozenset({"magento"}))
    view = Levels({"MUG": 5, "TEA": 7}, {}, {"GIFTBOX": bundle})
    assert channel_figure(view, "magento", "GIFTBOX") is None
    assert channel_figure(view, "web", "GIFTBOX") == 3


def test_selling_a_kit_moves_its_components_in_one_plan_naming_the_kit() -> None:
    snap = snapshot({"MUG": 5, "TEA": 7})
    doc = Document("web", "o-1", DocumentKind.WEB_ORDER, {"GIFTBOX": 2}, T0, version=1)
    plan = plan_batch([doc], snap, now=T0)
    assert {(m.sku, m.delta, m.kit) for m in plan.movements} == {
        ("MUG", -2, "GIFTBOX"),
        ("TEA", -4, "GIFTBOX"),
    }
    assert "GIFTBOX" not in plan.levels  # a kit has no stock of its own
    assert plan.outbox_set[("till", "GIFTBOX")] == 1  # min(3 // 1, 3 // 2)
    assert plan.outbox_set[("web", "GIFTBOX")] == 1
    assert plan.outbox_set[("till", "MUG")] == 3


def test_a_component_sold_alone_lowers_every_kit_that_holds_it() -> None:
    other = Kit("DUO", {"TEA": 1, "PEN": 1})
    snap = snapshot({"MUG": 5, "TEA": 7, "PEN": 9}, kits={"GIFTBOX": GIFTBOX, "DUO": other})
    doc = Document("till", "r-1", DocumentKind.TILL_RECEIPT, {"TEA": 4}, T0)
    plan = plan_batch([doc], snap, now=T0)
    assert plan.outbox_set[("web", "GIFTBOX")] == 1
    assert plan.outbox_set[("web", "DUO")] == 3


def test_an_edited_then_cancelled_kit_order_gives_back_exactly_what_it_took() -> None:
    snap = snapshot({"MUG": 5, "TEA": 7})
    v1 = Document("web", "o-1", DocumentKind.WEB_ORDER, {"GIFTBOX": 2}, T0, version=1)
    v2 = Document("web", "o-1", DocumentKind.WEB_ORDER, {"GIFTBOX": 1}, T0, version=2)
    v3 = Document(
        "web", "o-1", DocumentKind.WEB_ORDER, {"GIFTBOX": 0}, T0, version=3, cancelled=True
    )
    plan_batch([v1, v2, v1, v3, v3], snap, now=T0)
    assert snap.on_hand == {"MUG": 5, "TEA": 7}


def test_a_count_of_a_kit_moves_nothing() -> None:
    snap = snapshot({"MUG": 5, "TEA": 7})
    doc = Document("stock", "c-1", DocumentKind.STOCK_COUNT, {"GIFTBOX": 40, "MUG": 6}, T0)
    plan = plan_batch([doc], snap, now=T0)
    assert [(m.sku, m.delta) for m in plan.movements] == [("MUG", 1)]


def test_an_oversell_through_a_kit_names_the_kit_and_the_component() -> None:
    snap = snapshot({"MUG": 5, "TEA": 1})
    doc = Document("web", "o-1", DocumentKind.WEB_ORDER, {"GIFTBOX": 1}, T0, version=1)
    plan = plan_batch([doc], snap, now=T0)
    assert [(e.sku, e.kit, e.after) for e in plan.oversells] == [("TEA", "GIFTBOX", -1)]


def test_kits_of_kits_and_bad_quantities_are_refused() -> None:
    assert kit_problems({"GIFTBOX": {"MUG": 1}}) == []
    assert kit_problems({"A": {"B": 1}, "B": {"C": 1}})  # B is a kit and a component
    assert kit_problems({"A": {"A": 1}})
    assert kit_problems({"A": {"B": 0}})
    assert kit_problems({"A": {}})
