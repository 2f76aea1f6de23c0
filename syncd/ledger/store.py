"""The Store protocol: the one narrow door to the stock ledger, and the values it returns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from syncd.domain import Conflict, ConflictKind, ConflictStatus, Document, Movement, Rejection
from syncd.ledger.planner import ApplyResult

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(when: datetime) -> int:
    """Microseconds since the epoch: how the ledger stores every time (both backends)."""
    return (when - EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(us))


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    name: str
    type: str
    push: bool = True  # False: the ledger never queues figures for it (pull-only)
    follows_own_sales: bool = True  # its own sales lower its figure (False: a stock file)


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str = ""
    barcode: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A figure waiting to be written to a channel."""

    channel: str
    sku: str
    wanted: int
    last_known: int | None  # what the channel is believed to show now
    enqueued_at: datetime
    revision: int


@dataclass(frozen=True, slots=True)
class Ack:
    """A pushed figure: ``shown`` is what the channel shows now (None: the SKU was skipped)."""

    sku: str
    wanted: int
    shown: int | None


@dataclass(frozen=True, slots=True)
class OutboxStats:
    channel: str
    depth: int
    oldest: datetime | None

    def lag_seconds(self, now: datetime) -> float:
        return 0.0 if self.oldest is None else max(0.0, (now - self.oldest).total_seconds())


@dataclass(frozen=True, slots=True)
class WantedLevel:
    sku: str
    wanted: int
    shown: int | None


@dataclass(frozen=True, slots=True)
class PendingLine:
    """Lines kept for an identifier no SKU mapping knows yet."""

    identifier: str
    channel: str
    documents: int
    quantity: int


@dataclass(frozen=True, slots=True)
class StoredRejection:
    id: int
    channel: str
    source: str
    row: int | None
    column: str
    value: str
    reason: str
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class ChannelFigure:
    channel: str
    shown: int | None
    source: str  # pushed | read | document
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    """What the daemon last recorded of a channel."""

    name: str
    type: str
    push: bool
    state: str
    last_pull: datetime | None
    last_push: datetime | None
    last_error: str
    updated_at: datetime | None


# -- status page (syncd/web) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HourlySales:
    """Units sold on a channel during one hour (our clock), for the status page's chart."""

    channel: str
    hour: datetime  # start of the hour, UTC
    units: int


@dataclass(frozen=True, slots=True)
class SkuMatch:
    sku: str
    name: str
    on_hand: int


@dataclass(frozen=True, slots=True)
class SkuChannel:
    """One channel's view of a SKU: what it should show, what it shows, what is queued."""

    channel: str
    buffer: int
    wanted: int
    shown: int | None
    source: str  # pushed | read | document | "" (never known)
    updated_at: datetime | None
    queued: int | None  # the figure waiting in the outbox, if any


@dataclass(frozen=True, slots=True)
class SkuDetail:
    sku: str
    name: str
    on_hand: int
    channels: tuple[SkuChannel, ...]


# -- alerts (syncd/alerts) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewAlertItem:
    """Something to mail, keyed so that it is queued once (``conflict:12:3``, ``rejection:55``)."""

    key: str
    kind: str  # a ConflictKind value, rejected_row, channel_back
    payload: Mapping[str, object]  # what the mail shows, as it was when queued
    conflict_id: int | None = None
    shortfall: int = 0


@dataclass(frozen=True, slots=True)
class AlertItem:
    id: int
    key: str
    kind: str
    conflict_id: int | None
    shortfall: int
    payload: Mapping[str, object]
    created_at: datetime
    conflict_status: str  # the conflict's status now; "" when the item is not about a conflict


@dataclass(frozen=True, slots=True)
class NewAlertMail:
    kind: str  # alert | digest
    subject: str
    body_text: str
    body_html: str
    items: int = 0
    created_at: datetime | None = None  # None: now


@dataclass(frozen=True, slots=True)
class AlertMail:
    """A mail in the alert outbox; ``sent_at`` is set once the SMTP server accepted it."""

    id: int
    kind: str
    subject: str
    body_text: str
    body_html: str
    items: int
    created_at: datetime
    attempts: int
    last_error: str
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class AlertCounts:
    pending_items: int  # queued, not in a mail yet
    unsent_mails: int
    last_sent_at: datetime | None


# -- reconciliation (syncd/reconcile, syncd/engine/reconciler.py) -----------------------------------


@dataclass(frozen=True, slots=True)
class ReconcileRun:
    """One reconciliation run; ``progress`` is channel → {"pages": n, "done": bool}."""

    id: int
    mode: str  # dry_run | fix
    channels: tuple[str, ...]
    progress: Mapping[str, Mapping[str, object]]
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoredFinding:
    """A difference a run found on a channel (kind and state are the reconciler's words)."""

    sku: str
    kind: str
    wanted: int | None
    figure: int | None
    shown: int | None
    state: str  # candidate | confirmed | fixed | moved
    detail: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class StoredFix:
    """A correction queued by a run: what the channel showed, what it was set back to."""

    sku: str
    figure: int
    wanted: int
    fixed_at: datetime


class Store(Protocol):
    """What the engine, the CLI and the status page may ask of the ledger."""

    backend: str

    async def migrate(self) -> list[int]: ...
    async def close(self) -> None: ...

    # set-up
    async def register_channels(self, channels: Sequence[ChannelInfo]) -> None: ...
    async def upsert_products(self, products: Sequence[Product]) -> list[ApplyResult]: ...
    async def set_aliases(self, aliases: Mapping[str, str]) -> list[ApplyResult]: ...
    async def set_buffer(self, quantity: int, *, channel: str = "*", sku: str = "*") -> None: ...

    # documents
    async def apply_batch(
        self,
        documents: Sequence[Document],
        *,
        channel: str = "",
        cursors: Mapping[str, str] | None = None,
        rejections: Sequence[Rejection] = (),
    ) -> list[ApplyResult]: ...
    async def apply_document(self, document: Document) -> ApplyResult: ...
    async def cursors(self, channel: str) -> dict[str, str]: ...

    # reads
    async def levels(self, skus: Sequence[str] | None = None) -> dict[str, int]: ...
    async def movements(
        self,
        *,
        sku: str | None = None,
        channel: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[Movement]: ...
    async def document_lines(self, channel: str, doc_id: str) -> dict[str, tuple[int, int]]: ...
    async def channel_figures(self, sku: str) -> list[ChannelFigure]: ...
    async def pending_lines(self) -> list[PendingLine]: ...
    async def rejections(self, limit: int = 100) -> list[StoredRejection]: ...

    # outbox
    async def take_outbox(self, channel: str, limit: int) -> list[OutboxItem]: ...
    async def ack_outbox(self, channel: str, acks: Sequence[Ack]) -> int: ...
    async def wanted_levels(self, channel: str) -> list[WantedLevel]: ...
    async def record_shown(
        self,
        channel: str,
        figures: Mapping[str, int],
        *,
        only_higher: bool = False,
        only_lower: bool = False,
    ) -> int: ...
    async def believed_figures(self, channel: str, skus: Sequence[str]) -> dict[str, int]: ...
    async def enqueue_all(self, channel: str | None = None) -> int: ...
    async def outbox_stats(self) -> dict[str, OutboxStats]: ...
    async def wait_for_outbox(self, channel: str, max_wait: float) -> None: ...

    # health
    async def record_health(
        self,
        channel: str,
        state: str,
        *,
        last_pull: datetime | None = None,
        last_push: datetime | None = None,
        last_error: str = "",
    ) -> None: ...
    async def channel_health(self) -> list[ChannelHealth]: ...

    # retention
    async def prune(self, before: datetime) -> dict[str, int]: ...

    # conflicts
    async def conflicts(
        self, *, status: ConflictStatus | None = None, limit: int = 100
    ) -> list[Conflict]: ...
    async def record_conflict(
        self, kind: ConflictKind, *, sku: str = "", channel: str = "", detail: Mapping[str, object]
    ) -> int: ...
    async def set_conflict_status(self, conflict_id: int, status: ConflictStatus) -> bool: ...

    # status page (syncd/web)
    async def oversell_exposure(self) -> dict[str, int]: ...
    async def sales_per_hour(self, since: datetime) -> list[HourlySales]: ...
    async def find_skus(self, text: str, limit: int = 20) -> list[SkuMatch]: ...
    async def sku_detail(self, sku: str) -> SkuDetail | None: ...

    # alerts (syncd/alerts)
    async def alert_candidates(self, limit: int = 200) -> list[Conflict]: ...
    async def rejections_after(self, after_id: int, limit: int = 500) -> list[StoredRejection]: ...
    async def last_rejection_id(self) -> int: ...
    async def add_alert_items(
        self, items: Sequence[NewAlertItem], *, state: Mapping[str, str] | None = None
    ) -> None: ...
    async def alert_state(self, name: str) -> str | None: ...
    async def pending_alert_items(self, limit: int = 1000) -> list[AlertItem]: ...
    async def create_alert_mail(
        self,
        mail: NewAlertMail | None,
        *,
        items: Sequence[int] = (),
        dropped: Sequence[int] = (),
        state: Mapping[str, str] | None = None,
    ) -> int | None: ...
    async def unsent_alert_mails(self, limit: int = 20) -> list[AlertMail]: ...
    async def alert_mails(self, limit: int = 20) -> list[AlertMail]: ...
    async def mark_alert_mail_sent(self, mail_id: int, sent_at: datetime) -> bool: ...
    async def mark_alert_mail_failed(self, mail_id: int, error: str) -> None: ...
    async def alert_mail_times(self, kind: str, since: datetime) -> list[datetime]: ...
    async def alert_counts(self) -> AlertCounts: ...

    # reconciliation (syncd/engine/reconciler.py)
    async def start_reconcile_run(self, mode: str, channels: Sequence[str]) -> ReconcileRun: ...
    async def resumable_reconcile_run(
        self, mode: str, channels: Sequence[str], *, idle_since: datetime
    ) -> ReconcileRun | None: ...
    async def save_reconcile_progress(
        self,
        run_id: int,
        channel: str,
        *,
        pages: int,
        done: bool,
        findings: Sequence[StoredFinding] = (),
        stats: Mapping[str, int] | None = None,
    ) -> None: ...
    async def reconcile_findings(self, run_id: int, channel: str) -> list[StoredFinding]: ...
    async def finish_reconcile_run(self, run_id: int, *, keep: int = 20) -> None: ...
    async def reconcile_fixes(self, channel: str) -> list[StoredFix]: ...
    async def update_reconcile_fixes(
        self, channel: str, *, remember: Sequence[StoredFix] = (), forget: Sequence[str] = ()
    ) -> None: ...
    async def document_ids(self, channel: str) -> list[str]: ...
