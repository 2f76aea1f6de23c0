"""Magento 2 as a channel: orders in (by updated_at), source items or stock items out.

With MSI an order does not lower the source quantity: it appends a reservation, and salable =
source − reserved (reference §2.5). The ledger already deducted Magento's orders, so we write
``source quantity = available + reserved`` (reserved = source − salable, i.e. the unshipped
quantity of open orders): Magento then shows exactly ``available`` as salable, and an unshipped
order is never counted twice. Legacy stock (no MSI): ``qty = available``.

The transport (token, errors, paging) is in ``client.py``; which order lines hold stock and how
many of their units are in effect, in ``orders.py``; several sources, one per ledger location
(``magento_sources``), in ``sources.py``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

import aiohttp
import structlog

from syncd.connectors.base import (
    Batch,
    ChannelKit,
    ChannelLevel,
    ConfigIssue,
    Connector,
    PushItem,
    PushResult,
    PushStatus,
)
from syncd.connectors.magento.client import (
    MagentoClient,
    MagentoSettings,
    qty,
    render_message,
    search_params,
    sku_path,
)
from syncd.connectors.magento.legacy import legacy_levels
from syncd.connectors.magento.orders import (
    CLOSED_STATES,
    MAGENTO_TIME,
    STOCK_TYPES,
    held_by,
    is_time,
    order_document,
)
from syncd.connectors.magento.sources import (
    blind_salable,
    check_sources,
    counted,
    figures_at,
    levels_at,
    parse_sources,
    push_at,
    shipped_locations,
    source_rows,
)
from syncd.connectors.magento.sources import items_of as _items
from syncd.domain import Document, Rejection
from syncd.exceptions import ChannelConfigError, FatalError, ParseError, RetriableError
from syncd.settings import TableReader

__all__ = ["MagentoConnector", "MagentoSettings", "render_message", "search_params"]

log = structlog.get_logger("syncd.magento")
CURSOR = "orders.updated_at"
# A read of more SKUs than this computes salable from the open orders instead of asking
# Magento once per SKU.
BULK_READ_FROM = 300
# What get-product-salable-quantity answers with a 500 for: a SKU that is no product (observed
# on 2.4.7-p3, also for a source item written for a SKU that is no product).
UNKNOWN_SALABLE = "500"
# A push or read of more SKUs than this asks their salable quantities in one export request
# (one request per SKU up to this: they run in parallel and each is cheaper than an export).
BULK_SALABLE_FROM = 4
# A figure we left a SKU at is trusted without a read this long at most (_known_figure).
KNOWN_SECONDS = 300.0


class MagentoConnector(Connector[MagentoSettings]):
    type: ClassVar[str] = "magento"
    shop_locations_key: ClassVar[str] = "magento_sources"

    def __init__(
        self,
        name: str,
        settings: MagentoSettings,
        *,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        super().__init__(name, settings, session=session)
        self.client = MagentoClient(self.settings, channel=name, session=session)
        self._limit = asyncio.Semaphore(self.settings.concurrency)
        self._channel: tuple[str, str] | tuple[()] | None = None  # () = none: one by one
        # SKU → (salable we left it at, its touch count then, when): see _push_msi
        self._known: dict[str, tuple[int, int, float]] = {}
        self._touches: dict[str, int] = {}  # SKU → orders seen holding it, counted by pulls
        self._linked: list[str] | None = None  # the stock's enabled sources (magento_sources)

    @classmethod
    def parse_settings(
        cls, table: Mapping[str, Any], *, file: str, prefix: str
    ) -> tuple[MagentoSettings | None, list[ConfigIssue]]:
        issues: list[ConfigIssue] = []
        r = TableReader(table, file=file, prefix=prefix, issues=issues)
        url = r.url("url", required=True, credentials_key="access_token_file")
        username = r.string("username", "")
        password = r.secret("password")
        token = r.secret("access_token")
        if token is None and not (username and password):
            r.problem(
                "access_token",
                "Magento needs an integration access_token, or username and password",
                'access_token_file = "magento.token"',
            )
        admin_url = r.string("admin_order_url", "")
        if admin_url and "{id}" not in admin_url:
            r.problem(
                "admin_order_url",
                "must contain {id}",
                'admin_order_url = "https://shop/admin/sales/order/view/order_id/{id}/"',
            )
        store_code = r.string("store_code", "default")
        if not re.fullmatch(r"[a-z0-9_]+", store_code or "x"):
            r.problem("store_code", f"{store_code!r} is not a store code", 'store_code = "default"')
        mode = r.string("mode", "msi", choices=("msi", "legacy"))
        sources = parse_sources(r, table, mode)
        settings = MagentoSettings(
            url=url,
            store_code=store_code,
            username=username,
            password=password,
            access_token=token,
            mode=mode,
            source_code=r.string("source_code", "default")
            if not sources
            else next(iter(sources.values())),
            stock_id=r.integer("stock_id", 1, minimum=1),
            batch_size=r.integer("batch_size", 20, minimum=1, maximum=5000),
            page_size=r.integer("page_size", 100, minimum=1, maximum=300),
            overlap_seconds=r.integer("overlap_seconds", 300, minimum=0, maximum=86_400),
            count_parents=r.boolean("count_parents", False),
            refund_returns_stock=r.boolean("refund_returns_stock", False),
            admin_order_url=admin_url,
            timeout_seconds=r.number("timeout_seconds", 15.0, minimum=1, maximum=300),
            concurrency=r.integer("concurrency", 4, minimum=1, maximum=32),
            sources=sources,
        )
        r.reject_unknown()
        return (settings if url else None), issues

    @classmethod
    def shop_locations(cls, settings: Any) -> Mapping[str, str]:
        return settings.sources if isinstance(settings, MagentoSettings) else {}

    async def open(self) -> None:
        await self.client.open()

    async def close(self) -> None:
        await self.client.close()

    async def check(self) -> None:
        """Authenticate, and find the configured source and stock (MSI) or the orders (legacy)."""
        if self.settings.mode != "msi":
            await self.client.call("GET", "orders", params=search_params(page_size=1))
            return
        data = await self.client.call(
            "GET", "inventory/sources", params=search_params(page_size=300)
        )
        codes = {str(s.get("source_code")) for s in _items(data)}
        source = self.settings.source_code
        if source not in codes and not self.settings.sources:
            raise ChannelConfigError(
                f"source_code = {source!r}: Magento has no inventory source {source!r} "
                f"(has: {', '.join(sorted(codes))})",
                channel=self.name,
            )
        # A wrong stock_id makes every salable read answer 400 "Could not receive Stock Item
        # data" (observed on 2.4.7-p3): refuse it here, by name, not at the first push.
        stock = self.settings.stock_id
        stocks = {
            qty(s.get("stock_id")): str(s.get("name", ""))
            for s in _items(await self.client.call("GET", "inventory/stocks"))
        }
        if stock not in stocks:
            known = ", ".join(f"{i} ({n})" for i, n in sorted(stocks.items()))
            raise ChannelConfigError(
                f"stock_id = {stock}: Magento has no stock {stock} (has: {known})",
                channel=self.name,
            )
        if self.settings.sources:
            self._linked = await check_sources(self, stock, stocks[stock])
            return
        links = await self.client.call(
            "GET",
            "inventory/stock-source-links",
            params=search_params([[("stock_id", str(stock), "eq")]], page_size=300),
        )
        linked = {str(link.get("source_code")) for link in _items(links)}
        if source not in linked:
            raise ChannelConfigError(
                f"source_code = {source!r} is not a source of stock_id = {stock} "
                f"({stocks[stock]}: {', '.join(sorted(linked)) or 'no sources'}): what we "
                "write there would never show as salable",
                channel=self.name,
            )

    # -- ingest --------------------------------------------------------------------------------

    async def pull(self, cursors: Mapping[str, str]) -> AsyncIterator[Batch]:
        since = cursors.get(CURSOR) or "1970-01-02 00:00:00"
        naive = datetime.strptime(since, MAGENTO_TIME)  # noqa: DTZ007 - Magento's UTC wall time
        start = naive - timedelta(seconds=self.settings.overlap_seconds)
        start_text = max(start, datetime(1970, 1, 2)).strftime(MAGENTO_TIME)  # noqa: DTZ001
        newest = cursors.get(CURSOR, "")
        async for page in self.client.paged(
            "orders",
            [[("updated_at", start_text, "gteq")]],
            sort=[("updated_at", "ASC"), ("entity_id", "ASC")],
            page_size=self.settings.page_size,
        ):
            self._touch(page)  # before the ledger applies them and pushes follow
            documents: list[Document] = []
            rejections: list[Rejection] = []
            # Told each source apart: an order sells from the location of the source it
            # shipped from, until then from the first (sources.py).
            shipped = await shipped_locations(self, page) if self.settings.sources else {}
            first = next(iter(self.settings.sources), "")
            for order in page:
                # A broken order is quarantined (a rejection, shown as a conflict), never
                # dropped, and never stops the orders after it.
                try:
                    where = shipped.get(str(order.get("entity_id")), first)
                    documents.append(self._document(order, where))
                except ParseError as err:
                    source = f"order {str(order.get('entity_id', '?'))[:40]}"
                    rejections.append(Rejection(self.name, source, None, "", "", str(err)))
            times = [str(o.get("updated_at")) for o in page]
            newest = max([newest, *(t for t in times if is_time(t))])
            yield Batch(documents=documents, cursors={CURSOR: newest}, rejections=rejections)

    def _touch(self, orders: list[dict[str, Any]]) -> None:
        """Forget what we knew of the figures of every SKU these orders hold (_push_msi)."""
        for order in orders:
            items = order.get("items")
            for item in items if isinstance(items, list) else []:
                sku = str(item.get("sku") or "") if isinstance(item, dict) else ""
                self._touches[sku] = self._touches.get(sku, 0) + 1
                self._known.pop(sku, None)

    def _document(self, order: Mapping[str, Any], location: str = "") -> Document:
        return order_document(
            order,
            channel=self.name,
            count_parents=self.settings.count_parents,
            refund_returns_stock=self.settings.refund_returns_stock,
            admin_order_url=self.settings.admin_order_url,
            location=location,
        )

    async def held_by_open_orders(self) -> dict[str, int]:
        """Per SKU, the units open orders still hold (MSI's reservations not yet compensated):
        ordered − shipped − cancelled − refunded on each stock line of every order that is not
        complete, closed or cancelled (orders.held_by)."""
        held: dict[str, int] = {}
        async for page in self.client.paged(
            "orders",
            [[("state", ",".join(CLOSED_STATES), "nin")]],
            sort=[("entity_id", "ASC")],
            page_size=max(self.settings.page_size, 300),
        ):
            held_by(page, held, count_parents=self.settings.count_parents)
        return held

    # -- push ----------------------------------------------------------------------------------

    async def _salable(self, sku: str) -> int | str:
        """Magento's salable quantity of one SKU, or why it has none (text)."""
        path = f"inventory/get-product-salable-quantity/{sku_path(sku)}/{self.settings.stock_id}"
        async with self._limit:
            try:
                return qty(await self.client.call("GET", path, retry=False))
            except RetriableError as err:
                if err.code != UNKNOWN_SALABLE:
                    return qty(await self.client.call("GET", path))  # a blip: the usual retries
                unknown = err
            except FatalError as err:
                if err.code in ("400", "404"):
                    # 400 "Can't check requested quantity for products without Source Items
                    # support." for a configurable or bundle parent (observed on 2.4.7-p3).
                    if "Source Items support" in str(err):
                        return (
                            f"{sku!r} has no source items of its own in Magento (a configurable "
                            "or bundle parent): its children hold the stock"
                        )
                    return f"Magento refuses the salable quantity of {sku!r}: {err}"
                raise
            # A 500 is what Magento answers for a SKU that is no product, and for an outage.
            # Which one: the product itself says (404 when unknown). A product that exists
            # and still fails is the outage, retried as usual and raised if it persists.
            try:
                product = await self.client.call(
                    "GET", f"products/{sku_path(sku)}", params={"fields": "sku,type_id"}
                )
            except FatalError as err:
                if err.code == "404":
                    return (
                        f"Magento has no product {sku!r} (only a source item at "
                        f"{self.settings.source_code!r}): its salable quantity cannot be read"
                    )
                raise
            kind = str(product.get("type_id", "")) if isinstance(product, dict) else ""
            if kind and kind not in STOCK_TYPES:
                return f"{sku!r} is a {kind} product in Magento: it holds no stock of its own"
            try:
                return qty(await self.client.call("GET", path))
            except RetriableError:
                raise unknown from None

    async def _sales_channel(self) -> tuple[str, str] | None:
        """The sales channel (type, code) our stock serves, for the bulk salable export; None
        when it serves none or this Magento has no such export (2.3 before MSI 1.1)."""
        if self._channel is None:
            try:
                stock = await self.client.call("GET", f"inventory/stocks/{self.settings.stock_id}")
            except FatalError:
                stock = None
            channels = (
                (stock.get("extension_attributes") or {}).get("sales_channels")
                if isinstance(stock, dict)
                else None
            )
            first = channels[0] if isinstance(channels, list) and channels else None
            self._channel = (
                (str(first.get("type")), str(first.get("code")))
                if isinstance(first, dict) and first.get("type") and first.get("code")
                else ()
            )
        return self._channel or None

    async def _exported(self, skus: Sequence[str]) -> dict[str, int]:
        """Salable quantities of many SKUs in one request per 100: the stock export runs
        Magento's own GetProductSalableQty for each product (InventoryExportStock's
        PreciseExportStockProcessor), the figure get-product-salable-quantity answers, without
        one request (and one PHP bootstrap, ~0.3 s on the real shop) per SKU. A SKU that is
        no product is simply absent; a product without source items of its own (a
        configurable) comes as qty 0 and salable: those are asked one by one."""
        channel = await self._sales_channel()
        if channel is None:
            return {}
        out: dict[str, int] = {}
        for start in range(0, len(skus), 100):
            chunk = skus[start : start + 100]
            try:
                async with self._limit:
                    data = await self.client.call(
                        "GET",
                        f"inventory/export-stock-salable-qty/{channel[0]}/{channel[1]}",
                        params=search_params(
                            [[("sku", ",".join(chunk), "in")]], page_size=len(chunk), page=1
                        ),
                    )
            except FatalError as err:
                if err.code in ("400", "404"):  # no such route (older MSI): one by one
                    self._channel = ()
                    return out
                raise
            for row in _items(data):
                sku, figure = str(row.get("sku")), qty(row.get("qty"))
                if figure == 0 and row.get("is_salable") is True:
                    continue  # not source-managed (qty 0 but "salable"): asked alone
                out[sku] = figure
        return out

    async def _salables(self, skus: Sequence[str]) -> dict[str, int | str]:
        """Salable per SKU, or why Magento has none for it (text): exported in bulk when there
        are more than a few, the rest (and SKUs the export does not know) one by one."""
        found: dict[str, int | str] = {}
        if len(skus) > BULK_SALABLE_FROM:
            found.update(await self._exported(skus))
        rest = [s for s in skus if s not in found]
        values = await asyncio.gather(*(self._salable(s) for s in rest))
        found.update(zip(rest, values, strict=True))
        return {s: found[s] for s in skus}

    async def salables_of(self, skus: Sequence[str]) -> dict[str, int | str]:
        """Salable per SKU, or why Magento has none for it (sources.py)."""
        return await self._salables(skus)

    async def linked_sources(self) -> list[str]:
        """The enabled sources linked to our stock (checked against magento_sources once)."""
        if self._linked is None:
            stock = self.settings.stock_id
            self._linked = await check_sources(self, stock, f"stock {stock}")
        return self._linked

    async def read_location_figures(self, location: str, skus: Sequence[str]) -> dict[str, int]:
        """What Magento shows for ``location``'s source (sources.figures_at), read back after
        the channel's orders are pulled: no compare-and-set protects a write."""
        if location not in self.settings.sources or not skus:
            return {}
        found = await figures_at(self, location, list(skus))
        return {s: max(0, f[0]) for s, f in found.items() if not isinstance(f, str)}

    async def push(self, items: Sequence[PushItem]) -> list[PushResult]:
        if self.settings.sources:
            results = await self._push_sources(items)
        elif self.settings.mode == "legacy":
            results = await asyncio.gather(*(self._push_legacy(i) for i in items))
        else:
            results = await self._push_msi(items)
        if any(r.status is PushStatus.DEFERRED for r in results):
            self.nudge()
        return list(results)

    async def _push_sources(self, items: Sequence[PushItem]) -> list[PushResult]:
        """Each item written at its location's source (``magento_sources``)."""
        groups: dict[str, list[PushItem]] = {}
        for item in items:
            if item.location not in self.settings.sources:
                raise FatalError(
                    f"ledger location {item.location!r} has no Magento source "
                    f"(magento_sources of channel {self.name})",
                    channel=self.name,
                )
            groups.setdefault(item.location, []).append(item)
        done: dict[tuple[str, str], PushResult] = {}
        for location, group in groups.items():
            for result in await push_at(self, location, group):
                done[(location, result.sku)] = result
        return [done[(i.location, i.sku)] for i in items]

    def _known_figure(self, item: PushItem) -> int | None:
        """What Magento shows for a SKU without reading it, when we know it: we left it at
        that salable figure with nothing reserved, no order holding it has been pulled since,
        and the engine believes the same figure. Then a write needs no read (the reads cost as
        much as the write on a real shop): an order placed since and not pulled yet holds its
        units by its own MSI reservation, which our source write leaves in place, so the shop
        still shows the sale; the pull that brings it forgets the figure. A figure with units
        reserved is always read: a shipment moves source and reservation together."""
        known = self._known.get(item.sku)
        if known is None:
            return None
        figure, touches, since = known
        if (
            touches != self._touches.get(item.sku, 0)
            or time.monotonic() - since > KNOWN_SECONDS
            or (item.last_known is not None and item.last_known != figure)
        ):
            self._known.pop(item.sku, None)
            return None
        return figure

    async def _push_msi(self, items: Sequence[PushItem]) -> list[PushResult]:
        skus = [i.sku for i in items]
        touches = {s: self._touches.get(s, 0) for s in skus}  # before any read
        known = {i.sku: f for i in items if (f := self._known_figure(i)) is not None}
        unknown = [s for s in skus if s not in known]
        # The batch's source items tell which SKUs exist at our source; a SKU Magento cannot
        # answer for is skipped alone, never its batch. Both reads at once.
        code = self.settings.source_code
        rows, salables = (
            await asyncio.gather(source_rows(self, unknown, [code]), self._salables(unknown))
            if unknown
            else ({}, {})
        )
        sources = {sku: mine[code + "!"] for sku, mine in rows.items() if code in mine}
        sources.update(known)  # nothing reserved: source = salable
        salables.update(known)
        # Where Magento has nothing to sell, its salable is 0 whatever is reserved (and stays
        # so after a cancellation until the item is saved again): the units reserved come from
        # the open orders instead, one read for the batch (sources.blind_salable).
        blind = {
            sku
            for sku, mine in rows.items()
            if code in mine and blind_salable(mine[code] > 0, salables.get(sku))
        }
        held = await self.held_by_open_orders() if blind else {}
        results: dict[str, PushResult] = {}
        writes: list[tuple[PushItem, dict[str, Any], int]] = []
        for item in items:
            salable = salables.get(item.sku)
            if item.sku not in sources or isinstance(salable, str) or salable is None:
                reason = (
                    salable
                    if isinstance(salable, str)
                    else f"no source item for {item.sku!r} at source "
                    f"{self.settings.source_code!r} in Magento"
                )
                results[item.sku] = PushResult(item.sku, PushStatus.SKIPPED, reason=reason)
                continue
            source = sources[item.sku]
            # the unshipped quantity of open orders
            reserved = held.get(item.sku, 0) if item.sku in blind else max(0, source - salable)
            # Salable below 0 (an index not updated since orders outnumbered the source):
            # Magento sells nothing then, just as at 0, and it is what we asked for.
            shows = max(0, salable)
            if item.last_known is not None and shows < item.last_known and not item.force:
                results[item.sku] = PushResult(
                    item.sku,
                    PushStatus.DEFERRED,
                    observed=salable,
                    reason="Magento sold units we have not pulled yet",
                )
                continue
            if (
                item.defer_higher
                and item.last_known is not None
                and shows > item.last_known
                and shows != item.available
                and not item.force
            ):
                results[item.sku] = PushResult(
                    item.sku,
                    PushStatus.DEFERRED,
                    observed=salable,
                    reason="Magento shows more than syncd wrote: an edit or a cancellation",
                )
                continue
            if shows == item.available:
                results[item.sku] = PushResult(
                    item.sku, PushStatus.UNCHANGED, shown=shows, observed=salable
                )
                self._remember(item.sku, salable, reserved, touches)
                continue
            quantity = item.available + reserved
            entry = {
                "sku": item.sku,
                "source_code": self.settings.source_code,
                "quantity": quantity,
                # In stock while it holds units reserved, as Magento leaves an item whose last
                # unit is ordered and not shipped (out of stock, the index would count it 0).
                "status": int(quantity > 0),
            }
            writes.append((item, entry, reserved))
        batches = [
            writes[start : start + self.settings.batch_size]
            for start in range(0, len(writes), self.settings.batch_size)
        ]
        await asyncio.gather(*(self.write_sources(batch) for batch in batches))
        for item, entry, reserved in writes:
            salable = salables[item.sku]
            assert isinstance(salable, int)
            results[item.sku] = PushResult(
                item.sku, PushStatus.WRITTEN, shown=item.available, observed=salable
            )
            self._remember(item.sku, item.available, reserved, touches)
            log.info(
                "stock_pushed",
                channel=self.name,
                sku=item.sku,
                quantity=item.available,
                source_quantity=entry["quantity"],
            )
        return [results[i.sku] for i in items]

    def _remember(self, sku: str, salable: int, reserved: int, touches: dict[str, int]) -> None:
        """Keep the figure we left a SKU at, if nothing is reserved and no pull brought an
        order holding it while we read and wrote (else the next push reads again)."""
        if reserved == 0 and salable >= 0 and touches[sku] == self._touches.get(sku, 0):
            self._known[sku] = (salable, touches[sku], time.monotonic())
        else:
            self._known.pop(sku, None)

    async def write_sources(self, batch: list[tuple[PushItem, dict[str, Any], int]]) -> None:
        async with self._limit:
            await self.client.call(
                "POST", "inventory/source-items", body={"sourceItems": [w[1] for w in batch]}
            )

    async def _push_legacy(self, item: PushItem) -> PushResult:
        async with self._limit:
            try:
                stock = await self.client.call("GET", f"stockItems/{sku_path(item.sku)}")
            except FatalError as err:
                if err.code == "404":
                    return PushResult(
                        item.sku, PushStatus.SKIPPED, reason=f"no product {item.sku!r} in Magento"
                    )
                raise
            if not isinstance(stock, dict):
                raise ParseError(
                    f"Magento stockItems/{item.sku}: the answer is not an object",
                    channel=self.name,
                )
            current = qty(stock.get("qty"))
            if item.last_known is not None and current < item.last_known and not item.force:
                return PushResult(item.sku, PushStatus.DEFERRED, observed=current)
            if (
                item.defer_higher
                and item.last_known is not None
                and item.last_known < current != item.available
                and not item.force
            ):
                return PushResult(item.sku, PushStatus.DEFERRED, observed=current)
            if current == item.available:
                return PushResult(item.sku, PushStatus.UNCHANGED, shown=current, observed=current)
            item_id = qty(stock.get("item_id"))
            await self.client.call(
                "PUT",
                f"products/{sku_path(item.sku)}/stockItems/{item_id}",
                body={"stockItem": {"qty": item.available, "is_in_stock": item.available > 0}},
            )
            log.info("stock_pushed", channel=self.name, sku=item.sku, quantity=item.available)
            return PushResult(item.sku, PushStatus.WRITTEN, shown=item.available, observed=current)

    # -- kits ----------------------------------------------------------------------------------

    async def read_kits(self) -> list[ChannelKit]:
        """Bundles of a fixed composition, derived by Magento (syncd/connectors/magento/bundles.py)."""
        from syncd.connectors.magento.bundles import read_bundles

        return await read_bundles(self, self.settings.page_size)

    # -- reconciliation ------------------------------------------------------------------------

    def read_location_levels(
        self, location: str, skus: Sequence[str] | None = None
    ) -> AsyncIterator[list[ChannelLevel]]:
        """What Magento shows for ``location``'s source (magento_sources; sources.levels_at)."""
        if location not in self.settings.sources:
            raise FatalError(
                f"ledger location {location!r} has no Magento source "
                f"(magento_sources of channel {self.name})",
                channel=self.name,
            )
        return levels_at(self, location, skus)

    async def read_levels(
        self, skus: Sequence[str] | None = None
    ) -> AsyncIterator[list[ChannelLevel]]:
        if self.settings.mode == "legacy":
            async for levels in legacy_levels(self.client, skus, self.settings.page_size):
                yield levels
            return
        filters: list[list[tuple[str, str, str]]] = [
            [("source_code", self.settings.source_code, "eq")]
        ]
        if skus is not None:
            filters.append([("sku", ",".join(skus), "in")])
        if skus is None or len(skus) > BULK_READ_FROM:
            # The whole catalogue: one salable call per SKU would be 100,000 round trips.
            # Salable = source − what open orders still hold (reference §2.5, with the default
            # out-of-stock threshold of 0), from the open orders, paged.
            held = await self.held_by_open_orders()
            async for page in self.client.paged(
                "inventory/source-items", filters, page_size=max(self.settings.page_size, 300)
            ):
                levels = []
                for row in page:
                    sku = str(row.get("sku") or "").strip()
                    source = qty(row.get("quantity"))
                    salable = source - held.get(sku, 0) if counted(row) else 0
                    levels.append(
                        ChannelLevel(
                            sku=sku,
                            quantity=max(0, salable),
                            detail={"source_quantity": source, "salable": salable},
                        )
                    )
                yield levels
            return
        # A read of every SKU pages at Magento's default maximum (300, the 2.4.7 input limit):
        # a third of the round trips of the default page size.
        async for page in self.client.paged(
            "inventory/source-items", filters, page_size=max(self.settings.page_size, 300)
        ):
            # A row without a SKU is yielded with sku "" (never silently dropped):
            # reconciliation and onboarding report it.
            skus_of = [str(row.get("sku") or "").strip() for row in page]
            by_sku = await self._salables(sorted({s for s in skus_of if s}))
            levels = []
            for row, sku in zip(page, skus_of, strict=True):
                source = qty(row.get("quantity"))
                figure = by_sku.get(sku)
                detail: dict[str, Any] = {"source_quantity": source, "salable": figure}
                if isinstance(figure, str):  # no salable figure: the source's, and why
                    detail["salable"], detail["problem"] = None, figure
                    figure = None
                levels.append(
                    ChannelLevel(
                        sku=sku,
                        quantity=max(0, figure) if figure is not None else source,
                        detail=detail,
                    )
                )
            yield levels
