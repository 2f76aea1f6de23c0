"""Booking a delivery note or a count file: read it (:mod:`syncd.stockin.notes`), book what can
be booked (:mod:`syncd.stockin.booking`), and keep every refused row with its file, row and reason.

`syncd receive`, `syncd count` and the daemon's drop folders all go through here, so a file means
the same wherever it is handed in. The document id comes from the file: a delivery note's number
when it has one (a corrected note booked again replaces the first booking), else the file's bytes
(the same file twice, or again after a crash, books once; two different deliveries never merge).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from syncd.domain import STOCK_CHANNEL, DocumentKind, Rejection, iso_utc, utcnow
from syncd.ledger.stockfiles import StockFileStore
from syncd.logs import clean
from syncd.stockin.booking import (
    Booking,
    BookingError,
    Line,
    Refused,
    book_count,
    book_receipt,
    book_transfer,
    content_id,
    resolve_lines,
)
from syncd.stockin.notes import StockFile, StockRow, read_stock_file


@dataclass(slots=True)
class FileBooking:
    """What booking one file did (or, for a dry run, would do)."""

    file: StockFile
    booking: Booking | None = None  # None: nothing could be booked (``error`` says why)
    rejections: list[Rejection] = field(default_factory=list)  # every refused row
    error: str = ""
    names: dict[str, str] = field(default_factory=dict)  # SKU → product name
    supplier: str = ""
    delivery_note: str = ""
    at: datetime | None = None  # counts: when the shelf was counted (None: at booking)
    zeroed: list[str] = field(default_factory=list)  # counts: SKUs of the scope counted 0

    @property
    def booked(self) -> bool:
        return self.booking is not None

    @property
    def kind(self) -> DocumentKind:
        return (
            DocumentKind.GOODS_RECEIPT if self.file.kind == "receipt" else DocumentKind.STOCK_COUNT
        )

    def as_json(self) -> dict[str, object]:
        """Booking.as_json with the file, the names, and every refused row (the file's own and
        those booking refused) with its file, row, column, value and reason. UTC times."""
        if self.booking is not None:
            out = self.booking.as_json()
        else:
            out = {
                "doc_id": "",
                "channel": STOCK_CHANNEL,
                "kind": self.kind.value,
                "status": "refused",
                "lines": [],
                "movements": 0,
            }
        lines = out.get("lines")
        if isinstance(lines, list):
            for line in lines:
                line["name"] = self.names.get(str(line["sku"]), "")
        out.update(
            file=self.file.source,
            refused=[
                {
                    "file": r.source,
                    "row": r.row,
                    "column": r.column,
                    "value": r.value,
                    "reason": r.reason,
                    "where": self.file.where(r.row) if r.row is not None else r.source,
                }
                for r in self.rejections
            ],
            ignored=[{"row": row, "reason": why} for row, why in self.file.ignored],
            error=self.error,
        )
        if self.file.kind == "receipt":
            out.update(supplier=self.supplier, delivery_note=self.delivery_note)
        else:
            out.update(
                counted_at=iso_utc(self.at) if self.at is not None else None,
                zeroed=len(self.zeroed),
            )
        return out


async def transfer_file(
    store: StockFileStore,
    data: bytes,
    name: str,
    *,
    source: str,
    destination: str,
    origin: str,
    columns: dict[str, str] | None = None,
    timezone: str = "Europe/Paris",
    dry_run: bool = False,
) -> FileBooking:
    """Book a transfer from a file of SKU and quantity lines (a delivery note's layout); the
    same file booked twice books once."""
    parsed = read_stock_file(data, name, kind="receipt", columns=columns, timezone=timezone)
    result = FileBooking(parsed)
    if not parsed.ok:
        return _unreadable(result)
    lines, rows = await _lines(store, parsed)
    ok, refused = await resolve_lines(store, lines)
    _refusals(result, refused, rows)
    if not any(ln.quantity for ln, _ in ok):
        result.error = _nothing(result, "transfer")
        return result
    try:
        result.booking = await book_transfer(
            store,
            lines,
            source=source,
            destination=destination,
            origin=origin,
            doc_id=content_id("transfer", ["file", parsed.sha256, source, destination]),
            dry_run=dry_run,
        )
    except BookingError as err:
        result.error = str(err)
        return result
    result.names = await _names(store, result.booking, rows)
    return result


async def receive_file(
    store: StockFileStore,
    data: bytes,
    name: str,
    *,
    origin: str,
    supplier: str = "",
    note_number: str = "",
    columns: dict[str, str] | None = None,
    timezone: str = "Europe/Paris",
    dry_run: bool = False,
    location: str = "",
) -> FileBooking:
    """Book a supplier's delivery note (``name``: the file's name, kept in the document)."""
    parsed = read_stock_file(data, name, kind="receipt", columns=columns, timezone=timezone)
    result = FileBooking(parsed)
    if not parsed.ok:
        return _unreadable(result)
    result.supplier = supplier or parsed.supplier
    single = parsed.delivery_notes[0] if len(parsed.delivery_notes) == 1 else ""
    note = note_number or single
    result.delivery_note = note or parsed.delivery_note
    lines, rows = await _lines(store, parsed)
    ok, refused = await resolve_lines(store, lines)
    _refusals(result, refused, rows)
    if not any(ln.quantity for ln, _ in ok):
        result.error = _nothing(result, "delivery")
        return result
    # With one delivery-note number the id is the supplier's and that number's (book_receipt's
    # rule): the note corrected and booked again is the same document, its difference applied.
    doc_id = "" if note else content_id("receipt", ["file", parsed.sha256])
    try:
        result.booking = await book_receipt(
            store,
            lines,
            origin=origin,
            doc_id=doc_id,
            supplier=result.supplier,
            delivery_note=result.delivery_note,
            source=name,
            dry_run=dry_run,
            location=location,
        )
    except BookingError as err:
        result.error = str(err)
        return result
    result.names = await _names(store, result.booking, rows)
    return result


async def count_file(
    store: StockFileStore,
    data: bytes,
    name: str,
    *,
    origin: str,
    prefix: str | None = None,
    full: bool = False,
    at: datetime | None = None,
    columns: dict[str, str] | None = None,
    timezone: str = "Europe/Paris",
    dry_run: bool = False,
    location: str = "",
) -> FileBooking:
    """Book a count file. ``at``: when the shelf was counted (a row's own time wins), so the
    sales made since stay sold; None: at booking. ``prefix``: every SKU of the ledger starting
    with it that the file does not name is counted 0; ``full``: every SKU of the ledger."""
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError, OSError):  # OSError: "Europe", a folder, with tzdata
        zone = ZoneInfo("UTC")
    today = (at or utcnow()).astimezone(zone).date()
    parsed = read_stock_file(
        data, name, kind="count", columns=columns, timezone=timezone, today=today
    )
    result = FileBooking(parsed, at=at)
    if not parsed.ok:
        return _unreadable(result)
    lines, rows = await _lines(store, parsed)
    ok, refused = await resolve_lines(store, lines)
    _refusals(result, refused, rows)
    if full or prefix is not None:
        result.zeroed = await _scope(store, parsed, "" if full else prefix or "", at)
    if not ok and not result.zeroed:
        result.error = _nothing(result, "count")
        return result
    scope = "full" if full else f"prefix:{prefix}" if prefix is not None else ""
    doc_id = content_id(
        "count", ["file", parsed.sha256, at.isoformat() if at is not None else "", scope]
    )
    try:
        result.booking = await book_count(
            store,
            lines,
            origin=origin,
            doc_id=doc_id,
            zero=result.zeroed,
            source=name,
            at=at,
            dry_run=dry_run,
            location=location,
        )
    except BookingError as err:
        result.error = str(err)
        return result
    result.names = await _names(store, result.booking, rows)
    return result


async def quarantine(store: StockFileStore, rejections: Sequence[Rejection]) -> None:
    """Keep refused rows in the ledger's rejections (the status page lists them); the same row
    of the same file refused again is kept once."""
    if rejections:
        await store.apply_batch([], rejections=list(rejections))


# -- helpers --------------------------------------------------------------------------------------


def _cleaned(rejection: Rejection) -> Rejection:
    """Fit to store and show: a file's cells may hold anything, a secret included."""
    return Rejection(
        rejection.channel,
        clean(rejection.source),
        rejection.row,
        clean(rejection.column),
        clean(rejection.value),
        clean(rejection.reason),
    )


def _unreadable(result: FileBooking) -> FileBooking:
    result.error = f"{result.file.source}: {result.file.unreadable}"
    result.rejections = [
        _cleaned(Rejection(STOCK_CHANNEL, result.file.source, None, "", "", result.file.unreadable))
    ]
    return result


async def _lines(
    store: StockFileStore, parsed: StockFile
) -> tuple[list[Line], dict[str, StockRow]]:
    """One booking line per usable row, named by the identifier the ledger knows (its SKU
    column, else its barcode), and the rows by where they are."""
    candidates = sorted({i for row in parsed.rows for i in row.identifiers})
    known = await store.resolve_identifiers(candidates) if candidates else {}
    lines: list[Line] = []
    rows: dict[str, StockRow] = {}
    for row in parsed.rows:
        identifier = next((i for i in row.identifiers if i in known), row.identifier)
        where = parsed.where(row.row)
        rows[where] = row
        lines.append(Line(identifier, row.quantity, where, row.at))
    return lines, rows


def _refusals(result: FileBooking, refused: Sequence[Refused], rows: dict[str, StockRow]) -> None:
    """The file's refused rows and the lines booking refuses (unknown SKUs), in row order."""
    found = list(result.file.rejections)
    for r in refused:
        row = rows.get(r.line.where)
        column = result.file.column("sku" if "sku" in result.file.columns else "barcode")
        found.append(
            Rejection(
                STOCK_CHANNEL,
                result.file.source,
                row.row if row is not None else None,
                column,
                r.line.identifier,
                r.reason,
            )
        )
    found.sort(key=lambda r: r.row if r.row is not None else 0)
    result.rejections = [_cleaned(r) for r in found]


async def _scope(
    store: StockFileStore, parsed: StockFile, prefix: str, at: datetime | None
) -> list[str]:
    """SKUs of the ledger in the count's scope that the file does not name (not even on a row
    refused for its quantity) and that have stock: each is counted 0."""
    levels = await store.levels()
    named = set((await store.resolve_identifiers(sorted(parsed.named))).values())
    named |= parsed.named
    inside = sorted(s for s in levels if s.startswith(prefix) and s not in named)
    figures = await store.on_hand_at(inside, at) if at is not None and inside else levels
    return [s for s in inside if figures.get(s, 0) != 0]


async def _names(
    store: StockFileStore, booking: Booking, rows: dict[str, StockRow]
) -> dict[str, str]:
    names = await store.sku_names(sorted(booking.lines))
    by_identifier = {row.identifier: row.name for row in rows.values() if row.name}
    for sku in booking.lines:
        if sku not in names and sku in by_identifier:
            names[sku] = by_identifier[sku]  # the note's own wording, when the ledger has none
    return names


def _nothing(result: FileBooking, what: str) -> str:
    rows = result.rejections
    if not rows:
        return f"{result.file.source}: the {what} has no line to book"
    first = "; ".join(f"row {r.row}: {r.reason}" for r in rows[:5])
    more = f" (and {len(rows) - 5} more)" if len(rows) > 5 else ""
    return f"{result.file.source}: no line of the {what} can be booked: {first}{more}"
