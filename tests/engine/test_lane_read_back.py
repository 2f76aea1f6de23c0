"""A channel told each location apart whose shop has no compare-and-set (Magento's MSI sources):
a lane's read-back that could not be made is made at a later pull, as for a channel told one
figure (tests/engine/test_hand_edits.py). In-process daemon, a fake shop with one figure per
lane, a real ledger on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from syncd.cli.run import ServedDaemon
from syncd.connectors.base import PushItem, PushResult, PushStatus
from syncd.domain import Document, DocumentKind
from syncd.exceptions import ConnectorError
from syncd.ledger import Product
from syncd.testing import FakeChannel, FakeConnector
from syncd.testing.daemon import settings_for
from syncd.testing.fakes import registered
from syncd.testing.harness import until
from tests.conftest import DaemonStarter


class LaneShop(FakeConnector):
    """A fake shop with one figure per location (``figures["CAP@store"]``), written and read
    per lane, its own sales taken at the first location, no compare-and-set."""

    type: ClassVar[str] = "laneshop"
    shop_locations_key: ClassVar[str] = "sources"

    @classmethod
    def shop_locations(cls, settings: Any) -> Mapping[str, str]:
        return dict(settings.get("sources", {}))

    async def push(self, items: Sequence[PushItem]) -> list[PushResult]:
        state = self.state
        read = {i.sku: state.figures.get(f"{i.sku}@{i.location}", 0) for i in items}
        state.reads += 1
        if state.push_delay:
            await asyncio.sleep(state.push_delay)
        results = []
        for item in items:
            current = read[item.sku]
            if item.last_known is not None and current < item.last_known and not item.force:
                self.nudge()
                results.append(PushResult(item.sku, PushStatus.DEFERRED, observed=current))
                continue
            state.figures[f"{item.sku}@{item.location}"] = item.available
            results.append(PushResult(item.sku, PushStatus.WRITTEN, shown=item.available))
        return results

    async def read_location_figures(self, location: str, skus: Sequence[str]) -> dict[str, int]:
        if self.state.fail_read is not None:
            raise self.state.fail_read
        return {s: self.state.figures[f"{s}@{location}"] for s in skus}


@pytest.fixture
def lane_shop() -> Iterator[type[LaneShop]]:
    with registered(LaneShop) as cls:
        yield cls


def order(doc_id: str, lines: dict[str, int], version: int = 1, **kw: Any) -> Document:
    now = datetime.now(UTC)
    return Document("shop", doc_id, DocumentKind.WEB_ORDER, lines, now, version, **kw)


async def test_a_lane_read_back_that_failed_is_made_at_a_later_pull(
    tmp_path: Path,
    ledger_backend: tuple[str, str],
    fake_connector: type[FakeConnector],
    lane_shop: type[LaneShop],
    start_daemon: DaemonStarter,
) -> None:
    """The mirror race at the store's source: a cancellation's restock erased by our write,
    the cancellation pulled (the lane believed one higher than it shows), its read-back
    failing. Read back later, the lane is found lower twice and written again."""
    fake_connector.channels["till"] = FakeChannel(figures={"CAP": 5})
    shop = lane_shop.channels["shop"] = FakeChannel(figures={"CAP@store": 5, "CAP@warehouse": 0})
    settings = settings_for(
        tmp_path,
        {
            "sync": {"retry_max_seconds": 1, "outbox_poll_seconds": 1, "grace_seconds": 2},
            "locations": {"store": {"kind": "store"}, "warehouse": {"kind": "warehouse"}},
            "channels": {
                "till": {"type": "fake", "poll_seconds": 0.2, "locations": ["store"]},
                "shop": {
                    "type": "laneshop",
                    "poll_seconds": 0.2,
                    "locations": ["store", "warehouse"],
                    "sources": {"store": "default", "warehouse": "wh"},
                },
            },
        },
        ledger=ledger_backend,
    )
    daemon = await start_daemon(settings, products=(Product("CAP", "Cap"),), opening={"CAP": 5})
    connector = daemon.runners["shop"].connector
    assert isinstance(connector, LaneShop)
    await until(lambda: daemon.runners["shop"].status.pull_generation >= 2)

    def sell(doc: Document) -> None:  # the shop's own order, taken at its first source
        shop.documents.append(doc)
        shop.figures["CAP@store"] -= doc.lines["CAP"]
        connector.nudge()

    sell(order("1090", {"CAP": 1}))
    await until(lambda: fake_connector.channels["till"].figures["CAP"] == 4)
    shop.push_delay = 0.5  # a read, half a second, a write
    till = daemon.runners["till"].connector
    assert isinstance(till, FakeConnector)
    till.sell(Document("till", "t-1", DocumentKind.TILL_RECEIPT, {"CAP": 1}, datetime.now(UTC)))
    reads = shop.reads
    await until(lambda: shop.reads > reads)  # the push has read 4 and waits
    shop.figures["CAP@store"] += 1  # order 1090 cancelled: its cap given back (5)
    shop.push_delay = 0.0
    await until(lambda: shop.figures["CAP@store"] == 3)  # our 3 written over it
    shop.fail_read = ConnectorError("500 Internal Server Error")
    shop.documents.append(order("1090", {"CAP": 0}, 2, cancelled=True))
    connector.nudge()
    await until(lambda: fake_connector.channels["till"].figures["CAP"] == 4)  # pulled
    await _pulls(daemon, 4)
    assert shop.figures["CAP@store"] == 3  # nothing could be read
    shop.fail_read = None
    await until(lambda: shop.figures["CAP@store"] == 4)
    assert shop.figures["CAP@warehouse"] == 0


async def _pulls(daemon: ServedDaemon, count: int) -> None:
    start = daemon.runners["shop"].status.pull_generation
    await until(lambda: daemon.runners["shop"].status.pull_generation >= start + count)
