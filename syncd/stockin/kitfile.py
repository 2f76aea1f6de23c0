"""Kit definition files (CSV) → kits, and every row that cannot be used. Pure: bytes in, values out.

One row per component: ``kit;component;quantity`` (``GIFTBOX;MUG-01;1``), in the layouts the
other stock files use: ``;`` or ``,``, UTF-8 (with or without a BOM) or cp1252, French or English
column names (``Kit;Composant;Quantité``). The rows of a kit are its whole definition.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from syncd.csvcells import decode, parse_quantity
from syncd.domain import kit_problems
from syncd.stockin.notes import normalise

MAX_UNITS = 10_000
HEADERS: dict[str, tuple[str, ...]] = {
    "kit": (
        "kit",
        "kit sku",
        "sku kit",
        "pack",
        "bundle",
        "lot",
        "coffret",
        "reference kit",
        "ref kit",
        "reference du kit",
        "reference pack",
    ),
    "component": (
        "component",
        "component sku",
        "composant",
        "reference composant",
        "ref composant",
        "article",
        "produit",
        "item",
        "sku",
        "reference",
    ),
    "quantity": (
        "quantity",
        "qty",
        "units",
        "quantite",
        "qte",
        "nombre",
        "unites",
        "quantite par kit",
        "quantity per kit",
    ),
}


@dataclass(frozen=True, slots=True)
class KitRowProblem:
    row: int  # 1-based line of the file
    column: str
    value: str
    reason: str


@dataclass(slots=True)
class KitFile:
    kits: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[KitRowProblem] = field(default_factory=list)
    unreadable: str = ""  # why nothing could be read (no header); empty when it was read
    encoding: str = ""
    delimiter: str = ""


def read_kit_file(data: bytes, encoding: str | None = None) -> KitFile:
    """The kits a file defines; a bad row is reported and never stops the others."""
    result = KitFile()
    text, result.encoding = decode(data, encoding)
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip()), "")
    counts = {d: first.count(d) for d in (";", ",", "\t")}
    result.delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ";"
    records = list(csv.reader(io.StringIO(text), delimiter=result.delimiter))
    header_at = -1
    columns: dict[str, int] = {}
    for index, record in enumerate(records[:10]):
        names = [normalise(c) for c in record]
        found: dict[str, int] = {}
        for role, aliases in HEADERS.items():
            for i, name in enumerate(names):
                if name in aliases and i not in found.values():
                    found[role] = i
                    break
        if len(found) == 3:
            header_at, columns = index, found
            break
    if header_at < 0:
        result.unreadable = (
            "no header line with a kit, a component and a quantity column "
            "(kit;component;quantity or Kit;Composant;Quantité)"
        )
        return result
    header = records[header_at]
    for index, record in enumerate(records[header_at + 1 :], start=header_at + 2):
        if not any(cell.strip() for cell in record):
            continue
        cells = {role: record[i].strip() if i < len(record) else "" for role, i in columns.items()}
        kit, component, raw = cells["kit"], cells["component"], cells["quantity"]
        if not kit:
            result.problems.append(KitRowProblem(index, header[columns["kit"]], kit, "no kit SKU"))
            continue
        if not component:
            result.problems.append(
                KitRowProblem(index, header[columns["component"]], component, "no component SKU")
            )
            continue
        try:
            number = parse_quantity(raw, None)
        except ValueError:
            number = None
        if number is None or number != int(number) or not 1 <= number <= MAX_UNITS:
            result.problems.append(
                KitRowProblem(
                    index,
                    header[columns["quantity"]],
                    raw,
                    f"not a whole number of units from 1 to {MAX_UNITS}",
                )
            )
            continue
        parts = result.kits.setdefault(kit, {})
        parts[component] = parts.get(component, 0) + int(number)
    return result


def file_problems(kits: dict[str, dict[str, int]]) -> list[str]:
    """Definitions that cannot stand together (a kit of kits, a kit holding itself)."""
    return kit_problems(kits)
