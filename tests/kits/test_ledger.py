"""Kits in both ledgers (SQLite and PostgreSQL): definitions, sales, figures, conflicts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syncd.domain import ConflictKind, Document, DocumentKind
from syncd.ledger import ChannelInfo
from syncd.ledger.sqlstore import SqlStore
from tests.conftest import StoreFactory

T0 = datetime(2026, 11, 26, 10, tzinfo=UTC)


async def _ready(store: SqlStore) -> None:
    await store.register_channels([ChannelInfo("till", "csv_till"), ChannelInfo("web", "x")])
    await store.set_kits({"GIFTBOX": {"MUG": 1, "TEA": 2}}, source="config")
    await store.apply_document(
        Document("stock", "in-1", DocumentKind.GOODS_RECEIPT, {"MUG": 5, "TEA": 7}, T0)
    )


async def _queued(store: SqlStore, channel: str) -> dict[str, int]:
    return {i.sku: i.wanted for i in await store.take_outbox(channel, 100)}


async def test_a_kit_sold_moves_its_components_and_every_figure_follows(store: SqlStore) -> None:
    await _ready(store)
    assert (await _queued(store, "web"))["GIFTBOX"] == 3
    await store.apply_document(
        Document("web", "o-1", DocumentKind.WEB_ORDER, {"GIFTBOX": 2}, T0, version=1)
    )
    levels = await store.levels(["MUG", "TEA", "GIFTBOX"])
    assert levels["MUG"] == 3 and levels["TEA"] == 3
    assert levels.get("GIFTBOX", 0) == 0  # no stock of its own
    assert await _queued(store, "till") == {"MUG": 3, "TEA": 3, "GIFTBOX": 1}
    moves = await store.movements(sku="TEA")
    assert (moves[0].delta, moves[0].kit, moves[0].channel) == (-4, "GIFTBOX", "web")
    # A component sold alone lowers the kit.
    await store.apply_document(Document("till", "r-1", DocumentKind.TILL_RECEIPT, {"TEA": 2}, T0))
    assert (await _queued(store, "web"))["GIFTBOX"] == 0
    assert {w.sku: w.wanted for w in await store.wanted_levels("till")}["GIFTBOX"] == 0
    detail = await store.sku_detail("GIFTBOX")
    assert detail is not None and {c.channel: c.wanted for c in detail.channels}["web"] == 0


async def test_replays_and_restarts_neither_lose_nor_double(make_store: StoreFactory) -> None:
    store = await make_store()
    await _ready(store)
    order = Document("web", "o-1", DocumentKind.WEB_ORDER, {"GIFTBOX": 2, "MUG": 1}, T0, version=1)
    await store.apply_batch([order, order])
    await store.close()
    store = await make_store()
    await store.apply_document(order)
    cancelled = Document(
        "web",
        "o-1",
        DocumentKind.WEB_ORDER,
        {"GIFTBOX": 0, "MUG": 0},
        T0,
        version=2,
        cancelled=True,
    )
    await store.apply_document(cancelled)
    await store.apply_document(cancelled)
    assert await store.levels(["MUG", "TEA"]) == {"MUG": 5, "TEA": 7}


async def test_an_oversell_through_a_kit_names_the_kit_and_the_component(
    store: SqlStore,
) -> None:
    await _ready(store)
    await store.apply_document(Document("till", "r-1", DocumentKind.TILL_RECEIPT, {"TEA": 6}, T0))
    await store.apply_document(
        Document("web", "o-9", DocumentKind.WEB_ORDER, {"GIFTBOX": 1}, T0, version=1)
    )
    [conflict] = [c for c in await store.conflicts() if c.kind is ConflictKind.OVERSELL]
    assert conflict.sku == "TEA" and conflict.shortfall == 1
    assert conflict.detail["kits"] == ["GIFTBOX"]
    kits = {d.get("doc_id"): d.get("kit") for d in conflict.detail["documents"]}  # type: ignore[union-attr]
    assert kits["o-9"] == "GIFTBOX"


async def test_a_kit_line_kept_pending_is_applied_once_the_kit_is_defined(
    make_store: StoreFactory,
) -> None:
    store = await make_store(strict_skus=True)
    await store.register_channels([ChannelInfo("web", "x")])
    await store.upsert_products([])
    await store.apply_document(
        Document("web", "o-1", DocumentKind.WEB_ORDER, {"GIFTBOX": 1}, T0, version=1)
    )
    await store.set_kits({"GIFTBOX": {"MUG": 1, "TEA": 2}}, source="file")
    assert await store.levels(["MUG", "TEA"]) == {"MUG": -1, "TEA": -2}


async def test_definitions_are_checked_replaced_and_derived_channels_skipped(
    store: SqlStore,
) -> None:
    await _ready(store)
    with pytest.raises(ValueError, match="kit itself"):
        await store.set_kits({"DUO": {"GIFTBOX": 1}}, source="file")
    await store.set_kits({"BUNDLE": {"MUG": 2}}, source="m2", derived_by="web")
    assert "BUNDLE" not in await _queued(store, "web")
    assert (await _queued(store, "till"))["BUNDLE"] == 2
    await store.set_kits({}, source="config", replace_source=True)
    kits = {k.sku: k for k in await store.kit_definitions()}
    assert set(kits) == {"BUNDLE"} and kits["BUNDLE"].derived_by == ("web",)


async def test_a_figure_changed_on_a_kit_row_is_written_back_never_adopted(
    store: SqlStore,
) -> None:
    from syncd.stockin.edits import Edit, settle_edits

    await _ready(store)
    edits = [Edit("GIFTBOX", figure=10, believed=3), Edit("MUG", figure=6, believed=5)]
    outcome = await settle_edits(store, "web", "adopt", edits)
    assert outcome.adopted == {"MUG": 1}  # a component's edit is adopted as before
    assert outcome.reverted == ["GIFTBOX"]
    assert await store.levels(["MUG", "TEA"]) == {"MUG": 6, "TEA": 7}


async def test_the_page_and_the_mail_name_the_kit_and_the_component(store: SqlStore) -> None:
    from zoneinfo import ZoneInfo

    from syncd.alerts.items import build_view, conflict_payload
    from syncd.alerts.render import render
    from syncd.alerts.settings import AlertSettings
    from syncd.i18n import Translator
    from syncd.web.data import conflict_view, movement_view

    await _ready(store)
    await store.apply_document(
        Document("web", "o-9", DocumentKind.WEB_ORDER, {"GIFTBOX": 4}, T0, version=1)
    )
    [conflict] = [c for c in await store.conflicts() if c.kind is ConflictKind.OVERSELL]
    assert conflict.sku == "TEA"
    assert conflict_view(conflict, Translator("fr"))["kits"] == ["GIFTBOX"]
    [moved] = await store.movements(sku="TEA", channel="web")
    assert movement_view(moved, Translator("fr"))["kit_label"] == "vendu dans le kit GIFTBOX"
    view = build_view(
        "alert", [conflict_payload(conflict, {})], zone=ZoneInfo("Europe/Paris"), now=T0
    )
    for lang, text in (
        ("en", "Sold as part of kit GIFTBOX: its component TEA ran out"),
        ("fr", "Vendu dans le kit GIFTBOX : son composant TEA est épuisé"),
    ):
        mail = render(view, AlertSettings(to=("shop@example.com",), language=lang))
        assert text in mail.text and text in mail.html
