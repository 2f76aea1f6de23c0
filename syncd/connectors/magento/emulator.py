"""A Magento 2.4 REST emulator for what syncd uses (shared/reference/connector-apis.md §2).

MSI mode (default): orders append reservations and leave the source quantity alone; shipping
deducts the source and compensates the reservation; cancelling and credit memos with return to
stock compensate too; salable = source quantity + Σ reservations. Legacy mode: orders lower the
stock item's qty directly. The real `pymagento` client drives it in the tests.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from syncd.connectors.emulation import (
    CatalogItem,
    Faults,
    demo_catalog,
    install_faults,
    serve_forever,
)

DEFAULT_SOURCE = "default"


@dataclass
class Item:
    item_id: int
    sku: str
    name: str
    product_type: str
    qty_ordered: int
    parent_item_id: int | None = None
    qty_canceled: int = 0
    qty_refunded: int = 0
    qty_shipped: int = 0


@dataclass
class Order:
    entity_id: int
    increment_id: str
    state: str
    status: str
    created_at: str
    updated_at: str
    items: list[Item] = field(default_factory=list)


class MagentoEmulator:
    def __init__(self, *, msi: bool = True) -> None:
        self.msi = msi
        self.products: dict[str, dict[str, Any]] = {}  # sku → {id, name, type_id, parent}
        self.source_items: dict[tuple[str, str], dict[str, Any]] = {}  # (sku, source) → item
        self.stock_items: dict[
            str, dict[str, Any]
        ] = {}  # legacy: sku → {item_id, qty, is_in_stock}
        self.reservations: list[tuple[str, int, str]] = []  # (sku, quantity, event)
        self._reserved: dict[str, int] = {}  # sku → Σ its reservations (what salable reads)
        self.orders: dict[int, Order] = {}
        self.sources = {DEFAULT_SOURCE}
        # Called as on_write(sku, quantity) when a client writes stock (benchmarks).
        self.on_write: Callable[[str, int], None] | None = None
        self.write_log: list[tuple[float, str, int]] = []  # (time, sku, quantity), when recorded
        self.requests: list[tuple[str, str]] = []
        self._ids = {k: itertools.count(1) for k in ("product", "order", "item", "stock")}

    @staticmethod
    def now() -> str:
        return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")

    # -- catalogue -------------------------------------------------------------------------------

    def add_product(
        self, sku: str, quantity: int = 0, *, name: str = "", parent: str | None = None
    ) -> None:
        self.products[sku] = {
            "id": next(self._ids["product"]),
            "sku": sku,
            "name": name or sku,
            "type_id": "simple",
            "parent": parent,
        }
        if parent and parent not in self.products:
            self.products[parent] = {
                "id": next(self._ids["product"]),
                "sku": parent,
                "name": parent,
                "type_id": "configurable",
                "parent": None,
            }
        self.source_items[(sku, DEFAULT_SOURCE)] = {
            "sku": sku,
            "source_code": DEFAULT_SOURCE,
            "quantity": quantity,
            "status": int(quantity > 0),
        }
        self.stock_items[sku] = {
            "item_id": next(self._ids["stock"]),
            "product_id": self.products[sku]["id"],
            "stock_id": 1,
            "qty": quantity,
            "is_in_stock": quantity > 0,
            "manage_stock": True,
            "backorders": 0,
            "min_qty": 0,
        }

    def load_catalog(self, items: Iterable[CatalogItem]) -> None:
        for item in items:
            self.add_product(item.sku, item.quantity, name=item.name, parent=item.parent)

    def source_quantity(self, sku: str) -> int:
        if not self.msi:
            return int(self.stock_items[sku]["qty"])
        return int(self.source_items[(sku, DEFAULT_SOURCE)]["quantity"])

    def set_source_quantity(self, sku: str, quantity: int) -> None:
        """A hand edit in the admin."""
        if self.msi:
            self.source_items[(sku, DEFAULT_SOURCE)]["quantity"] = quantity
        else:
            self.stock_items[sku]["qty"] = quantity

    def reserved(self, sku: str) -> int:
        return self._reserved.get(sku, 0)

    def _reserve(self, sku: str, quantity: int, event: str) -> None:
        """Append a reservation (MSI's inventory_reservation row) and keep its SKU's sum."""
        self.reservations.append((sku, quantity, event))
        self._reserved[sku] = self._reserved.get(sku, 0) + quantity

    def salable(self, sku: str) -> int:
        if not self.msi:
            return int(self.stock_items[sku]["qty"])
        return self.source_quantity(sku) + self.reserved(sku)

    # -- orders ----------------------------------------------------------------------------------

    def place_order(self, lines: dict[str, int], *, configurable: bool = False) -> int:
        oid = next(self._ids["order"])
        now = self.now()
        order = Order(oid, f"{100000000 + oid}", "new", "pending", now, now)
        for sku, qty in lines.items():
            parent = self.products[sku].get("parent")
            if configurable and parent:
                parent_item = Item(
                    next(self._ids["item"]), sku, self.products[parent]["name"], "configurable", qty
                )
                order.items.append(parent_item)
                order.items.append(
                    Item(
                        next(self._ids["item"]),
                        sku,
                        self.products[sku]["name"],
                        "simple",
                        qty,
                        parent_item.item_id,
                    )
                )
            else:
                order.items.append(
                    Item(next(self._ids["item"]), sku, self.products[sku]["name"], "simple", qty)
                )
            if self.msi:
                self._reserve(sku, -qty, "order_placed")
            else:
                self.stock_items[sku]["qty"] -= qty
        self.orders[oid] = order
        return oid

    def _stock_lines(self, order: Order) -> list[Item]:
        return [i for i in order.items if i.product_type != "configurable"]

    def ship(self, order_id: int) -> None:
        order = self.orders[order_id]
        for item in self._stock_lines(order):
            open_qty = item.qty_ordered - item.qty_shipped - item.qty_canceled - item.qty_refunded
            if open_qty <= 0:
                continue
            item.qty_shipped += open_qty
            if self.msi:
                self.source_items[(item.sku, DEFAULT_SOURCE)]["quantity"] -= open_qty
                self._reserve(item.sku, open_qty, "shipment_created")
        for item in order.items:
            item.qty_shipped = max(item.qty_shipped, item.qty_ordered - item.qty_canceled)
        order.state, order.status = "complete", "complete"
        order.updated_at = self.now()

    def cancel(self, order_id: int) -> None:
        order = self.orders[order_id]
        for item in order.items:
            open_qty = item.qty_ordered - item.qty_shipped - item.qty_canceled - item.qty_refunded
            if open_qty <= 0:
                continue
            item.qty_canceled += open_qty
            if item.product_type == "configurable":
                continue
            if self.msi:
                self._reserve(item.sku, open_qty, "order_canceled")
            else:
                self.stock_items[item.sku]["qty"] += open_qty
        order.state, order.status = "canceled", "canceled"
        order.updated_at = self.now()

    def credit_memo(
        self, order_id: int, lines: dict[str, int], return_to_stock: bool = True
    ) -> None:
        order = self.orders[order_id]
        for sku, qty in lines.items():
            for item in order.items:
                if item.sku != sku:
                    continue
                item.qty_refunded += qty
                if item.product_type == "configurable" or not return_to_stock:
                    continue
                shipped_back = min(qty, item.qty_shipped)
                unshipped = qty - shipped_back
                if self.msi:
                    if shipped_back:
                        self.source_items[(sku, DEFAULT_SOURCE)]["quantity"] += shipped_back
                    if unshipped:
                        self._reserve(sku, unshipped, "creditmemo_created")
                else:
                    self.stock_items[sku]["qty"] += qty
        order.state = (
            "closed" if all(i.qty_refunded >= i.qty_ordered for i in order.items) else order.state
        )
        order.status = order.state
        order.updated_at = self.now()


# -- search criteria --------------------------------------------------------------------------------


def parse_search(
    query: dict[str, str],
) -> tuple[list[list[tuple[str, str, str]]], list[tuple[str, str]], int, int]:
    """(filter groups, sort orders, page size, current page) from searchCriteria[...] params."""
    groups: dict[int, dict[int, dict[str, str]]] = {}
    sorts: dict[int, dict[str, str]] = {}
    page_size, current = 0, 1
    for key, value in query.items():
        key = unquote(key)
        m = re.fullmatch(
            r"searchCriteria\[filter_groups\]\[(\d+)\]\[filters\]\[(\d+)\]\[(\w+)\]", key
        )
        if m:
            groups.setdefault(int(m[1]), {}).setdefault(int(m[2]), {})[m[3]] = value
            continue
        m = re.fullmatch(r"searchCriteria\[sortOrders\]\[(\d+)\]\[(\w+)\]", key)
        if m:
            sorts.setdefault(int(m[1]), {})[m[2]] = value
            continue
        if key == "searchCriteria[pageSize]":
            page_size = int(value)
        elif key == "searchCriteria[currentPage]":
            current = max(1, int(value))
    filter_groups = [
        [
            (f.get("field", ""), f.get("value", ""), f.get("condition_type", "eq"))
            for _, f in sorted(g.items())
        ]
        for _, g in sorted(groups.items())
    ]
    sort_orders = [
        (s.get("field", ""), s.get("direction", "ASC").upper()) for _, s in sorted(sorts.items())
    ]
    return filter_groups, sort_orders, page_size, current


def _cmp(a: Any, b: str) -> int:
    try:
        fa, fb = float(a), float(b)
        return (fa > fb) - (fa < fb)
    except (TypeError, ValueError):
        sa = "" if a is None else str(a)
        return (sa > b) - (sa < b)


def matches(item: dict[str, Any], field_name: str, value: str, condition: str) -> bool:
    actual = item.get(field_name)
    if condition == "eq":
        return str(actual) == value
    if condition == "neq":
        return str(actual) != value
    if condition == "gt":
        return _cmp(actual, value) > 0
    if condition in ("gteq", "moreq", "from"):
        return _cmp(actual, value) >= 0
    if condition == "lt":
        return _cmp(actual, value) < 0
    if condition in ("lteq", "to"):
        return _cmp(actual, value) <= 0
    if condition == "in":
        return str(actual) in value.split(",")
    if condition == "nin":
        return str(actual) not in value.split(",")
    if condition in ("like", "nlike"):
        pattern = "^" + re.escape(value).replace("%", ".*") + "$"
        found = re.match(pattern, str(actual or ""), re.I) is not None
        return found if condition == "like" else not found
    if condition == "null":
        return actual is None
    if condition == "notnull":
        return actual is not None
    if condition == "finset":
        return value in str(actual or "").split(",")
    raise ValueError(condition)


def search(
    items: list[Any],
    query: dict[str, str],
    render: Callable[[Any], dict[str, Any]] = dict,
) -> dict[str, Any]:
    """Magento's searchCriteria over ``items`` (rows, or objects ``render`` turns into rows).

    Filters and sorts read the rows as they are; only the page returned is copied or rendered,
    so a page costs the scan of the filters, not a copy of the whole table (100,000 SKUs)."""
    groups, sorts, page_size, current = parse_search(query)
    for group in groups:  # groups AND, filters in a group OR
        items = [i for i in items if any(matches(i, f, v, c) for f, v, c in group)]
    for field_name, direction in reversed(sorts):
        items.sort(
            key=lambda i: (
                str(i.get(field_name, "")).zfill(20)
                if str(i.get(field_name, "")).isdigit()
                else str(i.get(field_name, ""))
            ),
            reverse=direction == "DESC",
        )
    total = len(items)
    if page_size:
        last_page = max(1, -(-total // page_size))
        page = min(current, last_page)  # the quirk: a page past the end returns the last page
        items = items[(page - 1) * page_size : page * page_size]
    items = [render(i) for i in items]
    criteria: dict[str, Any] = {
        "filter_groups": [
            {"filters": [{"field": f, "value": v, "condition_type": c} for f, v, c in g]}
            for g in groups
        ]
    }
    if page_size:
        criteria["page_size"] = page_size
        criteria["current_page"] = current
    return {"items": items, "search_criteria": criteria, "total_count": total}


# -- rendering ----------------------------------------------------------------------------------


_ORDER_FIELDS = ("entity_id", "increment_id", "state", "status", "created_at", "updated_at")


class _OrderHead(dict[str, Any]):
    """An order's top-level fields, for filters and sorts, and the order to render."""

    def __init__(self, order: Order, fields: dict[str, Any]) -> None:
        super().__init__(fields)
        self.order = order


def order_json(order: Order) -> dict[str, Any]:
    items = []
    by_id = {i.item_id: i for i in order.items}
    for i in order.items:
        entry: dict[str, Any] = {
            "item_id": i.item_id,
            "order_id": order.entity_id,
            "sku": i.sku,
            "name": i.name,
            "product_type": i.product_type,
            "qty_ordered": i.qty_ordered,
            "qty_canceled": i.qty_canceled,
            "qty_refunded": i.qty_refunded,
            "qty_shipped": i.qty_shipped,
            "qty_invoiced": 0,
            "price": 0 if i.parent_item_id else 20,
            "is_virtual": 0,
            "created_at": order.created_at,
            "updated_at": order.updated_at,
        }
        if i.parent_item_id is not None:
            entry["parent_item_id"] = i.parent_item_id
            parent = by_id[i.parent_item_id]
            entry["parent_item"] = {
                "item_id": parent.item_id,
                "sku": parent.sku,
                "product_type": parent.product_type,
            }
        items.append(entry)
    return {
        "entity_id": order.entity_id,
        "increment_id": order.increment_id,
        "state": order.state,
        "status": order.status,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "items": items,
    }


# -- the HTTP app -------------------------------------------------------------------------------

EMULATOR_KEY = web.AppKey("magento_emulator", MagentoEmulator)
CONFIG_KEY = web.AppKey("magento_config", dict)


def _sku_filter(query: dict[str, str]) -> list[str] | None:
    """SKUs of a `sku` eq/in filter alone in its group, if the search has one."""
    groups, _, _, _ = parse_search(query)
    for group in groups:
        if len(group) == 1 and group[0][0] == "sku" and group[0][2] in ("eq", "in"):
            return group[0][1].split(",") if group[0][2] == "in" else [group[0][1]]
    return None


def _error(status: int, message: str, parameters: Any = None) -> web.Response:
    body: dict[str, Any] = {"message": message}
    if parameters is not None:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


def create_app(
    emulator: MagentoEmulator,
    *,
    username: str = "admin",
    password: str = "admin123",
    token_ttl_seconds: float = 14_400,
    integration_token: str | None = None,
    input_limit: bool = False,
    faults: Faults | None = None,
    seed: int | None = None,
) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[EMULATOR_KEY] = emulator
    app[CONFIG_KEY] = {
        "username": username,
        "password": password,
        "ttl": token_ttl_seconds,
        "integration_token": integration_token,
        "input_limit": input_limit,
        "tokens": {},
    }
    install_faults(app, faults, seed)
    app.router.add_post("/rest/V1/integration/admin/token", _token)
    app.router.add_post("/rest/{store}/V1/integration/admin/token", _token)
    app.router.add_route("*", "/rest/V1/{path:.*}", _api)
    app.router.add_route("*", "/rest/{store}/V1/{path:.*}", _api)
    _admin_routes(app)
    return app


async def _token(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    try:
        data = await request.json()
    except (ValueError, json.JSONDecodeError):
        return _error(400, "Request body is invalid JSON")
    if data.get("username") != config["username"] or data.get("password") != config["password"]:
        return _error(
            401,
            "The account sign-in was incorrect or your account is disabled temporarily. Please wait and try again later.",
        )
    token = secrets.token_hex(16)
    config["tokens"][token] = time.monotonic() + config["ttl"]
    return web.json_response(token)


def _authorized(request: web.Request) -> bool:
    config = request.app[CONFIG_KEY]
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return False
    token = header[7:]
    if config["integration_token"] and secrets.compare_digest(token, config["integration_token"]):
        return True
    expiry = config["tokens"].get(token)
    return expiry is not None and expiry > time.monotonic()


def expire_tokens(app: web.Application) -> None:
    """Every admin token expires now (tests of refresh)."""
    for token in app[CONFIG_KEY]["tokens"]:
        app[CONFIG_KEY]["tokens"][token] = 0.0


async def _api(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR_KEY]
    path = request.match_info["path"]
    emulator.requests.append((request.method, "/V1/" + path))
    if not _authorized(request):
        return _error(
            401,
            "The consumer isn't authorized to access %resources.",
            {"resources": "Magento_Sales::actions_view"},
        )
    query = dict(request.query)
    method = request.method
    try:
        if method == "GET" and path == "orders":
            # Filters and sorts read an order's own fields; only the page is rendered whole.
            heads = [
                _OrderHead(o, {f: getattr(o, f) for f in _ORDER_FIELDS})
                for o in emulator.orders.values()  # ids only grow: already in id order
            ]
            return web.json_response(search(heads, query, lambda h: order_json(h.order)))
        if method == "GET" and (m := re.fullmatch(r"orders/(\d+)", path)):
            order = emulator.orders.get(int(m[1]))
            if order is None:
                return _error(
                    404,
                    "The entity that was requested doesn't exist. Verify the entity and try again.",
                )
            return web.json_response(order_json(order))
        if method == "GET" and path in ("products", "products/"):
            rows = [
                {"id": p["id"], "sku": p["sku"], "name": p["name"], "type_id": p["type_id"]}
                for p in emulator.products.values()
            ]
            return web.json_response(search(rows, query))
        if method == "GET" and (m := re.fullmatch(r"products/([^/]+)", path)):
            sku = unquote(m[1])
            product = emulator.products.get(sku)
            if product is None:
                return _error(
                    404,
                    "The product that was requested doesn't exist. Verify the product and try again.",
                )
            return web.json_response(
                {
                    "id": product["id"],
                    "sku": sku,
                    "name": product["name"],
                    "type_id": product["type_id"],
                    "extension_attributes": {"stock_item": emulator.stock_items.get(sku)},
                }
            )
        if method == "GET" and (m := re.fullmatch(r"stockItems/([^/]+)", path)):
            sku = unquote(m[1])
            if sku not in emulator.stock_items:
                return _error(404, 'Product with SKU "%1" does not exist', [sku])
            return web.json_response(emulator.stock_items[sku])
        if method == "PUT" and (m := re.fullmatch(r"products/([^/]+)/stockItems/(\d+)", path)):
            sku = unquote(m[1])
            if sku not in emulator.stock_items:
                return _error(
                    404,
                    "The product that was requested doesn't exist. Verify the product and try again.",
                )
            body = (await request.json()).get("stockItem", {})
            item = emulator.stock_items[sku]
            if "qty" in body:
                item["qty"] = float(body["qty"])
                item["qty"] = int(item["qty"]) if float(item["qty"]).is_integer() else item["qty"]
                if emulator.msi:  # with MSI the legacy API writes the default source
                    emulator.source_items[(sku, DEFAULT_SOURCE)]["quantity"] = item["qty"]
            if "is_in_stock" in body:
                item["is_in_stock"] = bool(body["is_in_stock"])
            if emulator.on_write is not None:
                emulator.on_write(sku, int(item["qty"]))
            return web.json_response(item["item_id"])
        if method == "GET" and path == "inventory/sources":
            return web.json_response(
                search(
                    [
                        {"source_code": s, "name": s, "enabled": True}
                        for s in sorted(emulator.sources)
                    ],
                    query,
                )
            )
        if method == "GET" and path == "inventory/source-items":
            if not emulator.msi:
                return _error(404, "Request does not match any route.")
            return web.json_response(search(list(emulator.source_items.values()), query))
        if method == "POST" and path == "inventory/source-items":
            if not emulator.msi:
                return _error(404, "Request does not match any route.")
            items = (await request.json()).get("sourceItems", [])
            if request.app[CONFIG_KEY]["input_limit"] and len(items) > 20:
                return _error(
                    400,
                    "The number of items in the array is above the allowed maximum of %1.",
                    [20],
                )
            for entry in items:
                sku, source = entry.get("sku"), entry.get("source_code")
                if source not in emulator.sources:
                    return _error(400, 'Source "%1" does not exist.', [source])
                if sku not in emulator.products:
                    return _error(400, 'Product with SKU "%1" does not exist', [sku])
                emulator.source_items[(sku, source)] = {
                    "sku": sku,
                    "source_code": source,
                    "quantity": entry.get("quantity", 0),
                    "status": int(entry.get("status", 0)),
                }
                if emulator.on_write is not None:
                    emulator.on_write(sku, int(entry.get("quantity", 0)))
            return web.json_response([])
        if method == "GET" and (
            m := re.fullmatch(r"inventory/get-product-salable-quantity/([^/]+)/(\d+)", path)
        ):
            sku = unquote(m[1])
            if sku not in emulator.products:
                return _error(404, 'Product with SKU "%1" does not exist', [sku])
            return web.json_response(emulator.salable(sku))
    except (ValueError, KeyError, TypeError) as err:
        return _error(400, "Invalid request: %1", [str(err)])
    return _error(404, "Request does not match any route.")


def _admin_routes(app: web.Application) -> None:
    async def products(request: web.Request) -> web.Response:
        data = await request.json()
        request.app[EMULATOR_KEY].add_product(
            data["sku"],
            int(data.get("quantity", 0)),
            name=data.get("name", ""),
            parent=data.get("parent"),
        )
        return web.json_response({"ok": True})

    async def orders(request: web.Request) -> web.Response:
        data = await request.json()
        oid = request.app[EMULATOR_KEY].place_order(
            {k: int(v) for k, v in data["lines"].items()},
            configurable=bool(data.get("configurable")),
        )
        return web.json_response({"id": oid})

    async def action(request: web.Request) -> web.Response:
        emulator = request.app[EMULATOR_KEY]
        oid, what = int(request.match_info["id"]), request.match_info["action"]
        if what == "ship":
            emulator.ship(oid)
        elif what == "cancel":
            emulator.cancel(oid)
        elif what == "refund":
            data = await request.json()
            emulator.credit_memo(
                oid,
                {k: int(v) for k, v in data["lines"].items()},
                bool(data.get("return_to_stock", True)),
            )
        else:
            raise web.HTTPNotFound()
        return web.json_response({"ok": True})

    async def quantities(request: web.Request) -> web.Response:
        emulator = request.app[EMULATOR_KEY]
        if request.method == "POST":
            for sku, qty in (await request.json()).items():
                emulator.set_source_quantity(sku, int(qty))
        skus = [s for s, p in emulator.products.items() if p["type_id"] == "simple"]
        return web.json_response(
            {
                s: {"source": emulator.source_quantity(s), "salable": emulator.salable(s)}
                for s in skus
            }
        )

    app.router.add_post("/__emulator/products", products)
    app.router.add_post("/__emulator/orders", orders)
    app.router.add_post("/__emulator/orders/{id}/{action}", action)
    app.router.add_route("*", "/__emulator/quantities", quantities)

    async def expire(request: web.Request) -> web.Response:
        """Every admin token expires now: the next call gets 401 and must log in again."""
        expire_tokens(request.app)
        return web.json_response({"ok": True})

    app.router.add_post("/__emulator/expire-tokens", expire)

    async def writes(request: web.Request) -> web.Response:
        """Stock writes clients made, with the wall-clock time they arrived (benchmarks)."""
        emulator = request.app[EMULATOR_KEY]
        if request.method == "POST":  # start recording (and forget what was recorded)
            emulator.write_log.clear()
            log = emulator.write_log
            emulator.on_write = lambda sku, qty: log.append((time.time(), sku, qty))
        return web.json_response(emulator.write_log)

    app.router.add_route("*", "/__emulator/writes", writes)


def run_standalone(host: str, port: int, products: int) -> None:
    """`syncd emulator magento`: serve a shop with the demo catalogue until Ctrl-C."""
    emulator = MagentoEmulator()
    emulator.load_catalog(demo_catalog(products))
    password = secrets.token_urlsafe(12)
    token = secrets.token_hex(16)
    app = create_app(emulator, password=password, integration_token=token)
    info = {"username": "admin", "password": password, "access_token": token, "products": products}
    serve_forever(app, host, port, info)
