"""A PrestaShop webservice emulator (1.7 / 8.x) for what syncd uses; see
shared/reference/connector-apis.md §1. Tests, the demo and the benchmarks run against it, and the
real `prestapyt` client drives it in the tests to prove it speaks PrestaShop.

State lives in :class:`PrestaShopEmulator` (Python methods for tests); :func:`create_app` serves
``/api/...`` (XML by default, JSON on request) and an admin API under ``/__emulator/``.
"""

from __future__ import annotations

import base64
import itertools
import re
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from syncd.connectors.emulation import (
    CatalogItem,
    Faults,
    demo_catalog,
    install_faults,
    serve_forever,
)

XLINK = "http://www.w3.org/1999/xlink"
HREF = f"{{{XLINK}}}href"
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
_STATE_FLAGS = {  # logable, shipped, paid
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


class PrestaShopEmulator:
    """The shop's state and PrestaShop's own stock rules (§1.6)."""

    def __init__(self, *, version: str = "8.1.0", timezone: str = "Europe/Paris") -> None:
        self.version = version
        self.zone = ZoneInfo(timezone)
        self.products: dict[int, Product] = {}
        self.combinations: dict[int, Combination] = {}
        self.stock: dict[int, StockAvailable] = {}
        self.orders: dict[int, Order] = {}
        self.histories: list[dict[str, Any]] = []
        self.stock_by_product: dict[int, list[StockAvailable]] = {}
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

    def _row_for(self, sku: str) -> StockAvailable:
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

    def quantity(self, sku: str) -> int:
        return self._row_for(sku).quantity

    def set_quantity(self, sku: str, quantity: int) -> None:
        """A hand edit in the back office."""
        row = self._row_for(sku)
        row.quantity = quantity
        self._recompute_sum(row.id_product)

    def _recompute_sum(self, id_product: int) -> None:
        rows = self.stock_by_product.get(id_product, [])
        combos = [s for s in rows if s.id_product_attribute != 0]
        if combos:
            zero = next(s for s in rows if s.id_product_attribute == 0)
            zero.quantity = sum(s.quantity for s in combos)

    def _move(self, row: OrderRow, delta: int) -> None:
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

    def create_order(self, lines: dict[str, int], state: str = "PS_OS_PAYMENT") -> int:
        """A customer's order: PrestaShop decrements stock at creation (not for cancelled/error)."""
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
                    product_name=product.name + (f" - {sku}" if combo else ""),
                    product_reference=combo.reference if combo else product.reference,
                    product_ean13=combo.ean13 if combo else product.ean13,
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
        """OrderHistory::changeIdOrderState: stock back into cancelled/error, out again after."""
        order = self.orders[order_id]
        new = STATES[state] if isinstance(state, str) else int(state)
        if new not in _STATE_FLAGS:
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
            {"id_order": order_id, "id_order_state": new, "date_add": order.date_upd}
        )

    def refund(self, order_id: int, sku: str, quantity: int, restock: bool = True) -> None:
        order = self.orders[order_id]
        row = next(r for r in order.rows if r.product_reference == sku)
        row.quantity_refunded += quantity
        if restock:
            row.quantity_reinjected += quantity
            self._move(row, quantity)
        order.date_upd = self.now()


# -- rendering -----------------------------------------------------------------------------------


def _resource_fields(emulator: PrestaShopEmulator, resource: str, obj: Any) -> dict[str, Any]:
    """The fields of one object as PrestaShop shows them (values as strings)."""
    if resource == "products":
        p: Product = obj
        return {
            "id": p.id,
            "reference": p.reference,
            "ean13": p.ean13,
            "name": p.name,
            "associations": {
                "combinations": [{"id": c} for c in p.combinations],
                "stock_availables": [
                    {"id": s.id, "id_product_attribute": s.id_product_attribute}
                    for s in emulator.stock_by_product.get(p.id, [])
                ],
            },
        }
    if resource == "combinations":
        c: Combination = obj
        return {"id": c.id, "id_product": c.id_product, "reference": c.reference, "ean13": c.ean13}
    if resource == "stock_availables":
        s: StockAvailable = obj
        fields: dict[str, Any] = {
            "id": s.id,
            "id_product": s.id_product,
            "id_product_attribute": s.id_product_attribute,
            "id_shop": s.id_shop,
            "id_shop_group": s.id_shop_group,
            "quantity": s.quantity,
            "depends_on_stock": s.depends_on_stock,
            "out_of_stock": s.out_of_stock,
        }
        if not emulator.version.startswith("1."):
            fields["location"] = s.location
        return fields
    if resource == "orders":
        o: Order = obj
        return {
            "id": o.id,
            "reference": o.reference,
            "id_shop": o.id_shop,
            "current_state": o.current_state,
            "valid": int(_STATE_FLAGS[o.current_state][0]),
            "date_add": o.date_add,
            "date_upd": o.date_upd,
            "associations": {
                "order_rows": [
                    {
                        "id": r.id,
                        "product_id": r.product_id,
                        "product_attribute_id": r.product_attribute_id,
                        "product_quantity": r.product_quantity,
                        "product_name": r.product_name,
                        "product_reference": r.product_reference,
                        "product_ean13": r.product_ean13,
                    }
                    for r in o.rows
                ]
            },
        }
    if resource == "order_details":
        order, r = obj
        return {
            "id": r.id,
            "id_order": order.id,
            "product_id": r.product_id,
            "product_attribute_id": r.product_attribute_id,
            "product_name": r.product_name,
            "product_reference": r.product_reference,
            "product_quantity": r.product_quantity,
            "product_quantity_refunded": r.quantity_refunded,
            "product_quantity_return": 0,
            "product_quantity_reinjected": r.quantity_reinjected,
        }
    if resource == "order_states":
        sid, (logable, shipped, paid) = obj
        name = next(k for k, v in STATES.items() if v == sid)
        return {
            "id": sid,
            "name": name,
            "logable": int(logable),
            "shipped": int(shipped),
            "paid": int(paid),
        }
    if resource == "configurations":
        cid, name, value = obj
        return {"id": cid, "name": name, "value": value}
    if resource == "order_histories":
        hid, h = obj
        return {"id": hid, **h}
    raise KeyError(resource)


def _objects(emulator: PrestaShopEmulator, resource: str) -> dict[int, Any]:
    if resource == "products":
        return dict(emulator.products)
    if resource == "combinations":
        return dict(emulator.combinations)
    if resource == "stock_availables":
        return dict(emulator.stock)
    if resource == "orders":
        return dict(emulator.orders)
    if resource == "order_details":
        return {r.id: (o, r) for o in emulator.orders.values() for r in o.rows}
    if resource == "order_states":
        return {sid: (sid, flags) for sid, flags in _STATE_FLAGS.items()}
    if resource == "configurations":
        return {i: (i, name, str(value)) for i, (name, value) in enumerate(STATES.items(), start=1)}
    if resource == "order_histories":
        return {i: (i, h) for i, h in enumerate(emulator.histories, start=1)}
    raise KeyError(resource)


SINGULAR = {
    "products": "product",
    "combinations": "combination",
    "stock_availables": "stock_available",
    "orders": "order",
    "order_details": "order_detail",
    "order_states": "order_state",
    "configurations": "configuration",
    "order_histories": "order_history",
}
ASSOCIATION_ITEM = {
    "order_rows": "order_row",
    "combinations": "combination",
    "stock_availables": "stock_available",
}
METHODS = {
    "stock_availables": {"GET", "HEAD", "PUT", "PATCH"},
    "order_histories": {"GET", "HEAD", "POST"},
}
DATE_FIELDS = {"date_add", "date_upd"}


class WsError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _xml_value(parent: ET.Element, name: str, value: Any, base: str) -> None:
    if isinstance(value, dict):
        node = ET.SubElement(parent, name)
        for key, item in value.items():
            _xml_value(node, key, item, base)
        return
    if isinstance(value, list):
        node = ET.SubElement(
            parent, name, {"nodeType": ASSOCIATION_ITEM.get(name, name), "api": name}
        )
        for item in value:
            child = ET.SubElement(node, ASSOCIATION_ITEM.get(name, name))
            for key, v in item.items():
                sub = ET.SubElement(child, key)
                sub.text = f"\x00CDATA{v}\x00"
        return
    node = ET.SubElement(parent, name)
    node.text = f"\x00CDATA{'' if value is None else value}\x00"


ET.register_namespace("xlink", XLINK)


def _to_xml(body: ET.Element) -> str:
    text = ET.tostring(body, encoding="unicode")
    if "xmlns:xlink" not in text.split(">", 1)[0]:
        text = text.replace("<prestashop", f'<prestashop xmlns:xlink="{XLINK}"', 1)
    text = re.sub(
        r"\x00CDATA(.*?)\x00", lambda m: f"<![CDATA[{_unescape(m[1])}]]>", text, flags=re.S
    )
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + text


def _unescape(text: str) -> str:
    return (
        text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("&quot;", '"')
    )


def _stringify(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stringify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify(v) for v in value]
    return "" if value is None else str(value)


def _project(fields: dict[str, Any], display: list[str] | None) -> dict[str, Any]:
    if display is None:
        return fields
    out: dict[str, Any] = {}
    for name in display:
        match = re.fullmatch(r"(\w+)\[([\w,]+)\]", name)
        if match:
            assoc, sub = match[1], match[2].split(",")
            items = fields.get("associations", {}).get(assoc, [])
            out.setdefault("associations", {})[assoc] = [{k: i.get(k) for k in sub} for i in items]
        else:
            out[name] = fields[name]
    return out


def _parse_display(value: str | None, allowed: set[str]) -> list[str] | None | str:
    if value is None:
        return None
    if value == "full":
        return "full"
    if not (value.startswith("[") and value.endswith("]")):
        raise WsError(
            400,
            36,
            f'The "display" syntax is incorrect. You can use "full" or "[field_1,field_2,field_3,...]". These are the available fields: ({", ".join(sorted(allowed))})',
        )
    names = re.findall(r"\w+\[[^\]]*\]|\w+", value[1:-1])
    for name in names:
        base = name.split("[", 1)[0]
        if base not in allowed and base not in ("order_rows", "combinations", "stock_availables"):
            raise WsError(
                400,
                35,
                f'Unable to display this field "{base}". However, these are available: {", ".join(sorted(allowed))}',
            )
    return names


def _matcher(raw: str) -> Callable[[str], bool]:
    """One filter[field] value in PrestaShop's grammar (SQLUtils::getSQLRetrieveFilter)."""
    negate = raw.startswith("!")
    if negate:
        raw = raw[1:]
    if raw.startswith(">[") and raw.endswith("]"):
        bound = raw[2:-1]
        test: Callable[[str], bool] = lambda v: _compare(v, bound) > 0  # noqa: E731
    elif raw.startswith("<[") and raw.endswith("]"):
        bound = raw[2:-1]
        test = lambda v: _compare(v, bound) < 0  # noqa: E731
    elif raw.startswith("%[") or (raw.startswith("[") and raw.endswith("]%")):
        inner = raw.strip("%")[1:-1].lower()
        if raw.startswith("%[") and raw.endswith("]%"):
            test = lambda v: inner in v.lower()  # noqa: E731
        elif raw.startswith("%["):
            test = lambda v: v.lower().endswith(inner)  # noqa: E731
        else:
            test = lambda v: v.lower().startswith(inner)  # noqa: E731
    elif raw.startswith("[") and raw.endswith("]"):
        inner = raw[1:-1]
        if "," in inner and all(re.fullmatch(r"[\d.:\-\s]+", part) for part in inner.split(",", 1)):
            low, high = inner.split(",", 1)
            test = lambda v: _compare(v, low) >= 0 and _compare(v, high) <= 0  # noqa: E731
        else:
            options = set(inner.split("|"))
            test = lambda v: v in options  # noqa: E731
    else:
        test = lambda v: v == raw  # noqa: E731
    return (lambda v: not test(v)) if negate else test


def _compare(a: str, b: str) -> int:
    try:
        fa, fb = float(a), float(b)
        return (fa > fb) - (fa < fb)
    except ValueError:
        return (a > b) - (a < b)


def _indexed(emulator: PrestaShopEmulator, resource: str, query: dict[str, str]) -> dict[int, Any]:
    """The objects a list can come from, using the emulator's indexes for the common lookups."""
    raw_ref = query.get("filter[reference]", "")
    if resource in emulator.by_reference and re.fullmatch(r"\[[^\[\],%|]*\]", raw_ref):
        return {o.id: o for o in emulator.by_reference[resource].get(raw_ref[1:-1], [])}
    raw_pid = query.get("filter[id_product]", "")
    if resource == "stock_availables" and re.fullmatch(r"\[\d+\]", raw_pid):
        return {s.id: s for s in emulator.stock_by_product.get(int(raw_pid[1:-1]), [])}
    return _objects(emulator, resource)


def _filtered_list(
    emulator: PrestaShopEmulator, resource: str, query: dict[str, str]
) -> list[dict[str, Any]]:
    objects = _indexed(emulator, resource, query)
    # Exact filters on plain attributes narrow the objects before rendering (a big catalogue).
    handled: set[str] = set()
    for key, raw in query.items():
        match = re.fullmatch(r"filter\[(\w+)\]", key)
        if not match or not re.fullmatch(r"\[[^\[\],%]*\]", raw):
            continue
        wanted = set(raw[1:-1].split("|"))
        sample = next(iter(objects.values()), None)
        if sample is not None and hasattr(sample, match[1]) and match[1] not in DATE_FIELDS:
            name = match[1]
            objects = {k: o for k, o in objects.items() if str(getattr(o, name)) in wanted}
            handled.add(key)
    rest = [k for k in query if k.startswith("filter[") and k not in handled]
    limit_early = query.get("limit", "")
    if not rest and "sort" not in query and re.fullmatch(r"\d+,\d+", limit_early):
        # Pages of an unfiltered list: render only the page (objects are kept in id order).
        first, count = (int(x) for x in limit_early.split(","))
        ids = sorted(objects)[first : first + count]
        objects = {i: objects[i] for i in ids}
        query = {k: v for k, v in query.items() if k != "limit"}
    rows = [_resource_fields(emulator, resource, obj) for _, obj in sorted(objects.items())]
    allowed = {k for k in (rows[0] if rows else _blank(emulator, resource)) if k != "associations"}
    date_ok = query.get("date") == "1"
    for key, raw in query.items():
        match = re.fullmatch(r"filter\[(\w+)\]", key)
        if not match:
            continue
        name = match[1]
        if name in DATE_FIELDS and not date_ok or name not in allowed:
            close = [a for a in allowed if a[:4] == name[:4]]
            hint = f' Did you mean: "{close[0]}"?' if close else ""
            raise WsError(
                400,
                32,
                f'This filter does not exist.{hint} The full list is: "{", ".join(sorted(allowed))}"',
            )
        if raw == "":
            raise WsError(400, 33, f'The filter "{name}" is malformed.')
        test = _matcher(raw)
        rows = [r for r in rows if test(str(r.get(name, "")))]
    sort = query.get("sort")
    if sort:
        specs = sort[1:-1].split(",") if sort.startswith("[") else [sort]
        for spec in reversed(specs):
            m = re.fullmatch(r"(\w+)_(ASC|DESC)", spec)
            if not m:
                raise WsError(
                    400,
                    37,
                    'The "sort" value has to be formed as this example: "field_ASC" or \'[field_1_DESC,field_2_ASC,field_3_ASC,...]\' ("field" has to be an available field)',
                )
            if m[1] not in allowed or (m[1] in DATE_FIELDS and not date_ok):
                raise WsError(
                    400,
                    38,
                    f"Unable to filter by this field. However, these are available: {', '.join(sorted(allowed))}",
                )
            field_name = m[1]
            rows.sort(key=lambda r: _sort_key(r.get(field_name)), reverse=m[2] == "DESC")
    limit = query.get("limit")
    if limit:
        m = re.fullmatch(r"(\d+)(?:,(\d+))?", limit)
        if not m:
            raise WsError(
                400, 39, 'The "limit" value has to be formed as this example: "5,25" or "10"'
            )
        if m[2] is None:
            rows = rows[: int(m[1])]
        else:
            rows = rows[int(m[1]) : int(m[1]) + int(m[2])]
    return rows


def _sort_key(value: Any) -> tuple[int, Any]:
    try:
        return (0, float(value))
    except (TypeError, ValueError):
        return (1, str(value))


def _blank(emulator: PrestaShopEmulator, resource: str) -> dict[str, Any]:
    blanks = {
        "orders": ["id", "reference", "id_shop", "current_state", "valid", "date_add", "date_upd"],
        "order_details": [
            "id",
            "id_order",
            "product_id",
            "product_attribute_id",
            "product_name",
            "product_reference",
            "product_quantity",
            "product_quantity_refunded",
            "product_quantity_return",
            "product_quantity_reinjected",
        ],
        "products": ["id", "reference", "ean13", "name"],
        "combinations": ["id", "id_product", "reference", "ean13"],
        "stock_availables": [
            "id",
            "id_product",
            "id_product_attribute",
            "id_shop",
            "id_shop_group",
            "quantity",
            "depends_on_stock",
            "out_of_stock",
        ],
        "order_histories": ["id", "id_order", "id_order_state", "date_add"],
    }
    return dict.fromkeys(blanks.get(resource, ["id"]), "")


# -- the HTTP app --------------------------------------------------------------------------------

EMULATOR_KEY = web.AppKey("prestashop_emulator", PrestaShopEmulator)
API_KEY = web.AppKey("prestashop_api_key", str)


def create_app(
    emulator: PrestaShopEmulator,
    *,
    api_key: str,
    version: str | None = None,
    faults: Faults | None = None,
    seed: int | None = None,
) -> web.Application:
    if version is not None:
        emulator.version = version
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app[EMULATOR_KEY] = emulator
    app[API_KEY] = api_key
    install_faults(app, faults, seed)
    app.router.add_route("*", "/api", _api_root)
    app.router.add_route("*", "/api/", _api_root)
    app.router.add_route("*", "/api/{resource}", _api)
    app.router.add_route("*", "/api/{resource}/", _api)
    app.router.add_route("*", "/api/{resource}/{id}", _api)
    _admin_routes(app)
    return app


def _wants_json(request: web.Request) -> bool:
    for header in ("Io-Format", "Output-Format"):
        if header in request.headers:
            return request.headers[header].upper() == "JSON"
    fmt = request.query.get("output_format") or request.query.get("io_format") or ""
    return fmt.upper() == "JSON"


def _base_headers(request: web.Request, authenticated: bool) -> dict[str, str]:
    headers = {
        "X-Powered-By": "PrestaShop Webservice",
        "Access-Time": str(int(time.time())),
        "Execution-Time": "0.001",
    }
    if authenticated:
        headers["PSWS-Version"] = request.app[EMULATOR_KEY].version
    return headers


def _error(request: web.Request, err: WsError, authenticated: bool = True) -> web.Response:
    headers = _base_headers(request, authenticated)
    if _wants_json(request):
        return web.json_response(
            {"errors": [{"code": err.code, "message": err.message}]},
            status=err.status,
            headers=headers,
        )
    root = ET.Element("prestashop")
    errors = ET.SubElement(root, "errors")
    error = ET.SubElement(errors, "error")
    ET.SubElement(error, "code").text = f"\x00CDATA{err.code}\x00"
    ET.SubElement(error, "message").text = f"\x00CDATA{err.message}\x00"
    return web.Response(
        text=_to_xml(root), status=err.status, content_type="text/xml", headers=headers
    )


def _authenticate(request: web.Request) -> WsError | web.Response | None:
    key = ""
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Basic "):
        try:
            key = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            key = ""
    if not key:
        key = request.query.get("ws_key", "")
    if not key:
        return web.Response(
            status=401,
            text="401 Unauthorized",
            headers={
                "WWW-Authenticate": 'Basic realm="Welcome to PrestaShop Webservice, please enter the authentication key as the login. No password required."'
            },
        )
    if len(key) != 32:
        return WsError(401, 18, "Invalid authentication key format")
    if not secrets.compare_digest(key, request.app[API_KEY]):
        return WsError(401, 20, "Authentification key is not active")
    return None


async def _api_root(request: web.Request) -> web.Response:
    problem = _authenticate(request)
    if isinstance(problem, web.Response):
        return problem
    if problem is not None:
        return _error(request, problem, authenticated=False)
    headers = _base_headers(request, True)
    if _wants_json(request):
        return web.json_response(
            {"api": {k: {"description": k} for k in SINGULAR}}, headers=headers
        )
    root = ET.Element("prestashop")
    api = ET.SubElement(root, "api", {"shopName": "syncd emulator"})
    for name in SINGULAR:
        ET.SubElement(
            api,
            name,
            {
                HREF: f"{request.url.origin()}/api/{name}",
                "get": "true",
                "put": "true",
            },
        )
    return web.Response(text=_to_xml(root), content_type="text/xml", headers=headers)


async def _api(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR_KEY]
    problem = _authenticate(request)
    if isinstance(problem, web.Response):
        return problem
    if problem is not None:
        return _error(request, problem, authenticated=False)
    method = request.query.get("ps_method", request.method).upper()
    resource = request.match_info["resource"]
    emulator.requests.append((method, request.path))
    try:
        if resource not in SINGULAR:
            names = ", ".join(SINGULAR)
            raise WsError(
                400,
                27,
                f'Resource of type "{resource}" does not exists. Did you mean: "{resource}s"? The full list is: "{names}"',
            )
        if method not in ("GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"):
            raise WsError(405, 23, f"Method {method} is not valid")
        if method == "PATCH" and emulator.version.startswith("1."):
            raise WsError(405, 23, "Method PATCH is not valid")
        if method not in METHODS.get(resource, {"GET", "HEAD"}):
            raise WsError(405, 101, f"Method {method} is not allowed for the resource {resource}")
        if method in ("GET", "HEAD"):
            return _get(request, emulator, resource)
        body = (await request.read()).decode("utf-8", errors="replace")
        if body.startswith("xml="):
            body = body[4:]
        if method == "POST":
            return _post_history(request, emulator, body)
        return _write_stock(request, emulator, body, partial=method == "PATCH")
    except WsError as err:
        return _error(request, err)


def _get(request: web.Request, emulator: PrestaShopEmulator, resource: str) -> web.Response:
    headers = _base_headers(request, True)
    query = dict(request.query)
    if "id" in request.match_info:
        objects = _objects(emulator, resource)
        try:
            obj = objects[int(request.match_info["id"])]
        except (KeyError, ValueError) as err:
            raise WsError(404, 87, f"Id(s) not exists: {request.match_info['id']}") from err
        fields = _resource_fields(emulator, resource, obj)
        display = _parse_display(query.get("display"), set(fields))
        shown = fields if display in (None, "full") else _project(fields, display)  # type: ignore[arg-type]
        if _wants_json(request):
            return web.json_response({SINGULAR[resource]: _stringify(shown)}, headers=headers)
        root = ET.Element("prestashop")
        node = ET.SubElement(root, SINGULAR[resource])
        for key, value in shown.items():
            _xml_value(node, key, value, str(request.url.origin()))
        return web.Response(text=_to_xml(root), content_type="text/xml", headers=headers)
    rows = _filtered_list(emulator, resource, query)
    allowed = set(rows[0]) if rows else set(_blank(emulator, resource))
    display = _parse_display(query.get("display"), allowed - {"associations"})
    if _wants_json(request):
        if not rows:
            return web.json_response([], headers=headers)
        if display is None:
            return web.json_response(
                {resource: [{"id": int(r["id"])} for r in rows]}, headers=headers
            )
        listed = rows if display == "full" else [_project(r, display) for r in rows]  # type: ignore[arg-type]
        return web.json_response({resource: _stringify(listed)}, headers=headers)
    root = ET.Element("prestashop")
    container = ET.SubElement(root, resource)
    origin = str(request.url.origin())
    for row in rows:
        if display is None:
            ET.SubElement(
                container,
                SINGULAR[resource],
                {"id": str(row["id"]), HREF: f"{origin}/api/{resource}/{row['id']}"},
            )
            continue
        node = ET.SubElement(container, SINGULAR[resource])
        shown_row = row if display == "full" else _project(row, display)  # type: ignore[arg-type]
        for key, value in shown_row.items():
            _xml_value(node, key, value, origin)
    return web.Response(text=_to_xml(root), content_type="text/xml", headers=headers)


def _parse_body(body: str, singular: str) -> dict[str, str]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as err:
        raise WsError(400, 127, f"XML error : {err}") from err
    node = root.find(singular) if root.tag == "prestashop" else root
    if node is None:
        raise WsError(400, 31, f"the <{singular}> element is missing from the body")
    return {child.tag: (child.text or "").strip() for child in node}


_REQUIRED_STOCK = (
    "id_product",
    "id_product_attribute",
    "quantity",
    "depends_on_stock",
    "out_of_stock",
)


def _write_stock(
    request: web.Request, emulator: PrestaShopEmulator, body: str, *, partial: bool
) -> web.Response:
    values = _parse_body(body, "stock_available")
    if not values.get("id"):
        raise WsError(400, 90, "Id is required when modifying a resource")
    try:
        stock = emulator.stock[int(values["id"])]
    except (KeyError, ValueError) as err:
        raise WsError(404, 92, "Invalid ID") from err
    if "id" in request.match_info and request.match_info["id"] != values["id"]:
        raise WsError(400, 89, "The id in the URL and in the body differ")
    if not partial:
        for name in _REQUIRED_STOCK:
            if name not in values or values[name] == "":
                raise WsError(400, 41, f'parameter "{name}" required')
    if stock.depends_on_stock or values.get("depends_on_stock") == "1":
        raise WsError(500, 133, "You cannot update the available stock when it depends on stock.")
    if "quantity" in values:
        try:
            quantity = int(values["quantity"])
        except ValueError as err:
            raise WsError(
                400, 85, 'Validation error: "Property StockAvailable->quantity is not valid"'
            ) from err
        stock.quantity = quantity
    if not partial and "out_of_stock" in values:
        stock.out_of_stock = int(values["out_of_stock"] or 2)
    emulator._recompute_sum(stock.id_product)
    if emulator.on_write is not None:
        combo = emulator.combinations.get(stock.id_product_attribute)
        sku = combo.reference if combo else emulator.products[stock.id_product].reference
        emulator.on_write(sku, stock.quantity)
    fields = _resource_fields(emulator, "stock_availables", stock)
    headers = _base_headers(request, True)
    if _wants_json(request):
        return web.json_response({"stock_available": _stringify(fields)}, headers=headers)
    root = ET.Element("prestashop")
    node = ET.SubElement(root, "stock_available")
    for key, value in fields.items():
        _xml_value(node, key, value, "")
    return web.Response(text=_to_xml(root), content_type="text/xml", headers=headers)


def _post_history(request: web.Request, emulator: PrestaShopEmulator, body: str) -> web.Response:
    values = _parse_body(body, "order_history")
    for name in ("id_order", "id_order_state"):
        if not values.get(name):
            raise WsError(400, 41, f'parameter "{name}" required')
    try:
        emulator.set_order_state(int(values["id_order"]), int(values["id_order_state"]))
    except (KeyError, ValueError) as err:
        raise WsError(400, 85, f"Validation error: {err}") from err
    return web.Response(status=201, text="", headers=_base_headers(request, True))


# -- admin API for tests, the demo and benchmarks ------------------------------------------------


def _admin_routes(app: web.Application) -> None:
    async def products(request: web.Request) -> web.Response:
        emulator = request.app[EMULATOR_KEY]
        data = await request.json()
        pid = emulator.add_product(
            data["reference"],
            int(data.get("quantity", 0)),
            name=data.get("name", ""),
            ean13=data.get("ean13", ""),
            combinations=[
                (c["reference"], int(c.get("quantity", 0)), c.get("ean13", ""))
                for c in data.get("combinations", [])
            ],
        )
        return web.json_response({"id": pid})

    async def orders(request: web.Request) -> web.Response:
        data = await request.json()
        oid = request.app[EMULATOR_KEY].create_order(
            {k: int(v) for k, v in data["lines"].items()}, data.get("state", "PS_OS_PAYMENT")
        )
        return web.json_response({"id": oid})

    async def state(request: web.Request) -> web.Response:
        data = await request.json()
        request.app[EMULATOR_KEY].set_order_state(int(request.match_info["id"]), data["state"])
        return web.json_response({"ok": True})

    async def refund(request: web.Request) -> web.Response:
        data = await request.json()
        request.app[EMULATOR_KEY].refund(
            int(request.match_info["id"]),
            data["sku"],
            int(data["quantity"]),
            bool(data.get("restock", True)),
        )
        return web.json_response({"ok": True})

    async def quantities(request: web.Request) -> web.Response:
        emulator = request.app[EMULATOR_KEY]
        if request.method == "POST":
            for sku, qty in (await request.json()).items():
                emulator.set_quantity(sku, int(qty))
        out = {c.reference: emulator.quantity(c.reference) for c in emulator.combinations.values()}
        out.update(
            {
                p.reference: emulator.quantity(p.reference)
                for p in emulator.products.values()
                if not p.combinations
            }
        )
        return web.json_response(out)

    app.router.add_post("/__emulator/products", products)
    app.router.add_post("/__emulator/orders", orders)
    app.router.add_post("/__emulator/orders/{id}/state", state)
    app.router.add_post("/__emulator/orders/{id}/refund", refund)
    app.router.add_route("*", "/__emulator/quantities", quantities)

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
    """`syncd emulator prestashop`: serve a shop with the demo catalogue until Ctrl-C."""
    emulator = PrestaShopEmulator()
    emulator.load_catalog(demo_catalog(products))
    key = "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(32))
    serve_forever(
        create_app(emulator, api_key=key), host, port, {"api_key": key, "products": products}
    )
