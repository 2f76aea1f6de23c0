"""Shared fixtures: a real PostgreSQL (one fresh database per test, cloned from a migrated
template built once per session), both ledger stores behind one fixture, the fake connector
registered per test, and daemons started in-process (syncd/testing holds the harness itself)."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
import structlog

from syncd.cli.run import ServedDaemon
from syncd.config import Settings
from syncd.ledger.postgres import PostgresStore
from syncd.ledger.sqlite import SqliteStore
from syncd.ledger.sqlstore import SqlStore
from syncd.testing import FakeConnector, pg, realshops, registered
from syncd.testing.daemon import start_daemon as _start_daemon
from syncd.testing.pg import find_binary
from syncd.testing.pgpair import ReplicatedPair

_counter = itertools.count()


@pytest.fixture(autouse=True)
def _logging_as_found() -> Iterator[None]:
    """A command run in-process (``syncd kits import``, ``reconcile``, ``demo``) configures
    structlog for the whole process (syncd.logs.configure_logging, warnings only for some):
    a later test's ``capture_logs`` then saw no info event (test_reorder, after tests/kits).
    Each test leaves the configuration as it found it."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    dsn = pg.admin_dsn()
    yield dsn
    pg.stop_throwaway()


@pytest.fixture(scope="session")
def pg_template(pg_admin_dsn: str) -> str:
    """A database with the current schema, to clone per test."""
    name = f"syncd_tpl_{os.getpid()}"

    async def build() -> None:
        conn = await asyncpg.connect(pg_admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        store = await PostgresStore(pg.with_database(pg_admin_dsn, name)).open(listen=False)
        await store.close()

    asyncio.run(build())
    return name


def _admin(dsn: str, *statements: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture
def pg_dsn(pg_admin_dsn: str, pg_template: str) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    name = f"syncd_t_{os.getpid()}_{next(_counter)}"
    _admin(pg_admin_dsn, f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield pg.with_database(pg_admin_dsn, name)
    _admin(pg_admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_empty_dsn(pg_admin_dsn: str) -> Iterator[str]:
    """An empty database (no schema) for migration tests."""
    name = f"syncd_e_{os.getpid()}_{next(_counter)}"
    _admin(pg_admin_dsn, f'CREATE DATABASE "{name}"')
    yield pg.with_database(pg_admin_dsn, name)
    _admin(pg_admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


StoreFactory = Callable[..., Awaitable[SqlStore]]


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(backend, dsn): every store test runs on both ledgers."""
    if request.param == "postgres":
        return ("postgres", request.getfixturevalue("pg_dsn"))
    return ("sqlite", "")


@pytest.fixture
async def make_store(
    ledger_backend: tuple[str, str], tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    """Opens stores of the parametrized backend on one ledger (call it again = a restart)."""
    opened: list[SqlStore] = []
    backend, dsn = ledger_backend

    async def factory(*, strict_skus: bool = False) -> SqlStore:
        store: SqlStore
        if backend == "sqlite":
            store = await SqliteStore(tmp_path / "ledger.sqlite3", strict_skus=strict_skus).open()
        else:
            store = await PostgresStore(dsn, strict_skus=strict_skus).open()
        opened.append(store)
        return store

    yield factory
    for store in opened:
        try:
            await store.close()
        except Exception:  # noqa: BLE001 - a test may have closed or broken it on purpose
            pass


@pytest.fixture
async def store(make_store: StoreFactory) -> SqlStore:
    return await make_store()


# -- fake channels and in-process daemons ----------------------------------------------------


@pytest.fixture
def fake_connector() -> Iterator[type[FakeConnector]]:
    """Connector type "fake" for this test only; its ``channels`` dict starts empty."""
    with registered(FakeConnector) as cls:
        yield cls


DaemonStarter = Callable[..., Awaitable[ServedDaemon]]


@pytest.fixture
async def start_daemon(fake_connector: type[FakeConnector]) -> AsyncIterator[DaemonStarter]:
    """``await start_daemon(settings)``: a started daemon with SHIRT-44 and CAP in its ledger
    (syncd.testing.daemon.start_daemon); every daemon it started is stopped after the test."""
    daemons: list[ServedDaemon] = []

    async def start(settings: Settings, **options: object) -> ServedDaemon:
        daemon = await _start_daemon(settings, **options)  # type: ignore[arg-type]
        daemons.append(daemon)
        return daemon

    yield start
    for daemon in daemons:
        await daemon.stop()


# -- the real shops (syncd/testing/realshops.py) -----------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "realshop(name, ...): needs the real shop(s) of ../shared/real-shops (installed once per run)",
    )


@pytest.hookimpl(trylast=True)  # after `-m` and `-k` deselected what will not run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start installing every real shop a selected test needs, in the background, at once."""
    wanted: list[str] = []
    for item in items:
        for marker in item.iter_markers("realshop"):
            wanted.extend(name for name in marker.args if name not in wanted)
    if wanted:
        realshops.STARTER.want(*wanted)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, future in realshops.STARTER.futures():
        if future.done() and future.exception() is None:
            shop = future.result()
            terminalreporter.write_line(
                f"real {name}: installed and started in {shop.seconds:.0f} s (log {shop.log})"
            )
    for name in realshops.SHOPS:
        if not realshops.available(name):
            terminalreporter.write_line(realshops.why_skipped(name))


@pytest.fixture(scope="session")
def real_prestashop() -> realshops.RealShop:
    return realshops.real_shop("prestashop")


@pytest.fixture(scope="session")
def real_magento() -> realshops.RealShop:
    return realshops.real_shop("magento")


@pytest.fixture(scope="session")
def real_woocommerce() -> realshops.RealShop:
    return realshops.real_shop("woocommerce")


@pytest.fixture
def pair() -> Iterator[ReplicatedPair]:
    """A real primary PostgreSQL and its synchronous standby (issue 20's failover tests)."""
    missing = [b for b in ("initdb", "pg_ctl", "pg_basebackup") if find_binary(b) is None]
    if missing:
        pytest.skip(f"PostgreSQL's {', '.join(missing)} not installed: no replicated pair")
    replicated = ReplicatedPair().start()
    yield replicated
    replicated.stop()
