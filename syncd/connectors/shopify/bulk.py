"""Shopify's bulk operations: one query run on Shopify's side, its rows read from one JSONL file
(reconcile and init of a whole catalogue, not page by page)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from syncd.connectors.shopify.client import ShopifyClient
from syncd.connectors.shopify.queries import BULK_POLL, BULK_RUN
from syncd.exceptions import FatalError, ParseError, RetriableError


async def bulk_rows(
    client: ShopifyClient, query: str, *, poll_seconds: float
) -> AsyncIterator[dict[str, Any]]:
    """Run a bulk query and yield its JSONL rows (shopify.dev/docs/api/usage/bulk-operations/
    queries: run, poll currentBulkOperation until COMPLETED, download ``url``)."""
    data = await client.graphql(BULK_RUN, {"query": query}, cost=10)
    payload = data.get("bulkOperationRunQuery") or {}
    errors = payload.get("userErrors") or []
    if errors:
        message = str(errors[0].get("message", ""))
        if "already in progress" in message:
            raise RetriableError(f"Shopify: {message[:200]}", channel=client.channel)
        raise FatalError(f"Shopify refused the bulk read: {message[:200]}", channel=client.channel)
    started = str((payload.get("bulkOperation") or {}).get("id") or "")
    while True:
        await asyncio.sleep(poll_seconds)
        current = (await client.graphql(BULK_POLL, cost=1)).get("currentBulkOperation")
        if not isinstance(current, dict) or str(current.get("id")) != started:
            raise RetriableError("Shopify lost the bulk operation", channel=client.channel)
        status = current.get("status")
        if status == "COMPLETED":
            break
        if status in ("FAILED", "CANCELED", "EXPIRED"):
            raise RetriableError(
                f"Shopify's bulk read ended {status} ({current.get('errorCode')})",
                channel=client.channel,
            )
    url = current.get("url")
    if not url:  # nothing matched: Shopify gives no file
        return
    text = await client.fetch_text(str(url))
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as err:
            raise ParseError("Shopify's bulk result has a line that is not JSON") from err
        if isinstance(row, dict):
            yield row
