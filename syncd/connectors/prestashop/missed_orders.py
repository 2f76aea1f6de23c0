"""Orders the ledger never applied though the shop updated them before the ingest cursor (a
ledger restored from a backup, an order edited behind the cursor): PrestaShop's side of a
catch-up (``Connector.missed_documents``). The decision is :func:`syncd.reconcile.missed.missing_orders`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Set

import structlog

from syncd.connectors.base import Batch
from syncd.connectors.prestashop.client import PrestaShopClient
from syncd.reconcile.compare import Finding, FindingKind
from syncd.reconcile.missed import earliest_cursors, missing_orders, newest_time

log = structlog.get_logger("syncd.reconcile")
ORDER_PAGE = 1000


async def order_times(client: PrestaShopClient) -> dict[str, str]:
    """Order id → date_upd of every order of the shop, a page of ids at a time."""
    orders: dict[str, str] = {}
    offset = 0
    while True:
        data = await client.get_json(
            "orders", {"display": "[id,date_upd]", "limit": f"{offset},{ORDER_PAGE}"}
        )
        rows = data.get("orders", []) if isinstance(data, dict) else []
        orders.update({str(r.get("id")): str(r.get("date_upd", "")) for r in rows})
        if len(rows) < ORDER_PAGE:
            return orders
        offset += ORDER_PAGE


async def missed_orders(
    channel: str,
    client: PrestaShopClient,
    pull: Callable[[Mapping[str, str]], AsyncIterator[Batch]],
    known: Callable[[], Awaitable[Set[str]]],
    cursors: Mapping[str, str],
    *,
    start_from: str,
) -> AsyncIterator[Batch]:
    """The missed orders pulled again from just before the earliest (without the pull's
    cursors: the ingest position never moves back), then one finding per missed order."""
    if not cursors:
        return  # never pulled: the daemon's first pull reads everything anyway
    orders = await order_times(client)
    ledger = await known()
    found = missing_orders(orders, ledger, since=start_from, before=newest_time(cursors))
    if not found:
        return
    start = earliest_cursors(cursors, min(m.updated for m in found))
    applied = set(ledger)
    async for batch in pull(start):
        applied.update(d.doc_id for d in batch.documents)
        if batch.documents:
            yield Batch(documents=batch.documents)
    for m in sorted(found, key=lambda m: (len(m.order_id), m.order_id)):
        done = m.order_id in applied
        detail = {"updated": m.updated, "applied": done}
        log.warning(
            "missed_order", channel=channel, order=m.order_id, updated=m.updated, applied=done
        )
        yield Batch(missed=[Finding(channel, m.order_id, FindingKind.MISSED_ORDER, detail=detail)])
