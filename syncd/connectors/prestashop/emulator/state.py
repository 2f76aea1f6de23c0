"""The emulated PrestaShop's state and its own stock rules (reference §1.6): products,
combinations, stock rows, orders and their state changes; Python methods for tests."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from syncd.connectors.emulation import CatalogItem

# Deliberately not PrestaShop's usual 6 and 8: a connector that hard-codes state ids fails here.
STATES = {
    "PS_OS_CHEQUE": 11,
    "PS_OS_PAYMENT": 12,
    "PS_OS_PREPARATION": 13,
    "PS_OS_SHIPPING": 14,
    "PS_OS_DELIVERED": 15,
    "PS_OS_CANCELED": 16,
    "PS_OS_REFUND": 17,
    "PS_OS_ERROR": 18,
}
PS_LANG_DEFAULT = 1
STATE_FLAGS = {  # logable, shipped, paid
    11: (False, False, False),
    12: (True, False, True),
    13: (True, False, True),
    14: (True, True, True),
    15: (True, True, True),
    16: (False, False, False),
    17: (False, True, True),
    18: (False, False, False),
}


@dataclass
class Product:
    id: int
    reference: str
    name: str
    ean13: str = ""
    combinations: list[int] = field(default_factory=list)
    # A pack (classes/Pack.php): its items (id_product, id_product_attribute, quantity) and how a
    # sale decrements stock: 0 the pack only, 1 its products only, 2 both, 3 the shop's default
    # (PS_PACK_STOCK_TYPE).
    pack_items: list[tuple[int, int, int]] = field(default_factory=list)
    pack_stock_type: int = 3


@dataclass
class Combination:
    id: int
    id_product: int
    reference: str
    ean13: str = ""


@dataclass
class StockAvailable:
    id: int
    id_product: int
    id_product_attribute: int
    quantity: int
    id_shop: int = 1
    id_shop_group: int = 0
    depends_on_stock: int = 0
    out_of_stock: int = 2
    location: str = ""


@dataclass
class OrderRow:
    id: int
    product_id: int
    product_attribute_id: int
    product_quantity: int
    product_name: str
    product_reference: str
    product_ean13: str
    quantity_refunded: int = 0
    quantity_reinjected: int = 0


@dataclass
class Order:
    id: int
    reference: str
    current_state: int
    date_add: str
    date_upd: str
    rows: list[OrderRow]
    id_shop: int = 1


def native_numbers(version: str) -> bool:
    """Whether a version answers whole numbers as JSON numbers. PHP >= 8.1's PDO returns native
    ints: PrestaShop 8.0 and 8.1 pass them on (`"current_state": 4`); 8.2 sets
    PDO::ATTR_STRINGIFY_FETCHES again (classes/db/DbPDO.php, PrestaShop#36836) and answers
    strings like 1.7 (observed on 8.2.0). An object's own `id` is always a number."""
    return version.startswith(("8.0", "8.1"))


class PrestaShopEmulator:
    """The shop's state and PrestaShop's own stock rules (§1.6)."""

    def __init__(
        self,
        *,
        version: str = "8.1.0",
        timezone: str = "Europe/Paris",
        languages: tuple[int, ...] = (1, 2),
    ) -> None:
        self.version = version
        self.zone = ZoneInfo(timezone)
        # Several languages (as the real demo shop: en, fr) make names lists in JSON.
        self.languages = languages
        self.products: dict[int, Product] = {}
        self.combinations: dict[int, Combination] = {}
        self.stock: dict[int, StockAvailable] = {}
        self.orders: dict[int, Order] = {}
        self.histories: list[dict[str, Any]] = []
        self.stock_by_product: dict[int, list[StockAvailable]] = {}
        # PS_PACK_STOCK_TYPE, the default a pack with pack_stock_type 3 follows (PrestaShop
        # installs 0, "decrement pack only").
        self.pack_stock_type_default = 0
        # Called as on_write(sku, quantity) when a client writes a stock row (benchmarks).
        self.on_write: Callable[[str, int], None] | None = None
        self.write_log: list[tuple[float, str, int]] = []  # (time, sku, quantity), when recorded
        self.by_reference: dict[str, dict[str, list[Any]]] = {"products": {}, "combinations": {}}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every API call
        self._ids = {
            k: itertools.count(1) for k in ("product", "combination", "stock", "order", "row")
        }

    # -- clock -----------------------------------------------------------------------------------

    def now(self) -> str:
        return datetime.now(self.zone).strftime("%Y-%m-%d %H:%M:%S")

    # -- catalogue -------------------------------------------------------------------------------

    def add_product(
        self,
        reference: str,
        quantity: int = 0,
        *,
        name: str = "",
        ean13: str = "",
        combinations: Iterable[tuple[str, int, str]] | None = None,
        depends_on_stock: bool = False,
    ) -> int:
        pid = next(self._ids["product"])
        product = Product(pid, reference, name or reference, ean13)
        self.products[pid] = product
        self.by_reference["products"].setdefault(reference, []).append(product)
        combos = list(combinations or [])
        for ref, qty, ean in combos:
            cid = next(self._ids["combination"])
            self.combinations[cid] = Combination(cid, pid, ref, ean)
            self.by_reference["combinations"].setdefault(ref, []).append(self.combinations[cid])
            product.combinations.append(cid)
            sid = next(self._ids["stock"])
            self.stock[sid] = StockAvailable(
                sid, pid, cid, qty, depends_on_stock=int(depends_on_stock)
            )
            self.stock_by_product.setdefault(pid, []).append(self.stock[sid])
        sid = next(self._ids["stock"])
        self.stock[sid] = StockAvailable(
            sid, pid, 0, quantity if not combos else 0, depends_on_stock=int(depends_on_stock)
        )
        self.stock_by_product.setdefault(pid, []).append(self.stock[sid])
        if combos:
            self._recompute_sum(pid)
        return pid

    def add_pack(
        self,
        reference: str,
        items: dict[str, int],
        quantity: int = 0,
        *,
        pack_stock_type: int = 3,
        name: str = "",
    ) -> int:
        """A pack of products without combinations (SKU → units per pack), with its own row."""
        pid = self.add_product(reference, quantity, name=name)
        product = self.products[pid]
        for sku, units in items.items():
            row = self._row_for(sku)
            product.pack_items.append((row.id_product, row.id_product_attribute, units))
        product.pack_stock_type = pack_stock_type
        return pid

    def pack_decrements(self, product: Product) -> tuple[bool, bool]:
        """(the pack's own row, its products' rows): what a sale of this pack decrements.

        classes/Pack.php (STOCK_TYPE_*) and StockAvailable/OrderDetail: 0 the pack only, 1 the
        products only, 2 both; 3 follows PS_PACK_STOCK_TYPE."""
        kind = product.pack_stock_type
        if kind == 3:
            kind = self.pack_stock_type_default
        return kind in (0, 2), kind in (1, 2)

    def load_catalog(self, items: Iterable[CatalogItem]) -> None:
        """Demo catalogue: one product per parent, one combination per size."""
        by_parent: dict[str, list[CatalogItem]] = {}
        for item in items:
            by_parent.setdefault(item.parent, []).append(item)
        for parent, group in by_parent.items():
            self.add_product(
                parent,
                name=group[0].name.rsplit(",", 1)[0],
                combinations=[(i.sku, i.quantity, i.ean13) for i in group],
            )

    def stock_row(self, id_product: int, id_product_attribute: int = 0) -> StockAvailable:
        return next(
            s
            for s in self.stock_by_product[id_product]
            if s.id_product_attribute == id_product_attribute
        )

    def recreate_stock_row(self, id_product: int, id_product_attribute: int = 0) -> int:
        """The row deleted and created again under a new id (a product re-imported, a
        combination regenerated): a cached id then answers 404."""
        row = self.stock_row(id_product, id_product_attribute)
        del self.stock[row.id]
        row.id = next(self._ids["stock"])
        self.stock[row.id] = row
        return row.id

    def translations(self, name: str) -> dict[int, str]:
        """A name in every installed language (the default one first)."""
        return {
            lang: name if lang == PS_LANG_DEFAULT else f"{name} [{lang}]" for lang in self.languages
        }

    def _row_for(self, sku: str | tuple[int, int]) -> StockAvailable:
        if isinstance(sku, tuple):
            return self.stock_row(*sku)
        for combo in self.combinations.values():
            if combo.reference == sku:
                return next(
                    s
                    for s in self.stock.values()
                    if s.id_product == combo.id_product and s.id_product_attribute == combo.id
                )
        for product in self.products.values():
            if product.reference == sku and not product.combinations:
                return next(
                    s
                    for s in self.stock.values()
                    if s.id_product == product.id and s.id_product_attribute == 0
                )
        raise KeyError(sku)

    def quantity(self, sku: str | tuple[int, int]) -> int:
        return self._row_for(sku).quantity

    def set_quantity(self, sku: str | tuple[int, int], quantity: int) -> None:
        """A hand edit in the back office."""
        row = self._row_for(sku)
        row.quantity = quantity
        if row.id_product_attribute:
            self._recompute_sum(row.id_product)

    def _recompute_sum(self, id_product: int) -> None:
        rows = self.stock_by_product.get(id_product, [])
        combos = [s for s in rows if s.id_product_attribute != 0]
        if combos:
            zero = next(s for s in rows if s.id_product_attribute == 0)
            zero.quantity = sum(s.quantity for s in combos)

    def _move(self, row: OrderRow, delta: int) -> None:
        product = self.products.get(row.product_id)
        if product is not None and product.pack_items:
            own, items = self.pack_decrements(product)
            if items:
                for pid, attr, units in product.pack_items:
                    item = OrderRow(0, pid, attr, 0, "", "", "")
                    self._move(item, delta * units)
            if not own:
                return
        stock = next(
            (
                s
                for s in self.stock.values()
                if s.id_product == row.product_id
                and s.id_product_attribute == row.product_attribute_id
            ),
            None,
        )
        if stock is None or stock.depends_on_stock:
            return
        stock.quantity += delta
        self._recompute_sum(row.product_id)

    # -- orders ----------------------------------------------------------------------------------

    def create_order(
        self, lines: dict[str, int] | dict[tuple[int, int], int], state: str = "PS_OS_PAYMENT"
    ) -> int:
        """A customer's order: PrestaShop decrements stock at creation (not for cancelled/error).
        Lines by SKU, or by (product, combination) ids for combinations without a reference of
        their own. An order row carries the combination's reference when it has one, else its
        product's (order_detail.product_reference)."""
        oid = next(self._ids["order"])
        rows = []
        for sku, qty in lines.items():
            stock = self._row_for(sku)
            combo = self.combinations.get(stock.id_product_attribute)
            product = self.products[stock.id_product]
            rows.append(
                OrderRow(
                    id=next(self._ids["row"]),
                    product_id=product.id,
                    product_attribute_id=stock.id_product_attribute,
                    product_quantity=qty,
                    product_name=product.name
                    + (f" - {sku if isinstance(sku, str) else combo.id}" if combo else ""),
                    product_reference=(combo.reference if combo else "") or product.reference,
                    product_ean13=(combo.ean13 if combo else "") or product.ean13,
                )
            )
        now = self.now()
        state_id = STATES[state]
        reference = "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(9))
        self.orders[oid] = Order(oid, reference, state_id, now, now, rows)
        if state_id not in (STATES["PS_OS_CANCELED"], STATES["PS_OS_ERROR"]):
            for row in rows:
                self._move(row, -row.product_quantity)
        return oid

    def set_order_state(self, order_id: int, state: str | int) -> None:
        """OrderHistory::changeIdOrderState: stock back into cancelled/error, out again after.

        PrestaShop (classes/order/OrderHistory.php, changeIdOrderState) gives back the row's
        product_quantity through StockAvailable::updateQuantity, which reads the row, adds, and
        saves the whole object (src/Core/Stock/StockManager.php, updateQuantity): not atomic, so
        a write of ours landing between its read and its save is lost in the real shop. Here
        the restock is atomic; a write of ours after it erases it, as in the shop (the mirror
        race the read-back after a pull finds: tests/engine/test_hand_edits.py)."""
        order = self.orders[order_id]
        new = STATES[state] if isinstance(state, str) else int(state)
        if new not in STATE_FLAGS:
            raise KeyError(f"unknown order state {state!r}")
        dead = (STATES["PS_OS_CANCELED"], STATES["PS_OS_ERROR"])
        old = order.current_state
        if old not in dead and new in dead:
            for row in order.rows:
                self._move(row, row.product_quantity - row.quantity_reinjected)
        elif old in dead and new not in dead:
            for row in order.rows:
                self._move(row, -(row.product_quantity - row.quantity_reinjected))
        order.current_state = new
        order.date_upd = self.now()
        self.histories.append(
            {
                "id": len(self.histories) + 1,
                "id_employee": 0,
                "id_order_state": new,
                "id_order": order_id,
                "date_add": order.date_upd,
            }
        )

    def refund(self, order_id: int, sku: str, quantity: int, restock: bool = True) -> None:
        order = self.orders[order_id]
        row = next(r for r in order.rows if r.product_reference == sku)
        row.quantity_refunded += quantity
        if restock:
            row.quantity_reinjected += quantity
            self._move(row, quantity)
        order.date_upd = self.now()
