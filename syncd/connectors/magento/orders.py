"""Magento orders as stock: which lines move stock, and how many of their units are in effect.

Magento keeps an order line per product it sold, plus a parent line per configurable or bundle.
Only the leaves hold stock, but the shipped and cancelled figures sit on whichever line *ships*:
``Magento\\Sales\\Model\\Order\\Item::isDummy(true)`` makes the parent ship for a configurable
(always) and for a bundle shipped together (``shipment_type`` 0), the children for a bundle
shipped separately (1); ``Item::cancel()`` sets ``qty_canceled = getQtyToCancel()``, which is
0 on a line that is a dummy for shipment. MSI gives the units back by the same rule
(``Magento\\InventorySales\\Model\\GetItemsToCancelFromOrderItem``: a configurable's child from
its parent's figures; a bundle shipped together from the parent's ``qty_shipped`` × the
selection's quantity). Observed on 2.4.7-p3: a cancelled or shipped configurable carries
``qty_canceled`` / ``qty_shipped`` on the parent only; ``qty_refunded`` is on both lines.

So a leaf's figure is its own where it has one, else its parent's scaled by the leaf's share
(child ``qty_ordered`` / parent ``qty_ordered``: 1 for a configurable, the selection quantity for
a bundle). The REST answer does not say ``shipment_type``; it does not need to: the line that
ships is the one with the figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from syncd.domain import Document, DocumentKind
from syncd.exceptions import ParseError
from syncd.ledger.store import to_us

MAGENTO_TIME = "%Y-%m-%d %H:%M:%S"
# Orders in these states hold no stock any more (shipped, refunded or cancelled).
CLOSED_STATES = ("complete", "closed", "canceled")
# Line types that hold stock. Magento saves a grouped product's simple lines with product_type
# "grouped" (comment in InventorySales' DeductSourceItemQuantityOnRefundPlugin::isValidItem).
STOCK_TYPES = ("simple", "virtual", "downloadable", "grouped")


@dataclass(frozen=True, slots=True)
class StockLine:
    """An order line that holds stock, with the figures in effect for it."""

    sku: str
    name: str
    item_id: str
    ordered: float
    canceled: float
    shipped: float
    refunded: float

    @property
    def open(self) -> int:
        """Units Magento still reserves for it (placed, not shipped, cancelled or refunded).

        A credit memo takes unshipped units first (InventorySales' ProcessRefundItems: the part
        beyond what was deducted from a source), so refunded and shipped units never overlap
        while some are unshipped."""
        return max(0, round(self.ordered - self.canceled - self.shipped - self.refunded))


def _figure(value: Any) -> float:
    if value is None or value == "":
        return 0.0
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError) as err:
        raise ParseError(f"Magento sent a quantity {value!r:.80} that is not a number") from err
    if number != number or number in (float("inf"), float("-inf")):
        raise ParseError(f"Magento sent a quantity {value!r:.80} that is not a number")
    return number


def stock_lines(items: list[dict[str, Any]], *, count_parents: bool = False) -> list[StockLine]:
    """The lines of an order that move stock, with their cancelled, shipped and refunded
    figures taken from their parent where Magento keeps them there (module docstring).

    ``count_parents`` counts every line on its own figures (a shop whose parents hold stock)."""
    # Compared as text: ids are numbers or strings, and a broken one is never unhashable.
    by_id = {str(i.get("item_id")): i for i in items}
    parents = {str(i.get("parent_item_id")) for i in items if i.get("parent_item_id")}
    out: list[StockLine] = []
    for item in items:
        if not count_parents and (
            str(item.get("item_id")) in parents
            or str(item.get("product_type", "simple")) not in STOCK_TYPES
        ):
            continue
        ordered = _figure(item.get("qty_ordered"))
        own = {f: _figure(item.get(f"qty_{f}")) for f in ("canceled", "shipped", "refunded")}
        parent = by_id.get(str(item.get("parent_item_id"))) if item.get("parent_item_id") else None
        if parent is not None and not count_parents:
            parent_ordered = _figure(parent.get("qty_ordered"))
            share = ordered / parent_ordered if parent_ordered > 0 else 0.0
            for f, value in own.items():
                if not value:
                    own[f] = min(ordered, _figure(parent.get(f"qty_{f}")) * share)
        out.append(
            StockLine(
                sku=str(item.get("sku") or "").strip(),
                name=str(item.get("name", ""))[:200],
                item_id=str(item.get("item_id"))[:40],
                ordered=ordered,
                canceled=own["canceled"],
                shipped=own["shipped"],
                refunded=own["refunded"],
            )
        )
    return out


def order_items(order: Mapping[str, Any], order_id: str) -> list[dict[str, Any]]:
    items = order.get("items")
    items = [] if items is None else items  # "" or {} are not "no items": quarantined
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ParseError(f"Magento order {order_id}: items are not a list of objects")
    return items


def magento_time(value: Any, what: str) -> datetime:
    """A Magento time (UTC wall time); ParseError if it is not one the ledger can hold."""
    try:
        when = datetime.strptime(str(value), MAGENTO_TIME).replace(tzinfo=UTC)
        to_us(when)
    except (ValueError, OverflowError) as err:
        raise ParseError(f"Magento sent {what} = {value!r:.80}, not YYYY-MM-DD HH:MM:SS") from err
    return when


def is_time(value: Any) -> bool:
    try:
        magento_time(value, "")
    except ParseError:
        return False
    return True


def order_document(
    order: Mapping[str, Any],
    *,
    channel: str,
    count_parents: bool,
    refund_returns_stock: bool,
    admin_order_url: str,
    location: str = "",
) -> Document:
    """One Magento order as the ledger's document: per SKU, the units it keeps from stock.

    Units kept = ordered − cancelled, less the refunded ones only with ``refund_returns_stock``.
    A credit memo puts units back only for the lines named in its ``return_to_stock_items``
    (SalesInventory's CreditmemoDocumentFactoryPlugin marks them ``back_to_stock``; for a
    configurable that is the child line: the parent's id is accepted and returns nothing;
    InventorySales' ProcessRefundItems then returns shipped units to the source and drops the
    reservation of unshipped ones). Any other refunded unit stays sold: an unshipped one is
    deducted from the source with its reservation (DeductSourceItemQuantityOnRefund). Magento
    keeps no trace of that choice: ``back_to_stock`` is set on the credit memo item in memory and
    never saved (``sales_creditmemo_item`` has no such column; ``qty_returned`` belongs to
    Commerce's RMA), and the credit memo, the order and its history answer the same either way
    (observed on 2.4.7-p3). A credit memo made in the admin ticks "Return to Stock" per line,
    unticked unless ``cataloginventory/item_options/auto_return`` is on (off by default). So
    the default is Magento's: refunded units stay sold; a shop that returns every refunded unit
    sets ``refund_returns_stock = true``."""
    order_id = str(order.get("entity_id") or "").strip()
    if not order_id:
        raise ParseError("Magento sent an order without an entity_id", channel=channel)
    state = str(order.get("state", ""))
    lines: dict[str, int] = {}
    names: dict[str, str] = {}
    for line in stock_lines(order_items(order, order_id), count_parents=count_parents):
        if not line.sku:  # never skipped: the units would vanish from the ledger unseen
            raise ParseError(f"Magento order {order_id}: item {line.item_id} has no SKU")
        kept = line.ordered - line.canceled
        if refund_returns_stock:
            kept -= line.refunded
        lines[line.sku] = lines.get(line.sku, 0) + max(0, round(kept))
        names.setdefault(line.sku, line.name)
    updated = str(order.get("updated_at") or order.get("created_at") or "1970-01-02 00:00:00")
    created = str(order.get("created_at") or updated)
    url = admin_order_url.replace("{id}", order_id) if admin_order_url else ""
    document = Document(
        channel=channel,
        doc_id=order_id,
        kind=DocumentKind.WEB_ORDER,
        lines=lines,
        occurred_at=magento_time(created, "created_at"),
        version=to_us(magento_time(updated, "updated_at")),
        reference=str(order.get("increment_id") or order_id),
        cancelled=state == "canceled",
        names=names,
        url=url,
        location=location,  # a channel told each source apart (sources.py)
    )
    problems = document.validate()  # the ledger would refuse it: say why, here
    if problems:
        raise ParseError(f"Magento order {order_id}: {'; '.join(problems)}")
    return document


def held_by(orders: list[dict[str, Any]], held: dict[str, int], *, count_parents: bool) -> None:
    """Add to ``held`` (per SKU) the units these open orders still reserve: ordered − shipped −
    cancelled − refunded on each stock line, with a configurable's figures from its parent (a
    shipped configurable unit is off the source already and must not be held again)."""
    for order in orders:
        if str(order.get("state", "")) in CLOSED_STATES:
            continue
        items = order.get("items") or []
        if not isinstance(items, list):
            continue
        try:
            lines = stock_lines(
                [i for i in items if isinstance(i, dict)], count_parents=count_parents
            )
        except ParseError:
            continue  # quarantined when pulled; it holds nothing we can count
        for line in lines:
            if line.sku and line.open > 0:
                held[line.sku] = held.get(line.sku, 0) + line.open
