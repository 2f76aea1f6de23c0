"""A batch's rows as one JSON document each way (PostgreSQL's ``syncd_snapshot`` and
``syncd_write_plan``, in ``sql/postgres/schema.sql``): a plan as rows, a snapshot from rows.

One array per table both ways, so a batch costs two round trips there; a new table or column is
one more key on each side. Only rows: every rule stays in :mod:`syncd.ledger.planner`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from syncd.domain import Document
from syncd.ledger.kitrows import kits_from_rows
from syncd.ledger.planner import DocKey, DocState, LineState, Plan, PushChannel, Snapshot
from syncd.ledger.values import to_us


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
    # A batch's movements share their documents' few times: each converted once.
    times: dict[datetime, int] = {}

    def us(when: datetime) -> int:
        found = times.get(when)
        if found is None:
            found = times[when] = to_us(when)
        return found

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
                "occurred_us": us(d.occurred_at),
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
                "placed": placed_text(ln.placed),
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
                "occurred_us": us(m.occurred_at),
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
            sku, int(wanted), int(applied), read_placed(placed)
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


def placed_text(placed: dict[str, int] | None) -> str:
    """A line's units per location as stored: JSON, written by hand because it is written for
    every line (json.dumps cost ~10 µs a line, most of what locations added to a batch). Location
    names are the config's (letters, digits, - and _), "main" or "transit:<name>": nothing to
    escape."""
    if placed is None:
        return ""
    return "{" + ",".join(f'"{k}":{int(v)}' for k, v in sorted(placed.items())) + "}"


def read_placed(text: str) -> dict[str, int] | None:
    """A line's units per location as stored ('' before migration 0012: None)."""
    if not text:
        return None
    return {str(k): int(v) for k, v in json.loads(text).items()}
