"""The production ledger on PostgreSQL, through an asyncpg pool; NOTIFY wakes other processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
import structlog

from syncd.exceptions import LedgerUnavailable, SchemaError
from syncd.ledger.queries import fresh_schema, migrations, queries
from syncd.ledger.sqlbase import Pairs, Tx
from syncd.ledger.sqlstore import SqlStore

log = structlog.get_logger("syncd.ledger")
DIALECT = "postgres"
T = TypeVar("T")
NOTIFY_CHANNEL = "syncd_outbox"
_MIGRATE_LOCK = 0x5379_6E63  # pg_advisory_lock key: only one process migrates at a time

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


class PostgresStore(SqlStore):
    """The ledger in PostgreSQL; several daemons may share it (row locks, NOTIFY wake-ups)."""

    backend = "postgres"

    def __init__(self, dsn: str, *, pool_size: int = 4, strict_skus: bool = True) -> None:
        super().__init__(strict_skus=strict_skus)
        self._dsn = dsn
        self.pool_size = pool_size
        # Row locks let transactions on different SKUs commit side by side; keep one connection
        # free for reads and acknowledgements.
        self.writers = max(1, min(2, pool_size - 1))
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncio.Task[None] | None = None

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
        if self._listener is not None:
            self._listener.cancel()
            try:
                await self._listener
            except asyncio.CancelledError:
                pass
            self._listener = None
        if self._pool is not None:
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

    async def _lock_document_keys(self, tx: Tx, channels: list[str], ids: list[str]) -> None:
        await tx.fetch("lock_document_keys", channels, ids)

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
