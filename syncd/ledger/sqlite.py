"""The embedded ledger: one SQLite file in WAL mode.

Reads go through aiosqlite. Writes run as whole transactions in one dedicated writer thread:
aiosqlite hops to its thread once per statement (~0.1 ms each, ~20 statements a transaction),
whereas a whole transaction run in the writer thread costs one hop. The shared transaction code
is async; its awaits on :class:`_SyncTx` never suspend, so the writer thread drives it to the end
in a single step (and refuses one that tries to wait).

Commits of other processes (a `syncd` command beside the daemon, a second store on the same
file) wake the pushers within ~50 ms: no NOTIFY crosses processes on SQLite, so once a pusher
waits, a watcher polls ``PRAGMA data_version`` (read from the WAL index in shared memory: no
I/O), see :meth:`SqliteStore._watch_commits`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import structlog

from syncd.domain import utcnow
from syncd.exceptions import LedgerUnavailable, SchemaError
from syncd.ledger.fencing import fenced
from syncd.ledger.queries import Migration, fresh_schema, migrations, queries
from syncd.ledger.sqlbase import Pairs, Tx
from syncd.ledger.sqlstore import SqlStore
from syncd.ledger.values import to_json, to_us

DIALECT = "sqlite"
T = TypeVar("T")
log = structlog.get_logger("syncd.ledger")


def _arg(value: Any) -> Any:
    # Lists travel as JSON arrays and are expanded in SQL with json_each().
    if isinstance(value, Pairs):
        return to_json(list(zip(value.first, value.second, strict=True)))
    if isinstance(value, list | tuple):
        return to_json(list(value))
    return value


_LISTS = (list, tuple, Pairs)


def _rows(rows: Sequence[Sequence[Any]]) -> Sequence[Sequence[Any]]:
    """executemany's rows: most hold scalars only, passed as they are (a batch writes thousands
    of values; converting each one was a measurable share of a transaction). A row's values
    come from one expression per column, so a column holds lists in every row or in none: the
    first row tells (looking at every value was ~40 µs of a closed-loop batch of 8 sales)."""
    if rows and any(isinstance(a, _LISTS) for a in rows[0]):
        return [[_arg(a) for a in row] for row in rows]
    return rows


class _AsyncTx:
    """Statements on the aiosqlite reader connection."""

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
        await self.conn.executemany(self.sql[name], _rows(rows))


class _SyncTx:
    """Statements on the writer connection, inside the writer thread; awaiting never suspends."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.sql = queries(DIALECT)

    async def fetch(self, name: str, *args: Any) -> list[Any]:
        return self.conn.execute(self.sql[name], [_arg(a) for a in args]).fetchall()

    async def execute(self, name: str, *args: Any) -> None:
        self.conn.execute(self.sql[name], [_arg(a) for a in args])

    async def executemany(self, name: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(self.sql[name], _rows(rows))


class SqliteStore(SqlStore):
    """The ledger in one SQLite file: one writer thread, one aiosqlite reader (WAL lets both run)."""

    backend = "sqlite"
    single_writer = True

    def __init__(
        self, path: str | Path, *, strict_skus: bool = True, synchronous: str = "FULL"
    ) -> None:
        super().__init__(strict_skus=strict_skus)
        self.path = Path(path)
        # FULL: a committed movement survives a power cut, not only a crash of the process.
        self.synchronous = synchronous
        self._executor: ThreadPoolExecutor | None = None
        self._writer_conn: sqlite3.Connection | None = None
        self._reader_conn: aiosqlite.Connection | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._own_commits = 0  # transactions this store committed (see _watch_commits)

    async def _in_writer(self, func: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise LedgerUnavailable("the SQLite ledger is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    def _connect_writer(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    async def open(self, *, migrate: bool = True, check: bool = True) -> SqliteStore:
        """Connect; then migrate, or only check the schema is current (``check=False``: neither)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="syncd-ledger-writer")
            self._writer_conn = await self._in_writer(self._connect_writer)
            self._reader_conn = await aiosqlite.connect(self.path, isolation_level=None)
            await self._reader_conn.execute("PRAGMA busy_timeout=10000")
            await self._reader_conn.execute("PRAGMA query_only=ON")
        except (OSError, sqlite3.Error) as err:
            await self._close_connections()
            raise LedgerUnavailable(f"cannot open the SQLite ledger {self.path}: {err}") from err
        try:
            if migrate:
                await self.migrate()
            elif check:
                await self.check_schema()
        except BaseException:
            await self._close_connections()
            raise
        return self

    async def _close_connections(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            try:
                await self._watcher
            except asyncio.CancelledError:
                pass
            self._watcher = None
        if self._reader_conn is not None:
            await self._reader_conn.close()
            self._reader_conn = None
        if self._writer_conn is not None:
            await self._in_writer(self._writer_conn.close)
            self._writer_conn = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._writer_conn is None:
            raise LedgerUnavailable("the SQLite ledger is not open")
        return self._writer_conn

    async def _run(self, body: Callable[[Tx], Awaitable[T]]) -> T:
        # Once started, the transaction finishes in the writer thread even if the caller is
        # cancelled: shutdown never leaves half a document behind. Fenced by the caller's
        # leases (read here, in the caller's task).
        return await self._in_writer(self._run_sync, fenced(body))

    def _run_sync(self, body: Callable[[Tx], Awaitable[T]]) -> T:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            coro = body(_SyncTx(conn))
            try:
                coro.send(None)  # type: ignore[attr-defined]
            except StopIteration as done:
                result: T = done.value
            else:
                coro.close()  # type: ignore[attr-defined]
                raise RuntimeError("a ledger transaction tried to wait for something")
            # Counted before the commit: the watcher (another thread) may see the commit's new
            # data_version before this thread runs again, and must then know it may be ours.
            self._own_commits += 1
            conn.execute("COMMIT")
            return result
        except BaseException as err:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(err, sqlite3.OperationalError):
                raise LedgerUnavailable(f"SQLite ledger {self.path}: {err}") from err
            raise

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[Tx]:
        if self._reader_conn is None:
            raise LedgerUnavailable("the SQLite ledger is not open")
        yield _AsyncTx(self._reader_conn)

    # -- commits of other processes -------------------------------------------------------------

    commit_watch_seconds = 0.05  # how often the watcher looks for another process's commit

    async def wait_for_outbox(self, channel: str, max_wait: float) -> None:
        # A pusher waits: from now on, commits of other processes must wake it too.
        if self._watcher is None and self._reader_conn is not None:
            self._watcher = asyncio.create_task(self._watch_commits(), name="ledger-commit-watch")
        await super().wait_for_outbox(channel, max_wait)

    async def _watch_commits(self) -> None:
        """Wake every pusher when another connection committed (the daemon's only way to learn
        of a `syncd` command's booking before its next outbox poll).

        ``PRAGMA data_version`` on the reader changes whenever any other connection commits,
        and our own writer is another connection: so a change seen while this store committed
        nothing is another process's for sure; one seen while it committed too is settled by
        the writer connection's own data_version, which only other connections' commits move
        (one hop to the writer thread at most every ``commit_watch_seconds``, only while this
        store writes). Our own commits already woke the pushers they concern; they cause no
        extra wake-up here. A spurious wake-up costs one outbox read; a missed one, the poll.
        """
        reader = self._reader_conn
        if reader is None:
            return
        try:
            seen = await self._reader_version(reader)
            own = self._own_commits
            writer_seen = await self._in_writer(self._writer_version)
            while True:
                await asyncio.sleep(self.commit_watch_seconds)
                version = await self._reader_version(reader)
                if version == seen:
                    continue
                seen = version
                if self._own_commits != own:
                    own = self._own_commits
                    writer_version = await self._in_writer(self._writer_version)
                    if writer_version == writer_seen:
                        continue  # only ours
                    writer_seen = writer_version
                self.wake_all()
        except asyncio.CancelledError:
            raise
        except (sqlite3.Error, ValueError, LedgerUnavailable) as err:
            # Closing under the watcher, or the file gone: the pushers' poll still works.
            log.warning("ledger_commit_watch_stopped", error=str(err))
            self.wake_all()

    @staticmethod
    async def _reader_version(reader: aiosqlite.Connection) -> int:
        async with reader.execute("PRAGMA data_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    def _writer_version(self) -> int:
        row = self._conn.execute("PRAGMA data_version").fetchone()
        return int(row[0]) if row else 0

    # -- schema ---------------------------------------------------------------------------------

    def _schema_version(self) -> int:
        conn = self._conn
        exists = conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
        ).fetchone()
        if exists is None:
            return 0
        row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
        return int(row[0]) if row else 0

    async def schema_version(self) -> int:
        return await self._in_writer(self._schema_version)

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

    def _run_script(self, script: str, done: Sequence[Migration]) -> None:
        """Run a schema script and record the migrations it stands for, in one transaction."""
        conn = self._conn
        try:
            conn.executescript("BEGIN IMMEDIATE;\n" + script)
            conn.executemany(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [(m.version, m.name, to_us(utcnow())) for m in done],
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _migrate(self, target: int | None, fresh: bool) -> list[int]:
        all_migrations = migrations(DIALECT)
        target = len(all_migrations) if target is None else target
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_us INTEGER NOT NULL)"
        )
        current = self._schema_version()
        if current > len(all_migrations):
            raise SchemaError(f"the ledger {self.path} is newer than this program: upgrade syncd")
        if current == 0 and fresh and target == len(all_migrations):
            self._run_script(fresh_schema(DIALECT), all_migrations)
            return [m.version for m in all_migrations]
        applied = []
        for m in all_migrations:
            if current < m.version <= target:
                self._run_script(m.sql, [m])
                applied.append(m.version)
        return applied

    async def migrate(self, *, target: int | None = None, fresh: bool = True) -> list[int]:
        """Bring the schema up to date; a new ledger gets the fresh schema in one step.

        ``fresh=False`` replays every migration from zero instead (the tests compare both).
        """
        return await self._in_writer(self._migrate, target, fresh)
