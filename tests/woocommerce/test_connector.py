"""The connector's push, paging and authentication, on the emulator and on the real WooCommerce
alike (``woo``); what only the emulator can stage cheaply (150 SKUs) on the emulator."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, SIGNATURE_TYPE_QUERY
from oauthlib.oauth1 import Client as OAuthClient

from syncd.connectors.base import PushItem, PushStatus
from syncd.connectors.woocommerce.connector import CURSOR
from syncd.exceptions import AuthError
from syncd.testing import collect_documents
from tests.woocommerce.shop import WooShop, connector_for
from tests.woocommerce.test_stock_rules import run, since


async def test_push_is_drift_aware_and_skips_what_does_not_manage_stock(woo: WooShop) -> None:
    mug = await run(woo.product, "MUG", 10)
    free = await run(woo.product, "FREE", None, manage=False)
    sku, free_sku = woo.sku("MUG"), woo.sku("FREE")
    c = connector_for(woo)
    await c.open()
    try:
        [same] = await c.push([PushItem(sku, 10, None)])
        assert same.status is PushStatus.UNCHANGED and same.shown == 10
        [written] = await c.push([PushItem(sku, 7, 10)])
        assert written.status is PushStatus.WRITTEN and written.shown == 7
        assert await run(woo.stock, mug) == 7
        # the shop sells 2 we have not pulled: never written over
        await run(woo.order, [(mug, 0, 2)], "processing")
        [deferred] = await c.push([PushItem(sku, 6, 7)])
        assert deferred.status is PushStatus.DEFERRED and deferred.observed == 5
        assert await run(woo.stock, mug) == 5
        assert await c.read_figures([sku]) == {sku: 5}
        [forced] = await c.push([PushItem(sku, 4, 7, force=True)])
        assert forced.status is PushStatus.WRITTEN and await run(woo.stock, mug) == 4
        # manage_stock false: reported, never written (WooCommerce would ignore it with a 200)
        for _ in range(2):
            [skipped] = await c.push([PushItem(free_sku, 3, None)])
            assert skipped.status is PushStatus.SKIPPED and "manage" in skipped.reason
        assert c._unmanaged_told == {free_sku}
        assert await run(woo.stock, free) is None
        [unknown] = await c.push([PushItem(woo.sku("NOPE"), 1, None)])
        assert unknown.status is PushStatus.SKIPPED and "no product" in unknown.reason
        # read_levels: the managed ones, the unmanaged left out
        levels = {
            level.sku: level.quantity
            async for page in c.read_levels([sku, free_sku])
            for level in page
        }
        assert levels == {sku: 4}
    finally:
        await c.close()


async def test_orders_come_page_by_page_and_the_cursor_moves(woo: WooShop) -> None:
    cursors = since()
    cap = await run(woo.product, "CAP", 50)
    ids = [(await run(woo.order, [(cap, 0, 1)], "processing"))["id"] for _ in range(5)]
    c = connector_for(woo, page_size=2, overlap_seconds=0)
    await c.open()
    try:
        batches = []
        async for batch in c.pull(dict(cursors)):
            batches.append(batch)
        pulled = [d.doc_id for b in batches for d in b.documents]
        assert set(map(str, ids)) <= set(pulled)
        assert len(batches) >= 3  # 5 orders, 2 a page
        assert all(len(b.documents) <= 2 for b in batches)
        stamps = [b.cursors[CURSOR] for b in batches]
        assert stamps == sorted(stamps)
        # the next pull from the cursor (no overlap) reads none of them again: strictly after
        again = await collect_documents(c, {CURSOR: stamps[-1]})
        assert not set(map(str, ids)) & {d.doc_id for d in again}
    finally:
        await c.close()


def _signed(woo: WooShop, secret: str, path: str = "orders", stamp: int | None = None) -> str:
    client = OAuthClient(
        woo.key,
        client_secret=secret,
        signature_method=SIGNATURE_HMAC_SHA256,
        signature_type=SIGNATURE_TYPE_QUERY,
        timestamp=str(stamp) if stamp is not None else None,
    )
    uri, _, _ = client.sign(f"{woo.url}/wp-json/wc/v3/{path}?per_page=1", http_method="GET")
    return str(uri)


async def test_authentication_errors_are_woocommerce_s(woo: WooShop) -> None:
    bad = WooShop(woo.url, woo.key, "cs_" + "0" * 40, real=woo.real)
    c = connector_for(bad)
    await c.open()
    try:
        with pytest.raises(AuthError) as err:
            await c.check()
        assert "provided signature does not match" in str(err.value)
        assert woo.secret not in str(err.value) and "0000000000" not in str(err.value)
        assert "oauth_signature=…" in str(err.value)  # the signature and nonce redacted
    finally:
        await c.close()

    def answers() -> list[tuple[int, str]]:
        out = []
        url = _signed(woo, woo.secret)
        for _ in range(2):  # a nonce is good once
            r = requests.get(url, timeout=30)
            out.append((r.status_code, r.json().get("message", "") if r.status_code >= 400 else ""))
        r = requests.get(_signed(woo, woo.secret, stamp=int(time.time()) - 3600), timeout=30)
        out.append((r.status_code, r.json()["message"]))
        r = requests.get(f"{woo.url}/wp-json/wc/v3/orders", timeout=30)
        out.append((r.status_code, r.json()["code"]))
        r = requests.get(f"{woo.url}/wp-json/wc/v3/orders", auth=(woo.key, woo.secret), timeout=30)
        out.append((r.status_code, r.json()["code"]))  # Basic over plain HTTP: not accepted
        return out

    assert await asyncio.to_thread(answers) == [
        (200, ""),
        (401, "Invalid nonce - nonce has already been used."),
        (401, "Invalid timestamp."),
        (401, "woocommerce_rest_cannot_view"),
        (401, "woocommerce_rest_cannot_view"),
    ]


async def test_a_push_of_150_skus_is_two_batches(emulated: WooShop) -> None:
    emulator: Any = emulated.emulator  # type: ignore[attr-defined]
    skus = [f"BULK-{i:03d}" for i in range(150)]
    for sku in skus:
        emulator.add_product(sku, 5)
    c = connector_for(emulated)
    await c.open()
    try:
        emulator.requests.clear()
        results = await c.push([PushItem(s, 3, 5) for s in skus])
        assert {r.status for r in results} == {PushStatus.WRITTEN}
        batches = [r for r in emulator.requests if r[1].endswith("/batch")]
        assert len(batches) == 2
        assert all(emulator.quantity(s) == 3 for s in skus)
    finally:
        await c.close()


async def test_https_uses_basic_auth(emulated: WooShop) -> None:
    """Over HTTPS the key goes as Basic auth (perform_basic_authentication); the emulator told
    it sees HTTPS accepts it, and refuses a wrong secret."""
    from syncd.connectors.emulation import start_server
    from syncd.connectors.woocommerce.client import WooCommerceClient
    from syncd.connectors.woocommerce.emulator import WooCommerceEmulator, create_app
    from syncd.connectors.woocommerce.settings import WooCommerceSettings
    from syncd.settings import Secret

    app = create_app(
        WooCommerceEmulator(),
        consumer_key=emulated.key,
        consumer_secret=emulated.secret,
        https=True,
    )
    runner, port = await start_server(app)
    try:
        for secret, ok in ((emulated.secret, True), ("cs_" + "1" * 40, False)):
            settings = WooCommerceSettings(
                url=f"https://127.0.0.1:{port}",
                consumer_key=Secret(emulated.key),
                consumer_secret=Secret(secret),
            )
            client = WooCommerceClient(settings, channel="woo")
            client.base_url = f"http://127.0.0.1:{port}/wp-json/wc/v3"  # TLS ends before the shop
            await client.open()
            try:
                if ok:
                    assert await client.get_json("orders") == []
                else:
                    with pytest.raises(AuthError, match="Consumer secret is invalid"):
                        await client.get_json("orders")
            finally:
                await client.close()
    finally:
        await runner.cleanup()


async def test_skus_with_spaces_plus_commas_and_accents_are_signed_and_found(
    woo: WooShop,
) -> None:
    odd = {"A +B": 3, "Tée/ç": 4, "X,Y": 5}
    ids = {}
    for name, qty in odd.items():
        ids[name] = await run(woo.product, name, qty)
    skus = {woo.sku(name): qty for name, qty in odd.items()}
    c = connector_for(woo)
    await c.open()
    try:
        assert await c.read_figures(list(skus)) == skus
        results = await c.push([PushItem(s, q + 1, q) for s, q in skus.items()])
        assert [r.status for r in results] == [PushStatus.WRITTEN] * 3, results
        for name, qty in odd.items():
            assert await run(woo.stock, ids[name]) == qty + 1
    finally:
        await c.close()


async def test_a_wrong_url_is_a_configuration_error(emulated: WooShop) -> None:
    from syncd.exceptions import ChannelConfigError

    wrong = WooShop(emulated.url + "/blog", emulated.key, emulated.secret)
    c = connector_for(wrong)
    await c.open()
    try:
        with pytest.raises(ChannelConfigError, match="no WooCommerce REST API"):
            await c.check()
    finally:
        await c.close()


async def test_a_refused_batch_request_skips_its_items_only(emulated: WooShop) -> None:
    emulator: Any = emulated.emulator  # type: ignore[attr-defined]
    parent = emulator.add_product("TEE", variations={"TEE-S": 2})
    emulator.add_product("MUG", 5)
    del emulator.products[parent]  # deleted under its variation: its batch answers 400
    c = connector_for(emulated)
    await c.open()
    try:
        tee, mug = await c.push([PushItem("TEE-S", 1, 2), PushItem("MUG", 4, 5)])
        assert tee.status is PushStatus.SKIPPED and "Invalid ID" in tee.reason
        assert mug.status is PushStatus.WRITTEN and emulator.quantity("MUG") == 4
    finally:
        await c.close()


async def test_missed_orders_are_found_and_pulled_again(emulated: WooShop) -> None:
    from syncd.reconcile.missed import rewind_cursors

    emulator: Any = emulated.emulator  # type: ignore[attr-defined]
    mug = emulator.add_product("MUG", 10)
    first = emulator.create_order([(mug, 0, 1)], status="processing")
    second = emulator.create_order([(mug, 0, 2)], status="processing")
    c = connector_for(emulated, overlap_seconds=0)
    await c.open()
    try:
        cursors: dict[str, str] = {}
        await collect_documents(c, cursors)
        # the cursor is a time the catch-up can rewind ("YYYY-MM-DD HH:MM:SS", GMT)
        assert rewind_cursors(cursors, 60)[CURSOR] < cursors[CURSOR]

        async def known() -> set[str]:
            return {str(first["id"])}  # a ledger restored from before the second order

        later = {CURSOR: "2999-01-01 00:00:00"}
        batches = [b async for b in c.missed_documents(known, later, window_seconds=3600)]
        docs = [d for b in batches for d in b.documents]
        findings = [f for b in batches for f in b.missed]
        assert str(second["id"]) in {d.doc_id for d in docs}
        assert [f.sku for f in findings] == [str(second["id"])]
        assert all(not b.cursors for b in batches)  # never moves the ingest position
    finally:
        await c.close()
