"""Named SQL queries and ordered migrations, loaded from the package's `.sql` files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.M)
_MIGRATION = re.compile(r"^(\d{4})_(\w+)\.sql$")


@cache
def queries(dialect: str) -> dict[str, str]:
    """Every `-- name: x` query of `sql/<dialect>/queries.sql`."""
    text = (
        resources.files("syncd.ledger").joinpath("sql", dialect, "queries.sql").read_text("utf-8")
    )
    parts = _NAME.split(text)
    out: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        out[name] = body.strip().rstrip(";")
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
    return resources.files("syncd.ledger").joinpath("sql", dialect, "schema.sql").read_text("utf-8")
