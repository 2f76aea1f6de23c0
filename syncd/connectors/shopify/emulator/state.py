"""The emulated Shopify shop: variants, their inventory at locations, orders with edits, refunds
and cancellations, and what a GraphQL answer is built from.

Shopify's own rules modelled here, each from its Admin API documentation (shopify.dev, 2025-01):
- an order lowers ``available`` at its location when it is placed (the units move to
  ``committed``); a fulfilment moves ``committed`` and ``on_hand`` and leaves ``available``
  alone, so it is not modelled;
- ``LineItem.currentQuantity`` is "the line item's quantity, minus the removed quantity":
  units taken off by an order edit and units refunded;
- a refund line's ``restockType`` (``RefundLineItemRestockType``) says whether its units went
  back to ``available``: ``RETURN``, ``CANCEL`` and ``LEGACY_RESTOCK`` do, ``NO_RESTOCK`` does
  not; ``orderCancel(restock: true)`` refunds what is left with ``CANCEL``;
- ``orderEditSetQuantity(restock:)`` gives removed units back only when asked to;
- ``inventorySetQuantities`` is a compare-and-set (API 2026-04 and later, the version served):
  each quantity must carry ``changeFromQuantity`` (explicit null: no comparison); a stale
  figure fails the whole call with ``CHANGE_FROM_QUANTITY_STALE`` and writes nothing
  (shopify.dev/docs/api/admin-graphql/2026-10/mutations/inventorySetQuantities and
  ``InventorySetQuantitiesUserErrorCode``);
- the call carries ``@idempotent(key:)``: the same key with the same input answers what the
  first call answered and changes nothing again; with another input,
  ``IDEMPOTENCY_KEY_PARAMETER_MISMATCH`` (shopify.dev/docs/api/usage/idempotent-requests).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

GID = "gid://shopify/{kind}/{id}"
MAX_PAGE = 250  # Shopify's largest first/last on a connection
# inventorySetQuantities takes at most this many quantities a call (Shopify's input limit on
# list arguments, "The input array size of N is greater than the maximum allowed of 250").
MAX_QUANTITIES = 250
# The userError of a stale changeFromQuantity: the code and the text Shopify documents for it
# (InventorySetQuantitiesUserErrorCode.CHANGE_FROM_QUANTITY_STALE, shopify.dev 2026-10).
STALE_CODE = "CHANGE_FROM_QUANTITY_STALE"
STALE_MESSAGE = "The changeFromQuantity value does not match persisted value."
MISMATCH_CODE = "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"
MISMATCH_MESSAGE = "The same idempotency key cannot be used with different operation parameters."
RESTOCKED = frozenset({"RETURN", "CANCEL", "LEGACY_RESTOCK"})


def gid(kind: str, number: int) -> str:
    return GID.format(kind=kind, id=number)


def gid_number(value: object, kind: str) -> int | None:
    """The number of ``gid://shopify/<kind>/<n>`` (or of a bare number); None otherwise."""
    text = str(value)
    match = re.fullmatch(rf"(?:gid://shopify/{kind}/)?(\d+)", text)
    return int(match.group(1)) if match else None


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Variant:
    id: int
    sku: str
    barcode: str
    title: str
    item_id: int
    tracked: bool = True


@dataclass
class LineItem:
    id: int
    variant_id: int | None
    sku: str
    title: str
    quantity: int
    removed: int = 0  # by order edits


@dataclass
class RefundLine:
    line_id: int
    quantity: int
    restock_type: str


@dataclass
class Order:
    id: int
    name: str
    created_at: datetime
    updated_at: datetime
    lines: list[LineItem]
    location_id: int
    test: bool = False
    cancelled_at: datetime | None = None
    refunds: list[list[RefundLine]] = field(default_factory=list)

    def refunded(self, line_id: int) -> int:
        return sum(r.quantity for refund in self.refunds for r in refund if r.line_id == line_id)

    def current(self, line: LineItem) -> int:
        return line.quantity - line.removed - self.refunded(line.id)


class ShopState:
    """One shop's data. Times are whole seconds, as Shopify's ``updatedAt`` is."""

    def __init__(self, *, location_id: int = 1, clock: Callable[[], datetime] | None = None):
        self.location_id = location_id
        self.locations: dict[int, str] = {location_id: "Shop location"}
        self.variants: dict[int, Variant] = {}
        self.by_sku: dict[str, int] = {}
        self.levels: dict[tuple[int, int], int] = {}  # (inventory item, location) → available
        self.orders: dict[int, Order] = {}
        self._ids = itertools.count(1001)
        self._clock = clock or (lambda: datetime.now(UTC))
        self.on_event: Callable[[str, dict[str, Any]], None] | None = None  # webhooks
        self.on_write: Callable[[str, int], None] | None = None  # benchmarks' write log
        self.write_log: list[tuple[float, str, int]] = []
        self.stale_refusals = 0  # inventorySetQuantities calls refused for a stale figure
        # @idempotent keys seen: key → (the input it came with, the answer given)
        self.idempotent: dict[str, tuple[str, dict[str, Any]]] = {}
        self.replayed = 0  # calls answered from an earlier call with the same key

    # -- catalogue and inventory ---------------------------------------------------------------

    def now(self) -> datetime:
        return self._clock().replace(microsecond=0)

    def add_variant(
        self,
        sku: str,
        available: int,
        *,
        barcode: str = "",
        title: str = "",
        tracked: bool = True,
        elsewhere: Mapping[int, int] | None = None,
    ) -> Variant:
        """A variant stocked at the shop's first location (``available``) and at the other
        locations in ``elsewhere`` (location id → available)."""
        variant = Variant(next(self._ids), sku, barcode, title or sku, next(self._ids), tracked)
        self.variants[variant.id] = variant
        if sku:
            self.by_sku[sku] = variant.id
        self.levels[(variant.item_id, self.location_id)] = available
        for location_id, figure in (elsewhere or {}).items():
            self.add_location(location_id)
            self.levels[(variant.item_id, location_id)] = figure
        return variant

    def add_location(self, location_id: int, name: str = "") -> None:
        """Another location of the shop (Settings → Locations)."""
        self.locations.setdefault(location_id, name or f"Location {location_id}")

    def variant(self, sku: str) -> Variant:
        """The variant of a SKU, or (one without SKU) of its barcode."""
        if sku in self.by_sku:
            return self.variants[self.by_sku[sku]]
        return next(v for v in self.variants.values() if not v.sku and v.barcode == sku)

    def available(self, sku: str, location_id: int | None = None) -> int:
        variant = self.variant(sku)
        return self.levels.get((variant.item_id, location_id or self.location_id), 0)

    def set_available(self, sku: str, quantity: int, location_id: int | None = None) -> None:
        """A figure typed in Shopify's admin (a hand edit)."""
        variant = self.variant(sku)
        self.levels[(variant.item_id, location_id or self.location_id)] = quantity
        self._event("inventory_levels/update", {"inventory_item_id": variant.item_id})

    def _move(self, variant_id: int | None, delta: int, location_id: int) -> None:
        variant = self.variants.get(variant_id) if variant_id is not None else None
        if variant is None or not variant.tracked:
            return
        key = (variant.item_id, location_id)
        self.levels[key] = self.levels.get(key, 0) + delta
        self._event("inventory_levels/update", {"inventory_item_id": variant.item_id})

    # -- orders --------------------------------------------------------------------------------

    def _touch(self, order: Order) -> None:
        order.updated_at = max(self.now(), order.updated_at)

    def place_order(
        self, lines: dict[str, int], *, test: bool = False, location_id: int | None = None
    ) -> Order:
        """An order whose units Shopify reserves at ``location_id`` (default: the first
        location): one fulfilment order assigned there, ``available`` lowered there."""
        number = next(self._ids)
        now = self.now()
        items = []
        for code, quantity in lines.items():
            try:
                variant: Variant | None = self.variant(code)
            except StopIteration:
                variant = None  # a custom item
            sku = variant.sku if variant else ""
            title = variant.title if variant else code
            line_id = next(self._ids)
            items.append(LineItem(line_id, variant.id if variant else None, sku, title, quantity))
        where = location_id or self.location_id
        if where not in self.locations:
            raise ValueError(f"no location {where}")
        order = Order(number, f"#{number}", now, now, items, where, test=test)
        self.orders[number] = order
        for item in items:
            self._move(item.variant_id, -item.quantity, order.location_id)
        self._event("orders/create", self._order_payload(order))
        return order

    def edit_order(self, order_id: int, sku: str, quantity: int, *, restock: bool) -> None:
        """orderEditBegin … orderEditSetQuantity(quantity, restock) … orderEditCommit."""
        order = self.orders[order_id]
        line = self._line(order, sku)
        removed = order.current(line) - quantity
        if removed <= 0:
            raise ValueError("an edit here only lowers a line")
        line.removed += removed
        if restock:
            self._move(line.variant_id, removed, order.location_id)
        self._touch(order)
        self._event("orders/updated", self._order_payload(order))

    def refund(self, order_id: int, lines: dict[str, tuple[int, str]]) -> None:
        """refundCreate: SKU → (units, restockType)."""
        order = self.orders[order_id]
        refund = []
        for sku, (quantity, restock_type) in lines.items():
            line = self._line(order, sku)
            if quantity > order.current(line):
                raise ValueError(f"cannot refund {quantity} of {sku}")
            refund.append(RefundLine(line.id, quantity, restock_type))
            if restock_type in RESTOCKED:
                self._move(line.variant_id, quantity, order.location_id)
        order.refunds.append(refund)
        self._touch(order)
        self._event("refunds/create", {"order_id": order.id})
        self._event("orders/updated", self._order_payload(order))

    def cancel(self, order_id: int, *, restock: bool = True) -> None:
        """orderCancel(restock:): what is left of each line is refunded, restocked or not."""
        order = self.orders[order_id]
        refund = []
        for line in order.lines:
            left = order.current(line)
            if left > 0:
                refund.append(RefundLine(line.id, left, "CANCEL" if restock else "NO_RESTOCK"))
                if restock:
                    self._move(line.variant_id, left, order.location_id)
        if refund:
            order.refunds.append(refund)
        order.cancelled_at = self.now()
        self._touch(order)
        self._event("orders/cancelled", self._order_payload(order))
        self._event("orders/updated", self._order_payload(order))

    def _line(self, order: Order, code: str) -> LineItem:
        variant_id = self.variant(code).id
        return next(item for item in order.lines if item.variant_id == variant_id)

    def _order_payload(self, order: Order) -> dict[str, Any]:
        return {"id": order.id, "name": order.name, "updated_at": iso(order.updated_at)}

    def _event(self, topic: str, payload: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(topic, payload)

    # -- inventorySetQuantities ----------------------------------------------------------------

    def set_quantities(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        """The payload of inventorySetQuantities(input: data) @idempotent(key: key)."""
        given = json.dumps(data, sort_keys=True)
        seen = self.idempotent.get(key)
        if seen is not None:
            if seen[0] != given:
                return {
                    "inventoryAdjustmentGroup": None,
                    "userErrors": [_user_error(MISMATCH_CODE, MISMATCH_MESSAGE, ["input"])],
                }
            self.replayed += 1
            return seen[1]
        answer = self._set_quantities(data)
        self.idempotent[key] = (given, answer)
        return answer

    def _set_quantities(self, data: dict[str, Any]) -> dict[str, Any]:
        errors: list[dict[str, Any]] = []
        name = data.get("name")
        if name not in ("available", "on_hand"):
            errors.append(
                _user_error(
                    "INVALID_NAME",
                    "The quantity name must be either 'available' or 'on_hand'.",
                    ["input", "name"],
                )
            )
        quantities = data.get("quantities") or []
        if len(quantities) > MAX_QUANTITIES:
            raise InputTooLarge(len(quantities))
        planned: list[tuple[tuple[int, int], int, Variant]] = []
        for index, entry in enumerate(quantities):
            where = ["input", "quantities", str(index)]
            item_id = gid_number(entry.get("inventoryItemId"), "InventoryItem")
            location_id = gid_number(entry.get("locationId"), "Location")
            variant = next((v for v in self.variants.values() if v.item_id == item_id), None)
            if variant is None:
                errors.append(
                    _user_error(
                        "INVALID_INVENTORY_ITEM",
                        "The specified inventory item could not be found.",
                        [*where, "inventoryItemId"],
                    )
                )
                continue
            if location_id not in self.locations:
                errors.append(
                    _user_error(
                        "INVALID_LOCATION",
                        "The specified location could not be found.",
                        [*where, "locationId"],
                    )
                )
                continue
            key = (variant.item_id, location_id)
            # From 2026-10 "inventory quantities can now be adjusted at any location" and
            # ITEM_NOT_STOCKED_AT_LOCATION is gone (shopify.dev/changelog/removal-of-
            # itemnotstockedatlocation-error): a write at a location the item is not stocked at
            # stocks it there (from 0).
            quantity = int(entry["quantity"])
            if quantity < 0 and name == "on_hand":
                errors.append(
                    _user_error(
                        "INVALID_QUANTITY_NEGATIVE",
                        "The quantity can't be negative.",
                        [*where, "quantity"],
                    )
                )
                continue
            if "changeFromQuantity" not in entry:
                # "Omitting changeFromQuantity returns an error" (2026-04 and later); its code is
                # not documented: the 2025-01 one for a missing comparison, on the new field.
                errors.append(
                    _user_error(
                        "COMPARE_QUANTITY_REQUIRED",
                        "changeFromQuantity must be given for each quantity (null: no comparison).",
                        [*where, "changeFromQuantity"],
                    )
                )
                continue
            compare = entry["changeFromQuantity"]
            if compare is not None and int(compare) != self.levels.get(key, 0):
                errors.append(
                    _user_error(STALE_CODE, STALE_MESSAGE, [*where, "changeFromQuantity"])
                )
                continue
            planned.append((key, quantity, variant))
        if errors:  # all or nothing
            if any(e["code"] == STALE_CODE for e in errors):
                self.stale_refusals += 1
            return {"inventoryAdjustmentGroup": None, "userErrors": errors}
        changes = []
        for key, quantity, variant in planned:
            delta = quantity - self.levels.get(key, 0)
            self.levels[key] = quantity
            changes.append({"name": name, "delta": delta, "quantityAfterChange": quantity})
            if self.on_write is not None:
                self.on_write(variant.sku, quantity)
            if delta:
                self._event("inventory_levels/update", {"inventory_item_id": variant.item_id})
        group = {
            "id": gid("InventoryAdjustmentGroup", next(self._ids)),
            "createdAt": iso(self.now()),
            "reason": data.get("reason"),
            "referenceDocumentUri": data.get("referenceDocumentUri"),
            "changes": changes,
        }
        return {"inventoryAdjustmentGroup": group, "userErrors": []}

    # -- what GraphQL answers are built from ---------------------------------------------------

    def variant_node(self, variant: Variant) -> dict[str, Any]:
        item = self.item_node(variant)
        return {
            "__typename": "ProductVariant",
            "id": gid("ProductVariant", variant.id),
            "legacyResourceId": str(variant.id),
            "sku": variant.sku or None,
            "barcode": variant.barcode or None,
            "title": variant.title,
            "displayName": variant.title,
            "inventoryItem": item,
        }

    def item_node(self, variant: Variant) -> dict[str, Any]:
        def level(_info: Any, locationId: str) -> dict[str, Any] | None:  # noqa: N803
            location = gid_number(locationId, "Location")
            key = (variant.item_id, location or -1)
            if key not in self.levels:
                return None
            return self.level_node(variant, key)

        return {
            "__typename": "InventoryItem",
            "id": gid("InventoryItem", variant.item_id),
            "legacyResourceId": str(variant.item_id),
            "sku": variant.sku or None,
            "tracked": variant.tracked,
            "inventoryLevel": level,
            "variant": lambda _info: self.variant_node(variant),
        }

    def level_node(self, variant: Variant, key: tuple[int, int]) -> dict[str, Any]:
        def quantities(_info: Any, names: list[str]) -> list[dict[str, Any]]:
            figure = self.levels[key]
            return [
                {
                    "id": f"{gid('InventoryLevel', key[0])}?location={key[1]}&name={n}",
                    "name": n,
                    "quantity": figure if n == "available" else 0,
                    "updatedAt": None,
                }
                for n in names
            ]

        return {
            "__typename": "InventoryLevel",
            "id": f"{gid('InventoryLevel', key[0])}?inventory_item_id={key[0]}",
            "quantities": quantities,
            "location": self.location_node(key[1]),
        }

    def location_node(self, location_id: int) -> dict[str, Any] | None:
        if location_id not in self.locations:
            return None
        return {
            "__typename": "Location",
            "id": gid("Location", location_id),
            "name": self.locations[location_id],
            "isActive": True,
            "legacyResourceId": str(location_id),
        }

    def order_node(self, order: Order) -> dict[str, Any]:
        lines_by_id = {line.id: line for line in order.lines}

        def line_node(line: LineItem) -> dict[str, Any]:
            variant = self.variants.get(line.variant_id) if line.variant_id else None
            return {
                "__typename": "LineItem",
                "id": gid("LineItem", line.id),
                "name": line.title,
                "title": line.title,
                "sku": line.sku or None,
                "quantity": line.quantity,
                "currentQuantity": order.current(line),
                "variant": self.variant_node(variant) if variant else None,
            }

        def refund_node(index: int, refund: list[RefundLine]) -> dict[str, Any]:
            rows = [
                {
                    "__typename": "RefundLineItem",
                    "quantity": r.quantity,
                    "restockType": r.restock_type,
                    "restocked": r.restock_type in RESTOCKED,
                    "lineItem": line_node(lines_by_id[r.line_id]),
                }
                for r in refund
            ]
            return {
                "__typename": "Refund",
                "id": gid("Refund", order.id * 100 + index),
                "refundLineItems": lambda info, **args: connection(rows, args, info),
            }

        return {
            "__typename": "Order",
            "id": gid("Order", order.id),
            "legacyResourceId": str(order.id),
            "name": order.name,
            "test": order.test,
            "createdAt": iso(order.created_at),
            "updatedAt": iso(order.updated_at),
            "processedAt": iso(order.created_at),
            "cancelledAt": iso(order.cancelled_at) if order.cancelled_at else None,
            "closed": order.cancelled_at is not None,
            "lineItems": lambda info, **args: connection(
                [line_node(line) for line in order.lines], args, info
            ),
            # One fulfilment order, assigned where the order took its units (objects/
            # FulfillmentOrder.assignedLocation in the 2025-01 schema).
            "fulfillmentOrders": lambda info, **args: connection(
                [
                    {
                        "__typename": "FulfillmentOrder",
                        "id": gid("FulfillmentOrder", order.id),
                        "status": "CLOSED" if order.cancelled_at else "OPEN",
                        "assignedLocation": {
                            "__typename": "FulfillmentOrderAssignedLocation",
                            "name": self.locations.get(order.location_id, ""),
                            "countryCode": "FR",
                            "location": self.location_node(order.location_id),
                        },
                    }
                ],
                args,
                info,
            ),
            "refunds": lambda _info, first=None: [
                refund_node(i, r) for i, r in enumerate(order.refunds)
            ][: first or None],
        }

    # -- searches (Shopify's search syntax, the part syncd uses) -------------------------------

    def search_orders(self, query: str | None) -> list[Order]:
        found = list(self.orders.values())
        for field_name, op, value in parse_search(query):
            if field_name == "updated_at":
                moment = parse_time(value)
                found = [o for o in found if compare(o.updated_at, op, moment)]
            elif field_name == "id":
                found = [o for o in found if str(o.id) == value]
            elif field_name == "test":
                found = [o for o in found if o.test == (value.lower() == "true")]
        return found

    def search_variants(self, query: str | None) -> list[Variant]:
        terms = parse_search(query)
        if not terms:
            return list(self.variants.values())
        skus = {v for f, _, v in terms if f == "sku"}
        barcodes = {v for f, _, v in terms if f == "barcode"}
        return [v for v in self.variants.values() if v.sku in skus or v.barcode in barcodes]


class InputTooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(
            f"The input array size of {size} is greater than the maximum allowed of "
            f"{MAX_QUANTITIES}."
        )


def _user_error(code: str, message: str, where: list[str]) -> dict[str, Any]:
    return {"code": code, "message": message, "field": where}


_TERM = re.compile(r"""(\w+):(>=|<=|>|<)?("[^"]*"|'[^']*'|\S+)""")


def parse_search(query: str | None) -> list[tuple[str, str, str]]:
    """``updated_at:>='2025-01-01T00:00:00Z' sku:A OR sku:"B C"`` → (field, op, value) terms."""
    if not query:
        return []
    terms = []
    for match in _TERM.finditer(query):
        value = match.group(3)
        if value[:1] in ("'", '"'):
            value = value[1:-1]
        terms.append((match.group(1), match.group(2) or "=", value))
    return terms


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def compare(left: datetime, op: str, right: datetime) -> bool:
    return {
        ">": left > right,
        ">=": left >= right,
        "<": left < right,
        "<=": left <= right,
        "=": left == right,
    }[op]


def _cursor(index: int) -> str:
    return base64.b64encode(f"i:{index}".encode()).decode()


def _index(cursor: str) -> int:
    try:
        return int(base64.b64decode(cursor).decode().removeprefix("i:"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ConnectionArgumentError(f"Invalid cursor: {cursor!r:.40}") from err


class ConnectionArgumentError(Exception):
    pass


def connection(items: list[dict[str, Any]], args: dict[str, Any], info: Any) -> dict[str, Any]:
    """A Relay connection over ``items`` as Shopify pages one: ``first``/``after`` (or
    ``last``/``before``), at most 250, one of first or last required — except inside a bulk
    operation, which reads everything."""
    bulk = bool(getattr(info, "context", None) and info.context.get("bulk"))
    first, last = args.get("first"), args.get("last")
    start, end = 0, len(items)
    if args.get("after"):
        start = _index(args["after"]) + 1
    if args.get("before"):
        end = _index(args["before"])
    if not bulk:
        if first is None and last is None:
            raise ConnectionArgumentError("you must provide one of first or last")
        for value in (first, last):
            if value is not None and not 0 <= value <= MAX_PAGE:
                raise ConnectionArgumentError(
                    f"The value of the first/last argument must be between 0 and {MAX_PAGE}"
                )
    if args.get("reverse"):
        items = list(reversed(items))
    window = list(enumerate(items))[start:end]
    if first is not None and not bulk:
        window = window[:first]
    elif last is not None and not bulk:
        window = window[-last:] if last else []
    edges = [{"cursor": _cursor(i), "node": node} for i, node in window]
    return {
        "edges": edges,
        "nodes": [node for _, node in window],
        "pageInfo": {
            "hasNextPage": bool(window) and window[-1][0] < end - 1,
            "hasPreviousPage": bool(window) and window[0][0] > 0,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def since(moment: datetime, seconds: float) -> datetime:
    return moment - timedelta(seconds=seconds)
