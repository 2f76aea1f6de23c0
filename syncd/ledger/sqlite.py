"""The embedded ledger: one SQLite file in WAL mode, through aiosqlite."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from syncd.domain import utcnow
from syncd.exceptions import LedgerUnavailable, SchemaError
from syncd.ledger.queries import Migration, fresh_schema, migrations, queries
from syncd.ledger.sqlstore import SqlStore, Tx
from syncd.ledger.store import to_us

DIALECT = "sqlite"


def _arg(value: Any) -> Any:
    # Lists travel as JSON arrays and are expanded in SQL with json_each().
    if isinstance(value, list | tuple):
        return json.dumps(list(value))
    return value


class _SqliteTx:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        self.sql = queries(DIALECT)

    async def fetch(self, name: str, *args: Any) -> list[Any]:
        cursor = await self.conn.execute(self.sql[name], [_arg(a) for a in args])
        rows = await cursor.fetchall()
        await cursor.close()
        return list(rows)

    async def execute(self, name: str, *args: Any) -> None:
        await self.conn.execute(self.sql[name], [_arg(a) for a in args])

    async def executemany(self, name: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.conn.executemany(self.sql[name], [[_arg(a) for a in row] for row in rows])


class SqliteStore(SqlStore):
    """The ledger in one SQLite file: one writer connection, one reader (WAL lets both run)."""

    backend = "sqlite"

    def __init__(self, path: str | Path, *, strict_skus: bool = True, synchronous: str = "FULL"):
        super().__init__(strict_skus=strict_skus)
        self.path = Path(path)
        # FULL: a committed movement survives a power cut, not only a crash of the process.
        self.synchronous = synchronous
        self._writer_conn: aiosqlite.Connection | None = None
        self._reader_conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self, *, migrate: bool = True) -> SqliteStore:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer_conn = await aiosqlite.connect(self.path, isolation_level=None)
            await self._writer_conn.execute("PRAGMA journal_mode=WAL")
            await self._writer_conn.execute(f"PRAGMA synchronous={self.synchronous}")
            await self._writer_conn.execute("PRAGMA busy_timeout=10000")
            await self._writer_conn.execute("PRAGMA foreign_keys=ON")
            self._reader_conn = await aiosqlite.connect(self.path, isolation_level=None)
            await self._reader_conn.execute("PRAGMA busy_timeout=10000")
            await self._reader_conn.execute("PRAGMA query_only=ON")
        except (OSError, sqlite3.Error) as err:
            await self._close_connections()
            raise LedgerUnavailable(f"cannot open the SQLite ledger {self.path}: {err}") from err
        if migrate:
            await self.migrate()
        else:
            await self.check_schema()
        return self

    async def _close_connections(self) -> None:
        for conn in (self._writer_conn, self._reader_conn):
            if conn is not None:
                await conn.close()
        self._writer_conn = self._reader_conn = None

    @property
    def _conn(self) -> aiosqlite.Connection:
        if self._writer_conn is None:
            raise LedgerUnavailable("the SQLite ledger is not open")
        return self._writer_conn

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Tx]:
        async with self._lock:
            conn = self._conn
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise LedgerUnavailable(f"SQLite ledger {self.path}: {err}") from err
            try:
                yield _SqliteTx(conn)
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            else:
                try:
                    await conn.execute("COMMIT")
                except sqlite3.Error as err:
                    await conn.execute("ROLLBACK")
                    raise LedgerUnavailable(f"SQLite ledger {self.path}: {err}") from err

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[Tx]:
        if self._reader_conn is None:
            raise LedgerUnavailable("the SQLite ledger is not open")
        yield _SqliteTx(self._reader_conn)

    # -- schema ---------------------------------------------------------------------------------

    async def schema_version(self) -> int:
        conn = self._conn
        cursor = await conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
        )
        if await cursor.fetchone() is None:
            return 0
        cursor = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def check_schema(self) -> None:
        current, latest = await self.schema_version(), len(migrations(DIALECT))
        if current < latest:
            raise SchemaError(
                f"the ledger {self.path} is at schema version {current}, this program needs "
                f"{latest}: run `syncd migrate --config FILE`"
            )
        if current > latest:
            raise SchemaError(
                f"the ledger {self.path} is at schema version {current}, newer than this program "
                f"({latest}): upgrade syncd"
            )

    async def _run_script(self, script: str, done: Sequence[Migration]) -> None:
        """Run a schema script and record the migrations it stands for, in one transaction."""
        conn = self._conn
        try:
            await conn.executescript("BEGIN IMMEDIATE;\n" + script)
            await conn.executemany(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [(m.version, m.name, to_us(utcnow())) for m in done],
            )
            await conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise

    async def migrate(self, *, target: int | None = None, fresh: bool = True) -> list[int]:
        """Bring the schema up to date; a new ledger gets the fresh schema in one step.

        ``fresh=False`` replays every migration from zero instead (the tests compare both).
        """
        all_migrations = migrations(DIALECT)
        target = len(all_migrations) if target is None else target
        async with self._lock:
            conn = self._conn
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_us INTEGER NOT NULL)"
            )
            current = await self.schema_version()
            if current > len(all_migrations):
                raise SchemaError(
                    f"the ledger {self.path} is newer than this program: upgrade syncd"
                )
            applied: list[int] = []
            if current == 0 and fresh and target == len(all_migrations):
                await self._run_script(fresh_schema(DIALECT), all_migrations)
                return [m.version for m in all_migrations]
            for m in all_migrations:
                if current < m.version <= target:
                    await self._run_script(m.sql, [m])
                    applied.append(m.version)
            return applied
