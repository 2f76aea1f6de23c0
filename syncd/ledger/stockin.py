"""Stock in (issue 16): what the ledger offers deliveries, counts, adjustments and voids.

Booking itself goes through :meth:`~syncd.ledger.apply.DocumentApplier.apply_batch` like any
document; this part reads what booking needs: the on-hand figure as it stood at a moment (a count's
basis), a stored document (to void it), and the drafts a page booking is built in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from syncd.domain import DocumentKind, utcnow
from syncd.exceptions import LedgerError
from syncd.ledger.documents import ConflictStore, DocumentStore
from syncd.ledger.sqlbase import SqlBase, Tx
from syncd.ledger.values import from_us, to_us


@dataclass(frozen=True, slots=True)
class StoredLine:
    line_key: str  # the identifier the document named (SKU, barcode, alias)
    sku: str | None  # None while no mapping knows the identifier
    wanted: int
    applied: int


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """The version of a document the ledger holds, with its lines."""

    channel: str
    doc_id: str
    kind: DocumentKind
    version: int
    reference: str
    cancelled: bool
    occurred_at: datetime
    updated_at: datetime
    meta: Mapping[str, str]
    basis: Mapping[str, int]
    lines: tuple[StoredLine, ...]


@dataclass(frozen=True, slots=True)
class Draft:
    """A booking being built on the page: a delivery being scanned, a count session.

    ``lines`` are (identifier, quantity, counted_at or None) in the order they were first scanned.
    """

    id: str
    kind: str  # goods_receipt | stock_count | adjustment
    state: str = "open"  # open | booked | discarded
    meta: Mapping[str, str] = field(default_factory=dict)
    lines: tuple[tuple[str, int, datetime | None], ...] = ()
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    doc_id: str = ""  # the document it was booked as


class StockInStore(DocumentStore, ConflictStore, Protocol):
    """What booking deliveries, counts, adjustments and voids needs of the ledger."""

    async def on_hand_at(self, skus: Sequence[str], at: datetime) -> dict[str, int]: ...
    async def stored_document(self, channel: str, doc_id: str) -> StoredDocument | None: ...
    async def documents_with_meta(self, channel: str, key: str, value: str) -> list[str]: ...
    async def resolve_identifiers(self, identifiers: Sequence[str]) -> dict[str, str]: ...
    async def save_draft(self, draft: Draft) -> None: ...
    async def draft(self, draft_id: str) -> Draft | None: ...
    async def drafts(self, *, state: str = "open", kind: str | None = None) -> list[Draft]: ...


class StockInSql(SqlBase):
    async def on_hand_at(self, skus: Sequence[str], at: datetime) -> dict[str, int]:
        """On hand of each SKU as the ledger held it at ``at``: today's figure less every
        movement recorded since. Movements are only ever appended, so the answer does not change
        when more are recorded later (a count's basis can be read before it is booked)."""
        wanted = sorted(set(skus))
        async with self._read() as tx:
            rows = await tx.fetch("on_hand_at", wanted, to_us(at))
        found = {str(sku): int(on_hand) for sku, on_hand in rows}
        return {sku: found.get(sku, 0) for sku in wanted}

    async def stored_document(self, channel: str, doc_id: str) -> StoredDocument | None:
        async with self._read() as tx:
            rows = await tx.fetch("stored_document", channel, doc_id)
            if not rows:
                return None
            lines = await tx.fetch("document_lines", channel, doc_id)
        (kind, version, reference, cancelled, occurred_us, updated_us, meta, basis) = rows[0]
        return StoredDocument(
            channel=channel,
            doc_id=doc_id,
            kind=DocumentKind(kind),
            version=int(version),
            reference=str(reference),
            cancelled=bool(cancelled),
            occurred_at=from_us(occurred_us),
            updated_at=from_us(updated_us),
            meta=json.loads(meta or "{}"),
            basis=json.loads(basis or "{}"),
            lines=tuple(
                StoredLine(str(key), sku, int(wanted), int(applied))
                for key, sku, wanted, applied in lines
            ),
        )

    async def documents_with_meta(self, channel: str, key: str, value: str) -> list[str]:
        """Ids of a channel's documents whose meta has ``key`` = ``value`` (a till file's)."""
        async with self._read() as tx:
            rows = await tx.fetch("documents_with_meta", channel, key, value)
        return [str(r[0]) for r in rows]

    async def resolve_identifiers(self, identifiers: Sequence[str]) -> dict[str, str]:
        """identifier → SKU for those a product, an alias or a barcode knows."""
        wanted = sorted(set(identifiers))
        out: dict[str, str] = {}
        async with self._read() as tx:
            for sku_row in await tx.fetch("resolve_products", wanted):
                out[sku_row[0]] = sku_row[0]
            for alias, sku in await tx.fetch("resolve_aliases", wanted):
                out.setdefault(alias, sku)
            for barcode, sku in await tx.fetch("resolve_barcodes", wanted):
                out.setdefault(barcode, sku)
        return out

    # -- drafts ---------------------------------------------------------------------------------

    async def save_draft(self, draft: Draft) -> None:
        lines = [[key, qty, None if at is None else to_us(at)] for key, qty, at in draft.lines]

        async def body(tx: Tx) -> None:
            await tx.execute(
                "upsert_draft",
                draft.id,
                draft.kind,
                draft.state,
                json.dumps(dict(draft.meta)),
                json.dumps(lines),
                to_us(draft.created_at),
                to_us(utcnow()),
                draft.doc_id,
            )

        await self._run(body)

    async def draft(self, draft_id: str) -> Draft | None:
        async with self._read() as tx:
            rows = await tx.fetch("get_draft", draft_id)
        return _draft(rows[0]) if rows else None

    async def drafts(self, *, state: str = "open", kind: str | None = None) -> list[Draft]:
        async with self._read() as tx:
            rows = await tx.fetch("list_drafts", state, kind or "")
        return [_draft(r) for r in rows]


def _draft(row: Sequence[object]) -> Draft:
    draft_id, kind, state, meta, lines, created_us, updated_us, doc_id = row
    try:
        raw = json.loads(str(lines))
    except ValueError as err:
        raise LedgerError(f"draft {draft_id}: unreadable lines: {err}") from err
    return Draft(
        id=str(draft_id),
        kind=str(kind),
        state=str(state),
        meta=json.loads(str(meta) or "{}"),
        lines=tuple(
            (str(key), int(qty), None if at is None else from_us(int(at))) for key, qty, at in raw
        ),
        created_at=from_us(int(str(created_us))),
        updated_at=from_us(int(str(updated_us))),
        doc_id=str(doc_id),
    )
