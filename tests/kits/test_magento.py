"""Magento bundles: a bundle of a fixed composition is read as a kit that Magento derives itself
(never pushed to Magento), which the other channels get the figure of; a bundle where the
customer chooses is not a kit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from syncd.connectors.base import Connector
from syncd.domain import Document, DocumentKind
from syncd.engine.onboarding import define_channel_kits
from syncd.ledger import ChannelInfo
from syncd.ledger.sqlstore import SqlStore
from tests.magento.conftest import Shop, connector_for

T0 = datetime(2026, 11, 26, 10, tzinfo=UTC)


def bundles(shop: Shop) -> None:
    shop.emulator.add_product("TEA", 10)
    shop.emulator.add_product("CUP", 6)
    shop.emulator.add_product("PEN", 6)
    shop.emulator.add_bundle("GIFTBOX", [[("TEA", 2)], [("CUP", 1)]])
    shop.emulator.add_bundle("CHOOSE", [[("TEA", 1), ("PEN", 1)]])  # the customer picks one
    shop.emulator.add_bundle("MORE", [[("CUP", 1)]], can_change_quantity=True)


@dataclass
class Target:
    name: str
    connector: Connector[object]


async def test_fixed_bundles_are_kits_that_magento_derives(msi_shop: Shop, store: SqlStore) -> None:
    bundles(msi_shop)
    connector = connector_for(msi_shop)
    async with connector:
        kits = await connector.read_kits()
        assert [(k.sku, dict(k.components), k.derived) for k in kits] == [
            ("GIFTBOX", {"TEA": 2, "CUP": 1}, True)
        ]
        await store.register_channels(
            [ChannelInfo("magento", "magento"), ChannelInfo("till", "csv_till")]
        )
        assert await define_channel_kits(store, [Target("magento", connector)]) == 1  # type: ignore[list-item]
    await store.apply_document(
        Document("stock", "in-1", DocumentKind.GOODS_RECEIPT, {"TEA": 10, "CUP": 6}, T0)
    )
    queued = {
        ch: {i.sku: i.wanted for i in await store.take_outbox(ch, 100)}
        for ch in ("magento", "till")
    }
    assert queued["till"]["GIFTBOX"] == 5
    assert "GIFTBOX" not in queued["magento"]  # Magento computes its bundle's figure itself
    assert {w.sku for w in await store.wanted_levels("magento")} == {"TEA", "CUP"}
