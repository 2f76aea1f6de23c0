"""An acknowledgement and a document's apply, interleaved on PostgreSQL (READ COMMITTED: each
sees what the other committed only statement by statement).

Found by the reliability campaign with a WooCommerce channel (issue 18, seed 53): the push of
166 was in flight; a cancellation elsewhere had raised the figure to 166, an order then lowered
it to 165. The order's apply saw the channel still showing 165 (the acknowledgement of 166 not
committed yet) and dropped the queued row as needless; the acknowledgement, which had read the
row before, found it as it had pushed it and queued nothing. The shop kept 166 until the
reconciliation. On SQLite the two never interleave (one writer)."""

from __future__ import annotations

import asyncio

import asyncpg

from syncd.ledger import Ack, ChannelInfo
from syncd.ledger.postgres import PostgresStore
from tests.ledger.test_contract import order, receipt


async def _waiting(dsn: str, count: int) -> None:
    """Until ``count`` sessions wait on a lock."""
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(200):
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            )
            if waiting >= count:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"fewer than {count} sessions wait on a lock")
    finally:
        await conn.close()


async def test_an_order_applied_while_a_push_is_acknowledged_is_pushed(pg_dsn: str) -> None:
    store = await PostgresStore(pg_dsn, strict_skus=False).open(listen=False)
    holder = await asyncpg.connect(pg_dsn)
    try:
        await store.register_channels(
            [
                ChannelInfo("till", "csv_till"),
                ChannelInfo("woo", "woocommerce", follows_own_sales=True),
                ChannelInfo("web", "prestashop", follows_own_sales=True),
            ]
        )
        await store.apply_document(receipt("r1", {"A": 165}))
        await store.ack_outbox("woo", [Ack("A", 165, 165)])  # woo shows 165
        await store.apply_document(receipt("r2", {"A": 1}))  # a delivery elsewhere: 166
        [item] = await store.take_outbox("woo", 10)
        assert (item.wanted, item.last_known) == (166, 165)  # the push of 166 starts

        # The outbox row held by another session, so that both transactions meet there.
        tx = holder.transaction()
        await tx.start()
        await holder.execute("SELECT 1 FROM outbox WHERE channel = 'woo' AND sku = 'A' FOR UPDATE")
        ack = asyncio.create_task(store.ack_outbox("woo", [Ack("A", 166, 166)]))
        await _waiting(pg_dsn, 1)
        # The shop's write of 166 is being acknowledged; an order elsewhere lowers A to 165.
        sale = asyncio.create_task(store.apply_document(order("o1", {"A": 1}, channel="web")))
        await _waiting(pg_dsn, 2)  # it waits too: behind the ack (or, before the fix, the row)
        await tx.rollback()
        await asyncio.wait_for(asyncio.gather(ack, sale), 10)

        assert (await store.levels())["A"] == 165
        queued = {i.sku: (i.wanted, i.last_known) for i in await store.take_outbox("woo", 10)}
        assert queued == {"A": (165, 166)}
    finally:
        await holder.close()
        await store.close()
