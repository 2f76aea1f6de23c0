"""Stock per location on both ledgers (SQLite and a real PostgreSQL): where each document moves
stock, what each channel is told, transfers through transit, oversells naming the location."""

from __future__ import annotations

from syncd.domain import DEFAULT_LOCATION, ConflictKind, Document, DocumentKind
from syncd.ledger import ApplyStatus, ChannelInfo
from syncd.ledger.locations import LocationInfo
from syncd.ledger.sqlstore import SqlStore
from tests.locations.helpers import (
    T0,
    arrive,
    at,
    order,
    queued,
    receipt,
    sale,
    send,
    set_up,
)


async def test_each_channel_is_told_the_stock_of_the_locations_it_sells_from(
    store: SqlStore,
) -> None:
    await set_up(store)
    await store.apply_batch([receipt("r1", {"X": 3}, "A"), receipt("r2", {"X": 5}, "B")])
    assert await at(store, "X") == {"A": 3, "B": 5}
    assert (await store.levels(["X"]))["X"] == 8
    assert (await queued(store, "till_a"))["X"] == 3
    assert (await queued(store, "till_b"))["X"] == 5
    assert (await queued(store, "web"))["X"] == 8

    await store.apply_document(sale("till_a", "t1", {"X": 2}))
    assert await at(store, "X") == {"A": 1, "B": 5}
    assert (await queued(store, "till_a"))["X"] == 1
    assert (await queued(store, "till_b"))["X"] == 5
    assert (await queued(store, "web"))["X"] == 6


async def test_a_web_order_takes_from_the_first_location_with_units_then_the_next(
    store: SqlStore,
) -> None:
    await set_up(store)
    await store.apply_batch([receipt("r1", {"X": 2}, "A"), receipt("r2", {"X": 5}, "B")])
    await store.apply_document(order("o1", {"X": 4}))
    assert await at(store, "X") == {"B": 3}  # 2 from A, 2 from B
    # Edited to 3 units: the one given back goes to the location that gave last (B).
    await store.apply_document(order("o1", {"X": 3}, version=2))
    assert await at(store, "X") == {"B": 4}
    # Cancelled: every unit back where it was taken.
    await store.apply_document(order("o1", {"X": 0}, version=3, cancelled=True))
    assert await at(store, "X") == {"A": 2, "B": 5}
    # Replayed: nothing moves.
    result = await store.apply_document(order("o1", {"X": 0}, version=3, cancelled=True))
    assert result.status is ApplyStatus.UNCHANGED
    assert await at(store, "X") == {"A": 2, "B": 5}


async def test_the_last_unit_sold_at_a_store_and_online_is_one_conflict_naming_the_store(
    store: SqlStore,
) -> None:
    await set_up(store)
    await store.apply_document(receipt("r1", {"X": 1}, "A"))
    await store.apply_batch([sale("till_a", "t1", {"X": 1}), order("o1", {"X": 1})])
    assert await at(store, "X") == {"A": -1}
    conflicts = [c for c in await store.conflicts() if c.kind is ConflictKind.OVERSELL]
    assert len(conflicts) == 1
    conflict = conflicts[0]
    assert conflict.sku == "X"
    assert conflict.shortfall == 1
    assert conflict.detail["location"] == "A"
    assert {(d.channel, d.doc_id) for d in conflict.documents} == {("till_a", "t1"), ("web", "o1")}
    # Stock back at A resolves it.
    await store.apply_document(receipt("r2", {"X": 3}, "A"))
    assert not [c for c in await store.conflicts(status=None) if c.status.value == "open"]


async def test_an_oversell_at_one_store_is_not_hidden_by_stock_at_another(
    store: SqlStore,
) -> None:
    await set_up(store)
    await store.apply_document(receipt("r1", {"X": 4}, "B"))
    await store.apply_document(sale("till_a", "t1", {"X": 1}))
    assert (await store.levels(["X"]))["X"] == 3
    (conflict,) = [c for c in await store.conflicts() if c.kind is ConflictKind.OVERSELL]
    assert conflict.detail["location"] == "A"
    assert conflict.channel == "till_a"


async def test_a_transfer_moves_the_figures_and_loses_nothing_in_transit(
    store: SqlStore,
) -> None:
    await set_up(store)
    await store.apply_document(receipt("r1", {"X": 6}, "A"))
    assert (await queued(store, "till_b")).get("X", 0) == 0
    await store.apply_document(send("T1", {"X": 4}, "A", "B"))
    assert await at(store, "X") == {"A": 2, "transit:B": 4}
    assert (await store.levels(["X"]))["X"] == 6  # still owned
    assert (await queued(store, "till_a"))["X"] == 2
    assert (await queued(store, "web"))["X"] == 2  # units in a van are sold by no channel
    # Sent again (a replay): nothing moves.
    await store.apply_document(send("T1", {"X": 4}, "A", "B"))
    await store.apply_document(arrive("T1", {"X": 3}, "B"))  # one unit still on its way
    assert await at(store, "X") == {"A": 2, "B": 3, "transit:B": 1}
    assert (await queued(store, "till_b"))["X"] == 3
    assert (await queued(store, "web"))["X"] == 5
    await store.apply_document(arrive("T1", {"X": 4}, "B", version=1))
    assert await at(store, "X") == {"A": 2, "B": 4}
    assert (await store.levels(["X"]))["X"] == 6
    _, total = await store.movement_totals()
    assert total == 6


async def test_a_count_at_a_location_sets_that_location_only(store: SqlStore) -> None:
    await set_up(store)
    await store.apply_batch([receipt("r1", {"X": 2}, "A"), receipt("r2", {"X": 5}, "B")])
    count = Document("stock", "c1", DocumentKind.STOCK_COUNT, {"X": 7}, T0, location="B")
    await store.apply_document(count)
    assert await at(store, "X") == {"A": 2, "B": 7}
    voided = Document(
        "stock", "c1", DocumentKind.STOCK_COUNT, {}, T0, version=1, cancelled=True, location="B"
    )
    await store.apply_document(voided)
    assert await at(store, "X") == {"A": 2, "B": 5}


async def test_syncd_own_documents_without_a_location_happen_at_the_first(
    store: SqlStore,
) -> None:
    await set_up(store)
    await store.apply_document(Document("stock", "r", DocumentKind.GOODS_RECEIPT, {"X": 2}, T0))
    assert await at(store, "X") == {"A": 2}


async def test_a_document_naming_an_unknown_location_is_refused(store: SqlStore) -> None:
    await set_up(store)
    result = await store.apply_document(receipt("r1", {"X": 2}, "Z"))
    assert result.status is ApplyStatus.REJECTED
    assert "unknown location 'Z'" in result.error
    assert await at(store, "X") == {}


async def test_without_locations_everything_is_at_one_location_and_figures_are_as_before(
    store: SqlStore,
) -> None:
    await store.register_channels([ChannelInfo("till", "csv_till"), ChannelInfo("web", "x")])
    await store.apply_document(Document("office", "r", DocumentKind.GOODS_RECEIPT, {"X": 3}, T0))
    await store.apply_document(order("o1", {"X": 1}))
    assert await at(store, "X") == {DEFAULT_LOCATION: 2}
    assert (await queued(store, "till"))["X"] == 2
    assert (await store.levels(["X"]))["X"] == 2


async def test_given_locations_the_default_location_becomes_the_first(store: SqlStore) -> None:
    await store.register_channels([ChannelInfo("web", "x")])
    await store.apply_document(Document("office", "r", DocumentKind.GOODS_RECEIPT, {"X": 3}, T0))
    await store.register_locations([LocationInfo("shop"), LocationInfo("depot", "warehouse")])
    await store.register_channels([ChannelInfo("web", "x", locations=("shop", "depot"))])
    assert await at(store, "X") == {"shop": 3}
    assert (await store.levels(["X"]))["X"] == 3
    assert [loc.name for loc in await store.locations()] == ["shop", "depot"]
    # Declared again (a restart): nothing changes.
    await store.register_locations([LocationInfo("shop"), LocationInfo("depot", "warehouse")])
    assert await at(store, "X") == {"shop": 3}


async def test_a_channel_selling_from_other_locations_is_queued_again(store: SqlStore) -> None:
    await set_up(store)
    await store.apply_batch([receipt("r1", {"X": 2}, "A"), receipt("r2", {"X": 5}, "W")])
    await store.ack_outbox("web", [])
    web = await queued(store, "web")
    assert web["X"] == 2
    await store.register_channels([ChannelInfo("web", "prestashop", True, True, ("W",))])
    assert (await queued(store, "web"))["X"] == 5


async def test_a_delivery_booked_again_at_another_location_moves_its_units_there(
    store: SqlStore,
) -> None:
    await set_up(store)
    await store.apply_document(receipt("r1", {"X": 4, "Y": 1}, "A"))
    await store.apply_document(receipt("r1", {"X": 4, "Y": 2}, "B"))  # same note, right store
    assert await at(store, "X") == {"B": 4}
    assert await at(store, "Y") == {"B": 2}
    assert (await store.levels(["X", "Y"])) == {"X": 4, "Y": 2}


async def test_a_transfer_keeps_its_route(store: SqlStore) -> None:
    await set_up(store)
    await store.apply_document(receipt("r1", {"X": 4}, "A"))
    await store.apply_document(send("T1", {"X": 3}, "A", "B"))
    rerouted = Document(
        "stock",
        "T1",
        DocumentKind.TRANSFER_OUT,
        {"X": 3},
        T0,
        version=1,
        location="A",
        destination="W",
    )
    result = await store.apply_document(rerouted)
    assert result.status is ApplyStatus.REJECTED
    assert "locations cannot change" in result.error
    assert await at(store, "X") == {"A": 1, "transit:B": 3}
