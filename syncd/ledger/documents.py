"""The ledger core, as protocols and over SQL: documents, outbox, levels, catalogue, conflicts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

import structlog

from syncd.domain import (
    Conflict,
    ConflictKind,
    ConflictStatus,
    Document,
    Movement,
    Rejection,
    utcnow,
)
from syncd.ledger.apply import DocumentApplier
from syncd.ledger.kitrows import load_kits
from syncd.ledger.planner import ApplyResult, Kit, Levels, Plan, channel_figure
from syncd.ledger.sqlbase import Tx, conflict_from_row, opt_int
from syncd.ledger.values import (
    Ack,
    ChannelFigure,
    ChannelInfo,
    OutboxItem,
    Product,
    WantedLevel,
    from_us,
    to_us,
)

log = structlog.get_logger("syncd.ledger")


class DocumentStore(Protocol):
    """What the channel loops, the catch-up and onboarding ask of the ledger (syncd/engine)."""

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
        settled: bool = False,
    ) -> list[ApplyResult]: ...
    async def apply_document(self, document: Document) -> ApplyResult: ...
    async def cursors(self, channel: str) -> dict[str, str]: ...
    async def document_ids(self, channel: str) -> list[str]: ...
    async def document_lines(self, channel: str, doc_id: str) -> dict[str, tuple[int, int]]: ...

    # levels and figures
    async def levels(self, skus: Sequence[str] | None = None) -> dict[str, int]: ...
    async def movement_totals(self) -> tuple[int, int]: ...
    async def movements(  # newest first (StatusSql); a channel's own: what to read back
        self,
        *,
        sku: str | None = None,
        channel: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[Movement]: ...
    async def channel_figures(self, sku: str) -> list[ChannelFigure]: ...

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
    async def wait_for_outbox(self, channel: str, max_wait: float) -> None: ...

    # health and retention
    async def record_health(
        self,
        channel: str,
        state: str,
        *,
        last_pull: datetime | None = None,
        last_push: datetime | None = None,
        last_error: str = "",
    ) -> None: ...
    async def prune(self, before: datetime) -> dict[str, int]: ...


class ConflictStore(Protocol):
    """The conflicts the ledger keeps: listed, recorded from outside a document, acknowledged."""

    async def conflicts(
        self, *, status: ConflictStatus | None = None, limit: int = 100
    ) -> list[Conflict]: ...
    async def record_conflict(
        self, kind: ConflictKind, *, sku: str = "", channel: str = "", detail: Mapping[str, object]
    ) -> int: ...
    async def set_conflict_status(self, conflict_id: int, status: ConflictStatus) -> bool: ...


class DocumentsSql(DocumentApplier):
    """:class:`DocumentStore` and :class:`ConflictStore` over SQL (queries: ``documents.sql``)."""

    # -- set-up ---------------------------------------------------------------------------------

    async def register_channels(self, channels: Sequence[ChannelInfo]) -> None:
        """Declare the channels; a new pushed channel gets every SKU queued."""
        now_us = to_us(utcnow())

        async def body(tx: Tx) -> Plan:
            known = {row[0] for row in await tx.fetch("channels") if row[2]}
            before = dict(await tx.fetch("channel_locations"))
            rows = [
                (c.name, c.type, c.push, now_us, c.follows_own_sales, json.dumps(c.locations))
                for c in channels
            ]
            await tx.executemany("upsert_channel", rows)
            # New pushed channels, and channels that now sell from other locations.
            new = {c.name for c in channels if c.push and c.name not in known}
            new |= {r[0] for r in rows if r[2] and r[0] in before and before[r[0]] != r[5]}
            if not new:
                return Plan()
            skus = [row[0] for row in await tx.fetch("all_skus")]
            return await self._refresh_in(tx, skus, now_us, only=new)

        self._wake((await self._run(body)).changed_channels)

    async def upsert_products(self, products: Sequence[Product]) -> list[ApplyResult]:
        """Add or update catalogue entries; lines kept pending for them are applied now."""
        now_us = to_us(utcnow())

        async def body(tx: Tx) -> None:
            await tx.executemany(
                "upsert_product", [(p.sku, p.name, p.barcode or None, now_us) for p in products]
            )

        await self._run(body)
        identifiers = {p.sku for p in products} | {p.barcode for p in products if p.barcode}
        return await self._replay_pending(identifiers)

    async def set_aliases(self, aliases: Mapping[str, str]) -> list[ApplyResult]:
        """Map other identifiers (a till code, a barcode) to SKUs; pending lines are applied."""
        if not aliases:
            return []

        async def body(tx: Tx) -> None:
            await tx.executemany("upsert_alias", sorted(aliases.items()))

        await self._run(body)
        return await self._replay_pending(set(aliases))

    async def set_buffer(self, quantity: int, *, channel: str = "*", sku: str = "*") -> None:
        """Units kept back from a channel (safety stock); '*' means every channel / SKU."""
        if quantity < 0:
            raise ValueError("a buffer cannot be negative")

        now_us = to_us(utcnow())

        async def body(tx: Tx) -> Plan:
            # Unchanged (the daemon and every command set the configured buffers as they
            # start): nothing to refresh. Refreshing every SKU held the ledger's writer for
            # 40-70 ms per channel at 2,000 SKUs, and the daemon's commits waited (issue 18,
            # bench latency with deliveries booked by `syncd receive`). One transaction with
            # the refresh, so that a crash never leaves a changed buffer unrefreshed.
            rows = await tx.fetch("buffers_for", [] if sku == "*" else [sku])
            if any(ch == channel and s == sku and int(q) == quantity for ch, s, q in rows):
                return Plan()
            await tx.execute("upsert_buffer", channel, sku, quantity)
            chosen = [r[0] for r in await tx.fetch("all_skus")] if sku == "*" else [sku]
            return await self._refresh_in(tx, chosen, now_us, None)

        self._wake((await self._run(body)).changed_channels)

    # -- outbox ---------------------------------------------------------------------------------

    async def take_outbox(self, channel: str, limit: int) -> list[OutboxItem]:
        async with self._read() as tx:
            rows = await tx.fetch("take_outbox", channel, limit)
        return [
            OutboxItem(
                channel=channel,
                sku=sku,
                wanted=int(wanted),
                last_known=None if shown is None else int(shown),
                enqueued_at=from_us(enqueued_us),
                revision=int(revision),
            )
            for sku, wanted, revision, enqueued_us, shown in rows
        ]

    async def ack_outbox(self, channel: str, acks: Sequence[Ack]) -> int:
        """Clear rows whose wanted figure is still the one pushed; remember what the channel
        shows. A row whose figure changed meanwhile stays queued."""
        if not acks:
            return 0
        now_us = to_us(utcnow())

        async def body(tx: Tx) -> Plan:
            skus = sorted({a.sku for a in acks})
            # The SKUs' levels locked first, as a document's apply locks them: an apply under
            # way is waited for, so the queued rows read next are what it left; one that comes
            # after waits for this acknowledgement and plans with the figure it records. Read
            # unlocked, a row an apply dropped meanwhile (planned with the figure from before
            # this write) was taken for still queued, and nothing was pushed (PostgreSQL;
            # tests/ledger/test_ack_race.py).
            await tx.fetch("lock_levels", skus)
            queued = {s: int(w) for ch, s, w in await tx.fetch("outbox_for", skus) if ch == channel}
            # Rows locked in the order a document's transaction locks them (levels, figures
            # shown, then the outbox; by SKU), so an ack and an apply never deadlock each other.
            ordered = sorted(acks, key=lambda a: a.sku)
            shown = [
                (channel, a.sku, a.shown, "pushed", now_us) for a in ordered if a.shown is not None
            ]
            if shown:
                await tx.executemany("upsert_shown", shown)
                # The shop shows this write now: earlier attempts are settled (stockin.py).
                await tx.executemany(
                    "written_acknowledged", [(ch, sku, figure) for ch, sku, figure, _s, _u in shown]
                )
            await tx.executemany("ack_outbox", [(channel, a.sku, a.wanted) for a in ordered])
            # Queued again: a channel that shows something else than what we asked for, and a
            # SKU whose row changed or went away while the push was in flight (a read-back
            # settled it on the figure from before our write): what it shows now is what we
            # wrote, which may no longer be what it should show.
            differing = sorted(
                {a.sku for a in acks if a.shown is not None and a.shown != a.wanted}
                | {a.sku for a in acks if queued.get(a.sku) != a.wanted}
            )
            if differing:
                return await self._refresh_in(tx, differing, now_us, only={channel})
            return Plan()

        self._wake((await self._run(body)).changed_channels)
        return len(acks)

    async def wanted_levels(self, channel: str) -> list[WantedLevel]:
        """Every SKU's figure for a channel (for channels that take a complete stock file)."""
        async with self._read() as tx:
            rows = await tx.fetch("wanted_levels", channel)
            skus = [r[0] for r in rows]
            buffers: dict[tuple[str, str], int] = {}
            kits: dict[str, Kit] = {}
            if skus:
                for ch, sku, qty in await tx.fetch("buffers_for", skus):
                    buffers[(ch, sku)] = int(qty)
                kits = await load_kits(tx, skus)
            sells_from = {
                name: tuple(json.loads(names))
                for name, names in await tx.fetch("channel_locations")
                if name == channel
            }
            at: dict[tuple[str, str], int] = {}
            if skus and sells_from.get(channel):
                at = {(loc, s): int(q) for loc, s, q in await tx.fetch("location_levels_all")}
        view = Levels(
            on_hand={sku: int(on_hand) for sku, on_hand, _shown in rows},
            buffers=buffers,
            kits=kits,
            at=at,
            sells_from=sells_from,
        )
        out = []
        for sku, _on_hand, shown in rows:
            wanted = channel_figure(view, channel, sku)
            if wanted is not None:  # None: the channel computes this kit's figure itself
                out.append(WantedLevel(sku, wanted, opt_int(shown)))
        return out

    async def record_shown(
        self,
        channel: str,
        figures: Mapping[str, int],
        *,
        only_higher: bool = False,
        only_lower: bool = False,
    ) -> int:
        """Figures read back from a channel (drift check, reconciliation); queue corrections.

        ``only_higher``: keep only figures above what the channel is believed to show. A lower
        figure may hold orders not pulled yet, which the drift-aware push must still see; a
        higher one means a write erased a sale (or a cancellation is not pulled yet). Returns
        how many figures were recorded. ``only_lower``: the opposite, for a lower figure found
        again after a complete pull (a write that erased a cancellation's restock).
        """
        if not figures:
            return 0
        now_us = to_us(utcnow())
        recorded = 0

        async def body(tx: Tx) -> Plan:
            nonlocal recorded
            chosen = dict(figures)
            if only_higher or only_lower:
                believed = {
                    sku: int(shown)
                    for ch, sku, shown in await tx.fetch("shown_for", sorted(figures))
                    if ch == channel and shown is not None
                }
                chosen = {
                    sku: q
                    for sku, q in figures.items()
                    if sku in believed
                    and ((only_higher and q > believed[sku]) or (only_lower and q < believed[sku]))
                }
            recorded = len(chosen)
            if not chosen:
                return Plan()
            # Levels first, as an apply and an acknowledgement lock them (ack_outbox).
            await tx.fetch("lock_levels", sorted(chosen))
            await tx.executemany(
                "upsert_shown",
                [(channel, sku, int(q), "read", now_us) for sku, q in sorted(chosen.items())],
            )
            return await self._refresh_in(tx, sorted(chosen), now_us, only={channel})

        self._wake((await self._run(body)).changed_channels)
        return recorded

    async def believed_figures(self, channel: str, skus: Sequence[str]) -> dict[str, int]:
        """What the ledger believes ``channel`` shows for these SKUs (where it knows)."""
        if not skus:
            return {}
        async with self._read() as tx:
            rows = await tx.fetch("shown_for", sorted(skus))
        return {sku: int(shown) for ch, sku, shown in rows if ch == channel and shown is not None}

    async def enqueue_all(self, channel: str | None = None) -> int:
        """Queue every SKU whose figure differs from what the channel is known to show."""
        return await self._refresh(None, None if channel is None else {channel})

    # -- reads ----------------------------------------------------------------------------------

    async def cursors(self, channel: str) -> dict[str, str]:
        async with self._read() as tx:
            return dict(await tx.fetch("get_cursors", channel))

    async def levels(self, skus: Sequence[str] | None = None) -> dict[str, int]:
        async with self._read() as tx:
            if skus is None:
                rows = await tx.fetch("levels_all")
            else:
                rows = await tx.fetch("levels_for", list(skus))
        return {sku: int(q) for sku, q in rows}

    async def movement_totals(self) -> tuple[int, int]:
        """(number of movements, sum of their deltas): a cheap invariant check."""
        async with self._read() as tx:
            rows = await tx.fetch("movement_totals")
        return int(rows[0][0]), int(rows[0][1])

    async def document_lines(self, channel: str, doc_id: str) -> dict[str, tuple[int, int]]:
        """line identifier → (wanted, applied) of a stored document."""
        async with self._read() as tx:
            rows = await tx.fetch("document_lines", channel, doc_id)
        return {key: (int(wanted), int(applied)) for key, _sku, wanted, applied in rows}

    async def channel_figures(self, sku: str) -> list[ChannelFigure]:
        async with self._read() as tx:
            rows = await tx.fetch("channel_levels_for", sku)
        return [ChannelFigure(ch, opt_int(shown), src, from_us(us)) for ch, shown, src, us in rows]

    async def document_ids(self, channel: str) -> list[str]:
        """Every document id the ledger holds for a channel (to find orders it never applied)."""
        async with self._read() as tx:
            return [row[0] for row in await tx.fetch("document_ids", channel)]

    # -- health ---------------------------------------------------------------------------------

    async def record_health(
        self,
        channel: str,
        state: str,
        *,
        last_pull: datetime | None = None,
        last_push: datetime | None = None,
        last_error: str = "",
    ) -> None:
        """Remember a channel's state for `syncd status` and the status page."""
        pull_us = None if last_pull is None else to_us(last_pull)
        push_us = None if last_push is None else to_us(last_push)

        async def body(tx: Tx) -> None:
            await tx.execute(
                "record_health", channel, state, pull_us, push_us, last_error, to_us(utcnow())
            )

        await self._run(body)

    # -- retention -------------------------------------------------------------------------------

    async def prune(self, before: datetime) -> dict[str, int]:
        """Forget what has served its purpose before ``before``: cursors of till files long
        applied (their receipts stay idempotent by receipt id), rejected rows, resolved
        conflicts, sent alert mails and their items. Movements and documents are the history
        and are kept. Returns the rows removed per kind."""
        cutoff = to_us(before)

        async def body(tx: Tx) -> dict[str, int]:
            # Conflicts before alert items: an item goes once its conflict is gone.
            return {
                "file_cursors": len(await tx.fetch("prune_file_cursors", cutoff)),
                "rejections": len(await tx.fetch("prune_rejections", cutoff)),
                "conflicts": len(await tx.fetch("prune_conflicts", cutoff)),
                "alert_mails": len(await tx.fetch("prune_alert_mails", cutoff)),
                "alert_items": len(await tx.fetch("prune_alert_items", cutoff)),
            }

        removed = await self._run(body)
        if any(removed.values()):
            log.info("ledger_pruned", before=before.isoformat(), **removed)
        return removed

    # -- conflicts ------------------------------------------------------------------------------

    async def conflicts(
        self, *, status: ConflictStatus | None = None, limit: int = 100
    ) -> list[Conflict]:
        """Conflicts, open ones first, newest first."""
        async with self._read() as tx:
            rows = await tx.fetch("conflicts", None if status is None else status.value, limit)
        return [conflict_from_row(row) for row in rows]

    async def record_conflict(
        self, kind: ConflictKind, *, sku: str = "", channel: str = "", detail: Mapping[str, object]
    ) -> int:
        """Record (or refresh, if one is open) a conflict found outside document application."""

        async def body(tx: Tx) -> int:
            return await self._upsert_conflict(
                tx, kind, sku=sku, channel=channel, detail=detail, now_us=to_us(utcnow())
            )

        return await self._run(body)

    async def set_conflict_status(self, conflict_id: int, status: ConflictStatus) -> bool:

        async def body(tx: Tx) -> bool:
            rows = await tx.fetch("set_conflict_status", conflict_id, status.value, to_us(utcnow()))
            return bool(rows)

        return await self._run(body)
