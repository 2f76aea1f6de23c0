"""Shopify orders as stock: which SKU a line is, and how many of its units are in effect.

From the Admin API 2025-01 reference (shopify.dev/docs/api/admin-graphql/2025-01/objects/LineItem,
.../objects/RefundLineItem, .../enums/RefundLineItemRestockType):
- ``LineItem.quantity`` is what was ordered; ``currentQuantity`` is "the line item's quantity,
  minus the removed quantity": what order edits took off and what refunds took off;
- a refund line's ``restockType`` says whether its units went back to stock: ``RETURN``,
  ``CANCEL`` (the units of a cancelled order refunded before fulfilment) and ``LEGACY_RESTOCK``
  did, ``NO_RESTOCK`` did not;
- cancelling an order with restock refunds what is left with ``CANCEL``: a cancelled order
  gives back exactly what Shopify restocked, with no rule of its own.

So the units in effect are ``quantity − removed by edits − refunded with restock``, that is
``currentQuantity + refunded without restock``. Fulfilment moves ``committed`` and ``on_hand``
in Shopify, never ``available``: it is not read, and never moves stock twice. Test orders
(``test: true``) are left out; draft orders are a different object (``DraftOrder``) that the
``orders`` connection never lists until one is completed into a real order.

A line's SKU is its variant's SKU (the line's own ``sku`` when the variant is gone), else the
variant's barcode; a line with neither holds no SKU we can name and quarantines its order. A
custom line item (no variant, no SKU) tracks no inventory in Shopify and moves nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from syncd.domain import Document, DocumentKind
from syncd.exceptions import ParseError
from syncd.ledger.store import to_us

RESTOCKED = frozenset({"RETURN", "CANCEL", "LEGACY_RESTOCK"})


def shopify_time(text: Any, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError as err:
        raise ParseError(f"Shopify sent a {what} {str(text)[:40]!r} that is not a time") from err
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def legacy_id(gid: Any) -> str:
    """``gid://shopify/Order/123`` → ``123``."""
    return str(gid or "").rsplit("/", 1)[-1]


def line_sku(line: Mapping[str, Any]) -> str:
    variant = line.get("variant")
    variant = variant if isinstance(variant, dict) else {}
    for value in (variant.get("sku"), line.get("sku"), variant.get("barcode")):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParseError(f"Shopify sent a {what} {value!r:.40} that is not a whole number")
    return value


def _nodes(connection: Any) -> list[dict[str, Any]]:
    if not isinstance(connection, dict):
        return []
    nodes = connection.get("nodes")
    return [n for n in nodes if isinstance(n, dict)] if isinstance(nodes, list) else []


def truncated(order: Mapping[str, Any], refunds_asked: int) -> bool:
    """True when a page did not hold all of an order's lines or refund lines."""
    pages = [order.get("lineItems")]
    refunds = order.get("refunds")
    refunds = refunds if isinstance(refunds, list) else []
    pages += [r.get("refundLineItems") for r in refunds if isinstance(r, dict)]
    more = any(
        isinstance(p, dict)
        and isinstance(p.get("pageInfo"), dict)
        and p["pageInfo"].get("hasNextPage")
        for p in pages
    )
    return more or len(refunds) >= refunds_asked


def order_location(
    order: Mapping[str, Any], locations: Mapping[str, str], first_location: str
) -> str:
    """The ledger location an order takes its units from, for a channel told each location
    apart: its first fulfilment order's assigned location (``fulfillmentOrders`` →
    ``assignedLocation.location.id``, where Shopify reserved the units) when it is a mapped one,
    else the channel's first location (a shop that gives no fulfilment orders to this app)."""
    for fulfilment in _nodes(order.get("fulfillmentOrders")):
        assigned = fulfilment.get("assignedLocation")
        place = assigned.get("location") if isinstance(assigned, dict) else None
        where = str(place.get("id") or "") if isinstance(place, dict) else ""
        if where in locations:
            return locations[where]
    return first_location


def order_document(
    order: Mapping[str, Any],
    *,
    channel: str,
    admin_order_url: str = "",
    locations: Mapping[str, str] | None = None,
    first_location: str = "",
) -> Document | None:
    """The document of one order; None for a test order. ``locations``: Shopify location →
    ledger location, for a channel told each location apart (the document then names where
    it took its units)."""
    order_id = legacy_id(order.get("id"))
    if not order_id:
        raise ParseError("Shopify sent an order without an id", channel=channel)
    if order.get("test") is True:
        return None
    lines: dict[str, int] = {}
    names: dict[str, str] = {}
    sku_of: dict[str, str] = {}
    for line in _nodes(order.get("lineItems")):
        sku = line_sku(line)
        line_id = str(line.get("id") or "")
        if not sku:
            if not line.get("variant"):
                continue  # a custom item: Shopify tracks no inventory for it
            raise ParseError(
                f"Shopify order {order_id}: line {legacy_id(line_id)} has a variant with "
                "neither SKU nor barcode",
                channel=channel,
            )
        sku_of[line_id] = sku
        current = _count(line.get("currentQuantity"), "currentQuantity")
        lines[sku] = lines.get(sku, 0) + current
        names.setdefault(sku, str(line.get("name") or ""))
    refunds = order.get("refunds")
    for refund in refunds if isinstance(refunds, list) else []:
        for row in _nodes(refund.get("refundLineItems") if isinstance(refund, dict) else None):
            if str(row.get("restockType")) in RESTOCKED:
                continue  # back in stock: currentQuantity already left it out
            item = row.get("lineItem")
            kept = sku_of.get(str(item.get("id") if isinstance(item, dict) else ""))
            if kept:  # refunded, kept by the customer: still sold
                lines[kept] += _count(row.get("quantity"), "refunded quantity")
    updated = shopify_time(order.get("updatedAt") or order.get("createdAt"), "updatedAt")
    created = shopify_time(order.get("createdAt") or order.get("updatedAt"), "createdAt")
    document = Document(
        channel=channel,
        doc_id=order_id,
        kind=DocumentKind.WEB_ORDER,
        lines={s: max(0, q) for s, q in lines.items()},
        occurred_at=created,
        version=to_us(updated),
        reference=str(order.get("name") or order_id),
        cancelled=order.get("cancelledAt") is not None,
        names=names,
        url=admin_order_url.replace("{id}", order_id) if admin_order_url else "",
        location=order_location(order, locations, first_location) if locations else "",
    )
    problems = document.validate()
    if problems:
        raise ParseError(f"Shopify order {order_id}: {'; '.join(problems)}", channel=channel)
    return document
