"""Missed events, the I/O side: pull again from a safe earlier cursor, and apply what the
connector finds the ledger never applied (:meth:`~syncd.connectors.base.Connector.missed_documents`:
orders behind the ingest cursor, till files in done/).

Pulling again is safe because documents are idempotent by (channel, doc_id) and version; the
cursors of a pull again are never stored, so the channel's own ingest position never moves back.
The decisions (how far back, what is missing) come from :mod:`syncd.reconcile.missed`.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import Any

import structlog

from syncd.connectors.base import Connector
from syncd.ledger.planner import ApplyStatus
from syncd.ledger.store import DocumentStore
from syncd.reconcile.compare import Finding
from syncd.reconcile.missed import rewind_cursors

log = structlog.get_logger("syncd.reconcile")


@dataclass
class CatchUp:
    """What a catch-up found and applied on one channel."""

    documents: int = 0  # document versions that changed the ledger
    findings: list[Finding] = field(default_factory=list)


async def catch_up(
    store: DocumentStore,
    connector: Connector[Any],
    channel: str,
    *,
    repull_seconds: float,
    gaps: bool = True,
) -> CatchUp:
    """Apply what the channel has and the ledger missed; report each missed order or file.
    ``gaps=False`` only pulls again (the connector is not asked for missed documents)."""
    cursors = await store.cursors(channel)
    out = CatchUp()
    if gaps:
        await _missed(store, connector, channel, cursors, out, repull_seconds)
    if connector.rereads and cursors:  # never pulled: the daemon's first pull reads everything
        start = rewind_cursors(cursors, repull_seconds)
        out.documents += await pull_into(store, connector, channel, start)
    return out


async def _missed(
    store: DocumentStore,
    connector: Connector[Any],
    channel: str,
    cursors: Mapping[str, str],
    out: CatchUp,
    window_seconds: float,
) -> None:
    async def known() -> Set[str]:
        return set(await store.document_ids(channel))

    missed = connector.missed_documents(known, cursors, window_seconds=window_seconds)
    try:
        async for batch in missed:
            if batch.documents or batch.cursors or batch.rejections:
                results = await store.apply_batch(
                    batch.documents,
                    channel=channel,
                    cursors=batch.cursors or None,
                    rejections=batch.rejections,
                )
                out.documents += sum(1 for r in results if r.movements or r.pending)
            out.findings.extend(batch.missed)
    finally:
        close = getattr(missed, "aclose", None)
        if close is not None:
            await close()


async def pull_into(
    store: DocumentStore,
    connector: Connector[Any],
    channel: str,
    cursors: Mapping[str, str],
    *,
    store_cursors: bool = False,
    settled: bool = False,
) -> int:
    """Pull from ``cursors`` and apply every batch; the cursors are stored only when asked
    (onboarding: the ledger's first pull), never by a catch-up from an earlier position.
    ``settled``: the versions are stored as already in the stock figures and move nothing
    (onboarding's history; see :meth:`~syncd.ledger.apply.DocumentApplier.apply_batch`).
    Returns the versions that changed the ledger (with ``settled``: that were stored)."""
    changed = 0
    pull = connector.pull(cursors)
    try:
        async for batch in pull:
            if not batch.documents and not (store_cursors and batch.cursors):
                continue
            results = await store.apply_batch(
                batch.documents,
                channel=channel,
                cursors=batch.cursors if store_cursors else None,
                rejections=batch.rejections if store_cursors else (),
                settled=settled,
            )
            if settled:
                changed += sum(1 for r in results if r.status is ApplyStatus.APPLIED)
            else:
                changed += sum(1 for r in results if r.movements or r.pending)
    finally:
        close = getattr(pull, "aclose", None)
        if close is not None:
            await close()
    if changed and not settled:
        log.info("catch_up_applied", channel=channel, documents=changed)
    return changed
