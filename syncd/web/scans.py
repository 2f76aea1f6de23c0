"""The lines of a delivery or a count being scanned on the page, as plain values (no I/O).

A draft's lines are (code, quantity, first scanned at) in the order they were first scanned. Each
scan adds one unit to its code's line; the merchant may then set quantities or remove a line.
A count's scope (a SKU prefix, or a list of SKUs) says which products it covers: a product of the
scope that was not scanned is counted as 0 when the count is closed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from syncd.stockin.booking import MAX_QUANTITY

DraftLine = tuple[str, int, datetime | None]

MAX_LINES = 1000  # different codes in one draft: the quantities form stays under 64 KiB
MAX_CODE = 100
MAX_TEXT = 200
MAX_SCOPE_SKUS = 1000
_QUANTITY = re.compile(r"[+-]?\d{1,8}")
_SKU_LIST = re.compile(r"[\s,;]+")


class LineError(ValueError):
    """A line the merchant typed cannot be used; the message names it."""


def clean_code(raw: object) -> str:
    """A scanned or typed code: trimmed; "" when nothing usable was sent."""
    if not isinstance(raw, str):
        return ""
    code = raw.strip()
    if len(code) > MAX_CODE or not code.isprintable():
        return ""
    return code


def clean_text(raw: object, limit: int = MAX_TEXT) -> str:
    """A free text a person typed (supplier, note): one line, trimmed, at most ``limit``."""
    if not isinstance(raw, str):
        return ""
    text = " ".join(raw.split())
    text = "".join(c for c in text if c.isprintable())
    return text[:limit]


def parse_quantity(raw: object, *, signed: bool = False) -> int | None:
    """A whole number of units (0 to MAX_QUANTITY; ``signed``: also below 0), else None."""
    if not isinstance(raw, str) or not _QUANTITY.fullmatch(raw.strip()):
        return None
    value = int(raw.strip())
    if abs(value) > MAX_QUANTITY or (value < 0 and not signed):
        return None
    return value


def add_scan(lines: Sequence[DraftLine], code: str, at: datetime) -> tuple[DraftLine, ...]:
    """One more unit of ``code``: its line goes up by one (keeping when it was first scanned),
    or a new line is added last."""
    out = list(lines)
    for i, (key, qty, first) in enumerate(out):
        if key == code:
            out[i] = (key, min(qty + 1, MAX_QUANTITY), first)
            return tuple(out)
    if len(out) >= MAX_LINES:
        raise LineError(f"at most {MAX_LINES} different codes")
    out.append((code, 1, at))
    return tuple(out)


def set_quantities(
    lines: Sequence[DraftLine],
    quantities: Mapping[str, int],
    *,
    remove: str = "",
    drop_zero: bool,
) -> tuple[DraftLine, ...]:
    """Lines with the quantities the merchant set; lines scanned since the form was shown (not
    in ``quantities``) are kept as they are. ``drop_zero``: a delivery line set to 0 goes away
    (a count line set to 0 stays: it says "none on the shelf")."""
    out: list[DraftLine] = []
    for key, qty, first in lines:
        if key == remove:
            continue
        new = quantities.get(key, qty)
        if new == 0 and drop_zero:
            continue
        out.append((key, new, first))
    return tuple(out)


def digest(lines: Sequence[DraftLine], meta: Mapping[str, str]) -> str:
    """What a preview showed: booking checks the draft still says the same."""
    content = [[key, qty] for key, qty, _at in lines], sorted(meta.items())
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()[:24]


# -- a count's scope ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """What a count covers: everything scanned (``kind`` "all"), a SKU prefix, or a SKU list."""

    kind: str = "all"  # all | prefix | skus
    prefix: str = ""
    skus: tuple[str, ...] = ()

    def covers(self, sku: str) -> bool:
        if self.kind == "prefix":
            return sku.startswith(self.prefix)
        if self.kind == "skus":
            return sku in self.skus
        return True

    def as_meta(self) -> dict[str, str]:
        if self.kind == "prefix":
            return {"scope": "prefix", "prefix": self.prefix}
        if self.kind == "skus":
            return {"scope": "skus", "skus": json.dumps(list(self.skus))}
        return {"scope": "all"}

    @classmethod
    def from_meta(cls, meta: Mapping[str, str]) -> Scope:
        kind = meta.get("scope", "all")
        if kind == "prefix" and meta.get("prefix"):
            return cls("prefix", prefix=meta["prefix"])
        if kind == "skus":
            try:
                skus = json.loads(meta.get("skus", "[]"))
            except ValueError:
                skus = []
            return cls("skus", skus=tuple(str(s) for s in skus))
        return cls()


def split_codes(text: str) -> list[str]:
    """The codes of a typed list (one a line, or separated by spaces, commas or semicolons),
    each once, in order."""
    seen: dict[str, None] = {}
    for part in _SKU_LIST.split(text):
        code = clean_code(part)
        if code:
            seen.setdefault(code, None)
    return list(seen)
