"""The till's part of `syncd setup`: the receipts an export gives, and, when no known layout
matches it, which column is which (asked, or given as ``--till-columns sku=Code,quantity=Qté``),
written as the till's ``columns`` mapping."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from syncd.connectors.csv_till.presets import ROLES, guess_columns

if TYPE_CHECKING:
    from syncd.cli.prompts import Asker
    from syncd.cli.setupprobes import TillAnswer

RECEIPTS_SHOWN = 5
# What setup asks, in order: the two a receipt line needs, then those that help.
ASKED_ROLES = (
    ("sku", "the SKU (or item code)", False),
    ("quantity", "the quantity sold", False),
    ("receipt", "the receipt (ticket) number", True),
    ("date", "the date (and time) of the sale", True),
    ("time", "the time, when it is a column of its own", True),
    ("name", "the item's name", True),
)


def parse_columns(text: str) -> tuple[dict[str, str], str]:
    """``sku=Code,quantity=Qté`` → {role: column}; or an error naming the bad part."""
    mapping: dict[str, str] = {}
    for part in (p for p in text.split(",") if p.strip()):
        role, sep, column = part.partition("=")
        role = role.strip()
        if not sep or not column.strip():
            return {}, f"{part.strip()!r} is not ROLE=COLUMN"
        if role not in ROLES:
            return {}, f"{role!r} is not a column role (roles: {', '.join(ROLES)})"
        mapping[role] = column.strip()
    if "quantity" not in mapping or not ({"sku", "barcode"} & set(mapping)):
        return {}, "sku (or barcode) and quantity are needed"
    return mapping, ""


def columns_flag(asker: Asker) -> dict[str, str]:
    text = asker.flag_value("--till-columns")
    if not text:
        return {}
    mapping, why = parse_columns(str(text))
    if why:
        if not asker.interactive:
            asker.fail(f"--till-columns: {why}")
        asker.say_error(f"--till-columns: {why}")
    return mapping


def ask_columns(asker: Asker, header: list[str], console: Console) -> dict[str, str]:
    """Which column is which, asked role by role (a number or a name; the guess as default)."""
    table = Table(title="The export's columns", show_edge=False)
    table.add_column("#", justify="right")
    table.add_column("column")
    for i, name in enumerate(header, 1):
        table.add_row(str(i), escape(name))
    console.print(table)
    guess = guess_columns(header)
    mapping: dict[str, str] = {}

    def check(value: str) -> str | None:
        if value == "-" or value in header:
            return None
        if value.isdigit() and 1 <= int(value) <= len(header):
            return None
        return f"{value!r} is neither a column number (1 to {len(header)}) nor a column name"

    for role, what, optional in ASKED_ROLES:
        answer = asker.ask(
            "--till-columns",
            f"Which column holds {what}?" + (" (- for none)" if optional else ""),
            default=guess.get(role) or ("-" if optional else None),
            check=check,
            retry=True,
        )
        if answer and answer != "-":
            mapping[role] = header[int(answer) - 1] if answer.isdigit() else answer
    return mapping


def show_receipts(answer: TillAnswer, sample: Path, timezone: str, console: Console) -> None:
    result = answer.result
    zone = ZoneInfo(timezone)
    layout = (
        f"the columns given ({', '.join(f'{r}={c}' for r, c in answer.options.columns.items())})"
        if answer.options.columns
        else f"layout {result.preset}"
    )
    console.print(
        f"[green]✓[/] {escape(str(sample))}: {escape(layout)}, {result.encoding}, "
        f"delimiter {result.delimiter!r}; {result.rows} rows → {len(result.documents)} receipts, "
        f"{len(result.rejections)} rejected"
    )
    table = Table(title=f"The first receipts (times in {zone.key})", show_edge=False)
    for column in ("receipt", "when", "sold"):
        table.add_column(column)
    for doc in result.documents[:RECEIPTS_SHOWN]:
        sold = ", ".join(f"{sku} ×{qty}" for sku, qty in doc.lines.items())
        table.add_row(
            escape(doc.reference),
            f"{doc.occurred_at.astimezone(zone):%Y-%m-%d %H:%M}",
            escape(sold),
        )
    console.print(table)
    for rejection in result.rejections[:3]:
        console.print(
            f"  rejected: row {rejection.row} column {rejection.column!r} value "
            f"{escape(repr(rejection.value))}: {escape(rejection.reason)}"
        )
