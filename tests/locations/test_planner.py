"""The pure planner with locations: where a document's lines go, what a channel is told."""

from __future__ import annotations

from syncd.domain import DEFAULT_LOCATION, STOCK_CHANNEL, Document, DocumentKind
from syncd.ledger.planner import (
    ApplyStatus,
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
