"""CSV cells a spreadsheet opens as data, never as a formula (OWASP "CSV injection")."""

from __future__ import annotations

import re

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
