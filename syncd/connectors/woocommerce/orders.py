"""WooCommerce orders as stock: how many units of each line an order holds out of stock.

WooCommerce keeps the answer itself, per line item, in the item meta ``_reduced_stock``
(``includes/wc-stock-functions.php``), and the REST API shows it in the line's ``meta_data``:

- ``wc_maybe_reduce_stock_levels`` runs on ``woocommerce_payment_complete`` (``set_paid``) and on
  the statuses processing, completed and on-hold, once per order (the order's stock_reduced
  flag); ``wc_reduce_stock_levels`` lowers each line's product by its quantity and writes
  ``_reduced_stock = quantity`` on the line, skipping a product that does not manage stock;
- ``wc_maybe_increase_stock_levels`` runs on cancelled, pending and (since 11.0) failed, only for
  an order that reduced stock; ``wc_increase_stock_levels`` gives back ``_reduced_stock`` and
  deletes the meta;
- ``wc_restock_refunded_items`` (``includes/wc-order-functions.php``; called by
  ``wc_create_refund`` when ``restock_items``, i.e. the REST refund's ``api_restock``, is true)
  gives back the refunded units and lowers ``_reduced_stock`` by them;
- the "refunded" status has no stock hook (``wc_order_fully_refunded`` creates a refund without
  line items), and trashing or deleting an order calls none of these.

So a line's units in effect are its ``_reduced_stock`` when the meta is there. Without it, either
stock was never taken or was given back (0), or WooCommerce does not count this product (it
does not manage stock, or the shop's stock management is off): then the sale still happened,
and it is booked in full while the order is in a status that takes stock (processing,
completed, on-hold), else 0. Editing a line's quantity through REST moves no stock and leaves
``_reduced_stock`` as it was: the meta keeps following what the shop really did.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from syncd.domain import Document, DocumentKind
from syncd.exceptions import ParseError
from syncd.ledger.store import to_us

# Statuses on which WooCommerce takes an order's stock (wc_maybe_reduce_stock_levels hooks).
TAKES_STOCK = frozenset({"processing", "completed", "on-hold"})
# Statuses that give it back (wc_maybe_increase_stock_levels hooks); "failed" since 11.0.
GIVES_BACK = frozenset({"cancelled", "pending", "failed"})
# An order that ends as one of these is reported as cancelled (movements web_cancel).
CANCELLED = frozenset({"cancelled", "failed"})
# Never stock: the block checkout's draft, before the customer places the order.
NEVER = frozenset({"checkout-draft"})
UNMAPPED_PREFIX = "woocommerce:"
GMT = "%Y-%m-%dT%H:%M:%S"


def unmapped(product_id: int, variation_id: int) -> str:
    """What a line without a SKU is kept under (the Unknown products page)."""
    return f"{UNMAPPED_PREFIX}{product_id}:{variation_id}"


def gmt(value: Any, what: str) -> datetime:
    """A WooCommerce ``*_gmt`` field (``2026-11-26T22:55:42``, UTC without an offset)."""
    try:
        return datetime.strptime(str(value)[:19], GMT).replace(tzinfo=UTC)
    except ValueError as err:
        raise ParseError(f"{what} {value!r} is not a WooCommerce GMT time") from err


def whole(value: Any, what: str) -> int:
    """A count WooCommerce sends as a number or a numeric string ("2", 2, 2.0)."""
    try:
        number = float(str(value).strip())
    except ValueError as err:
        raise ParseError(f"{what} {value!r} is not a number") from err
    if number != int(number):
        raise ParseError(f"{what} {value!r} is not a whole number")
    return int(number)


def reduced_stock(item: Mapping[str, Any]) -> int | None:
    """The line's ``_reduced_stock`` meta, or None when WooCommerce holds none for it."""
    meta = item.get("meta_data")
    for entry in meta if isinstance(meta, list) else []:
        if isinstance(entry, Mapping) and entry.get("key") == "_reduced_stock":
            value = entry.get("value")
            if value in (None, ""):
                return None
            return whole(value, "_reduced_stock")
    return None


def line_units(item: Mapping[str, Any], status: str) -> int:
    """Units of one line item the order holds out of stock (see the module docstring)."""
    held = reduced_stock(item)
    if held is not None:
        return max(0, held)
    if status in TAKES_STOCK:
        return max(0, whole(item.get("quantity", 0), "quantity"))
    return 0


def order_document(
    order: Mapping[str, Any],
    *,
    channel: str,
    sku_field: str = "sku",
    admin_order_url: str = "",
) -> Document | None:
    """The document of one order (None: an order that never holds stock, a checkout draft)."""
    order_id = str(order.get("id") or "").strip()
    if not order_id:
        raise ParseError("WooCommerce sent an order without an id", channel=channel)
    status = str(order.get("status") or "")
    if status in NEVER:
        return None
    items = order.get("line_items")
    if not isinstance(items, list):
        raise ParseError(f"WooCommerce order {order_id}: no line_items list", channel=channel)
    lines: dict[str, int] = {}
    names: dict[str, str] = {}
    for item in items:
        if not isinstance(item, Mapping):
            raise ParseError(f"WooCommerce order {order_id}: a line is not an object")
        product_id = whole(item.get("product_id") or 0, "product_id")
        variation_id = whole(item.get("variation_id") or 0, "variation_id")
        sku = str(item.get(sku_field) or "").strip() or unmapped(product_id, variation_id)
        lines[sku] = lines.get(sku, 0) + line_units(item, status)
        names.setdefault(sku, str(item.get("name") or "")[:200])
    modified = order.get("date_modified_gmt") or order.get("date_created_gmt")
    created = order.get("date_created_gmt") or modified
    document = Document(
        channel=channel,
        doc_id=order_id,
        kind=DocumentKind.WEB_ORDER,
        lines=lines,
        occurred_at=gmt(created, "date_created_gmt"),
        version=to_us(gmt(modified, "date_modified_gmt")),
        reference=str(order.get("number") or order_id),
        cancelled=status in CANCELLED,
        names=names,
        url=admin_order_url.replace("{id}", order_id) if admin_order_url else "",
    )
    problems = document.validate()
    if problems:
        raise ParseError(f"WooCommerce order {order_id}: {'; '.join(problems)}", channel=channel)
    return document
