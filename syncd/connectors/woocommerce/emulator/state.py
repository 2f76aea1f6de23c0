"""The shop a WooCommerce emulator serves: products, variations, orders, refunds and webhooks,
following WooCommerce 11's stock rules (``includes/wc-stock-functions.php``,
``includes/wc-order-functions.php``; see ``syncd/connectors/woocommerce/orders.py``), as observed
on the real 11.0.1: stock taken once when an order becomes processing, completed or on-hold or is
paid, given back on cancelled, pending and failed (only what was taken), nothing on refunded,
trash or delete; a refund's line items given back unless ``api_restock`` is false; an order
created through REST never checked against stock; a ``stock_quantity`` write to a product that
does not manage stock ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

GMT = "%Y-%m-%dT%H:%M:%S"
PARIS = ZoneInfo("Europe/Paris")
TAKES_STOCK = ("processing", "completed", "on-hold")
GIVES_BACK = ("cancelled", "pending", "failed")
STATUSES = (
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "checkout-draft",
    "trash",
)


class ShopError(Exception):
    """A REST error as WordPress answers it: {"code","message","data":{"status"}}."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "data": {"status": self.status}}


def now_gmt() -> str:
    return datetime.now(UTC).strftime(GMT)


def local(value: str | None) -> str | None:
    """The shop-local twin of a GMT time (the emulated shop is in Europe/Paris, as the real
    test shop)."""
    if value is None:
        return None
    moment = datetime.strptime(value, GMT).replace(tzinfo=UTC)
    return moment.astimezone(PARIS).strftime(GMT)


@dataclass
class Webhook:
    id: int
    topic: str
    delivery_url: str
    secret: str
    status: str = "active"


@dataclass
class Delivery:
    """A queued webhook delivery (WooCommerce queues them in Action Scheduler, one pending per
    webhook and resource: later changes of the same order merge into it)."""

    webhook: Webhook
    resource_id: int
    topic: str
    due: float  # loop time


@dataclass
class WooCommerceEmulator:
    """The state of one emulated shop. Every id comes from one counter (WordPress posts)."""

    products: dict[int, dict[str, Any]] = field(default_factory=dict)
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    webhooks: dict[int, Webhook] = field(default_factory=dict)
    queue: list[Delivery] = field(default_factory=list)
    write_log: list[tuple[float, str, int]] = field(default_factory=list)
    on_write: Callable[[str, int], None] | None = None
    on_event: Callable[[str, int], None] | None = None  # topic, resource id (webhooks)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(10))
    _items: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def _next(self) -> int:
        return next(self._ids)

    # -- catalogue -----------------------------------------------------------------------------

    def add_product(
        self,
        sku: str,
        quantity: int | None = 0,
        *,
        name: str = "",
        manage_stock: bool = True,
        global_unique_id: str = "",
        variations: Mapping[str, int | None] | None = None,
    ) -> int:
        """A simple product, or (``variations``: SKU → quantity) a variable one."""
        pid = self._next()
        stamp = now_gmt()
        product: dict[str, Any] = {
            "id": pid,
            "name": name or sku,
            "type": "variable" if variations is not None else "simple",
            "status": "publish",
            "parent_id": 0,
            "sku": sku,
            "global_unique_id": global_unique_id,
            "manage_stock": manage_stock if variations is None else False,
            "stock_quantity": quantity if manage_stock and variations is None else None,
            "date_created_gmt": stamp,
            "date_modified_gmt": stamp,
            "variations": [],
            "price": "10",
        }
        self.products[pid] = product
        for vsku, vqty in (variations or {}).items():
            self.add_variation(pid, vsku, vqty)
        return pid

    def add_variation(
        self, parent: int, sku: str, quantity: int | None, *, manage_stock: bool | str = True
    ) -> int:
        vid = self._next()
        stamp = now_gmt()
        self.products[vid] = {
            "id": vid,
            "name": sku.rsplit("-", 1)[-1],
            "type": "variation",
            "status": "publish",
            "parent_id": parent,
            "sku": sku,
            "global_unique_id": "",
            "manage_stock": manage_stock,
            "stock_quantity": quantity if manage_stock is True else None,
            "date_created_gmt": stamp,
            "date_modified_gmt": stamp,
            "variations": [],
            "price": "10",
        }
        self.products[parent]["variations"].append(vid)
        return vid

    def by_sku(self, sku: str) -> dict[str, Any] | None:
        for product in self.products.values():
            if product["sku"] == sku:
                return product
        return None

    def quantity(self, sku: str) -> int | None:
        product = self.by_sku(sku)
        return None if product is None else product["stock_quantity"]

    def touch(self, product: dict[str, Any]) -> None:
        product["date_modified_gmt"] = now_gmt()
        self._event("product.updated", product["parent_id"] or product["id"])

    def set_stock(self, product: dict[str, Any], quantity: int, *, record: bool = True) -> None:
        """An absolute write (REST ``stock_quantity``): ignored when the product does not manage
        its stock (WC_Product_Data_Store_CPT reads the stock only when managing; observed 200)."""
        if product["manage_stock"] is not True:
            return
        product["stock_quantity"] = quantity
        self.touch(product)
        if record and self.on_write is not None:
            self.on_write(product["sku"], quantity)

    def _change_stock(self, product: dict[str, Any], delta: int) -> None:
        """wc_update_product_stock(…, 'increase'|'decrease'): relative, no floor."""
        product["stock_quantity"] = int(product["stock_quantity"] or 0) + delta
        self.touch(product)

    # -- orders --------------------------------------------------------------------------------

    def create_order(
        self,
        lines: Iterable[tuple[int, int, int]],  # (product_id, variation_id, quantity)
        *,
        status: str = "pending",
        set_paid: bool = False,
    ) -> dict[str, Any]:
        oid = self._next()
        stamp = now_gmt()
        items = []
        for product_id, variation_id, qty in lines:
            product = self.products.get(variation_id or product_id)
            if product is None or (variation_id and product["parent_id"] != product_id):
                raise ShopError(400, "woocommerce_rest_invalid_product_id", "Invalid product ID.")
            items.append(
                {
                    "id": next(self._items),
                    "name": product["name"],
                    "product_id": product_id,
                    "variation_id": variation_id,
                    "quantity": qty,
                    "sku": product["sku"],
                    "global_unique_id": product["global_unique_id"],
                    "meta": {},
                    "price": float(product["price"]),
                }
            )
        order: dict[str, Any] = {
            "id": oid,
            "status": "pending",
            "date_created_gmt": stamp,
            "date_modified_gmt": stamp,
            "date_paid_gmt": None,
            "line_items": items,
            "refunds": [],
            "stock_reduced": False,
        }
        self.orders[oid] = order
        self._event("order.created", oid)
        if set_paid:
            self.pay(order)
        if status != "pending":
            self.set_status(order, status)
        return order

    def order(self, oid: int) -> dict[str, Any]:
        order = self.orders.get(oid)
        if order is None:
            raise ShopError(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        return order

    def _modified(self, order: dict[str, Any]) -> None:
        order["date_modified_gmt"] = now_gmt()
        self._event("order.updated", order["id"])

    def pay(self, order: dict[str, Any]) -> None:
        """set_paid: WC_Order::payment_complete → woocommerce_payment_complete → reduce."""
        order["date_paid_gmt"] = now_gmt()
        if order["status"] in ("pending", "failed", "on-hold", "cancelled"):
            order["status"] = "processing"
        self._maybe_reduce(order)
        self._modified(order)

    def set_status(self, order: dict[str, Any], status: str) -> None:
        if status not in STATUSES:
            raise ShopError(400, "rest_invalid_param", "Invalid parameter(s): status")
        if status == order["status"]:
            return
        order["status"] = status
        if status in TAKES_STOCK:
            self._maybe_reduce(order)
        elif status in GIVES_BACK:
            self._maybe_increase(order)
        self._modified(order)

    def _maybe_reduce(self, order: dict[str, Any]) -> None:
        """wc_maybe_reduce_stock_levels + wc_reduce_stock_levels."""
        if order["stock_reduced"]:
            return
        for item in order["line_items"]:
            product = self.products.get(item["variation_id"] or item["product_id"])
            if "_reduced_stock" in item["meta"] or product is None:
                continue
            if product["manage_stock"] is not True:
                continue
            self._change_stock(product, -item["quantity"])
            item["meta"]["_reduced_stock"] = item["quantity"]
        order["stock_reduced"] = True

    def _maybe_increase(self, order: dict[str, Any]) -> None:
        """wc_maybe_increase_stock_levels + wc_increase_stock_levels: only what was taken."""
        if not order["stock_reduced"]:
            return
        for item in order["line_items"]:
            product = self.products.get(item["variation_id"] or item["product_id"])
            held = item["meta"].get("_reduced_stock")
            if not held or product is None or product["manage_stock"] is not True:
                continue
            self._change_stock(product, int(held))
            del item["meta"]["_reduced_stock"]
        order["stock_reduced"] = False

    def refund(
        self, order: dict[str, Any], lines: Mapping[int, int], *, restock: bool, amount: str = "0"
    ) -> dict[str, Any]:
        """wc_create_refund; with restock_items, wc_restock_refunded_items."""
        by_id = {item["id"]: item for item in order["line_items"]}
        for item_id in lines:
            if item_id not in by_id:
                raise ShopError(
                    500, "woocommerce_rest_cannot_create_order_refund", "Invalid line item."
                )
        rid = self._next()
        if restock:
            for item_id, qty in lines.items():
                item = by_id[item_id]
                product = self.products.get(item["variation_id"] or item["product_id"])
                held = int(item["meta"].get("_reduced_stock") or 0)
                if not held or not qty or product is None or product["manage_stock"] is not True:
                    continue
                self._change_stock(product, qty)
                item["meta"]["_reduced_stock"] = held - qty
                item["meta"]["_restock_refunded_items"] = (
                    int(item["meta"].get("_restock_refunded_items") or 0) + qty
                )
        refund = {
            "id": rid,
            "date_created_gmt": now_gmt(),
            "amount": amount,
            "reason": "",
            "refunded_payment": False,
            "line_items": [
                {
                    "id": next(self._items),
                    "name": by_id[i]["name"],
                    "product_id": by_id[i]["product_id"],
                    "variation_id": by_id[i]["variation_id"],
                    "quantity": -q,
                    "sku": by_id[i]["sku"],
                    "meta_data": [
                        {"id": 1, "key": "_refunded_item_id", "value": str(i)},
                    ],
                }
                for i, q in lines.items()
            ],
        }
        order["refunds"].append(refund)
        self._modified(order)
        return refund

    def trash(self, order: dict[str, Any]) -> None:
        """DELETE without force: the order goes to the trash; no stock hook runs."""
        order["previous_status"] = order["status"]
        order["status"] = "trash"
        self._modified(order)

    def delete(self, oid: int) -> None:
        """DELETE with force=true: gone; no stock moves (wc_delete_order_item…: no stock hook)."""
        self.orders.pop(oid, None)

    # -- webhooks ------------------------------------------------------------------------------

    def _event(self, topic: str, resource_id: int) -> None:
        if self.on_event is not None:
            self.on_event(topic, resource_id)


def signature(secret: str, body: bytes) -> str:
    """WC_Webhook::generate_signature: base64 of the raw HMAC-SHA256 of the body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def order_json(order: Mapping[str, Any], base: str) -> dict[str, Any]:
    """An order as GET /wc/v3/orders/<id> answers it (the fields a connector reads, and the
    shapes around them)."""
    total = sum(i["price"] * i["quantity"] for i in order["line_items"])
    return {
        "id": order["id"],
        "parent_id": 0,
        "status": order["status"],
        "currency": "EUR",
        "version": "11.0.1",
        "prices_include_tax": False,
        "date_created": local(order["date_created_gmt"]),
        "date_modified": local(order["date_modified_gmt"]),
        "discount_total": "0.00",
        "discount_tax": "0.00",
        "shipping_total": "0.00",
        "shipping_tax": "0.00",
        "cart_tax": "0.00",
        "total": f"{total:.2f}",
        "total_tax": "0.00",
        "customer_id": 0,
        "order_key": f"wc_order_{order['id']:013d}",
        "billing": {},
        "shipping": {},
        "payment_method": "",
        "payment_method_title": "",
        "transaction_id": "",
        "created_via": "rest-api",
        "customer_note": "",
        "date_completed": None,
        "date_paid": local(order["date_paid_gmt"]),
        "cart_hash": "",
        "number": str(order["id"]),
        "meta_data": [],
        "line_items": [
            {
                "id": item["id"],
                "name": item["name"],
                "product_id": item["product_id"],
                "variation_id": item["variation_id"],
                "quantity": item["quantity"],
                "tax_class": "",
                "subtotal": f"{item['price'] * item['quantity']:.2f}",
                "subtotal_tax": "0.00",
                "total": f"{item['price'] * item['quantity']:.2f}",
                "total_tax": "0.00",
                "taxes": [],
                "meta_data": [
                    {
                        "id": n + 1,
                        "key": key,
                        "value": str(value),
                        "display_key": key,
                        "display_value": str(value),
                    }
                    for n, (key, value) in enumerate(item["meta"].items())
                ],
                "sku": item["sku"],
                "global_unique_id": item["global_unique_id"],
                "price": item["price"],
                "image": {"id": "", "src": ""},
                "parent_name": None,
            }
            for item in order["line_items"]
        ],
        "tax_lines": [],
        "shipping_lines": [],
        "fee_lines": [],
        "coupon_lines": [],
        "refunds": [
            {"id": r["id"], "reason": r["reason"], "total": f"-{float(r['amount']):.2f}"}
            for r in order["refunds"]
        ],
        "payment_url": f"{base}/checkout/order-pay/{order['id']}/",
        "is_editable": order["status"] in ("pending", "on-hold", "checkout-draft"),
        "needs_payment": order["status"] == "pending",
        "needs_processing": True,
        "date_created_gmt": order["date_created_gmt"],
        "date_modified_gmt": order["date_modified_gmt"],
        "date_completed_gmt": None,
        "date_paid_gmt": order["date_paid_gmt"],
        "currency_symbol": "€",
        "_links": {
            "self": [{"href": f"{base}/wp-json/wc/v3/orders/{order['id']}"}],
            "collection": [{"href": f"{base}/wp-json/wc/v3/orders"}],
        },
    }


def product_json(product: Mapping[str, Any], base: str) -> dict[str, Any]:
    """A product or variation as the products (or variations) endpoint answers it."""
    pid = product["id"]
    manages = product["manage_stock"]
    quantity = product["stock_quantity"]
    in_stock = manages is not True or (quantity or 0) > 0
    out: dict[str, Any] = {
        "id": pid,
        "name": product["name"],
        "slug": str(product["name"]).lower().replace(" ", "-"),
        "permalink": f"{base}/product/{pid}/",
        "date_created": local(product["date_created_gmt"]),
        "date_created_gmt": product["date_created_gmt"],
        "date_modified": local(product["date_modified_gmt"]),
        "date_modified_gmt": product["date_modified_gmt"],
        "type": product["type"],
        "status": product["status"],
        "sku": product["sku"],
        "global_unique_id": product["global_unique_id"],
        "price": product["price"],
        "regular_price": product["price"],
        "sale_price": "",
        "manage_stock": manages,
        "stock_quantity": quantity,
        "stock_status": "instock" if in_stock else "outofstock",
        "backorders": "no",
        "backorders_allowed": False,
        "backordered": False,
        "low_stock_amount": None,
        "parent_id": product["parent_id"],
        "meta_data": [],
    }
    if product["type"] == "variation":
        del out["slug"]  # a variation has none (observed)
        out["attributes"] = [{"id": 0, "name": "Size", "slug": "size", "option": product["name"]}]
        out["_links"] = {
            "self": [
                {"href": f"{base}/wp-json/wc/v3/products/{product['parent_id']}/variations/{pid}"}
            ],
            "collection": [
                {"href": f"{base}/wp-json/wc/v3/products/{product['parent_id']}/variations"}
            ],
            "up": [{"href": f"{base}/wp-json/wc/v3/products/{product['parent_id']}"}],
        }
    else:
        out["variations"] = list(product["variations"])
        out["attributes"] = []
        out["_links"] = {
            "self": [{"href": f"{base}/wp-json/wc/v3/products/{pid}"}],
            "collection": [{"href": f"{base}/wp-json/wc/v3/products"}],
        }
    return out


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()
