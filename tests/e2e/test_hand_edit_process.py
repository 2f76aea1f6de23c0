"""A back-office edit in the PrestaShop emulator, with the daemon as a process on both ledgers:
adopted once (hand_edits = "adopt", the default), an order placed during the edit counted once,
and the new figure reaching Magento and the till file. The same on the real PrestaShop is in
tests/prestashop/test_real_shop.py (test_the_daemon_end_to_end_with_the_real_shop)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from syncd.config import load_config
from syncd.ledger import open_store
from syncd.testing.harness import until
from tests.e2e.test_daemon_process import Env, magento, onboard, shop, write_config

__all__ = ["magento", "shop"]  # the emulator fixtures, used by name


async def test_an_edit_in_the_shop_is_adopted_once_with_an_order_placed_meanwhile(
    ledger_backend: tuple[str, str], tmp_path: Path, shop: dict[str, Any], magento: dict[str, Any]
) -> None:
    backend, dsn = ledger_backend
    config = write_config(tmp_path, shop, magento, backend, dsn)
    env = Env(tmp_path, shop, magento, config)
    initial = await env.admin("GET", "quantities")
    await onboard(config, initial)
    sku = next(s for s in sorted(initial) if initial[s] >= 3)
    env.start()
    try:
        await until(lambda: env.till_stock() == initial)

        async def magento_shows(qty: int) -> bool:
            figures = (await env.admin("GET", "quantities", shop="magento"))[sku]
            return bool(figures["salable"] == qty)

        await until(lambda: magento_shows(initial[sku]))
        # An order stamped (to the second) within our last write of its SKU is taken for one
        # that write erased, and reverted, not adopted (syncd/engine/channel.py): leave a gap.
        await asyncio.sleep(1.5)
        # 10 delivered, booked in the shop's stock screen; an order of 1 at the same moment
        await env.admin("POST", "quantities", {sku: initial[sku] + 10})
        await env.admin("POST", "orders", {"lines": {sku: 1}})
        expected = initial[sku] + 10 - 1
        await until(lambda: env.till_stock().get(sku) == expected, 30)
        await until(lambda: magento_shows(expected), 30)
        env.sell_at_till({sku: 2})
        expected -= 2

        async def shop_shows(qty: int) -> bool:
            return bool((await env.admin("GET", "quantities"))[sku] == qty)

        await until(lambda: shop_shows(expected), 30)
        await until(lambda: magento_shows(expected), 30)
        await asyncio.sleep(2)  # more pulls and read-backs: nothing else is adopted
        assert await shop_shows(expected) and env.till_stock().get(sku) == expected
    finally:
        if env.proc is not None and env.proc.poll() is None:
            assert env.stop() == 0
    store = await open_store(load_config(config).ledger, migrate=False)
    try:
        edits = [m.delta for m in await store.movements(sku=sku) if m.reason.value == "hand_edit"]
        assert edits == [10]
        assert await store.levels([sku]) == {sku: expected}
    finally:
        await store.close()
