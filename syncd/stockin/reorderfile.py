"""Reorder points from a CSV file (`syncd reorder import`, ``[stock] reorder_file``): one row per
SKU with its point and, optionally, the quantity to order.

The file is read like a till export (:mod:`syncd.connectors.csv_till.parser`): UTF-8 (with or
without a BOM) or cp1252, ``;``, ``,`` or tab, a decimal comma, and column names in French or
English (``sku;point;quantity``, ``Référence;Seuil;Quantité``…). A bad row never stops the others:
it is reported with the file, the row, the column and the reason, and the good rows are stored.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from syncd.csvcells import decode, parse_quantity, sniff_delimiter
from syncd.domain import Rejection
from syncd.exceptions import SyncdError
from syncd.ledger.reports import ReorderPoint, ReportReads
from syncd.ledger.stockin import StockInStore

CHANNEL = "reorder"  # the "channel" named in a rejection of this file
MAX_UNITS = 1_000_000
MAX_BYTES = 20 * 1024 * 1024

# Role → header names, compared without case, accents or surrounding spaces.
COLUMNS: Mapping[str, tuple[str, ...]] = {
    "sku": (
        "sku",
        "reference",
        "ref",
        "code article",
        "article",
        "code",
        "product",
        "produit",
        "barcode",
        "code-barres",
        "code barres",
        "ean",
        "gtin",
    ),
    "point": (
        "point",
        "reorder point",
        "reorder_point",
        "reorder level",
        "min",
        "minimum",
        "min stock",
        "seuil",
        "seuil de commande",
        "seuil de reapprovisionnement",
        "point de commande",
        "stock minimum",
        "stock mini",
    ),
    "quantity": (
        "quantity",
        "qty",
        "reorder quantity",
        "reorder_quantity",
        "order quantity",
        "quantite",
        "qte",
        "quantite a commander",
        "quantite de commande",
        "qte a commander",
    ),
}
REQUIRED = ("sku", "point")


class ReorderFileError(SyncdError):
    """The whole file cannot be used (unreadable, no header naming a SKU and a point)."""


@dataclass(frozen=True, slots=True)
class FileRow:
    row: int
    identifier: str
    point: int
    quantity: int  # 0: not given (suggested from the sales rate)


@dataclass(slots=True)
class ParsedFile:
    source: str
    encoding: str = ""
    delimiter: str = ""
    columns: dict[str, str] = field(default_factory=dict)  # role → header as written
    rows: list[FileRow] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


def _plain(name: str) -> str:
    """A header as compared: no accents, no case, single spaces."""
    decomposed = unicodedata.normalize("NFKD", name.strip().casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.replace("°", "").split())


def _units(text: str) -> int:
    """A whole, non-negative number of units ("5", "5,0", " 12 "); raises ValueError why not."""
    try:
        value = parse_quantity(text, None)
    except ValueError:
        raise ValueError("not a number") from None
    if value != value.to_integral_value():
        raise ValueError("not a whole number of units")
    if value < 0:
        raise ValueError("below zero")
    if value > MAX_UNITS:
        raise ValueError("out of range (more than a million units)")
    return int(value)


def parse_reorder_file(data: bytes, source: str) -> ParsedFile:
    """Rows and rejected rows of a reorder file; raises ReorderFileError for a useless file."""
    result = ParsedFile(source)
    try:
        text, result.encoding = decode(data, None)
    except (UnicodeError, LookupError) as err:
        raise ReorderFileError(f"{source}: cannot decode the file: {err}") from err
    text = text.lstrip("\ufeff")
    if "\x00" in text:
        raise ReorderFileError(f"{source}: the file holds binary data, not a CSV file")
    first_line = text.split("\n", 1)[0]
    if not first_line.strip():
        raise ReorderFileError(f"{source}: the file is empty or has no header line")
    result.delimiter = sniff_delimiter(first_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=result.delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except (StopIteration, csv.Error) as err:
        raise ReorderFileError(f"{source}: row 1: no readable header line: {err}") from err
    plain = {_plain(h): i for i, h in reversed(list(enumerate(header)))}
    index: dict[str, int] = {}
    for role, names in COLUMNS.items():
        for name in names:
            if name in plain:
                index[role] = plain[name]
                result.columns[role] = header[plain[name]]
                break
    missing = [role for role in REQUIRED if role not in index]
    if missing:
        raise ReorderFileError(
            f"{source}: row 1: the header {header[:6]!r} has no column for "
            f"{' and '.join(missing)}; name the columns sku;point;quantity "
            "(or Référence;Seuil;Quantité)"
        )
    seen: dict[str, int] = {}
    row_number = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            row_number += 1
            result.rejections.append(
                Rejection(CHANNEL, source, row_number, "", "", f"broken CSV row: {err}")
            )
            continue
        row_number += 1
        if not any(cell.strip() for cell in row):
            continue

        def cell(role: str, row: list[str] = row) -> str:
            i = index.get(role)
            return row[i].strip() if i is not None and i < len(row) else ""

        def reject(role: str, value: str, reason: str, row_number: int = row_number) -> None:
            column = result.columns.get(role, role)
            result.rejections.append(Rejection(CHANNEL, source, row_number, column, value, reason))

        identifier = cell("sku")
        if not identifier:
            reject("sku", "", "no SKU or barcode on this row")
            continue
        raw_point = cell("point")
        if not raw_point:
            reject("point", "", "no reorder point on this row")
            continue
        try:
            point = _units(raw_point)
        except ValueError as err:
            reject("point", raw_point, f"reorder point {err}")
            continue
        raw_quantity = cell("quantity")
        try:
            quantity = _units(raw_quantity) if raw_quantity else 0
        except ValueError as err:
            reject("quantity", raw_quantity, f"quantity {err}")
            continue
        if identifier in seen:
            reject("sku", identifier, f"{identifier!r} is already on row {seen[identifier]}")
            continue
        seen[identifier] = row_number
        result.rows.append(FileRow(row_number, identifier, point, quantity))
    return result


class ImportStore(StockInStore, ReportReads, Protocol):
    """What an import needs: identifiers resolved to SKUs, the points stored."""


@dataclass(slots=True)
class ImportResult:
    file: str
    parsed: ParsedFile
    imported: list[ReorderPoint] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    config_wins: list[str] = field(default_factory=list)  # SKUs the config sets too
    replaced: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "encoding": self.parsed.encoding,
            "delimiter": self.parsed.delimiter,
            "columns": self.parsed.columns,
            "imported": [
                {"sku": p.sku, "point": p.point, "quantity": p.quantity or None}
                for p in self.imported
            ],
            "rejected": [
                {
                    "file": r.source,
                    "row": r.row,
                    "column": r.column,
                    "value": r.value,
                    "reason": r.reason,
                }
                for r in self.rejections
            ],
            "config_wins": self.config_wins,
            "replaced": self.replaced,
        }


async def import_reorder_file(
    store: ImportStore,
    path: Path,
    *,
    config_skus: set[str] | frozenset[str] = frozenset(),
    replace: bool = False,
) -> ImportResult:
    """Read ``path`` and store its good rows (barcodes and aliases resolved to SKUs; an unknown
    one is rejected). ``replace``: the file is the whole list, earlier imported points go.
    ``config_skus``: SKUs the config sets a point or quantity for; it wins, and the result says so.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as err:
        raise ReorderFileError(f"cannot read {path}: {err.strerror or err}") from err
    if len(data) > MAX_BYTES:
        raise ReorderFileError(f"{path}: larger than {MAX_BYTES // (1024 * 1024)} MB")
    parsed = parse_reorder_file(data, path.name)
    result = ImportResult(str(path), parsed, rejections=list(parsed.rejections), replaced=replace)
    known = await store.resolve_identifiers([r.identifier for r in parsed.rows])
    by_sku: dict[str, FileRow] = {}
    column = parsed.columns.get("sku", "sku")
    for row in parsed.rows:
        sku = known.get(row.identifier)
        if sku is None:
            reason = f"{row.identifier!r} is not a known SKU, barcode or alias"
        elif sku in by_sku:
            reason = f"{row.identifier!r} is SKU {sku}, already on row {by_sku[sku].row}"
        else:
            by_sku[sku] = row
            continue
        result.rejections.append(
            Rejection(CHANNEL, parsed.source, row.row, column, row.identifier, reason)
        )
    result.rejections.sort(key=lambda r: r.row or 0)
    result.imported = [
        ReorderPoint(sku, row.point, row.quantity, parsed.source)
        for sku, row in sorted(by_sku.items())
    ]
    if result.imported or replace:
        await store.save_reorder_points(result.imported, replace=replace)
    result.config_wins = sorted(s for s in by_sku if s in config_skus)
    return result
