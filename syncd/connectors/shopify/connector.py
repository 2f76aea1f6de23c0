"""Shopify as a channel: orders in by ``updated_at``, stock out by compare-and-set.

Shopify lowers ``available`` at the order's location when an order is placed, so we write
``available`` itself (``inventorySetQuantities``, name ``available``) at the channel's one
location (``location_id``). Every write carries ``changeFromQuantity`` = the figure we believe
Shopify shows: Shopify writes only if it still shows that figure, else the whole call fails with
``CHANGE_FROM_QUANTITY_STALE`` and writes nothing (shopify.dev/docs/api/admin-graphql/2026-10/
mutations/inventorySetQuantities; ``compareQuantity`` was removed in 2026-04). Each call carries
``@idempotent(key:)``, mandatory from 2026-04: a call repeated after a lost answer (the client's
retry sends the same body) is applied once. A sale the shop took that we have not pulled can then never be
written over (no lost update, no read-back window): the SKUs whose figure moved are read, and
those that went lower are deferred (the engine pulls the orders first, then writes again).

Reconcile and init read the whole catalogue through one bulk operation
(``bulkOperationRunQuery``, JSONL result), not page by page; a channel told each location apart
(``shopify_locations``) is read so once per location.

Webhooks (``orders/create``, ``orders/updated``, ``orders/cancelled``, ``refunds/create``,
``inventory_levels/update``) only trigger a pull: their HMAC (``X-Shopify-Hmac-Sha256``, base64
HMAC-SHA256 of the raw body with the app's client secret, the channel's ``webhook_secret``) is
checked in constant time and their ``X-Shopify-Webhook-Id`` deduplicates them
(shopify.dev/docs/apps/build/webhooks/verify-deliveries).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

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
from syncd.connectors.shopify.bulk import bulk_rows
from syncd.connectors.shopify.client import (
    DEFAULT_API_VERSION,
    OLDEST_API_VERSION,
    ShopifyClient,
    ShopifySettings,
)
from syncd.connectors.shopify.orders import order_document, shopify_time, truncated
from syncd.connectors.shopify.queries import (
    BULK_LEVELS,
    FULFILMENT_ORDERS,
    GONE,
    IDEMPOTENCY,
    ORDER_LOCATIONS,
    ORDERS_QUERY,
    SET_QUANTITIES,
    STALE,
    VARIANTS_QUERY,
)
from syncd.domain import Document, Rejection
from syncd.exceptions import ChannelConfigError, FatalError, ParseError, RetriableError
from syncd.settings import TableReader

__all__ = ["ShopifyConnector", "ShopifySettings"]

log = structlog.get_logger("syncd.shopify")
CURSOR = "orders.updated_at"
# An order page is charged its requested cost up front (2 + orders × (1 + lines × 2 + refunds ×
# (3 + refund lines × 2))): kept small, or a pull waits for the bucket to hold it while pushes
# drain it. 3 orders of 20 lines and 2 refunds of 10: 269 points; a larger order is read alone.
REFUNDS_PER_ORDER = 2
REFUND_LINES = 10
VARIANTS_PER_READ = 100  # variants per productVariants page (5 points each)
WRITE_ATTEMPTS = 3  # compare failures on one SKU in one push before it is deferred
WEBHOOK_IDS_KEPT = 10_000
LOCATION_ID = re.compile(r"(?:gid://shopify/Location/)?(\d+)")


class Item:
    """A SKU as Shopify holds it at our location."""

    __slots__ = ("figure", "item_id", "name", "problem", "tracked")

    def __init__(
        self, item_id: str, tracked: bool, figure: int | None, name: str, problem: str = ""
    ) -> None:
        self.item_id = item_id
        self.tracked = tracked
        self.figure = figure  # None: not stocked at our location
        self.name = name
        self.problem = problem


class ShopifyConnector(Connector[ShopifySettings]):
    type: ClassVar[str] = "shopify"
    signs_webhooks: ClassVar[bool] = True
    shop_locations_key: ClassVar[str] = "shopify_locations"

    def __init__(
        self,
        name: str,
        settings: ShopifySettings,
        *,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        super().__init__(name, settings, session=session)
        self.client = ShopifyClient(settings, channel=name, session=session)
        # (Shopify location, SKU) → inventory item id (tracked, stocked at that location)
        self._ids: dict[tuple[str, str], str] = {}
        # Shopify location → ledger location, for orders (a channel told each location apart)
        self._ledger_location = {shop: ours for ours, shop in settings.locations.items()}
        self._webhook_ids: OrderedDict[str, None] = OrderedDict()

    @classmethod
    def parse_settings(
        cls, table: Mapping[str, Any], *, file: str, prefix: str
    ) -> tuple[ShopifySettings | None, list[ConfigIssue]]:
        issues: list[ConfigIssue] = []
        r = TableReader(table, file=file, prefix=prefix, issues=issues)
        url = r.url("url", required=True, credentials_key="access_token_file")
        token = r.secret("access_token", required=True)
        # A channel selling from several ledger locations may write each one's figure to a
        # Shopify location of its own: [channels.X.shopify_locations] store = "gid://…/1".
        lanes: dict[str, str] = {}
        mapped = r.string_map("shopify_locations")
        for ours, theirs in mapped.items():
            found = LOCATION_ID.fullmatch(theirs.strip())
            if found is None:
                r.problem(
                    f"shopify_locations.{ours}",
                    f"{theirs!r} is not a Shopify location id",
                    f'{ours} = "gid://shopify/Location/123456789" (or "123456789")',
                )
            else:
                lanes[ours] = f"gid://shopify/Location/{found.group(1)}"
        location = r.string("location_id", "", required=not mapped)
        number = LOCATION_ID.fullmatch(location or "")
        if location and number is None:
            r.problem(
                "location_id",
                f"{location!r} is not a Shopify location id",
                'location_id = "gid://shopify/Location/123456789" (or 123456789)',
            )
        one = f"gid://shopify/Location/{number.group(1)}" if number else ""
        if mapped and len(lanes) < len(mapped):
            one = ""  # a mapping in error: no settings
        elif lanes and not location:
            one = next(iter(lanes.values()))  # check() and reconcile read the first
        version = r.string("api_version", DEFAULT_API_VERSION)
        if not re.fullmatch(r"\d{4}-(01|04|07|10)", version or ""):
            r.problem(
                "api_version",
                f"{version!r} is not a Shopify API version",
                f'api_version = "{DEFAULT_API_VERSION}"',
            )
        elif version < OLDEST_API_VERSION:
            r.problem(
                "api_version",
                f"{version} is too old: syncd writes stock with changeFromQuantity and "
                f"@idempotent, which Shopify has from {OLDEST_API_VERSION}",
                f'api_version = "{DEFAULT_API_VERSION}"',
            )
        admin_url = r.string("admin_order_url", "")
        if admin_url and "{id}" not in admin_url:
            r.problem(
                "admin_order_url",
                "must contain {id}",
                'admin_order_url = "https://admin.shopify.com/store/SHOP/orders/{id}"',
            )
        settings = (
            ShopifySettings(
                url=url,
                access_token=token,
                location_id=one,
                api_version=version,
                batch_size=r.integer("batch_size", 250, minimum=1, maximum=250),
                page_size=r.integer("page_size", 3, minimum=1, maximum=10),
                lines_per_order=r.integer("lines_per_order", 20, minimum=1, maximum=60),
                # Short: every order re-read is charged to the API's throttle (the other shops
                # re-read 300 s for free). updatedAt has whole seconds and is read with >=.
                overlap_seconds=r.integer("overlap_seconds", 10, minimum=0, maximum=86_400),
                timeout_seconds=r.number("timeout_seconds", 15.0, minimum=1, maximum=300),
                bulk_from=r.integer("bulk_from", 250, minimum=1, maximum=10_000_000),
                bulk_poll_seconds=r.number("bulk_poll_seconds", 1.0, minimum=0.01, maximum=60),
                admin_order_url=admin_url,
                locations=lanes,
            )
            if url and token is not None and one
            else None
        )
        r.reject_unknown()
        return settings, issues

    @classmethod
    def shop_locations(cls, settings: Any) -> Mapping[str, str]:
        return settings.locations if isinstance(settings, ShopifySettings) else {}

    async def open(self) -> None:
        await self.client.open()

    async def close(self) -> None:
        await self.client.close()

    async def check(self) -> None:
        """The token works and the location (each mapped location) exists."""
        wanted = [("location_id", self.settings.location_id)]
        wanted += [(f"shopify_locations.{k}", v) for k, v in self.settings.locations.items()]
        named: dict[str, str] = {}  # Shopify location → the first key naming it
        for key, where in wanted:
            named.setdefault(where, key)
        for where, key in named.items():
            data = await self.client.graphql(
                "query Check($id: ID!) { shop { name } location(id: $id) { id name } }",
                {"id": where},
                cost=2,
            )
            if not isinstance(data.get("location"), dict):
                raise ChannelConfigError(
                    f"{key} = {where!r}: Shopify has no such location", channel=self.name
                )

    # -- webhooks ------------------------------------------------------------------------------

    def webhook_verdict(
        self, headers: Mapping[str, str], body: bytes, secret: bytes
    ) -> WebhookVerdict:
        """Shopify signs the raw body: base64 HMAC-SHA256 with the app's client secret."""
        given = headers.get("X-Shopify-Hmac-Sha256", "").encode("utf-8", "surrogateescape")
        expected = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest())
        if not hmac.compare_digest(given, expected):
            return WebhookVerdict.REFUSED
        webhook_id = headers.get("X-Shopify-Webhook-Id", "")[:200]
        if webhook_id:
            if webhook_id in self._webhook_ids:
                return WebhookVerdict.DUPLICATE
            self._webhook_ids[webhook_id] = None
            while len(self._webhook_ids) > WEBHOOK_IDS_KEPT:
                self._webhook_ids.popitem(last=False)
        return WebhookVerdict.ACCEPTED

    # -- ingest --------------------------------------------------------------------------------

    async def pull(self, cursors: Mapping[str, str]) -> AsyncIterator[Batch]:
        newest = cursors.get(CURSOR, "")
        since = shopify_time(newest, "cursor") if newest else datetime(1970, 1, 2, tzinfo=UTC)
        start = since - timedelta(seconds=self.settings.overlap_seconds)
        # >=: updatedAt has whole seconds; an order updated in the cursor's second again is
        # read again (harmless: the ledger applies differences).
        search = f"updated_at:>='{start.strftime('%Y-%m-%dT%H:%M:%SZ')}'"
        after: str | None = None
        while True:
            page = await self._orders_page(search, after)
            documents: list[Document] = []
            rejections: list[Rejection] = []
            for order in page["nodes"]:
                try:
                    if truncated(order, REFUNDS_PER_ORDER):
                        order = await self._whole_order(order)
                    document = order_document(
                        order,
                        channel=self.name,
                        admin_order_url=self.settings.admin_order_url,
                        locations=self._ledger_location,
                        first_location=next(iter(self.settings.locations), ""),
                    )
                except ParseError as err:
                    source = f"order {str(order.get('name') or order.get('id') or '?')[:40]}"
                    rejections.append(Rejection(self.name, source, None, "", "", str(err)))
                    continue
                if document is not None:
                    documents.append(document)
            times = [str(o.get("updatedAt") or "") for o in page["nodes"]]
            newest = max([newest, *(t for t in times if t)])
            yield Batch(documents=documents, cursors={CURSOR: newest}, rejections=rejections)
            info = page["pageInfo"]
            if not info.get("hasNextPage"):
                return
            after = str(info.get("endCursor"))

    def _orders_cost(self, first: int, lines: int, refunds: int, refund_lines: int) -> int:
        per_order = 1 + (2 + lines * 2) + refunds * (1 + 2 + refund_lines * 2)
        if self.settings.locations:  # fulfillmentOrders: 2 + n × (order, assigned, location)
            per_order += 2 + FULFILMENT_ORDERS * 3
        return 2 + first * per_order

    async def _orders_page(
        self,
        search: str,
        after: str | None,
        *,
        first: int | None = None,
        lines: int | None = None,
        refunds: int = REFUNDS_PER_ORDER,
        refund_lines: int = REFUND_LINES,
    ) -> dict[str, Any]:
        lines = lines or self.settings.lines_per_order
        if first is None:
            # A page is charged its requested cost before it runs: with the bucket low (pushes
            # spent it), ask for fewer orders rather than wait (and hold up the pushes) until
            # it holds a whole page. Most polls find few orders; the next page follows.
            per_order = self._orders_cost(1, lines, refunds, refund_lines) - 2
            room = self.client.throttle.now_available() - 2  # inf: not reported yet
            fits = self.settings.page_size if room == float("inf") else int(room // per_order)
            first = max(1, min(self.settings.page_size, fits))
        data = await self.client.graphql(
            ORDERS_QUERY % (ORDER_LOCATIONS if self.settings.locations else ""),
            {
                "first": first,
                "after": after,
                "query": search,
                "lines": lines,
                "refunds": refunds,
                "refundLines": refund_lines,
            },
            cost=self._orders_cost(first, lines, refunds, refund_lines),
        )
        orders = data.get("orders")
        if not isinstance(orders, dict) or not isinstance(orders.get("nodes"), list):
            raise ParseError("Shopify's orders answer has no nodes", channel=self.name)
        orders.setdefault("pageInfo", {})
        page: dict[str, Any] = orders
        return page

    async def _whole_order(self, order: Mapping[str, Any]) -> dict[str, Any]:
        """An order with more lines or refunds than a page holds, read alone with more room
        (one query of at most 1,000 points); still too large: quarantined, named."""
        oid = str(order.get("id") or "").rsplit("/", 1)[-1]
        page = await self._orders_page(
            f"id:{oid}", None, first=1, lines=200, refunds=15, refund_lines=15
        )
        found = [o for o in page["nodes"] if o.get("id") == order.get("id")]
        if not found or truncated(found[0], 15):
            raise ParseError(
                f"Shopify order {order.get('name') or oid} has more lines or refunds than syncd "
                "reads in one query (200 lines, 15 refunds of 15 lines)",
                channel=self.name,
            )
        whole: dict[str, Any] = found[0]
        return whole

    # -- push ----------------------------------------------------------------------------------

    async def _read_items(self, skus: Sequence[str], where: str = "") -> dict[str, Item | str]:
        """Each SKU's inventory item and figure at Shopify location ``where`` (default: the
        channel's ``location_id``), or why it has none."""
        where = where or self.settings.location_id
        found: dict[str, Item | str] = {}
        for start in range(0, len(skus), VARIANTS_PER_READ):
            chunk = list(skus[start : start + VARIANTS_PER_READ])
            terms = " OR ".join(f"sku:{_quote(s)} OR barcode:{_quote(s)}" for s in chunk)
            data = await self.client.graphql(
                VARIANTS_QUERY,
                {"first": 2 * len(chunk), "query": terms, "location": where},
                cost=2 + 2 * len(chunk) * 4,
            )
            variants = (data.get("productVariants") or {}).get("nodes") or []
            matches: dict[str, list[dict[str, Any]]] = {s: [] for s in chunk}
            for variant in variants:
                if not isinstance(variant, dict):
                    continue
                sku = str(variant.get("sku") or "").strip()
                key = sku or str(variant.get("barcode") or "").strip()
                if key in matches:
                    matches[key].append(variant)
            for sku, hits in matches.items():
                found[sku] = self._item(sku, hits, where)
        return found

    def _item(self, sku: str, hits: list[dict[str, Any]], where: str) -> Item | str:
        if not hits:
            return f"Shopify has no variant with SKU (or barcode) {sku!r}"
        if len(hits) > 1:
            return f"{len(hits)} Shopify variants have SKU {sku!r}: which one to write is unclear"
        variant = hits[0]
        inventory = variant.get("inventoryItem") or {}
        item_id = str(inventory.get("id") or "")
        name = str(variant.get("displayName") or "")
        if inventory.get("tracked") is False:
            self._ids.pop((where, sku), None)
            return (
                f"Shopify does not track inventory for {sku!r} (inventoryItem.tracked = false): "
                "syncd never writes it"
            )
        level = inventory.get("inventoryLevel")
        if not isinstance(level, dict):
            self._ids.pop((where, sku), None)
            return f"{sku!r} is not stocked at location {where} in Shopify"
        figures = [q.get("quantity") for q in level.get("quantities") or [] if isinstance(q, dict)]
        figure = figures[0] if figures and isinstance(figures[0], int) else None
        if figure is None:
            return f"Shopify answered no available quantity for {sku!r}"
        self._ids[(where, sku)] = item_id
        return Item(item_id, True, figure, name)

    async def push(self, items: Sequence[PushItem]) -> list[PushResult]:
        """Each item written at its Shopify location: its ledger location's (``shopify_locations``)
        or the channel's ``location_id``."""
        groups: dict[str, list[PushItem]] = {}
        for item in items:
            groups.setdefault(item.location, []).append(item)
        done: dict[tuple[str, str], PushResult] = {}
        for location, group in groups.items():
            where = self.settings.locations.get(location) if location else None
            if location and where is None:
                raise FatalError(
                    f"ledger location {location!r} has no Shopify location "
                    f"(shopify_locations of channel {self.name})",
                    channel=self.name,
                )
            for result in await self._push_at(where or self.settings.location_id, group):
                done[(location, result.sku)] = result
        if any(r.status is PushStatus.DEFERRED for r in done.values()):
            self.nudge()
        return [done[(i.location, i.sku)] for i in items]

    async def _push_at(self, where: str, items: Sequence[PushItem]) -> list[PushResult]:
        """Write SKUs' figures at one Shopify location, comparing with what we believe."""
        results: dict[str, PushResult] = {}
        pending = list(items)
        observed: dict[str, int] = {}
        for attempt in range(WRITE_ATTEMPTS + 1):
            # Read only what cannot be written blind: SKUs never resolved or never seen, and
            # those whose compare failed. The others go out comparing with the figure we
            # believe: if Shopify still shows it, nothing was sold, restocked or edited behind
            # our back (no read needed for force or defer_higher); if not, the call fails,
            # writes nothing, and those SKUs are read and decided here on the next round.
            blind = attempt == 0
            to_read = [
                i.sku
                for i in pending
                if not blind or (where, i.sku) not in self._ids or i.last_known is None
            ]
            read = await self._read_items(to_read, where) if to_read else {}
            writes: list[tuple[PushItem, int]] = []
            for item in pending:
                if item.sku in read:
                    state = read[item.sku]
                    if isinstance(state, str):
                        results[item.sku] = PushResult(item.sku, PushStatus.SKIPPED, reason=state)
                        continue
                    assert state.figure is not None
                    observed[item.sku] = state.figure
                    decided = self._decide(item, state.figure)
                    if decided is not None:
                        results[item.sku] = decided
                        continue
                    writes.append((item, state.figure))
                else:
                    assert item.last_known is not None
                    writes.append((item, item.last_known))
            stale = await self._write(writes, results, observed, where)
            if not stale:
                break
            pending = stale
        for item in pending:
            if item.sku not in results:  # stale again on every attempt: a busy shop
                results[item.sku] = PushResult(
                    item.sku,
                    PushStatus.DEFERRED,
                    observed=observed.get(item.sku),
                    reason="Shopify's figure kept moving while syncd wrote it",
                )
        return [results[i.sku] for i in items]

    def _decide(self, item: PushItem, shows: int) -> PushResult | None:
        """What to do with a SKU whose figure was read; None: write it, comparing with it."""
        if item.last_known is not None and shows < item.last_known and not item.force:
            return PushResult(
                item.sku,
                PushStatus.DEFERRED,
                observed=shows,
                reason="Shopify sold units we have not pulled yet",
            )
        if (
            item.defer_higher
            and item.last_known is not None
            and shows > item.last_known
            and shows != item.available
            and not item.force
        ):
            return PushResult(
                item.sku,
                PushStatus.DEFERRED,
                observed=shows,
                reason="Shopify shows more than syncd wrote: an edit or a cancellation",
            )
        if shows == item.available:
            return PushResult(item.sku, PushStatus.UNCHANGED, shown=shows, observed=shows)
        return None

    async def _write(
        self,
        writes: list[tuple[PushItem, int]],
        results: dict[str, PushResult],
        observed: dict[str, int],
        where: str,
    ) -> list[PushItem]:
        """Write in batches of ``batch_size``; the items whose compare failed (to read again).

        A call with one stale figure writes nothing: it is sent again without the failed
        items."""
        stale: list[PushItem] = []
        size = self.settings.batch_size
        batches = [writes[s : s + size] for s in range(0, len(writes), size)]
        while batches:
            batch = batches.pop()
            if not batch:
                continue
            errors = await self._set_quantities(batch, where)
            if errors is None:
                for item, compare in batch:
                    results[item.sku] = PushResult(
                        item.sku,
                        PushStatus.WRITTEN,
                        shown=item.available,
                        observed=observed.get(item.sku, compare),
                    )
                    log.info(
                        "stock_pushed",
                        channel=self.name,
                        sku=item.sku,
                        quantity=item.available,
                        compared=compare,
                        location=where,
                    )
                continue
            refused = next((e for e in errors if e[1] in IDEMPOTENCY), None)
            if refused is not None:
                raise RetriableError(
                    f"Shopify refused the write's idempotency key ({refused[1]}): "
                    f"{refused[2][:200]}",
                    channel=self.name,
                )
            failed: set[int] = set()
            for index, code, message in errors:
                if index is None or not 0 <= index < len(batch):
                    raise FatalError(
                        f"Shopify refused a stock write: {message[:200]}",
                        channel=self.name,
                        code=code,
                    )
                failed.add(index)
                item = batch[index][0]
                if code == STALE:
                    log.info("shopify_compare_stale", channel=self.name, sku=item.sku)
                    stale.append(item)
                elif code in GONE:
                    self._ids.pop((where, item.sku), None)
                    stale.append(item)  # read again: it says why it cannot be written
                else:
                    results[item.sku] = PushResult(
                        item.sku, PushStatus.SKIPPED, reason=f"Shopify: {message[:200]}"
                    )
            batches.append([w for n, w in enumerate(batch) if n not in failed])
        return stale

    async def _set_quantities(
        self, batch: list[tuple[PushItem, int]], where: str
    ) -> list[tuple[int | None, str, str]] | None:
        data = await self.client.graphql(
            SET_QUANTITIES,
            {
                "input": {
                    "name": "available",
                    "reason": "correction",
                    "referenceDocumentUri": f"syncd://{self.name}/push",
                    "quantities": [
                        {
                            "inventoryItemId": self._ids[(where, item.sku)],
                            "locationId": where,
                            "quantity": item.available,
                            "changeFromQuantity": compare,
                        }
                        for item, compare in batch
                    ],
                },
                # A new key per call (the client's retries of this call send the same body);
                # a call sent again without its stale items is another call.
                "key": str(uuid.uuid4()),
            },
            cost=13,
        )
        payload = data.get("inventorySetQuantities")
        if not isinstance(payload, dict):
            raise ParseError("Shopify's inventorySetQuantities answer is empty", channel=self.name)
        errors = payload.get("userErrors") or []
        if not errors:
            return None
        out: list[tuple[int | None, str, str]] = []
        for error in errors:
            path = error.get("field") if isinstance(error, dict) else None
            index = None
            if isinstance(path, list) and len(path) >= 3 and str(path[2]).isdigit():
                index = int(path[2])
            out.append((index, str(error.get("code") or ""), str(error.get("message") or "")))
        return out

    # -- reconciliation ------------------------------------------------------------------------

    async def read_figures(self, skus: Sequence[str]) -> dict[str, int]:
        read = await self._read_items(list(skus))
        return {
            s: i.figure for s, i in read.items() if isinstance(i, Item) and i.figure is not None
        }

    def read_levels(self, skus: Sequence[str] | None = None) -> AsyncIterator[list[ChannelLevel]]:
        return self._levels_at(self.settings.location_id, skus)

    def read_location_levels(
        self, location: str, skus: Sequence[str] | None = None
    ) -> AsyncIterator[list[ChannelLevel]]:
        """Every SKU's figure at ``location``'s Shopify location (shopify_locations): the same
        bulk read as read_levels, at that location."""
        where = self.settings.locations.get(location)
        if where is None:
            raise FatalError(
                f"ledger location {location!r} has no Shopify location "
                f"(shopify_locations of channel {self.name})",
                channel=self.name,
            )
        return self._levels_at(where, skus)

    async def _levels_at(
        self, where: str, skus: Sequence[str] | None
    ) -> AsyncIterator[list[ChannelLevel]]:
        """Pages of the figures at Shopify location ``where``: a few SKUs by search, the whole
        catalogue (or many SKUs) through one bulk operation."""
        if skus is not None and len(skus) <= self.settings.bulk_from:
            read = await self._read_items(list(skus), where)
            yield [
                ChannelLevel(s, i.figure or 0, name=i.name)
                for s, i in read.items()
                if isinstance(i, Item)
            ]
            return
        wanted = set(skus) if skus is not None else None
        page: list[ChannelLevel] = []
        rows = bulk_rows(
            self.client, BULK_LEVELS % where, poll_seconds=self.settings.bulk_poll_seconds
        )
        async for row in rows:
            sku = str(row.get("sku") or "").strip() or str(row.get("barcode") or "").strip()
            if wanted is not None and sku not in wanted:
                continue
            inventory = row.get("inventoryItem") or {}
            level = inventory.get("inventoryLevel")
            if inventory.get("tracked") is False or not isinstance(level, dict):
                continue  # not ours to compare: never written either
            quantities = level.get("quantities") or [{}]
            figure = quantities[0].get("quantity") if isinstance(quantities[0], dict) else None
            if not isinstance(figure, int):
                continue
            if sku:
                self._ids[(where, sku)] = str(inventory.get("id") or "")
            page.append(ChannelLevel(sku, figure, name=str(row.get("displayName") or "")))
            if len(page) >= 1000:
                yield page
                page = []
        if page:
            yield page


def _quote(value: str) -> str:
    """A value in Shopify's search syntax, quoted (backslash-escaped quotes inside)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
