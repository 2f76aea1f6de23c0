"""`syncd reorder [--all] [--json] [--csv]`, `syncd reorder import [FILE]` and `syncd day`: what to
order from suppliers, and the end of the merchant's day, read from the ledger (they work while the
daemon runs, and after it stopped).

``--json`` prints one JSON object on stdout (times in UTC) and nothing else there; the tables show
times in the shop's time zone (``[web] timezone``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from syncd.config import Settings, load_config
from syncd.i18n import Translator, resolve_language
from syncd.ledger import open_store
from syncd.stockin.endofday import DayReport, day_report, parse_day, shop_day
from syncd.stockin.reorder import Suggestion
from syncd.stockin.reorderfile import ImportResult, ReorderFileError, import_reorder_file
from syncd.stockin.reorderlist import ReorderList, reorder_csv, reorder_list

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _emit_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.web.timezone)


def _local(when: datetime, zone: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return when.astimezone(zone).strftime(fmt)


# -- syncd reorder ----------------------------------------------------------------------------------


async def gather_reorder(settings: Settings) -> ReorderList:
    store = await open_store(settings.ledger, migrate=False)
    try:
        return await reorder_list(store, settings.stock)
    finally:
        await store.close()


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def _point(s: Suggestion) -> str:
    if s.point is None:
        return "—"
    return f"≈{s.point}" if s.point_source == "suggested" else str(s.point)


def render_reorder(found: ReorderList, settings: Settings, *, everything: bool) -> None:
    zone = _zone(settings)
    print(
        f"Sales measured over {found.sales_days} days until "
        f"{_local(found.generated_at, zone)} ({zone.key}); lead time {found.lead_days} days, "
        f"an order covers {found.cover_days} days.",
        file=sys.stderr,
    )
    shown = found.shown(everything)
    if shown:
        title = "Every SKU" if everything else f"To reorder ({len(found.to_reorder)})"
        table = Table(title=title)
        columns = ["SKU", "name", "on hand", "point", "sold/day", "days of cover", "order"]
        for column in ["to order"] * everything + columns:
            table.add_column(column, overflow="fold")
        for s in shown:
            table.add_row(
                *(["yes" if s.to_reorder else ""] * everything),
                s.sku,
                s.name,
                str(s.on_hand),
                _point(s),
                _number(s.rate_per_day),
                _number(s.cover),
                str(s.quantity),
            )
        Console(file=sys.stdout).print(table)
        if any(s.point_source == "suggested" for s in shown):
            print("≈: a point suggested from the sales rate (none is set)", file=sys.stderr)
    else:
        print("Nothing to reorder.", file=sys.stderr)
    for sku in found.overridden:
        print(
            f"{sku}: set in the config and in an imported file: the config's figure is used.",
            file=sys.stderr,
        )


def _cmd_reorder(args: argparse.Namespace) -> int:
    config = getattr(args, "config", None)
    if not config:
        print("error: syncd reorder needs --config FILE", file=sys.stderr)
        return EXIT_USAGE
    settings = load_config(config)
    found = asyncio.run(gather_reorder(settings))
    if args.json:
        _emit_json(found.as_json(everything=args.all))
    elif args.csv:
        t = Translator(resolve_language(settings.web.language))
        sys.stdout.write(reorder_csv(found.shown(args.all), t))
        sys.stdout.flush()
    else:
        render_reorder(found, settings, everything=args.all)
    return EXIT_OK


# -- syncd reorder import ---------------------------------------------------------------------------


async def run_import(settings: Settings, path: Path, *, replace: bool) -> ImportResult:
    store = await open_store(settings.ledger)
    try:
        if settings.aliases:
            await store.set_aliases(settings.aliases)
        config_skus = {*settings.stock.reorder_points, *settings.stock.reorder_quantities}
        return await import_reorder_file(store, path, config_skus=config_skus, replace=replace)
    finally:
        await store.close()


def _cmd_import(args: argparse.Namespace) -> int:
    config = getattr(args, "config", None)
    if not config:
        print("error: syncd reorder import needs --config FILE", file=sys.stderr)
        return EXIT_USAGE
    settings = load_config(config)
    path = args.file or settings.stock.reorder_file
    if path is None:
        print(
            f"error: name the file to import, or set [stock] reorder_file in {config}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        result = asyncio.run(run_import(settings, Path(path), replace=args.replace))
    except ReorderFileError as err:
        if args.json:
            _emit_json({"file": str(path), "error": str(err)})
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        _emit_json(result.as_json())
    else:
        parsed = result.parsed
        print(
            f"{path}: {parsed.encoding}, delimiter {parsed.delimiter!r}; "
            f"{len(result.imported)} reorder point(s) imported, "
            f"{len(result.rejections)} row(s) rejected"
            + ("; earlier imported points replaced" if result.replaced else ""),
            file=sys.stderr,
        )
        for r in result.rejections:
            print(
                f"  REJECTED {r.source} row {r.row} column {r.column!r} value {r.value!r}: "
                f"{r.reason}",
                file=sys.stderr,
            )
        for sku in result.config_wins:
            print(
                f"  {sku}: also set in {config} [stock]: the config's figure is used",
                file=sys.stderr,
            )
    return EXIT_FAILURE if result.rejections else EXIT_OK


# -- syncd day --------------------------------------------------------------------------------------


async def gather_day(settings: Settings, day: date | None) -> DayReport:
    zone = _zone(settings)
    store = await open_store(settings.ledger, migrate=False)
    try:
        when = day or shop_day(datetime.now(zone), zone)
        return await day_report(store, when, zone)
    finally:
        await store.close()


def render_day(report: DayReport) -> None:
    zone = report.zone
    out = Console(file=sys.stdout)
    hours = f"{report.hours:g} hours" if report.hours != 24 else "24 hours"
    out.print(f"[bold]{report.day.isoformat()}[/bold] in {zone.key} ({hours})")
    table = Table(title="Sales per channel")
    for column in ("channel", "documents", "units sold", "returned", "net"):
        table.add_column(column)
    total = report.sales_total
    for s in [*report.sales, total]:
        table.add_row(
            s.channel or "total", str(s.documents), str(s.sold), str(s.returned), str(s.net)
        )
    out.print(table)
    data: dict[str, Any] = report.as_json()
    sections: list[tuple[str, list[dict[str, Any]], str]] = [
        ("Deliveries", data["deliveries"], "delivery"),
        ("Counts", data["counts"], "count"),
        ("Adjustments", data["adjustments"], "adjustment"),
    ]
    for title, items, kind in sections:
        if not items:
            out.print(f"{title}: none")
            continue
        out.print(f"{title}:")
        for d in items:
            at = _local(datetime.fromisoformat(d["occurred_at"]), zone, "%H:%M")
            voided = " (voided)" if d["voided"] else ""
            if kind == "delivery":
                who = " ".join(p for p in (d["supplier"], d["delivery_note"]) if p)
                lines = ", ".join(f"{ln['sku']} +{ln['quantity']}" for ln in d["lines"])
                out.print(f"  {at}  {who or d['reference'] or d['doc_id']}{voided}: {lines}")
            elif kind == "count":
                diffs = ", ".join(
                    f"{ln['sku']} {ln['counted']} ({ln['difference']:+d})"
                    for ln in d["lines"]
                    if ln["difference"]
                )
                out.print(
                    f"  {at}  {d['reference'] or d['doc_id']}{voided}: "
                    f"{d['lines_counted']} line(s) counted, "
                    f"{d['lines_with_difference']} with a difference"
                    + (f": {diffs}" if diffs else "")
                )
            else:
                lines = ", ".join(f"{ln['sku']} {ln['quantity']:+d}" for ln in d["lines"])
                why = d["reason"] + (f" in {d['edited_in']}" if d["edited_in"] else "")
                note = f" — {d['note']}" if d["note"] else ""
                out.print(f"  {at}  {why}{voided}: {lines}{note}")
    if report.voids:
        out.print("Voided:")
        for v in data["voids"]:
            at = _local(datetime.fromisoformat(v["voided_at"]), zone, "%H:%M")
            back = ", ".join(f"{g['sku']} {g['quantity']:+d}" for g in v["given_back"])
            out.print(f"  {at}  {v['channel']} {v['reference'] or v['doc_id']}: {back or '—'}")
    else:
        out.print("Voided: none")
    if report.conflicts:
        out.print("Conflicts opened:")
        for c in data["conflicts"]:
            at = _local(datetime.fromisoformat(c["created_at"]), zone, "%H:%M")
            out.print(f"  {at}  #{c['id']} {c['kind']} {c['sku']} ({c['status']})")
    else:
        out.print("Conflicts opened: none")
    if report.out_of_stock:
        out.print(f"At zero now ({len(report.out_of_stock)}):")
        for z in report.out_of_stock:
            out.print(f"  {z.sku} {z.name}: {z.on_hand}")
    else:
        out.print("At zero now: none")


def _cmd_day(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    day = None
    if args.date:
        try:
            day = parse_day(args.date)
        except ValueError as err:
            print(f"error: --date: {err}", file=sys.stderr)
            return EXIT_USAGE
    report = asyncio.run(gather_day(settings, day))
    if args.json:
        _emit_json(report.as_json())
    else:
        render_day(report)
    return EXIT_OK


# -- argparse -------------------------------------------------------------------------------------


def add_commands(sub: Any) -> None:
    """`syncd reorder`, `syncd reorder import` and `syncd day`."""
    text = "what to reorder: SKUs at or below their point, or with too few days of cover"
    p = sub.add_parser("reorder", help=text, description=text)
    p.set_defaults(func=_cmd_reorder)
    p.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS)
    p.add_argument("--all", action="store_true", help="every SKU, not only those to reorder")
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true")
    output.add_argument("--csv", action="store_true", help="';'-separated, UTF-8 with a BOM")
    actions = p.add_subparsers(dest="reorder_command", metavar="COMMAND")
    text = "import reorder points from a CSV file (columns sku;point;quantity)"
    i = actions.add_parser(
        "import",
        help=text,
        description=f"{text}; the good rows are stored, each bad one is reported with its file, "
        "row and reason, and the exit code is then 1",
    )
    i.set_defaults(func=_cmd_import)
    i.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS)
    i.add_argument("file", nargs="?", default=None, metavar="FILE", help="default: reorder_file")
    i.add_argument("--replace", action="store_true", help="forget earlier imported points")
    i.add_argument("--json", action="store_true")
    text = "the end of the day: sales, deliveries, counts, adjustments, voids, conflicts, zeros"
    p = sub.add_parser("day", help=text, description=text)
    p.set_defaults(func=_cmd_day)
    p.add_argument("--config", required=True, metavar="FILE")
    p.add_argument("--date", default=None, metavar="YYYY-MM-DD", help="default: today in the shop")
    p.add_argument("--json", action="store_true")
