"""The Store methods the status page adds, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from syncd.domain import Document, DocumentKind, utcnow
from syncd.ledger import Ack, ChannelInfo, Product
from syncd.ledger.sqlstore import SqlStore

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


async def setup(store: SqlStore) -> None:
    await store.register_channels([ChannelInfo("till", "csv_till"), ChannelInfo("web", "x")])
    await store.upsert_products([Product("SHIRT-44", "Blue shirt 44"), Product("CAP_1", "Cap")])
    await store.apply_document(
        Document("office", "c1", DocumentKind.STOCK_COUNT, {"SHIRT-44": 5, "CAP_1": 3}, T0)
    )
    for channel in ("till", "web"):
        items = await store.take_outbox(channel, 100)
        await store.ack_outbox(channel, [Ack(i.sku, i.wanted, i.wanted) for i in items])


def sale(channel: str, doc_id: str, lines: dict[str, int]) -> Document:
    kind = DocumentKind.TILL_RECEIPT if channel == "till" else DocumentKind.WEB_ORDER
    return Document(channel, doc_id, kind, lines, T0, version=1)


async def test_oversell_exposure_counts_units_shown_above_the_wanted_figure(
    store: SqlStore,
) -> None:
    await setup(store)
    assert await store.oversell_exposure() == {}
    await store.apply_document(sale("till", "t1", {"SHIRT-44": 2, "CAP_1": 1}))
    # The web channel still shows 5 and 3; it should show 3 and 2 until the push lands.
    assert await store.oversell_exposure() == {"web": 3}
    items = await store.take_outbox("web", 100)
    await store.ack_outbox("web", [Ack(i.sku, i.wanted, i.wanted) for i in items])
    assert await store.oversell_exposure() == {}


async def test_sales_per_hour_by_channel(store: SqlStore) -> None:
    await setup(store)
    await store.apply_document(sale("till", "t1", {"SHIRT-44": 2}))
    await store.apply_document(sale("web", "w1", {"SHIRT-44": 1, "CAP_1": 1}))
    hour = utcnow().replace(minute=0, second=0, microsecond=0)
    rows = await store.sales_per_hour(hour - timedelta(hours=1))
    assert {(r.channel, r.units) for r in rows} == {("till", 2), ("web", 2)}
    assert {r.hour for r in rows} == {hour}
    assert await store.sales_per_hour(utcnow() + timedelta(hours=1)) == []


async def test_find_skus_by_code_or_name_and_a_skus_detail(store: SqlStore) -> None:
    await setup(store)
    await store.set_buffer(1, channel="web")
    assert [m.sku for m in await store.find_skus("shirt")] == ["SHIRT-44"]
    assert [m.sku for m in await store.find_skus("cap")] == ["CAP_1"]
    # LIKE wildcards in the text are literal characters.
    assert [m.sku for m in await store.find_skus("P_1")] == ["CAP_1"]
    assert await store.find_skus("%") == []
    detail = await store.sku_detail("SHIRT-44")
    assert detail is not None
    assert (detail.name, detail.on_hand) == ("Blue shirt 44", 5)
    web = next(c for c in detail.channels if c.channel == "web")
    assert (web.buffer, web.wanted, web.shown, web.source, web.queued) == (1, 4, 5, "pushed", 4)
    assert await store.sku_detail("NOPE") is None


async def test_document_summaries_names_and_prefixes_for_the_stock_forms(
    store: SqlStore,
) -> None:
    await setup(store)
    await store.upsert_products([Product("SHIRT-40", "Blue shirt 40"), Product("SHIRTS", "")])
    meta = {"origin": "page", "supplier": "Acme", "delivery_note": "BL-7"}
    receipt = Document(
        "stock", "receipt:1", DocumentKind.GOODS_RECEIPT, {"CAP_1": 4}, T0, meta=meta
    )
    await store.apply_document(receipt)
    await store.apply_document(sale("till", "t1", {"SHIRT-44": 1}))
    found = await store.document_summaries(
        [("stock", "receipt:1"), ("till", "t1"), ("till", "t1"), ("till", "nope")]
    )
    assert sorted(found) == [("stock", "receipt:1"), ("till", "t1")]
    assert found[("stock", "receipt:1")].kind is DocumentKind.GOODS_RECEIPT
    assert dict(found[("stock", "receipt:1")].meta) == meta
    assert found[("till", "t1")].meta == {} and not found[("till", "t1")].cancelled
    assert await store.document_summaries([]) == {}

    assert await store.names_of(["SHIRT-44", "SHIRTS", "NOPE"]) == {"SHIRT-44": "Blue shirt 44"}
    # A prefix is matched exactly: "_" and "%" are plain characters, case counts.
    assert await store.skus_with_prefix("SHIRT-") == ["SHIRT-40", "SHIRT-44"]
    assert await store.skus_with_prefix("CAP_") == ["CAP_1"]
    assert await store.skus_with_prefix("CAP%") == []
    assert await store.skus_with_prefix("shirt") == []
    assert await store.skus_with_prefix("SHIRT", limit=2) == ["SHIRT-40", "SHIRT-44"]
