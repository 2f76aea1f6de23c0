"""A connection killed in the middle of a transaction leaves nothing partial."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from syncd.domain import Document, DocumentKind
from syncd.exceptions import LedgerUnavailable
from syncd.ledger import ApplyStatus
from syncd.ledger.postgres import PostgresStore, _alive
from syncd.ledger.sqlbase import Tx
from syncd.ledger.sqlite import SqliteStore

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
DOC = Document("till", "r-1", DocumentKind.TILL_RECEIPT, {"A": 2, "B": 1}, T0)


async def _waiting_backend(dsn: str) -> int:
    """The pid of the backend that waits on a lock inside one of the ledger's functions."""
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(400):
            pid = await conn.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE '%syncd_%'"
            )
            if pid is not None:
                return int(pid)
            await asyncio.sleep(0.025)
    finally:
        await conn.close()
    raise AssertionError("the ledger never waited on the blocking row")


@pytest.mark.parametrize("unlocked_attempts", [2, 0], ids=["one-statement", "locking"])
async def test_postgres_backend_killed_mid_transaction(pg_dsn: str, unlocked_attempts: int) -> None:
    # The batch's write waits on a level row another transaction is inserting, its advisory
    # lock, document lock and product rows already taken or written: its backend is terminated
    # there. "one-statement": the write that commits by itself (the usual path); "locking":
    # BEGIN, the locked snapshot, the write, COMMIT.
    killer = await PostgresStore(pg_dsn, strict_skus=False).open(listen=False)
    killer.unlocked_attempts = unlocked_attempts
    blocker = await asyncpg.connect(pg_dsn)
    try:
        blocking = blocker.transaction()
        await blocking.start()
        await blocker.execute("INSERT INTO levels (sku, on_hand, updated_us) VALUES ('B', 0, 0)")
        applying = asyncio.create_task(killer.apply_document(DOC))
        pid = await _waiting_backend(pg_dsn)
        await blocker.execute("SELECT pg_terminate_backend($1)", pid)
        with pytest.raises((LedgerUnavailable, asyncpg.PostgresError)):
            await applying
        await blocking.rollback()
        assert await blocker.fetchval("SELECT count(*) FROM products") == 0
    finally:
        await blocker.close()
        await killer.close()

    store = await PostgresStore(pg_dsn, strict_skus=False).open(listen=False)
    try:
        assert await store.movement_totals() == (0, 0)
        assert await store.document_lines("till", "r-1") == {}
        assert await store.levels() == {}
        result = await store.apply_document(DOC)
        assert result.status is ApplyStatus.APPLIED
        assert await store.levels(["A", "B"]) == {"A": -2, "B": -1}
        assert await store.movement_totals() == (2, -3)
    finally:
        await store.close()


async def test_postgres_writer_connection_lost_between_batches(pg_dsn: str) -> None:
    # A batch's write keeps its connection for the next batch (issue 17): when that connection's
    # backend is gone meanwhile (a restart of PostgreSQL, an administrator), the next batch
    # writes through another, and the store still closes at once (the held one given back).
    store = await PostgresStore(pg_dsn, strict_skus=False).open(listen=False)
    admin = await asyncpg.connect(pg_dsn)
    try:
        assert (await store.apply_document(DOC)).status is ApplyStatus.APPLIED
        assert len(store._held) == 1
        held = store._held[0]
        await admin.execute("SELECT pg_terminate_backend($1)", held.get_server_pid())
        for _ in range(200):
            if not _alive(held):
                break
            await asyncio.sleep(0.01)
        assert not _alive(held)
        second = Document("till", "r-2", DocumentKind.TILL_RECEIPT, {"A": 1}, T0)
        assert (await store.apply_document(second)).status is ApplyStatus.APPLIED
        assert await store.levels(["A", "B"]) == {"A": -3, "B": -1}
        assert await store.movement_totals() == (3, -4)
        assert len(store._held) == 1 and store._held[0] is not held
    finally:
        await admin.close()
        await asyncio.wait_for(store.close(), 5)


_SQLITE_CHILD = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from syncd.ledger.sqlite import SqliteStore, _SyncTx
    from tests.ledger.test_crash import DOC

    marker = Path(sys.argv[2])
    original = _SyncTx.executemany

    async def slow(self, name, rows):
        await original(self, name, rows)
        if name == "insert_movement":
            marker.write_text("in transaction")
            time.sleep(60)  # blocks the writer thread with the transaction open: kill -9 here

    _SyncTx.executemany = slow

    async def main():
        store = await SqliteStore(sys.argv[1], strict_skus=False).open()
        await store.apply_document(DOC)

    asyncio.run(main())
    """
)


async def test_sqlite_process_killed_mid_transaction(tmp_path: Path) -> None:
    db, marker = tmp_path / "ledger.sqlite3", tmp_path / "marker"
    child = subprocess.Popen(
        [sys.executable, "-c", _SQLITE_CHILD, str(db), str(marker)],
        cwd=Path(__file__).resolve().parents[2],
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            assert time.monotonic() < deadline, "the child never reached the transaction"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
        if child.stderr:
            child.stderr.close()

    store = await SqliteStore(db, strict_skus=False).open()
    try:
        assert await store.movement_totals() == (0, 0)
        assert await store.document_lines("till", "r-1") == {}
        assert (await store.apply_document(DOC)).status is ApplyStatus.APPLIED
        assert await store.levels(["A", "B"]) == {"A": -2, "B": -1}
    finally:
        await store.close()


async def test_postgres_deadlocked_transactions_are_tried_again(pg_dsn: str) -> None:
    """Found by campaign seed 101: an ack and an apply locked rows in opposite orders and
    PostgreSQL killed one of them, which crashed the push loop. Every write transaction is
    now tried again after a deadlock; here two really deadlock and both end committed."""
    store = await PostgresStore(pg_dsn, strict_skus=False).open(listen=False)
    try:
        await store.apply_document(
            Document("o", "r0", DocumentKind.GOODS_RECEIPT, {"A": 5, "B": 5}, T0)
        )
        both_hold_one = asyncio.Barrier(2)
        attempts: list[str] = []

        def crossing(first: str, second: str) -> Callable[[Tx], Awaitable[None]]:
            async def body(tx: Tx) -> None:
                conn = tx.conn  # type: ignore[attr-defined]
                attempts.append(first)
                await conn.execute("UPDATE levels SET on_hand = on_hand + 1 WHERE sku = $1", first)
                if len(attempts) <= 2:  # the first round: wait until both hold their first row
                    await both_hold_one.wait()
                await conn.execute("UPDATE levels SET on_hand = on_hand + 1 WHERE sku = $1", second)

            return body

        await asyncio.wait_for(
            asyncio.gather(store._run(crossing("A", "B")), store._run(crossing("B", "A"))), 30
        )
        assert len(attempts) == 3  # one of the two was chosen as the victim and ran again
        assert await store.levels(["A", "B"]) == {"A": 7, "B": 7}  # both committed, once
    finally:
        await store.close()
