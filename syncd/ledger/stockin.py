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
    location: str = ""  # the location it names ('' = its channel's)
    destination: str = ""  # a transfer sent out: where to


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

    async def on_hand_at(
        self, skus: Sequence[str], at: datetime, location: str = ""
    ) -> dict[str, int]: ...
    async def levels_at(self, location: str, skus: Sequence[str]) -> dict[str, int]: ...
    async def stored_document(self, channel: str, doc_id: str) -> StoredDocument | None: ...
    async def documents_with_meta(self, channel: str, key: str, value: str) -> list[str]: ...
    async def resolve_identifiers(self, identifiers: Sequence[str]) -> dict[str, str]: ...
    async def note_attempts(self, channel: str, figures: Mapping[str, int]) -> None: ...
    async def settle_attempts(self, channel: str, figures: Mapping[str, int]) -> None: ...
    async def written_figures(
        self, channel: str, skus: Sequence[str]
    ) -> dict[str, frozenset[int]]: ...
    async def uncounted_cancellations(
        self, channel: str, skus: Sequence[str], since: datetime
    ) -> set[str]: ...
    async def kits_among(self, skus: Sequence[str]) -> set[str]: ...
    async def save_draft(self, draft: Draft) -> None: ...
    async def draft(self, draft_id: str) -> Draft | None: ...
    async def drafts(self, *, state: str = "open", kind: str | None = None) -> list[Draft]: ...


class StockInSql(SqlBase):
    async def on_hand_at(
        self, skus: Sequence[str], at: datetime, location: str = ""
    ) -> dict[str, int]:
        """On hand of each SKU as the ledger held it at ``at`` (at one location, or everywhere):
        today's figure less every movement recorded since. Movements are only ever appended, so
        the answer does not change when more are recorded later (a count's basis can be read
        before it is booked)."""
        wanted = sorted(set(skus))
        async with self._read() as tx:
            if location:
                rows = await tx.fetch("on_hand_at_location", wanted, to_us(at), location)
            else:
                rows = await tx.fetch("on_hand_at", wanted, to_us(at))
        found = {str(sku): int(on_hand) for sku, on_hand in rows}
        return {sku: found.get(sku, 0) for sku in wanted}

    async def levels_at(self, location: str, skus: Sequence[str]) -> dict[str, int]:
        """On hand of each SKU at one location now."""
        wanted = sorted(set(skus))
        async with self._read() as tx:
            rows = await tx.fetch("location_levels_for", wanted)
        found = {str(sku): int(q) for loc, sku, q in rows if loc == location}
        return {sku: found.get(sku, 0) for sku in wanted}

    async def stored_document(self, channel: str, doc_id: str) -> StoredDocument | None:
        async with self._read() as tx:
            rows = await tx.fetch("stored_document", channel, doc_id)
            if not rows:
                return None
            lines = await tx.fetch("document_lines", channel, doc_id)
        (kind, version, reference, cancelled, occurred_us, updated_us, meta, basis, *where) = rows[
            0
        ]
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
            location=str(where[0]),
            destination=str(where[1]),
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

    # -- what we wrote (back-office edits) ------------------------------------------------------

    async def note_attempts(self, channel: str, figures: Mapping[str, int]) -> None:
        """Remember, before a push, the figures it is about to write (migration 0009): kept
        with every other attempt since the channel's last acknowledged write of that SKU, each
        with the last movement recorded before it (so that the channel's own orders pulled
        after the attempt can be added to it: :meth:`written_figures`)."""
        if not figures:
            return
        now_us = to_us(utcnow())

        async def body(tx: Tx) -> None:
            after = int((await tx.fetch("last_movement"))[0][0])
            rows = await tx.fetch("written_for", channel, sorted(figures))
            known = {str(sku): _attempts(text) for sku, text in rows}
            out = []
            for sku, figure in sorted(figures.items()):
                values = known.get(sku, [])
                if all(v[0] != figure for v in values):
                    values = [*values, (int(figure), after)][-MAX_ATTEMPTS:]
                stored = [v[0] if v[1] is None else list(v) for v in values]
                out.append((channel, sku, json.dumps(stored), now_us))
            await tx.executemany("set_written", out)

        await self._run(body)

    async def settle_attempts(self, channel: str, figures: Mapping[str, int]) -> None:
        """The channel was read showing what we believe: attempts before are settled (as by an
        acknowledged write), so that they stop widening what :meth:`written_figures` calls ours.

        As by an acknowledgement, the attempt of the figure read keeps its mark: the read may
        predate an own order or cancellation the pull applied since, and our write plus that
        movement is still ours. Settled bare, a cancellation landing after the read made the
        shop show one more than we believe, which was then adopted as a back-office edit
        (reliability campaign with WooCommerce, seed 74: PrestaShop 207, belief 206)."""
        if figures:
            rows = [(channel, sku, figure) for sku, figure in sorted(figures.items())]
            await self._run(lambda tx: tx.executemany("written_acknowledged", rows))

    async def uncounted_cancellations(
        self, channel: str, skus: Sequence[str], since: datetime
    ) -> set[str]:
        """The SKUs among ``skus`` of ``channel``'s orders first seen, since ``since``, already
        cancelled: orders the ledger never counted, whose units the shop took and gave back.
        Our write may have landed between the two (written over the sale), and then the shop
        shows what we wrote plus what the cancellation gave back: ours, not an edit (campaign
        with WooCommerce, seed 116)."""
        if not skus:
            return set()
        async with self._read() as tx:
            rows = await tx.fetch(
                "uncounted_cancellations", channel, sorted(set(skus)), to_us(since)
            )
        return {str(row[0]) for row in rows}

    async def written_figures(self, channel: str, skus: Sequence[str]) -> dict[str, frozenset[int]]:
        """SKU → every figure ``channel`` may show because of our own writes.

        That is each figure we last wrote, or tried to write since (an answer lost, a kill
        mid-push), moved by any part of the channel's own orders and cancellations recorded
        after the attempt: an order the shop took after our write lowered what it shows below
        what we wrote; one it took before, but that we pulled only after, was written over.
        Seen under the reliability campaign: a push of 162 landed, its acknowledgement was lost
        to a kill, the shop then sold one (161); 161 is ours, never a back-office edit."""
        if not skus:
            return {}
        async with self._read() as tx:
            rows = await tx.fetch("written_for", channel, sorted(set(skus)))
            attempts = {str(sku): _attempts(text) for sku, text in rows}
            marks = [v[1] for values in attempts.values() for v in values if v[1] is not None]
            moved: dict[str, list[tuple[int, int]]] = {}
            if marks:
                for sku, mid, delta in await tx.fetch(
                    "own_movements_after", channel, sorted(attempts), min(marks)
                ):
                    moved.setdefault(str(sku), []).append((int(mid), int(delta)))
        out: dict[str, frozenset[int]] = {}
        for sku, values in attempts.items():
            figures: set[int] = set()
            for figure, after in values:
                deltas = [] if after is None else [d for m, d in moved.get(sku, []) if m > after]
                figures |= {figure + s for s in _partial_sums(deltas)}
            out[sku] = frozenset(figures)
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


MAX_ATTEMPTS = 50  # figures remembered per channel and SKU between acknowledged writes


def _attempts(text: object) -> list[tuple[int, int | None]]:
    """The stored attempts: a figure acknowledged (an int) or tried ([figure, last movement])."""
    try:
        values = json.loads(str(text or "[]"))
    except ValueError:
        return []
    out: list[tuple[int, int | None]] = []
    for v in values:
        if isinstance(v, int) and not isinstance(v, bool):
            out.append((v, None))
        elif isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) for x in v):
            out.append((int(v[0]), int(v[1])))
    return out


def _partial_sums(deltas: Sequence[int], limit: int = 4096) -> set[int]:
    """Every sum of a subset of ``deltas`` (0 included); bounded by their spread, not 2ⁿ."""
    sums = {0}
    for delta in deltas:
        sums |= {s + delta for s in sums}
        if len(sums) > limit:  # never in practice: thousands of orders in one unacknowledged push
            break
    return sums


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
