"""The WooCommerce emulator's keys and authentication, as ``includes/class-wc-rest-authentication.php``
checks them: Basic (or ``consumer_key``/``consumer_secret`` in the query) only over HTTPS; over
HTTP OAuth 1.0a one-legged: the key, the signature method, the signature (over the method, the
URL and the sorted, twice-normalised parameters), a timestamp within 15 minutes, a nonce used
once; without credentials the routes' permission checks answer 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web

from syncd.connectors.woocommerce.emulator.state import WooCommerceEmulator

EMULATOR_KEY = web.AppKey("woocommerce_emulator", WooCommerceEmulator)
NONCE_WINDOW = 15 * 60  # check_oauth_timestamp_and_nonce: 15 minutes either way


@dataclass
class Options:
    consumer_key: str
    consumer_secret: str
    https: bool = False  # as if WordPress saw HTTPS (behind TLS): Basic auth accepted
    webhook_delay: float | None = 0.0  # seconds; None: held until /__emulator/webhooks/deliver
    # The nonces used, by their request's timestamp: one a second, the latest (WooCommerce keeps
    # ``$used_nonces[ $timestamp ] = $nonce`` in the key's row, check_oauth_timestamp_and_nonce).
    nonces: dict[int, str] = field(default_factory=dict)
    refused: int = 0  # requests answered 401
    base: str = "http://127.0.0.1"  # the shop's URL as clients reach it (webhook payloads)


OPTIONS_KEY = web.AppKey("woocommerce_options", Options)


def error(status: int, code: str, message: str, **data: Any) -> web.Response:
    return web.json_response(
        {"code": code, "message": message, "data": {"status": status, **data}}, status=status
    )


def rfc3986(text: str) -> str:
    """PHP's rawurlencode (wc_rest_urlencode_rfc3986)."""
    return quote(text, safe="-_.~")


def _expected_signature(request: web.Request, params: Mapping[str, str], secret: str) -> str:
    """check_oauth_signature: METHOD & enc(url) & the sorted, twice-normalised parameters."""
    scheme = "https" if request.app[OPTIONS_KEY].https else "http"
    base = rfc3986(f"{scheme}://{request.host}{request.path}")
    pairs = sorted((k, v) for k, v in params.items() if k != "oauth_signature")
    joined = "%26".join(rfc3986(f"{rfc3986(k)}={rfc3986(v)}") for k, v in pairs)
    algorithm = params.get("oauth_signature_method", "").replace("HMAC-", "").lower()
    digest = hmac.new(
        (secret + "&").encode(),
        f"{request.method.upper()}&{base}&{joined}".encode(),
        getattr(hashlib, algorithm),
    ).digest()
    return base64.b64encode(digest).decode()


def authenticate(request: web.Request) -> web.Response | bool:
    """True when the key is good, False when no credentials came (the permission check then
    refuses), or the 401 WooCommerce answers for bad ones."""
    options: Options = request.app[OPTIONS_KEY]
    if options.https:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user = password = ""
            if user != options.consumer_key:
                return error(
                    401, "woocommerce_rest_authentication_error", "Consumer key is invalid."
                )
            if not hmac.compare_digest(password, options.consumer_secret):
                return error(
                    401, "woocommerce_rest_authentication_error", "Consumer secret is invalid."
                )
            return True
        key = request.query.get("consumer_key")
        if key is not None:
            if key != options.consumer_key:
                return error(
                    401, "woocommerce_rest_authentication_error", "Consumer key is invalid."
                )
            if not hmac.compare_digest(
                request.query.get("consumer_secret", ""), options.consumer_secret
            ):
                return error(
                    401, "woocommerce_rest_authentication_error", "Consumer secret is invalid."
                )
            return True
        return False
    params = dict(request.query)
    if "oauth_consumer_key" not in params:
        return False
    for name in ("oauth_timestamp", "oauth_nonce", "oauth_signature", "oauth_signature_method"):
        if not params.get(name):
            return error(
                401, "woocommerce_rest_authentication_error", f"Missing OAuth parameter {name}"
            )
    if params["oauth_consumer_key"] != options.consumer_key:
        return error(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
    if params["oauth_signature_method"] not in ("HMAC-SHA1", "HMAC-SHA256"):
        return error(
            401,
            "woocommerce_rest_authentication_error",
            "Invalid signature - signature method is invalid.",
        )
    given = params["oauth_signature"].replace(" ", "+")
    if not hmac.compare_digest(
        given, _expected_signature(request, params, options.consumer_secret)
    ):
        return error(
            401,
            "woocommerce_rest_authentication_error",
            "Invalid signature - provided signature does not match.",
        )
    now = time.time()
    try:
        stamp = int(params["oauth_timestamp"])
    except ValueError:
        stamp = 0
    if abs(stamp - now) > NONCE_WINDOW:
        return error(401, "woocommerce_rest_authentication_error", "Invalid timestamp.")
    nonce = params["oauth_nonce"]
    if nonce in options.nonces.values():
        return error(
            401,
            "woocommerce_rest_authentication_error",
            "Invalid nonce - nonce has already been used.",
        )
    options.nonces[stamp] = nonce
    for seen in [t for t in options.nonces if t < now - NONCE_WINDOW]:
        del options.nonces[seen]
    return True


def denied(request: web.Request, kind: str) -> web.Response:
    """What the permission callbacks answer without credentials (rest_authorization_required_code)."""
    messages = {
        "list": ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
        "view": ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
        "create": (
            "woocommerce_rest_cannot_create",
            "Sorry, you are not allowed to create resources.",
        ),
        "edit": (
            "woocommerce_rest_cannot_edit",
            "Sorry, you are not allowed to edit this resource.",
        ),
        "batch": (
            "woocommerce_rest_cannot_batch",
            "Sorry, you are not allowed to batch manipulate this resource.",
        ),
        "delete": (
            "woocommerce_rest_cannot_delete",
            "Sorry, you are not allowed to delete this resource.",
        ),
    }
    code, message = messages[kind]
    return error(401, code, message)
