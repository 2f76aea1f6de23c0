"""The ledger over SQL: one class made of one part per concern, shared by SQLite and PostgreSQL.

Each concern is a mixin in its own module, with its own named queries per dialect
(``sql/<dialect>/<concern>.sql``): :mod:`~syncd.ledger.documents` (with the group-commit writer of
:mod:`~syncd.ledger.apply`), :mod:`~syncd.ledger.alerts`, :mod:`~syncd.ledger.reconcile` and
:mod:`~syncd.ledger.status`. All of them run on :class:`~syncd.ledger.sqlbase.SqlBase`, so they
share one set of connections, the same transactions (``_run``, ``_read``; on SQLite the writer
thread) and the same outbox wake-ups, and the databases subclass one class.

Mixins rather than per-concern objects holding a reference to a core: every caller keeps asking
``store.alert_counts()`` of the one object it was handed, which each narrow protocol describes;
a part is a plain class whose methods read as before, with no forwarding layer to keep in step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncd.ledger.alerts import AlertsSql
from syncd.ledger.documents import DocumentsSql
from syncd.ledger.kits import KitsSql
from syncd.ledger.locations import LocationsSql
from syncd.ledger.reconcile import ReconcileSql
from syncd.ledger.reports import ReportsSql
from syncd.ledger.status import StatusSql
from syncd.ledger.stockfiles import StockFilesSql
from syncd.ledger.stockin import StockInSql
from syncd.ledger.stockreads import StockReadsSql


class SqlStore(
    DocumentsSql,
    AlertsSql,
    ReconcileSql,
    StatusSql,
    StockInSql,
    ReportsSql,
    StockFilesSql,
    StockReadsSql,
    KitsSql,
    LocationsSql,
):
    """Every protocol of :class:`~syncd.ledger.store.Store`; each database supplies connections."""


if TYPE_CHECKING:
    from syncd.ledger.store import Store

    def _implements_store(store: SqlStore) -> Store:
        return store  # mypy checks that SqlStore keeps every protocol's promises
