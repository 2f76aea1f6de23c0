"""Magento 2 as a channel: orders in (by updated_at), source items or stock items out.

With MSI an order does not lower the source quantity: it appends a reservation, and salable =
source − reserved (reference §2.5). The ledger already deducted Magento's orders, so we write
``source quantity = available + reserved`` (reserved = source − salable, i.e. the unshipped
quantity of open orders): Magento then shows exactly ``available`` as salable, and an unshipped
order is never counted twice. Legacy stock (no MSI): ``qty = available``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
import structlog

from syncd.connectors.base import (
    Batch,
    ChannelLevel,
    ConfigIssue,
    Connector,
    PushItem,
    PushResult,
    PushStatus,
)
from syncd.connectors.http import HttpClient, HttpResponse, RetryPolicy, retry_after_seconds
from syncd.domain import Document, DocumentKind, Rejection
from syncd.exceptions import (
    AuthError,
    ChannelConfigError,
    ConnectorError,
    FatalError,
    ParseError,
    RetriableError,
)
from syncd.ledger.store import to_us
from syncd.settings import Secret, TableReader

log = structlog.get_logger("syncd.magento")
CURSOR = "orders.updated_at"
MAGENTO_TIME = "%Y-%m-%d %H:%M:%S"
TOKEN_LIFETIME = 4 * 3600.0


# Orders in these states hold no stock any more (shipped, refunded or cancelled).
CLOSED_STATES = ("complete", "closed", "canceled")
# A read of more SKUs than this computes salable from the open orders instead of asking
# Magento once per SKU.
BULK_READ_FROM = 300


@dataclass(frozen=True, slots=True)
class MagentoSettings:
    url: str
    store_code: str = "default"
    username: str = ""
    password: Secret | None = None
    access_token: Secret | None = None
    mode: str = "msi"  # msi | legacy
    source_code: str = "default"
    stock_id: int = 1
    batch_size: int = 20
    page_size: int = 100
    overlap_seconds: int = 300
    count_parents: bool = False
    refund_returns_stock: bool = True
    admin_order_url: str = ""
    timeout_seconds: float = 15.0
    concurrency: int = 4


def render_message(body: Mapping[str, Any]) -> str:
    """Magento's {"message","parameters"} with the parameters put in (%name or %1)."""
    message = str(body.get("message", ""))
    params = body.get("parameters")
    if isinstance(params, Mapping):
        for key, value in params.items():
            message = message.replace(f"%{key}", str(value))
    elif isinstance(params, list):
        for index, value in enumerate(params, start=1):
            message = message.replace(f"%{index}", str(value))
    return message


def search_params(
    filters: Sequence[Sequence[tuple[str, str, str]]] = (),
    *,
    sort: Sequence[tuple[str, str]] = (),
    page_size: int | None = None,
    page: int | None = None,
) -> dict[str, str]:
    """searchCriteria query parameters: groups AND together, filters within a group OR."""
    out: dict[str, str] = {}
    for g, group in enumerate(filters):
        for f, (field_name, value, condition) in enumerate(group):
            prefix = f"searchCriteria[filter_groups][{g}][filters][{f}]"
            out[f"{prefix}[field]"] = field_name
            out[f"{prefix}[value]"] = value
            out[f"{prefix}[condition_type]"] = condition
    for i, (field_name, direction) in enumerate(sort):
        out[f"searchCriteria[sortOrders][{i}][field]"] = field_name
        out[f"searchCriteria[sortOrders][{i}][direction]"] = direction
    if page_size is not None:
        out["searchCriteria[pageSize]"] = str(page_size)
    if page is not None:
        out["searchCriteria[currentPage]"] = str(page)
    return out


class MagentoClient(HttpClient):
    def __init__(
        self, settings: MagentoSettings, *, channel: str, session: aiohttp.ClientSession | None
    ) -> None:
        super().__init__(
            settings.url.rstrip("/"),
            channel=channel,
            session=session,
            policy=RetryPolicy(timeout=settings.timeout_seconds),
        )
        self.settings = settings
        self._token: str | None = settings.access_token.reveal() if settings.access_token else None
        self._token_expiry = float("inf") if settings.access_token else 0.0
        self._token_lock = asyncio.Lock()

    def classify(self, response: HttpResponse, *, method: str, url: str) -> ConnectorError:
        try:
            body = json.loads(response.body or b"{}")
        except ValueError:
            body = {}
        detail = (
            render_message(body)
            if isinstance(body, dict) and "message" in body
            else f"HTTP {response.status}"
        )
        where = f"Magento {method} {url}"
        if response.status == 429 or response.status >= 500:
            return RetriableError(
                f"{where}: HTTP {response.status}: {detail}",
                channel=self.channel,
                code=str(response.status),
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if response.status in (401, 403):
            return AuthError(f"{where}: {detail}", channel=self.channel, code=str(response.status))
        return FatalError(
            f"{where}: HTTP {response.status}: {detail}",
            channel=self.channel,
            code=str(response.status),
        )

    async def _fresh_token(self, force: bool = False) -> str:
        async with self._token_lock:
            if self._token and not force and time.monotonic() < self._token_expiry:
                return self._token
            if self.settings.access_token is not None:
                return self.settings.access_token.reveal()
            if not self.settings.username or self.settings.password is None:
                raise ChannelConfigError(
                    "Magento needs username + password or access_token", channel=self.channel
                )
            response = await self.request(
                "POST",
                "/rest/V1/integration/admin/token",
                json_body={
                    "username": self.settings.username,
                    "password": self.settings.password.reveal(),
                },
            )
            try:
                token = json.loads(response.body)
            except (ValueError, RecursionError) as err:
                raise ParseError(
                    "Magento's admin token is not a JSON string", channel=self.channel
                ) from err
            if not isinstance(token, str) or not token:
                raise ParseError("Magento's admin token is not a JSON string", channel=self.channel)
            self._token = token
            # refreshed well before Magento's 4 h expiry
            self._token_expiry = time.monotonic() + TOKEN_LIFETIME - 600
            log.info("magento_token_obtained", channel=self.channel)
            return token

    async def call(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None, body: Any = None
    ) -> Any:
        """/rest/<store>/V1/<path>: JSON in and out; a 401 refreshes the admin token once."""
        url = f"/rest/{self.settings.store_code}/V1/{path.lstrip('/')}"
        for attempt in (1, 2):
            token = await self._fresh_token(force=attempt == 2)
            try:
                response = await self.request(
                    method,
                    url,
                    params=params,
                    json_body=body,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except AuthError:
                if attempt == 1 and self.settings.access_token is None:
                    continue
                raise
            try:
                return json.loads(response.body) if response.body else None
            except (ValueError, RecursionError) as err:  # RecursionError: absurd nesting
                raise ParseError(
                    f"Magento {method} {url}: the answer is not JSON", channel=self.channel
                ) from err
        raise AssertionError("unreachable")  # pragma: no cover

    async def paged(
        self,
        path: str,
        filters: Sequence[Sequence[tuple[str, str, str]]] = (),
        *,
        sort: Sequence[tuple[str, str]] = (),
        page_size: int = 100,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every page; stops on total_count (a page past the end repeats the last one)."""
        page, seen = 1, 0
        while True:
            data = await self.call(
                "GET",
                path,
                params=search_params(filters, sort=sort, page_size=page_size, page=page),
            )
            if not isinstance(data, dict):
                raise ParseError(
                    f"Magento GET {path}: expected a search result", channel=self.channel
                )
            items = data.get("items") or []
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise ParseError(
                    f"Magento GET {path}: items are not a list of objects", channel=self.channel
                )
            total = _qty(data.get("total_count"))
            if not items:
                return
            yield list(items)
            seen += len(items)
            if page_size * page >= total or seen >= total:
                return
            page += 1


def _qty(value: Any) -> int:
    try:
        return int(float(value or 0))
    except (TypeError, ValueError, OverflowError) as err:  # OverflowError: "1e400", inf
        raise ParseError(f"Magento sent a quantity {value!r:.80} that is not a number") from err


def _path(sku: str) -> str:
    """A SKU as one URL path segment (a lone surrogate from a JSON answer is kept as bytes)."""
    return quote(sku.encode("utf-8", "surrogatepass"), safe="")


def _time(value: Any, what: str) -> datetime:
    """A Magento time (UTC wall time); ParseError if it is not one the ledger can hold."""
    try:
        when = datetime.strptime(str(value), MAGENTO_TIME).replace(tzinfo=UTC)
        to_us(when)
    except (ValueError, OverflowError) as err:
        raise ParseError(f"Magento sent {what} = {value!r:.80}, not YYYY-MM-DD HH:MM:SS") from err
    return when


def _is_time(value: Any) -> bool:
    try:
        _time(value, "")
    except ParseError:
        return False
    return True


class MagentoConnector(Connector[MagentoSettings]):
    type: ClassVar[str] = "magento"

    def __init__(
        self,
        name: str,
        settings: MagentoSettings,
        *,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        super().__init__(name, settings, session=session)
        self.client = MagentoClient(self.settings, channel=name, session=session)
        self._stock_item_ids: dict[str, int] = {}
        self._limit = asyncio.Semaphore(self.settings.concurrency)

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
        settings = MagentoSettings(
            url=url,
            store_code=store_code,
            username=username,
            password=password,
            access_token=token,
            mode=r.string("mode", "msi", choices=("msi", "legacy")),
            source_code=r.string("source_code", "default"),
            stock_id=r.integer("stock_id", 1, minimum=1),
            batch_size=r.integer("batch_size", 20, minimum=1, maximum=5000),
            page_size=r.integer("page_size", 100, minimum=1, maximum=300),
            overlap_seconds=r.integer("overlap_seconds", 300, minimum=0, maximum=86_400),
            count_parents=r.boolean("count_parents", False),
            refund_returns_stock=r.boolean("refund_returns_stock", True),
            admin_order_url=admin_url,
            timeout_seconds=r.number("timeout_seconds", 15.0, minimum=1, maximum=300),
            concurrency=r.integer("concurrency", 4, minimum=1, maximum=32),
        )
        r.reject_unknown()
        return (settings if url else None), issues

    async def open(self) -> None:
        await self.client.open()

    async def close(self) -> None:
        await self.client.close()

    async def check(self) -> None:
        """Authenticate and find the configured source (MSI) or stock API (legacy)."""
        if self.settings.mode == "msi":
            data = await self.client.call(
                "GET", "inventory/sources", params=search_params(page_size=300)
            )
            items = data.get("items") if isinstance(data, dict) else None
            codes = (
                {str(s.get("source_code")) for s in items if isinstance(s, dict)}
                if isinstance(items, list)
                else set()
            )
            if self.settings.source_code not in codes:
                raise ChannelConfigError(
                    f"Magento has no inventory source {self.settings.source_code!r} (has: {', '.join(sorted(str(c) for c in codes))})",
                    channel=self.name,
                )
        else:
            await self.client.call("GET", "orders", params=search_params(page_size=1))

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
            documents: list[Document] = []
            rejections: list[Rejection] = []
            for order in page:
                # A broken order is quarantined (a rejection, shown as a conflict), never
                # dropped, and never stops the orders after it.
                try:
                    documents.append(self._document(order))
                except ParseError as err:
                    source = f"order {str(order.get('entity_id', '?'))[:40]}"
                    rejections.append(Rejection(self.name, source, None, "", "", str(err)))
            times = [str(o.get("updated_at")) for o in page]
            newest = max([newest, *(t for t in times if _is_time(t))])
            yield Batch(documents=documents, cursors={CURSOR: newest}, rejections=rejections)

    def _document(self, order: Mapping[str, Any]) -> Document:
        order_id = str(order.get("entity_id") or "").strip()
        if not order_id:
            raise ParseError("Magento sent an order without an entity_id", channel=self.name)
        state = str(order.get("state", ""))
        items = order.get("items")
        items = [] if items is None else items  # "" or {} are not "no items": quarantined
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ParseError(f"Magento order {order_id}: items are not a list of objects")
        lines: dict[str, int] = {}
        names: dict[str, str] = {}
        for item in self._stock_items(items):
            sku = str(item.get("sku") or "").strip()
            if not sku:  # never skipped: the units would vanish from the ledger unseen
                raise ParseError(
                    f"Magento order {order_id}: item {str(item.get('item_id'))[:40]} has no SKU"
                )
            qty = _qty(item.get("qty_ordered")) - _qty(item.get("qty_canceled"))
            if self.settings.refund_returns_stock:
                qty -= _qty(item.get("qty_refunded"))
            lines[sku] = lines.get(sku, 0) + max(0, qty)
            names.setdefault(sku, str(item.get("name", ""))[:200])
        updated = str(order.get("updated_at") or order.get("created_at") or "1970-01-02 00:00:00")
        created = str(order.get("created_at") or updated)
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
            occurred_at=_time(created, "created_at"),
            version=to_us(_time(updated, "updated_at")),
            reference=str(order.get("increment_id") or order_id),
            cancelled=state == "canceled",
            names=names,
            url=url,
        )
        problems = document.validate()  # the ledger would refuse it: say why, here
        if problems:
            raise ParseError(f"Magento order {order_id}: {'; '.join(problems)}")
        return document

    def _stock_items(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The lines of an order that move stock: simple, virtual and downloadable lines that
        are not parents (a configurable or bundle parent's child holds the stock), or every
        line with ``count_parents``."""
        if self.settings.count_parents:
            return items
        # Compared as text: ids are numbers or strings, and a broken one is never unhashable.
        parents = {str(i.get("parent_item_id")) for i in items if i.get("parent_item_id")}
        return [
            i
            for i in items
            if str(i.get("item_id")) not in parents
            and str(i.get("product_type", "simple")) in ("simple", "virtual", "downloadable")
        ]

    async def _held_by_open_orders(self) -> dict[str, int]:
        """Per SKU, the units open orders still hold (MSI's reservations not yet compensated):
        ordered − shipped − cancelled − refunded on each stock line of every order that is not
        complete, closed or cancelled."""
        held: dict[str, int] = {}
        async for page in self.client.paged(
            "orders",
            [[("state", ",".join(CLOSED_STATES), "nin")]],
            sort=[("entity_id", "ASC")],
            page_size=max(self.settings.page_size, 300),
        ):
            for order in page:
                items = order.get("items") or []
                if not isinstance(items, list):
                    continue
                for item in self._stock_items([i for i in items if isinstance(i, dict)]):
                    sku = str(item.get("sku") or "").strip()
                    open_qty = (
                        _qty(item.get("qty_ordered"))
                        - _qty(item.get("qty_shipped"))
                        - _qty(item.get("qty_canceled"))
                        - _qty(item.get("qty_refunded"))
                    )
                    if sku and open_qty > 0:
                        held[sku] = held.get(sku, 0) + open_qty
        return held

    # -- push ----------------------------------------------------------------------------------

    async def _salable(self, sku: str) -> int | None:
        async with self._limit:
            try:
                value = await self.client.call(
                    "GET",
                    f"inventory/get-product-salable-quantity/{_path(sku)}/{self.settings.stock_id}",
                )
            except FatalError as err:
                if err.code == "404":
                    return None
                raise
        return _qty(value)

    async def push(self, items: Sequence[PushItem]) -> list[PushResult]:
        if self.settings.mode == "legacy":
            results = await asyncio.gather(*(self._push_legacy(i) for i in items))
        else:
            results = await self._push_msi(items)
        if any(r.status is PushStatus.DEFERRED for r in results):
            self.nudge()
        return list(results)

    async def _push_msi(self, items: Sequence[PushItem]) -> list[PushResult]:
        skus = [i.sku for i in items]
        sources: dict[str, int] = {}
        for start in range(0, len(skus), 100):
            chunk = skus[start : start + 100]
            async for page in self.client.paged(
                "inventory/source-items",
                [
                    [("sku", ",".join(chunk), "in")],
                    [("source_code", self.settings.source_code, "eq")],
                ],
                page_size=100,
            ):
                for row in page:
                    sources[str(row.get("sku"))] = _qty(row.get("quantity"))
        salables = await asyncio.gather(*(self._salable(s) for s in skus))
        results: dict[str, PushResult] = {}
        writes: list[tuple[PushItem, dict[str, Any], int]] = []
        for item, salable in zip(items, salables, strict=True):
            if item.sku not in sources or salable is None:
                results[item.sku] = PushResult(
                    item.sku,
                    PushStatus.SKIPPED,
                    reason=f"no source item for {item.sku!r} at source {self.settings.source_code!r} in Magento",
                )
                continue
            source = sources[item.sku]
            reserved = max(0, source - salable)  # unshipped quantity of open orders
            # Salable goes below 0 when unshipped orders outnumber the source (an oversold
            # item): Magento sells nothing then, just as at 0, and it is what we asked for.
            shows = max(0, salable)
            if item.last_known is not None and shows < item.last_known and not item.force:
                results[item.sku] = PushResult(
                    item.sku,
                    PushStatus.DEFERRED,
                    observed=salable,
                    reason="Magento sold units we have not pulled yet",
                )
                continue
            if shows == item.available:
                results[item.sku] = PushResult(
                    item.sku, PushStatus.UNCHANGED, shown=shows, observed=salable
                )
                continue
            quantity = item.available + reserved
            writes.append(
                (
                    item,
                    {
                        "sku": item.sku,
                        "source_code": self.settings.source_code,
                        "quantity": quantity,
                        "status": int(item.available > 0),
                    },
                    salable,
                )
            )
        for start in range(0, len(writes), self.settings.batch_size):
            batch = writes[start : start + self.settings.batch_size]
            await self.client.call(
                "POST", "inventory/source-items", body={"sourceItems": [w[1] for w in batch]}
            )
            for item, entry, salable in batch:
                results[item.sku] = PushResult(
                    item.sku, PushStatus.WRITTEN, shown=item.available, observed=salable
                )
                log.info(
                    "stock_pushed",
                    channel=self.name,
                    sku=item.sku,
                    quantity=item.available,
                    source_quantity=entry["quantity"],
                )
        return [results[i.sku] for i in items]

    async def _push_legacy(self, item: PushItem) -> PushResult:
        async with self._limit:
            try:
                stock = await self.client.call("GET", f"stockItems/{_path(item.sku)}")
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
            current = _qty(stock.get("qty"))
            if item.last_known is not None and current < item.last_known and not item.force:
                return PushResult(item.sku, PushStatus.DEFERRED, observed=current)
            if current == item.available:
                return PushResult(item.sku, PushStatus.UNCHANGED, shown=current, observed=current)
            item_id = _qty(stock.get("item_id"))
            await self.client.call(
                "PUT",
                f"products/{_path(item.sku)}/stockItems/{item_id}",
                body={"stockItem": {"qty": item.available, "is_in_stock": item.available > 0}},
            )
            log.info("stock_pushed", channel=self.name, sku=item.sku, quantity=item.available)
            return PushResult(item.sku, PushStatus.WRITTEN, shown=item.available, observed=current)

    # -- reconciliation ------------------------------------------------------------------------

    async def read_levels(
        self, skus: Sequence[str] | None = None
    ) -> AsyncIterator[list[ChannelLevel]]:
        if self.settings.mode == "legacy":
            names = {}
            async for page in self.client.paged(
                "products", [[("type_id", "simple", "eq")]], page_size=self.settings.page_size
            ):
                names.update({str(p.get("sku") or ""): str(p.get("name", "")) for p in page})
            wanted = [s for s in names if skus is None or s in skus]
            for start in range(0, len(wanted), 50):
                chunk = wanted[start : start + 50]
                stocks = await asyncio.gather(
                    *(self.client.call("GET", f"stockItems/{_path(s)}") for s in chunk)
                )
                if not all(isinstance(st, dict) for st in stocks):
                    raise ParseError("Magento stockItems: an answer is not an object")
                yield [
                    ChannelLevel(s, _qty(st.get("qty")), name=names[s])
                    for s, st in zip(chunk, stocks, strict=True)
                ]
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
            held = await self._held_by_open_orders()
            async for page in self.client.paged(
                "inventory/source-items", filters, page_size=max(self.settings.page_size, 300)
            ):
                levels = []
                for row in page:
                    sku = str(row.get("sku") or "").strip()
                    source = _qty(row.get("quantity"))
                    salable = source - held.get(sku, 0)
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
            salables = await asyncio.gather(*(self._salable(s) for s in skus_of if s))
            by_sku = dict(zip([s for s in skus_of if s], salables, strict=True))
            yield [
                ChannelLevel(
                    sku=sku,
                    quantity=max(0, salable) if salable is not None else _qty(row.get("quantity")),
                    detail={"source_quantity": _qty(row.get("quantity")), "salable": salable},
                )
                for row, sku in zip(page, skus_of, strict=True)
                for salable in [by_sku.get(sku)]
            ]
