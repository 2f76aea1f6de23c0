"""`syncd receive | count | adjust | void`: stock that is not a sale, booked from the command line.

Each command opens the ledger like the others (beside a running daemon too: its commits reach the
shops like a page booking), books through :mod:`syncd.stockin`, prints a table on stdout and what
happened on stderr; ``--json`` prints one JSON object on stdout and nothing else there. Times shown
are in the shop's time zone (``[web] timezone``); JSON times are UTC. Exit codes: 0 booked (even
with rows refused), 1 nothing could be booked, 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.prompt import Confirm
from rich.table import Table

from syncd.config import Settings, load_config
from syncd.csvcells import parse_when
from syncd.domain import ADJUSTMENT_REASONS, STOCK_CHANNEL, utcnow
from syncd.ledger import open_store
from syncd.ledger.planner import ApplyStatus
from syncd.ledger.store import Store
from syncd.stockin.booking import Booking, BookingError, book_adjustment, void
from syncd.stockin.files import FileBooking, count_file, quarantine, receive_file
from syncd.stockin.notes import parse_columns

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
MAX_FILE_BYTES = 100_000_000
_KIND_TEXT = {"goods_receipt": "delivery", "stock_count": "count", "adjustment": "adjustment"}


class UsageError(Exception):
    """A mistake in the command line: exit 2 with this message."""


# -- shared ---------------------------------------------------------------------------------------


def _err(text: str) -> None:
    print(text, file=sys.stderr)


def _emit_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.web.timezone)


def _local(moment: datetime, zone: ZoneInfo) -> str:
    """A time as the shop reads it: its own zone, named."""
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})"


def parse_at(text: str, zone: ZoneInfo, *, now: datetime | None = None) -> datetime:
    """``--at``: a local time of the shop ("2026-11-26 10:15", "26/11/2026 10:15"), or an ISO
    time with its offset; as UTC. UsageError when it is not a time or is in the future."""
    moment: datetime | None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        moment = parse_when(text, None, zone)
    else:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        moment = moment.astimezone(UTC)
    if moment is None:
        raise UsageError(f"--at {text!r} is not a time; write it like 2026-11-26 10:15")
    if moment > (now or utcnow()) + timedelta(minutes=1):
        raise UsageError(f"--at {text!r} is in the future: give the time the shelf was counted")
    return moment


def _read_file(path: str) -> bytes:
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            raise UsageError(f"{path}: {size / 1e6:.0f} MB is not a delivery note or a count file")
        return file.read_bytes()
    except IsADirectoryError as err:
        raise UsageError(f"{path} is a folder, not a file") from err
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror or err}") from err


def _columns(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    try:
        return parse_columns(text)
    except ValueError as err:
        raise UsageError(f"--columns: {err}") from err


async def _open(settings: Settings, *, dry_run: bool) -> Store:
    """The ledger, as `syncd reconcile` opens it; set up from the config (channels, aliases,
    buffers) unless this is a dry run, which writes nothing."""
    if dry_run:
        return await open_store(settings.ledger, migrate=False)
    store = await open_store(settings.ledger)
    from syncd.cli.reconcile import prepare_store

    try:
        await prepare_store(store, settings)
    except BaseException:
        await store.close()
        raise
    return store


def _quiet_logging(settings: Settings) -> None:
    """The tables are the output: only warnings and errors are logged (on stderr)."""
    from syncd.logs import configure_logging

    configure_logging("error" if settings.log.level == "error" else "warning", settings.log.format)


def _run(args: argparse.Namespace, command: Any) -> int:
    settings = load_config(args.config)
    _quiet_logging(settings)
    try:
        code: int = asyncio.run(command(settings, args))
    except UsageError as err:
        _err(f"error: {err}")
        return EXIT_USAGE
    return code


def _lines_table(
    title: str, booking: Booking, names: Mapping[str, str], *, signed: bool = False
) -> Table:
    table = Table(title=title)
    for column, justify in (
        ("SKU", "left"),
        ("name", "left"),
        ("quantity", "right"),
        ("on hand before → after", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for sku, qty in sorted(booking.lines.items()):
        before, after = booking.before.get(sku, 0), booking.after.get(sku)
        table.add_row(
            sku,
            names.get(sku, ""),
            f"{qty:+d}" if signed else str(qty),
            f"{before} → {after if after is not None else '?'}",
        )
    return table


def _outcome(booking: Booking, what: str, zone: ZoneInfo) -> str:
    units = sum(booking.lines.values())
    lines = f"{len(booking.lines)} SKU(s)"
    if booking.status == "planned":
        return f"dry run: nothing booked; this {what} would book {lines}"
    if booking.status == "unchanged":
        again = {
            "delivery": "a different delivery needs its own delivery-note number or file",
            "count": "to count again, give the time of the new count with --at",
        }.get(what, "")
        return f"already booked (document {STOCK_CHANNEL} {booking.doc_id}): nothing changed" + (
            f"; {again}" if again else ""
        )
    total = f", {units} units" if what == "delivery" else ""
    return (
        f"{what} booked at {_local(utcnow(), zone)}: {lines}{total}, "
        f"{booking.movements} movement(s); document {STOCK_CHANNEL} {booking.doc_id}"
    )


def _report_rows(result: FileBooking) -> None:
    """Every refused row, then the rows left out on purpose (totals, a repeated header)."""
    for r in result.rejections:
        if r.row is None and not result.file.ok:
            continue  # the whole file: said once, as the error
        where = f"{r.source} row {r.row}" if r.row is not None else r.source
        column = f", column {r.column!r}" if r.column else ""
        value = f", value {r.value!r}" if r.value else ""
        _err(f"refused: {where}{column}{value}: {r.reason}")
    for row, why in result.file.ignored:
        _err(f"ignored: {result.file.source} row {row}: {why}")


def _file_outcome(result: FileBooking, what: str, zone: ZoneInfo, as_json: bool) -> int:
    if as_json:
        _emit_json(result.as_json())
    else:
        _report_rows(result)
    if result.booking is None:
        if not as_json:
            _err(f"error: {result.error}")
            _err("nothing was booked")
        return EXIT_FAILURE
    if not as_json:
        _err(_outcome(result.booking, what, zone))
        if result.rejections:
            count = len(result.rejections)
            _err(f"{count} row(s) refused (listed above); the rest is booked")
    return EXIT_OK


# -- syncd receive --------------------------------------------------------------------------------


async def receive_command(settings: Settings, args: argparse.Namespace) -> int:
    data = _read_file(args.file)
    columns = _columns(args.columns)
    name = Path(args.file).name
    store = await _open(settings, dry_run=args.dry_run)
    try:
        result = await receive_file(
            store,
            data,
            name,
            origin="file",
            supplier=args.supplier or "",
            note_number=args.note_number or "",
            columns=columns,
            timezone=settings.web.timezone,
            dry_run=args.dry_run,
            location=location_option(settings, args.location),
        )
        if not args.dry_run:
            await quarantine(store, result.rejections)
    finally:
        await store.close()
    zone = _zone(settings)
    if result.booking is not None and not args.json:
        note = " ".join(p for p in (result.supplier, result.delivery_note) if p)
        title = f"Delivery {note} ({name})" if note else f"Delivery {name}"
        Console(file=sys.stdout).print(_lines_table(title, result.booking, result.names))
    return _file_outcome(result, "delivery", zone, args.json)


# -- syncd count ----------------------------------------------------------------------------------


async def count_command(settings: Settings, args: argparse.Namespace) -> int:
    zone = _zone(settings)
    data = _read_file(args.file)
    columns = _columns(args.columns)
    at = parse_at(args.at, zone) if args.at else None
    if args.prefix is not None and not args.prefix:
        raise UsageError("--prefix needs the start of the SKUs counted (e.g. --prefix SHIRT-)")
    name = Path(args.file).name
    store = await _open(settings, dry_run=args.dry_run)
    try:

        async def book(dry_run: bool) -> FileBooking:
            return await count_file(
                store,
                data,
                name,
                origin="file",
                prefix=args.prefix,
                full=args.full,
                at=at,
                columns=columns,
                timezone=settings.web.timezone,
                dry_run=dry_run,
                location=location_option(settings, args.location),
            )

        result = await book(True)
        ask = not args.dry_run and args.full and result.zeroed and result.booking is not None
        if ask and not _confirm_zero(result, args):
            if args.json:
                _emit_json({**result.as_json(), "needs_confirmation": True})
            return EXIT_USAGE
        if not args.dry_run and result.booking is not None:
            result = await book(False)
        if not args.dry_run:
            await quarantine(store, result.rejections)
    finally:
        await store.close()
    if result.booking is not None and not args.json:
        when = _local(at, zone) if at is not None else "now"
        title = f"Count {name}, counted {when}"
        Console(file=sys.stdout).print(_lines_table(title, result.booking, result.names))
        if result.zeroed:
            scope = "of the ledger" if args.full else f"starting with {args.prefix!r}"
            _err(f"{len(result.zeroed)} SKU(s) {scope} not in the file counted 0")
    return _file_outcome(result, "count", zone, args.json)


def _confirm_zero(result: FileBooking, args: argparse.Namespace) -> bool:
    """--full sets every SKU the file does not name to 0: said first, confirmed (--yes)."""
    count = len(result.zeroed)
    shown = ", ".join(result.zeroed[:10]) + (" …" if count > 10 else "")
    _err(f"{count} SKU(s) of the ledger with stock are not in {args.file}: {shown}")
    if args.yes:
        return True
    console = Console(file=sys.stderr)
    if sys.stdin.isatty() and console.is_terminal and not args.json:
        return bool(
            Confirm.ask(f"Count these {count} SKU(s) as 0 (a full count)?", console=console)
        )
    _err(
        f"nothing booked: a full count would set {count} SKU(s) to 0; confirm with --yes "
        "(or look first with --dry-run)"
    )
    return False


# -- syncd adjust ---------------------------------------------------------------------------------


async def adjust_command(settings: Settings, args: argparse.Namespace) -> int:
    store = await _open(settings, dry_run=args.dry_run)
    try:
        try:
            booking = await book_adjustment(
                store,
                args.sku,
                args.delta,
                reason=args.reason,
                origin="command",
                note=args.note or "",
                dry_run=args.dry_run,
                location=location_option(settings, args.location),
            )
        except BookingError as err:
            if args.json:
                _emit_json({"status": "refused", "sku": args.sku, "error": str(err)})
            _err(f"error: {err}; nothing was booked")
            return EXIT_FAILURE
        names = await store.sku_names(list(booking.lines))
    finally:
        await store.close()
    if args.json:
        out = booking.as_json()
        out.update(reason=args.reason, note=args.note or "")
        _emit_json(out)
        return EXIT_OK
    title = f"Adjustment: {args.reason}" + (f" ({args.note})" if args.note else "")
    Console(file=sys.stdout).print(_lines_table(title, booking, names, signed=True))
    _err(_outcome(booking, "adjustment", _zone(settings)))
    return EXIT_OK


# -- syncd void -----------------------------------------------------------------------------------


async def void_command(settings: Settings, args: argparse.Namespace) -> int:
    known = {c.name for c in settings.channels} | {STOCK_CHANNEL, "init"}
    if args.channel not in known:
        listed = ", ".join(sorted(known))
        raise UsageError(f"no channel {args.channel!r} (channels: {listed})")
    store = await _open(settings, dry_run=False)
    try:
        ids = [args.doc_id]
        if await store.stored_document(args.channel, args.doc_id) is None:
            ids = await store.documents_with_meta(args.channel, "file", args.doc_id)
        skus: set[str] = set()
        for one in ids:
            stored = await store.stored_document(args.channel, one)
            if stored is not None:
                skus.update(line.sku for line in stored.lines if line.sku is not None)
        before = await store.levels(sorted(skus))
        try:
            results = await void(
                store, args.channel, args.doc_id, origin="command", note=args.note or ""
            )
        except BookingError as err:
            if args.json:
                _emit_json({"status": "refused", "channel": args.channel, "error": str(err)})
            _err(f"error: {err}; nothing was voided")
            return EXIT_FAILURE
        after = await store.levels(sorted(skus))
        names = await store.sku_names(sorted(skus))
    finally:
        await store.close()
    rejected = [r for r in results if r.status is ApplyStatus.REJECTED]
    out: dict[str, object] = {
        "channel": args.channel,
        "doc_id": args.doc_id,
        "status": "voided" if results else "unchanged",
        "voided": [
            {
                "doc_id": r.doc_id,
                "status": r.status.value,
                "movements": r.movements,
                "error": r.error,
            }
            for r in results
        ],
        "lines": [
            {
                "sku": s,
                "name": names.get(s, ""),
                "on_hand_before": before.get(s, 0),
                "on_hand_after": after.get(s, 0),
            }
            for s in sorted(skus)
        ],
    }
    if args.json:
        _emit_json(out)
    else:
        table = Table(title=f"Void {args.channel} {args.doc_id}")
        for column in ("SKU", "name", "on hand before → after"):
            table.add_column(column)
        for s in sorted(skus):
            table.add_row(s, names.get(s, ""), f"{before.get(s, 0)} → {after.get(s, 0)}")
        Console(file=sys.stdout).print(table)
        if not results:
            _err(f"{args.channel} {args.doc_id} is already void: nothing changed")
        else:
            _err(
                f"voided {len(results) - len(rejected)} document(s) of {args.channel} at "
                f"{_local(utcnow(), _zone(settings))}: "
                + ", ".join(r.doc_id for r in results if r not in rejected)
            )
        for r in rejected:
            _err(f"error: the ledger refused to void {r.doc_id}: {r.error}")
    return EXIT_FAILURE if rejected else EXIT_OK


# -- argparse -------------------------------------------------------------------------------------


def add_commands(sub: Any) -> None:
    """`syncd receive | count | adjust | void` on the `syncd` parser's subparsers."""
    text = "book a supplier's delivery note (CSV): every line adds its units"
    p = sub.add_parser("receive", help=text, description=text)
    p.set_defaults(func=lambda a: _run(a, receive_command))
    p.add_argument("--config", required=True, metavar="FILE")
    p.add_argument("file", metavar="FILE", help="the delivery note (CSV)")
    p.add_argument("--supplier", default=None, metavar="S")
    p.add_argument("--note-number", default=None, metavar="N", help="the delivery-note number")
    _file_options(p)

    text = "book a count (CSV): each line sets the figure of its SKU; sales since stay"
    p = sub.add_parser("count", help=text, description=text)
    p.set_defaults(func=lambda a: _run(a, count_command))
    p.add_argument("--config", required=True, metavar="FILE")
    p.add_argument("file", metavar="FILE", help="the count file (CSV)")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument(
        "--prefix", default=None, metavar="P", help="SKUs starting with P not in the file count 0"
    )
    scope.add_argument(
        "--full", action="store_true", help="every SKU not in the file counts 0 (asks --yes)"
    )
    p.add_argument(
        "--at", default=None, metavar="TIME", help='when the shelf was counted: "2026-11-26 10:15"'
    )
    p.add_argument("--yes", action="store_true", help="do not ask before a full count")
    _file_options(p)

    text = "add or remove units of one SKU, with a reason"
    p = sub.add_parser("adjust", help=text, description=text)
    p.set_defaults(func=lambda a: _run(a, adjust_command))
    p.add_argument("--config", required=True, metavar="FILE")
    p.add_argument("sku", metavar="SKU", help="SKU, barcode or alias")
    p.add_argument("delta", type=int, metavar="±N", help="units to add (+3) or remove (-2)")
    p.add_argument("--reason", required=True, choices=ADJUSTMENT_REASONS)
    p.add_argument("--note", default=None, metavar="T")
    _location_option(p)
    p.add_argument("--dry-run", action="store_true", help="show the change; book nothing")
    p.add_argument("--json", action="store_true")

    text = "undo a document booked by mistake (a delivery, count, adjustment or till file)"
    p = sub.add_parser("void", help=text, description=text)
    p.set_defaults(func=lambda a: _run(a, void_command))
    p.add_argument("--config", required=True, metavar="FILE")
    p.add_argument("channel", metavar="CHANNEL", help=f"{STOCK_CHANNEL!r} for syncd's own")
    p.add_argument("doc_id", metavar="DOC_ID", help="the document id, or a till file's name")
    p.add_argument("--note", default=None, metavar="T")
    p.add_argument("--json", action="store_true")


def location_option(settings: Settings, name: str | None) -> str:
    """The location a booking names: one of the config's; '' (the first) when not given."""
    if not name:
        return ""
    known = [loc.name for loc in settings.locations]
    if name not in known:
        listed = ", ".join(known) or "none configured"
        raise UsageError(f"--location {name!r} is not a configured location ({listed})")
    return name


def _location_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--location",
        default=None,
        metavar="L",
        help="where it happened, one of [locations.*] (default: the first)",
    )


def _file_options(p: argparse.ArgumentParser) -> None:
    _location_option(p)
    p.add_argument(
        "--columns",
        default=None,
        metavar="ROLE=COLUMN,…",
        help='name the columns when the file uses other names: "sku=Ref,quantity=Qté"',
    )
    p.add_argument("--dry-run", action="store_true", help="show what would be booked; book nothing")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
