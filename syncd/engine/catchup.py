"""Missed events, the I/O side: pull again from a safe earlier cursor, find orders the ledger
never applied (gaps in PrestaShop order ids), and till files it never applied.

Pulling again is safe because documents are idempotent by (channel, doc_id) and version; the
cursors of a catch-up are never stored, so the channel's own ingest position never moves back.
The decisions (how far back, what is missing) come from :mod:`syncd.reconcile.missed`.
"""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from syncd.connectors.base import Connector
from syncd.ledger.store import DocumentStore
from syncd.reconcile.compare import Finding, FindingKind
from syncd.reconcile.missed import (
    TillFile,
    earliest_cursors,
    missing_files,
    missing_orders,
    newest_time,
    rewind_cursors,
)

log = structlog.get_logger("syncd.reconcile")
ORDER_PAGE = 1000
INBOX_GRACE_SECONDS = 300.0  # a file waiting longer in the inbox is reported


@dataclass
class CatchUp:
    """What a catch-up found and applied on one channel."""

    documents: int = 0  # document versions that changed the ledger
    findings: list[Finding] = field(default_factory=list)


async def catch_up(
    store: DocumentStore,
    connector: Connector,
    channel: str,
    *,
    repull_seconds: float,
    gaps: bool = True,
) -> CatchUp:
    """Apply what the channel has and the ledger missed; report each missed order or file.
    ``gaps=False`` only pulls again (no listing of every order id)."""
    cursors = await store.cursors(channel)
    out = CatchUp()
    if _is_till(connector):
        await _till_files(store, connector, channel, cursors, out, repull_seconds)
        return out
    if not cursors:
        return out  # never pulled: the daemon's first pull reads everything anyway
    start = rewind_cursors(cursors, repull_seconds)
    missing: dict[str, str] = {}
    if gaps and _is_prestashop(connector):
        missing = await _prestashop_missing(store, connector, channel, newest_time(cursors))
        if missing:
            start = earliest_cursors(start, min(missing.values()))
    out.documents = await pull_into(store, connector, channel, start)
    if missing:
        known = set(await store.document_ids(channel))
        for order_id, updated in sorted(missing.items(), key=lambda kv: (len(kv[0]), kv[0])):
            applied = order_id in known
            out.findings.append(
                Finding(
                    channel,
                    order_id,
                    FindingKind.MISSED_ORDER,
                    detail={"updated": updated, "applied": applied},
                )
            )
            log.warning(
                "missed_order", channel=channel, order=order_id, updated=updated, applied=applied
            )
    return out


async def pull_into(
    store: DocumentStore,
    connector: Connector,
    channel: str,
    cursors: Mapping[str, str],
    *,
    store_cursors: bool = False,
) -> int:
    """Pull from ``cursors`` and apply every batch; the cursors are stored only when asked
    (onboarding: the ledger's first pull), never by a catch-up from an earlier position."""
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
            )
            changed += sum(1 for r in results if r.movements or r.pending)
    finally:
        close = getattr(pull, "aclose", None)
        if close is not None:
            await close()
    if changed:
        log.info("catch_up_applied", channel=channel, documents=changed)
    return changed


# -- PrestaShop: order ids the ledger does not have ------------------------------------------------


def _is_prestashop(connector: Connector) -> bool:
    return connector.type == "prestashop" and hasattr(connector, "client")


async def _prestashop_missing(
    store: DocumentStore, connector: Connector, channel: str, cursor: str
) -> dict[str, str]:
    """Order id → date_upd of the shop's orders the ledger never applied, though updated
    before the ingest cursor (the next pull reads those updated since)."""
    client: Any = getattr(connector, "client", None)
    settings: Any = connector.settings
    orders: dict[str, str] = {}
    offset = 0
    while True:
        data = await client.get_json(
            "orders", {"display": "[id,date_upd]", "limit": f"{offset},{ORDER_PAGE}"}
        )
        rows = data.get("orders", []) if isinstance(data, dict) else []
        orders.update({str(r.get("id")): str(r.get("date_upd", "")) for r in rows})
        if len(rows) < ORDER_PAGE:
            break
        offset += ORDER_PAGE
    known = await store.document_ids(channel)
    since = str(getattr(settings, "start_from", "") or "")
    found = missing_orders(orders, known, since=since, before=cursor)
    return {m.order_id: m.updated for m in found}


# -- the till: files in the folders the ledger has no record of ---------------------------------


def _is_till(connector: Connector) -> bool:
    return connector.type == "csv_till" and hasattr(connector.settings, "done_folder")


def _list_files(settings: Any, since: float) -> list[tuple[Path, str]]:
    """(path, "folder:sha256") of the export files in the inbox, and in done/ those changed
    since ``since`` (a timestamp: done/ keeps years of exports; only recent ones can be missed
    by a ledger restored from a recent backup).

    As the ingest loop does: no folder or file is followed through a symbolic link, and a file
    that is a link, no regular file or larger than ``max_file_mb`` is never read (the ingest
    loop quarantines those in the inbox)."""
    import hashlib

    from syncd.connectors.csv_till import safefs

    limit = int(getattr(settings, "max_file_bytes", 50_000_000))
    found: list[tuple[Path, str]] = []
    for folder, label in ((settings.drop_folder, "inbox"), (settings.done_folder, "done")):
        if Path(folder).is_symlink():  # the ingest loop says so on the status page
            log.warning("catch_up_folder_refused", folder=str(folder), reason="a symbolic link")
            continue
        try:
            entries = sorted(Path(folder).iterdir())
        except OSError:
            continue
        for path in entries:
            if path.name.startswith((".", "~")):
                continue
            if not any(path.match(p) for p in settings.patterns):
                continue
            if any(path.match(p) for p in settings.journal_files):
                continue
            try:  # the ingest loop moves files from the inbox to done/ meanwhile
                info = path.lstat()
                if not stat.S_ISREG(info.st_mode):
                    continue
                if label == "done" and info.st_mtime < since:
                    continue
                data, _ = safefs.read_regular(path, limit)
                found.append((path, f"{label}:{hashlib.sha256(data).hexdigest()}"))
            except (FileNotFoundError, safefs.Refused):
                continue
    return found


async def _till_files(
    store: DocumentStore,
    connector: Connector,
    channel: str,
    cursors: Mapping[str, str],
    out: CatchUp,
    repull_seconds: float,
) -> None:
    """Files in ``done/`` the ledger never applied are applied now (their documents are
    idempotent); files still in the inbox are left to the ingest loop and only reported."""
    from syncd.connectors.csv_till import safefs
    from syncd.connectors.csv_till.connector import cleaned
    from syncd.connectors.csv_till.parser import parse_bytes

    settings: Any = connector.settings
    since = datetime.now(UTC).timestamp() - repull_seconds
    listed = await asyncio.to_thread(_list_files, settings, since)
    by_sha = {tag.split(":", 1)[1]: (path, tag.split(":", 1)[0]) for path, tag in reversed(listed)}
    files = [TillFile(path.name, folder, sha) for sha, (path, folder) in by_sha.items()]
    for missed in missing_files(files, cursors):
        path, folder = by_sha[missed.sha256]
        applied = False
        try:
            mtime = datetime.fromtimestamp(path.lstat().st_mtime, UTC)
            data = b""
            if folder == "done":
                data, _ = await asyncio.to_thread(
                    safefs.read_regular, path, int(getattr(settings, "max_file_bytes", 50_000_000))
                )
        except (FileNotFoundError, safefs.Refused):
            continue  # moved since the listing (the ingest loop took it), or swapped: not read
        age = datetime.now(UTC).timestamp() - mtime.timestamp()
        if folder == "inbox" and age < INBOX_GRACE_SECONDS:
            continue  # just dropped: the ingest loop is on it
        if folder == "done":
            result = await asyncio.to_thread(
                parse_bytes, data, path.name, settings.parse, channel=channel, fallback_time=mtime
            )
            if result.ok:
                results = await store.apply_batch(
                    result.documents,
                    channel=channel,
                    cursors={f"file:{missed.sha256}": "done"},
                    rejections=[cleaned(r) for r in result.rejections],
                )
                out.documents += sum(1 for r in results if r.movements or r.pending)
                applied = True
        out.findings.append(
            Finding(
                channel,
                missed.name,
                FindingKind.MISSED_FILE,
                detail={"file": missed.name, "folder": folder, "applied": applied},
            )
        )
        log.warning("missed_till_file", channel=channel, file=missed.name, folder=folder)
