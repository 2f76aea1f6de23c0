"""WooCommerce REST transport: OAuth 1.0a one-legged signing over HTTP, Basic over HTTPS,
classified errors, pages.

Authentication (WooCommerce ``includes/class-wc-rest-authentication.php``): over HTTPS the
consumer key and secret go as HTTP Basic auth (``perform_basic_authentication``); over plain HTTP
only OAuth 1.0a one-legged signing is accepted (``perform_oauth_authentication``): HMAC-SHA1 or
HMAC-SHA256 over ``METHOD&url&params`` with the secret + "&", a timestamp within 15 minutes
(``check_oauth_timestamp_and_nonce``) and a nonce used once. So every attempt (a retry too) is
signed anew, and a ``Link: rel=next`` is never followed as is: it repeats the first request's
oauth_* parameters, a used nonce. The parameters are normalised the RFC 5849 way there
(``normalize_parameters`` + ``join_with_equals_sign``), which oauthlib produces; the JSON body of
a write is not part of the signature (only form bodies are).

A request can also be sent twice with one signature without us retrying: aiohttp sends a GET, PUT
or DELETE once more, byte for byte, when its connection drops before the answer
(``ClientSession._request``, ``retry_persistent_connection``, aiohttp 3.14). When the shop had
already taken the first one, the copy is refused: 401 "Invalid nonce - nonce has already been
used." (its text translated with the site's language). So a 401 of the signature check is sent
once more at once, signed anew; only a second refusal is an authentication error. Wrong keys
cost one extra request; a dropped connection no longer stops the channel as if its key were
wrong (found by the reliability campaign's connection resets, issue 18).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp
import structlog
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, SIGNATURE_TYPE_QUERY
from oauthlib.oauth1 import Client as OAuthClient
from yarl import URL

from syncd.connectors.http import HttpClient, HttpResponse, RetryPolicy, retry_after_seconds
from syncd.connectors.woocommerce.settings import WooCommerceSettings
from syncd.exceptions import (
    AuthError,
    ChannelConfigError,
    ConnectorError,
    FatalError,
    ParseError,
    RetriableError,
)

log = structlog.get_logger("syncd.woocommerce")

API_PATH = "/wp-json/wc/v3"
# The code of every refusal by the signature check (key, signature, timestamp, nonce).
AUTH_FAILED = "woocommerce_rest_authentication_error"
# WooCommerce's batch endpoints take at most 100 objects a request (WC_REST_Controller::
# check_batch_limit, filter woocommerce_rest_batch_items_limit, default 100).
BATCH_LIMIT = 100
_NEXT = re.compile(r'<[^>]*>\s*;\s*rel="?next"?')


def error_of(body: bytes) -> tuple[str, str]:
    """(code, message) of a WordPress REST error body {"code","message","data":{"status"}}."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return "", ""
    if not isinstance(data, Mapping):
        return "", ""
    return str(data.get("code") or ""), str(data.get("message") or "")


class WooCommerceClient(HttpClient):
    """JSON over wc/v3 with the key signed into every request (see the module docstring)."""

    def __init__(
        self,
        settings: WooCommerceSettings,
        *,
        channel: str,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        super().__init__(
            settings.url + API_PATH,
            channel=channel,
            session=session,
            policy=RetryPolicy(timeout=settings.timeout_seconds),
        )
        self.settings = settings
        key, secret = settings.consumer_key.reveal(), settings.consumer_secret.reveal()
        token = base64.b64encode(f"{key}:{secret}".encode()).decode()
        self._basic = f"Basic {token}" if settings.https else ""
        self._oauth = (
            None
            if settings.https
            else OAuthClient(
                key,
                client_secret=secret,
                signature_method=SIGNATURE_HMAC_SHA256,
                signature_type=SIGNATURE_TYPE_QUERY,
            )
        )

    def redact(self, url: str) -> str:
        """No oauth_* parameter in logs or errors (the signature and the key)."""
        return re.sub(r"([?&]oauth_[a-z_]+=)[^&]*", r"\1…", url)

    def classify(self, response: HttpResponse, *, method: str, url: str) -> ConnectorError:
        code, message = error_of(response.body)
        detail = f"[{code}] {message}" if code else f"HTTP {response.status}"
        where = f"WooCommerce {method} {url}"
        if response.status == 429 or response.status >= 500:
            return RetriableError(
                f"{where}: HTTP {response.status}: {detail}",
                channel=self.channel,
                code=code or str(response.status),
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if response.status in (301, 302, 307, 308):
            # WordPress sends http to https (or to its canonical host): nothing to retry
            target = response.headers.get("Location", "").split("?", 1)[0]
            return ChannelConfigError(
                f"{where}: HTTP {response.status}: the site moved to {target!r}; set url to the "
                "site's address as WordPress gives it (Settings > General)",
                channel=self.channel,
                code=str(response.status),
            )
        if response.status == 404 and code in ("", "rest_no_route"):
            return ChannelConfigError(
                f"{where}: {detail}: no WooCommerce REST API at this url (is WooCommerce active, "
                "are permalinks on, and is url the site's home address?)",
                channel=self.channel,
                code=code or "404",
            )
        if response.status in (401, 403):
            # woocommerce_rest_authentication_error (signature, key, timestamp, nonce) and
            # woocommerce_rest_cannot_view (no or unknown credentials, or a read key writing)
            return AuthError(f"{where}: {detail}", channel=self.channel, code=code)
        return FatalError(
            f"{where}: HTTP {response.status}: {detail}",
            channel=self.channel,
            code=code or str(response.status),
        )

    async def request_once(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | list[tuple[str, str]] | None = None,
        data: bytes | str | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """One attempt, signed just now (a nonce is good for one request only)."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        query = urlencode(list(params.items()) if isinstance(params, Mapping) else params or [])
        if query:
            url += "?" + query
        sent = dict(headers or {})
        if self._oauth is None:
            sent["Authorization"] = self._basic
            return await super().request_once(
                method, str(URL(url, encoded=True)), data=data, json_body=json_body, headers=sent
            )
        try:
            return await self._signed_once(method, url, data, json_body, sent)
        except AuthError as err:
            if err.code != AUTH_FAILED:
                raise
            # Perhaps a copy of our own request (see the module docstring): once more, anew.
            log.info("woocommerce_signature_refused_once", channel=self.channel, error=str(err))
            return await self._signed_once(method, url, data, json_body, sent)

    async def _signed_once(
        self,
        method: str,
        url: str,
        data: bytes | str | None,
        json_body: Any,
        headers: Mapping[str, str],
    ) -> HttpResponse:
        assert self._oauth is not None
        signed, _, _ = self._oauth.sign(url, http_method=method)
        # encoded=True: the signed query goes out byte for byte as it was signed
        return await super().request_once(
            method, str(URL(signed, encoded=True)), data=data, json_body=json_body, headers=headers
        )

    async def get(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> tuple[Any, HttpResponse]:
        response = await self.request("GET", path, params=params)
        return self._json(response, "GET", path), response

    async def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return (await self.get(path, params))[0]

    async def post_json(self, path: str, body: Any) -> Any:
        response = await self.request(
            "POST", path, json_body=body, headers={"Content-Type": "application/json"}
        )
        return self._json(response, "POST", path)

    def _json(self, response: HttpResponse, method: str, path: str) -> Any:
        try:
            return json.loads(response.body or b"null")
        except (ValueError, RecursionError) as err:
            raise ParseError(
                f"WooCommerce {method} {path}: the answer is not JSON ({response.body[:80]!r})",
                channel=self.channel,
            ) from err

    async def pages(
        self, path: str, params: Mapping[str, str], *, page_size: int
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every page of a list, by `page=N` signed anew each time (never the Link as given),
        while the answer says there is a next one (`Link: rel=next`, or X-WP-TotalPages)."""
        page = 1
        while True:
            data, response = await self.get(
                path, {**params, "per_page": str(page_size), "page": str(page)}
            )
            if not isinstance(data, list):
                raise ParseError(
                    f"WooCommerce GET {path}: expected a list, got {type(data).__name__}",
                    channel=self.channel,
                )
            rows = [r for r in data if isinstance(r, dict)]
            if rows:
                yield rows
            if not has_next(response, page) or not data:
                return
            page += 1


def has_next(response: HttpResponse, page: int) -> bool:
    """Whether a list answer has a page after ``page``."""
    link = response.headers.get("Link", "")
    if _NEXT.search(link):
        return True
    total = response.headers.get("X-WP-TotalPages", "")
    return total.isdecimal() and int(total) > page


def batch_errors(answer: Any) -> dict[int, tuple[str, str]]:
    """id → (code, message) of the items a batch answer refused (each carries its own
    ``error``: WC_REST_Controller::batch_items)."""
    out: dict[int, tuple[str, str]] = {}
    items = answer.get("update") if isinstance(answer, Mapping) else None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("error"), Mapping):
            err = item["error"]
            try:
                out[int(item.get("id") or 0)] = (
                    str(err.get("code") or ""),
                    str(err.get("message") or ""),
                )
            except (TypeError, ValueError):
                continue
    return out


__all__ = ["BATCH_LIMIT", "FatalError", "WooCommerceClient", "batch_errors", "has_next"]
