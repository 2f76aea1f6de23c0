"""Delivery notes and count files (CSV) → the lines to book, and every row that cannot be. Pure:
bytes in, values out.

A supplier's note comes in the layouts the till reader already understands (``;`` or ``,``,
cp1252 or UTF-8 with or without a BOM, decimal comma, French or English column names), often with
a few lines above the table ("Fournisseur;Acme", "Bon de livraison;BL-2291"), a totals row below
it, empty lines and trailing separators. Columns are found by name (``--columns`` names them when
a file uses others); a bad row never stops the others and becomes a
:class:`~syncd.domain.Rejection` naming the file, the row, the column, the value and the reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from syncd.csvcells import decode, parse_quantity, parse_when
from syncd.domain import STOCK_CHANNEL, Rejection

MAX_QUANTITY = 1_000_000
HEADER_SEARCH_ROWS = 30  # the table's header may follow a few lines about the note
DELIMITERS = (";", ",", "\t", "|")
KINDS = ("receipt", "count")

# Column names, compared once normalised (accents, case and punctuation dropped: "Qté." = "qte",
# "Code-barres" = "code barres", "N° BL" = "n bl"). Earlier names win when a file has several:
# a note with "Qté commandée" and "Qté livrée" books what was delivered.
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "sku": (
        "sku",
        "reference",
        "ref",
        "reference article",
        "ref article",
        "code article",
        "code",
        "item code",
        "article code",
        "product code",
        "code produit",
    ),
    "barcode": (
        "ean",
        "ean13",
        "ean 13",
        "barcode",
        "bar code",
        "code barres",
        "code barre",
        "gencod",
        "gencode",
        "gtin",
        "upc",
    ),
    "quantity": (
        "quantity delivered",
        "delivered quantity",
        "qty delivered",
        "delivered",
        "quantite livree",
        "qte livree",
        "livre",
        "quantity counted",
        "counted quantity",
        "qty counted",
        "counted",
        "quantite comptee",
        "qte comptee",
        "compte",
        "quantity",
        "qty",
        "quantite",
        "quantites",
        "qte",
    ),
    "supplier": ("supplier", "fournisseur", "vendor", "supplier name", "nom du fournisseur"),
    "delivery_note": (
        "delivery note",
        "delivery note number",
        "delivery note no",
        "note number",
        "bon de livraison",
        "numero de bon de livraison",
        "n bon de livraison",
        "numero bl",
        "numero de bl",
        "num bl",
        "n bl",
        "no bl",
        "bl",
    ),
    "counted_at": (
        "counted at",
        "counted on",
        "date time",
        "datetime",
        "timestamp",
        "horodatage",
        "compte le",
        "date du comptage",
        "date comptage",
        "date",
    ),
    "time": ("time", "heure"),
    "name": (
        "name",
        "product name",
        "product",
        "item",
        "description",
        "designation",
        "libelle",
        "produit",
        "article",
        "nom",
    ),
}
# What `--columns` accepts besides the roles themselves.
ROLE_ALIASES = {
    "reference": "sku",
    "ean": "barcode",
    "qty": "quantity",
    "note": "delivery_note",
    "note_number": "delivery_note",
    "date": "counted_at",
}
# Columns each kind of file reads (a delivery note's date is not a count's time).
_ROLES_OF = {
    "receipt": ("sku", "barcode", "quantity", "supplier", "delivery_note", "name"),
    "count": ("sku", "barcode", "quantity", "counted_at", "time", "name"),
}
_COUNT_ONLY_QUANTITY = ("stock", "stock compte", "stock reel", "inventaire", "inventory")
_TOTAL = re.compile(
    r"^(sous[ -]?totale?s?|sub[ -]?totals?|grand total|totaux|totale?s?)(\s|:|$)", re.IGNORECASE
)
_PUNCTUATION = re.compile(r"[^0-9a-z]+")
_SCIENTIFIC = re.compile(r"^\d+([.,]\d+)?[eE]\+?\d+$")  # "4,00E+12": an EAN Excel rounded


def normalise(name: str) -> str:
    """A column name as compared: no accents, case or punctuation ("N° BL" → "n bl")."""
    text = unicodedata.normalize("NFKD", name.replace("°", " ").replace("º", " "))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return _PUNCTUATION.sub(" ", text).strip()


@dataclass(frozen=True, slots=True)
class StockRow:
    """A usable row: its identifiers (SKU first, then barcode) and its whole quantity."""

    row: int
    identifiers: tuple[str, ...]
    quantity: int
    at: datetime | None = None  # count files: when this line was counted (UTC)
    name: str = ""

    @property
    def identifier(self) -> str:
        return self.identifiers[0]


@dataclass(slots=True)
class StockFile:
    """What a delivery note or a count file holds."""

    source: str  # the file's name, as rejections and reports name it
    kind: str
    sha256: str = ""
    encoding: str = ""
    delimiter: str = ""
    header_row: int = 0
    columns: dict[str, str] = field(default_factory=dict)  # role → header name
    rows: list[StockRow] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    ignored: list[tuple[int, str]] = field(default_factory=list)  # (row, why): totals, repeats
    named: set[str] = field(default_factory=set)  # every identifier a row gives, refused or not
    suppliers: list[str] = field(default_factory=list)
    delivery_notes: list[str] = field(default_factory=list)
    unreadable: str = ""  # nothing of the file could be read: why

    @property
    def ok(self) -> bool:
        return not self.unreadable

    @property
    def supplier(self) -> str:
        return ", ".join(self.suppliers)

    @property
    def delivery_note(self) -> str:
        return ", ".join(self.delivery_notes)

    def where(self, row: int) -> str:
        return f"{self.source} row {row}"

    def column(self, role: str) -> str:
        return self.columns.get(role, role)


def parse_columns(text: str) -> dict[str, str]:
    """``--columns sku=Ref. fournisseur,quantity=Qté`` → role → header name; ValueError names
    what is wrong."""
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        role, eq, name = part.partition("=")
        role = role.strip().lower().replace("-", "_")
        role = ROLE_ALIASES.get(role, role)
        if not eq or not name.strip():
            raise ValueError(f"{part.strip()!r} is not ROLE=COLUMN (e.g. sku=Référence)")
        if role not in COLUMN_NAMES:
            known = ", ".join(sorted(COLUMN_NAMES))
            raise ValueError(f"unknown column role {role!r}; known: {known}")
        out[role] = name.strip()
    if not out:
        raise ValueError("no column given (e.g. sku=Référence,quantity=Qté)")
    return out


def read_stock_file(
    data: bytes,
    source: str,
    *,
    kind: str,
    columns: Mapping[str, str] | None = None,
    timezone: str = "Europe/Paris",
    today: date | None = None,
) -> StockFile:
    """Read a delivery note (``kind="receipt"``) or a count file (``kind="count"``).

    Never raises for bad content: rows become rejections, and a file that cannot be read at all
    says why in ``unreadable``. ``columns`` names the header of a role (``--columns``);
    ``timezone`` is the shop's, for a count file's local times; ``today`` (in that zone) completes
    a time given without a date.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    result = StockFile(source=source, kind=kind, sha256=hashlib.sha256(data).hexdigest())
    text = _text(data, result)
    if text is None:
        return result
    overrides = dict(columns or {})
    found = _find_header(text, kind, overrides)
    if isinstance(found, str):
        result.unreadable = found
        return result
    delimiter, header_index, header, resolved = found
    result.delimiter = delimiter
    result.columns = {role: header[i] for role, i in resolved.items()}
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError, OSError):  # OSError: "Europe", a folder, with tzdata
        zone = ZoneInfo("UTC")
    _read_rows(text, result, header_index, header, resolved, zone, today)
    return result


# -- the file as text -----------------------------------------------------------------------------


def _text(data: bytes, result: StockFile) -> str | None:
    if data.startswith(b"PK\x03\x04"):
        result.unreadable = (
            "this is a spreadsheet workbook (.xlsx or .ods), not a CSV file: open it and save it"
            ' as "CSV (semicolon-separated)" or "CSV UTF-8"'
        )
        return None
    if data.startswith(b"%PDF"):
        result.unreadable = "this is a PDF, not a CSV file: ask the supplier for the CSV export"
        return None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # a spreadsheet's "Unicode text"
        try:
            text, result.encoding = data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as err:
            result.unreadable = f"cannot decode the file as UTF-16: {err}"
            return None
    else:
        text, result.encoding = decode(data, None)
    text = text.lstrip("\ufeff")
    if "\x00" in text:
        if text.count("\x00") > len(text) // 10:
            result.unreadable = "the file holds binary data (NUL bytes), not a CSV file"
            return None
        text = text.replace("\x00", "\ufffd")  # a stray NUL spoils its row, not the file
    if not text.strip():
        result.unreadable = "the file is empty"
        return None
    return text


def _records(text: str, delimiter: str, limit: int | None = None) -> list[tuple[int, list[str]]]:
    """(line number, cells) of the first ``limit`` records; a broken one ends the list."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    out: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            out.append((reader.line_num, row))
            if limit is not None and len(out) >= limit:
                break
    except csv.Error:
        pass
    return out


# -- the header ----------------------------------------------------------------------------------


def _names_for(role: str, kind: str) -> tuple[str, ...]:
    names = COLUMN_NAMES[role]
    if role == "quantity" and kind == "count":
        names = (*names, *_COUNT_ONLY_QUANTITY)
    return names


def _resolve(header: Sequence[str], kind: str, overrides: Mapping[str, str]) -> dict[str, int]:
    """role → index of its column in ``header``."""
    position: dict[str, int] = {}
    for i, cell in enumerate(header):
        position.setdefault(normalise(cell), i)
    for i, cell in enumerate(header):  # "BL n°", "N° de bon de livraison"
        position.setdefault(_unnumbered(normalise(cell)), i)
    found: dict[str, int] = {}
    for role in _ROLES_OF[kind]:
        for name in _names_for(role, kind):
            if name in position and position[name] not in found.values():
                found[role] = position[name]
                break
    for role, name in overrides.items():
        key = normalise(name)
        if key in position:
            for other, index in list(found.items()):
                if index == position[key] and other != role:
                    del found[other]  # the column named for this role is not also another's
            found[role] = position[key]
    return found


_NUMBER_WORDS = frozenset({"n", "no", "nr", "num", "numero", "number", "de", "du", "of"})


def _unnumbered(key: str) -> str:
    """A name without the "n°", "numéro", "no." around it ("bon de livraison n" → "bon de
    livraison"); the name itself when nothing else is left ("numero")."""
    words = key.split()
    while words and words[-1] in _NUMBER_WORDS:
        words.pop()
    while words and words[0] in _NUMBER_WORDS:
        words.pop(0)
    return " ".join(words) or key


def _is_header(
    resolved: Mapping[str, int], header: Sequence[str], overrides: Mapping[str, str]
) -> bool:
    named = {normalise(c) for c in header}
    if any(normalise(name) not in named for name in overrides.values()):
        return False
    return "quantity" in resolved and ("sku" in resolved or "barcode" in resolved)


def _find_header(
    text: str, kind: str, overrides: Mapping[str, str]
) -> tuple[str, int, list[str], dict[str, int]] | str:
    """(delimiter, index of the header record, header, role → column), or why none was found."""
    best: tuple[int, int, str, list[str], dict[str, int]] | None = None
    for delimiter in DELIMITERS:
        for index, (_, row) in enumerate(_records(text, delimiter, HEADER_SEARCH_ROWS)):
            cells = [c.strip() for c in row]
            resolved = _resolve(cells, kind, overrides)
            if _is_header(resolved, cells, overrides):
                width = sum(1 for c in cells if c)
                if best is None or (index, -width) < (best[0], -best[1]):
                    best = (index, width, delimiter, cells, resolved)
                break
    if best is not None:
        index, _, delimiter, cells, resolved = best
        return delimiter, index, cells, resolved
    return _no_header(text, kind, overrides)


def _no_header(text: str, kind: str, overrides: Mapping[str, str]) -> str:
    first = next((row for _, row in _records(text, ";", 50) if any(c.strip() for c in row)), [])
    line = ";".join(first)
    delimiter = max(DELIMITERS, key=line.count) if line else ";"
    cells = next(
        (
            [c.strip() for c in row]
            for _, row in _records(text, delimiter, 50)
            if any(c.strip() for c in row)
        ),
        [],
    )
    shown = ", ".join(repr(c) for c in cells[:12] if c) or "none"
    if overrides:
        missing = [f"{role}={name!r}" for role, name in overrides.items()]
        return (
            f"no header line with the columns given ({', '.join(missing)}) in the first "
            f"{HEADER_SEARCH_ROWS} lines; the first line has: {shown}"
        )
    skus = "sku, référence, reference, ref, code, code article, ean, barcode, code-barres, gencod"
    quantities = "quantity, qty, quantité, qté, qte, " + (
        "quantité livrée, delivered" if kind == "receipt" else "quantité comptée, counted, stock"
    )
    return (
        f"no header line with a SKU (or barcode) column and a quantity column in the first "
        f"{HEADER_SEARCH_ROWS} lines; columns found: {shown}. Accepted for the SKU: {skus} "
        f"(French or English, any case or accents); for the quantity: {quantities}. "
        f'Or name the columns: --columns "sku=<column>,quantity=<column>"'
    )


# -- the rows ------------------------------------------------------------------------------------


def clean_identifier(text: str) -> str:
    """A SKU or barcode as a spreadsheet may have written it: ``="0123"`` and ``'0123`` (kept
    as text) are ``0123``; surrounding spaces go."""
    value = text.strip().replace("\u00a0", " ").strip()
    if value.startswith('="') and value.endswith('"'):
        value = value[2:-1]
    if value.startswith("'"):
        value = value[1:]
    return value.strip()


def _is_total(text: str) -> bool:
    return bool(_TOTAL.match(unicodedata.normalize("NFC", text.strip())))


def _read_rows(
    text: str,
    result: StockFile,
    header_index: int,
    header: list[str],
    resolved: dict[str, int],
    zone: ZoneInfo,
    today: date | None,
) -> None:
    french = result.delimiter in (";", "\t")  # a comma in a number is its decimal separator
    normalised_header = [normalise(c) for c in header]
    width = len(header)
    while width and not header[width - 1]:
        width -= 1  # trailing separators after the header
    total_so_far = 0
    dates: dict[str, datetime | None] = {}
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=result.delimiter)
    index = -1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            index += 1
            if index > header_index:
                broken = Rejection(
                    STOCK_CHANNEL, result.source, reader.line_num, "", "", f"broken CSV row: {err}"
                )
                result.rejections.append(broken)
            continue
        index += 1
        number = reader.line_num
        if index < header_index:
            _preamble(row, result)
            continue
        if index == header_index or not any(c.strip() for c in row):
            continue
        if [normalise(c) for c in row[:width]] == normalised_header[:width]:
            result.ignored.append((number, "the header, repeated"))
            continue

        def cell(role: str, row: list[str] = row) -> str:
            i = resolved.get(role)
            return row[i].strip() if i is not None and i < len(row) else ""

        def reject(role: str, value: str, reason: str, number: int = number) -> None:
            column = result.columns.get(role, "")
            result.rejections.append(
                Rejection(STOCK_CHANNEL, result.source, number, column, value, reason)
            )

        sku, barcode = clean_identifier(cell("sku")), clean_identifier(cell("barcode"))
        identifiers = tuple(dict.fromkeys(i for i in (sku, barcode) if i))
        raw_qty = cell("quantity")
        if _is_total(sku) or (not identifiers and any(_is_total(c) for c in row)):
            result.ignored.append((number, "a totals row"))
            continue
        result.named.update(identifiers)
        extra = [c for c in row[width:] if c.strip()]
        if extra:
            hint = (
                " (a decimal comma in a comma-separated file?)" if result.delimiter == "," else ""
            )
            reject("quantity", raw_qty, f"the row has {len(row)} fields, the header {width}{hint}")
            continue
        if not identifiers:
            if not raw_qty:
                result.ignored.append((number, "no SKU and no quantity: not a line"))
                continue
            qty = _whole(raw_qty, french)
            if qty is not None and qty == total_so_far and total_so_far:
                result.ignored.append((number, "a totals row"))
                continue
            reject("sku", "", "no SKU or barcode on this row")
            continue
        rounded = next((i for i in identifiers if _SCIENTIFIC.match(i)), "")
        if rounded:
            role = "sku" if rounded == sku else "barcode"
            reject(
                role,
                rounded,
                f"{rounded!r} is a code a spreadsheet turned into a rounded number: format the"
                " column as text and export the file again",
            )
            continue
        if not raw_qty:
            reject("quantity", "", "no quantity on this row")
            continue
        try:
            number_value = _quantity(raw_qty, french)
        except ValueError:
            reject("quantity", raw_qty, f"quantity {raw_qty!r} is not a number")
            continue
        if number_value != number_value.to_integral_value():
            reject("quantity", raw_qty, f"quantity {raw_qty!r} is not a whole number of units")
            continue
        qty = int(number_value)
        if qty < 0:
            why = (
                "a delivery adds units (book a return with syncd adjust --reason supplier_return)"
                if result.kind == "receipt"
                else "a count cannot find fewer than 0 units"
            )
            reject("quantity", raw_qty, f"quantity {qty} is below zero: {why}")
            continue
        if qty > MAX_QUANTITY:
            reject("quantity", raw_qty, f"quantity {qty} is out of range (over a million units)")
            continue
        at: datetime | None = None
        if result.kind == "count" and ("counted_at" in resolved or "time" in resolved):
            when_text = " ".join(p for p in (cell("counted_at"), cell("time")) if p)
            if when_text:
                understood, at = _when(when_text, zone, today, dates)
                if not understood:
                    role = "counted_at" if cell("counted_at") else "time"
                    reject(
                        role,
                        when_text,
                        f"time {when_text!r} is not understood (write it like 2026-11-26 10:15)",
                    )
                    continue
        if result.kind == "receipt":
            for role, found in (
                ("supplier", result.suppliers),
                ("delivery_note", result.delivery_notes),
            ):
                value = cell(role)
                if value and value not in found:
                    found.append(value)
        total_so_far += qty
        result.rows.append(StockRow(number, identifiers, qty, at, cell("name")[:200]))


_THOUSANDS_DOTS = re.compile(r"^\s*[+-]?\d{1,3}(\.\d{3})+\s*$")


def _quantity(text: str, french: bool) -> Decimal:
    """A quantity as the file writes it. In a ``;`` or tab file a comma is the decimal
    separator ("3,0", "1.000,5") and dots group thousands only as "1.000" does ("3.0" is 3);
    in a ``,`` file the till reader's rule decides. ValueError when it is not a number."""
    if not french:
        return parse_quantity(text, None)
    if "," in text:
        return parse_quantity(text, True)
    return parse_quantity(text, bool(_THOUSANDS_DOTS.match(text)))


def _whole(text: str, french: bool) -> int | None:
    try:
        value = _quantity(text, french)
    except ValueError:
        return None
    return int(value) if value == value.to_integral_value() else None


def _preamble(row: list[str], result: StockFile) -> None:
    """Lines above the table: "Fournisseur;Acme", "Bon de livraison n° : BL-2291"."""
    cells = [c.strip() for c in row if c.strip()]
    if not cells:
        return
    key, value = cells[0], cells[1] if len(cells) > 1 else ""
    if not value and ":" in key:
        key, _, value = key.partition(":")
    key, value = _unnumbered(normalise(key)), value.strip()
    if not value:
        return
    if key in COLUMN_NAMES["supplier"] and value not in result.suppliers:
        result.suppliers.append(value)
    elif key in COLUMN_NAMES["delivery_note"] and value not in result.delivery_notes:
        result.delivery_notes.append(value)


_TIME_ONLY = ("%H:%M", "%H:%M:%S", "%Hh%M", "%H h %M")


def _when(
    text: str, zone: ZoneInfo, today: date | None, memo: dict[str, datetime | None]
) -> tuple[bool, datetime | None]:
    """(understood, when the count line was counted as UTC, or None: at booking)."""
    for fmt in _TIME_ONLY:
        try:
            clock = datetime.strptime(text.strip(), fmt).time()  # noqa: DTZ007 - zone below
        except ValueError:
            continue
        day = today or datetime.now(zone).date()
        return True, datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)
    found = parse_when(text, None, zone, memo)
    if found is None:
        return False, None
    if ":" in text:
        return True, found
    # A day without a time: counted at some moment of that day. Today → at booking; an earlier
    # day → at its end, so the sales made since are kept.
    day = found.astimezone(zone).date()
    if day >= (today or datetime.now(zone).date()):
        return True, None
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return True, end.astimezone(UTC)
