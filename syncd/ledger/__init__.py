"""The authoritative stock ledger: the Store protocol and its SQLite and PostgreSQL stores."""

from __future__ import annotations

from syncd.ledger.planner import ApplyResult, ApplyStatus
from syncd.ledger.sqlstore import SqlStore
from syncd.ledger.store import (
    Ack,
    ChannelInfo,
    OutboxItem,
    OutboxStats,
    Product,
    Store,
    WantedLevel,
)
from syncd.settings import LedgerSettings

__all__ = [
    "Ack",
    "ApplyResult",
    "ApplyStatus",
    "ChannelInfo",
    "OutboxItem",
    "OutboxStats",
    "Product",
    "SqlStore",
    "Store",
    "WantedLevel",
    "open_store",
]


async def open_store(
    settings: LedgerSettings, *, migrate: bool = True, check: bool = True, strict_skus: bool = True
) -> SqlStore:
    """Open the configured ledger (and bring its schema up to date unless ``migrate=False``)."""
    if settings.backend == "postgres":
        from syncd.ledger.postgres import PostgresStore

        if settings.dsn is None:
            raise ValueError("ledger.dsn is required for the postgres backend")
        return await PostgresStore(
            settings.dsn.reveal(), pool_size=settings.pool_size, strict_skus=strict_skus
        ).open(migrate=migrate, check=check)
    from syncd.ledger.sqlite import SqliteStore

    return await SqliteStore(settings.path, strict_skus=strict_skus).open(
        migrate=migrate, check=check
    )
