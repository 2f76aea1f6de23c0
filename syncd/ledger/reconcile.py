"""Reconciliation runs (syncd/engine/reconciler.py): progress, findings, fixes; protocol and SQL."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from syncd.domain import utcnow
from syncd.ledger.sqlbase import SqlBase, Tx, opt_int
from syncd.ledger.stockin import StockInStore
from syncd.ledger.values import from_us, to_us


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


class ReconcileStore(Protocol):
    """What a reconciliation run keeps in the ledger: the run, its findings, the fixes it made."""

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


class ReconcileLedger(StockInStore, ReconcileStore, Protocol):
    """What the reconciler asks: the ledger core (figures, outbox, catch-up), the conflicts it
    records, and its runs."""


class ReconcileSql(SqlBase):
    """:class:`ReconcileStore` over SQL (queries: ``reconcile.sql``)."""

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
            StoredFinding(
                sku, kind, opt_int(wanted), opt_int(figure), opt_int(shown), state, json.loads(d)
            )
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
