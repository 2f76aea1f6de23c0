"""The Shopify connector against the emulator: orders in, compare-and-set out, bulk reads."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from syncd.connectors.base import PushItem, PushStatus, WebhookVerdict
from syncd.domain import Document
from tests.shopify.conftest import SECRET, Shop, connector_for


async def pulled(shop: Shop, **extra: object) -> dict[str, Document]:
    docs: dict[str, Document] = {}
    async with connector_for(shop, **extra) as c:
        async for batch in c.pull({}):
            assert not batch.rejections, batch.rejections
            docs.update({d.doc_id: d for d in batch.documents})
    return docs


async def test_an_order_is_its_lines_in_effect_by_sku_with_barcode_fallback(shop: Shop) -> None:
    state = shop.emulator.state
    order = state.place_order({"CAP": 2, "SHIRT-44": 1})
    mug_order = state.place_order({"3760000000017": 1})  # a variant without SKU
    docs = await pulled(shop)
    assert docs[str(order.id)].lines == {"CAP": 2, "SHIRT-44": 1}
    assert docs[str(order.id)].reference == order.name
    assert docs[str(mug_order.id)].lines == {"3760000000017": 1}
    assert state.available("CAP") == 3  # Shopify lowered its own figure


async def test_edits_refunds_and_cancellations_count_only_what_shopify_restocked(
    shop: Shop,
) -> None:
    state = shop.emulator.state
    edited = state.place_order({"CAP": 3})
    state.edit_order(edited.id, "CAP", 2, restock=True)
    returned = state.place_order({"CAP": 2})
    state.refund(returned.id, {"CAP": (1, "RETURN")})
    kept = state.place_order({"SHIRT-44": 1})
    state.refund(kept.id, {"SHIRT-44": (1, "NO_RESTOCK")})
    cancelled = state.place_order({"CAP": 1})
    state.cancel(cancelled.id, restock=True)
    cancelled_kept = state.place_order({"SHIRT-44": 1})
    state.cancel(cancelled_kept.id, restock=False)
    test_order = state.place_order({"CAP": 1}, test=True)
    docs = await pulled(shop)
    assert docs[str(edited.id)].lines == {"CAP": 2}
    assert docs[str(returned.id)].lines == {"CAP": 1}
    assert docs[str(kept.id)].lines == {"SHIRT-44": 1}  # refunded money, not stock
    assert docs[str(cancelled.id)].lines == {"CAP": 0}
    assert docs[str(cancelled.id)].cancelled
    assert docs[str(cancelled_kept.id)].lines == {"SHIRT-44": 1}
    assert str(test_order.id) not in docs


async def test_pages_of_orders_follow_the_cursor_and_the_stored_position(shop: Shop) -> None:
    state = shop.emulator.state
    ids = [state.place_order({"CAP": 1}).id for _ in range(7)]
    async with connector_for(shop, page_size=2) as c:
        batches = [b async for b in c.pull({})]
        assert len(batches) == 4
        assert sorted(int(d.doc_id) for b in batches for d in b.documents) == ids
        cursor = dict(batches[-1].cursors)
        # A later pull from the stored cursor reads the last second again, not everything.
        again = [d for b in [b async for b in c.pull(cursor)] for d in b.documents]
        assert 0 < len(again) <= 7


async def test_a_write_compares_with_the_figure_we_believe(shop: Shop) -> None:
    state = shop.emulator.state
    async with connector_for(shop) as c:
        first = await c.push([PushItem("CAP", 4, None)])  # never seen: read, then written
        assert first[0].status is PushStatus.WRITTEN and state.available("CAP") == 4
        requests = shop.emulator.requests
        second = await c.push([PushItem("CAP", 3, 4)])  # believed 4: one call, no read
        assert second[0].status is PushStatus.WRITTEN and state.available("CAP") == 3
        assert shop.emulator.requests == requests + 1


async def test_a_sale_we_have_not_pulled_is_never_written_over(shop: Shop) -> None:
    state = shop.emulator.state
    async with connector_for(shop) as c:
        await c.push([PushItem("CAP", 5, None)])
        state.place_order({"CAP": 1})  # Shopify now shows 4; we believe 5
        result = await c.push([PushItem("CAP", 3, 5), PushItem("SHIRT-44", 0, 1)])
        cap, shirt = result
        assert cap.status is PushStatus.DEFERRED and cap.observed == 4
        assert state.available("CAP") == 4  # the sale stands
        assert shirt.status is PushStatus.WRITTEN and state.available("SHIRT-44") == 0
        # The engine pulled the order and forces the figure: compared with what Shopify shows.
        forced = await c.push([PushItem("CAP", 2, 4, force=True)])
        assert forced[0].status is PushStatus.WRITTEN and state.available("CAP") == 2


async def test_untracked_unknown_and_unstocked_skus_are_reported_never_written(shop: Shop) -> None:
    async with connector_for(shop) as c:
        results = await c.push(
            [PushItem("GIFT-CARD", 3, None), PushItem("NOPE", 1, None), PushItem("CAP", 5, None)]
        )
    gift, nope, cap = results
    assert gift.status is PushStatus.SKIPPED and "tracked = false" in gift.reason
    assert nope.status is PushStatus.SKIPPED and "no variant" in nope.reason
    assert cap.status is PushStatus.UNCHANGED


async def test_writes_are_batched_up_to_the_input_limit(shop: Shop) -> None:
    state = shop.emulator.state
    for n in range(7):
        state.add_variant(f"SKU-{n}", 10)
    async with connector_for(shop, batch_size=3) as c:
        await c.push([PushItem(f"SKU-{n}", 10, None) for n in range(7)])  # learn the items
        log: list[tuple[str, int]] = []
        state.on_write = lambda sku, qty: log.append((sku, qty))
        requests = shop.emulator.requests
        results = await c.push([PushItem(f"SKU-{n}", n, 10) for n in range(7)])
    assert all(r.status is PushStatus.WRITTEN for r in results)
    assert sorted(log) == [(f"SKU-{n}", n) for n in range(7)]
    assert shop.emulator.requests == requests + 3


async def test_pushes_wait_for_the_bucket_instead_of_being_throttled(shop: Shop) -> None:
    emulator = shop.emulator
    async with connector_for(shop) as c:
        await c.push([PushItem("CAP", 5, None)])  # learns the bucket's figures
        emulator.bucket.refill()
        emulator.bucket.available = 0.0
        c.client.throttle.update(emulator.bucket.status())
        started = time.monotonic()
        result = await c.push([PushItem("CAP", 4, 5)])
        waited = time.monotonic() - started
    assert result[0].status is PushStatus.WRITTEN
    assert emulator.throttled == 0  # paced by the restore rate: never refused
    assert 0.08 <= waited < 1.0  # 13 points at 100 points/s


async def test_a_throttled_answer_waits_for_the_missing_points(shop: Shop) -> None:
    emulator = shop.emulator
    async with connector_for(shop) as c:
        emulator.bucket.refill()
        emulator.bucket.available = 0.0  # the client has not heard of the bucket yet
        result = await c.push([PushItem("CAP", 4, None)])
    assert result[0].status is PushStatus.WRITTEN
    assert emulator.throttled == 1


async def test_reconcile_reads_the_catalogue_through_one_bulk_operation(shop: Shop) -> None:
    async with connector_for(shop) as c:
        levels = [level async for page in c.read_levels() for level in page]
    assert {lv.sku: lv.quantity for lv in levels} == {
        "SHIRT-44": 1,
        "CAP": 5,
        "3760000000017": 4,
    }
    assert len(shop.emulator.bulk) == 1


def test_a_webhook_is_checked_against_the_app_secret_and_deduplicated(shop: Shop) -> None:
    c = connector_for(shop)
    body = b'{"id":1}'
    good = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    headers = {"X-Shopify-Hmac-Sha256": good, "X-Shopify-Webhook-Id": "w-1"}
    key = SECRET.encode()
    assert c.webhook_verdict(headers, body, key) is WebhookVerdict.ACCEPTED
    assert c.webhook_verdict(headers, body, key) is WebhookVerdict.DUPLICATE
    assert c.webhook_verdict({**headers, "X-Shopify-Webhook-Id": "w-2"}, body + b" ", key) is (
        WebhookVerdict.REFUSED
    )
    assert c.webhook_verdict({**headers, "X-Shopify-Webhook-Id": "w-3"}, body, b"other") is (
        WebhookVerdict.REFUSED
    )


async def test_an_order_larger_than_a_page_is_read_alone_and_whole(shop: Shop) -> None:
    state = shop.emulator.state
    state.add_variant("SOCK", 9)
    big = state.place_order({"CAP": 1, "SHIRT-44": 1, "SOCK": 2})
    for sku in ("CAP", "SHIRT-44", "SOCK"):
        state.refund(big.id, {sku: (1, "NO_RESTOCK")})  # three refunds: more than a page holds
    small = state.place_order({"CAP": 1})
    docs = await pulled(shop, lines_per_order=2)
    assert docs[str(big.id)].lines == {"CAP": 1, "SHIRT-44": 1, "SOCK": 2}
    assert docs[str(small.id)].lines == {"CAP": 1}
