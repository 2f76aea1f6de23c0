"""What the status page and `syncd status` read from the ledger, as a protocol and over SQL."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from syncd.domain import Movement, Reason, lane_channel
from syncd.ledger.documents import ConflictStore
from syncd.ledger.kitrows import kit_skus, load_kits
from syncd.ledger.planner import Levels, buffer_for, channel_figure
from syncd.ledger.sqlbase import SqlBase, opt_int
from syncd.ledger.values import (
    ChannelHealth,
    OutboxStats,
    PendingLine,
    StoredRejection,
    from_us,
    to_us,
)


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
    # On hand per location (issue 17; "transit:B": on its way to B), rows at zero left out.
    locations: tuple[tuple[str, int], ...] = ()


class StatusReads(ConflictStore, Protocol):
    """What the status page (syncd/web) and `syncd status` read, and the conflicts they list and
    acknowledge."""

    async def outbox_stats(self) -> dict[str, OutboxStats]: ...
    async def channel_health(self) -> list[ChannelHealth]: ...
    async def pending_lines(self) -> list[PendingLine]: ...
    async def rejections(self, limit: int = 100) -> list[StoredRejection]: ...
    async def movements(
        self,
        *,
        sku: str | None = None,
        channel: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[Movement]: ...
    async def oversell_exposure(self) -> dict[str, int]: ...
    async def sales_per_hour(self, since: datetime) -> list[HourlySales]: ...
    async def find_skus(self, text: str, limit: int = 20) -> list[SkuMatch]: ...
    async def sku_detail(self, sku: str) -> SkuDetail | None: ...


class StatusSql(SqlBase):
    """:class:`StatusReads` over SQL, but the conflicts (see DocumentsSql); ``status.sql``."""

    async def outbox_stats(self) -> dict[str, OutboxStats]:
        async with self._read() as tx:
            rows = await tx.fetch("outbox_stats")
        # A channel told each location apart queues in its lanes (syncd.domain.lane_name): their
        # rows are its own, shown and counted as the channel's.
        folded: dict[str, tuple[int, int | None]] = {}
        for ch, depth, oldest in rows:
            name = lane_channel(str(ch))
            total, first = folded.get(name, (0, None))
            if oldest is not None:
                first = int(oldest) if first is None else min(first, int(oldest))
            folded[name] = (total + int(depth), first)
        return {
            ch: OutboxStats(ch, depth, None if oldest is None else from_us(oldest))
            for ch, (depth, oldest) in folded.items()
        }

    async def movements(
        self,
        *,
        sku: str | None = None,
        channel: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[Movement]:
        """Movements, newest first."""
        async with self._read() as tx:
            rows = await tx.fetch("movements", sku, channel, after_id, limit)
        return [
            Movement(
                id=int(mid),
                sku=m_sku,
                delta=int(delta),
                reason=Reason(reason),
                channel=ch,
                doc_id=doc_id,
                doc_version=int(version),
                occurred_at=from_us(occ),
                recorded_at=from_us(rec),
                kit=kit,
                location=location,
            )
            for mid, m_sku, delta, reason, ch, doc_id, version, occ, rec, kit, location in rows
        ]

    async def pending_lines(self) -> list[PendingLine]:
        async with self._read() as tx:
            rows = await tx.fetch("pending_lines")
        return [PendingLine(key, ch, int(n), int(q)) for key, ch, n, q in rows]

    async def rejections(self, limit: int = 100) -> list[StoredRejection]:
        async with self._read() as tx:
            rows = await tx.fetch("rejections", limit)
        return [
            StoredRejection(int(i), ch, src, opt_int(row), col, val, reason, from_us(us))
            for i, ch, src, row, col, val, reason, us in rows
        ]

    async def channel_health(self) -> list[ChannelHealth]:
        async with self._read() as tx:
            rows = await tx.fetch("channel_health")
        return [
            ChannelHealth(
                name=name,
                type=type_,
                push=bool(push),
                state=state,
                last_pull=None if pull is None else from_us(pull),
                last_push=None if push_us is None else from_us(push_us),
                last_error=error,
                updated_at=None if updated is None else from_us(updated),
            )
            for name, type_, push, state, pull, push_us, error, updated in rows
        ]

    async def oversell_exposure(self) -> dict[str, int]:
        """Per channel: units it shows above what it should, not yet corrected (queued pushes)."""
        async with self._read() as tx:
            rows = await tx.fetch("oversell_exposure")
        return {ch: int(units) for ch, units in rows}

    async def sales_per_hour(self, since: datetime) -> list[HourlySales]:
        """Units sold per channel per hour (by when the ledger recorded them) since ``since``."""
        async with self._read() as tx:
            rows = await tx.fetch("sales_per_hour", to_us(since))
        return [
            HourlySales(ch, from_us(int(hour) * 3_600_000_000), int(units))
            for ch, hour, units in rows
        ]

    async def find_skus(self, text: str, limit: int = 20) -> list[SkuMatch]:
        """SKUs whose code or product name contains ``text`` (case-insensitive)."""
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        async with self._read() as tx:
            rows = await tx.fetch("find_skus", f"%{escaped}%", limit)
        return [SkuMatch(sku, name or "", int(on_hand)) for sku, name, on_hand in rows]

    async def sku_detail(self, sku: str) -> SkuDetail | None:
        """On hand, and per channel its buffer, wanted figure, shown figure and queued push."""
        async with self._read() as tx:
            level = await tx.fetch("levels_for", [sku])
            names = dict(await tx.fetch("product_names", [sku]))
            if not level and not names:
                return None
            buffers = {(ch, s): int(q) for ch, s, q in await tx.fetch("buffers_for", [sku])}
            figures = {
                ch: (shown, src, us)
                for ch, shown, src, us in await tx.fetch("channel_levels_for", sku)
            }
            queued = {ch: int(w) for ch, _s, w in await tx.fetch("outbox_for", [sku])}
            channels = [(name, bool(push)) for name, _t, push, _f in await tx.fetch("channels")]
            kits = await load_kits(tx, [sku])
            parts = sorted(kit_skus(kits) - {sku}) if sku in kits else []
            if parts:  # a kit's figure is made from its components' levels and buffers
                level += await tx.fetch("levels_for", parts)
                for ch, s, q in await tx.fetch("buffers_for", parts):
                    buffers[(ch, s)] = int(q)
            sells_from = {
                name: tuple(json.loads(names))
                for name, names in await tx.fetch("channel_locations")
                if names and names != "[]"
            }
            at = {
                (loc, s): int(q)
                for loc, s, q in await tx.fetch("location_levels_for", [sku, *parts])
            }
        view = Levels({str(s): int(q) for s, q in level}, buffers, kits, at, sells_from)
        on_hand = view.on_hand.get(sku, 0)
        views = []
        for channel, _push in channels:
            buffer = buffer_for(buffers, channel, sku)
            shown, source, updated = figures.get(channel, (None, "", None))
            views.append(
                SkuChannel(
                    channel=channel,
                    buffer=buffer,
                    wanted=channel_figure(view, channel, sku) or 0,
                    shown=opt_int(shown),
                    source=source,
                    updated_at=None if updated is None else from_us(updated),
                    queued=queued.get(channel),
                )
            )
        places = tuple(sorted((loc, q) for (loc, s), q in at.items() if q and s == sku))
        return SkuDetail(sku, str(names.get(sku, "")), on_hand, tuple(views), places)
