"""Magento 2 REST transport: settings, admin token (JWT) lifecycle, classified errors, paging."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import structlog

from syncd.connectors.http import HttpClient, HttpResponse, RetryPolicy, retry_after_seconds
from syncd.exceptions import (
    AuthError,
    ChannelConfigError,
    ConnectorError,
    FatalError,
    ParseError,
    RetriableError,
)
from syncd.settings import Secret

log = structlog.get_logger("syncd.magento")

# Admin tokens are JWTs valid `webapi/jwtauth/admin_expiration` minutes, 60 by default in 2.4.7
# (magento/module-jwt-user-token etc/config.xml; observed on the real 2.4.7-p3). The token's own
# `exp` claim wins when it has one; this is the fallback for an opaque token.
TOKEN_LIFETIME = 3600.0
# Refreshed this long before it expires (at most a fifth of its lifetime), so that a call never
# starts with a token about to lapse; any 401 refreshes it at once as well.
TOKEN_MARGIN = 600.0


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
    refund_returns_stock: bool = False
    admin_order_url: str = ""
    timeout_seconds: float = 15.0
    concurrency: int = 4
    # Ledger location → MSI source code, for a channel told each location apart
    # ([channels.X.magento_sources], sources.py); empty: one figure, at ``source_code``.
    sources: Mapping[str, str] = field(default_factory=dict)


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


def qty(value: Any) -> int:
    try:
        return int(float(value or 0))
    except (TypeError, ValueError, OverflowError) as err:  # OverflowError: "1e400", inf
        raise ParseError(f"Magento sent a quantity {value!r:.80} that is not a number") from err


def sku_path(sku: str) -> str:
    """A SKU as one URL path segment (a lone surrogate from a JSON answer is kept as bytes)."""
    return quote(sku.encode("utf-8", "surrogatepass"), safe="")


def token_lifetime(token: str, now: float) -> float:
    """Seconds the token stays valid: its JWT `exp` claim (seconds since the epoch) when it is a
    JWT, else Magento's default. Only read, never verified: Magento checks it, we only plan."""
    parts = token.split(".")
    if len(parts) == 3:
        try:
            payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
            exp = float(payload["exp"])
        except (ValueError, TypeError, KeyError, RecursionError):
            return TOKEN_LIFETIME
        return max(0.0, exp - now)
    return TOKEN_LIFETIME


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
        except (ValueError, RecursionError):
            body = response.text()  # a 500 in default mode: a line of text/plain (observed)
        if isinstance(body, dict) and "message" in body:
            detail = render_message(body)
        elif isinstance(body, str) and body.strip():
            detail = " ".join(body.split())[:200]
        else:
            detail = f"HTTP {response.status}"
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

    async def _fresh_token(self, stale: str | None = None) -> str:
        """The admin token; a new one when it nears its expiry or is ``stale`` (refused once)."""
        async with self._token_lock:
            if self.settings.access_token is not None:
                return self.settings.access_token.reveal()
            if self._token and self._token != stale and time.monotonic() < self._token_expiry:
                return self._token
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
            lifetime = token_lifetime(token, time.time())
            self._token = token
            self._token_expiry = time.monotonic() + lifetime - min(TOKEN_MARGIN, lifetime / 5)
            log.info("magento_token_obtained", channel=self.channel, valid_seconds=int(lifetime))
            return token

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        retry: bool = True,
    ) -> Any:
        """/rest/<store>/V1/<path>: JSON in and out; a 401 refreshes the admin token once.

        ``retry=False`` sends once: for a call whose 500 may mean "no such product" rather than
        an outage (the caller finds out which before retrying)."""
        url = f"/rest/{self.settings.store_code}/V1/{path.lstrip('/')}"
        send = self.request if retry else self.request_once
        stale: str | None = None
        for attempt in (1, 2):
            token = await self._fresh_token(stale)
            try:
                response = await send(
                    method,
                    url,
                    params=params,
                    json_body=body,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except AuthError as err:
                if attempt == 1 and self.settings.access_token is None and err.code == "401":
                    stale = token  # expired or revoked: log in again, once
                    log.info("magento_token_refused", channel=self.channel)
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
        """Every page; stops on total_count. 2.4.7 answers a page past the end with no items
        (observed); older versions repeat the last page (magento2#3787), so both end here."""
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
            total = qty(data.get("total_count"))
            if not items:
                return
            yield list(items)
            seen += len(items)
            if page_size * page >= total or seen >= total:
                return
            page += 1
