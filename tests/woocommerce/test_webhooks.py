"""The webhook door for WooCommerce in a real daemon: a delivery is accepted only with a good
X-WC-Webhook-Signature (base64 HMAC-SHA256 of the raw body with the channel's webhook_secret),
and it only asks for a pull; WooCommerce's unsigned ping when a webhook is saved gets 200 and
pulls nothing; a wrong or missing signature is 401 and counted."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from syncd.cli.run import SIGNED_WEBHOOK_MAX_BYTES, ServedDaemon
from syncd.config import parse_config
from syncd.connectors.emulation import start_server
from syncd.connectors.woocommerce.emulator import WooCommerceEmulator, create_app, signature
from syncd.domain import Document, DocumentKind
from syncd.ledger import Product
from tests.woocommerce.shop import KEY, SECRET

HOOK_SECRET = "whsec-0123456789abcdef"


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[tuple[ServedDaemon, WooCommerceEmulator]]:
    emulator = WooCommerceEmulator()
    emulator.add_product("MUG", 10)
    runner, port = await start_server(
        create_app(emulator, consumer_key=KEY, consumer_secret=SECRET, webhook_delay=None)
    )
    settings = parse_config(
        {
            "ledger": {"backend": "sqlite", "path": str(tmp_path / "ledger.sqlite3")},
            "sync": {"grace_seconds": 1, "outbox_poll_seconds": 60},
            "web": {"enabled": True, "port": 0},
            "alerts": {"enabled": False},
            "reconcile": {"enabled": False},
            "channels": {
                "woo": {
                    "type": "woocommerce",
                    "url": f"http://127.0.0.1:{port}",
                    "consumer_key": KEY,
                    "consumer_secret": SECRET,
                    "poll_seconds": 600,
                    "overlap_seconds": 0,
                    "webhook_secret": HOOK_SECRET,
                    "webhook_min_seconds": 0,
                },
            },
        },
        file=str(tmp_path / "syncd.toml"),
    )
    served = ServedDaemon(settings)
    await served.start()
    assert served.store is not None
    await served.store.upsert_products([Product("MUG", "Mug")])
    await served.store.apply_document(
        Document("init", "opening", DocumentKind.STOCK_COUNT, {"MUG": 10}, datetime.now(UTC))
    )
    try:
        yield served, emulator
    finally:
        await served.stop()
        await runner.cleanup()


async def post(daemon: ServedDaemon, body: bytes, headers: dict[str, str]) -> int:
    url = f"http://127.0.0.1:{daemon.web_port}/hooks/woocommerce/woo"
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        return r.status


async def test_only_a_signed_delivery_pulls(
    daemon: tuple[ServedDaemon, WooCommerceEmulator],
) -> None:
    served, emulator = daemon
    assert served.store is not None
    await asyncio.sleep(0.5)  # the first pull at start-up is done
    order = emulator.create_order([(10, 0, 2)], status="processing")
    body = b'{"id": %d}' % order["id"]
    # WooCommerce's ping when the webhook is saved: unsigned form body, answered 200
    ping = {"Content-Type": "application/x-www-form-urlencoded"}
    assert await post(served, b"webhook_id=3", ping) == 200
    for bad in ({}, {"X-WC-Webhook-Signature": signature("wrong", body)}):
        assert await post(served, body, {"Content-Type": "application/json", **bad}) == 401
    await asyncio.sleep(1)
    assert await served.store.levels(["MUG"]) == {"MUG": 10}  # nothing pulled yet
    good = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Signature": signature(HOOK_SECRET, body),
    }
    assert await post(served, body, good) == 202

    for _ in range(50):
        await asyncio.sleep(0.1)
        if await served.store.levels(["MUG"]) == {"MUG": 8}:
            break
    assert await served.store.levels(["MUG"]) == {"MUG": 8}


async def test_an_unknown_channel_name_is_answered_as_a_known_one(
    daemon: tuple[ServedDaemon, WooCommerceEmulator],
) -> None:
    served, _ = daemon
    body = b'{"id": 1}'
    headers = {"Content-Type": "application/json", "X-WC-Webhook-Signature": signature("x", body)}
    ping = {"Content-Type": "application/x-www-form-urlencoded"}
    answers = {}
    for name in ("woo", "no-such-channel"):
        url = f"http://127.0.0.1:{served.web_port}/hooks/woocommerce/{name}"
        async with aiohttp.ClientSession() as http:
            async with http.post(url, data=b"webhook_id=9", headers=ping) as r:
                pinged = r.status
            async with http.post(url, data=body, headers=headers) as r:
                wrong = r.status
            too_big = b"x" * (SIGNED_WEBHOOK_MAX_BYTES + 1)  # a signed body is read whole first
            async with http.post(url, data=io.BytesIO(too_big), headers=headers) as r:
                big = r.status
        answers[name] = (pinged, wrong, big)
    assert answers["woo"] == answers["no-such-channel"] == (200, 401, 413)
