"""PrestaShop webservice client: key as Basic-auth user, JSON reads, XML writes, classified errors."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

import aiohttp

from syncd.connectors.http import HttpClient, HttpResponse, RetryPolicy, retry_after_seconds
from syncd.exceptions import (
    AuthError,
    ChannelConfigError,
    ConnectorError,
    FatalError,
    ParseError,
    RetriableError,
)


def parse_errors(body: bytes) -> list[tuple[str, str]]:
    """(code, message) pairs from a PrestaShop error body, XML or JSON; [] if none."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return []
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            return []
        errors = data.get("errors") if isinstance(data, dict) else None
        if not isinstance(errors, list):
            return []
        return [
            (str(e.get("code", "")), str(e.get("message", "")))
            for e in errors
            if isinstance(e, dict)
        ]
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return []
    return [
        ((e.findtext("code") or "").strip(), (e.findtext("message") or "").strip())
        for e in root.iter("error")
    ]


# 133: depends_on_stock; 32..39: a filter, display, sort or limit the shop refuses.
NOT_RETRIABLE = frozenset({"133", "32", "33", "34", "35", "36", "37", "38", "39"})


class PrestaShopClient(HttpClient):
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        channel: str,
        session: aiohttp.ClientSession | None = None,
        policy: RetryPolicy | None = None,
        id_shop: int | None = None,
    ) -> None:
        super().__init__(
            base_url.rstrip("/") + "/api", channel=channel, session=session, policy=policy
        )
        # The key is the Basic-auth user with an empty password (built by hand: aiohttp 3.14
        # deprecates BasicAuth).
        self._auth = {"Authorization": "Basic " + base64.b64encode(f"{api_key}:".encode()).decode()}
        self.id_shop = id_shop
        self.version: str | None = None  # from the PSWS-Version header

    def redact(self, url: str) -> str:
        return re.sub(r"ws_key=[^&]+", "ws_key=<redacted>", url)

    def classify(self, response: HttpResponse, *, method: str, url: str) -> ConnectorError:
        errors = parse_errors(response.body)
        detail = (
            "; ".join(f"[{code}] {message}" for code, message in errors)
            or f"HTTP {response.status}"
        )
        where = f"PrestaShop {method} {url}"
        code = errors[0][0] if errors else str(response.status)
        # A bad list parameter answers 500 on PHP 8 (error 32..39 followed by PHP warnings,
        # observed on 8.2.0): asking again cannot help.
        if response.status == 429 or response.status >= 500 and code not in NOT_RETRIABLE:
            return RetriableError(
                f"{where}: HTTP {response.status}: {detail}",
                channel=self.channel,
                code=code,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if response.status == 401 or code in ("17", "18", "20", "21", "26"):
            return AuthError(
                f"{where}: the webservice key was refused: {detail}",
                channel=self.channel,
                code=code,
            )
        if response.status == 403:
            return AuthError(f"{where}: {detail}", channel=self.channel, code=code)
        if code in ("27", "132"):
            return ChannelConfigError(f"{where}: {detail}", channel=self.channel, code=code)
        return FatalError(
            f"{where}: HTTP {response.status}: {detail}", channel=self.channel, code=code
        )

    def _params(self, params: Mapping[str, str] | None) -> dict[str, str]:
        out = {"output_format": "JSON", **(params or {})}
        if self.id_shop is not None:
            out.setdefault("id_shop", str(self.id_shop))
        return out

    async def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        response = await self.request(
            "GET",
            path,
            params=self._params(params),
            headers={"Output-Format": "JSON", **self._auth},
        )
        self.version = response.headers.get("PSWS-Version", self.version)
        try:
            return json.loads(response.body or b"[]")
        except (ValueError, RecursionError) as err:  # RecursionError: absurdly deep nesting
            raise ParseError(
                f"PrestaShop GET {path}: the answer is not JSON ({response.body[:80]!r})",
                channel=self.channel,
            ) from err

    async def write_xml(self, method: str, path: str, xml: str) -> Any:
        params = self._params(None)
        response = await self.request(
            method,
            path,
            params=params,
            data=xml.encode("utf-8"),
            headers={"Content-Type": "text/xml", "Output-Format": "JSON", **self._auth},
        )
        self.version = response.headers.get("PSWS-Version", self.version)
        try:
            return json.loads(response.body) if response.body else {}
        except (ValueError, RecursionError):
            return {}


def stock_xml(fields: Mapping[str, Any]) -> str:
    """A <stock_available> body; values escaped, CDATA not needed for numbers."""
    inner = "".join(
        f"<{k}>{escape(str(v))}</{k}>" for k, v in fields.items() if k != "associations"
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<prestashop xmlns:xlink="http://www.w3.org/1999/xlink">'
        f"<stock_available>{inner}</stock_available></prestashop>"
    )
