"""The rows a PostgreSQL writer keeps between batches, to plan the next one without reading.

Issue 17: a closed loop of till sales spent a third of each batch on the read round trip. The
rows a batch read and wrote are, once its write is checked, the ledger's as of the snapshot that
write returned, but for that write itself. The next batch is planned from them when they hold
every row it needs: :meth:`KeptRows.assemble` builds the very rows ``syncd_snapshot`` would
return (the same arrays, in its order), so the planner gets what a read would give it.
``syncd_apply_next`` (migration 0017) writes the plan at once if no other transaction has
committed since the snapshot those rows are known as of; otherwise it reads them again under its
locks and writes only if they are what was planned from (else SY001: read and planned again).
Only rows: this module holds no rule of the ledger.

A write that found something else committed (another daemon, a command, any database of the
server: transaction ids are the server's) keeps only its own batch's rows, which it checked; the
others are read again when needed. A document not kept is taken for new, and checked so. SKUs in
kits are never kept (a kit's rows reach other SKUs): a batch near one is read.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from syncd.ledger.planner import DocKey

KEEP_SECONDS = 5.0  # rows not written for this long are forgotten
MAX_DOCUMENTS = 20_000  # past this, documents are forgotten (taken for new, checked so)
MAX_SKUS = 100_000  # past this, everything is forgotten

Row = list[Any]


@dataclass(slots=True)
class _Sku:
    level: Row  # [sku, on_hand]
    buffers: dict[str, Row] = field(default_factory=dict)  # channel → [channel, sku, units]
    shown: dict[str, Row] = field(default_factory=dict)  # channel → [channel, sku, shown]
    outbox: dict[str, Row] = field(default_factory=dict)  # channel → [channel, sku, wanted]
    at: dict[str, Row] = field(default_factory=dict)  # location → [location, sku, on_hand]


@dataclass(slots=True)
class _Doc:
    row: Row  # [channel, doc_id, kind, version, content_hash, cancelled, location, destination]
    lines: dict[str, Row]  # line_key → [channel, doc_id, line_key, sku, wanted, applied, placed]


@dataclass(slots=True)
class Assembled:
    """A batch's rows as ``syncd_snapshot`` would return them, from kept rows."""

    rows: dict[str, Any]
    absent: list[DocKey]  # documents taken for new: the write checks they are


@dataclass(slots=True)
class _Used:
    docs: list[DocKey] = field(default_factory=list)
    identifiers: list[str] = field(default_factory=list)
    skus: list[str] = field(default_factory=list)


class KeptRows:
    """Rows of the ledger as of snapshot ``since``, but for the write of transaction ``own``
    (empty: nothing kept yet)."""

    def __init__(self) -> None:
        self.since = ""
        self.own = ""
        self.made = time.monotonic()
        self.docs: dict[DocKey, _Doc] = {}
        self.resolve: dict[str, str | None] = {}  # identifier → SKU (None: read, not known)
        self.skus: dict[str, _Sku] = {}
        self.any_buffers: dict[str, Row] = {}  # channel → [channel, '*', units]
        self.channels: list[Row] = []
        self.locations: list[str] = []
        self.sells_from: list[Row] = []
        self.globals_read = False
        self._used = _Used()  # the rows the batch being written was planned from

    def fresh(self) -> bool:
        """Whether to plan from these rows (not written for a while: read again)."""
        return time.monotonic() - self.made < KEEP_SECONDS

    # -- keeping -------------------------------------------------------------------------------

    def add_read(self, data: Mapping[str, Any], identifiers: Iterable[str]) -> bool:
        """Keep a read's rows (``syncd_snapshot``'s JSON) for the batch naming ``identifiers``,
        as of the write that follows; False when they cannot be kept (kits)."""
        if data["kits"]:
            return False
        used = self._used = _Used()
        docs: dict[DocKey, _Doc] = {}
        for row in data["docs"]:
            key = (row[0], row[1])
            docs[key] = self.docs[key] = _Doc(list(row), {})
            used.docs.append(key)
        pending = []
        for row in data["lines"]:
            docs[(row[0], row[1])].lines[row[2]] = list(row)
            if row[3] is None:
                pending.append(row[2])
        resolved = dict(data["resolve"])
        for identifier in (*identifiers, *pending):
            self.resolve[identifier] = resolved.get(identifier)
            used.identifiers.append(identifier)
        for sku, qty in data["levels"]:
            self.skus[sku] = _Sku([sku, qty])
            used.skus.append(sku)
        for row in data["buffers"]:
            if row[1] == "*":
                self.any_buffers[row[0]] = list(row)
            else:
                self.skus[row[1]].buffers[row[0]] = list(row)
        for row in data["shown"]:
            self.skus[row[1]].shown[row[0]] = list(row)
        for row in data["outbox"]:
            self.skus[row[1]].outbox[row[0]] = list(row)
        for row in data["at"]:
            self.skus[row[1]].at[row[0]] = list(row)
        self.channels = [list(r) for r in data["channels"]]
        self.locations = list(data["locations"])
        self.sells_from = [list(r) for r in data["sells_from"]]
        self.globals_read = True
        return True

    def wrote(self, rows: Mapping[str, Any], since: str, own: str, *, clean: bool) -> bool:
        """Keep what a plan wrote (``plan_rows``) in transaction ``own``, checked against
        snapshot ``since``; when something else had committed since the rows were known (not
        ``clean``), only the rows of this batch, which the write read again, stay. False when
        too many are kept to go on."""
        if not clean:
            used = self._used
            self.docs = {key: self.docs[key] for key in used.docs}
            self.resolve = {i: self.resolve[i] for i in used.identifiers}
            self.skus = {sku: self.skus[sku] for sku in used.skus}
        self._used = _Used()
        self.since, self.own = since, own
        for d in rows["documents"]:
            key = (d["channel"], d["doc_id"])
            row = [
                d["channel"],
                d["doc_id"],
                d["kind"],
                d["version"],
                d["content_hash"],
                d["cancelled"],
                d["location"],
                d["destination"],
            ]
            doc = self.docs.get(key)
            if doc is None:
                self.docs[key] = _Doc(row, {})
            else:
                doc.row = row
        for ln in rows["lines"]:
            doc = self.docs[(ln["channel"], ln["doc_id"])]
            doc.lines[ln["line_key"]] = [
                ln["channel"],
                ln["doc_id"],
                ln["line_key"],
                ln["sku"],
                ln["wanted"],
                ln["applied"],
                ln["placed"],
            ]
        for r in rows["levels"]:
            self.skus[r["sku"]].level[1] = r["on_hand"]
        for r in rows["at"]:
            self.skus[r["sku"]].at[r["location"]] = [r["location"], r["sku"], r["on_hand"]]
        for r in rows["shown"]:
            self.skus[r["sku"]].shown[r["channel"]] = [r["channel"], r["sku"], r["shown"]]
        for r in rows["outbox_set"]:
            self.skus[r["sku"]].outbox[r["channel"]] = [r["channel"], r["sku"], r["wanted"]]
        for r in rows["outbox_delete"]:
            self.skus[r["sku"]].outbox.pop(r["channel"], None)
        self.made = time.monotonic()
        if len(self.docs) > MAX_DOCUMENTS:
            self.docs.clear()
        return len(self.skus) <= MAX_SKUS

    # -- planning from them ----------------------------------------------------------------------

    def assemble(self, keys: Sequence[DocKey], identifiers: Sequence[str]) -> Assembled | None:
        """The rows ``syncd_snapshot`` would return for a batch of documents ``keys`` (sorted)
        naming ``identifiers``, from kept rows; None when one it needs is not kept."""
        if not self.globals_read:
            return None
        used = _Used()
        doc_rows: list[Row] = []
        line_rows: list[Row] = []
        absent: list[DocKey] = []
        wanted = set(identifiers)
        skus: set[str] = set()
        for key in keys:
            doc = self.docs.get(key)
            if doc is None:
                absent.append(key)
                continue
            used.docs.append(key)
            doc_rows.append(doc.row)
            for line_key in sorted(doc.lines):
                line = doc.lines[line_key]
                line_rows.append(line)
                if line[3] is None:
                    wanted.add(line_key)
                else:
                    skus.add(line[3])
        resolve: list[Row] = []
        for identifier in sorted(wanted):
            if identifier not in self.resolve:
                return None
            used.identifiers.append(identifier)
            sku = self.resolve[identifier]
            if sku is not None:
                resolve.append([identifier, sku])
                skus.add(sku)
        levels: list[Row] = []
        buffers: list[Row] = list(self.any_buffers.values())
        shown: list[Row] = []
        outbox: list[Row] = []
        at: list[Row] = []
        for sku in sorted(skus):
            kept = self.skus.get(sku)
            if kept is None:
                return None
            used.skus.append(sku)
            levels.append(kept.level)
            buffers += kept.buffers.values()
            shown += kept.shown.values()
            outbox += kept.outbox.values()
            at += sorted(kept.at.values(), key=_location)
        self._used = used
        rows = {
            "docs": doc_rows,
            "lines": line_rows,
            "resolve": resolve,
            "levels": levels,
            "buffers": sorted(buffers, key=_first_two),
            "shown": sorted(shown, key=_first_two),
            "outbox": sorted(outbox, key=_first_two),
            "channels": self.channels,
            "kits": [],
            "at": at,
            "locations": self.locations,
            "sells_from": self.sells_from,
        }
        return Assembled(rows, absent)


def _first_two(row: Row) -> tuple[str, str]:
    return row[0], row[1]


def _location(row: Row) -> str:
    return str(row[0])
