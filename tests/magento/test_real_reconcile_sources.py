"""`syncd init` and `syncd reconcile` of a channel told each MSI source apart (``magento_sources``)
against the real Magento 2.4.7-p3 (../shared/real-shops; run under
``flock /tmp/realshops.lock``): init counts each source at its location, the first less the units
its open orders reserve; a source edited by hand in the admin is found on its own location and
written back there, the other source left alone. The two sources' stock is made as in
test_real_sources.py, and the website is given back to the Default Stock at the end."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from syncd.cli.reconcile import init_command, reconcile_command
from syncd.config import Settings
from syncd.ledger import open_store
from syncd.testing.daemon import settings_for
from tests.magento.real import ADMIN, mgshop
from tests.magento.test_real_sources import (
    FIRST,
    SECOND,
    SKU,
    stock_of_two_sources,
    website_back_to_the_default_stock,
)
from tests.realshops import RealShop

pytestmark = [pytest.mark.realshop("magento"), pytest.mark.timeout(900)]


def config(tmp: Path, real: RealShop, stock_id: int) -> Settings:
    return settings_for(
        tmp,
        {
            "locations": {"store": {"kind": "store"}, "warehouse": {"kind": "warehouse"}},
            "channels": {
                "magento": {
                    "type": "magento",
                    "url": real["MAGENTO_URL"],
                    "username": ADMIN["username"],
                    "password": ADMIN["password"],
                    "overlap_seconds": 0,
                    "hand_edits": "revert",  # an edit in the admin is written over by --fix
                    "locations": ["store", "warehouse"],
                    "stock_id": stock_id,
                    "magento_sources": {"store": FIRST, "warehouse": SECOND},
                },
            },
        },
    )


def output(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return data


def findings_of(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Location → the report's findings there about SKU."""
    return {
        c["location"]: [f for f in c["findings"] if f["sku"] == SKU] for c in report["channels"]
    }


async def test_init_and_reconcile_read_each_real_msi_source_apart(
    real_magento: RealShop, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = mgshop(real_magento).Shop(real_magento["MAGENTO_URL"])
    await asyncio.to_thread(shop.login)
    stock_id = await asyncio.to_thread(stock_of_two_sources, shop)

    def sources() -> tuple[int, int, int]:
        return (
            shop.source_qty(SKU, FIRST),
            shop.source_qty(SKU, SECOND),
            shop.salable(SKU, stock_id),
        )

    order = None
    try:
        await asyncio.to_thread(shop.set_source, {SKU: 10}, FIRST)
        await asyncio.to_thread(shop.set_source, {SKU: 6}, SECOND)
        order = await asyncio.to_thread(shop.place_order, [(SKU, 2)])  # reserved, no source moves
        first, second, salable = await asyncio.to_thread(sources)
        reserved = first + second - salable  # this order's 2 and any of earlier runs
        assert (first, second) == (10, 6) and reserved >= 2

        settings = config(tmp_path, real_magento, stock_id)
        assert await init_command(settings, source="magento", yes=True, as_json=True) == 0
        done = output(capsys)
        assert done["locations"]["store"][SKU] == 10 - reserved
        assert done["locations"]["warehouse"][SKU] == 6
        store = await open_store(settings.ledger)
        try:
            on_hand = {r.location: r.on_hand for r in await store.location_stock([SKU])}
        finally:
            await store.close()
        assert on_hand == {"store": 10 - reserved, "warehouse": 6}

        assert await reconcile_command(settings, as_json=True) == 0
        clean = findings_of(output(capsys))
        assert clean == {"store": [], "warehouse": []}

        # Edited in the admin at the second source: found there only, and written back there.
        await asyncio.to_thread(shop.set_source, {SKU: 9}, SECOND)
        assert await reconcile_command(settings, fix=True, as_json=True) == 0
        found = findings_of(output(capsys))
        assert found["store"] == []
        [edit] = found["warehouse"]
        assert (edit["kind"], edit["figure"], edit["wanted"]) == ("hand_edit", 9, 6)
        assert await asyncio.to_thread(sources) == (10, 6, salable)

        assert await reconcile_command(settings, as_json=True) == 0
        assert findings_of(output(capsys)) == {"store": [], "warehouse": []}
    finally:
        # Cancelled while the website still sells from this stock (the compensation is this
        # stock's): an order left open would be held by the shop's other tests' catalogue reads.
        if order is not None:
            await asyncio.to_thread(shop.cancel, order)
        await asyncio.to_thread(website_back_to_the_default_stock, shop, stock_id)
