"""Both SQL dialects stay in step: the same named queries in the same files, every query used by
the code and every query the code runs defined, and schemas with the same tables and columns."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import aiosqlite
import asyncpg

import syncd
from syncd.ledger.queries import queries, query_files
from syncd.ledger.sqlite import SqliteStore

DIALECTS = ("sqlite", "postgres")
# Each store's own migration bookkeeping, created by its migrate() rather than by the schema
# files; it differs on purpose (applied_us on SQLite, applied_at timestamptz on PostgreSQL).
BOOKKEEPING = "schema_migrations"
PACKAGE = Path(syncd.__file__).parent
RUNS = {"fetch", "execute", "executemany"}  # the Tx methods that take a query's name
_QUERY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # raw SQL (asyncpg's "ROLLBACK", …) is not a name


def _names_run_by_code() -> dict[str, list[str]]:
    """Query name → where the package runs it: every ``x.fetch("name", …)`` (execute, …)."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in RUNS
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and _QUERY_NAME.match(node.args[0].value)
            ):
                where = f"{path.relative_to(PACKAGE)}:{node.lineno}"
                found.setdefault(node.args[0].value, []).append(where)
    return found


def test_both_dialects_define_the_same_queries_in_the_same_files() -> None:
    sqlite, postgres = query_files("sqlite"), query_files("postgres")
    assert sorted(sqlite) == sorted(postgres)
    assert {"documents.sql", "alerts.sql", "reconcile.sql", "status.sql"} <= set(sqlite)
    for file in sqlite:
        assert sorted(sqlite[file]) == sorted(postgres[file]), file
    for dialect in DIALECTS:  # loads them all: no name in two files
        assert len(queries(dialect)) == sum(len(named) for named in query_files(dialect).values())


def test_every_defined_query_is_run_by_some_code_and_every_query_run_is_defined() -> None:
    run = _names_run_by_code()
    assert len(run) > 50  # the scan finds the ledger's queries at all
    for dialect in DIALECTS:
        defined = set(queries(dialect))
        unused = sorted(defined - set(run))
        assert not unused, f"{dialect}: defined but never run (remove them): {unused}"
        missing = {name: run[name] for name in sorted(set(run) - defined)}
        assert not missing, f"{dialect}: run but not defined: {missing}"


async def _sqlite_columns(path: Path) -> dict[str, list[str]]:
    async with aiosqlite.connect(path) as conn:
        tables = await conn.execute_fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        out = {}
        for (table,) in tables:
            info = await conn.execute_fetchall(f"PRAGMA table_info('{table}')")
            out[table] = sorted(row[1] for row in info)
    return out


async def _pg_columns(dsn: str) -> dict[str, list[str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
        )
    finally:
        await conn.close()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return {table: sorted(columns) for table, columns in out.items()}


async def test_both_dialects_create_the_same_tables_and_columns(
    tmp_path: Path, pg_dsn: str
) -> None:
    # Read from real databases: pg_dsn is a fresh migrated PostgreSQL ledger.
    store = await SqliteStore(tmp_path / "fresh.sqlite3").open()
    await store.close()
    sqlite = await _sqlite_columns(tmp_path / "fresh.sqlite3")
    postgres = await _pg_columns(pg_dsn)
    assert sqlite.pop(BOOKKEEPING) and postgres.pop(BOOKKEEPING)
    assert "documents" in sqlite and "alert_mails" in sqlite and "reconcile_runs" in sqlite
    assert sorted(sqlite) == sorted(postgres)
    for table in sqlite:
        assert sqlite[table] == postgres[table], table
