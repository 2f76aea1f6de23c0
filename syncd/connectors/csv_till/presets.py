"""Known till export layouts, by header name (see shared/reference/connector-apis.md §3)."""

from __future__ import annotations

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
        return bool(self.signature) and all(s.lower() in lowered for s in self.signature)


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
    "generic_fr": Preset(
        name="generic_fr",
        columns={
            "date": ("Date",),
            "receipt": ("Ticket", "N° ticket", "Numéro de ticket"),
            "sku": ("Référence", "Reference", "Code article"),
            "barcode": ("Code-barres", "EAN"),
            "name": ("Désignation", "Libellé"),
            "quantity": ("Quantité", "Qté"),
            "type": ("Type",),
            "status": ("Statut", "État"),
        },
        signature=("Date", "Ticket", "Référence", "Quantité"),
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
        return max(candidates, key=lambda p: len(p.signature))
    generic = PRESETS["generic"]
    if {"sku", "quantity"} <= set(generic.resolve(header)):
        return generic
    return None
