"""The pure planner with locations: where a document's lines go, what a channel is told."""

from __future__ import annotations

from syncd.domain import DEFAULT_LOCATION, STOCK_CHANNEL, Document, DocumentKind
from syncd.ledger.planner import (
    ApplyStatus,
    Kit,
    Levels,
    PushChannel,
    Snapshot,
    channel_available,
    document_locations,
    plan_batch,
)
from tests.locations.helpers import T0, order, sale, send


def snapshot(at: dict[tuple[str, str], int]) -> Snapshot:
    on_hand: dict[str, int] = {}
    for (_, sku), qty in at.items():
        on_hand[sku] = on_hand.get(sku, 0) + qty
    return Snapshot(
        docs={},
        lines={},
        on_hand=on_hand,
        resolve={"X": "X"},
        channels=[PushChannel("till_a", "csv_till", False), PushChannel("web", "prestashop")],
        buffers={("web", "*"): 1},
        shown={},
        outbox={},
        at=dict(at),
        sells_from={"till_a": ("A",), "till_b": ("B",), "web": ("A", "B"), "shop2": ("W",)},
        locations=("A", "B", "W"),
    )


def test_a_channel_is_told_the_sum_of_its_locations_less_its_buffer() -> None:
    view = Levels(
        on_hand={"X": 10},
        buffers={("web", "*"): 1},
        at={("A", "X"): 2, ("B", "X"): 5, ("W", "X"): 3},
        sells_from={"till_a": ("A",), "web": ("A", "B")},
    )
    assert channel_available(view, "till_a", "X") == 2
    assert channel_available(view, "web", "X") == 6
    assert channel_available(view, "other", "X") == 10  # sells from everything
    negative = Levels(
        {"X": 1}, {}, at={("A", "X"): -3, ("B", "X"): 4}, sells_from={"till_a": ("A",)}
    )
    assert channel_available(negative, "till_a", "X") == 0


def test_where_a_document_happens() -> None:
    snap = snapshot({})
    assert document_locations(sale("till_b", "t", {"X": 1}), snap) == ("B",)
    assert document_locations(order("o", {"X": 1}), snap) == ("A", "B")
    own = Document(STOCK_CHANNEL, "r", DocumentKind.GOODS_RECEIPT, {"X": 1}, T0)
    assert document_locations(own, snap) == ("A",)  # syncd's own: the first location
    edit = Document(
        STOCK_CHANNEL, "e", DocumentKind.ADJUSTMENT, {"X": 1}, T0, meta={"edited_in": "shop2"}
    )
    assert document_locations(edit, snap) == ("W",)  # an adopted edit: that shop's location
    named = Document(STOCK_CHANNEL, "c", DocumentKind.STOCK_COUNT, {"X": 1}, T0, location="B")
    assert document_locations(named, snap) == ("B",)
    bare = Snapshot({}, {}, {}, {}, [], {}, {}, {})
    assert document_locations(own, bare) == (DEFAULT_LOCATION,)


def test_an_order_line_is_split_across_locations_and_the_shortfall_is_the_first_s() -> None:
    snap = snapshot({("A", "X"): 1, ("B", "X"): 2})
    plan = plan_batch([order("o", {"X": 5})], snap, now=T0)
    # One movement per location: 1 + the 2 none of them has from A, 2 from B.
    assert [(m.location, m.delta) for m in plan.movements] == [("A", -3), ("B", -2)]
    assert plan.at == {("A", "X"): -2, ("B", "X"): 0}
    assert plan.levels == {"X": -2}
    (oversell,) = plan.oversells
    assert (oversell.location, oversell.before, oversell.after) == ("A", 1, -2)
    assert plan.outbox_set == {("till_a", "X"): 0, ("web", "X"): 0}


def test_a_transfer_leaves_on_hand_unchanged_and_refuses_an_unknown_location() -> None:
    snap = snapshot({("A", "X"): 3})
    plan = plan_batch([send("T", {"X": 2}, "A", "B"), send("U", {"X": 1}, "A", "Q")], snap, now=T0)
    assert [r.status for r in plan.results] == [ApplyStatus.APPLIED, ApplyStatus.REJECTED]
    assert "unknown location 'Q'" in plan.results[1].error
    assert [(m.location, m.delta) for m in plan.movements] == [("A", -2), ("transit:B", 2)]
    assert snap.on_hand == {"X": 3}
    assert plan.oversells == []


def test_a_kit_sold_from_two_locations_takes_each_kit_whole_where_it_can_be_made() -> None:
    # A holds 3 mugs and 1 tea: no whole box (1 mug + 2 teas); B holds the parts of two boxes.
    at = {("A", "MUG"): 3, ("A", "TEA"): 1, ("B", "MUG"): 2, ("B", "TEA"): 4}
    snap = snapshot(at)
    snap.resolve = {"BOX": "BOX", "MUG": "MUG", "TEA": "TEA"}
    snap.kits = {"BOX": Kit("BOX", {"MUG": 1, "TEA": 2})}
    plan = plan_batch([order("o", {"BOX": 2})], snap, now=T0)
    assert sorted((m.location, m.sku, m.delta, m.kit) for m in plan.movements) == [
        ("B", "MUG", -2, "BOX"),
        ("B", "TEA", -4, "BOX"),
    ]
    assert plan.oversells == []
    # The web shop sells from A and B: ⌊(3+2-2) / 1⌋ = 3 mugs, ⌊(1+4-4) / 2⌋ = 0 teas' boxes.
    assert plan.outbox_set[("web", "BOX")] == 0
    # Cancelled: the parts go back to B, where they were taken.
    again = plan_batch([order("o", {"BOX": 0}, version=2, cancelled=True)], snap, now=T0)
    assert sorted((m.location, m.sku, m.delta) for m in again.movements) == [
        ("B", "MUG", 2),
        ("B", "TEA", 4),
    ]
    assert snap.at == at


def test_a_kit_no_location_can_make_is_taken_at_the_first_and_the_conflict_names_both() -> None:
    snap = snapshot({("A", "MUG"): 1, ("B", "TEA"): 2})
    snap.resolve = {"BOX": "BOX"}
    snap.kits = {"BOX": Kit("BOX", {"MUG": 1, "TEA": 2})}
    plan = plan_batch([order("o", {"BOX": 1})], snap, now=T0)
    assert sorted((m.location, m.sku, m.delta) for m in plan.movements) == [
        ("A", "MUG", -1),
        ("A", "TEA", -2),
    ]
    assert [(e.sku, e.kit, e.location, e.after) for e in plan.oversells] == [
        ("TEA", "BOX", "A", -2)
    ]
