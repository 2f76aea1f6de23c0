"""Leases per job and the fence on writes (issue 20), on both ledgers: one holder at a time, the
epoch raised at each takeover, and every write of a job whose lease was taken refused whole in
its transaction — whichever ledger method makes it, on both apply paths."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from syncd.domain import Document, DocumentKind
from syncd.exceptions import StaleLease
from syncd.ledger import ChannelInfo
from syncd.ledger.fencing import Lease, writing_under
from syncd.ledger.sqlstore import SqlStore
from tests.conftest import StoreFactory

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
TTL = 0.3


def sale(doc_id: str, qty: int = 1) -> Document:
    return Document("till", doc_id, DocumentKind.TILL_RECEIPT, {"SHIRT": qty}, T0)


async def _set_up(store: SqlStore) -> None:
    await store.register_channels(
        [ChannelInfo("till", "csv_till", False), ChannelInfo("web", "prestashop")]
    )
    await store.apply_document(
        Document("office", "opening", DocumentKind.GOODS_RECEIPT, {"SHIRT": 5}, T0)
    )


async def _taken_over(first: SqlStore, second: SqlStore) -> tuple[Lease, Lease]:
    """Daemon a holds job "till"; it stops renewing (paused); daemon b takes the job over."""
    mine = await first.acquire_lease("till", "a", TTL)
    assert mine is not None and mine.epoch == 1
    assert await second.acquire_lease("till", "b", TTL) is None  # held: not taken
    await asyncio.sleep(TTL + 0.1)
    theirs = await second.acquire_lease("till", "b", TTL)
    assert theirs is not None and theirs.epoch == 2
    return mine, theirs


async def test_one_holder_at_a_time_and_each_takeover_raises_the_epoch(
    make_store: StoreFactory,
) -> None:
    a, b = await make_store(), await make_store()
    mine, theirs = await _taken_over(a, b)
    assert await a.renew_lease(mine, TTL) is None  # a learns it lost the job
    renewed = await b.renew_lease(theirs, TTL)
    assert renewed is not None and renewed.epoch == 2 and renewed.expires_at > theirs.expires_at
    await b.release_lease(theirs)  # a graceful stop: taken at once
    again = await a.acquire_lease("till", "a", TTL)
    assert again is not None and again.epoch == 3
    assert [(x.job, x.holder, x.epoch) for x in await b.leases()] == [("till", "a", 3)]


async def test_a_paused_holder_can_no_longer_write_on_either_apply_path(
    make_store: StoreFactory,
) -> None:
    a, b = await make_store(), await make_store()
    await _set_up(a)
    mine, _ = await _taken_over(a, b)
    with writing_under(mine):
        # The fast path (a plain sale) and the locking one (an oversell records a conflict).
        for doc in (sale("r1"), sale("r2", qty=9)):
            with pytest.raises(StaleLease):
                await a.apply_batch([doc], channel="till", cursors={"file": "x.csv:10"})
        # Any other write the job makes: refused too.
        with pytest.raises(StaleLease):
            await a.record_shown("web", {"SHIRT": 1})
    assert await b.levels(["SHIRT"]) == {"SHIRT": 5}  # nothing of it written
    assert await b.cursors("till") == {}
    assert await b.conflicts() == []


async def test_the_holder_writes_and_a_stale_job_never_sinks_the_others_in_its_batch(
    make_store: StoreFactory,
) -> None:
    a, b = await make_store(), await make_store()
    await _set_up(a)
    mine, theirs = await _taken_over(a, b)
    with writing_under(theirs):
        await b.apply_batch([sale("b1")], channel="till", cursors={"file": "y.csv:1"})

    async def stale() -> None:
        with writing_under(mine):
            await a.apply_batch([sale("a1")], channel="till", cursors={"file": "x.csv:1"})

    async def unfenced() -> None:
        await a.apply_batch([sale("a2")])

    # Both queued at once: one group commit, the stale job refused, the other applied.
    results = await asyncio.gather(stale(), unfenced(), return_exceptions=True)
    assert isinstance(results[0], StaleLease) and results[1] is None
    assert await b.levels(["SHIRT"]) == {"SHIRT": 3}  # b1 and a2
    assert await b.cursors("till") == {"file": "y.csv:1"}


async def test_a_restarted_daemon_takes_its_dead_process_lease_at_once_and_only_that_one(
    make_store: StoreFactory,
) -> None:
    store = await make_store()
    old = await store.acquire_lease("till", "pc:100:1", 60)
    assert old is not None
    stale = Lease(old.job, old.holder, old.epoch + 5, old.since, old.expires_at)
    assert await store.take_over_lease(stale, "pc:200:2", 60) is None  # not the one held
    new = await store.take_over_lease(old, "pc:200:2", 60)
    assert new is not None and new.epoch == old.epoch + 1 and new.holder == "pc:200:2"
    assert await store.renew_lease(old, 60) is None  # the old process, if alive, is fenced


@pytest.mark.parametrize("stopped", ["idle", "mid-statement"])
async def test_a_daemon_paused_inside_a_fenced_write_does_not_hold_up_the_takeover(
    pg_dsn: str, stopped: str
) -> None:
    """PostgreSQL: a fenced write holds its lease row FOR SHARE until it commits; a daemon
    paused (SIGSTOP) inside that transaction keeps its session alive. Idle in the transaction,
    PostgreSQL would end it after IDLE_IN_TRANSACTION_MS; stopped in the middle of an exchange
    (asyncpg's prepare: Parse, Describe, Flush and no Sync) the session counts as active and
    never would: seen in tests/e2e/test_cluster_fencing.py, the standby's takeover waited for as
    long as the pause. Here "mid-statement" is a statement that does not end (pg_sleep): active
    too. The standby's acquire waits 1 s at most on the row, then ends the expired holder's
    stalled sessions, and takes the lease at its next poll; another daemon's open transaction is
    left alone."""
    import asyncpg

    from syncd.ledger.postgres import PostgresStore

    a = await PostgresStore(pg_dsn, holder="a").open()
    b = await PostgresStore(pg_dsn, holder="b").open()
    other = await asyncpg.connect(pg_dsn, server_settings={"application_name": "syncd c"})
    sleeping: asyncio.Task[object] | None = None
    try:
        mine = await a.acquire_lease("till", "a", TTL)
        assert mine is not None
        assert a._pool is not None
        conn = await a._pool.acquire()
        # What a fenced write does first, then "paused": no further statement, no commit.
        await conn.execute("BEGIN")
        await conn.execute(
            "SELECT 1 FROM leases WHERE job = $1 AND holder = $2 AND epoch = $3 FOR SHARE",
            "till",
            "a",
            mine.epoch,
        )
        if stopped == "mid-statement":
            sleeping = asyncio.create_task(conn.execute("SELECT pg_sleep(600)"))
        await other.execute("BEGIN")
        await other.execute("SELECT txid_current()")  # a transaction of its own, open
        paused = asyncio.get_running_loop().time()
        await asyncio.sleep(TTL + 0.1)
        theirs = None
        for _ in range(10):  # the cluster's poll: at most a second apart
            theirs = await asyncio.wait_for(b.acquire_lease("till", "b", TTL), 3)
            if theirs is not None:
                break
            await asyncio.sleep(0.1)
        waited = asyncio.get_running_loop().time() - paused
        assert theirs is not None and theirs.epoch == 2
        assert waited < 3, waited
        with pytest.raises(Exception):  # noqa: B017 - the session was ended by the server
            if sleeping is not None:
                await sleeping
            await conn.execute("COMMIT")
        assert await other.fetchval("SELECT 1") == 1  # another daemon's session: untouched
    finally:
        if sleeping is not None:
            sleeping.cancel()
        await other.close()
        if a._pool is not None:
            a._pool.terminate()  # the "paused" connection is never given back
        await b.close()
