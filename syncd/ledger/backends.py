"""Opening the configured ledger: SQLite or PostgreSQL, each imported only when chosen."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Only the types: the stores are imported when a ledger is opened, so that the ledger's
    # pure parts (the planner) load no driver.
    from syncd.ledger.store import Store
    from syncd.settings import LedgerSettings


async def open_store(
    settings: LedgerSettings,
    *,
    migrate: bool = True,
    check: bool = True,
    strict_skus: bool = True,
    holder: str = "",
) -> Store:
    """Open the configured ledger (and bring its schema up to date unless ``migrate=False``).
    ``holder``: the daemon's name among the daemons (its leases' holder): PostgreSQL's sessions
    carry it, so that a standby can end a stalled holder's sessions (``PostgresStore``)."""
    if settings.backend == "postgres":
        from syncd.ledger.postgres import PostgresStore

        if settings.dsn is None:
            raise ValueError("ledger.dsn is required for the postgres backend")
        return await PostgresStore(
            settings.dsn.reveal(),
            pool_size=settings.pool_size,
            strict_skus=strict_skus,
            holder=holder,
        ).open(migrate=migrate, check=check)
    from syncd.ledger.sqlite import SqliteStore

    return await SqliteStore(settings.path, strict_skus=strict_skus).open(
        migrate=migrate, check=check
    )
