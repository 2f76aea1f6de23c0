"""Back-office edits: a figure changed in a shop's own stock screen, neither by an order nor by
syncd, adopted, reverted or reported by the channel's ``hand_edits`` setting (issue 16).

Telling an edit from what only looks like one is the engine's part (syncd/engine/channel.py: the
figure must differ twice, a complete pull apart, with no push in flight; the reconciler confirms
after a catch-up pull). This module decides what a confirmed difference becomes:

- ``adopt``: an adjustment "edited in <channel>: +10" (reason hand_edit), booked on the stock
  channel; the edited channel's known figure moves with it in the same transaction (it already
  shows the edit), every other channel is queued the new figure.
- ``revert``: the figure is recorded as what the channel shows, which queues syncd's own figure
  for it: the edit is written over (syncd ≤ 0.x behaviour).
- ``report``: a conflict ``hand_edit`` on the status page and in the next mail; nothing written.

A difference our own push caused looks like an edit: a sale landing between its read and its
write (a "lost update"), or a write that landed with its answer lost. Its signature is kept in the
ledger (``written_figures``): the channel shows exactly what we last wrote or tried to write. Such
a figure is written back, never adopted. A merchant who types exactly that figure is taken for our
write too (the edit is reverted, as before hand_edits existed).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import structlog

from syncd.domain import ConflictKind, Reason
from syncd.exceptions import LedgerError
from syncd.ledger.stockin import StockInStore
from syncd.stockin.booking import BookingError, book_adjustment

log = structlog.get_logger("syncd.stockin")


@dataclass(frozen=True, slots=True)
class Edit:
    """A confirmed difference: what the channel shows, and what syncd believed it shows."""

    sku: str
    figure: int
    believed: int


@dataclass(slots=True)
class EditOutcome:
    adopted: dict[str, int] = field(default_factory=dict)  # SKU → units booked
    reverted: list[str] = field(default_factory=list)
    reported: list[str] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)  # adjustment document ids


def adoption_delta(edit: Edit, on_hand: int, buffer: int) -> int:
    """Units the edit adds to on hand. The shop showed ``believed`` = on hand − buffer; when that
    was clamped at 0 (on hand at or below the buffer, or oversold), the figure typed is taken as
    what is now available: on hand becomes figure + buffer."""
    if edit.believed > 0:
        return edit.figure - edit.believed
    return edit.figure + buffer - on_hand if edit.figure > 0 else 0


async def settle_edits(
    store: StockInStore,
    channel: str,
    mode: str,
    edits: Collection[Edit],
    *,
    buffer_of: Callable[[str], int] = lambda _sku: 0,
    location: str = "",
) -> EditOutcome:
    """Adopt, revert or report confirmed differences on ``channel`` (``location``: the
    channel is a lane, told that location's figure; an edit is then booked there)."""
    out = EditOutcome()
    if not edits:
        return out
    revert: dict[str, int] = {}
    skus = sorted(e.sku for e in edits)
    # What the channel's figure is taken from: a lane shows its location's on hand only.
    levels = await store.levels_at(location, skus) if location else await store.levels(skus)
    written = await store.written_figures(channel, skus)
    # A kit has no stock of its own: a figure changed on its row (a PrestaShop pack that also
    # decrements its own quantity) is never adopted nor reported; the kit's figure is written back.
    kits = await store.kits_among(skus)
    for edit in edits:
        if edit.figure == edit.believed:
            continue
        if mode == "revert" or edit.sku in kits or edit.figure in written.get(edit.sku, ()):
            revert[edit.sku] = edit.figure
            continue
        if mode == "report":
            await store.record_conflict(
                ConflictKind.HAND_EDIT,
                sku=edit.sku,
                channel=channel,
                detail={
                    "figure": edit.figure,
                    "believed": edit.believed,
                    "delta": edit.figure - edit.believed,
                },
            )
            out.reported.append(edit.sku)
            log.warning(
                "hand_edit_reported",
                channel=channel,
                sku=edit.sku,
                figure=edit.figure,
                believed=edit.believed,
            )
            continue
        delta = adoption_delta(edit, levels.get(edit.sku, 0), buffer_of(edit.sku))
        if delta == 0:
            continue
        try:
            booking = await book_adjustment(
                store,
                edit.sku,
                delta,
                reason=Reason.HAND_EDIT.value,
                origin="channel_edit",
                edited_in=channel,
                note=f"{edit.believed} → {edit.figure}",
            )
        except BookingError as err:
            log.warning("hand_edit_not_adopted", channel=channel, sku=edit.sku, error=str(err))
            continue
        out.adopted[edit.sku] = delta
        out.documents.append(booking.doc_id)
        if edit.believed <= 0:
            revert[edit.sku] = edit.figure  # the exact figure, where the belief was clamped
        log.info(
            "hand_edit_adopted",
            channel=channel,
            sku=edit.sku,
            delta=delta,
            figure=edit.figure,
            doc_id=booking.doc_id,
        )
    if revert:
        try:
            await store.record_shown(channel, revert)
        except LedgerError as err:
            log.warning("hand_edit_not_recorded", channel=channel, error=str(err))
            return out
        out.reverted = sorted(s for s in revert if s not in out.adopted)
        if out.reverted:
            log.warning("channel_figure_corrected", channel=channel, skus=len(out.reverted))
    return out
