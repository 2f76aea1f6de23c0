"""Migrating from zero gives exactly the fresh schema (columns, indexes, constraints, foreign
keys); `syncd migrate` works from the CLI. tests/ledger/test_dialects.py compares the dialects."""

from __future__ import annotations

from pathlib import Path

import aiosqlite
import asyncpg
import pytest

from syncd.cli import main
from syncd.exceptions import SchemaError
from syncd.ledger.postgres import PostgresStore
from syncd.ledger.queries import migrations
from syncd.ledger.sqlite import SqliteStore


async def _pg_schema(dsn: str) -> list[tuple[object, ...]]:
    conn = await asyncpg.connect(dsn)
    try:
        columns = await conn.fetch(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name <> 'schema_migrations' ORDER BY 1, 2"
        )
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename <> 'schema_migrations' ORDER BY 1"
        )
        constraints = await conn.fetch(
            "SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid) "
            "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
            "WHERE n.nspname = 'public' AND c.conrelid::regclass::text <> 'schema_migrations' "
            "ORDER BY 1, 2"
        )
        versions = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY 1")
        # The functions and their settings (the apply functions keep generic plans).
        functions = await conn.fetch(
            "SELECT p.proname, pg_get_function_identity_arguments(p.oid), p.proconfig "
            "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public' ORDER BY 1, 2"
        )
    finally:
        await conn.close()
    return [tuple(r) for rows in (columns, indexes, constraints, versions, functions) for r in rows]


async def test_postgres_migrations_from_zero_equal_the_fresh_schema(
    pg_empty_dsn: str, pg_dsn: str
) -> None:
    # pg_dsn was created from the fresh schema; pg_empty_dsn gets every migration one by one.
    with pytest.raises(SchemaError, match="syncd migrate"):
        await PostgresStore(pg_empty_dsn).open(migrate=False, listen=False)
    stepwise = await PostgresStore(pg_empty_dsn).open(migrate=False, check=False, listen=False)
    try:
        applied = await stepwise.migrate(fresh=False)
        assert applied == [m.version for m in migrations("postgres")]
        assert await stepwise.migrate() == []
    finally:
        await stepwise.close()
    assert await _pg_schema(pg_empty_dsn) == await _pg_schema(pg_dsn)


async def _sqlite_schema(path: Path) -> list[tuple[object, ...]]:
    async with aiosqlite.connect(path) as conn:
        rows = await conn.execute_fetchall(
            "SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
            "AND name <> 'schema_migrations' ORDER BY 1, 2"
        )
        out = [tuple(r) for r in rows]
        for _, name, _ in [r for r in out if r[0] == "table"]:
            info = await conn.execute_fetchall(f"PRAGMA table_info('{name}')")
            out += [(name, *tuple(i)) for i in info]
            keys = await conn.execute_fetchall(f"PRAGMA foreign_key_list('{name}')")
            out += [(name, "foreign key", *tuple(k)) for k in keys]
            indexes = await conn.execute_fetchall(f"PRAGMA index_list('{name}')")
            for _seq, index, unique, origin, partial in indexes:
                columns = await conn.execute_fetchall(f"PRAGMA index_xinfo('{index}')")
                out.append((name, index, unique, origin, partial, *(tuple(c) for c in columns)))
        out += [
            tuple(r)
            for r in await conn.execute_fetchall(
                "SELECT version, name FROM schema_migrations ORDER BY 1"
            )
        ]
    return out


async def test_sqlite_migrations_from_zero_equal_the_fresh_schema(tmp_path: Path) -> None:
    fresh = await SqliteStore(tmp_path / "fresh.sqlite3").open()
    await fresh.close()
    with pytest.raises(SchemaError, match="syncd migrate"):
        await SqliteStore(tmp_path / "steps.sqlite3").open(migrate=False)
    stepwise = await SqliteStore(tmp_path / "steps.sqlite3").open(migrate=False, check=False)
    try:
        applied = await stepwise.migrate(fresh=False)
        assert applied == [m.version for m in migrations("sqlite")]
        assert await stepwise.migrate() == []
    finally:
        await stepwise.close()
    assert await _sqlite_schema(tmp_path / "steps.sqlite3") == await _sqlite_schema(
        tmp_path / "fresh.sqlite3"
    )


def test_cli_migrate_creates_then_finds_the_schema_up_to_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "syncd.toml"
    config.write_text(
        f'[ledger]\nbackend = "sqlite"\npath = "{tmp_path / "ledger.sqlite3"}"\n'
        f'[channels.till]\ntype = "csv_till"\ndrop_folder = "{tmp_path}"\n',
        encoding="utf-8",
    )
    assert main(["migrate", "--config", str(config)]) == 0
    assert "applied migration(s) 1, 2, 3" in capsys.readouterr().err
    assert main(["migrate", "--config", str(config)]) == 0
    assert "already up to date" in capsys.readouterr().err
