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
others are read again when needed. A document not kept is taken for new, and checked so.

Kits (a kit's rows reach other SKUs): the batch's ``kits`` array, and the SKUs it adds, are
computed as ``syncd_snapshot`` does from the whole kit table, kept (:class:`_Kits`) once a kit
batch is. Why that is safe: the table is loaded (``kit_table``) right after a clean write, so it
is as of no older than the kept rows' snapshot; a later clean write means that nothing else has
committed since, kits included, so it stays the ledger's; a write that is not clean drops it
(it may be older than the new snapshot), with the kit SKUs of the batch it checked. Without the
table no kept SKU is in a kit, as of that snapshot (a batch with kits keeps its kit SKUs only
once the table is kept): the array is ``[]``, as before kits were kept. And a plan from a wrong
table is never written: when something else committed, the write compares the rows assumed,
kits array included, with a fresh snapshot (SY001 if they differ). A table of more than
``MAX_KIT_ROWS`` rows is not kept: batches near a kit are read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from syncd.ledger.planner import DocKey
from syncd.ledger.sqlbase import Tx

KEEP_SECONDS = 5.0  # rows not written for this long are forgotten
MAX_DOCUMENTS = 20_000  # past this, documents are forgotten (taken for new, checked so)
MAX_SKUS = 100_000  # past this, everything is forgotten
MAX_KIT_ROWS = 50_000  # a kit table of more component rows is not kept

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
    kit_skus: set[str] = field(default_factory=set)  # the kits and components of its kits array


@dataclass(slots=True)
class _Kits:
    """The kit table as ``syncd_snapshot`` reads it: ``kit_components``, joined with ``kits``."""

    parts: dict[str, list[str]] = field(default_factory=dict)  # kit → components
    holders: dict[str, list[str]] = field(default_factory=dict)  # component → kits holding it
    # kit → its rows of the kits array, by component: [kit, component, quantity, derived_by]
    rows: dict[str, list[Row]] = field(default_factory=dict)

    @classmethod
    def of(cls, any_kit: bool, rows: Iterable[Row]) -> _Kits:
        """From ``kit_table``'s rows; none when ``kits`` is empty (``IF EXISTS``)."""
        table = cls()
        if not any_kit:
            return table
        for kit, component, quantity, derived_by in sorted(rows, key=_first_two):
            table.parts.setdefault(kit, []).append(component)
            table.holders.setdefault(component, []).append(kit)
            if derived_by is not None:  # a row of no kit only links kits (the join drops it)
                table.rows.setdefault(kit, []).append([kit, component, quantity, derived_by])
        return table

    def near(self, skus: Iterable[str]) -> list[Row]:
        """The kits array of a batch of these SKUs (schema.sql ``syncd_snapshot``: direct, moved,
        wanted), ordered by kit, component."""
        direct = {sku for sku in skus if sku in self.parts}
        moved = set(skus).union(*(self.parts[kit] for kit in direct))
        wanted = direct.union(*(self.holders.get(sku, ()) for sku in moved))
        return [row for kit in sorted(wanted) for row in self.rows.get(kit, ())]


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
        self.kits: _Kits | None = None  # as of no older than ``since`` (None: no kept SKU in a kit)
        self.kits_too_many = False  # the kit table has more than MAX_KIT_ROWS rows: not kept
        self._kit_skus: set[str] = set()  # a kit batch's kit SKUs, kept once the table is
        self._used = _Used()  # the rows the batch being written was planned from

    def fresh(self) -> bool:
        """Whether to plan from these rows (not written for a while: read again)."""
        return time.monotonic() - self.made < KEEP_SECONDS

    # -- keeping -------------------------------------------------------------------------------

    def add_read(self, data: Mapping[str, Any], identifiers: Iterable[str]) -> None:
        """Keep a read's rows (``syncd_snapshot``'s JSON) for the batch naming ``identifiers``,
        as of the write that follows."""
        used = self._used = _Used()
        used.kit_skus = {sku for row in data["kits"] for sku in row[:2]}
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

    def wrote(self, rows: Mapping[str, Any], since: str, own: str, *, clean: bool) -> bool:
        """Keep what a plan wrote (``plan_rows``) in transaction ``own``, checked against
        snapshot ``since``; when something else had committed since the rows were known (not
        ``clean``), only the rows of this batch, which the write read again, stay. False when
        too many are kept to go on."""
        used = self._used
        if not clean:
            self.docs = {key: self.docs[key] for key in used.docs}
            self.resolve = {i: self.resolve[i] for i in used.identifiers}
            self.skus = {sku: self.skus[sku] for sku in used.skus}
            self.kits = None  # may be older than the snapshot checked against (``since``)
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
        self._kit_skus = set()
        if used.kit_skus and self.kits is None:
            if clean and not self.kits_too_many:
                self._kit_skus = used.kit_skus  # load_kits keeps them with the table
            else:
                self._forget(used.kit_skus)
        return len(self.skus) <= MAX_SKUS

    async def load_kits(self, tx: Tx) -> None:
        """Right after :meth:`wrote`, the kit table when a kit batch was kept without it: as of
        this statement, after the write, so no older than the rows kept (``since``). More than
        ``MAX_KIT_ROWS`` rows: that batch's kit SKUs are forgotten instead."""
        if not self._kit_skus:
            return
        kit_skus, self._kit_skus = self._kit_skus, set()
        any_kit, _count, text = (await tx.fetch("kit_table", MAX_KIT_ROWS))[0]
        if text is None:
            self.kits_too_many = True
            self._forget(kit_skus)
        else:
            self.kits = _Kits.of(bool(any_kit), json.loads(text))

    def _forget(self, skus: Iterable[str]) -> None:
        for sku in skus:
            self.skus.pop(sku, None)

    # -- planning from them ----------------------------------------------------------------------

    def assemble(self, keys: Sequence[DocKey], identifiers: Sequence[str]) -> Assembled | None:
        """The rows ``syncd_snapshot`` would return for a batch of documents ``keys`` (sorted)
        naming ``identifiers``, from kept rows; None when one it needs is not kept."""
        if not self.globals_read or self._kit_skus:  # kit SKUs kept, the table not yet
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
        kits = self.kits.near(skus) if self.kits is not None else []
        used.kit_skus = {sku for row in kits for sku in row[:2]}
        skus |= used.kit_skus
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
            "kits": kits,
            "at": at,
            "locations": self.locations,
            "sells_from": self.sells_from,
        }
        return Assembled(rows, absent)


def _first_two(row: Row) -> tuple[str, str]:
    return row[0], row[1]


def _location(row: Row) -> str:
    return str(row[0])
