"""Applying documents: the group-commit writer and how a plan is written to the ledger.

Document versions are applied through one writer task that groups whatever is queued into one
transaction (group commit); a batch that fails is retried job by job so one bad job never sinks the
others. The domain decisions come from :mod:`syncd.ledger.planner`; this module loads what the
planner needs and writes what it decided: movements, levels, the outbox, conflicts, rejections.

A batch's rows travel as one JSON document with one array per table both ways on PostgreSQL
(:func:`snapshot_from_rows`, :func:`plan_rows`; the functions in ``sql/postgres/schema.sql``), so
that a batch costs two round trips there (:meth:`DocumentApplier._apply_unlocked`); a new table
or column is one more key on each side. SQLite runs its statements in process.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from syncd.domain import (
    DEFAULT_LOCATION,
    ConflictKind,
    ConflictStatus,
    Document,
    DocumentKind,
    DocumentRef,
    Rejection,
    utcnow,
)
from syncd.exceptions import LedgerError
from syncd.ledger.kitrows import kit_skus, kits_from_rows, load_kits
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
    oversell_documents,
    plan_batch,
    refresh_outbox,
)
from syncd.ledger.sqlbase import Pairs, SqlBase, Tx, ref_json, storable
from syncd.ledger.values import from_us, to_us
from syncd.logs import clean

log = structlog.get_logger("syncd.ledger")
MAX_CONFLICT_DOCUMENTS = 20  # documents kept in one conflict's detail


@dataclass(slots=True)
class _Job:
    documents: Sequence[Document]
    channel: str
    cursors: Mapping[str, str]
    rejections: Sequence[Rejection]
    settled: bool = False  # already in the stock figures: stored, moving nothing (onboarding)
    future: asyncio.Future[list[ApplyResult]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class DocumentApplier(SqlBase):
    """Applies document versions (group commit) and refreshes the outbox; the ledger's core."""

    max_batch_documents = 500
    writers = 1  # transactions applying documents at once
    single_writer = False  # the database runs one write transaction at a time (SQLite)

    def __init__(self, *, strict_skus: bool = True) -> None:
        super().__init__(strict_skus=strict_skus)
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False

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
        await super().close()

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
        settled: bool = False,
    ) -> list[ApplyResult]:
        """Apply document versions, and store the channel's cursors, in one transaction.

        ``settled``: versions already in the stock figures (the history onboarding pulls before
        its count, which the shop had applied to the figure the count reads) are stored with
        their lines in effect and move nothing; a later version applies only its difference."""
        if cursors and not channel:
            raise ValueError("cursors need the channel they belong to")
        if self._closing:
            raise LedgerError("the ledger is closing; nothing was applied")
        job = _Job(list(documents), channel, dict(cursors or {}), list(rejections), settled)
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
        settled = frozenset(doc.key for job in jobs if job.settled for doc in job.documents)
        now = utcnow()

        async def body(tx: Tx) -> Plan:
            plan = await self._apply_in(tx, documents, now, settled=settled)
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
                Rejection(r.channel, f"document {storable(r.doc_id)}", None, "", "", r.error)
                for r in plan.results
                if r.status is ApplyStatus.REJECTED
            ]
            if rejections:
                await self._write_rejections(tx, rejections, now_us)
            return plan

        plan: Plan | None = None
        if not any(job.rejections for job in jobs):
            cursor_list = [(job.channel, k, v) for job in jobs for k, v in job.cursors.items()]
            plan = await self._apply_unlocked(documents, now, settled, cursor_list)
        if plan is None:
            plan = await self._run(body)
        self._wake(plan.changed_channels)
        out: list[list[ApplyResult]] = []
        position = 0
        for job in jobs:
            out.append(plan.results[position : position + len(job.documents)])
            position += len(job.documents)
        return out

    async def _apply_unlocked(
        self,
        documents: Sequence[Document],
        now: datetime,
        settled: frozenset[DocKey],
        cursors: Sequence[tuple[str, str, str]],
    ) -> Plan | None:
        """Apply a batch in the fewest round trips the database allows, or return None when it
        cannot (then the batch runs in :meth:`_run` with its rows locked from the start).

        PostgreSQL plans from rows read without locks and writes only if they are unchanged
        (see :mod:`syncd.ledger.postgres`); SQLite's transactions cost no round trip."""
        return None

    async def _apply_in(
        self,
        tx: Tx,
        documents: Sequence[Document],
        now: datetime,
        replay: frozenset[DocKey] = frozenset(),
        settled: frozenset[DocKey] = frozenset(),
    ) -> Plan:
        now_us = to_us(now)
        snap = await self._load_snapshot(tx, documents, now_us)
        plan = plan_batch(documents, snap, now=now, replay=replay, settled=settled)
        await self._write_plan(tx, plan, snap, now_us)
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
            for row in await tx.fetch("lock_documents", Pairs(channels_arg, ids_arg)):
                ch, doc_id, kind, version, content_hash, cancelled, location, destination = row
                docs[(ch, doc_id)] = DocState(
                    kind, int(version), content_hash, bool(cancelled), location, destination
                )
            for ch, doc_id, line_key, sku, wanted, applied, placed in await tx.fetch(
                "lock_lines", Pairs(channels_arg, ids_arg)
            ):
                lines.setdefault((ch, doc_id), {})[line_key] = LineState(
                    sku, int(wanted), int(applied), _placed(placed)
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
        kits = await load_kits(tx, skus, probe=self.backend == "sqlite")
        if kits:
            skus = sorted(set(skus) | kit_skus(kits))
        if skus:
            if self.single_writer:
                # Nothing else writes meanwhile: level rows are created only when missing.
                on_hand = {sku: int(q) for sku, q in await tx.fetch("lock_levels", skus)}
                missing = [sku for sku in skus if sku not in on_hand]
                if missing:
                    await tx.execute("ensure_levels", missing, now_us)
                    on_hand.update(dict.fromkeys(missing, 0))
            else:
                await tx.execute("ensure_levels", skus, now_us)
                on_hand = {sku: int(q) for sku, q in await tx.fetch("lock_levels", skus)}
            # Buffers, figures shown and the outbox in one statement, each row tagged.
            for table, ch, sku, value in await tx.fetch("sku_context", skus):
                if table == "buffers":
                    buffers[(ch, sku)] = int(value)
                elif table == "shown":
                    shown[(ch, sku)] = None if value is None else int(value)
                else:
                    outbox[(ch, sku)] = int(value)
        channels = [
            PushChannel(name, type_, bool(follows))
            for name, type_, push, follows in await tx.fetch("channels")
            if push
        ]
        snap = Snapshot(
            docs=docs or {},
            lines=lines or {},
            on_hand=on_hand,
            resolve=resolve or {},
            channels=channels,
            buffers=buffers,
            shown=shown,
            outbox=outbox,
            kits=kits,
        )
        await self._load_locations(tx, skus, snap)
        return snap

    async def _load_locations(self, tx: Tx, skus: list[str], snap: Snapshot) -> None:
        """Load step for stock per location (issue 17): the configured locations, the ones each
        channel sells from, and the on hand per location of the SKUs (their ``levels`` rows are
        locked already, which guards these rows too)."""
        snap.locations = tuple(row[0] for row in await tx.fetch("locations"))
        snap.sells_from = {
            name: tuple(json.loads(names))
            for name, names in await tx.fetch("channel_locations")
            if names and names != "[]"
        }
        if skus:
            snap.at = {
                (location, sku): int(q)
                for location, sku, q in await tx.fetch("location_levels_for", skus)
            }

    async def _write_plan(self, tx: Tx, plan: Plan, snap: Snapshot, now_us: int) -> None:
        await self._write_rows(tx, plan, now_us)
        if needs_conflicts(plan):
            await self._write_conflicts(tx, plan, now_us)

    async def _write_conflicts(self, tx: Tx, plan: Plan, now_us: int) -> None:
        """What a plan means for conflicts: oversells recorded or resolved, unknown SKUs."""
        # Conflicts are per location: one that went below zero, or came back.
        if plan.oversells or any(plan.at_before[key] < 0 <= qty for key, qty in plan.at.items()):
            await self._record_oversells(tx, plan, now_us)
        if plan.unknown:
            await self._record_unknown(tx, plan, now_us)

    async def _write_rows(self, tx: Tx, plan: Plan, now_us: int) -> None:
        """Documents, lines, movements, levels, figures shown, the outbox; then the wake-up."""
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
                        json.dumps(dict(d.meta)) if d.meta else "{}",
                        json.dumps(dict(d.basis)) if d.basis else "{}",
                        d.location,
                        d.destination,
                    )
                    for key, d in plan.documents.items()
                ],
            )
        if plan.lines:
            latest = {(ln.channel, ln.doc_id, ln.line_key): ln for ln in plan.lines}
            await tx.executemany(
                "upsert_line",
                [
                    (
                        ln.channel,
                        ln.doc_id,
                        ln.line_key,
                        ln.sku,
                        ln.wanted,
                        ln.applied,
                        _placed_text(ln.placed),
                    )
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
                        m.kit,
                        m.location,
                    )
                    for m in plan.movements
                ],
            )
        if plan.levels:
            await tx.executemany(
                "update_level", [(sku, qty, now_us) for sku, qty in sorted(plan.levels.items())]
            )
        await self._write_locations(tx, plan, now_us)
        if plan.shown:
            await tx.executemany(
                "upsert_shown",
                [
                    (ch, sku, value, "document", now_us)
                    for (ch, sku), value in sorted(plan.shown.items())
                ],
            )
        await self._write_outbox(tx, plan, now_us)
        if plan.changed_channels:
            await self._notify(tx, plan.changed_channels)

    async def _write_locations(self, tx: Tx, plan: Plan, now_us: int) -> None:
        """Write step for stock per location: the new on hand of each changed (location, SKU)."""
        if plan.at:
            await tx.executemany(
                "upsert_location_level",
                [(loc, sku, qty, now_us) for (loc, sku), qty in sorted(plan.at.items())],
            )

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
        """One open conflict per SKU and location that went below zero; resolved when the
        location's stock comes back."""
        crossing = {(e.location, e.sku) for e in plan.oversells}
        # Locations whose stock came back: their open oversell conflicts are resolved.
        recovered = {
            key
            for key, qty in plan.at.items()
            if plan.at_before[key] < 0 <= qty and key not in crossing
        }
        involved = sorted({sku for _, sku in crossing | recovered})
        default = (await tx.fetch("locations") or [(DEFAULT_LOCATION,)])[0][0]
        # A conflict recorded before locations existed names none: it is the default one's.
        open_rows = {
            (str(json.loads(row[4]).get("location") or default), row[1]): row
            for row in await tx.fetch("open_oversells", involved)
        }
        for key in sorted(recovered):
            row = open_rows.get(key)
            if row is None:
                continue
            detail = json.loads(row[4])
            detail["resolved_by"] = "stock_back"
            detail["on_hand"] = plan.at[key]
            await tx.execute("update_conflict", row[0], "resolved", 0, json.dumps(detail), now_us)
        if not crossing:
            return
        names = dict(await tx.fetch("product_names", sorted({sku for _, sku in crossing})))
        by_key: dict[tuple[str, str], list[OversellEvent]] = defaultdict(list)
        for event in plan.oversells:
            by_key[(event.location, event.sku)].append(event)
        # One write per SKU, location and batch, whatever the number of units: a burst of sales
        # on an empty SKU must not cost one conflict update (and a longer JSON) per unit.
        for (location, sku), events in sorted(by_key.items()):
            deepest = min(e.after for e in events)
            # A component sold through a kit: the conflict names the kit and the component that
            # ran out (the conflict's SKU), each document the kit it sold.
            kit_of = {(e.document.channel, e.document.doc_id): e.kit for e in events if e.kit}
            row = open_rows.get((location, sku))
            if row is not None:
                detail = json.loads(row[4])
                docs: list[dict[str, object]] = detail.setdefault("documents", [])
                known = {(d.get("channel"), d.get("doc_id")) for d in docs}
                for event in events:
                    ref = event.document
                    if (ref.channel, ref.doc_id) not in known and len(
                        docs
                    ) < MAX_CONFLICT_DOCUMENTS:
                        docs.append(_ref_with_kit(ref, kit_of))
                        known.add((ref.channel, ref.doc_id))
                detail["on_hand"] = events[-1].after
                if kit_of:
                    detail["kits"] = sorted({*detail.get("kits", []), *kit_of.values()})
                detail["location"] = location
                shortfall = max(int(row[3]), -deepest)
                await tx.execute(
                    "update_conflict", row[0], row[2], shortfall, json.dumps(detail), now_us
                )
                continue
            first = events[0]
            batch_docs = {(e.document.channel, e.document.doc_id) for e in events}
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
                    "recent_outflows", sku, 20, location
                )
                if (ch, doc_id) not in batch_docs
            ]
            refs = oversell_documents(first, earlier)
            for event in events[1:]:
                if len(refs) >= MAX_CONFLICT_DOCUMENTS:
                    break
                refs.append(event.document)
            detail = {
                "name": names.get(sku, ""),
                "on_hand": events[-1].after,
                "location": location,
                "documents": [_ref_with_kit(r, kit_of) for r in refs],
            }
            if kit_of:
                detail["kits"] = sorted(set(kit_of.values()))
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
                kits=sorted(set(kit_of.values())),
                location=location,
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

    # -- refreshing the outbox, replaying pending lines ---------------------------------------

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
            for ch, doc_id, line_key, _sku, wanted, _applied, _placed in await tx.fetch(
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
                    location=location,
                    destination=destination,
                )
                for (
                    ch,
                    doc_id,
                    kind,
                    version,
                    reference,
                    cancelled,
                    url,
                    occurred_us,
                    location,
                    destination,
                ) in await tx.fetch("replay_documents", Pairs(chans, ids))
            ]
            return await self._apply_in(tx, documents, now, replay=frozenset(keys))

        plan = await self._run(body)
        if plan is None:
            return []
        self._wake(plan.changed_channels)
        log.info("pending_lines_replayed", documents=len(plan.results))
        return plan.results


# -- a plan as rows, a snapshot from rows (one JSON document each: see sql/postgres/schema.sql) ---


def needs_conflicts(plan: Plan) -> bool:
    """Whether writing ``plan`` records or resolves a conflict (reads and decides in Python)."""
    return bool(plan.oversells or plan.unknown) or any(
        plan.at_before[key] < 0 <= qty for key, qty in plan.at.items()
    )


def batch_keys(documents: Sequence[Document]) -> tuple[list[DocKey], list[str]]:
    """The document keys (sorted) and line identifiers of a batch's valid documents."""
    valid = [doc for doc in documents if not doc.validate()]
    keys = sorted({doc.key for doc in valid})
    identifiers = sorted({line for doc in valid for line in doc.lines})
    return keys, identifiers


def plan_rows(plan: Plan) -> dict[str, list[dict[str, object]]]:
    """The rows a plan writes, one array per table (times of recording are the writer's)."""
    latest = {(ln.channel, ln.doc_id, ln.line_key): ln for ln in plan.lines}
    return {
        "documents": [
            {
                "channel": d.channel,
                "doc_id": d.doc_id,
                "kind": d.kind.value,
                "version": d.version,
                "content_hash": plan.hashes[key],
                "reference": d.reference,
                "cancelled": d.cancelled,
                "url": d.url,
                "occurred_us": to_us(d.occurred_at),
                "meta": json.dumps(dict(d.meta)) if d.meta else "{}",
                "basis": json.dumps(dict(d.basis)) if d.basis else "{}",
                "location": d.location,
                "destination": d.destination,
            }
            for key, d in sorted(plan.documents.items())
        ],
        "lines": [
            {
                "channel": ln.channel,
                "doc_id": ln.doc_id,
                "line_key": ln.line_key,
                "sku": ln.sku,
                "wanted": ln.wanted,
                "applied": ln.applied,
                "placed": _placed_text(ln.placed),
            }
            for _, ln in sorted(latest.items())
        ],
        "movements": [
            {
                "sku": m.sku,
                "delta": m.delta,
                "reason": m.reason.value,
                "channel": m.channel,
                "doc_id": m.doc_id,
                "doc_version": m.doc_version,
                "occurred_us": to_us(m.occurred_at),
                "kit": m.kit,
                "location": m.location,
            }
            for m in plan.movements
        ],
        "levels": [{"sku": sku, "on_hand": qty} for sku, qty in sorted(plan.levels.items())],
        "at": [
            {"location": loc, "sku": sku, "on_hand": qty}
            for (loc, sku), qty in sorted(plan.at.items())
        ],
        "shown": [
            {"channel": ch, "sku": sku, "shown": value}
            for (ch, sku), value in sorted(plan.shown.items())
        ],
        "outbox_set": [
            {"channel": ch, "sku": sku, "wanted": wanted}
            for (ch, sku), wanted in sorted(plan.outbox_set.items())
        ],
        "outbox_delete": [{"channel": ch, "sku": sku} for ch, sku in sorted(plan.outbox_delete)],
    }


def snapshot_from_rows(data: Mapping[str, list[list[Any]]]) -> Snapshot:
    """A :class:`Snapshot` from its rows, one array per table (``syncd_snapshot``)."""
    lines: dict[DocKey, dict[str, LineState]] = {}
    for ch, doc_id, line_key, sku, wanted, applied, placed in data["lines"]:
        lines.setdefault((ch, doc_id), {})[line_key] = LineState(
            sku, int(wanted), int(applied), _placed(placed)
        )
    return Snapshot(
        docs={
            (ch, doc_id): DocState(
                kind, int(version), content_hash, bool(cancelled), location, destination
            )
            for ch, doc_id, kind, version, content_hash, cancelled, location, destination in data[
                "docs"
            ]
        },
        lines=lines,
        on_hand={sku: int(qty) for sku, qty in data["levels"]},
        resolve=dict(data["resolve"]),
        channels=[
            PushChannel(name, type_, bool(follows)) for name, type_, follows in data["channels"]
        ],
        buffers={(ch, sku): int(qty) for ch, sku, qty in data["buffers"]},
        shown={(ch, sku): None if v is None else int(v) for ch, sku, v in data["shown"]},
        outbox={(ch, sku): int(wanted) for ch, sku, wanted in data["outbox"]},
        kits=kits_from_rows(data["kits"]),
        at={(loc, sku): int(qty) for loc, sku, qty in data["at"]},
        sells_from={
            name: tuple(json.loads(names)) for name, names in data["sells_from"] if names != "[]"
        },
        locations=tuple(str(name) for name in data["locations"]),
    )


def _ref_with_kit(ref: DocumentRef, kit_of: Mapping[tuple[str, str], str]) -> dict[str, object]:
    data = ref_json(ref)
    kit = kit_of.get((ref.channel, ref.doc_id))
    if kit:
        data["kit"] = kit
    return data


def _placed_text(placed: dict[str, int] | None) -> str:
    """A line's units per location as stored: JSON, written by hand because it is written for
    every line (json.dumps cost ~10 µs a line, most of what locations added to a batch). Location
    names are the config's (letters, digits, - and _), "main" or "transit:<name>": nothing to
    escape."""
    if placed is None:
        return ""
    return "{" + ",".join(f'"{k}":{int(v)}' for k, v in sorted(placed.items())) + "}"


def _placed(text: str) -> dict[str, int] | None:
    """A line's units per location as stored ('' before migration 0012: None)."""
    if not text:
        return None
    return {str(k): int(v) for k, v in json.loads(text).items()}
