"""Known till export layouts, by header name (see shared/reference/connector-apis.md §3)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

ROLES = (
    "sku",
    "barcode",
    "token",
    "quantity",
    "receipt",
    "line",
    "date",
    "time",
    "type",
    "status",
    "name",
)


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    columns: Mapping[str, tuple[str, ...]]  # role → header names that may hold it
    signature: tuple[str, ...] = ()  # headers that identify this layout
    # roles that must be found under one of their names too (a layout whose tills name a
    # column in several ways: the French SKU is "Référence", "Code article", "Code"…)
    signature_roles: tuple[str, ...] = ()
    required: tuple[str, ...] = ("quantity",)
    sku_fallbacks: tuple[str, ...] = ()
    refund_values: frozenset[str] = frozenset()
    cancelled_values: frozenset[str] = frozenset()
    decimal_comma: bool | None = None
    date_format: str | None = None
    refund_separate: bool = False  # refund rows share the sale's receipt id: keep them apart
    overridable: bool = False

    def resolve(
        self, header: list[str], overrides: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """role → the header name present in this file."""
        lowered = {h.lower(): h for h in header}
        found: dict[str, str] = {}
        for role, names in self.columns.items():
            for candidate in names:
                if candidate.lower() in lowered:
                    found[role] = lowered[candidate.lower()]
                    break
        for role, name in (overrides or {}).items():
            if name.lower() in lowered:
                found[role] = lowered[name.lower()]
        return found

    def matches(self, header: list[str]) -> bool:
        lowered = {h.lower() for h in header}
        if not self.signature or not all(s.lower() in lowered for s in self.signature):
            return False
        found = self.resolve(header)
        return all(
            role in found or (role == "sku" and any(f in found for f in self.sku_fallbacks))
            for role in self.signature_roles
        )

    @property
    def specificity(self) -> int:
        return len(self.signature) + len(self.signature_roles)


PRESETS: dict[str, Preset] = {
    "square_items": Preset(
        name="square_items",
        columns={
            "date": ("Date",),
            "time": ("Time",),
            "name": ("Item",),
            "quantity": ("Qty",),
            "sku": ("SKU",),
            "barcode": ("GTIN",),
            "token": ("Token",),
            "receipt": ("Transaction ID",),
            "type": ("Event Type",),
        },
        signature=("Date", "Time", "Item", "Qty", "Transaction ID", "Event Type"),
        sku_fallbacks=("barcode", "token"),
        refund_values=frozenset({"refund"}),
        decimal_comma=False,
        date_format="%Y-%m-%d %H:%M:%S",
        refund_separate=True,
    ),
    "loyverse_receipts_by_item": Preset(
        name="loyverse_receipts_by_item",
        columns={
            "date": ("Date",),
            "receipt": ("Receipt number",),
            "type": ("Receipt type",),
            "sku": ("SKU",),
            "name": ("Item", "Item name"),
            "quantity": ("Quantity",),
            "status": ("Status",),
        },
        signature=("Receipt number", "Receipt type", "SKU", "Quantity"),
        refund_values=frozenset({"refund"}),
        cancelled_values=frozenset({"cancelled", "canceled", "voided"}),
        decimal_comma=False,
    ),
    "sumup_sales_de": Preset(
        name="sumup_sales_de",
        columns={
            "date": ("Datum",),
            "type": ("Typ",),
            "receipt": ("Transaktionsnummer",),
            "quantity": ("Menge",),
            "name": ("Beschreibung",),
            "sku": ("Sku", "SKU"),
        },
        signature=("Datum", "Typ", "Transaktionsnummer", "Menge"),
        refund_values=frozenset({"refund", "rückerstattung", "erstattung"}),
        date_format="%d.%m.%Y, %H:%M",
        refund_separate=True,
    ),
    # No French till publishes its export (connector-apis.md §3.4): these are the names French
    # back offices and spreadsheets give these columns; a bare "Code" is the item code on a
    # ticket line ("Ticket;Date;Code;Désignation;Quantité", issue 21), tried last.
    "generic_fr": Preset(
        name="generic_fr",
        columns={
            "date": ("Date", "Date de vente", "Date ticket", "Date du ticket"),
            "time": ("Heure",),
            "receipt": (
                "Ticket",
                "N° ticket",
                "N° de ticket",
                "Numéro de ticket",
                "Numéro ticket",
                "No ticket",
            ),
            "sku": (
                "Référence",
                "Reference",
                "Référence article",
                "Réf.",
                "Réf",
                "Ref",
                "Code article",
                "Code produit",
                "Code",
            ),
            "barcode": ("Code-barres", "Code barres", "Code barre", "EAN", "EAN13", "GTIN"),
            "name": ("Désignation", "Libellé", "Article", "Produit"),
            "quantity": ("Quantité", "Quantite", "Qté", "Qte"),
            "type": ("Type",),
            "status": ("Statut", "État"),
        },
        signature=("Date",),
        signature_roles=("receipt", "sku", "quantity"),
        sku_fallbacks=("barcode",),
        refund_values=frozenset({"remboursement", "retour", "avoir"}),
        cancelled_values=frozenset({"annulé", "annule", "annulée"}),
        decimal_comma=True,
    ),
    "generic": Preset(
        name="generic",
        columns={
            "sku": ("sku",),
            "barcode": ("barcode", "ean", "gtin"),
            "quantity": ("quantity", "qty"),
            "receipt": ("receipt", "receipt_id", "transaction"),
            "date": ("date", "datetime"),
            "type": ("type",),
            "status": ("status",),
            "name": ("name", "item"),
        },
        sku_fallbacks=("barcode",),
        refund_values=frozenset({"refund", "return"}),
        cancelled_values=frozenset({"cancelled", "canceled", "voided", "void"}),
        overridable=True,
    ),
}


def detect_preset(header: list[str]) -> Preset | None:
    """The preset whose signature columns are all in the header (the most specific one)."""
    candidates = [p for p in PRESETS.values() if p.matches(header)]
    if candidates:
        return max(candidates, key=lambda p: p.specificity)
    generic = PRESETS["generic"]
    if {"sku", "quantity"} <= set(generic.resolve(header)):
        return generic
    return None


# The names any layout gives each role, for guessing a mapping when no layout matches.
_ROLE_NAMES: dict[str, list[str]] = {}
for _preset in PRESETS.values():
    for _role, _names in _preset.columns.items():
        _ROLE_NAMES.setdefault(_role, []).extend(n.lower() for n in _names)


def guess_columns(header: list[str]) -> dict[str, str]:
    """role → the header that most likely holds it (a name a layout gives that role, else a
    close one: "Qty." for qty), for the mapping shown when no layout matches; roles it cannot
    place are left out."""
    free = [h for h in header if h]
    guessed: dict[str, str] = {}
    for role in ("sku", "quantity", "receipt", "date", "time", "name", "barcode", "type"):
        names = [role, *_ROLE_NAMES.get(role, [])]
        lowered = {h.lower(): h for h in free}
        pick = next((lowered[n] for n in names if n in lowered), None)
        if pick is None:
            scored = [
                (difflib.SequenceMatcher(None, h, n).ratio(), h) for h in lowered for n in names
            ]
            best = max(scored, default=(0.0, ""))
            pick = lowered[best[1]] if best[0] >= 0.75 else None
        if pick is not None:
            guessed[role] = pick
            free.remove(pick)
    return guessed


def toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def columns_snippet(header: list[str], channel: str = "till") -> str:
    """The TOML that maps this file's columns: what to add to the till's table in the config."""
    guessed = guess_columns(header)
    guessed.setdefault("sku", "…")
    guessed.setdefault("quantity", "…")
    pairs = ", ".join(f"{role} = {toml_string(name)}" for role, name in guessed.items())
    return f"[channels.{channel}]\ncolumns = {{ {pairs} }}"
