"""WooCommerce as a channel: orders in (by modified date), product and variation stock out
(batch writes, drift-aware), signed webhooks that only ask for a pull.

What an order holds out of stock is what WooCommerce itself says it took (``orders.py``).
WooCommerce writes are absolute (``stock_quantity``) with no compare-and-set, and an order
created through REST is never checked against stock: so every push reads the figures first
(``GET products?sku=A,B,…`` finds products and variations at once:
``WC_REST_Products_Controller::prepare_objects_query`` asks both post types when ``sku`` is
given), and defers a SKU the shop lowered since we last wrote it, until its orders are pulled;
then writes up to 100 a request (``products/batch``, ``products/<id>/variations/batch``: a
variation is refused by ``products/batch``, observed), each item with its own error.

A product or variation that does not manage stock (``manage_stock`` false; a variation's
``"parent"``) ignores a ``stock_quantity`` write and answers 200 (observed): it is reported
once, never written.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

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
    WebhookVerdict,
)
from syncd.connectors.drift import drift_decision
from syncd.connectors.woocommerce.client import BATCH_LIMIT, WooCommerceClient, batch_errors
from syncd.connectors.woocommerce.orders import GMT, NEVER, gmt, order_document, whole
from syncd.connectors.woocommerce.settings import (
    START_FORMAT,
    WooCommerceSettings,
    parse_settings,
)
from syncd.domain import Document, Rejection
from syncd.exceptions import AuthError, FatalError, ParseError, RetriableError
from syncd.reconcile.compare import Finding, FindingKind
from syncd.reconcile.missed import CHANNEL_TIME, earliest_cursors, missing_orders, newest_time

log = structlog.get_logger("syncd.woocommerce")
CURSOR = "orders.date_modified_gmt"  # "YYYY-MM-DD HH:MM:SS", GMT
ORDER_FIELDS = "id,number,status,date_created_gmt,date_modified_gmt,line_items"
PRODUCT_FIELDS = "id,name,type,parent_id,sku,global_unique_id,manage_stock,stock_quantity"
SIGNATURE_HEADER = "X-WC-Webhook-Signature"
# The topics a webhook of this channel may announce; any of them only asks for a pull.
TOPICS = frozenset({"order.created", "order.updated", "product.updated"})


@dataclass(frozen=True, slots=True)
class _Stock:
    """A product or variation that holds a SKU, as just read."""

    id: int
    parent_id: int  # 0 for a product; the variable product for a variation
    manages: bool
    quantity: int


class WooCommerceConnector(Connector[WooCommerceSettings]):
    type: ClassVar[str] = "woocommerce"
    signs_webhooks: ClassVar[bool] = True

    def __init__(
        self,
        name: str,
        settings: WooCommerceSettings,
        *,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        super().__init__(name, settings, session=session)
        self.zone = ZoneInfo(self.settings.timezone)
        self.client = WooCommerceClient(self.settings, channel=name, session=session)
        self._limit = asyncio.Semaphore(self.settings.concurrency)
        self._unmanaged_told: set[str] = set()  # SKUs reported as not managing stock

    @classmethod
    def parse_settings(
        cls, table: Mapping[str, Any], *, file: str, prefix: str
    ) -> tuple[WooCommerceSettings | None, list[ConfigIssue]]:
        return parse_settings(table, file=file, prefix=prefix)

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        await self.client.open()

    async def close(self) -> None:
        await self.client.close()

    async def check(self) -> None:
        """One cheap authenticated read (the wc/v3 index answers without a key: not that)."""
        await self.client.get_json("orders", {"per_page": "1", "_fields": "id"})
        log.info(
            "woocommerce_ready",
            channel=self.name,
            signing="basic" if self.settings.https else "oauth1",
        )

    # -- webhooks ------------------------------------------------------------------------------

    @classmethod
    def is_webhook_ping(cls, headers: Mapping[str, str], body: bytes) -> bool:
        """WooCommerce's ping when a webhook is saved: ``webhook_id=N`` form body, no signature
        (``WC_Webhook::deliver_ping``; anything but 200 fails the webhook's creation)."""
        return SIGNATURE_HEADER.lower() not in {k.lower() for k in headers} and bool(
            re.fullmatch(rb"webhook_id=\d+", body)
        )

    @classmethod
    def verify_webhook(cls, headers: Mapping[str, str], body: bytes, secret: bytes) -> bool:
        """A delivery is signed with the webhook's secret: ``X-WC-Webhook-Signature`` is the
        base64 HMAC-SHA256 of the raw body (``WC_Webhook::generate_signature``); compared in
        constant time."""
        given = headers.get(SIGNATURE_HEADER, "").encode("ascii", "replace")
        expected = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest())
        return hmac.compare_digest(given, expected)

    def webhook_verdict(
        self, headers: Mapping[str, str], body: bytes, secret: bytes
    ) -> WebhookVerdict:
        """Genuine or not (WooCommerce sends no delivery id to tell a repeat: a repeat only
        asks for one more pull, which finds nothing new)."""
        genuine = self.verify_webhook(headers, body, secret)
        return WebhookVerdict.ACCEPTED if genuine else WebhookVerdict.REFUSED

    # -- ingest --------------------------------------------------------------------------------

    def _start(self, cursors: Mapping[str, str]) -> str:
        since = cursors.get(CURSOR, "")
        if since:
            start = gmt(since.replace(" ", "T"), CURSOR)
        elif self.settings.start_from:
            start = self._start_from()
        else:
            start = datetime(1970, 1, 2, tzinfo=UTC)
        start -= timedelta(seconds=self.settings.overlap_seconds)
        if self.settings.start_from:
            # never before start_from, even from a cursor rewound by a catch-up: the ledger is
            # not meant to hold those orders (the count at onboarding already does)
            start = max(start, self._start_from())
        return max(start, datetime(1970, 1, 2, tzinfo=UTC)).strftime(GMT)

    def _start_from(self) -> datetime:
        local = datetime.strptime(self.settings.start_from, START_FORMAT)  # noqa: DTZ007
        return local.replace(tzinfo=self.zone).astimezone(UTC)

    async def pull(self, cursors: Mapping[str, str]) -> AsyncIterator[Batch]:
        """Orders modified after the cursor (minus the overlap: ``modified_after`` is strictly
        after, observed), oldest first, a batch per page. ``dates_are_gmt`` makes WooCommerce read
        ``modified_after`` as GMT (WC_REST_CRUD_Controller::prepare_objects_query), the way the
        cursor is kept. An order modified while we page moves to the end and is read there or
        by the next pull, which starts an overlap before the newest time seen."""
        newest = ""
        if cursors.get(CURSOR):  # one format, whichever was stored (an ISO "T" one too)
            newest = gmt(cursors[CURSOR].replace(" ", "T"), CURSOR).strftime(CHANNEL_TIME)
        params = {
            "modified_after": self._start(cursors),
            "dates_are_gmt": "true",
            "orderby": "modified",
            "order": "asc",
            "status": "any",
            "_fields": ORDER_FIELDS,
        }
        async for orders in self.client.pages("orders", params, page_size=self.settings.page_size):
            documents: list[Document] = []
            rejections: list[Rejection] = []
            for order in orders:
                # A broken order is quarantined (a rejection, shown as a conflict), never
                # dropped, and never stops the orders after it.
                try:
                    document = order_document(
                        order,
                        channel=self.name,
                        sku_field=self.settings.sku_field,
                        admin_order_url=self.settings.admin_order_url,
                    )
                except ParseError as err:
                    source = f"order {str(order.get('id', '?'))[:40]}"
                    rejections.append(Rejection(self.name, source, None, "", "", str(err)))
                    continue
                if document is not None:
                    documents.append(document)
            for order in orders:
                try:
                    seen = gmt(order.get("date_modified_gmt"), "date_modified_gmt")
                except ParseError:
                    continue  # never a garbage cursor
                # kept as the other shops' cursors are (GMT here): a catch-up rewinds them
                newest = max(newest, seen.strftime(CHANNEL_TIME))
            yield Batch(
                documents=documents,
                cursors={CURSOR: newest} if newest else {},
                rejections=rejections,
            )

    def missed_documents(
        self,
        known: Callable[[], Awaitable[Set[str]]],
        cursors: Mapping[str, str],
        *,
        window_seconds: float,
    ) -> AsyncIterator[Batch]:
        """Orders modified before the ingest cursor that the ledger never applied (a ledger
        restored from a backup): pulled again from just before the earliest, then one finding
        per missed order."""
        return self._missed(known, cursors)

    async def _missed(
        self, known: Callable[[], Awaitable[Set[str]]], cursors: Mapping[str, str]
    ) -> AsyncIterator[Batch]:
        if not cursors.get(CURSOR):
            return  # never pulled: the first pull reads everything anyway
        times: dict[str, str] = {}
        params = {
            "status": "any",
            "orderby": "id",
            "order": "asc",
            "_fields": "id,status,date_modified_gmt",
        }
        async for orders in self.client.pages("orders", params, page_size=100):
            for order in orders:
                if str(order.get("status")) in NEVER:
                    continue
                try:
                    when = gmt(order.get("date_modified_gmt"), "date_modified_gmt")
                except ParseError:
                    continue
                times[str(order.get("id"))] = when.strftime(CHANNEL_TIME)
        since = self._start_from().strftime(CHANNEL_TIME) if self.settings.start_from else ""
        ledger = await known()
        found = missing_orders(times, ledger, since=since, before=newest_time(cursors))
        if not found:
            return
        start = earliest_cursors(cursors, min(m.updated for m in found))
        applied = set(ledger)
        async for batch in self.pull(start):
            applied.update(d.doc_id for d in batch.documents)
            if batch.documents:
                yield Batch(documents=batch.documents)  # never the pull's cursors
        for m in found:
            done = m.order_id in applied
            log.warning(
                "missed_order", channel=self.name, order=m.order_id, updated=m.updated, applied=done
            )
            yield Batch(
                missed=[
                    Finding(
                        self.name,
                        m.order_id,
                        FindingKind.MISSED_ORDER,
                        detail={"updated": m.updated, "applied": done},
                    )
                ]
            )

    # -- reading stock -------------------------------------------------------------------------

    def _sku(self, row: Mapping[str, Any]) -> str:
        return str(row.get(self.settings.sku_field) or "").strip()

    async def _lookup(self, skus: Sequence[str]) -> dict[str, list[Mapping[str, Any]]]:
        """SKU → the products and variations holding it, read now (100 SKUs a request)."""
        wanted = list(dict.fromkeys(s for s in skus if s))
        out: dict[str, list[Mapping[str, Any]]] = {s: [] for s in wanted}
        # A SKU with a comma is asked alone: WooCommerce also matches the whole string.
        alone = [[s] for s in wanted if "," in s]
        plain = [s for s in wanted if "," not in s]
        chunks = [plain[i : i + BATCH_LIMIT] for i in range(0, len(plain), BATCH_LIMIT)] + alone

        async def read(chunk: list[str]) -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = []
            async with self._limit:
                async for page in self.client.pages(
                    "products",
                    {self.settings.sku_field: ",".join(chunk), "_fields": PRODUCT_FIELDS},
                    page_size=100,
                ):
                    rows.extend(page)
            return rows

        for rows in await asyncio.gather(*(read(c) for c in chunks)):
            for row in rows:
                sku = self._sku(row)
                if sku in out:
                    out[sku].append(row)
        return out

    @staticmethod
    def _stock_of(sku: str, rows: Sequence[Mapping[str, Any]]) -> _Stock | str:
        """The one product or variation that holds a SKU, or why it cannot be written."""
        if not rows:
            return f"no product or variation has the SKU {sku!r} in WooCommerce"
        if len(rows) > 1:
            return f"{len(rows)} products of WooCommerce have the SKU {sku!r}"
        row = rows[0]
        manages = row.get("manage_stock")
        if manages == "parent":
            return f"variation {sku!r} uses its product's stock (manage_stock at product level)"
        if row.get("type") == "variable" and manages is True:
            return f"{sku!r} is a variable product: its variations hold the stock, write those"
        quantity = row.get("stock_quantity")
        return _Stock(
            id=whole(row.get("id"), "id"),
            parent_id=whole(row.get("parent_id") or 0, "parent_id")
            if row.get("type") == "variation"
            else 0,
            manages=manages is True,
            quantity=whole(quantity, "stock_quantity") if quantity is not None else 0,
        )

    async def read_figures(self, skus: Sequence[str]) -> dict[str, int]:
        found = await self._lookup(skus)
        out: dict[str, int] = {}
        for sku, rows in found.items():
            stock = self._stock_of(sku, rows)
            if isinstance(stock, _Stock) and stock.manages:
                out[sku] = max(0, stock.quantity)
        return out

    # -- push ----------------------------------------------------------------------------------

    def _unmanaged(self, sku: str, observed: int | None) -> PushResult:
        if sku not in self._unmanaged_told:
            self._unmanaged_told.add(sku)
            log.warning("stock_not_managed", channel=self.name, sku=sku)
        return PushResult(
            sku,
            PushStatus.SKIPPED,
            observed=observed,
            reason="WooCommerce does not manage this product's stock (manage_stock is off)",
        )

    def _decide(self, item: PushItem, stock: _Stock | str) -> PushResult | _Stock:
        """What to do with one SKU, from its figure read just now (as PrestaShop's push)."""
        if isinstance(stock, str):
            return PushResult(item.sku, PushStatus.SKIPPED, reason=stock)
        if not stock.manages:
            return self._unmanaged(item.sku, None)
        # Below 0 (REST orders are not checked against stock) the shop sells nothing, as at 0;
        # 0 is then written over it.
        decided = drift_decision(item, stock.quantity, negative_is_zero=False)
        return stock if decided is None else decided

    async def push(self, items: Sequence[PushItem]) -> list[PushResult]:
        found = await self._lookup([i.sku for i in items])
        results: dict[str, PushResult] = {}
        writes: dict[int, list[tuple[PushItem, _Stock]]] = {}  # parent (0: products) → items
        for item in items:
            decision = self._decide(item, self._stock_of(item.sku, found.get(item.sku, [])))
            if isinstance(decision, PushResult):
                results[item.sku] = decision
            else:
                writes.setdefault(decision.parent_id, []).append((item, decision))
        jobs = [
            group[start : start + BATCH_LIMIT]
            for group in writes.values()
            for start in range(0, len(group), BATCH_LIMIT)
        ]
        answers = await asyncio.gather(*(self._write(job) for job in jobs), return_exceptions=True)
        for job, written in zip(jobs, answers, strict=True):
            if isinstance(written, AuthError | RetriableError) or not isinstance(
                written, dict | FatalError | ParseError
            ):
                raise written  # retriable or auth (or a bug): the whole batch is tried later
            if isinstance(written, FatalError | ParseError):
                # the request itself refused (its product gone…): these items only
                for item, _ in job:
                    results[item.sku] = PushResult(
                        item.sku, PushStatus.SKIPPED, reason=str(written)
                    )
                continue
            results.update(written)
        out = [results[i.sku] for i in items]
        if any(r.status is PushStatus.DEFERRED for r in out):
            self.nudge()
        return out

    async def _write(self, job: Sequence[tuple[PushItem, _Stock]]) -> dict[str, PushResult]:
        """One batch request; each item's answer is its read-back (or its own error)."""
        parent = job[0][1].parent_id
        path = f"products/{parent}/variations/batch" if parent else "products/batch"
        body = {"update": [{"id": s.id, "stock_quantity": i.available} for i, s in job]}
        async with self._limit:
            answer = await self.client.post_json(path, body)
        errors = batch_errors(answer)
        echoed: dict[int, Mapping[str, Any]] = {}
        updated = answer.get("update") if isinstance(answer, Mapping) else None
        for row in updated if isinstance(updated, list) else []:
            if isinstance(row, Mapping) and "error" not in row:
                try:
                    echoed[whole(row.get("id"), "id")] = row
                except ParseError:
                    continue
        out: dict[str, PushResult] = {}
        for item, stock in job:
            if stock.id in errors:
                code, message = errors[stock.id]
                out[item.sku] = PushResult(
                    item.sku,
                    PushStatus.SKIPPED,
                    observed=stock.quantity,
                    reason=f"WooCommerce refused the write: [{code}] {message}",
                )
                continue
            row = echoed.get(stock.id)
            if row is not None and row.get("manage_stock") is not True:
                out[item.sku] = self._unmanaged(item.sku, stock.quantity)
                continue
            shown = item.available
            if row is not None and row.get("stock_quantity") is not None:
                shown = whole(row.get("stock_quantity"), "stock_quantity")
            log.info(
                "stock_pushed",
                channel=self.name,
                sku=item.sku,
                quantity=item.available,
                was=stock.quantity,
            )
            out[item.sku] = PushResult(
                item.sku, PushStatus.WRITTEN, shown=max(0, shown), observed=stock.quantity
            )
        return out

    # -- reconciliation ------------------------------------------------------------------------

    def _level(self, row: Mapping[str, Any], parent_name: str = "") -> ChannelLevel | None:
        if row.get("manage_stock") is not True:
            return None  # nothing to compare: WooCommerce keeps no figure for it
        name = str(row.get("name") or "")
        if parent_name:
            name = f"{parent_name} – {name}" if name else parent_name
        return ChannelLevel(
            sku=self._sku(row),
            quantity=whole(row.get("stock_quantity") or 0, "stock_quantity"),
            name=name[:200],
            detail={
                "id": whole(row.get("id"), "id"),
                "parent_id": whole(row.get("parent_id") or 0, "parent_id"),
            },
        )

    async def read_levels(
        self, skus: Sequence[str] | None = None
    ) -> AsyncIterator[list[ChannelLevel]]:
        """Every product and variation that manages stock (a row without a SKU is yielded with
        sku "", never dropped: reconciliation reports it)."""
        if skus is not None:
            found = await self._lookup(skus)
            levels = [
                level
                for rows in found.values()
                for row in rows
                if row.get("type") != "variable" and (level := self._level(row)) is not None
            ]
            if levels:
                yield levels
            return
        async for page in self.client.pages(
            "products", {"_fields": PRODUCT_FIELDS, "orderby": "id", "order": "asc"}, page_size=100
        ):
            levels = []
            for row in page:
                if row.get("type") == "variable":
                    pid = whole(row.get("id"), "id")
                    async for variations in self.client.pages(
                        f"products/{pid}/variations",
                        {"_fields": PRODUCT_FIELDS, "orderby": "id", "order": "asc"},
                        page_size=100,
                    ):
                        for variation in variations:
                            level = self._level(variation, str(row.get("name") or ""))
                            if level is not None:
                                levels.append(level)
                    continue
                level = self._level(row)
                if level is not None:
                    levels.append(level)
            if levels:
                yield levels
