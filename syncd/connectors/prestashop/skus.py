"""Which SKU a PrestaShop stock row (product, combination) stands for: one rule for orders,
pushes and whole-catalogue reads; plus the webservice's value shapes (numbers, languages)."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The placeholders a `combination_sku` pattern may use.
PATTERN_FIELDS = ("reference", "ean13", "id_product", "id_product_attribute")
UNMAPPED_PREFIX = "prestashop:"  # identifier of a row no rule maps: prestashop:PRODUCT:COMBINATION


def unmapped(id_product: int, id_product_attribute: int) -> str:
    """The identifier a row without a SKU is kept under (Unknown products page, [mapping])."""
    return f"{UNMAPPED_PREFIX}{id_product}:{id_product_attribute}"


@dataclass(frozen=True, slots=True)
class SkuRule:
    """How a (product, combination) gets its SKU; see the connector's docstring."""

    sku_field: str = "reference"  # reference | ean13
    pattern: str = ""  # e.g. "{reference}-{id_product_attribute}"; "" = no pattern
    mapping: Mapping[tuple[int, int], str] = field(default_factory=dict)  # (P, A) → SKU

    def sku(
        self,
        id_product: int,
        id_product_attribute: int,
        product: Mapping[str, Any] | None,
        combination: Mapping[str, Any] | None = None,
    ) -> str:
        """The SKU of one stock row, or "" when nothing maps it (never its product's SKU for a
        combination: that would merge variants)."""
        explicit = self.mapping.get((id_product, id_product_attribute))
        if explicit:
            return explicit
        own = str((product or {}).get(self.sku_field) or "").strip()
        if not id_product_attribute:
            return own
        if combination is None:
            return ""
        ref = str(combination.get("reference") or "").strip()
        ean = str(combination.get("ean13") or "").strip()
        product_ref = str((product or {}).get("reference") or "").strip()
        product_ean = str((product or {}).get("ean13") or "").strip()
        if self.sku_field == "reference":
            if ref and ref != product_ref:
                return ref
            if ean and ean != product_ean:
                return ean
        elif ean and ean != product_ean:
            return ean
        if self.pattern:
            values = {
                "reference": product_ref,
                "ean13": product_ean,
                "id_product": str(id_product),
                "id_product_attribute": str(id_product_attribute),
            }
            if all(values[name] for name in pattern_fields(self.pattern)):
                return self.pattern.format(**values)
        return ""

    def ids_in(self, sku: str) -> tuple[int, int] | None:
        """(product, combination) ids a SKU names by the pattern or the mapping (a hint the
        caller checks against the catalogue), else None."""
        for ids, mapped in self.mapping.items():
            if mapped == sku:
                return ids
        if not self.pattern or "{id_product_attribute}" not in self.pattern:
            return None
        regex = ""
        named: set[str] = set()
        for literal, name, _, _ in string.Formatter().parse(self.pattern):
            regex += re.escape(literal)
            if name is None:
                continue
            if not name.startswith("id_"):
                regex += "(?:.+?)"
            elif name in named:
                regex += f"(?P={name})"
            else:
                named.add(name)
                regex += rf"(?P<{name}>\d+)"
        match = re.fullmatch(regex, sku)
        if match is None:
            return None
        groups = match.groupdict()
        if "id_product" in groups:
            return int(groups["id_product"]), int(groups["id_product_attribute"])
        return 0, int(groups["id_product_attribute"])


def pattern_fields(pattern: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None]


def pattern_problem(pattern: str) -> str:
    """Why a `combination_sku` pattern is unusable, or ""."""
    try:
        names = pattern_fields(pattern)
    except ValueError as err:
        return f"{pattern!r} is not a pattern: {err}"
    unknown = [n for n in names if n not in PATTERN_FIELDS]
    if unknown:
        return f"unknown placeholder(s) {', '.join(unknown)} (known: {', '.join(PATTERN_FIELDS)})"
    if "id_product_attribute" not in names:
        return "must contain {id_product_attribute}, or every combination gets the same SKU"
    return ""


def parse_mapping(raw: Mapping[str, str]) -> tuple[dict[tuple[int, int], str], list[str]]:
    """``{"12:34" = "SKU"}`` (or ``"prestashop:12:34"``, the Unknown products identifier)."""
    out: dict[tuple[int, int], str] = {}
    bad: list[str] = []
    for key, sku in raw.items():
        match = re.fullmatch(r"(?:prestashop:)?(\d+):(\d+)", key.strip())
        if match is None or not sku.strip():
            bad.append(key)
            continue
        out[(int(match[1]), int(match[2]))] = sku.strip()
    return out, bad
