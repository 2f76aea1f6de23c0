"""PrestaShop as a channel: orders in (by date_upd), stock_availables out (drift-aware).

PrestaShop lowers ``stock_availables.quantity`` itself when an order is validated and raises it on
cancellation (reference §1.6), so what we write is simply ``quantity = available``; its own orders
reach the ledger as documents and are never subtracted twice.

SKUs. A stock row, an order row and a catalogue entry are all identified by (product,
combination) ids, and one rule (:class:`~syncd.connectors.prestashop.skus.SkuRule`) gives each
its SKU, in this order:

1. ``skus = { "12:34" = "SKU" }``: an explicit mapping (product 12, combination 34) wins;
2. a product without combinations: its ``sku_field`` (reference, or ean13);
3. a combination: its own reference when it has one that differs from its product's (with
   ``sku_field = "ean13"``: its own EAN13), else its own EAN13, else the ``combination_sku``
   pattern (e.g. ``"{reference}-{id_product_attribute}"``; placeholders reference, ean13,
   id_product, id_product_attribute: the product's reference and EAN13, the ids);
4. else none: the combination is never booked or written under its product's SKU (that would
   merge its variants). Its orders' lines are kept aside under ``prestashop:12:34`` (the Unknown
   products page) and ``syncd init`` / ``reconcile`` list its stock row as having no reference.

Real shops (and PrestaShop's demo data) often give combinations their product's reference: set
``combination_sku`` or ``skus`` for them. A product's total row (combination 0 of a product with
combinations) is never written: PrestaShop stores a write there until a combination changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

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
from syncd.connectors.drift import drift_decision
from syncd.connectors.http import RetryPolicy
from syncd.connectors.prestashop.client import PrestaShopClient, stock_xml
from syncd.connectors.prestashop.missed_orders import missed_orders
from syncd.connectors.prestashop.settings import PrestaShopSettings, parse_settings
from syncd.connectors.prestashop.skus import SkuRule, unmapped
from syncd.connectors.prestashop.wire import (
    PS_TIME,
    chunks,
    ids_filter,
    is_time,
    listed,
    shop_time,
    text,
    whole,
)
from syncd.domain import Document, DocumentKind, Rejection
from syncd.exceptions import ChannelConfigError, ConnectorError, FatalError, ParseError
from syncd.ledger.store import to_us

log = structlog.get_logger("syncd.prestashop")
CURSOR = "orders.date_upd"
# Every field a PUT of a stock_available needs (StockAvailable::$definition): a PUT is a full
# replace, and a field left out is written as empty (id_shop 0 hides the row from the shop:
# observed on 8.2.0, 404 [131] afterwards). The values PrestaShop leaves out of a single object
# (0 and "") are the defaults.
STOCK_FIELDS: dict[str, str] = {
    "id": "",
    "id_product": "0",
    "id_product_attribute": "0",
    "id_shop": "0",
    "id_shop_group": "0",
    "quantity": "0",
    "depends_on_stock": "0",
    "out_of_stock": "2",
    "location": "",
}
# 1.7 has no `location`: the GET+PUT push reads display=full and sends back only the fields
# there. A PATCH needs only what the drift check reads (a full row costs the shop more PHP per
# row: measured with `python -m bench prestashop --real`).
STOCK_DISPLAY = "full"
PATCH_DISPLAY = "[id,quantity,depends_on_stock]"
# A missing object: 404 with an empty body on 8.x (error 87 on older answers), 131 when it
# belongs to another shop.
GONE = frozenset({"87", "404", "131"})


@dataclass(frozen=True, slots=True)
class _StockRow:
    id: int
    id_product: int
    id_product_attribute: int


@dataclass
class _Catalogue:
    """Products and combinations by id, as far as they were read."""

    products: dict[int, dict[str, Any]] = field(default_factory=dict)
    combinations: dict[int, dict[str, Any]] = field(default_factory=dict)


_int = whole


class PrestaShopConnector(Connector[PrestaShopSettings]):
    type: ClassVar[str] = "prestashop"

    def __init__(
        self,
        name: str,
        settings: PrestaShopSettings,
        *,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        super().__init__(name, settings, session=session)
        self.zone = ZoneInfo(self.settings.timezone)
        self.client = PrestaShopClient(
            self.settings.url,
            self.settings.api_key.reveal(),
            channel=name,
            session=session,
            policy=RetryPolicy(timeout=self.settings.timeout_seconds),
            id_shop=self.settings.id_shop,
        )
        self.rule = SkuRule(
            self.settings.sku_field, self.settings.combination_sku, dict(self.settings.skus)
        )
        self.dead_states: set[int] = set()  # PS_OS_CANCELED, PS_OS_ERROR: resolved, not hard-coded
        self.language: int | None = None  # PS_LANG_DEFAULT: which translation of a name to keep
        self._rows: dict[str, _StockRow] = {}  # SKU → stock_available row (cache)
        self._limit = asyncio.Semaphore(self.settings.concurrency)

    # -- configuration -------------------------------------------------------------------------

    @classmethod
    def parse_settings(
        cls, table: Mapping[str, Any], *, file: str, prefix: str
    ) -> tuple[PrestaShopSettings | None, list[ConfigIssue]]:
        return parse_settings(table, file=file, prefix=prefix)

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        await self.client.open()

    async def close(self) -> None:
        await self.client.close()

    async def check(self) -> None:
        """One cheap authenticated call that also resolves the cancelled/error state ids and the
        shop's default language."""
        data = await self.client.get_json(
            "configurations",
            {
                "display": "[name,value]",
                "filter[name]": "[PS_OS_CANCELED|PS_OS_ERROR|PS_LANG_DEFAULT]",
            },
        )
        rows = listed(data, "configurations")
        states = {str(r.get("name")): str(r.get("value", "")).strip() for r in rows}
        wanted = ("PS_OS_CANCELED", "PS_OS_ERROR")
        missing = [n for n in wanted if not states.get(n, "").isdecimal()]
        if missing:
            raise ChannelConfigError(
                f"PrestaShop did not give the order state ids {', '.join(missing)} (configurations)",
                channel=self.name,
            )
        self.dead_states = {_int(states[n], n) for n in wanted}
        lang = states.get("PS_LANG_DEFAULT", "")
        self.language = int(lang) if lang.isdecimal() else None
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

    # -- the catalogue and the SKU rule ----------------------------------------------------------

    async def _read_catalogue(
        self, product_ids: Iterable[int], combination_ids: Iterable[int]
    ) -> _Catalogue:
        """The products and combinations with these ids (one request per 100 of each)."""
        found = _Catalogue()
        for chunk in chunks(i for i in product_ids if i):
            data = await self.client.get_json(
                "products", {"filter[id]": ids_filter(chunk), "display": "[id,reference,ean13]"}
            )
            for p in listed(data, "products"):
                found.products[_int(p.get("id"), "id")] = p
        for chunk in chunks(i for i in combination_ids if i):
            data = await self.client.get_json(
                "combinations",
                {"filter[id]": ids_filter(chunk), "display": "[id,id_product,reference,ean13]"},
            )
            for c in listed(data, "combinations"):
                found.combinations[_int(c.get("id"), "id")] = c
        return found

    def sku_of(
        self,
        id_product: int,
        id_product_attribute: int,
        catalogue: _Catalogue,
        fallback: Mapping[str, Any] | None = None,
    ) -> str:
        """The SKU of (product, combination) by the rule, or "" (see the module docstring).
        ``fallback``: the reference and EAN13 an order row carries, used for a product that is
        no longer in the catalogue (never for a combination: its row carries its product's
        reference when it has none of its own)."""
        product: Mapping[str, Any] | None = catalogue.products.get(id_product)
        combination = catalogue.combinations.get(id_product_attribute)
        if combination is not None and _int(combination.get("id_product"), "id_product") != (
            id_product
        ):
            combination = None
        if product is None and not id_product_attribute and fallback is not None:
            product = fallback
        return self.rule.sku(id_product, id_product_attribute, product, combination)

    # -- ingest --------------------------------------------------------------------------------

    def missed_documents(
        self,
        known: Callable[[], Awaitable[Set[str]]],
        cursors: Mapping[str, str],
        *,
        window_seconds: float,
    ) -> AsyncIterator[Batch]:
        """Orders behind the ingest cursor the ledger never applied (gaps in order ids)."""
        start_from = self.settings.start_from or ""
        return missed_orders(
            self.name, self.client, self.pull, known, cursors, start_from=start_from
        )

    def _version_of(self, date_upd: str) -> int:
        return to_us(shop_time(date_upd, self.zone, "date_upd"))

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
            orders = listed(data, "orders")
            if not orders:
                return
            restocked = await self._restocked([str(o.get("id")) for o in orders])
            catalogue = await self._catalogue_of(orders)
            documents: list[Document] = []
            rejections: list[Rejection] = []
            for order in orders:
                # A broken order is quarantined (a rejection, shown as a conflict), never
                # dropped, and never stops the orders after it.
                try:
                    documents.append(self._document(order, restocked, catalogue))
                except ParseError as err:
                    source = f"order {str(order.get('id', '?'))[:40]}"
                    rejections.append(Rejection(self.name, source, None, "", "", str(err)))
            times = [str(o.get("date_upd")) for o in orders]
            newest = max([newest, *(t for t in times if is_time(t))])  # never a garbage cursor
            yield Batch(documents=documents, cursors={CURSOR: newest}, rejections=rejections)
            if len(orders) < self.settings.page_size:
                return
            offset += len(orders)

    async def _catalogue_of(self, orders: Sequence[Mapping[str, Any]]) -> _Catalogue:
        """The products and combinations an orders page names (for the SKU rule)."""
        products: set[int] = set()
        combinations: set[int] = set()
        for order in orders:
            try:
                rows = listed(order.get("associations"), "order_rows")
            except ParseError:
                continue  # the order itself is rejected below
            for row in rows:
                try:
                    products.add(_int(row.get("product_id"), "product_id"))
                    combinations.add(_int(row.get("product_attribute_id"), "product_attribute_id"))
                except ParseError:
                    continue
        return await self._read_catalogue(products, combinations)

    async def _restocked(self, order_ids: list[str]) -> dict[tuple[str, int, int], int]:
        """(order id, product, combination) → units refunded back into stock."""
        out: dict[tuple[str, int, int], int] = {}
        for start in range(0, len(order_ids), 50):
            chunk = order_ids[start : start + 50]
            data = await self.client.get_json(
                "order_details",
                {
                    "display": "[id,id_order,product_id,product_attribute_id,product_quantity_reinjected]",
                    "filter[id_order]": f"[{'|'.join(chunk)}]",
                },
            )
            for row in listed(data, "order_details"):
                units = _int(
                    row.get("product_quantity_reinjected", 0), "product_quantity_reinjected"
                )
                if units:
                    key = (
                        str(row.get("id_order")).strip(),
                        _int(row.get("product_id"), "product_id"),
                        _int(row.get("product_attribute_id"), "product_attribute_id"),
                    )
                    out[key] = out.get(key, 0) + units
        return out

    def _document(
        self,
        order: Mapping[str, Any],
        restocked: Mapping[tuple[str, int, int], int],
        catalogue: _Catalogue | None = None,
    ) -> Document:
        order_id = str(order.get("id") or "").strip()
        if not order_id:
            raise ParseError("PrestaShop sent an order without an id", channel=self.name)
        state = _int(order.get("current_state", 0), "current_state")
        cancelled = state in self.dead_states
        rows = listed(order.get("associations"), "order_rows")
        lines: dict[str, int] = {}
        names: dict[str, str] = {}
        for row in rows:
            pid = _int(row.get("product_id"), "product_id")
            attr = _int(row.get("product_attribute_id"), "product_attribute_id")
            fallback = {
                "reference": str(row.get("product_reference") or ""),
                "ean13": str(row.get("product_ean13") or ""),
            }
            sku = self.sku_of(pid, attr, catalogue or _Catalogue(), fallback) or unmapped(pid, attr)
            qty = _int(row.get("product_quantity", 0), "product_quantity")
            qty -= restocked.get((order_id, pid, attr), 0)
            lines[sku] = lines.get(sku, 0) + (0 if cancelled else max(0, qty))
            names.setdefault(sku, text(row.get("product_name"), self.language)[:200])
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
            occurred_at=shop_time(date_add, self.zone, "date_add"),
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
        """The stock row of a SKU, or why it cannot be written. The candidates (combinations and
        products whose reference or EAN13 is the SKU, or whose ids the pattern or the mapping
        name) are kept only where the SKU rule gives them this very SKU."""
        if sku in self._rows:
            return self._rows[sku]
        field_name = self.settings.sku_field
        combos: dict[int, dict[str, Any]] = {}
        products: dict[int, dict[str, Any]] = {}
        hint = self.rule.ids_in(sku)
        if hint is not None and hint[1]:
            found = await self._read_catalogue([], [hint[1]])
            combos.update(found.combinations)
        elif hint is not None:
            found = await self._read_catalogue([hint[0]], [])
            products.update(found.products)
        lookups = [("combinations", "reference"), ("combinations", "ean13")]
        if field_name == "ean13":
            lookups = [("combinations", "ean13")]
        if "|" in sku or "]" in sku:  # cannot be said in a filter: only the hint can find it
            lookups = []
        for resource, name in lookups:
            if name == "ean13" and not sku.isdecimal():
                continue
            data = await self.client.get_json(
                resource,
                {f"filter[{name}]": f"[{sku}]", "display": "[id,id_product,reference,ean13]"},
            )
            combos.update({_int(c.get("id"), "id"): c for c in listed(data, resource)})
        if lookups:
            data = await self.client.get_json(
                "products", {f"filter[{field_name}]": f"[{sku}]", "display": "[id,reference,ean13]"}
            )
            products.update({_int(p.get("id"), "id"): p for p in listed(data, "products")})
        needed = {_int(c.get("id_product"), "id_product") for c in combos.values()} - set(products)
        catalogue = await self._read_catalogue(needed, [])
        catalogue.products.update(products)
        catalogue.combinations.update(combos)
        matches = sorted(
            {
                (_int(c.get("id_product"), "id_product"), cid)
                for cid, c in combos.items()
                if self.sku_of(_int(c.get("id_product"), "id_product"), cid, catalogue) == sku
            }
            | {(pid, 0) for pid in products if self.sku_of(pid, 0, catalogue) == sku}
        )
        if not matches:
            if combos:
                return (
                    f"the combinations with the {field_name} {sku!r} share it with their product: "
                    "give them their own, or set combination_sku / skus"
                )
            return f"no product or combination has the SKU {sku!r} in PrestaShop"
        if len(matches) > 1:
            return f"{len(matches)} stock rows of PrestaShop have the SKU {sku!r}"
        pid, attr = matches[0]
        data = await self.client.get_json(
            "stock_availables",
            {"filter[id_product]": f"[{pid}]", "display": "[id,id_product_attribute]"},
        )
        rows = listed(data, "stock_availables")
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

    async def _read_rows(self, ids: Iterable[int], display: str) -> dict[int, dict[str, Any]]:
        """Stock rows by id, in lists (a list keeps the 0 and "" fields a single GET leaves
        out); a row that is gone is simply absent."""
        out: dict[int, dict[str, Any]] = {}
        for chunk in chunks(ids):
            async with self._limit:
                data = await self.client.get_json(
                    "stock_availables", {"filter[id]": ids_filter(chunk), "display": display}
                )
            for row in listed(data, "stock_availables"):
                out[_int(row.get("id"), "id")] = row
        return out

    async def _rows_of(
        self, skus: Sequence[str], display: str
    ) -> tuple[dict[str, _StockRow | str], dict[int, dict[str, Any]]]:
        """Each SKU's stock row (or why none) and the rows' current fields, in a few requests.
        A cached row that vanished (deleted, product re-created) is looked up again, once."""

        async def resolve(sku: str) -> _StockRow | str:
            async with self._limit:
                return await self._resolve(sku)

        found = dict(zip(skus, await asyncio.gather(*(resolve(s) for s in skus)), strict=True))
        current = await self._read_rows(
            (r.id for r in found.values() if isinstance(r, _StockRow)), display
        )
        gone = [s for s, r in found.items() if isinstance(r, _StockRow) and r.id not in current]
        if gone:
            for sku in gone:
                self._rows.pop(sku, None)
                log.info("stock_row_vanished", channel=self.name, sku=sku)
            again = await asyncio.gather(*(resolve(s) for s in gone))
            found.update(zip(gone, again, strict=True))
            fresh = [r.id for r in again if isinstance(r, _StockRow) and r.id not in current]
            current.update(await self._read_rows(fresh, display))
            for sku in gone:
                row = found[sku]
                if isinstance(row, _StockRow) and row.id not in current:
                    found[sku] = f"the stock row of {sku!r} vanished from PrestaShop"
        return found, current

    async def push(self, items: Sequence[PushItem]) -> list[PushResult]:
        if not self.dead_states:
            await self.check()  # also learns the version (PSWS-Version)
        display = PATCH_DISPLAY if self.uses_patch else STOCK_DISPLAY
        found, current = await self._rows_of([i.sku for i in items], display)
        results = await asyncio.gather(
            *(self._push_one(item, found[item.sku], current) for item in items),
            return_exceptions=True,
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
                if isinstance(result, FatalError) and result.code in GONE:
                    self._rows.pop(item.sku, None)  # gone between the read and the write
                out.append(PushResult(item.sku, PushStatus.SKIPPED, reason=str(result)))
            else:
                out.append(result)
        if any(r.status is PushStatus.DEFERRED for r in out):
            self.nudge()
        return out

    async def _push_one(
        self, item: PushItem, row: _StockRow | str, rows: Mapping[int, Mapping[str, Any]]
    ) -> PushResult:
        if isinstance(row, str):
            return PushResult(item.sku, PushStatus.SKIPPED, reason=row)
        current = rows[row.id]
        quantity = _int(current.get("quantity", 0), "quantity")
        if _int(current.get("depends_on_stock", 0), "depends_on_stock") == 1:
            return PushResult(
                item.sku,
                PushStatus.SKIPPED,
                observed=quantity,
                reason="depends_on_stock=1: PrestaShop computes this stock from warehouses",
            )
        # Below 0 (orders taken out of stock) the shop sells nothing, just as at 0.
        decided = drift_decision(item, quantity)
        if decided is not None:
            return decided
        async with self._limit:
            if self.uses_patch:
                body = stock_xml({"id": row.id, "quantity": item.available})
                await self.client.write_xml("PATCH", f"stock_availables/{row.id}", body)
            else:
                await self.client.write_xml(
                    "PUT",
                    f"stock_availables/{row.id}",
                    stock_xml(self._full_row(row, current, item)),
                )
        log.info(
            "stock_pushed", channel=self.name, sku=item.sku, quantity=item.available, was=quantity
        )
        return PushResult(item.sku, PushStatus.WRITTEN, shown=item.available, observed=quantity)

    @staticmethod
    def _full_row(row: _StockRow, current: Mapping[str, Any], item: PushItem) -> dict[str, Any]:
        """Every field of a PUT: what the shop sent, the ids we know, defaults for the rest."""
        fields: dict[str, Any] = {}
        for name, default in STOCK_FIELDS.items():
            if name == "location" and name not in current:
                continue  # 1.7: no such field
            value = current.get(name)
            fields[name] = default if value is None or value == "" else value
        fields["id"] = row.id
        fields["id_product"] = row.id_product
        fields["id_product_attribute"] = row.id_product_attribute
        fields["quantity"] = item.available
        return fields

    async def read_figures(self, skus: Sequence[str]) -> dict[str, int]:
        found, current = await self._rows_of(list(dict.fromkeys(skus)), "[id,quantity]")
        return {
            sku: max(0, _int(current[row.id].get("quantity", 0), "quantity"))
            for sku, row in found.items()
            if isinstance(row, _StockRow) and row.id in current
        }

    # -- kits ----------------------------------------------------------------------------------

    async def read_kits(self) -> list[ChannelKit]:
        """The shop's packs that decrement their products (syncd/connectors/prestashop/packs.py)."""
        from syncd.connectors.prestashop.packs import read_packs

        return await read_packs(self)

    async def all_rows(self, resource: str, display: str) -> list[dict[str, Any]]:
        """Every row of a resource, page by page."""
        return await self._all(resource, display)

    async def catalogue_of(
        self, product_ids: Iterable[int], combination_ids: Iterable[int]
    ) -> _Catalogue:
        """The products and combinations with these ids."""
        return await self._read_catalogue(product_ids, combination_ids)

    # -- reconciliation ------------------------------------------------------------------------

    async def _all(self, resource: str, display: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        offset = 0
        page = max(self.settings.page_size, 500)
        while True:
            data = await self.client.get_json(
                resource, {"display": display, "limit": f"{offset},{page}"}
            )
            rows = listed(data, resource)
            out.extend(rows)
            if len(rows) < page:
                return out
            offset += page

    async def read_levels(
        self, skus: Sequence[str] | None = None
    ) -> AsyncIterator[list[ChannelLevel]]:
        if self.language is None and not self.dead_states:
            await self.check()  # the default language, for the names
        combinations = await self._all("combinations", "[id,id_product,reference,ean13]")
        catalogue = _Catalogue(
            {
                _int(p.get("id"), "id"): p
                for p in await self._all("products", "[id,reference,ean13,name]")
            },
            {_int(c.get("id"), "id"): c for c in combinations},
        )
        # Every row counts, not only the last of an id: an answer naming one combination id
        # under two products (never PrestaShop's own; found by tests/reliability's fuzzing)
        # must not turn either product's total row into a level of its own.
        with_combos = {_int(c.get("id_product"), "id_product") for c in combinations}
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
            rows = listed(data, "stock_availables")
            levels = []
            for row in rows:
                pid = _int(row.get("id_product"), "id_product")
                attr = _int(row.get("id_product_attribute"), "id_product_attribute")
                if not attr and pid in with_combos:
                    continue  # the total row of a product with combinations: never written
                product = catalogue.products.get(pid, {})
                source = catalogue.combinations.get(attr, {}) if attr else product
                sku = self.sku_of(pid, attr, catalogue)
                if wanted is not None and sku not in wanted:
                    continue
                # A row without a SKU is yielded with sku "" (never silently dropped, never
                # under its product's SKU): reconciliation and onboarding report it.
                levels.append(
                    ChannelLevel(
                        sku=sku,
                        quantity=_int(row.get("quantity"), "quantity"),
                        name=text(product.get("name"), self.language),
                        barcode=str(source.get("ean13") or ""),
                        detail={
                            "stock_available": _int(row.get("id"), "id"),
                            "depends_on_stock": _int(
                                row.get("depends_on_stock"), "depends_on_stock"
                            )
                            == 1,
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
