"""Shopify GraphQL Admin API transport: settings, the access token, classified errors and
pacing by the cost-based throttle.

Every answer carries ``extensions.cost.throttleStatus`` (``maximumAvailable``,
``currentlyAvailable``, ``restoreRate``); a query that costs more than the bucket holds is
refused with an error whose ``extensions.code`` is ``THROTTLED`` (shopify.dev/docs/apps/build/
apis/graphql-admin/rate-limits). So a query is sent only once the bucket, as last reported and
refilled at the restore rate since, holds what it is expected to cost; a THROTTLED answer waits
exactly the time the missing points take to restore. Never a blind sleep.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog

from syncd.connectors.http import (
    HttpClient,
    HttpResponse,
    RetryPolicy,
    note_wait,
    retry_after_seconds,
)
from syncd.exceptions import (
    AuthError,
    ConnectorError,
    FatalError,
    ParseError,
    RetriableError,
)
from syncd.settings import Secret

log = structlog.get_logger("syncd.shopify")

# The newest stable version on 2026-11-27 (Shopify supports each for 12 months; a retired one
# is answered as the oldest supported). 2026-01 is the first with changeFromQuantity and
# @idempotent, which the stock writes use (shopify.dev/changelog/concurrency-protection-features).
DEFAULT_API_VERSION = "2026-10"
OLDEST_API_VERSION = "2026-01"
# Shopify refuses a single query over this many points (MAX_COST_EXCEEDED).
MAX_QUERY_COST = 1000
THROTTLE_ATTEMPTS = 20  # THROTTLED answers waited out in a row before the call is given up


@dataclass(frozen=True, slots=True)
class ShopifySettings:
    url: str  # https://<shop>.myshopify.com
    access_token: Secret
    location_id: str  # gid://shopify/Location/<n>
    api_version: str = DEFAULT_API_VERSION
    batch_size: int = 250  # quantities per inventorySetQuantities (Shopify's input limit)
    page_size: int = 3  # orders per page (their lines and refunds are in the same query)
    lines_per_order: int = 20
    overlap_seconds: int = 10
    timeout_seconds: float = 15.0
    bulk_from: int = 250  # a read of more SKUs than this runs a bulk operation
    bulk_poll_seconds: float = 1.0
    admin_order_url: str = ""  # e.g. https://admin.shopify.com/store/<shop>/orders/{id}
    # Ledger location → Shopify location (gid), in the channel's order: each location's figure
    # is written to its Shopify location (config [channels.X.shopify_locations]); empty: the
    # channel's one location_id is told the sum of the locations it sells from.
    locations: Mapping[str, str] = field(default_factory=dict)


class Throttle:
    """What we know of the bucket: its figures as last reported, refilled since."""

    def __init__(self) -> None:
        self.maximum = 0.0
        self.available = 0.0
        self.rate = 0.0
        self.at = 0.0
        self.waited = 0.0  # seconds spent waiting for points (benchmarks report it)

    def update(self, status: Mapping[str, Any]) -> None:
        try:
            self.maximum = float(status["maximumAvailable"])
            self.available = float(status["currentlyAvailable"])
            self.rate = float(status["restoreRate"])
        except (KeyError, TypeError, ValueError):
            return
        self.at = time.monotonic()

    def now_available(self) -> float:
        if not self.rate:
            return float("inf")  # nothing reported yet: send and learn
        return min(self.maximum, self.available + (time.monotonic() - self.at) * self.rate)

    def wait_for(self, cost: float) -> float:
        """Seconds until ``cost`` points are in the bucket (0 when they are)."""
        if not self.rate:
            return 0.0
        missing = min(cost, self.maximum) - self.now_available()
        return max(0.0, missing / self.rate)

    def spend(self, cost: float) -> None:
        if self.rate:
            self.available = self.now_available() - cost
            self.at = time.monotonic()


class ShopifyClient(HttpClient):
    def __init__(
        self,
        settings: ShopifySettings,
        *,
        channel: str,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        super().__init__(
            settings.url,
            channel=channel,
            session=session,
            policy=RetryPolicy(timeout=settings.timeout_seconds),
        )
        self.settings = settings
        self.throttle = Throttle()
        self._pace = asyncio.Lock()

    @property
    def endpoint(self) -> str:
        return f"admin/api/{self.settings.api_version}/graphql.json"

    def classify(self, response: HttpResponse, *, method: str, url: str) -> ConnectorError:
        if response.status in (401, 403):
            # Shopify: 401 for a wrong token, 403 for a scope the app lacks.
            what = "the access token is refused" if response.status == 401 else "access denied"
            return AuthError(f"Shopify: {what} (HTTP {response.status})", channel=self.channel)
        if response.status == 404:
            return FatalError(
                f"Shopify: {url} not found (HTTP 404): check url and api_version "
                f"({self.settings.api_version})",
                channel=self.channel,
                code="404",
            )
        if response.status == 429 or response.status >= 500:
            return RetriableError(
                f"Shopify: HTTP {response.status}",
                channel=self.channel,
                code=str(response.status),
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        return FatalError(
            f"Shopify: HTTP {response.status}: {response.text()[:200]}",
            channel=self.channel,
            code=str(response.status),
        )

    async def graphql(
        self, query: str, variables: Mapping[str, Any] | None = None, *, cost: float = 10
    ) -> dict[str, Any]:
        """Run one query or mutation; its ``data``. ``cost`` is what it is expected to cost
        (its requested cost): it is sent once the bucket should hold that much."""
        headers = {
            "X-Shopify-Access-Token": self.settings.access_token.reveal(),
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        body = json.dumps({"query": query, "variables": dict(variables or {})})
        for _ in range(THROTTLE_ATTEMPTS):
            queued = time.time()
            async with self._pace:  # one caller at a time takes points from the bucket
                wait = self.throttle.wait_for(cost)
                if wait:
                    self.throttle.waited += wait
                    await asyncio.sleep(wait)
                self.throttle.spend(cost)
            # Waiting for points (ours, or another caller's sleep on the lock): the throttle's.
            if time.time() - queued > 0.0005:
                note_wait(self.channel, "throttle", queued, time.time() - queued)
            response = await self.request("POST", self.endpoint, data=body, headers=headers)
            try:
                answer = json.loads(response.body)
            except ValueError as err:
                raise ParseError(
                    "Shopify answered something that is not JSON", channel=self.channel
                ) from err
            if not isinstance(answer, dict):
                raise ParseError("Shopify's answer is not a JSON object", channel=self.channel)
            extensions = answer.get("extensions")
            status = (
                extensions.get("cost", {}).get("throttleStatus")
                if isinstance(extensions, dict)
                else None
            )
            if isinstance(status, dict):
                self.throttle.update(status)
            errors = answer.get("errors")
            if errors:
                codes = {_code(e) for e in errors} if isinstance(errors, list) else set()
                if "THROTTLED" in codes:
                    requested = (extensions or {}).get("cost", {}).get("requestedQueryCost")
                    if isinstance(requested, int | float):
                        cost = float(requested)
                    log.info(
                        "shopify_throttled",
                        channel=self.channel,
                        cost=cost,
                        available=round(self.throttle.now_available(), 1),
                    )
                    continue
                raise self._query_error(errors, codes)
            data = answer.get("data")
            if not isinstance(data, dict):
                raise ParseError("Shopify's answer has no data", channel=self.channel)
            return data
        raise RetriableError(
            f"Shopify: still throttled after {THROTTLE_ATTEMPTS} waits", channel=self.channel
        )

    def _query_error(self, errors: Any, codes: set[str]) -> ConnectorError:
        first = errors[0] if isinstance(errors, list) and errors else errors
        message = first.get("message") if isinstance(first, dict) else str(first)
        text = f"Shopify refused the query: {str(message)[:300]}"
        if "ACCESS_DENIED" in codes:
            return AuthError(text, channel=self.channel)
        if "INTERNAL_SERVER_ERROR" in codes:
            return RetriableError(text, channel=self.channel, code="INTERNAL_SERVER_ERROR")
        return FatalError(text, channel=self.channel, code=",".join(sorted(codes)))

    async def fetch_text(self, url: str) -> str:
        """A bulk operation's result file (a signed URL: no token sent)."""
        response = await self.request("GET", url)
        return response.text()


def _code(error: Any) -> str:
    if not isinstance(error, dict):
        return ""
    extensions = error.get("extensions")
    return str(extensions.get("code", "")) if isinstance(extensions, dict) else ""
