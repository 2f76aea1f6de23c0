"""`syncd transfer`: send units from one location to another, and book their arrival (issue 17).

    syncd transfer --config F --from A --to B SKU N [SKU N …]   units leave A, in transit to B
    syncd transfer --config F --from A --to B --file F.csv      the lines of a file (SKU;quantity)
    syncd transfer --config F --receive ID [SKU N …]            they arrive at B (all, or these)

Like a delivery: one document per transfer, booked once, pushed everywhere. In transit, units
are still on hand but no channel sells them; the status page and `syncd status` show them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from syncd.cli.stock import (
    EXIT_FAILURE,
    EXIT_OK,
    UsageError,
    _columns,
    _emit_json,
    _err,
    _file_outcome,
    _lines_table,
    _open,
    _outcome,
    _read_file,
    _run,
    _zone,
    location_option,
)
from syncd.config import Settings
from syncd.stockin.booking import (
    Booking,
    BookingError,
    Line,
    book_transfer,
    receive_transfer,
)
from syncd.stockin.files import transfer_file


def _pairs(items: list[str]) -> list[Line]:
    """``SKU N SKU N …`` → lines."""
    if len(items) % 2:
        raise UsageError("give each SKU with its quantity: SKU N [SKU N …]")
    lines = []
    for position in range(0, len(items), 2):
        code, qty = items[position], items[position + 1]
        try:
            quantity = int(qty)
        except ValueError:
            raise UsageError(f"quantity {qty!r} of {code!r} is not a whole number") from None
        lines.append(Line(code, quantity, f"argument {position // 2 + 1}"))
    return lines


async def transfer_command(settings: Settings, args: argparse.Namespace) -> int:
    lines = _pairs(args.lines)
    if args.receive:
        if args.source or args.destination or args.file:
            raise UsageError("--receive books an arrival: no --from, --to or --file with it")
    else:
        if not args.source or not args.destination:
            raise UsageError("a transfer needs --from LOCATION and --to LOCATION (or --receive ID)")
        source = location_option(settings, args.source)
        destination = location_option(settings, args.destination)
        if bool(args.file) == bool(lines):
            raise UsageError("give the lines (SKU N …) or --file, one of them")
    store = await _open(settings, dry_run=args.dry_run)
    try:
        if not args.receive and args.file:
            result = await transfer_file(
                store,
                _read_file(args.file),
                Path(args.file).name,
                source=source,
                destination=destination,
                origin="file",
                columns=_columns(args.columns),
                timezone=settings.web.timezone,
                dry_run=args.dry_run,
            )
            if result.booking is not None and not args.json:
                title = f"Transfer {source} → {destination} ({Path(args.file).name})"
                Console(file=sys.stdout).print(_lines_table(title, result.booking, result.names))
            return _file_outcome(result, "transfer", _zone(settings), args.json)
        try:
            booking: Booking
            if args.receive:
                booking = await receive_transfer(
                    store,
                    args.receive,
                    origin="command",
                    lines=lines or None,
                    note=args.note or "",
                    dry_run=args.dry_run,
                )
            else:
                booking = await book_transfer(
                    store,
                    lines,
                    source=source,
                    destination=destination,
                    origin="command",
                    note=args.note or "",
                    dry_run=args.dry_run,
                )
        except BookingError as err:
            if args.json:
                _emit_json({"status": "refused", "error": str(err)})
            _err(f"error: {err}; nothing was booked")
            return EXIT_FAILURE
        names = await store.sku_names(list(booking.lines))
    finally:
        await store.close()
    if args.json:
        _emit_json(booking.as_json())
        return EXIT_OK
    if args.receive:
        title = f"Transfer {args.receive} received at {booking.location}"
    else:
        title = f"Transfer {booking.doc_id}: {booking.location} → {booking.destination}"
    Console(file=sys.stdout).print(_lines_table(title, booking, names))
    what = "arrival" if args.receive else "transfer"
    _err(_outcome(booking, what, _zone(settings)))
    if not args.receive and booking.booked:
        _err(f"on arrival: syncd transfer --config {args.config} --receive {booking.doc_id}")
    return EXIT_OK


def add_command(sub: Any) -> None:
    text = "send units from one location to another, or book their arrival (--receive)"
    p = sub.add_parser("transfer", help=text, description=text)
    p.set_defaults(func=lambda a: _run(a, transfer_command))
    p.add_argument("--config", required=True, metavar="FILE")
    p.add_argument("--from", dest="source", default=None, metavar="A", help="the location sending")
    p.add_argument("--to", dest="destination", default=None, metavar="B", help="the one receiving")
    p.add_argument("--receive", default=None, metavar="ID", help="book the arrival of transfer ID")
    p.add_argument("lines", nargs="*", metavar="SKU N", help="SKU (or barcode, alias) and units")
    p.add_argument("--file", default=None, metavar="FILE", help="the lines from a CSV file")
    p.add_argument(
        "--columns",
        default=None,
        metavar="ROLE=COLUMN,…",
        help='name the columns when the file uses other names: "sku=Ref,quantity=Qté"',
    )
    p.add_argument("--note", default=None, metavar="T")
    p.add_argument("--dry-run", action="store_true", help="show what would be booked; book nothing")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
