"""PrestaShop as a channel: orders in (by date_upd), stock_availables out (drift-aware).

PrestaShop lowers ``stock_availables.quantity`` itself when an order is validated and raises it on
cancellation (reference §1.6), so what we write is simply ``quantity = available``; its own orders
reach the ledger as documents and are never subtracted twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import aiohttp
import structlog

from syncd.config import Secret, TableReader
from syncd.connectors.base import (
    Batch,
    ChannelLevel,
    ConfigIssue,
    Connector,
    PushItem,
    PushResult,
    PushStatus,
)
from syncd.connectors.http import RetryPolicy
from syncd.connectors.prestashop.client import PrestaShopClient, stock_xml
from syncd.domain import Document, DocumentKind, Rejection
from syncd.exceptions import ChannelConfigError, ConnectorError, FatalError, ParseError
from syncd.ledger.store import to_us

log = structlog.get_logger("syncd.prestashop")
CURSOR = "orders.date_upd"
PS_TIME = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True, slots=True)
class PrestaShopSettings:
    url: str
    api_key: Secret
    id_shop: int | None = None
    sku_field: str = "reference"  # reference | ean13
    concurrency: int = 4
    overlap_seconds: int = 300
    page_size: int = 100
    version: str = "auto"  # auto | 1.7 | 8
    admin_order_url: str = ""
    timezone: str = "Europe/Paris"
    timeout_seconds: float = 15.0
    start_from: str = ""  # first pull: orders updated since (PrestaShop local time)


@dataclass(frozen=True, slots=True)
class _StockRow:
    id: int
    id_product: int
    id_product_attribute: int


def _int(value: Any, what: str) -> int:
    try:
        return int(str(value).strip() or "0")
    except ValueError as err:
        raise ParseError(f"PrestaShop sent {what} = {value!r:.80}, not a whole number") from err


def _is_time(text: str) -> bool:
    try:
        datetime.strptime(text, PS_TIME)  # noqa: DTZ007 - only the shape is checked
    except ValueError:
        return False
    return True


def _rows(data: Any, key: str) -> list[dict[str, Any]]:
    """The objects listed under ``key`` in a JSON answer. PrestaShop answers ``[]`` (or leaves
    the key out) when nothing matches; any other shape is a ParseError, never "no rows"."""
    if not data:
        return []
    rows = data.get(key) if isinstance(data, dict) else data
    if not rows:
        return []
    if (
        not isinstance(data, dict)
        or not isinstance(rows, list)
        or not all(isinstance(r, dict) for r in rows)
    ):
        raise ParseError(f"PrestaShop sent {key} that are not a list of objects: {rows!r:.80}")
    return rows


def _object(data: Any, key: str) -> dict[str, Any]:
    """The object under ``key`` in a JSON answer ({} when the answer is empty)."""
    if not data:
        return {}
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, dict):
        raise ParseError(f"PrestaShop sent a {key} that is not an object: {value!r:.80}")
    return value


def _time(text: str, zone: ZoneInfo, what: str) -> datetime:
    """A PrestaShop wall time (shop-local) as an aware datetime; ParseError if it is not one."""
    try:
        local = datetime.strptime(text, PS_TIME).replace(tzinfo=zone)  # noqa: DTZ007
        to_us(local)  # in range for the ledger, in UTC too
    except (ValueError, OverflowError) as err:
        raise ParseError(f"PrestaShop sent {what} = {text!r:.80}, not YYYY-MM-DD HH:MM:SS") from err
    return local


class PrestaShopConnector(Connector):
    type: ClassVar[str] = "prestashop"

    def __init__(
        self, name: str, settings: Any, *, session: aiohttp.ClientSession | None = None
    ) -> None:
        super().__init__(name, settings, session=session)
        self.settings: PrestaShopSettings = settings
        self.zone = ZoneInfo(self.settings.timezone)
        self.client = PrestaShopClient(
            self.settings.url,
            self.settings.api_key.reveal(),
            channel=name,
            session=session,
            policy=RetryPolicy(timeout=self.settings.timeout_seconds),
            id_shop=self.settings.id_shop,
        )
        self.dead_states: set[int] = set()  # PS_OS_CANCELED, PS_OS_ERROR: resolved, not hard-coded
        self._rows: dict[str, _StockRow] = {}  # SKU → stock_available row (cache)
        self._limit = asyncio.Semaphore(self.settings.concurrency)

    # -- configuration -------------------------------------------------------------------------

    @classmethod
    def parse_settings(
        cls, table: Mapping[str, Any], *, file: str, prefix: str
    ) -> tuple[Any, list[ConfigIssue]]:
        issues: list[ConfigIssue] = []
        r = TableReader(table, file=file, prefix=prefix, issues=issues)
        url = r.url("url", required=True)
        key = r.secret("api_key", required=True)
        if key is not None and len(key.reveal()) != 32:
            r.problem(
                "api_key",
                "a PrestaShop webservice key is exactly 32 characters",
                "copy the key from Advanced Parameters > Webservice",
            )
        id_shop_raw = table.get("id_shop")
        id_shop = r.integer("id_shop", 0, minimum=1) if id_shop_raw is not None else None
        tz = r.string("timezone", "Europe/Paris")
        try:
            ZoneInfo(tz)
        except (KeyError, ValueError):
            r.problem("timezone", f"unknown time zone {tz!r}", 'timezone = "Europe/Paris"')
        admin_url = r.string("admin_order_url", "")
        if admin_url and "{id}" not in admin_url:
            r.problem(
                "admin_order_url",
                "must contain {id}",
                'admin_order_url = "https://shop/admin123/index.php?controller=AdminOrders&id_order={id}&vieworder"',
            )
        start_from = r.string("start_from", "")
        if start_from:
            try:
                datetime.strptime(start_from, PS_TIME)  # noqa: DTZ007 - a shop-local wall time
            except ValueError:
                r.problem(
                    "start_from",
                    f"{start_from!r} is not YYYY-MM-DD HH:MM:SS",
                    'start_from = "2026-01-01 00:00:00"',
                )
        settings = PrestaShopSettings(
            url=url,
            api_key=key or Secret(""),
            id_shop=id_shop,
            sku_field=r.string("sku_field", "reference", choices=("reference", "ean13")),
            concurrency=r.integer("concurrency", 4, minimum=1, maximum=32),
            overlap_seconds=r.integer("overlap_seconds", 300, minimum=0, maximum=86_400),
            page_size=r.integer("page_size", 100, minimum=1, maximum=1000),
            version=r.string("version", "auto", choices=("auto", "1.7", "8")),
            admin_order_url=admin_url,
            timezone=tz,
            timeout_seconds=r.number("timeout_seconds", 15.0, minimum=1, maximum=300),
            start_from=start_from,
        )
        r.reject_unknown()
        return (settings if url and key else None), issues

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        await self.client.open()

    async def close(self) -> None:
        await self.client.close()

    async def check(self) -> None:
        """One cheap authenticated call that also resolves the cancelled/error state ids."""
        data = await self.client.get_json(
            "configurations",
            {"display": "[name,value]", "filter[name]": "[PS_OS_CANCELED|PS_OS_ERROR]"},
        )
        rows = _rows(data, "configurations")
        states = {str(r.get("name")): str(r.get("value", "")) for r in rows}
        wanted = ("PS_OS_CANCELED", "PS_OS_ERROR")
        missing = [n for n in wanted if not states.get(n, "").isdecimal()]
        if missing:
            raise ChannelConfigError(
                f"PrestaShop did not give the order state ids {', '.join(missing)} (configurations)",
                channel=self.name,
            )
        self.dead_states = {_int(states[n], n) for n in wanted}
        log.info(
            "prestashop_ready",
            channel=self.name,
            version=self.client.version,
            cancelled_states=sorted(self.dead_states),
        )

    @property
    def uses_patch(self) -> bool:
        if self.settings.version != "auto":
            return self.settings.version == "8"
        return bool(self.client.version) and not str(self.client.version).startswith("1.")

    # -- ingest --------------------------------------------------------------------------------

    def _version_of(self, date_upd: str) -> int:
        return to_us(_time(date_upd, self.zone, "date_upd"))

    async def pull(self, cursors: Mapping[str, str]) -> AsyncIterator[Batch]:
        if not self.dead_states:
            await self.check()
        since = cursors.get(CURSOR) or self.settings.start_from or "1970-01-01 00:00:00"
        start = datetime.strptime(since, PS_TIME) - timedelta(seconds=self.settings.overlap_seconds)  # noqa: DTZ007
        start_text = max(start, datetime(1970, 1, 2)).strftime(PS_TIME)  # noqa: DTZ001
        offset = 0
        newest = cursors.get(CURSOR, "")
        while True:
            data = await self.client.get_json(
                "orders",
                {
                    "display": "full",
                    "date": "1",
                    "filter[date_upd]": f"[{start_text},9999-12-31 23:59:59]",
                    "sort": "[date_upd_ASC,id_ASC]",
                    "limit": f"{offset},{self.settings.page_size}",
                },
            )
            orders = _rows(data, "orders")
            if not orders:
                return
            restocked = await self._restocked([str(o.get("id")) for o in orders])
            documents: list[Document] = []
            rejections: list[Rejection] = []
            for order in orders:
                # A broken order is quarantined (a rejection, shown as a conflict), never
                # dropped, and never stops the orders after it.
                try:
                    documents.append(self._document(order, restocked))
                except ParseError as err:
                    source = f"order {str(order.get('id', '?'))[:40]}"
                    rejections.append(Rejection(self.name, source, None, "", "", str(err)))
            times = [str(o.get("date_upd")) for o in orders]
            newest = max([newest, *(t for t in times if _is_time(t))])  # never a garbage cursor
            yield Batch(documents=documents, cursors={CURSOR: newest}, rejections=rejections)
            if len(orders) < self.settings.page_size:
                return
            offset += len(orders)

    async def _restocked(self, order_ids: list[str]) -> dict[tuple[str, str], int]:
        """(order id, order_detail product/attribute key) → units refunded back into stock."""
        out: dict[tuple[str, str], int] = {}
        for start in range(0, len(order_ids), 50):
            chunk = order_ids[start : start + 50]
            data = await self.client.get_json(
                "order_details",
                {
                    "display": "[id,id_order,product_id,product_attribute_id,product_quantity_reinjected]",
                    "filter[id_order]": f"[{'|'.join(chunk)}]",
                },
            )
            for row in _rows(data, "order_details"):
                units = _int(
                    row.get("product_quantity_reinjected", 0), "product_quantity_reinjected"
                )
                if units:
                    key = (
                        str(row.get("id_order")),
                        f"{row.get('product_id')}:{row.get('product_attribute_id')}",
                    )
                    out[key] = out.get(key, 0) + units
        return out

    def _document(
        self, order: Mapping[str, Any], restocked: Mapping[tuple[str, str], int]
    ) -> Document:
        order_id = str(order.get("id") or "").strip()
        if not order_id:
            raise ParseError("PrestaShop sent an order without an id", channel=self.name)
        state = _int(order.get("current_state", 0), "current_state")
        cancelled = state in self.dead_states
        rows = _rows(order.get("associations"), "order_rows")
        lines: dict[str, int] = {}
        names: dict[str, str] = {}
        for row in rows:
            sku = str(
                row.get(
                    "product_ean13" if self.settings.sku_field == "ean13" else "product_reference"
                )
                or ""
            ).strip()
            if not sku:
                sku = f"prestashop:{row.get('product_id')}:{row.get('product_attribute_id')}"
            qty = _int(row.get("product_quantity", 0), "product_quantity")
            qty -= restocked.get(
                (order_id, f"{row.get('product_id')}:{row.get('product_attribute_id')}"), 0
            )
            lines[sku] = lines.get(sku, 0) + (0 if cancelled else max(0, qty))
            names.setdefault(sku, str(row.get("product_name", ""))[:200])
        date_upd = str(order.get("date_upd") or order.get("date_add") or "1970-01-02 00:00:00")
        date_add = str(order.get("date_add") or date_upd)
        url = (
            self.settings.admin_order_url.replace("{id}", order_id)
            if self.settings.admin_order_url
            else ""
        )
        document = Document(
            channel=self.name,
            doc_id=order_id,
            kind=DocumentKind.WEB_ORDER,
            lines=lines,
            occurred_at=_time(date_add, self.zone, "date_add"),
            version=self._version_of(date_upd),
            reference=str(order.get("reference") or order_id),
            cancelled=cancelled,
            names=names,
            url=url,
        )
        problems = document.validate()  # the ledger would refuse it: say why, here
        if problems:
            raise ParseError(f"PrestaShop order {order_id}: {'; '.join(problems)}")
        return document

    # -- push ----------------------------------------------------------------------------------

    async def _resolve(self, sku: str) -> _StockRow | str:
        """The stock row of a SKU, or why it cannot be written."""
        if sku in self._rows:
            return self._rows[sku]
        field = self.settings.sku_field
        data = await self.client.get_json(
            "combinations", {f"filter[{field}]": f"[{sku}]", "display": "[id,id_product]"}
        )
        combos = _rows(data, "combinations")
        if len(combos) > 1:
            return f"{len(combos)} combinations share the {field} {sku!r}"
        if combos:
            pid = _int(combos[0].get("id_product"), "id_product")
            attr = _int(combos[0].get("id"), "id")
        else:
            data = await self.client.get_json(
                "products", {f"filter[{field}]": f"[{sku}]", "display": "[id]"}
            )
            products = _rows(data, "products")
            if not products:
                return f"no product or combination has the {field} {sku!r} in PrestaShop"
            if len(products) > 1:
                return f"{len(products)} products share the {field} {sku!r}"
            pid, attr = _int(products[0].get("id"), "id"), 0
        data = await self.client.get_json(
            "stock_availables",
            {"filter[id_product]": f"[{pid}]", "display": "[id,id_product_attribute]"},
        )
        rows = _rows(data, "stock_availables")
        if attr == 0 and any(
            _int(r.get("id_product_attribute"), "id_product_attribute") for r in rows
        ):
            return f"product {sku!r} has combinations: its stock is the sum of theirs, write those"
        match = [
            r for r in rows if _int(r.get("id_product_attribute"), "id_product_attribute") == attr
        ]
        if not match:
            return f"no stock_available row for {sku!r}"
        row = _StockRow(_int(match[0].get("id"), "id"), pid, attr)
        self._rows[sku] = row
        return row

    async def push(self, items: Sequence[PushItem]) -> list[PushResult]:
        if not self.dead_states:
            await self.check()  # also learns the version (PSWS-Version)
        results = await asyncio.gather(
            *(self._push_one(item) for item in items), return_exceptions=True
        )
        out: list[PushResult] = []
        for item, result in zip(items, results, strict=True):
            if isinstance(result, ConnectorError) and not isinstance(
                result, FatalError | ParseError
            ):
                raise result  # retriable or auth: the whole batch is retried later
            if isinstance(result, BaseException):
                if not isinstance(result, ConnectorError):
                    raise result
                out.append(PushResult(item.sku, PushStatus.SKIPPED, reason=str(result)))
            else:
                out.append(result)
        if any(r.status is PushStatus.DEFERRED for r in out):
            self.nudge()
        return out

    async def _push_one(self, item: PushItem, retry: bool = True) -> PushResult:
        async with self._limit:
            row = await self._resolve(item.sku)
            if isinstance(row, str):
                return PushResult(item.sku, PushStatus.SKIPPED, reason=row)
            try:
                data = await self.client.get_json(f"stock_availables/{row.id}")
            except FatalError as err:
                if err.code == "87" and retry:  # the row is gone: look it up again
                    self._rows.pop(item.sku, None)
                    return await self._push_one(item, retry=False)
                raise
            current = _object(data, "stock_available")
            quantity = _int(current.get("quantity", 0), "quantity")
            if str(current.get("depends_on_stock", "0")) == "1":
                return PushResult(
                    item.sku,
                    PushStatus.SKIPPED,
                    observed=quantity,
                    reason="depends_on_stock=1: PrestaShop computes this stock from warehouses",
                )
            # Below 0 (orders taken out of stock) the shop sells nothing, just as at 0.
            shows = max(0, quantity)
            if item.last_known is not None and shows < item.last_known and not item.force:
                return PushResult(
                    item.sku,
                    PushStatus.DEFERRED,
                    observed=quantity,
                    reason="the shop sold units we have not pulled yet",
                )
            if shows == item.available:
                return PushResult(item.sku, PushStatus.UNCHANGED, shown=shows, observed=quantity)
            if self.uses_patch:
                body = stock_xml({"id": row.id, "quantity": item.available})
                await self.client.write_xml("PATCH", f"stock_availables/{row.id}", body)
            else:
                fields = {k: v for k, v in current.items() if k != "associations"}
                fields["quantity"] = item.available
                await self.client.write_xml("PUT", f"stock_availables/{row.id}", stock_xml(fields))
            log.info(
                "stock_pushed",
                channel=self.name,
                sku=item.sku,
                quantity=item.available,
                was=quantity,
            )
            return PushResult(item.sku, PushStatus.WRITTEN, shown=item.available, observed=quantity)

    async def read_figures(self, skus: Sequence[str]) -> dict[str, int]:
        async def one(sku: str) -> tuple[str, int | None]:
            async with self._limit:
                row = await self._resolve(sku)
                if isinstance(row, str):
                    return sku, None
                data = await self.client.get_json(
                    f"stock_availables/{row.id}", {"display": "[id,quantity]"}
                )
            current = _object(data, "stock_available")
            return sku, max(0, _int(current.get("quantity", 0), "quantity"))

        pairs = await asyncio.gather(*(one(s) for s in skus))
        return {sku: qty for sku, qty in pairs if qty is not None}

    # -- reconciliation ------------------------------------------------------------------------

    async def _all(self, resource: str, display: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        offset = 0
        page = max(self.settings.page_size, 500)
        while True:
            data = await self.client.get_json(
                resource, {"display": display, "limit": f"{offset},{page}"}
            )
            rows = _rows(data, resource)
            out.extend(rows)
            if len(rows) < page:
                return out
            offset += page

    async def read_levels(
        self, skus: Sequence[str] | None = None
    ) -> AsyncIterator[list[ChannelLevel]]:
        field = self.settings.sku_field
        products = {
            _int(p.get("id"), "id"): p
            for p in await self._all("products", "[id,reference,ean13,name]")
        }
        combos = {
            (_int(c.get("id_product"), "id_product"), _int(c.get("id"), "id")): c
            for c in await self._all("combinations", "[id,id_product,reference,ean13]")
        }
        with_combos = {pid for pid, _ in combos}
        wanted = set(skus) if skus is not None else None
        offset = 0
        page = max(self.settings.page_size, 500)
        while True:
            data = await self.client.get_json(
                "stock_availables",
                {
                    "display": "[id,id_product,id_product_attribute,quantity,depends_on_stock]",
                    "limit": f"{offset},{page}",
                },
            )
            rows = _rows(data, "stock_availables")
            levels = []
            for row in rows:
                pid = _int(row.get("id_product"), "id_product")
                attr = _int(row.get("id_product_attribute"), "id_product_attribute")
                product = products.get(pid, {})
                if attr:
                    source = combos.get((pid, attr), {})
                elif pid in with_combos:
                    continue  # the SUM row of a product with combinations
                else:
                    source = product
                sku = str(source.get(field) or "").strip()
                if wanted is not None and sku not in wanted:
                    continue
                # A row without a reference is yielded with sku "" (never silently dropped):
                # reconciliation and onboarding report it.
                levels.append(
                    ChannelLevel(
                        sku=sku,
                        quantity=_int(row.get("quantity"), "quantity"),
                        name=str(product.get("name", "")),
                        barcode=str(source.get("ean13") or ""),
                        detail={
                            "stock_available": _int(row.get("id"), "id"),
                            "depends_on_stock": str(row.get("depends_on_stock", "0")) == "1",
                            "id_product": pid,
                            "id_product_attribute": attr,
                        },
                    )
                )
            if levels:
                yield levels
            if len(rows) < page:
                return
            offset += page
