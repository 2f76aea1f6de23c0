"""Named SQL queries and ordered migrations, loaded from the package's `.sql` files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.M)
_MIGRATION = re.compile(r"^(\d{4})_(\w+)\.sql$")
SCHEMA_FILE = "schema.sql"


def query_files(dialect: str) -> dict[str, dict[str, str]]:
    """Per query file of `sql/<dialect>/` (one per concern: documents, alerts, …, every `.sql`
    file there but the schema), its `-- name: x` queries."""
    folder = resources.files("syncd.ledger").joinpath("sql", dialect)
    out: dict[str, dict[str, str]] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql") or entry.name == SCHEMA_FILE:
            continue
        parts = _NAME.split(entry.read_text("utf-8"))
        named: dict[str, str] = {}
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in named:
                raise RuntimeError(f"query {name} is defined twice in sql/{dialect}/{entry.name}")
            named[name] = body.strip().rstrip(";")
        out[entry.name] = named
    return out


@cache
def queries(dialect: str) -> dict[str, str]:
    """Every named query of the dialect, whichever file holds it (a name is defined once)."""
    out: dict[str, str] = {}
    where: dict[str, str] = {}
    for file, named in query_files(dialect).items():
        for name, sql in named.items():
            if name in out:
                raise RuntimeError(
                    f"query {name} is defined in both sql/{dialect}/{where[name]} and {file}"
                )
            out[name] = sql
            where[name] = file
    return out


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


@cache
def migrations(dialect: str) -> tuple[Migration, ...]:
    """The dialect's migrations, in order."""
    folder = resources.files("syncd.ledger").joinpath("sql", dialect, "migrations")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{dialect} migrations are not numbered 1..n: {versions}")
    return tuple(found)


def fresh_schema(dialect: str) -> str:
    """The current schema in one script, used to create a new ledger."""
    return resources.files("syncd.ledger").joinpath("sql", dialect, SCHEMA_FILE).read_text("utf-8")
