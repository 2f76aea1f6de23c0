"""The production ledger on PostgreSQL, through an asyncpg pool; NOTIFY wakes other processes.

Documents are applied through PL/pgSQL functions that only read and write rows (migration 0011):
``syncd_snapshot`` (every row a batch touches, as JSON), ``syncd_write_plan`` (a plan's rows) and
``syncd_apply_next`` (both, checked, in one statement: migration 0017, which re-reads the rows
only when some transaction committed since they were read, and writes a plan made from the rows
kept since the previous batch, :mod:`syncd.ledger.keptrows`, only if none did). The planner stays
in Python. Other processes are woken by NOTIFY, at most every ``NOTIFY_EVERY``."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
import structlog

from syncd.domain import Document
from syncd.exceptions import LedgerUnavailable, SchemaError, StaleLease
from syncd.ledger.fencing import Lease, unfenced
from syncd.ledger.keptrows import KeptRows
from syncd.ledger.planner import ApplyStatus, DocKey, Plan, Snapshot, plan_batch
from syncd.ledger.queries import fresh_schema, migrations, queries
from syncd.ledger.rows import batch_keys, needs_conflicts, plan_rows, snapshot_from_rows
from syncd.ledger.sqlbase import Pairs, Tx
from syncd.ledger.sqlstore import SqlStore
from syncd.ledger.values import from_json, to_json, to_us

log = structlog.get_logger("syncd.ledger")
DIALECT = "postgres"
T = TypeVar("T")
NOTIFY_CHANNEL = "syncd_outbox"
_MIGRATE_LOCK = 0x5379_6E63  # pg_advisory_lock key: only one process migrates at a time
_CHANGED = "SY001"  # syncd_apply_next: the batch's rows changed since they were read
_STALE = "SY002"  # syncd_apply_next: a fenced job's lease was taken (issue 20)
# A writer's NOTIFY at most this often; the channels of the writes between are notified by the
# next write that may, or in a transaction of their own (issue 17: a NOTIFY in every batch's commit
# cost the closed loop about 12 % of its documents/s). PostgreSQL serialises the commits of
# notifying transactions across the whole server: src/backend/commands/async.c PreCommit_Notify
# takes a heavyweight lock on "database 0" and holds it until after commit, WAL flush included;
# and each listening connection, ours too, wakes for every notification.
NOTIFY_EVERY = 0.02

# Errors after which the same transaction may simply be tried again.
_TRANSIENT = (
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.UniqueViolationError,  # two processes inserted the same new document at once
)
_UNAVAILABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a pooled connection whose backend was terminated under it
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)


async def _reset_connection(conn: asyncpg.Connection) -> None:
    """On release to the pool. The ledger keeps no session state on pooled connections (no
    LISTEN, no SET, session locks released explicitly), so asyncpg's default reset, a round
    trip on every release, is only needed to undo a transaction a cancelled task left open."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def _alive(conn: asyncpg.Connection) -> bool:
    """Whether a pooled connection is still open: asyncpg gives a connection that closed back to
    its pool itself, and its proxy then refuses every call (``InterfaceError``)."""
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:
        return False


def _args(args: tuple[Any, ...]) -> list[Any]:
    out: list[Any] = []
    for a in args:
        if isinstance(a, Pairs):
            out += [list(a.first), list(a.second)]
        else:
            out.append(a)
    return out


class _PgTx:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.sql = queries(DIALECT)

    async def fetch(self, name: str, *args: Any) -> list[Any]:
        return list(await self.conn.fetch(self.sql[name], *_args(args)))

    async def execute(self, name: str, *args: Any) -> None:
        await self.conn.execute(self.sql[name], *_args(args))

    async def executemany(self, name: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.conn.executemany(self.sql[name], rows)


# A daemon paused (SIGSTOP, a stalled VM) in the middle of a transaction keeps its session, and
# the row locks it took, alive: a fenced write holds its lease row FOR SHARE, so the standby's
# takeover of that lease would wait for as long as the pause lasts. PostgreSQL ends such a
# session itself after this long idle in a transaction (its work rolled back, as after a kill);
# a lease is 6 s by default, so the takeover is not held up beyond it.
IDLE_IN_TRANSACTION_MS = 5000
# That timeout does not end a session whose daemon stopped in the middle of an extended-protocol
# exchange: asyncpg prepares a statement with Parse, Describe and Flush, no Sync (asyncpg
# protocol/coreproto.pyx ``_prepare_and_describe``), and a backend waiting for the rest counts
# as active, not idle (PostgreSQL tcop/postgres.c reports idle states only at ReadyForQuery).
# Seen in tests/e2e/test_cluster_fencing.py: the paused daemon's till apply stopped between
# preparing ``lock_levels`` and running it, its lease row held FOR SHARE, and the standby's
# takeover waited for as long as the pause. So a takeover waits on the row 1 s at most
# (``lease_lock_wait``); then the standby ends that holder's sessions whose transaction began
# before its lease expired (``lease_end_stalled``: they roll back, as after a kill) and tries
# again at its next poll.
# Each session says whose it is (``application_name``), which is how the standby finds them.
APPLICATION = "syncd"


def session_name(holder: str) -> str:
    """The ``application_name`` of a daemon's sessions: PostgreSQL keeps 63 bytes of it."""
    return f"{APPLICATION} {holder}".strip().encode()[:63].decode(errors="ignore")


class PostgresStore(SqlStore):
    """The ledger in PostgreSQL; several daemons may share it (row locks, NOTIFY wake-ups)."""

    backend = "postgres"

    def __init__(
        self, dsn: str, *, pool_size: int = 4, strict_skus: bool = True, holder: str = ""
    ) -> None:
        super().__init__(strict_skus=strict_skus)
        self._dsn = dsn
        self.application_name = session_name(holder)
        self.pool_size = pool_size
        # Row locks let transactions on different SKUs commit side by side; keep one connection
        # free for reads and acknowledgements.
        self.writers = max(1, min(2, pool_size - 1))
        self.unlocked_attempts = 2  # plans from unlocked rows before taking the locking path
        self._pool: asyncpg.Pool | None = None
        self._kept: KeptRows | None = None  # rows kept between batches (keptrows.py)
        self._listener: asyncio.Task[None] | None = None
        self._notified_at = 0.0  # monotonic time of the last NOTIFY sent
        self._deferred: set[str] = set()  # channels written since, to notify
        self._notifier: asyncio.Task[None] | None = None
        self._held: list[asyncpg.Connection] = []  # the writers' connections, out of the pool

    async def open(
        self, *, migrate: bool = True, check: bool = True, listen: bool = True
    ) -> PostgresStore:
        """Connect; then migrate, or only check the schema is current (``check=False``: neither)."""
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=self.pool_size,
                command_timeout=60,
                reset=_reset_connection,
                server_settings={
                    "idle_in_transaction_session_timeout": str(IDLE_IN_TRANSACTION_MS),
                    "application_name": self.application_name,
                },
            )
        except (*_UNAVAILABLE, asyncpg.PostgresError) as err:
            raise LedgerUnavailable(f"cannot connect to the PostgreSQL ledger: {err}") from err
        try:
            if migrate:
                await self.migrate()
            elif check:
                await self.check_schema()
        except BaseException:
            await self._close_connections()
            raise
        if listen:
            self._listener = asyncio.create_task(self._listen_loop(), name="ledger-listener")
        return self

    async def _close_connections(self) -> None:
        if self._notifier is not None:
            self._notifier.cancel()
            self._notifier = None
        if self._deferred and self._pool is not None:  # notified now, not at the next write
            await self._send_deferred()
        if self._listener is not None:
            self._listener.cancel()
            try:
                await self._listener
            except asyncio.CancelledError:
                pass
            self._listener = None
        if self._pool is not None:
            held, self._held = self._held, []
            for conn in held:
                await self._pool.release(conn)
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise LedgerUnavailable("the PostgreSQL ledger is not open")
        return self._pool

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Tx]:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                yield _PgTx(conn)
        except _UNAVAILABLE as err:
            raise LedgerUnavailable(f"PostgreSQL ledger: {type(err).__name__}: {err}") from err

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[Tx]:
        try:
            async with self.pool.acquire() as conn:
                yield _PgTx(conn)
        except _UNAVAILABLE as err:
            raise LedgerUnavailable(f"PostgreSQL ledger: {type(err).__name__}: {err}") from err

    @asynccontextmanager
    async def _write_connection(self) -> AsyncIterator[Tx]:
        """A connection for a batch's write, held between batches (up to one per writer) rather
        than taken from the pool and given back each time: asyncpg's acquire and release (a
        shielded task, an idle timer, the reset) took about 6 % of the closed loop's Python
        samples (issue 17, py-spy). Back to the pool, which resets or drops it, after any error or a
        cancellation, or when it is left in a transaction."""
        conn: asyncpg.Connection | None = None
        while self._held and conn is None:
            conn = self._held.pop()
            if not _alive(conn):  # its backend went away between batches (a restart)
                await self._give_back(conn)
                conn = None
        if conn is None:
            conn = await self._acquire()
        try:
            yield _PgTx(conn)
        except BaseException as err:
            await self._give_back(conn)
            if isinstance(err, _UNAVAILABLE):
                raise LedgerUnavailable(f"PostgreSQL ledger: {type(err).__name__}: {err}") from err
            raise
        if not _alive(conn) or conn.is_in_transaction() or len(self._held) >= self.writers:
            await self._give_back(conn)
        else:
            self._held.append(conn)

    async def _acquire(self) -> asyncpg.Connection:
        try:
            return await self.pool.acquire()
        except _UNAVAILABLE as err:
            raise LedgerUnavailable(f"PostgreSQL ledger: {type(err).__name__}: {err}") from err

    async def _give_back(self, conn: asyncpg.Connection) -> None:
        if self._pool is not None:
            await self._pool.release(conn)  # shielded by asyncpg: done even if we are cancelled

    # -- applying documents in few round trips ---------------------------------------------------

    async def _load_snapshot(self, tx: Tx, documents: Sequence[Document], now_us: int) -> Snapshot:
        """The batch's rows, locked, in one round trip (``syncd_snapshot``)."""
        keys, identifiers = batch_keys(documents)
        rows = await tx.fetch(
            "snapshot",
            [k[0] for k in keys],
            [k[1] for k in keys],
            identifiers,
            self.strict_skus,
            True,
            now_us,
        )
        return snapshot_from_rows(from_json(rows[0][0]))

    async def _write_rows(self, tx: Tx, plan: Plan, now_us: int) -> None:
        """The plan's rows and the wake-up in one round trip (``syncd_write_plan``)."""
        rows: dict[str, object] = dict(plan_rows(plan))
        if any(rows.values()):
            rows["notify"] = sorted(plan.changed_channels)
            await tx.execute("write_plan", to_json(rows), now_us)

    async def _apply_unlocked(
        self,
        documents: Sequence[Document],
        now: datetime,
        settled: frozenset[DocKey],
        cursors: Sequence[tuple[str, str, str]],
        fences: Sequence[Lease] = (),
    ) -> Plan | None:
        """One round trip when the rows kept hold the batch's, two otherwise; no explicit
        transaction.

        The batch is planned from the rows kept since the previous batches' writes when they
        hold all it needs (:mod:`syncd.ledger.keptrows`), else from rows read without locks;
        then ``syncd_apply_next`` locks them, checks they are still what was planned from, and
        writes the plan, committed with that one statement. The check reads the rows again only
        when some transaction committed since they were known. Rows changed meanwhile (another
        writer, another daemon): planned again from a read, then left to the locking path. A
        plan that records a conflict or a rejection also takes the locking path (rare; decided
        in Python)."""
        keys, identifiers = batch_keys(documents)
        channels, ids = [k[0] for k in keys], [k[1] for k in keys]
        now_us = to_us(now)
        # Taken while this batch is written: another writer meanwhile reads (its commit is
        # one the check of the next batch planned from these rows sees).
        kept, self._kept = self._kept, None
        if kept is None or not kept.fresh():
            kept = KeptRows()
        try:
            async with self._write_connection() as tx:
                reads = 0
                use_kept = True
                while reads < self.unlocked_attempts:
                    assembled = kept.assemble(keys, identifiers) if use_kept else None
                    seen: str | None = None
                    assumed: str | None = None
                    absent: list[DocKey] = []
                    # Checked from the last write (kept rows are the ledger's as of it, but
                    # for that write): a read's rows too, since every commit after the read is
                    # one after it; nothing kept yet, from the read.
                    since, own = kept.since, [kept.own] if kept.own else []
                    if assembled is not None:
                        data = assembled.rows
                        absent = assembled.absent
                        assumed = to_json(data)
                    else:
                        reads += 1
                        found = await tx.fetch(
                            "read_snapshot", channels, ids, identifiers, self.strict_skus, now_us
                        )
                        text: str = found[0][1]
                        data = from_json(text)
                        seen = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
                        since = since or found[0][0]
                    snap = snapshot_from_rows(data)
                    # What syncd_apply_next locks, as this snapshot named it (before the
                    # planner changes the snapshot): its SKUs, and the identifiers it resolved.
                    skus = sorted(snap.on_hand)
                    idents = sorted(
                        set(identifiers)
                        | {
                            key
                            for doc_lines in snap.lines.values()
                            for key, line in doc_lines.items()
                            if line.sku is None
                        }
                    )
                    plan = plan_batch(documents, snap, now=now, settled=settled)
                    if needs_conflicts(plan) or any(
                        r.status is ApplyStatus.REJECTED for r in plan.results
                    ):
                        return None
                    rows: dict[str, Any] = dict(plan_rows(plan))
                    if not any(rows.values()) and not cursors:
                        if assembled is not None:
                            # Nothing to write is decided from a read: kept rows are checked
                            # only by a write (a write of ours a failover lost is in them).
                            use_kept = False
                            continue
                        self._kept = kept  # nothing written: as they were
                        return plan  # nothing to write (the same versions again)
                    notify = self._to_notify(plan.changed_channels)
                    extra: dict[str, object] = {
                        "cursors": [
                            {"channel": ch, "key": key, "value": value}
                            for ch, key, value in cursors
                        ],
                        "notify": sorted(notify),
                        "fences": [
                            {"job": f.job, "holder": f.holder, "epoch": f.epoch} for f in fences
                        ],
                    }
                    try:
                        written = await self._apply_plan(
                            tx,
                            channels,
                            ids,
                            identifiers,
                            self.strict_skus,
                            now_us,
                            seen,
                            to_json(rows | extra),
                            since,
                            skus,
                            idents,
                            own,
                            [k[0] for k in absent],
                            [k[1] for k in absent],
                            assumed,
                        )
                    except BaseException as err:
                        # Not known to be sent (a lost connection may have committed it): the
                        # channels again, a needless wake-up at worst.
                        self._notify_later(notify)
                        if not isinstance(err, asyncpg.PostgresError):
                            raise
                        kept = KeptRows()  # not known any more
                        if getattr(err, "sqlstate", "") == _STALE:
                            log.warning("stale_write_refused", error=str(err))
                            raise StaleLease(str(err)) from err
                        if getattr(err, "sqlstate", "") != _CHANGED:
                            raise
                        log.debug("ledger_batch_planned_again", reads=reads)
                        continue
                    if not notify:
                        self._notify_later(plan.changed_channels)
                    if seen is not None:
                        kept.add_read(data, identifiers)
                    if kept.wrote(rows, *written[:2], clean=written[2]):
                        try:
                            await kept.load_kits(tx)  # a kit batch kept without the kit table
                        except (*_UNAVAILABLE, asyncpg.PostgresError) as err:
                            # Written and committed: only its rows are not kept.
                            log.info("ledger_kits_not_kept", error=type(err).__name__)
                        else:
                            self._kept = kept
                    return plan
        except _TRANSIENT as err:
            log.info("ledger_unlocked_apply_failed", error=type(err).__name__)
        return None

    async def _apply_plan(self, tx: Tx, *args: Any) -> tuple[str, str, bool]:
        """``syncd_apply_next``: lock, check, write and commit in one statement (tests make it
        fail after writing, before the commit, to prove nothing of it remains). Returns the
        snapshot checked against, this transaction's id and whether nothing else committed."""
        row = (await tx.fetch("apply_next", *args))[0]
        return str(row[0]), str(row[1]), bool(row[2])

    def _to_notify(self, channels: set[str]) -> set[str]:
        """The channels a write sends NOTIFY for itself: its own and those deferred, when no
        write has for ``NOTIFY_EVERY``; else none (:meth:`_notify_later` once it commits)."""
        now = time.monotonic()
        if now - self._notified_at < NOTIFY_EVERY:
            return set()
        self._notified_at = now
        sent, self._deferred = channels | self._deferred, set()
        return sent

    def _notify_later(self, channels: set[str]) -> None:
        """Channels of a committed write that sent no NOTIFY (or of one that failed): the next
        write sends it, or, if none comes, one transaction of its own (it is another
        transaction for the rows kept: at most one in ``2 * NOTIFY_EVERY`` of quiet)."""
        if not channels:
            return
        self._deferred |= channels
        if self._notifier is None or self._notifier.done():
            with unfenced():
                self._notifier = asyncio.create_task(self._notify_deferred(), name="ledger-notify")

    async def _notify_deferred(self) -> None:
        while self._deferred:
            await asyncio.sleep(max(0.0, self._notified_at + 2 * NOTIFY_EVERY - time.monotonic()))
            if self._deferred and time.monotonic() - self._notified_at >= 2 * NOTIFY_EVERY:
                await self._send_deferred()

    async def _send_deferred(self) -> None:
        channels, self._deferred = self._deferred, set()
        self._notified_at = time.monotonic()
        try:
            async with self._transaction() as tx:
                await self._notify(tx, channels)
        except (LedgerUnavailable, asyncpg.PostgresError) as err:
            # Other processes' pushers find the rows at their next poll.
            log.warning("ledger_notify_failed", channels=sorted(channels), error=str(err))

    async def _notify(self, tx: Tx, channels: set[str]) -> None:
        for channel in sorted(channels):
            await tx.execute("notify_outbox", channel)

    async def _run(self, body: Callable[[Tx], Awaitable[T]]) -> T:
        """Every write transaction, tried again after a deadlock, a serialization failure or
        two processes inserting the same row: each rolled back whole, so retrying is safe."""
        for attempt in range(1, 6):
            try:
                return await super()._run(body)
            except _TRANSIENT as err:
                if attempt == 5:
                    raise
                log.info("ledger_transaction_retried", attempt=attempt, error=type(err).__name__)
                await asyncio.sleep(0.01 * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _listen_loop(self) -> None:
        """Keep one LISTEN connection alive; after any reconnect wake every pusher, because
        notifications sent while it was down are lost (asyncpg#519: ping to notice a dead link)."""
        delay = 0.5
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn)
                await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
                self.wake_all()
                delay = 0.5
                while True:
                    await asyncio.sleep(10)
                    await asyncio.wait_for(conn.execute("SELECT 1"), 5)
            except asyncio.CancelledError:
                raise
            except (*_UNAVAILABLE, asyncpg.PostgresError, TimeoutError) as err:
                log.warning("ledger_listener_lost", error=str(err), retry_seconds=delay)
                self.wake_all()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)
            finally:
                if conn is not None and not conn.is_closed():
                    conn.terminate()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        self._wake({str(payload)})

    # -- leases ---------------------------------------------------------------------------------

    async def acquire_lease(
        self, job: str, holder: str, ttl_seconds: float, *, free_for: float = 0.0
    ) -> Lease | None:
        """As :meth:`LeasesSql.acquire_lease`; when the lease's row stays locked (a holder's
        transaction stalled with its lease), that holder's stalled sessions are ended and None
        is answered: the caller tries again at its next poll."""
        try:
            return await super().acquire_lease(job, holder, ttl_seconds, free_for=free_for)
        except asyncpg.LockNotAvailableError:
            pass
        try:
            async with self._read() as tx:
                ended = await tx.fetch("lease_end_stalled", job, APPLICATION + " ")
        except asyncpg.PostgresError as err:  # not allowed to (another role's sessions)
            log.warning("lease_holder_stalled", job=job, ended=0, error=str(err))
            return None
        count = sum(1 for row in ended if row[1])
        if count:
            log.warning("lease_holder_stalled", job=job, holder=ended[0][0], ended=count)
        else:  # its holder is alive and writing (the lease has not expired): wait for it
            log.info("lease_row_busy", job=job)
        return None

    # -- schema ---------------------------------------------------------------------------------

    async def schema_version(self, conn: asyncpg.Connection | None = None) -> int:
        async def read(c: asyncpg.Connection) -> int:
            exists = await c.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
            if not exists:
                return 0
            return int(await c.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))

        if conn is not None:
            return await read(conn)
        async with self.pool.acquire() as c:
            return await read(c)

    async def check_schema(self) -> None:
        current, latest = await self.schema_version(), len(migrations(DIALECT))
        if current < latest:
            raise SchemaError(
                f"the PostgreSQL ledger is at schema version {current}, this program needs "
                f"{latest}: run `syncd migrate --config FILE`"
            )
        if current > latest:
            raise SchemaError(
                f"the PostgreSQL ledger is at schema version {current}, newer than this program "
                f"({latest}): upgrade syncd"
            )

    async def migrate(self, *, target: int | None = None, fresh: bool = True) -> list[int]:
        """Bring the schema up to date under an advisory lock (several daemons may start at once)."""
        all_migrations = migrations(DIALECT)
        target = len(all_migrations) if target is None else target
        async with self.pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATE_LOCK)
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                    "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
                )
                current = await self.schema_version(conn)
                if current > len(all_migrations):
                    raise SchemaError(
                        "the PostgreSQL ledger is newer than this program: upgrade syncd"
                    )
                if current == 0 and fresh and target == len(all_migrations):
                    async with conn.transaction():
                        await conn.execute(fresh_schema(DIALECT))
                        await conn.executemany(
                            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                            [(m.version, m.name) for m in all_migrations],
                        )
                    return [m.version for m in all_migrations]
                applied = []
                for m in all_migrations:
                    if current < m.version <= target:
                        async with conn.transaction():
                            await conn.execute(m.sql)
                            await conn.execute(
                                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                                m.version,
                                m.name,
                            )
                        applied.append(m.version)
                return applied
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATE_LOCK)
