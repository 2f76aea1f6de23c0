"""Magento MSI with several sources: each ledger location the channel sells from is written to
an MSI source of its own (``[channels.X.magento_sources] store = "<source_code>"``, issue 17).

How Magento counts (magento/inventory, checked for this module):

- The stock index's quantity is ``SUM(IF(source_item.status = 0, 0, quantity))`` over the
  enabled sources linked to the stock (InventoryIndexer/Indexer/SelectBuilder.php,
  ``getSourceCodes``: ``stock_source_link`` joined with ``source.enabled = 1``).
- Salable = that quantity + the stock's reservations − min qty, 0 when the index says not
  salable (InventorySales/Model/GetProductSalableQty.php, with GetReservationsQuantity keyed by
  SKU and *stock*). A reservation belongs to the stock, never to a source: an order placed
  appends one (−units) and leaves every source alone; a shipment takes its units off the source
  it names (InventoryShipping's SourceDeductionRequestFromShipmentFactory) and compensates the
  reservation.

So per source we write:

- at the *first* source of ``magento_sources`` (its location is the "reserving" one):
  ``quantity = available + reserved``, reserved = Σ(every linked source's quantity) − salable,
  the unshipped units of open orders. Magento then shows Σ available as salable, and an
  unshipped order is not counted twice. What that lane shows is ``salable − Σ other sources``.
- at every other source: ``quantity = available`` as is; that lane shows the source's quantity.

Magento has no compare-and-set (a write is absolute), so every lane push reads before it writes,
as the one-source push does: the source items of the SKUs at every linked source, and the salable
quantities for the reserving source. A figure lower than we believe is deferred until the orders
are pulled (a shipment from this source we have not seen); after the pull it is forced. An order
placed between the read and the write holds its units by its own reservation, which a source
write leaves in place; a shipment landing in that window is found by the read-back after the
pull that brings it (``read_location_figures``, ChannelRunner._read_back_lanes).

Orders come per channel, not per source: MSI picks the source only when the order ships. The
ledger books an order's units at the location of the source it shipped from (``GET shipments``
names it as ``extension_attributes.source_code``, added by InventoryShipping's
GetListShipmentRepositoryPlugin), and until it ships at the reserving location, whose figure
carries the reservation compensation above. When a shipment moves it elsewhere, the order's new
version names the other location and the ledger moves its units there (the planner relocates a
document's lines), just as Magento moved them from the stock's reservation to that source. This
mirrors Shopify's lanes, where an order sells from the location Shopify assigned it
(shopify/orders.py ``order_location``). A document has one location: an order shipped in parts
counts where most of its units are (unshipped ones at the reserving location); the read-back
after each pull then finds the lanes off by the rest and writes the ledger's split, which keeps
Magento's total right.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

import structlog

from syncd.connectors.base import ChannelLevel, PushItem, PushResult, PushStatus
from syncd.connectors.magento.client import MagentoClient, MagentoSettings, qty, search_params
from syncd.connectors.magento.orders import held_by
from syncd.exceptions import ChannelConfigError
from syncd.settings import TableReader

log = structlog.get_logger("syncd.magento")
# One source-items or shipments search asks this many SKUs or orders at most.
CHUNK = 100
# A lane read of more SKUs than this pages the source's items (300 a page) rather than asking
# for the SKUs by name (100 a request).
LANE_BULK_FROM = 300


class MagentoConnector(Protocol):
    """What this module needs of connector.MagentoConnector."""

    name: str
    settings: MagentoSettings
    client: MagentoClient

    async def linked_sources(self) -> list[str]: ...

    async def salables_of(self, skus: Sequence[str]) -> dict[str, int | str]: ...

    async def held_by_open_orders(self) -> dict[str, int]: ...

    async def write_sources(self, batch: list[tuple[PushItem, dict[str, Any], int]]) -> None: ...


def parse_sources(r: TableReader, table: Mapping[str, Any], mode: str) -> dict[str, str]:
    """``[channels.X.magento_sources]``: ledger location → MSI source code; the first one
    carries the reservations of unshipped orders. The config checks that it maps exactly the
    locations the channel sells from (config._check_lanes)."""
    sources = r.string_map("magento_sources")
    for ours, code in sources.items():
        if not code.strip() or re.search(r"\s", code):
            r.problem(
                f"magento_sources.{ours}",
                f"{code!r} is not a Magento source code",
                f'{ours} = "warehouse_1" (Stores > Sources > Code)',
            )
    if sources and mode != "msi":
        r.problem(
            "magento_sources",
            "needs MSI sources: legacy mode has one stock figure",
            'mode = "msi", or remove magento_sources',
        )
    if sources and "source_code" in table:
        r.problem(
            "source_code",
            "is not used with magento_sources (each location names its source)",
            "remove source_code",
        )
    return sources


def counted(row: Mapping[str, Any]) -> bool:
    """Whether the stock index counts a source item: in stock, and more than 0 (SelectBuilder
    counts an item out of stock as 0)."""
    return bool(qty(row.get("status"))) and qty(row.get("quantity")) > 0


def blind_salable(counted: bool, salable: object) -> bool:
    """Whether Magento's salable quantity cannot tell the units reserved (source − salable).
    GetProductSalableQty answers 0 whatever is reserved when the stock index says not salable:
    on 2.4.7 when its in-stock quantity plus the reservations is not above the min qty
    (MinQtyStockWithReservationsCondition), as computed when the item was last saved. So after
    syncd writes a figure of 0 (source = the units reserved) and an order holding them is
    cancelled, salable stays 0 (seen on the real shop). So any salable of 0 or less, or an item
    the index does not count, is blind: the open orders tell the units reserved."""
    return not counted or (isinstance(salable, int) and salable <= 0)


def items_of(data: Any) -> list[dict[str, Any]]:
    """The objects of a search result's ``items`` (none when it is not one)."""
    items = data.get("items") if isinstance(data, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


async def check_sources(connector: MagentoConnector, stock: int, stock_name: str) -> list[str]:
    """Each mapped source exists, is enabled and linked to the stock, and every enabled source
    linked to the stock is mapped (what an unmapped one holds would be sold on top of ours).
    Returns the stock's enabled linked sources."""
    client, name = connector.client, connector.name
    sources = {
        str(s.get("source_code")): bool(s.get("enabled", True))
        for s in items_of(
            await client.call("GET", "inventory/sources", params=search_params(page_size=300))
        )
    }
    links = await client.call(
        "GET",
        "inventory/stock-source-links",
        params=search_params([[("stock_id", str(stock), "eq")]], page_size=300),
    )
    linked = [str(link.get("source_code")) for link in items_of(links)]
    for location, code in connector.settings.sources.items():
        key = f"magento_sources.{location} = {code!r}"
        if code not in sources:
            raise ChannelConfigError(
                f"{key}: Magento has no inventory source {code!r} "
                f"(has: {', '.join(sorted(sources))})",
                channel=name,
            )
        if not sources[code]:
            raise ChannelConfigError(
                f"{key}: the source is disabled in Magento: what we write there is never sold",
                channel=name,
            )
        if code not in linked:
            raise ChannelConfigError(
                f"{key}: the source is not linked to stock_id = {stock} ({stock_name}: "
                f"{', '.join(sorted(linked)) or 'no sources'}): what we write there would "
                "never show as salable",
                channel=name,
            )
    mapped = set(connector.settings.sources.values())
    enabled = [code for code in linked if sources.get(code, False)]
    extra = [code for code in enabled if code not in mapped]
    if extra:
        raise ChannelConfigError(
            f"magento_sources: stock_id = {stock} ({stock_name}) also sells from "
            f"{', '.join(repr(c) for c in extra)}, which no location maps: Magento would sell "
            "what it holds on top of syncd's figures. Map it to a location, or unlink it from "
            "the stock",
            channel=name,
        )
    return enabled


async def shipped_locations(
    connector: MagentoConnector, orders: Sequence[dict[str, Any]]
) -> dict[str, str]:
    """Order entity id → the ledger location holding most of its units, for the orders of a
    page that shipped anything: shipped units at their source's location, units still
    reserved (not shipped) at the first location; a tie goes to the earlier location."""
    shipped = [
        str(o.get("entity_id"))
        for o in orders
        if any(isinstance(i, dict) and qty(i.get("qty_shipped")) > 0 for i in o.get("items") or [])
    ]
    if not shipped:
        return {}
    ours = {code: location for location, code in connector.settings.sources.items()}
    units: dict[str, dict[str, int]] = {}  # order → location → units shipped from it
    for start in range(0, len(shipped), CHUNK):
        chunk = shipped[start : start + CHUNK]
        async for page in connector.client.paged(
            "shipments", [[("order_id", ",".join(chunk), "in")]], page_size=CHUNK
        ):
            for shipment in page:
                extension = shipment.get("extension_attributes")
                code = extension.get("source_code") if isinstance(extension, dict) else None
                location = ours.get(str(code))
                if location is None:
                    continue  # shipped from a source no location maps: left where it was
                count = sum(
                    qty(i.get("qty")) for i in shipment.get("items") or [] if isinstance(i, dict)
                )
                where = units.setdefault(str(shipment.get("order_id")), {})
                where[location] = where.get(location, 0) + count
    order = list(connector.settings.sources)
    for placed in orders:
        oid = str(placed.get("entity_id"))
        if oid in units:
            held: dict[str, int] = {}
            held_by([placed], held, count_parents=connector.settings.count_parents)
            where = units[oid]
            where[order[0]] = where.get(order[0], 0) + sum(held.values())
    return {
        oid: max(where, key=lambda loc: (where[loc], -order.index(loc)))
        for oid, where in units.items()
        if where
    }


async def source_rows(
    connector: MagentoConnector, skus: Sequence[str], sources: Sequence[str]
) -> dict[str, dict[str, int]]:
    """SKU → source → what that source item adds to the stock (its quantity; 0 when its status
    is out of stock, as the stock index counts it) and ``"<source>!"`` → its raw quantity."""
    rows: dict[str, dict[str, int]] = {}
    for start in range(0, len(skus), CHUNK):
        chunk = skus[start : start + CHUNK]
        async for page in connector.client.paged(
            "inventory/source-items",
            [[("sku", ",".join(chunk), "in")], [("source_code", ",".join(sources), "in")]],
            page_size=CHUNK,
        ):
            for row in page:
                sku, code = str(row.get("sku")), str(row.get("source_code"))
                quantity = qty(row.get("quantity"))
                mine = rows.setdefault(sku, {})
                mine[code] = quantity if qty(row.get("status")) else 0
                mine[code + "!"] = quantity
    return rows


async def figures_at(
    connector: MagentoConnector, location: str, skus: Sequence[str]
) -> dict[str, tuple[int, int] | str]:
    """Per SKU, what Magento shows for ``location``'s lane and the units reserved that the
    written quantity must carry (0 but at the reserving source), or why it cannot (text)."""
    code = connector.settings.sources[location]
    reserving = location == next(iter(connector.settings.sources))
    linked = await connector.linked_sources()
    rows, salables = await asyncio.gather(
        source_rows(connector, skus, linked),
        connector.salables_of(skus) if reserving else asyncio.sleep(0, result={}),
    )
    # Where salable cannot tell the units reserved (blind_salable), the open orders do: one
    # read for the batch.
    blind = {
        sku
        for sku in skus
        if reserving
        and blind_salable(sum(rows.get(sku, {}).get(s, 0) for s in linked) > 0, salables.get(sku))
    }
    held = await connector.held_by_open_orders() if blind else {}
    out: dict[str, tuple[int, int] | str] = {}
    for sku in skus:
        mine = rows.get(sku, {})
        if code not in mine:
            out[sku] = f"no source item for {sku!r} at source {code!r} in Magento"
            continue
        if not reserving:
            out[sku] = (mine[code], 0)
            continue
        salable = salables.get(sku)
        if isinstance(salable, str) or salable is None:
            out[sku] = salable or f"no salable quantity for {sku!r} in Magento"
            continue
        stock = sum(mine.get(s, 0) for s in linked)
        others = stock - mine[code]
        reserved = held.get(sku, 0) if sku in blind else max(0, stock - salable)
        out[sku] = (salable - others, reserved)
    return out


async def levels_at(
    connector: MagentoConnector, location: str, skus: Sequence[str] | None = None
) -> AsyncIterator[list[ChannelLevel]]:
    """What ``location``'s lane shows, per SKU (reconcile and init): the figure a push compares
    with (figures_at). The whole catalogue (or many SKUs) pages the source's items: another
    source's lane shows its item's quantity as is; the reserving source's lane is read as the
    push reads it, from Magento's salable quantities (exported in bulk), because reservations
    belong to the stock, not to the orders of the whole shop: an open order placed on another
    stock's website holds nothing here (GetReservationsQuantity is keyed by SKU and stock)."""
    code = connector.settings.sources[location]
    if skus is not None and len(skus) <= LANE_BULK_FROM:
        yield _lane_levels(await figures_at(connector, location, list(skus)), {}, code)
        return
    reserving = location == next(iter(connector.settings.sources))
    wanted = set(skus) if skus is not None else None
    async for page in connector.client.paged(
        "inventory/source-items",
        [[("source_code", code, "eq")]],
        page_size=max(connector.settings.page_size, 300),
    ):
        counted: dict[str, int] = {}  # SKU → what its item adds to the stock
        for row in page:
            sku = str(row.get("sku") or "").strip()
            if wanted is None or sku in wanted:
                # An item out of stock adds nothing to the stock index (source_rows).
                counted[sku] = qty(row.get("quantity")) if qty(row.get("status")) else 0
        if not reserving:
            yield [
                ChannelLevel(sku, max(0, q), detail={"source": code, "reserved": 0})
                for sku, q in counted.items()
            ]
            continue
        read = [sku for sku in counted if sku]
        found = await figures_at(connector, location, read) if read else {}
        yield _lane_levels(found, counted, code)


def _lane_levels(
    found: Mapping[str, tuple[int, int] | str], counted: Mapping[str, int], code: str
) -> list[ChannelLevel]:
    """Levels from figures_at's answers; a SKU Magento has no salable figure for is shown with
    its item's quantity and why (never dropped: reconcile and init report it), and a row
    without a SKU with its quantity (reported as such)."""
    levels = []
    for sku, f in found.items():
        if isinstance(f, str):
            detail = {"source": code, "problem": f}
            levels.append(ChannelLevel(sku, max(0, counted.get(sku, 0)), detail=detail))
        else:
            levels.append(
                ChannelLevel(sku, max(0, f[0]), detail={"source": code, "reserved": f[1]})
            )
    if "" in counted:
        levels.append(ChannelLevel("", max(0, counted[""]), detail={"source": code}))
    return levels


async def push_at(
    connector: MagentoConnector, location: str, items: Sequence[PushItem]
) -> list[PushResult]:
    """Write SKUs' figures at ``location``'s source, reading first (no compare-and-set)."""
    code = connector.settings.sources[location]
    reserving = location == next(iter(connector.settings.sources))
    found = await figures_at(connector, location, [i.sku for i in items])
    results: dict[str, PushResult] = {}
    writes: list[tuple[PushItem, dict[str, Any], int]] = []
    for item in items:
        state = found[item.sku]
        if isinstance(state, str):
            results[item.sku] = PushResult(item.sku, PushStatus.SKIPPED, reason=state)
            continue
        figure, reserved = state
        shows = max(0, figure)
        if item.last_known is not None and shows < item.last_known and not item.force:
            results[item.sku] = PushResult(
                item.sku,
                PushStatus.DEFERRED,
                observed=figure,
                reason=f"Magento's source {code!r} moved lower: orders not pulled yet",
            )
            continue
        if (
            item.defer_higher
            and item.last_known is not None
            and item.last_known < shows != item.available
            and not item.force
        ):
            results[item.sku] = PushResult(item.sku, PushStatus.DEFERRED, observed=figure)
            continue
        if shows == item.available:
            results[item.sku] = PushResult(
                item.sku, PushStatus.UNCHANGED, shown=shows, observed=figure
            )
            continue
        quantity = item.available + reserved
        entry = {
            "sku": item.sku,
            "source_code": code,
            "quantity": quantity,
            # The reserving source's units count only "in stock" (SelectBuilder): with units
            # reserved and none available they must still count, or salable drops by them.
            "status": int((quantity if reserving else item.available) > 0),
        }
        writes.append((item, entry, figure))
    size = connector.settings.batch_size
    await asyncio.gather(
        *(connector.write_sources(writes[s : s + size]) for s in range(0, len(writes), size))
    )
    for item, entry, figure in writes:
        results[item.sku] = PushResult(
            item.sku, PushStatus.WRITTEN, shown=item.available, observed=figure
        )
        log.info(
            "stock_pushed",
            channel=connector.name,
            sku=item.sku,
            location=location,
            source=code,
            quantity=item.available,
            source_quantity=entry["quantity"],
        )
    return [results[i.sku] for i in items]
