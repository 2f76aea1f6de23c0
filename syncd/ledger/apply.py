"""Applying documents: the group-commit writer and how a plan is written to the ledger.

Document versions are applied through one writer task that groups whatever is queued into one
transaction (group commit); a batch that fails is retried job by job so one bad job never sinks the
others. The domain decisions come from :mod:`syncd.ledger.planner`; this module loads what the
planner needs and writes what it decided: movements, levels, the outbox, conflicts, rejections.

On PostgreSQL a batch's rows travel as one JSON document each way (:mod:`syncd.ledger.rows`), so
that a batch costs two round trips there, one when the rows kept since the previous write hold
the batch's (:mod:`syncd.ledger.keptrows`, :meth:`DocumentApplier._apply_unlocked`); SQLite runs
its statements in process. Conflicts and rejections: :mod:`syncd.ledger.conflictrows`.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from syncd.domain import (
    Document,
    DocumentKind,
    Rejection,
    utcnow,
)
from syncd.exceptions import LedgerError
from syncd.ledger.conflictrows import ConflictWriter
from syncd.ledger.fencing import Lease, check_fences, current_leases, unfenced
from syncd.ledger.kitrows import kit_skus, load_kits
from syncd.ledger.planner import (
    ApplyResult,
    ApplyStatus,
    DocKey,
    DocState,
    LineState,
    Plan,
    PushChannel,
    Snapshot,
    plan_batch,
    refresh_outbox,
)
from syncd.ledger.rows import needs_conflicts, placed_text, read_placed
from syncd.ledger.sqlbase import Pairs, Tx, storable
from syncd.ledger.values import from_us, to_us

log = structlog.get_logger("syncd.ledger")
MAX_CONFLICT_DOCUMENTS = 20  # documents kept in one conflict's detail


@dataclass(slots=True)
class _Job:
    documents: Sequence[Document]
    channel: str
    cursors: Mapping[str, str]
    rejections: Sequence[Rejection]
    settled: bool = False  # already in the stock figures: stored, moving nothing (onboarding)
    # The leases of the job that asked (issue 20): checked in the transaction that writes it.
    fences: tuple[Lease, ...] = field(default_factory=current_leases.get)
    future: asyncio.Future[list[ApplyResult]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class DocumentApplier(ConflictWriter):
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
            with unfenced():  # the writer carries each job's leases with the job, not its own
                self._writer = asyncio.create_task(self._write_loop(), name="ledger-writer")
        self._queue.put_nowait(job)
        # The writer finishes the job even if this caller is cancelled (shutdown mid-batch): a
        # cancelled caller cancels only its job's future, which the writer then leaves alone
        # (asyncio.shield did the same with one more future and two callbacks a document).
        return await job.future

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

        fences = [lease for job in jobs for lease in job.fences]

        async def body(tx: Tx) -> Plan:
            await check_fences(tx, fences)
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
            plan = await self._apply_unlocked(documents, now, settled, cursor_list, fences)
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
        fences: Sequence[Lease] = (),
    ) -> Plan | None:
        """Apply a batch in the fewest round trips the database allows, or return None when it
        cannot (then the batch runs in :meth:`_run` with its rows locked from the start).
        ``fences``: the leases of the jobs asking, checked where the batch is written.

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
                    sku, int(wanted), int(applied), read_placed(placed)
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
                        placed_text(ln.placed),
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
