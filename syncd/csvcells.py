"""CSV cells: read from a till's or a supplier's file, and written so a spreadsheet opens them
as data, never as a formula (OWASP "CSV injection").

The reading helpers (encoding, delimiter, quantity, local date and time) are shared by the till
reader (:mod:`syncd.connectors.csv_till.parser`) and the stock-in files
(:mod:`syncd.stockin.notes`), so both understand the same layouts.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

# A cell starting with one of these is run as a formula by Excel, LibreOffice or Google Sheets
# (tab and CR too: some strip them and read what follows). OWASP's advice: prefix a quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A plain number ("-3", "+2", "-2.5", "-1,5") is left as it is: a spreadsheet reads it as the
# number it is and runs nothing, and a quote would turn genuine negative figures (a reconcile
# report's shows -4, a refund's quantity) into text that no longer sums. Anything else that
# starts like a formula ("-1+cmd|…", "=HYPERLINK(…)", "+-1") is neutralised, whatever column.
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")


def safe_cell(value: object) -> str:
    """``value`` as a CSV cell that cannot start a formula; None is an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return str(value)  # a number of ours, never text from outside
    text = str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def safe_row(values: list[object] | tuple[object, ...]) -> list[str]:
    return [safe_cell(v) for v in values]


# -- reading --------------------------------------------------------------------------------------


def decode(data: bytes, encoding: str | None) -> tuple[str, str]:
    """Text and the encoding used: explicit, else UTF-8 (BOM stripped), else cp1252."""
    if encoding:
        return data.decode(encoding), encoding
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; they become U+FFFD and fail that row, not the file.
        return data.decode("cp1252", errors="replace"), "cp1252"


def sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


_NUMBER = re.compile(r"^\d+([.,]\d+)?$")  # the sign is taken off first: "+-1" is refused
# Currency symbols and units before or after the number ("€3", "3 pcs"), never inside it:
# "1e400" or "2x3" must be refused, not read as 1400 or 23.
_UNITS = re.compile(r"^[^\d,.+\-(]+|[^\d,.)]+$")


def parse_quantity(text: str, decimal_comma: bool | None) -> Decimal:
    """'1', '1.0', '-2', '(2)', '1,000' (comma decimal), '€3' …; raises ValueError."""
    value = _UNITS.sub("", text.strip().replace("\u00a0", "").replace(" ", ""))
    negative = False
    if value.startswith("(") and value.endswith(")"):
        negative, value = True, _UNITS.sub("", value[1:-1])
    if value.startswith("-"):
        negative, value = not negative, value[1:]
    elif value.startswith("+"):
        value = value[1:]
    value = _UNITS.sub("", value)
    if decimal_comma is None:
        if "," in value and "." in value:  # "1.000,00" or "1,000.00": the last one is decimal
            decimal_comma = value.rfind(",") > value.rfind(".")
        else:
            decimal_comma = "," in value and not re.search(r",\d{3}$", value)
    if decimal_comma:
        value = value.replace(".", "").replace(",", ".")
    else:
        value = value.replace(",", "")
    if not value or not _NUMBER.match(value):
        raise ValueError("not a number")
    try:
        number = Decimal(value)
    except InvalidOperation as err:
        raise ValueError("not a number") from err
    return -number if negative else number


_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%d.%m.%Y, %H:%M",
    "%d.%m.%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%m/%d/%y %I:%M %p",
    "%m/%d/%Y %I:%M %p",
    "%Y-%m-%d",
)


def parse_when(
    text: str,
    date_format: str | None,
    zone: ZoneInfo,
    memo: dict[str, datetime | None] | None = None,
) -> datetime | None:
    """A till's local date and time, as UTC. ``memo`` (per file) remembers the format that
    worked and every string already seen: exports repeat both on every row."""
    text = text.strip()
    if not text:
        return None
    if memo is not None and text in memo:
        return memo[text]
    formats: tuple[str, ...] = (date_format,) if date_format else _DATE_FORMATS
    preferred: object = memo.get("\0format") if memo is not None and not date_format else None
    if isinstance(preferred, str):
        formats = (preferred, *formats)
    found: datetime | None = None
    for fmt in formats:
        try:
            naive = datetime.strptime(text, fmt)  # noqa: DTZ007 - zone applied below
        except ValueError:
            continue
        try:
            found = naive.replace(tzinfo=zone).astimezone(UTC)
        except OverflowError:  # 0001-01-01 east of UTC: before the first representable instant
            break
        if memo is not None:
            memo["\0format"] = fmt  # type: ignore[assignment]
        break
    if memo is not None:
        memo[text] = found
    return found
