"""The catch-up knows no connector: it applies what ``Connector.missed_documents`` yields, stores
that batch's cursors, reports its findings, and pulls again only a connector that re-reads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Set
from datetime import UTC, datetime
from typing import ClassVar

from syncd.connectors.base import Batch
from syncd.domain import Document, DocumentKind
from syncd.engine.catchup import catch_up
from syncd.ledger import ChannelInfo, Product
from syncd.ledger.sqlstore import SqlStore
from syncd.reconcile.compare import Finding, FindingKind
from syncd.testing import FakeConnector

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class MissingConnector(FakeConnector):
    """A channel whose own catch-up finds one order the ledger never applied."""

    type: ClassVar[str] = "missing"
    rereads: ClassVar[bool] = False
    asked: ClassVar[list[tuple[set[str], dict[str, str], float]]] = []

    async def missed_documents(
        self,
        known: Callable[[], Awaitable[Set[str]]],
        cursors: Mapping[str, str],
        *,
        window_seconds: float,
    ) -> AsyncIterator[Batch]:
        self.asked.append((set(await known()), dict(cursors), window_seconds))
        order = Document(self.name, "7", DocumentKind.WEB_ORDER, {"CAP": 2}, T0)
        finding = Finding(self.name, "7", FindingKind.MISSED_ORDER, detail={"applied": True})
        yield Batch([order], {"missed:7": "done"}, missed=[finding])


async def test_catch_up_applies_what_the_connector_says_was_missed(store: SqlStore) -> None:
    await store.register_channels([ChannelInfo("shop", "missing")])
    await store.upsert_products([Product("CAP")])
    await store.apply_document(Document("init", "count", DocumentKind.STOCK_COUNT, {"CAP": 5}, T0))
    await store.apply_batch(
        [Document("shop", "6", DocumentKind.WEB_ORDER, {"CAP": 1}, T0)],
        channel="shop",
        cursors={"orders": "2026-11-23 09:00:00"},
    )
    connector = MissingConnector("shop", {})
    MissingConnector.asked.clear()
    found = await catch_up(store, connector, "shop", repull_seconds=600)
    assert MissingConnector.asked == [({"6"}, {"orders": "2026-11-23 09:00:00"}, 600)]
    assert found.documents == 1
    assert [(f.sku, f.kind) for f in found.findings] == [("7", FindingKind.MISSED_ORDER)]
    assert await store.levels(["CAP"]) == {"CAP": 2}
    assert (await store.cursors("shop"))["missed:7"] == "done"
    assert sorted(await store.document_ids("shop")) == ["6", "7"]


async def test_gaps_false_only_pulls_again(store: SqlStore) -> None:
    await store.register_channels([ChannelInfo("shop", "missing")])
    connector = MissingConnector("shop", {})
    MissingConnector.asked.clear()
    found = await catch_up(store, connector, "shop", repull_seconds=0, gaps=False)
    assert MissingConnector.asked == [] and found.findings == []
