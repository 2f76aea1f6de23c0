"""The Magento emulator's shop: catalogue, MSI source items and reservations, orders, credit
memos, and Magento's searchCriteria. The HTTP side is ``emulator.py``.

Every stock rule here is Magento 2.4.7's, from its sources and the real shop (observed on
2.4.7-p3 with MSI): placing an order appends a reservation and leaves the source alone;
shipping deducts the source and compensates the reservation; cancelling compensates it; a
configurable's ``qty_canceled`` and ``qty_shipped`` sit on its parent line only
(``Order\\Item::isDummy(true)``, ``Item::cancel()``), ``qty_refunded`` and ``qty_invoiced`` on
both lines; a credit memo returns units only for the lines named in ``return_to_stock_items``
(SalesInventory's CreditmemoDocumentFactoryPlugin; a configurable's child line, its parent's id
returns nothing), taking unshipped units first: a returned unshipped unit drops its
reservation, a returned shipped one goes back on the source (InventorySales'
ProcessRefundItems); an unshipped unit refunded without return is deducted from the source
with its reservation (DeductSourceItemQuantityOnRefund). Legacy mode (no MSI): orders lower the
stock item's qty directly, cancellations and returns raise it.

Several sources (``add_source``): salable = Σ over the enabled sources linked to the stock of
their quantity (0 for a source item whose status is out of stock) + the stock's reservations
(InventoryIndexer's SelectBuilder sums ``IF(status = 0, 0, quantity)`` over the stock's enabled
linked sources; InventorySales' GetProductSalableQty adds GetReservationsQuantity for the
stock). Reservations are the stock's, never a source's: a shipment takes its units off the
source it names (InventoryShipping's SourceDeductionRequestFromShipmentFactory) and compensates
the stock's reservation; a refund puts shipped units back on the source they left.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from syncd.connectors.emulation import CatalogItem

DEFAULT_SOURCE = "default"
DEFAULT_STOCK = 1


@dataclass
class Item:
    item_id: int
    sku: str
    name: str
    product_type: str
    qty_ordered: int
    parent_item_id: int | None = None
    product_id: int = 0
    qty_canceled: int = 0
    qty_refunded: int = 0
    qty_shipped: int = 0
    qty_invoiced: int = 0


@dataclass
class Order:
    entity_id: int
    increment_id: str
    state: str
    status: str
    created_at: str
    updated_at: str
    items: list[Item] = field(default_factory=list)
    shipped_from: dict[str, str] = field(default_factory=dict)  # SKU → source it shipped from

    def parent(self, item: Item) -> Item | None:
        return next((i for i in self.items if i.item_id == item.parent_item_id), None)

    def ships(self, item: Item) -> bool:
        """The line carrying shipped and cancelled figures: not a configurable's child."""
        return item.parent_item_id is None

    def stock_line(self, item: Item) -> Item:
        """The line whose product holds the stock: a configurable's child, else itself."""
        return next((i for i in self.items if i.parent_item_id == item.item_id), item)


@dataclass
class CreditMemo:
    entity_id: int
    order_id: int
    created_at: str
    items: list[tuple[Item, int]]  # (order line, quantity refunded)


def set_state(order: Order, state: str, now: str) -> None:
    order.state, order.status = state, {"new": "pending"}.get(state, state)
    order.updated_at = now


class MagentoEmulator:
    def __init__(self, *, msi: bool = True) -> None:
        self.msi = msi
        self.products: dict[str, dict[str, Any]] = {}  # sku → {id, name, type_id, parent}
        self.source_items: dict[tuple[str, str], dict[str, Any]] = {}  # (sku, source) → item
        # legacy: sku → {item_id, qty, is_in_stock}
        self.stock_items: dict[str, dict[str, Any]] = {}
        self.reservations: list[tuple[str, int, str]] = []  # (sku, quantity, event)
        self._reserved: dict[str, int] = {}  # sku → Σ its reservations (what salable reads)
        # sku → the stock index's "is salable", as of the last save of its items (salable)
        self._indexed: dict[str, bool] = {}
        self.orders: dict[int, Order] = {}
        self.creditmemos: dict[int, CreditMemo] = {}
        # GET shipments' rows: {entity_id, order_id, items, extension_attributes.source_code}
        self.shipments: list[dict[str, Any]] = []
        self.sources = {DEFAULT_SOURCE}
        self.stocks = {DEFAULT_STOCK: "Default Stock"}
        self.stock_sources = {DEFAULT_STOCK: [DEFAULT_SOURCE]}
        # Called as on_write(sku, quantity) when a client writes stock (benchmarks).
        self.on_write: Callable[[str, int], None] | None = None
        self.write_log: list[tuple[float, str, int]] = []  # (time, sku, quantity), when recorded
        self.requests: list[tuple[str, str]] = []
        # SKUs whose salable read fails with a 500 as in an outage (a fault for tests)
        self.failing_salable: set[str] = set()
        self._ids = {
            k: itertools.count(1) for k in ("product", "order", "item", "stock", "memo", "doc")
        }

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
        self.reindex(sku)
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

    def add_bundle(
        self,
        sku: str,
        options: list[list[tuple[str, int]]],
        *,
        name: str = "",
        can_change_quantity: bool = False,
    ) -> None:
        """A bundle: one required option per list, each with its selections (SKU, units). It
        holds no stock of its own (no source item): Magento derives it from its selections."""
        self.products[sku] = {
            "id": next(self._ids["product"]),
            "sku": sku,
            "name": name or sku,
            "type_id": "bundle",
            "parent": None,
            "bundle_product_options": [
                {
                    "option_id": n + 1,
                    "title": f"Option {n + 1}",
                    "required": True,
                    "type": "select",
                    "position": n + 1,
                    "sku": sku,
                    "product_links": [
                        {
                            "id": f"{n + 1}-{i}",
                            "sku": part,
                            "option_id": n + 1,
                            "qty": float(units),
                            "position": i,
                            "is_default": i == 0,
                            "can_change_quantity": int(can_change_quantity),
                        }
                        for i, (part, units) in enumerate(option)
                    ],
                }
                for n, option in enumerate(options)
            ],
        }

    def load_catalog(self, items: Iterable[CatalogItem]) -> None:
        for item in items:
            self.add_product(item.sku, item.quantity, name=item.name, parent=item.parent)

    def add_source(self, code: str, *, stock: int = DEFAULT_STOCK) -> None:
        """A source (POST inventory/sources), linked to ``stock`` (stock-source-links).

        Magento refuses any link naming the Default Stock or the Default Source over REST (the
        emulator's route does too): a shop with several sources sells them through a stock of
        its own. The emulator keeps one set of reservations, the Default Stock's, so tests link
        here to stock 1; the rules of salable are the same for any stock."""
        self.sources.add(code)
        if code not in self.stock_sources.setdefault(stock, []):
            self.stock_sources[stock].append(code)

    def source_quantity(self, sku: str, source: str = DEFAULT_SOURCE) -> int:
        if not self.msi:
            return int(self.stock_items[sku]["qty"])
        return int(self.source_items[(sku, source)]["quantity"])

    def set_source_quantity(
        self, sku: str, quantity: int, source: str = DEFAULT_SOURCE, *, status: int | None = None
    ) -> None:
        """A hand edit in the admin (at a source the SKU has no item at yet: one is made);
        ``status``: in stock or not, else in stock when more than 0."""
        if self.msi:
            item = self.source_items.setdefault(
                (sku, source), {"sku": sku, "source_code": source, "quantity": 0, "status": 1}
            )
            item["quantity"] = quantity
            item["status"] = int(quantity > 0) if status is None else status
            self.reindex(sku)
        else:
            self.stock_items[sku]["qty"] = quantity

    def _move_source(self, sku: str, delta: int, source: str = DEFAULT_SOURCE) -> None:
        if self.msi:
            self.source_items[(sku, source)]["quantity"] += delta
        else:
            self.stock_items[sku]["qty"] += delta

    def reindex(self, sku: str) -> None:
        """The stock index's "is salable" of a SKU, computed when its source items are saved
        (and only then: an order placed or cancelled appends a reservation and leaves it, seen
        on the real 2.4.7). MinQtyStockWithReservationsCondition: the in-stock quantity plus the
        reservations above the min qty, 0 here."""
        self._indexed[sku] = self.stock_quantity(sku) + self.reserved(sku) > 0

    def reserved(self, sku: str) -> int:
        return self._reserved.get(sku, 0)

    def _reserve(self, sku: str, quantity: int, event: str) -> None:
        """Append a reservation (MSI's inventory_reservation row) and keep its SKU's sum."""
        if not quantity:
            return
        self.reservations.append((sku, quantity, event))
        self._reserved[sku] = self._reserved.get(sku, 0) + quantity

    def salable(self, sku: str) -> int:
        """GetProductSalableQty (magento/inventory InventorySales/Model): 0 when the stock index
        says not salable (:meth:`reindex`, as of the last save), whatever is reserved; else its
        quantity plus the reservations, below 0 when orders outnumber it since that save."""
        if not self.msi:
            return int(self.stock_items[sku]["qty"])
        figure = self.stock_quantity(sku) + self.reserved(sku)
        return figure if self._indexed.get(sku, figure > 0) else 0

    def stock_quantity(self, sku: str, stock: int = DEFAULT_STOCK) -> int:
        """The stock index's quantity: Σ over the stock's sources of what each holds, 0 for an
        item out of stock (InventoryIndexer's SelectBuilder)."""
        total = 0
        for source in self.stock_sources.get(stock, []):
            item = self.source_items.get((sku, source))
            if item is not None and int(item["status"]):
                total += int(item["quantity"])
        return total

    def assigned(self, sku: str, stock: int = DEFAULT_STOCK) -> bool:
        """The SKU has a source item at one of the stock's sources."""
        return any((sku, s) in self.source_items for s in self.stock_sources.get(stock, []))

    # -- orders ----------------------------------------------------------------------------------

    def place_order(self, lines: dict[str, int], *, configurable: bool = False) -> int:
        oid = next(self._ids["order"])
        now = self.now()
        # increment_id: Magento's default sequence, zero-padded to 9 digits (observed)
        order = Order(oid, f"{oid:09d}", "new", "pending", now, now)
        for sku, qty in lines.items():
            product = self.products[sku]
            parent = product.get("parent")
            if configurable and parent:
                # the parent line carries the child's SKU (observed), and the figures
                parent_item = Item(
                    next(self._ids["item"]),
                    sku,
                    self.products[parent]["name"],
                    "configurable",
                    qty,
                    product_id=self.products[parent]["id"],
                )
                order.items.append(parent_item)
                order.items.append(
                    Item(
                        next(self._ids["item"]),
                        sku,
                        product["name"],
                        "simple",
                        qty,
                        parent_item.item_id,
                        product_id=product["id"],
                    )
                )
            else:
                order.items.append(
                    Item(
                        next(self._ids["item"]),
                        sku,
                        product["name"],
                        "simple",
                        qty,
                        product_id=product["id"],
                    )
                )
            if self.msi:
                self._reserve(sku, -qty, "order_placed")
            else:
                self.stock_items[sku]["qty"] -= qty
        self.orders[oid] = order
        return oid

    @staticmethod
    def _to_ship(item: Item) -> int:
        # Order\Item::getSimpleQtyToShip
        return max(
            0, item.qty_ordered - max(item.qty_shipped, item.qty_refunded) - item.qty_canceled
        )

    def ship(
        self, order_id: int, lines: dict[str, int] | None = None, source: str = DEFAULT_SOURCE
    ) -> int:
        """Ship ``lines`` (SKU → units; all that is left to ship by default) from ``source``;
        the shipment's id. A configurable ships on its parent line, which alone gets
        qty_shipped."""
        order = self.orders[order_id]
        shipped: list[dict[str, Any]] = []
        for item in order.items:
            if not order.ships(item):
                continue
            qty = self._to_ship(item)
            if lines is not None:
                qty = min(qty, lines.get(item.sku, 0))
            if qty <= 0:
                continue
            item.qty_shipped += qty
            sku = order.stock_line(item).sku
            shipped.append({"sku": sku, "qty": qty, "order_item_id": item.item_id})
            order.shipped_from.setdefault(sku, source)
            if self.msi:
                self._move_source(sku, -qty, source)
                self._reserve(sku, qty, "shipment_created")
                # the source deduction saves the item (indexed with its reservation
                # compensated: on the real shop salable is right at once after a shipment)
                self.reindex(sku)
        self._settle(order)
        shipment = next(self._ids["doc"])
        self.shipments.append(
            {
                "entity_id": shipment,
                "order_id": order_id,
                "items": shipped,
                "extension_attributes": {"source_code": source},
            }
        )
        return shipment

    def invoice(self, order_id: int) -> int:
        order = self.orders[order_id]
        for item in order.items:
            item.qty_invoiced = item.qty_ordered - item.qty_canceled
        if order.state == "new":
            set_state(order, "processing", self.now())
        order.updated_at = self.now()
        return next(self._ids["doc"])

    def cancel(self, order_id: int) -> bool:
        """Cancel what is neither invoiced nor shipped (Item::getQtyToCancel); False when there
        is nothing left to cancel, as Magento answers."""
        order = self.orders[order_id]
        cancelled = False
        for item in order.items:
            if not order.ships(item):
                continue
            to_invoice = item.qty_ordered - item.qty_invoiced - item.qty_canceled
            qty = max(0, min(to_invoice, self._to_ship(item)))
            if qty <= 0:
                continue
            item.qty_canceled += qty
            cancelled = True
            sku = order.stock_line(item).sku
            if self.msi:
                self._reserve(sku, qty, "order_canceled")
            else:
                self.stock_items[sku]["qty"] += qty
        if not cancelled:
            return False
        shipped = any(i.qty_shipped or i.qty_invoiced for i in order.items)
        set_state(order, "complete" if shipped else "canceled", self.now())
        return True

    def credit_memo(
        self,
        order_id: int,
        lines: dict[str, int],
        return_to_stock: bool = True,
        *,
        name_parent: bool = False,
    ) -> int:
        """Refund ``lines`` (SKU → units) as ``POST /V1/order/{id}/refund`` does: the line
        refunded is a simple's own line or a configurable's parent line; ``return_to_stock``
        names in ``return_to_stock_items`` the line whose product goes back (the child), or
        with ``name_parent`` the parent's id, which returns nothing. The credit memo's id."""
        order = self.orders[order_id]
        back: list[int] = []
        refund: list[tuple[Item, int]] = []
        for sku, qty in lines.items():
            line = next(i for i in order.items if i.sku == sku and order.ships(i))
            refund.append((line, qty))
            if return_to_stock:
                back.append(line.item_id if name_parent else order.stock_line(line).item_id)
        return self.refund(order_id, refund, back)

    def refund(self, order_id: int, refund: list[tuple[Item, int]], back: list[int]) -> int:
        order = self.orders[order_id]
        memo_items: list[tuple[Item, int]] = []
        for line, qty in refund:
            stock = order.stock_line(line)
            # unshipped units first (ProcessRefundItems): invoiced (or, not invoiced, placed)
            # units neither refunded nor shipped yet
            invoiced = line.qty_invoiced or (line.qty_ordered - line.qty_canceled)
            unshipped = max(0, min(qty, invoiced - line.qty_refunded - line.qty_shipped))
            shipped = qty - unshipped
            memo_items.append((line, qty))
            line.qty_refunded += qty
            if stock is not line:
                stock.qty_refunded += qty
                memo_items.append((stock, qty))
            if stock.item_id in back:  # returned: to the salable stock
                if self.msi:  # back where they shipped from (ProcessRefundItems)
                    where = order.shipped_from.get(stock.sku, DEFAULT_SOURCE)
                    self._move_source(stock.sku, shipped, where)
                    self._reserve(stock.sku, unshipped, "creditmemo_created")
                    self.reindex(stock.sku)
                else:
                    self.stock_items[stock.sku]["qty"] += qty
            elif self.msi:  # kept: an unshipped unit leaves the source with its reservation
                self._move_source(stock.sku, -unshipped)
                self._reserve(stock.sku, unshipped, "creditmemo_created")
                self.reindex(stock.sku)
        memo = CreditMemo(next(self._ids["memo"]), order_id, self.now(), memo_items)
        self.creditmemos[memo.entity_id] = memo
        self._settle(order)
        return memo.entity_id

    def _settle(self, order: Order) -> None:
        """The order's state once its lines are shipped, refunded or cancelled."""
        heads = [i for i in order.items if order.ships(i)]
        if all(i.qty_refunded >= i.qty_ordered - i.qty_canceled for i in heads):
            set_state(order, "closed", self.now())
        elif all(self._to_ship(i) == 0 for i in heads):
            set_state(order, "complete", self.now())
        elif order.state == "new" and any(i.qty_shipped for i in heads):
            set_state(order, "processing", self.now())
        else:
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
    given = {unquote(k) for k in query}
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
        # 2.4.7: a page past the end has no items (observed; 2.3 repeated the last page)
        items = items[(current - 1) * page_size : current * page_size]
    items = [render(i) for i in items]
    criteria: dict[str, Any] = {
        "filter_groups": [
            {"filters": [{"field": f, "value": v, "condition_type": c} for f, v, c in g]}
            for g in groups
        ]
    }
    # only what the query named (observed)
    if "searchCriteria[pageSize]" in given:
        criteria["page_size"] = page_size
    if "searchCriteria[currentPage]" in given:
        criteria["current_page"] = current
    if sorts:
        criteria["sort_orders"] = [{"field": f, "direction": d} for f, d in sorts]
    return {"items": items, "search_criteria": criteria, "total_count": total}


# -- rendering ----------------------------------------------------------------------------------


ORDER_FIELDS = ("entity_id", "increment_id", "state", "status", "created_at", "updated_at")


class OrderHead(dict[str, Any]):
    """An order's top-level fields, for filters and sorts, and the order to render."""

    def __init__(self, order: Order, fields: dict[str, Any]) -> None:
        super().__init__(fields)
        self.order = order


def _item_json(order: Order, i: Item) -> dict[str, Any]:
    price = 0 if i.parent_item_id else 20
    entry: dict[str, Any] = {
        "amount_refunded": price * i.qty_refunded,
        "base_price": price,
        "created_at": order.created_at,
        "is_virtual": 0,
        "item_id": i.item_id,
        "name": i.name,
        "order_id": order.entity_id,
        "price": price,
        "product_id": i.product_id,
        "product_type": i.product_type,
        "qty_canceled": i.qty_canceled,
        "qty_invoiced": i.qty_invoiced,
        "qty_ordered": i.qty_ordered,
        "qty_refunded": i.qty_refunded,
        "qty_shipped": i.qty_shipped,
        "row_total": price * i.qty_ordered,
        "sku": i.sku,
        "store_id": 1,
        "updated_at": order.updated_at,
        "weight": 0.5,
    }
    parent = order.parent(i)
    if parent is not None:  # a child line embeds its parent line (observed)
        entry["parent_item_id"] = parent.item_id
        entry["parent_item"] = _item_json(order, parent)
    return entry


def order_json(order: Order) -> dict[str, Any]:
    return {
        "base_currency_code": "EUR",
        "created_at": order.created_at,
        "customer_email": "guest@example.com",
        "customer_is_guest": 1,
        "entity_id": order.entity_id,
        "grand_total": 20 * sum(i.qty_ordered for i in order.items if not i.parent_item_id),
        "increment_id": order.increment_id,
        "is_virtual": 0,
        "order_currency_code": "EUR",
        "state": order.state,
        "status": order.status,
        "store_id": 1,
        "total_qty_ordered": sum(i.qty_ordered for i in order.items if not i.parent_item_id),
        "updated_at": order.updated_at,
        "items": [_item_json(order, i) for i in order.items],
    }


def creditmemo_json(memo: CreditMemo) -> dict[str, Any]:
    total = sum(20 * qty for item, qty in memo.items if not item.parent_item_id)
    return {
        "base_currency_code": "EUR",
        "base_grand_total": total,
        "created_at": memo.created_at,
        "entity_id": memo.entity_id,
        "grand_total": total,
        "increment_id": f"{memo.entity_id:09d}",
        "order_id": memo.order_id,
        "state": 2,  # refunded
        "store_id": 1,
        "subtotal": total,
        "updated_at": memo.created_at,
        "items": [
            {
                "entity_id": n,
                "name": item.name,
                "order_item_id": item.item_id,
                "parent_id": memo.entity_id,
                "price": 0 if item.parent_item_id else 20,
                "product_id": item.product_id,
                "qty": qty,
                "row_total": (0 if item.parent_item_id else 20) * qty,
                "sku": item.sku,
            }
            for n, (item, qty) in enumerate(memo.items, start=1)
        ],
        "comments": [],
    }
