"""The authoritative stock ledger: the Store protocols and their SQLite and PostgreSQL stores.

Names are imported on first use, so that importing a pure part (``syncd.ledger.planner``) loads
neither the SQL stores nor the configuration (which brings every connector and aiohttp).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syncd.ledger.backends import open_store
    from syncd.ledger.planner import ApplyResult, ApplyStatus
    from syncd.ledger.sqlstore import SqlStore
    from syncd.ledger.store import (
        Ack,
        AlertStore,
        ChannelInfo,
        ConflictStore,
        DocumentStore,
        OutboxItem,
        OutboxStats,
        Product,
        ReconcileLedger,
        ReconcileStore,
        StatusReads,
        Store,
        WantedLevel,
    )

_WHERE = {
    "Ack": "syncd.ledger.store",
    "AlertStore": "syncd.ledger.store",
    "ApplyResult": "syncd.ledger.planner",
    "ApplyStatus": "syncd.ledger.planner",
    "ChannelInfo": "syncd.ledger.store",
    "ConflictStore": "syncd.ledger.store",
    "DocumentStore": "syncd.ledger.store",
    "OutboxItem": "syncd.ledger.store",
    "OutboxStats": "syncd.ledger.store",
    "Product": "syncd.ledger.store",
    "ReconcileLedger": "syncd.ledger.store",
    "ReconcileStore": "syncd.ledger.store",
    "SqlStore": "syncd.ledger.sqlstore",
    "StatusReads": "syncd.ledger.store",
    "Store": "syncd.ledger.store",
    "WantedLevel": "syncd.ledger.store",
    "open_store": "syncd.ledger.backends",
}
__all__ = [
    "Ack",
    "AlertStore",
    "ApplyResult",
    "ApplyStatus",
    "ChannelInfo",
    "ConflictStore",
    "DocumentStore",
    "OutboxItem",
    "OutboxStats",
    "Product",
    "ReconcileLedger",
    "ReconcileStore",
    "SqlStore",
    "StatusReads",
    "Store",
    "WantedLevel",
    "open_store",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'syncd.ledger' has no attribute {name!r}")
    value = getattr(import_module(_WHERE[name]), name)
    globals()[name] = value  # once: later look-ups skip this function
    return value
