"""The Store: every narrow protocol of the ledger in one, and every value it hands out.

Code types against the protocol it needs: :class:`DocumentStore` (the channel loops, catch-up,
onboarding), :class:`ConflictStore`, :class:`AlertStore` (syncd/alerts), :class:`ReconcileStore`
and :class:`ReconcileLedger` (the reconciler), :class:`StatusReads` (the status page and
`syncd status`), :class:`ReportReads` (reordering, the end-of-day view). :class:`Store` is their
union, for the code that wires them together (the daemon, the commands that open a ledger).
"""

from __future__ import annotations

from typing import Protocol

from syncd.ledger.alerts import (
    AlertCounts,
    AlertItem,
    AlertMail,
    AlertStore,
    NewAlertItem,
    NewAlertMail,
)
from syncd.ledger.documents import ConflictStore, DocumentStore
from syncd.ledger.kits import KitDefinition, KitStore
from syncd.ledger.locations import LocationInfo, LocationStock, LocationStore
from syncd.ledger.reconcile import (
    ReconcileLedger,
    ReconcileRun,
    ReconcileStore,
    StoredFinding,
    StoredFix,
)
from syncd.ledger.reports import (
    ChannelSales,
    DayDocument,
    DayLine,
    DayVoid,
    OutOfStock,
    ReorderPoint,
    ReportReads,
    StockRow,
)
from syncd.ledger.status import HourlySales, SkuChannel, SkuDetail, SkuMatch, StatusReads
from syncd.ledger.stockfiles import StockFileStore
from syncd.ledger.stockin import Draft, StockInStore, StoredDocument, StoredLine
from syncd.ledger.stockreads import DocumentSummary, StockReads
from syncd.ledger.values import (
    EPOCH,
    Ack,
    ChannelFigure,
    ChannelHealth,
    ChannelInfo,
    OutboxItem,
    OutboxStats,
    PendingLine,
    Product,
    StoredRejection,
    WantedLevel,
    from_us,
    to_us,
)

__all__ = [
    "EPOCH",
    "Ack",
    "AlertCounts",
    "AlertItem",
    "AlertMail",
    "AlertStore",
    "ChannelFigure",
    "ChannelHealth",
    "ChannelInfo",
    "ChannelSales",
    "ConflictStore",
    "DayDocument",
    "DayLine",
    "DayVoid",
    "DocumentStore",
    "DocumentSummary",
    "Draft",
    "HourlySales",
    "KitDefinition",
    "KitStore",
    "NewAlertItem",
    "NewAlertMail",
    "OutOfStock",
    "OutboxItem",
    "OutboxStats",
    "PendingLine",
    "Product",
    "ReconcileLedger",
    "ReconcileRun",
    "ReconcileStore",
    "ReorderPoint",
    "ReportReads",
    "SkuChannel",
    "SkuDetail",
    "SkuMatch",
    "StatusReads",
    "StockFileStore",
    "StockInStore",
    "StockRow",
    "StockReads",
    "Store",
    "LocationInfo",
    "LocationStock",
    "LocationStore",
    "StoredDocument",
    "StoredFinding",
    "StoredLine",
    "StoredFix",
    "StoredRejection",
    "WantedLevel",
    "from_us",
    "to_us",
]


class Store(
    StockFileStore,
    AlertStore,
    ReconcileStore,
    StatusReads,
    ReportReads,
    StockReads,
    KitStore,
    LocationStore,
    Protocol,
):
    """Everything the ledger offers: what the daemon wires to its channels, alerts and page."""
