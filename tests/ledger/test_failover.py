"""A failover of the primary PostgreSQL under traffic (issue 20), with real servers: a primary and
a synchronous streaming standby (syncd/testing/pgpair.py). The ledger's DSN names both, with
``target_session_attrs=read-write``; the primary dies, the standby is promoted, and the writer
(retrying as a daemon does: a till file is read again) finds the new primary. Nothing is lost or
applied twice, and the time from the primary's death to the next write is measured."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from syncd.domain import Document, DocumentKind
from syncd.exceptions import LedgerError
from syncd.ledger import ChannelInfo
from syncd.ledger.postgres import PostgresStore
from syncd.testing.pgpair import ReplicatedPair

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SALES = 120
FAIL_AT = 40


async def test_a_promoted_standby_takes_over_with_nothing_lost_or_doubled(
    pair: ReplicatedPair,
) -> None:
    store = await PostgresStore(pair.dsn(), strict_skus=False, pool_size=2).open(listen=False)
    try:
        await store.register_channels([ChannelInfo("till", "csv_till", False)])
        await store.apply_document(
            Document("office", "opening", DocumentKind.GOODS_RECEIPT, {"SHIRT": 1000}, T0)
        )
        failed_at = 0.0
        recovered_after = 0.0
        retries = 0
        for n in range(SALES):
            if n == FAIL_AT:
                await asyncio.to_thread(pair.kill_primary)
                failed_at = time.monotonic()
                promotion = asyncio.create_task(asyncio.to_thread(pair.promote_standby))
            sale = Document("till", f"r{n}", DocumentKind.TILL_RECEIPT, {"SHIRT": 1}, T0)
            while True:  # as the till connector does: the file is read again later
                try:
                    await store.apply_batch([sale], channel="till", cursors={"file": f"{n}"})
                    break
                except LedgerError:
                    retries += 1
                    await asyncio.sleep(0.1)
            if n == FAIL_AT:
                recovered_after = time.monotonic() - failed_at
                await promotion
        assert retries > 0  # the failover was felt
        assert await store.levels(["SHIRT"]) == {"SHIRT": 1000 - SALES}
        moves = await store.movements(sku="SHIRT", channel="till", limit=1000)
        assert sorted(m.doc_id for m in moves) == sorted(f"r{n}" for n in range(SALES))
        assert await store.cursors("till") == {"file": str(SALES - 1)}
        print(
            f"failover: next write {recovered_after:.2f} s after the primary died, {retries} retries"
        )
        assert recovered_after < 30
    finally:
        await store.close()
