"""The ledger over SQL, shared by the SQLite and PostgreSQL stores.

Both stores run the same statements (each dialect's `queries.sql` names them alike) through a
small :class:`Tx` interface; the domain decisions come from :mod:`syncd.ledger.planner`. Document
versions are applied through one writer task that groups whatever is queued into one transaction
(group commit); a batch that fails is retried job by job so one bad job never sinks the others.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

import structlog

from syncd.domain import (
    Conflict,
    ConflictKind,
    ConflictStatus,
    Document,
    DocumentKind,
    DocumentRef,
    Movement,
    Reason,
    Rejection,
    available,
    utcnow,
)
from syncd.exceptions import LedgerError
from syncd.ledger.planner import (
    ApplyResult,
    ApplyStatus,
    DocKey,
    DocState,
    LineState,
    OversellEvent,
    Plan,
    PushChannel,
    Snapshot,
    buffer_for,
    oversell_documents,
    plan_batch,
    refresh_outbox,
)
from syncd.ledger.store import (
    Ack,
    AlertCounts,
    AlertItem,
    AlertMail,
    ChannelFigure,
    ChannelHealth,
    ChannelInfo,
    HourlySales,
    NewAlertItem,
    NewAlertMail,
    OutboxItem,
    OutboxStats,
    PendingLine,
    Product,
    ReconcileRun,
    SkuChannel,
    SkuDetail,
    SkuMatch,
    StoredFinding,
    StoredFix,
    StoredRejection,
    WantedLevel,
    from_us,
    to_us,
)
from syncd.logs import clean

log = structlog.get_logger("syncd.ledger")
MAX_CONFLICT_DOCUMENTS = 20  # documents kept in one conflict's detail
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Pairs:
    """A list of (channel, doc_id) keys as one query parameter: two arrays on PostgreSQL, one
    JSON array of pairs on SQLite (joining two json_each() on their index is quadratic)."""

    first: Sequence[str]
    second: Sequence[str]


class Tx(Protocol):
    """One connection inside one transaction (or a read-only connection)."""

    async def fetch(self, name: str, *args: Any) -> list[Any]: ...
    async def execute(self, name: str, *args: Any) -> None: ...
    async def executemany(self, name: str, rows: Sequence[Sequence[Any]]) -> None: ...


@dataclass(slots=True)
class _Job:
    documents: Sequence[Document]
    channel: str
    cursors: Mapping[str, str]
    rejections: Sequence[Rejection]
    future: asyncio.Future[list[ApplyResult]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


def _ref_json(ref: DocumentRef) -> dict[str, object]:
    return {
        "channel": ref.channel,
        "doc_id": ref.doc_id,
        "reference": ref.reference,
        "kind": ref.kind,
        "quantity": ref.quantity,
        "occurred_at": ref.occurred_at.isoformat(),
        "url": ref.url,
    }


def _ref_from_json(data: Mapping[str, Any]) -> DocumentRef:
    return DocumentRef(
        channel=str(data.get("channel", "")),
        doc_id=str(data.get("doc_id", "")),
        reference=str(data.get("reference", "")),
        kind=str(data.get("kind", "")),
        quantity=int(data.get("quantity", 0)),
        occurred_at=datetime.fromisoformat(str(data["occurred_at"])),
        url=str(data.get("url", "")),
    )


class SqlStore:
    """Everything of the Store protocol that is the same on both databases."""

    backend = "sql"
    max_batch_documents = 500
    writers = 1  # transactions applying documents at once

    def __init__(self, *, strict_skus: bool = True) -> None:
        # strict_skus: a line whose identifier is not a known SKU, alias or barcode is kept
        # pending (and reported) until mapped. Off: any identifier becomes a SKU on first sight.
        self.strict_skus = strict_skus
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._events: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._closing = False

    # -- what each database supplies ------------------------------------------------------------

    def _transaction(self) -> AbstractAsyncContextManager[Tx]:
        raise NotImplementedError

    async def _run(self, body: Callable[[Tx], Awaitable[T]]) -> T:
        """Run ``body`` in one write transaction: all of it commits or none of it does."""
        async with self._transaction() as tx:
            return await body(tx)

    def _read(self) -> AbstractAsyncContextManager[Tx]:
        raise NotImplementedError

    async def _notify(self, tx: Tx, channels: set[str]) -> None:
        """Tell other processes (PostgreSQL NOTIFY); the local wake-up happens after commit."""

    async def _close_connections(self) -> None:
        raise NotImplementedError

    async def migrate(self, *, target: int | None = None, fresh: bool = True) -> list[int]:
        """Bring the schema up to date; returns the migration versions applied."""
        raise NotImplementedError

    # -- lifecycle ------------------------------------------------------------------------------

    async def close(self) -> None:
        """Finish what is queued, then close."""
        self._closing = True
        if self._writer is not None:
            await self._queue.join()
            self._writer.cancel()
            try:
                await self._writer
            except asyncio.CancelledError:
                pass
            self._writer = None
        await self._close_connections()

    def _wake(self, channels: set[str]) -> None:
        for channel in channels:
            self._events[channel].set()

    def wake_all(self) -> None:
        """Wake every pusher (after a reconnect: notifications may have been missed)."""
        for event in self._events.values():
            event.set()

    async def wait_for_outbox(self, channel: str, max_wait: float) -> None:
        event = self._events[channel]
        try:
            await asyncio.wait_for(event.wait(), max_wait)
        except TimeoutError:
            pass
        event.clear()

    # -- applying documents (group commit) ------------------------------------------------------

    async def apply_document(self, document: Document) -> ApplyResult:
        return (await self.apply_batch([document]))[0]

    async def apply_batch(
        self,
        documents: Sequence[Document],
        *,
        channel: str = "",
        cursors: Mapping[str, str] | None = None,
        rejections: Sequence[Rejection] = (),
    ) -> list[ApplyResult]:
        """Apply document versions, and store the channel's cursors, in one transaction."""
        if cursors and not channel:
            raise ValueError("cursors need the channel they belong to")
        if self._closing:
            raise LedgerError("the ledger is closing; nothing was applied")
        job = _Job(list(documents), channel, dict(cursors or {}), list(rejections))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop(), name="ledger-writer")
        self._queue.put_nowait(job)
        # The writer finishes the job even if this caller is cancelled (shutdown mid-batch).
        return await asyncio.shield(job.future)

    async def _write_loop(self) -> None:
        """Group whatever is queued into one transaction; up to ``writers`` run at once."""
        free = asyncio.Semaphore(self.writers)
        running: set[asyncio.Task[None]] = set()
        while True:
            first = await self._queue.get()
            await free.acquire()  # while every writer is busy, the next batch keeps growing
            jobs = [first]
            size = len(first.documents)
            while size < self.max_batch_documents and not self._queue.empty():
                job = self._queue.get_nowait()
                jobs.append(job)
                size += len(job.documents)
            task = asyncio.create_task(self._run_jobs(jobs, free), name="ledger-commit")
            running.add(task)
            task.add_done_callback(running.discard)

    async def _run_jobs(self, jobs: list[_Job], free: asyncio.Semaphore) -> None:
        try:
            try:
                results = await self._commit_jobs(jobs)
                for job, result in zip(jobs, results, strict=True):
                    if not job.future.done():
                        job.future.set_result(result)
            except Exception as err:  # noqa: BLE001 - handed to each caller below
                if len(jobs) == 1:
                    if not jobs[0].future.done():
                        jobs[0].future.set_exception(err)
                    return
                log.warning("ledger_group_commit_failed", jobs=len(jobs), error=str(err))
                for job in jobs:
                    try:
                        result = (await self._commit_jobs([job]))[0]
                    except Exception as one_err:  # noqa: BLE001 - handed to the caller
                        if not job.future.done():
                            job.future.set_exception(one_err)
                    else:
                        if not job.future.done():
                            job.future.set_result(result)
        finally:
            free.release()
            for _ in jobs:
                self._queue.task_done()

    async def _commit_jobs(self, jobs: Sequence[_Job]) -> list[list[ApplyResult]]:
        documents = [doc for job in jobs for doc in job.documents]
        now = utcnow()

        async def body(tx: Tx) -> Plan:
            plan = await self._apply_in(tx, documents, now)
            now_us = to_us(now)
            cursor_rows = [
                (job.channel, key, value, now_us)
                for job in jobs
                for key, value in job.cursors.items()
            ]
            if cursor_rows:
                await tx.executemany("upsert_cursor", cursor_rows)
            rejections = [r for job in jobs for r in job.rejections]
            # A document the ledger refuses is quarantined like a bad row, never dropped.
            rejections += [
                Rejection(r.channel, f"document {_storable(r.doc_id)}", None, "", "", r.error)
                for r in plan.results
                if r.status is ApplyStatus.REJECTED
            ]
            if rejections:
                await self._write_rejections(tx, rejections, now_us)
            return plan

        plan = await self._run(body)
        self._wake(plan.changed_channels)
        out: list[list[ApplyResult]] = []
        position = 0
        for job in jobs:
            out.append(plan.results[position : position + len(job.documents)])
            position += len(job.documents)
        return out

    async def _apply_in(
        self,
        tx: Tx,
        documents: Sequence[Document],
        now: datetime,
        replay: frozenset[DocKey] = frozenset(),
    ) -> Plan:
        now_us = to_us(now)
        snap = await self._load_snapshot(tx, documents, now_us)
        plan = plan_batch(documents, snap, now=now, replay=replay)
        await self._write_plan(tx, plan, snap, now_us)
        if plan.changed_channels:
            await self._notify(tx, plan.changed_channels)
        return plan

    async def _resolve(self, tx: Tx, identifiers: set[str], now_us: int) -> dict[str, str]:
        if not identifiers:
            return {}
        ids = sorted(identifiers)
        resolve = {row[0]: row[0] for row in await tx.fetch("resolve_products", ids)}
        rest = [i for i in ids if i not in resolve]
        if rest:
            for alias, sku in await tx.fetch("resolve_aliases", rest):
                resolve[alias] = sku
            rest = [i for i in rest if i not in resolve]
        if rest:
            for barcode, sku in await tx.fetch("resolve_barcodes", rest):
                resolve.setdefault(barcode, sku)
            rest = [i for i in rest if i not in resolve]
        if rest and not self.strict_skus:
            await tx.executemany("insert_product_min", [(i, now_us) for i in rest])
            resolve.update({i: i for i in rest})
        return resolve

    async def _load_snapshot(self, tx: Tx, documents: Sequence[Document], now_us: int) -> Snapshot:
        # Invalid documents are refused by the planner; they never reach a query (a lone
        # surrogate in an id would fail the whole transaction on PostgreSQL).
        documents = [doc for doc in documents if not doc.validate()]
        keys = sorted({doc.key for doc in documents})
        channels_arg = [k[0] for k in keys]
        ids_arg = [k[1] for k in keys]
        docs: dict[DocKey, DocState] = {}
        lines: dict[DocKey, dict[str, LineState]] = {}
        identifiers = {line for doc in documents for line in doc.lines}
        if keys:
            for ch, doc_id, kind, version, content_hash, cancelled in await tx.fetch(
                "lock_documents", Pairs(channels_arg, ids_arg)
            ):
                docs[(ch, doc_id)] = DocState(kind, int(version), content_hash, bool(cancelled))
            for ch, doc_id, line_key, sku, wanted, applied in await tx.fetch(
                "lock_lines", Pairs(channels_arg, ids_arg)
            ):
                lines.setdefault((ch, doc_id), {})[line_key] = LineState(
                    sku, int(wanted), int(applied)
                )
                if sku is None:
                    identifiers.add(line_key)
        resolve = await self._resolve(tx, identifiers, now_us)
        skus = set(resolve.values())
        skus.update(ln.sku for doc_lines in lines.values() for ln in doc_lines.values() if ln.sku)
        return await self._load_levels(
            tx, sorted(skus), now_us, docs=docs, lines=lines, resolve=resolve
        )

    async def _load_levels(
        self,
        tx: Tx,
        skus: list[str],
        now_us: int,
        *,
        docs: dict[DocKey, DocState] | None = None,
        lines: dict[DocKey, dict[str, LineState]] | None = None,
        resolve: Mapping[str, str] | None = None,
    ) -> Snapshot:
        on_hand: dict[str, int] = {}
        shown: dict[tuple[str, str], int | None] = {}
        outbox: dict[tuple[str, str], int] = {}
        buffers: dict[tuple[str, str], int] = {}
        if skus:
            await tx.execute("ensure_levels", skus, now_us)
            on_hand = {sku: int(q) for sku, q in await tx.fetch("lock_levels", skus)}
            for ch, sku, qty in await tx.fetch("buffers_for", skus):
                buffers[(ch, sku)] = int(qty)
            for ch, sku, value in await tx.fetch("shown_for", skus):
                shown[(ch, sku)] = None if value is None else int(value)
            for ch, sku, wanted in await tx.fetch("outbox_for", skus):
                outbox[(ch, sku)] = int(wanted)
        channels = [
            PushChannel(name, type_, bool(follows))
            for name, type_, push, follows in await tx.fetch("channels")
            if push
        ]
        return Snapshot(
            docs=docs or {},
            lines=lines or {},
            on_hand=on_hand,
            resolve=resolve or {},
            channels=channels,
            buffers=buffers,
            shown=shown,
            outbox=outbox,
        )

    async def _write_plan(self, tx: Tx, plan: Plan, snap: Snapshot, now_us: int) -> None:
        if plan.documents:
            await tx.executemany(
                "upsert_document",
                [
                    (
                        d.channel,
                        d.doc_id,
                        d.kind.value,
                        d.version,
                        plan.hashes[key],
                        d.reference,
                        d.cancelled,
                        d.url,
                        to_us(d.occurred_at),
                        now_us,
                    )
                    for key, d in plan.documents.items()
                ],
            )
        if plan.lines:
            latest = {(ln.channel, ln.doc_id, ln.line_key): ln for ln in plan.lines}
            await tx.executemany(
                "upsert_line",
                [
                    (ln.channel, ln.doc_id, ln.line_key, ln.sku, ln.wanted, ln.applied)
                    for ln in latest.values()
                ],
            )
        if plan.movements:
            await tx.executemany(
                "insert_movement",
                [
                    (
                        m.sku,
                        m.delta,
                        m.reason.value,
                        m.channel,
                        m.doc_id,
                        m.doc_version,
                        to_us(m.occurred_at),
                        now_us,
                    )
                    for m in plan.movements
                ],
            )
        if plan.levels:
            await tx.executemany(
                "update_level", [(sku, qty, now_us) for sku, qty in sorted(plan.levels.items())]
            )
        if plan.shown:
            await tx.executemany(
                "upsert_shown",
                [
                    (ch, sku, value, "document", now_us)
                    for (ch, sku), value in sorted(plan.shown.items())
                ],
            )
        await self._write_outbox(tx, plan, now_us)
        if plan.oversells or any(
            plan.levels_before[sku] < 0 <= qty for sku, qty in plan.levels.items()
        ):
            await self._record_oversells(tx, plan, now_us)
        if plan.unknown:
            await self._record_unknown(tx, plan, now_us)

    async def _write_outbox(self, tx: Tx, plan: Plan, now_us: int) -> None:
        if plan.outbox_set:
            await tx.executemany(
                "upsert_outbox",
                [
                    (ch, sku, wanted, now_us)
                    for (ch, sku), wanted in sorted(plan.outbox_set.items())
                ],
            )
        if plan.outbox_delete:
            await tx.executemany("delete_outbox", sorted(plan.outbox_delete))

    async def _record_oversells(self, tx: Tx, plan: Plan, now_us: int) -> None:
        crossing = {e.sku for e in plan.oversells}
        # SKUs whose stock came back: their open oversell conflicts are resolved.
        recovered = {
            sku
            for sku, qty in plan.levels.items()
            if plan.levels_before[sku] < 0 <= qty and sku not in crossing
        }
        involved = sorted(crossing | recovered)
        open_rows = {row[1]: row for row in await tx.fetch("open_oversells", involved)}
        for sku in sorted(recovered):
            row = open_rows.get(sku)
            if row is None:
                continue
            detail = json.loads(row[4])
            detail["resolved_by"] = "stock_back"
            detail["on_hand"] = plan.levels[sku]
            await tx.execute("update_conflict", row[0], "resolved", 0, json.dumps(detail), now_us)
        if not crossing:
            return
        names = dict(await tx.fetch("product_names", sorted(crossing)))
        by_sku: dict[str, list[OversellEvent]] = defaultdict(list)
        for event in plan.oversells:
            by_sku[event.sku].append(event)
        # One write per SKU and batch, whatever the number of units: a burst of sales on an
        # empty SKU must not cost one conflict update (and a longer JSON) per unit.
        for sku, events in sorted(by_sku.items()):
            deepest = min(e.after for e in events)
            row = open_rows.get(sku)
            if row is not None:
                detail = json.loads(row[4])
                docs: list[dict[str, object]] = detail.setdefault("documents", [])
                known = {(d.get("channel"), d.get("doc_id")) for d in docs}
                for event in events:
                    ref = event.document
                    if (ref.channel, ref.doc_id) not in known and len(
                        docs
                    ) < MAX_CONFLICT_DOCUMENTS:
                        docs.append(_ref_json(ref))
                        known.add((ref.channel, ref.doc_id))
                detail["on_hand"] = events[-1].after
                shortfall = max(int(row[3]), -deepest)
                await tx.execute(
                    "update_conflict", row[0], row[2], shortfall, json.dumps(detail), now_us
                )
                continue
            first = events[0]
            earlier = [
                DocumentRef(
                    channel=ch,
                    doc_id=doc_id,
                    reference=reference,
                    kind=kind,
                    quantity=int(qty),
                    occurred_at=from_us(occurred_us),
                    url=url,
                )
                for ch, doc_id, reference, kind, qty, occurred_us, url in await tx.fetch(
                    "recent_outflows", sku, 20
                )
                if (ch, doc_id) not in {(e.document.channel, e.document.doc_id) for e in events}
            ]
            refs = oversell_documents(first, earlier)
            for event in events[1:]:
                if len(refs) >= MAX_CONFLICT_DOCUMENTS:
                    break
                refs.append(event.document)
            detail = {
                "name": names.get(sku, ""),
                "on_hand": events[-1].after,
                "documents": [_ref_json(r) for r in refs],
            }
            await tx.fetch(
                "insert_conflict",
                ConflictKind.OVERSELL.value,
                ConflictStatus.OPEN.value,
                sku,
                first.document.channel,
                -deepest,
                json.dumps(detail),
                now_us,
            )
            log.warning(
                "oversell_recorded",
                sku=sku,
                shortfall=-deepest,
                documents=[f"{r.channel}:{r.reference}" for r in refs],
            )

    async def _record_unknown(self, tx: Tx, plan: Plan, now_us: int) -> None:
        seen: dict[tuple[str, str], list[str]] = defaultdict(list)
        for channel, doc_id, identifier in plan.unknown:
            seen[(channel, identifier)].append(doc_id)
        for (channel, identifier), doc_ids in sorted(seen.items()):
            await self._upsert_conflict(
                tx,
                ConflictKind.UNKNOWN_SKU,
                sku=identifier,
                channel=channel,
                detail={"identifier": identifier, "documents": sorted(set(doc_ids))[:20]},
                now_us=now_us,
            )
        log.warning("unknown_sku_kept", identifiers=sorted({i for _, _, i in plan.unknown})[:20])

    async def _upsert_conflict(
        self,
        tx: Tx,
        kind: ConflictKind,
        *,
        sku: str,
        channel: str,
        detail: Mapping[str, object],
        now_us: int,
    ) -> int:
        rows = await tx.fetch("open_conflict_like", kind.value, sku, channel)
        if rows:
            await tx.execute("touch_conflict", rows[0][0], json.dumps(detail), now_us)
            return int(rows[0][0])
        rows = await tx.fetch(
            "insert_conflict", kind.value, "open", sku, channel, 0, json.dumps(detail), now_us
        )
        return int(rows[0][0])

    async def _write_rejections(self, tx: Tx, rejections: Sequence[Rejection], now_us: int) -> None:
        # Rejection texts come from outside (a file's header, a shop's answer) and are shown on
        # the status page and in mails: cleaned like a log line, whatever the channel.
        rejections = [
            Rejection(
                r.channel, clean(r.source), r.row, clean(r.column), clean(r.value), clean(r.reason)
            )
            for r in rejections
        ]
        await tx.executemany(
            "insert_rejection",
            [(r.channel, r.source, r.row, r.column, r.value, r.reason, now_us) for r in rejections],
        )
        for r in rejections:
            if r.row is None:  # a whole file or document could not be read
                await self._upsert_conflict(
                    tx,
                    ConflictKind.UNREADABLE,
                    sku="",
                    channel=r.channel,
                    detail={"source": r.source, "reason": r.reason},
                    now_us=now_us,
                )

    # -- set-up ---------------------------------------------------------------------------------

    async def register_channels(self, channels: Sequence[ChannelInfo]) -> None:
        """Declare the channels; a new pushed channel gets every SKU queued."""
        now_us = to_us(utcnow())

        async def body(tx: Tx) -> Plan:
            known = {row[0] for row in await tx.fetch("channels") if row[2]}
            await tx.executemany(
                "upsert_channel",
                [(c.name, c.type, c.push, now_us, c.follows_own_sales) for c in channels],
            )
            new = {c.name for c in channels if c.push and c.name not in known}
            if not new:
                return Plan()
            skus = [row[0] for row in await tx.fetch("all_skus")]
            return await self._refresh_in(tx, skus, now_us, only=new)

        self._wake((await self._run(body)).changed_channels)

    async def _refresh_in(
        self, tx: Tx, skus: list[str], now_us: int, only: set[str] | None = None
    ) -> Plan:
        snap = await self._load_levels(tx, skus, now_us)
        if only is not None:
            snap.channels = [c for c in snap.channels if c.name in only]
        plan = Plan()
        refresh_outbox(plan, snap, skus)
        await self._write_outbox(tx, plan, now_us)
        if plan.changed_channels:
            await self._notify(tx, plan.changed_channels)
        return plan

    async def _refresh(self, skus: list[str] | None, only: set[str] | None = None) -> int:
        now_us = to_us(utcnow())

        async def body(tx: Tx) -> Plan:
            chosen = [row[0] for row in await tx.fetch("all_skus")] if skus is None else skus
            return await self._refresh_in(tx, chosen, now_us, only)

        plan = await self._run(body)
        self._wake(plan.changed_channels)
        return len(plan.outbox_set)

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

    async def _replay_pending(self, identifiers: set[str]) -> list[ApplyResult]:
        if not identifiers:
            return []
        now = utcnow()

        async def body(tx: Tx) -> Plan | None:
            keys = sorted(
                (ch, doc_id)
                for ch, doc_id in await tx.fetch("pending_documents", sorted(identifiers))
            )
            if not keys:
                return None
            chans, ids = [k[0] for k in keys], [k[1] for k in keys]
            stored_lines: dict[DocKey, dict[str, int]] = defaultdict(dict)
            for ch, doc_id, line_key, _sku, wanted, _applied in await tx.fetch(
                "lock_lines", Pairs(chans, ids)
            ):
                stored_lines[(ch, doc_id)][line_key] = int(wanted)
            documents = [
                Document(
                    channel=ch,
                    doc_id=doc_id,
                    kind=DocumentKind(kind),
                    lines=stored_lines[(ch, doc_id)],
                    occurred_at=from_us(occurred_us),
                    version=int(version),
                    reference=reference,
                    cancelled=bool(cancelled),
                    url=url,
                )
                for ch, doc_id, kind, version, reference, cancelled, url, occurred_us in await tx.fetch(
                    "replay_documents", Pairs(chans, ids)
                )
            ]
            return await self._apply_in(tx, documents, now, replay=frozenset(keys))

        plan = await self._run(body)
        if plan is None:
            return []
        self._wake(plan.changed_channels)
        log.info("pending_lines_replayed", documents=len(plan.results))
        return plan.results

    async def set_buffer(self, quantity: int, *, channel: str = "*", sku: str = "*") -> None:
        """Units kept back from a channel (safety stock); '*' means every channel / SKU."""
        if quantity < 0:
            raise ValueError("a buffer cannot be negative")

        async def body(tx: Tx) -> None:
            await tx.execute("upsert_buffer", channel, sku, quantity)

        await self._run(body)
        await self._refresh(None if sku == "*" else [sku])

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
            queued = {s: int(w) for ch, s, w in await tx.fetch("outbox_for", skus) if ch == channel}
            # Rows locked in the order a document's transaction locks them (figures shown,
            # then the outbox; by SKU), so an ack and an apply never deadlock each other.
            ordered = sorted(acks, key=lambda a: a.sku)
            shown = [
                (channel, a.sku, a.shown, "pushed", now_us) for a in ordered if a.shown is not None
            ]
            if shown:
                await tx.executemany("upsert_shown", shown)
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
            if skus:
                for ch, sku, qty in await tx.fetch("buffers_for", skus):
                    buffers[(ch, sku)] = int(qty)
        return [
            WantedLevel(
                sku, available(int(on_hand), buffer_for(buffers, channel, sku)), _int(shown)
            )
            for sku, on_hand, shown in rows
        ]

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

    async def outbox_stats(self) -> dict[str, OutboxStats]:
        async with self._read() as tx:
            rows = await tx.fetch("outbox_stats")
        return {
            ch: OutboxStats(ch, int(depth), None if oldest is None else from_us(oldest))
            for ch, depth, oldest in rows
        }

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
            )
            for mid, m_sku, delta, reason, ch, doc_id, version, occ, rec in rows
        ]

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
        return [ChannelFigure(ch, _int(shown), src, from_us(us)) for ch, shown, src, us in rows]

    async def pending_lines(self) -> list[PendingLine]:
        async with self._read() as tx:
            rows = await tx.fetch("pending_lines")
        return [PendingLine(key, ch, int(n), int(q)) for key, ch, n, q in rows]

    async def rejections(self, limit: int = 100) -> list[StoredRejection]:
        async with self._read() as tx:
            rows = await tx.fetch("rejections", limit)
        return [
            StoredRejection(int(i), ch, src, _int(row), col, val, reason, from_us(us))
            for i, ch, src, row, col, val, reason, us in rows
        ]

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
        names = (
            "prune_file_cursors",
            "prune_rejections",
            "prune_conflicts",
            "prune_alert_mails",
            "prune_alert_items",
        )

        async def body(tx: Tx) -> dict[str, int]:
            return {
                name.removeprefix("prune_"): len(await tx.fetch(name, cutoff)) for name in names
            }

        removed = await self._run(body)
        if any(removed.values()):
            log.info("ledger_pruned", before=before.isoformat(), **removed)
        return removed

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

    # -- conflicts ------------------------------------------------------------------------------

    async def conflicts(
        self, *, status: ConflictStatus | None = None, limit: int = 100
    ) -> list[Conflict]:
        """Conflicts, open ones first, newest first."""
        async with self._read() as tx:
            rows = await tx.fetch("conflicts", None if status is None else status.value, limit)
        return [_conflict_from_row(row) for row in rows]

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

    # -- status page (syncd/web) ----------------------------------------------------------------

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
        on_hand = int(level[0][1]) if level else 0
        views = []
        for channel, _push in channels:
            buffer = buffer_for(buffers, channel, sku)
            shown, source, updated = figures.get(channel, (None, "", None))
            views.append(
                SkuChannel(
                    channel=channel,
                    buffer=buffer,
                    wanted=available(on_hand, buffer),
                    shown=_int(shown),
                    source=source,
                    updated_at=None if updated is None else from_us(updated),
                    queued=queued.get(channel),
                )
            )
        return SkuDetail(sku, str(names.get(sku, "")), on_hand, tuple(views))

    # -- alerts (syncd/alerts) ------------------------------------------------------------------

    async def alert_candidates(self, limit: int = 200) -> list[Conflict]:
        """Open conflicts not yet queued for a mail at their current shortfall, oldest first."""
        async with self._read() as tx:
            rows = await tx.fetch("alert_conflict_candidates", limit)
        return [_conflict_from_row(row) for row in rows]

    async def rejections_after(self, after_id: int, limit: int = 500) -> list[StoredRejection]:
        async with self._read() as tx:
            rows = await tx.fetch("alert_rejections_after", after_id, limit)
        return [
            StoredRejection(int(i), ch, src, _int(row), col, val, reason, from_us(us))
            for i, ch, src, row, col, val, reason, us in rows
        ]

    async def last_rejection_id(self) -> int:
        async with self._read() as tx:
            rows = await tx.fetch("alert_last_rejection")
        return int(rows[0][0])

    async def add_alert_items(
        self, items: Sequence[NewAlertItem], *, state: Mapping[str, str] | None = None
    ) -> None:
        """Queue items to mail (an item already queued under its key is left alone) and store
        bookkeeping values, in one transaction."""
        now_us = to_us(utcnow())

        async def body(tx: Tx) -> None:
            if items:
                await tx.executemany(
                    "insert_alert_item",
                    [
                        (i.key, i.kind, i.conflict_id, i.shortfall, json.dumps(i.payload), now_us)
                        for i in items
                    ],
                )
            for name, value in sorted((state or {}).items()):
                await tx.execute("set_alert_state", name, value)

        await self._run(body)

    async def alert_state(self, name: str) -> str | None:
        async with self._read() as tx:
            rows = await tx.fetch("get_alert_state", name)
        return str(rows[0][0]) if rows else None

    async def pending_alert_items(self, limit: int = 1000) -> list[AlertItem]:
        async with self._read() as tx:
            rows = await tx.fetch("pending_alert_items", limit)
        return [
            AlertItem(
                id=int(iid),
                key=key,
                kind=kind,
                conflict_id=_int(cid),
                shortfall=int(shortfall),
                payload=json.loads(payload),
                created_at=from_us(created),
                conflict_status=status,
            )
            for iid, key, kind, cid, shortfall, payload, created, status in rows
        ]

    async def create_alert_mail(
        self,
        mail: NewAlertMail | None,
        *,
        items: Sequence[int] = (),
        dropped: Sequence[int] = (),
        state: Mapping[str, str] | None = None,
    ) -> int | None:
        """Put a mail in the alert outbox and mark the items it carries (and those dropped, e.g.
        acknowledged before they were mailed), in one transaction. Returns the mail's id."""
        now_us = to_us(utcnow())

        async def body(tx: Tx) -> int | None:
            mail_id = None
            if mail is not None:
                rows = await tx.fetch(
                    "insert_alert_mail",
                    mail.kind,
                    mail.subject,
                    mail.body_text,
                    mail.body_html,
                    mail.items,
                    now_us if mail.created_at is None else to_us(mail.created_at),
                )
                mail_id = int(rows[0][0])
                if items:
                    await tx.execute("settle_alert_items", mail_id, "mailed", list(items))
            if dropped:
                await tx.execute("settle_alert_items", None, "dropped", list(dropped))
            for name, value in sorted((state or {}).items()):
                await tx.execute("set_alert_state", name, value)
            return mail_id

        return await self._run(body)

    async def unsent_alert_mails(self, limit: int = 20) -> list[AlertMail]:
        async with self._read() as tx:
            rows = await tx.fetch("unsent_alert_mails", limit)
        return [_alert_mail(row) for row in rows]

    async def alert_mails(self, limit: int = 20) -> list[AlertMail]:
        """The latest mails of the alert outbox, newest first."""
        async with self._read() as tx:
            rows = await tx.fetch("recent_alert_mails", limit)
        return [_alert_mail(row) for row in rows]

    async def mark_alert_mail_sent(self, mail_id: int, sent_at: datetime) -> bool:
        """The SMTP server accepted the mail; False if it was already marked sent."""

        async def body(tx: Tx) -> bool:
            return bool(await tx.fetch("alert_mail_sent", mail_id, to_us(sent_at)))

        return await self._run(body)

    async def mark_alert_mail_failed(self, mail_id: int, error: str) -> None:
        async def body(tx: Tx) -> None:
            await tx.execute("alert_mail_failed", mail_id, error)

        await self._run(body)

    async def alert_mail_times(self, kind: str, since: datetime) -> list[datetime]:
        """When the mails of this kind created since ``since`` were created, oldest first."""
        async with self._read() as tx:
            rows = await tx.fetch("alert_mails_since", kind, to_us(since))
        return [from_us(row[0]) for row in rows]

    async def alert_counts(self) -> AlertCounts:
        async with self._read() as tx:
            rows = await tx.fetch("alert_counts")
        items, mails, last_sent = rows[0]
        return AlertCounts(
            int(items), int(mails), None if last_sent is None else from_us(last_sent)
        )

    # -- reconciliation (syncd/engine/reconciler.py) ------------------------------------------

    async def start_reconcile_run(self, mode: str, channels: Sequence[str]) -> ReconcileRun:
        """A new run over ``channels`` (in order), in ``mode`` (dry_run | fix)."""
        now_us = to_us(utcnow())

        async def body(tx: Tx) -> list[Any]:
            return await tx.fetch("reconcile_run_insert", mode, json.dumps(list(channels)), now_us)

        return _reconcile_run((await self._run(body))[0])

    async def resumable_reconcile_run(
        self, mode: str, channels: Sequence[str], *, idle_since: datetime
    ) -> ReconcileRun | None:
        """The latest unfinished run of the same mode and channels that nobody advanced since
        ``idle_since`` (its process died): a new run resumes it."""
        async with self._read() as tx:
            rows = await tx.fetch(
                "reconcile_run_open", mode, json.dumps(list(channels)), to_us(idle_since)
            )
        return _reconcile_run(rows[0]) if rows else None

    async def save_reconcile_progress(
        self,
        run_id: int,
        channel: str,
        *,
        pages: int,
        done: bool,
        findings: Sequence[StoredFinding] = (),
        stats: Mapping[str, int] | None = None,
    ) -> None:
        """Store findings and the channel's progress in one transaction (a crash keeps both or
        neither, so a resumed run neither loses nor repeats a page)."""
        now_us = to_us(utcnow())

        async def body(tx: Tx) -> None:
            if findings:
                await tx.executemany(
                    "reconcile_finding_upsert",
                    [
                        (
                            run_id,
                            channel,
                            f.sku,
                            f.kind,
                            f.wanted,
                            f.figure,
                            f.shown,
                            f.state,
                            json.dumps(dict(f.detail), default=str),
                        )
                        for f in findings
                    ],
                )
            rows = await tx.fetch("reconcile_run_progress_get", run_id)
            progress = json.loads(rows[0][0]) if rows else {}
            progress[channel] = {**(stats or {}), "pages": pages, "done": done}
            await tx.execute("reconcile_run_progress_set", run_id, json.dumps(progress), now_us)

        await self._run(body)

    async def reconcile_findings(self, run_id: int, channel: str) -> list[StoredFinding]:
        async with self._read() as tx:
            rows = await tx.fetch("reconcile_findings_for", run_id, channel)
        return [
            StoredFinding(sku, kind, _int(wanted), _int(figure), _int(shown), state, json.loads(d))
            for sku, kind, wanted, figure, shown, state, d in rows
        ]

    async def finish_reconcile_run(self, run_id: int, *, keep: int = 20) -> None:
        """Mark the run finished; forget runs (and their findings) older than the last ``keep``."""
        now_us = to_us(utcnow())

        async def body(tx: Tx) -> None:
            await tx.execute("reconcile_run_finish", run_id, now_us)
            await tx.execute("reconcile_findings_prune", run_id - keep + 1)
            await tx.execute("reconcile_runs_prune", run_id - keep + 1)

        await self._run(body)

    async def reconcile_fixes(self, channel: str) -> list[StoredFix]:
        async with self._read() as tx:
            rows = await tx.fetch("reconcile_fixes_for", channel)
        return [
            StoredFix(sku, int(figure), int(wanted), from_us(us))
            for sku, figure, wanted, us in rows
        ]

    async def update_reconcile_fixes(
        self, channel: str, *, remember: Sequence[StoredFix] = (), forget: Sequence[str] = ()
    ) -> None:
        if not remember and not forget:
            return

        async def body(tx: Tx) -> None:
            if forget:
                await tx.executemany("reconcile_fix_delete", [(channel, s) for s in forget])
            if remember:
                await tx.executemany(
                    "reconcile_fix_upsert",
                    [(channel, f.sku, f.figure, f.wanted, to_us(f.fixed_at)) for f in remember],
                )

        await self._run(body)

    async def document_ids(self, channel: str) -> list[str]:
        """Every document id the ledger holds for a channel (to find orders it never applied)."""
        async with self._read() as tx:
            return [row[0] for row in await tx.fetch("document_ids", channel)]


def _conflict_from_row(row: Sequence[Any]) -> Conflict:
    cid, kind, status, sku, channel, shortfall, detail, created, updated = row
    data = json.loads(detail)
    docs = tuple(_ref_from_json(d) for d in data.get("documents", []) if isinstance(d, dict))
    return Conflict(
        id=int(cid),
        kind=ConflictKind(kind),
        status=ConflictStatus(status),
        sku=sku,
        channel=channel,
        shortfall=int(shortfall),
        detail=data,
        documents=docs,
        created_at=from_us(created),
        updated_at=from_us(updated),
    )


def _alert_mail(row: Sequence[Any]) -> AlertMail:
    mid, kind, subject, text, html, items, created, attempts, error, sent = row
    return AlertMail(
        id=int(mid),
        kind=kind,
        subject=subject,
        body_text=text,
        body_html=html,
        items=int(items),
        created_at=from_us(created),
        attempts=int(attempts),
        last_error=error,
        sent_at=None if sent is None else from_us(sent),
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _reconcile_run(row: Sequence[Any]) -> ReconcileRun:
    run_id, mode, channels, progress, started, updated, finished = row
    return ReconcileRun(
        id=int(run_id),
        mode=mode,
        channels=tuple(json.loads(channels)),
        progress=json.loads(progress),
        started_at=from_us(started),
        updated_at=from_us(updated),
        finished_at=None if finished is None else from_us(finished),
    )


def _storable(text: str) -> str:
    """Text any database stores: lone surrogates (JSON can carry them) become "?"."""
    return text.encode("utf-8", "replace").decode("utf-8")
