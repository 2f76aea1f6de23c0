"""Till CSV exports → receipts (documents) and rejected rows. Pure: bytes in, values out.

Columns are found by header name, never by position; encoding, delimiter and decimal comma are
sniffed unless set. A bad row never stops the others and is never dropped: it becomes a
:class:`~syncd.domain.Rejection` naming the file, the row, the column, the value and the reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from syncd.connectors.csv_till.presets import PRESETS, Preset, columns_snippet, detect_preset
from syncd.csvcells import decode, parse_quantity, parse_when, sniff_delimiter
from syncd.domain import Document, DocumentKind, Rejection


@dataclass(frozen=True, slots=True)
class ParseOptions:
    preset: str = "auto"
    delimiter: str | None = None
    encoding: str | None = None
    decimal_comma: bool | None = None
    date_format: str | None = None
    timezone: str = "Europe/Paris"
    columns: Mapping[str, str] = field(default_factory=dict)  # for the generic preset


@dataclass(slots=True)
class ParseResult:
    source: str
    sha256: str
    preset: str = ""
    encoding: str = ""
    delimiter: str = ""
    documents: list[Document] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    rows: int = 0  # data rows read: rows == applied + len(rejections) + skipped
    applied: int = 0  # rows that became a document line
    skipped: int = 0  # cancelled / voided rows, counted, not applied
    unreadable: str = ""  # the whole file could not be read: why
    header: list[str] = field(default_factory=list)  # the file's column names
    no_layout: bool = False  # unreadable because no layout matched: a `columns` mapping is needed

    @property
    def ok(self) -> bool:
        return not self.unreadable


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(slots=True)
class _Receipt:
    doc_id: str
    reference: str
    occurred_at: datetime
    lines: dict[str, int] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)


def parse_bytes(
    data: bytes,
    source: str,
    options: ParseOptions,
    *,
    channel: str = "till",
    fallback_time: datetime | None = None,
    row_ids: Sequence[str] | None = None,
) -> ParseResult:
    """Parse one export file. Never raises for bad content: problems become rejections.

    ``row_ids`` names data rows that carry no receipt id (row i of the data → row_ids[i]); by
    default they are named by the file's hash and their row number.
    """
    result = ParseResult(source=source, sha256=file_digest(data))
    fallback = fallback_time or datetime.now(UTC)
    try:
        zone = ZoneInfo(options.timezone)
    except (KeyError, ValueError, OSError):  # OSError: "Europe", a folder, with tzdata
        zone = ZoneInfo("UTC")
    try:
        text, result.encoding = decode(data, options.encoding)
    except (UnicodeError, LookupError) as err:  # punycode/idna raise a bare UnicodeError
        result.unreadable = f"cannot decode the file: {err}"
        return result
    text = text.lstrip("\ufeff")
    first_line = text.split("\n", 1)[0]
    if "\x00" in first_line or text.count("\x00") > len(text) // 10:
        result.unreadable = "the file holds binary data (NUL bytes), not a CSV export"
        return result
    # A stray NUL (a till crashed mid-write) spoils its row, not the file.
    text = text.replace("\x00", "\ufffd")
    if not first_line.strip():
        result.unreadable = "the file is empty or has no header line"
        return result
    result.delimiter = options.delimiter or sniff_delimiter(first_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=result.delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except (StopIteration, csv.Error) as err:
        result.unreadable = f"no readable header line: {err}"
        return result
    result.header = header
    preset = _choose_preset(header, options)
    if preset is None:
        known = ", ".join(sorted(PRESETS))
        mapping = columns_snippet(header, channel).split("\n")[1]
        shown = ", ".join(f'"{h}"' for h in header[:12]) + (", …" if len(header) > 12 else "")
        result.unreadable = (
            f"no known till export layout matches this file's columns ({shown}): say which "
            f"column holds what with a columns mapping under [channels.{channel}] in the config, "
            f"e.g. {mapping} (needed: sku or barcode, and quantity; also receipt, date, time, "
            f"name, type, status), or set preset to one of: {known}"
        )
        result.no_layout = True
        return result
    result.preset = preset.name
    columns = preset.resolve(header, options.columns)
    missing = [role for role in preset.required if role not in columns]
    if missing:
        result.unreadable = (
            f"preset {preset.name}: the header has no column for {', '.join(missing)}"
        )
        return result
    decimal_comma = (
        options.decimal_comma if options.decimal_comma is not None else preset.decimal_comma
    )
    date_format = options.date_format or preset.date_format
    receipts: dict[str, _Receipt] = {}
    dates: dict[str, datetime | None] = {}
    index = {name: i for i, name in enumerate(header)}
    row_number = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            row_number += 1
            result.rows += 1
            result.rejections.append(
                Rejection(channel, source, row_number, "", "", f"broken CSV row: {err}")
            )
            continue
        row_number += 1
        if not any(cell.strip() for cell in row):
            continue
        result.rows += 1

        def cell(role: str, row: Sequence[str] = row) -> str:
            name = columns.get(role)
            if name is None:
                return ""
            i = index[name]
            return row[i].strip() if i < len(row) else ""

        def reject(role: str, value: str, reason: str, row_number: int = row_number) -> None:
            result.rejections.append(
                Rejection(channel, source, row_number, columns.get(role, role), value, reason)
            )

        status = cell("status").lower()
        if status and status in preset.cancelled_values:
            result.skipped += 1
            continue
        if len(row) < len(header) and not cell("quantity"):
            reject("quantity", "", f"row has {len(row)} fields, the header {len(header)}")
            continue
        sku = ""
        for role in ("sku", *preset.sku_fallbacks):
            sku = cell(role)
            if sku:
                break
        if not sku:
            reject("sku", "", "no SKU, barcode or catalogue token on this row")
            continue
        raw_qty = cell("quantity")
        try:
            qty = parse_quantity(raw_qty, decimal_comma)
        except ValueError:
            reject("quantity", raw_qty, "quantity is not a number")
            continue
        if qty != qty.to_integral_value():
            reject("quantity", raw_qty, "fractional quantity; stock is counted in whole units")
            continue
        units = int(qty)
        if abs(units) > 1_000_000:
            reject("quantity", raw_qty, "quantity out of range (more than a million units)")
            continue
        kind_value = cell("type").lower()
        refund = kind_value in preset.refund_values
        if refund and units > 0:
            units = -units
        when = parse_when(
            cell("date") + (" " + cell("time") if cell("time") else ""), date_format, zone, dates
        )
        receipt_id = cell("receipt")
        if receipt_id:
            doc_id = f"{receipt_id}:refund" if refund and preset.refund_separate else receipt_id
            reference = receipt_id
        else:
            data_index = row_number - 2
            if row_ids is not None and 0 <= data_index < len(row_ids):
                doc_id = row_ids[data_index]
            else:
                doc_id = f"{result.sha256[:16]}:{row_number}"
            reference = f"{source} row {row_number}"
        receipt = receipts.get(doc_id)
        if receipt is None:
            receipt = receipts[doc_id] = _Receipt(doc_id, reference, when or fallback)
        receipt.lines[sku] = receipt.lines.get(sku, 0) + units
        result.applied += 1
        name = cell("name")
        if name:
            receipt.names.setdefault(sku, name[:200])
    for receipt in receipts.values():
        result.documents.append(
            Document(
                channel=channel,
                doc_id=receipt.doc_id,
                kind=DocumentKind.TILL_RECEIPT,
                lines=receipt.lines,
                occurred_at=receipt.occurred_at,
                reference=receipt.reference,
                names=receipt.names,
                # The file it came from: `syncd void CHANNEL FILE` voids its receipts together.
                meta={"file": source},
            )
        )
    return result


def _choose_preset(header: list[str], options: ParseOptions) -> Preset | None:
    if options.preset and options.preset != "auto":
        return PRESETS.get(options.preset)
    found = detect_preset(header)
    if found is None and options.columns:
        # no known layout, but the config says which column is which: that is enough
        generic = PRESETS["generic"]
        mapped = generic.resolve(header, options.columns)
        if "quantity" in mapped and ("sku" in mapped or "barcode" in mapped):
            return generic
    return found
