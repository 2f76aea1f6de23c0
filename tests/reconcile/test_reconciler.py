"""Reconciliation against a real PrestaShop emulator (on a socket) and a real ledger, on SQLite
and PostgreSQL: hand edits found, explained, fixed and clean after; pushes in flight are not
drift; drift again after a fix is a conflict; missed orders are applied once; a crashed run is
resumed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from syncd.config import parse_config
from syncd.connectors.base import ChannelLevel, ConfigIssue, Connector
from syncd.domain import ConflictKind, Document, DocumentKind
from syncd.engine.catchup import pull_into
from syncd.engine.reconciler import ChannelTarget, ReconcileOptions, Reconciler
from syncd.exceptions import RetriableError
from syncd.ledger import ChannelInfo, Product
from syncd.ledger.sqlstore import SqlStore
from syncd.reconcile.compare import FindingKind
from tests.prestashop.conftest import KEY, Shop, start

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
FIGURES = {"SHIRT-BLUE-42": 3, "SHIRT-BLUE-44": 1, "CAP": 5, "MUG": 4}


def channel_settings(shop: Shop, **extra: Any) -> Any:
    # hand_edits = "revert" (the fix writes syncd's figure back): the tests of that; the adopt
    # side is in test_a_hand_edit_is_adopted_by_a_fix below.
    table = {
        "hand_edits": "revert",
        "type": "prestashop",
        "url": shop.url,
        "api_key": KEY,
        "overlap_seconds": 0,
        "timeout_seconds": 5,
        **extra,
    }
    return parse_config({"channels": {"webshop": table}}, file="test.toml").channel("webshop")


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    s, runner = await start("8.1.0")
    yield s
    await runner.cleanup()


@pytest.fixture
async def target(shop: Shop) -> AsyncIterator[ChannelTarget]:
    settings = channel_settings(shop)
    from syncd.connectors.prestashop.connector import PrestaShopConnector

    connector = PrestaShopConnector("webshop", settings.options)
    await connector.open()
    await connector.check()
    yield ChannelTarget(settings, connector)
    await connector.close()


async def onboarded(store: SqlStore) -> SqlStore:
    """The ledger agrees with the shop: counted, and known to be shown there."""
    await store.register_channels([ChannelInfo("webshop", "prestashop")])
    await store.upsert_products([Product(sku) for sku in FIGURES])
    await store.apply_document(Document("init", "count", DocumentKind.STOCK_COUNT, FIGURES, T0))
    await store.record_shown("webshop", FIGURES)
    return store


def reconciler(store: SqlStore, **options: Any) -> Reconciler:
    sync = parse_config(
        {"channels": {"t": {"type": "csv_till", "drop_folder": "/tmp"}}}, file="x.toml"
    ).sync
    return Reconciler(store, sync, ReconcileOptions(**options))


async def test_a_hand_edit_is_found_explained_fixed_and_the_next_run_is_clean(
    store: SqlStore, shop: Shop, target: ChannelTarget
) -> None:
    await onboarded(store)
    shop.emulator.set_quantity("CAP", 50)  # edited by hand in the back office

    found = (await reconciler(store).run([target])).channels[0]
    assert [(f.sku, f.kind, f.wanted, f.figure, f.shown) for f in found.differences] == [
        ("CAP", FindingKind.HAND_EDIT, 5, 50, 5)
    ]
    assert "changed outside syncd" in found.differences[0].explain()
    assert found.compared == 4 and found.fixed == 0
    assert shop.emulator.quantity("CAP") == 50  # a dry run writes nothing

    fixed = (await reconciler(store, fix=True, push=True).run([target])).channels[0]
    assert fixed.fixed == 1 and fixed.pushed == 1
    assert shop.emulator.quantity("CAP") == 5
    assert (await store.outbox_stats()).get("webshop") is None

    clean = (await reconciler(store).run([target])).channels[0]
    assert clean.differences == [] and clean.in_flight == 0 and clean.compared == 4


@pytest.mark.parametrize("mode", ["adopt", "report"])
async def test_a_hand_edit_is_adopted_or_reported_by_a_fix(
    store: SqlStore, shop: Shop, mode: str
) -> None:
    """hand_edits adopt: the fix books "edited in webshop: +45" and leaves the shop alone;
    report: a conflict, nothing booked, nothing written."""
    from syncd.connectors.prestashop.connector import PrestaShopConnector

    await onboarded(store)
    await store.register_channels([ChannelInfo("webshop", "prestashop"), ChannelInfo("b", "x")])
    await store.record_shown("b", FIGURES)
    settings = channel_settings(shop, hand_edits=mode)
    connector = PrestaShopConnector("webshop", settings.options)
    await connector.open()
    try:
        target = ChannelTarget(settings, connector)
        shop.emulator.set_quantity("CAP", 50)  # the merchant books a delivery in the back office
        report = (await reconciler(store, fix=True, push=True).run([target])).channels[0]
        assert shop.emulator.quantity("CAP") == 50  # never written over
        adjustments = [
            (m.sku, m.delta, m.reason.value)
            for m in await store.movements(channel="stock")
            if m.reason.value == "hand_edit"
        ]
        conflicts = [(c.kind.value, c.sku) for c in await store.conflicts()]
        if mode == "adopt":
            assert report.adopted == 1 and adjustments == [("CAP", 45, "hand_edit")]
            assert await store.levels(["CAP"]) == {"CAP": 50}
            # the other channel is queued the new figure; the edited one needs nothing
            queued = {(i.channel, i.sku, i.wanted) for i in await store.take_outbox("b", 10)}
            assert queued == {("b", "CAP", 50)}
            assert await store.take_outbox("webshop", 10) == []
        else:
            assert report.reported_edits == 1 and adjustments == []
            assert conflicts == [("hand_edit", "CAP")]
            assert await store.levels(["CAP"]) == {"CAP": 5}
        again = (await reconciler(store, fix=True, push=True).run([target])).channels[0]
        if mode == "adopt":
            assert again.differences == [] and again.adopted == 0
    finally:
        await connector.close()


async def test_a_push_still_in_the_outbox_is_not_drift(
    store: SqlStore, shop: Shop, target: ChannelTarget
) -> None:
    await onboarded(store)
    # A till sale: the ledger wants the shop at 4, the push has not happened yet.
    await store.apply_document(
        Document("till", "t1", DocumentKind.TILL_RECEIPT, {"CAP": 1}, T0, version=1)
    )
    assert (await store.outbox_stats())["webshop"].depth == 1
    report = (await reconciler(store, fix=True).run([target])).channels[0]
    assert report.differences == [] and report.in_flight == 1
    assert shop.emulator.quantity("CAP") == 5  # left to the pusher


async def test_drift_found_again_right_after_a_fix_is_a_conflict(
    store: SqlStore, shop: Shop, target: ChannelTarget
) -> None:
    await onboarded(store)
    shop.emulator.set_quantity("SHIRT-BLUE-44", 9)
    options = {"fix": True, "push": True, "record_conflicts": True}
    await reconciler(store, **options).run([target])
    assert shop.emulator.quantity("SHIRT-BLUE-44") == 1
    assert await store.conflicts() == []
    shop.emulator.set_quantity("SHIRT-BLUE-44", 9)  # something keeps putting it back
    report = (await reconciler(store, **options).run([target])).channels[0]
    assert report.drift_again == 1
    (conflict,) = await store.conflicts()
    assert conflict.kind is ConflictKind.DRIFT_AGAIN
    assert (conflict.sku, conflict.channel) == ("SHIRT-BLUE-44", "webshop")
    assert conflict.detail["previous_figure"] == 9
    # clean next time: the remembered fix is forgotten, a later edit is plain drift again
    await reconciler(store, **options).run([target])
    shop.emulator.set_quantity("SHIRT-BLUE-44", 7)
    later = (await reconciler(store, **options).run([target])).channels[0]
    assert later.drift_again == 0 and len(await store.conflicts()) == 1


async def _movements_of(store: SqlStore, doc_id: str) -> int:
    return len(
        [m for m in await store.movements(channel="webshop", limit=1000) if m.doc_id == doc_id]
    )


async def test_an_order_the_pull_missed_is_found_by_its_id_and_applied_once(
    store: SqlStore, shop: Shop, target: ChannelTarget
) -> None:
    await onboarded(store)
    first = shop.emulator.create_order({"CAP": 1})
    applied = await pull_into(
        store, target.connector, "webshop", await store.cursors("webshop"), store_cursors=True
    )
    assert applied == 1 and await store.cursors("webshop")
    # An order the shop dates two days back (restored, imported, a clock off): the cursor is
    # past it, so the daemon's pull will never see it.
    late = shop.emulator.create_order({"SHIRT-BLUE-42": 1})
    old = (datetime.now(shop.emulator.zone) - timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
    shop.emulator.orders[late].date_upd = old
    shop.emulator.orders[late].date_add = old
    assert await pull_into(store, target.connector, "webshop", await store.cursors("webshop")) == 0

    report = (await reconciler(store).run([target])).channels[0]
    missed = [f for f in report.differences if f.kind is FindingKind.MISSED_ORDER]
    assert [(f.sku, f.detail["applied"]) for f in missed] == [(str(late), True)]
    assert await store.levels(["SHIRT-BLUE-42", "CAP"]) == {"SHIRT-BLUE-42": 2, "CAP": 4}
    assert [f for f in report.differences if f.kind is not FindingKind.MISSED_ORDER] == []
    again = (await reconciler(store).run([target])).channels[0]
    assert again.differences == []
    assert await _movements_of(store, str(late)) == 1
    assert await _movements_of(store, str(first)) == 1


class PagedConnector(Connector):
    """A channel read in pages of two, which fails after ``fail_after`` pages while set."""

    type: ClassVar[str] = "paged"
    figures: ClassVar[dict[str, int]] = {}
    fail_after: ClassVar[int | None] = None
    compared_pages: ClassVar[int] = 0

    @classmethod
    def parse_settings(
        cls, table: Mapping[str, Any], *, file: str, prefix: str
    ) -> tuple[Any, list[ConfigIssue]]:
        return dict(table), []

    async def read_levels(
        self, skus: Sequence[str] | None = None
    ) -> AsyncIterator[list[ChannelLevel]]:
        items = sorted(self.figures.items())
        for page, first in enumerate(range(0, len(items), 2)):
            if self.fail_after is not None and page >= self.fail_after:
                raise RetriableError("HTTP 503 while reading", channel=self.name)
            yield [ChannelLevel(s, q) for s, q in items[first : first + 2]]


async def test_a_crashed_run_is_resumed_where_it_stopped(store: SqlStore) -> None:
    skus = {f"SKU-{i:02d}": 10 for i in range(8)}
    await store.register_channels([ChannelInfo("paged", "paged")])
    await store.upsert_products([Product(s) for s in skus])
    await store.apply_document(Document("init", "count", DocumentKind.STOCK_COUNT, skus, T0))
    await store.record_shown("paged", skus)
    PagedConnector.figures = {**skus, "SKU-00": 3, "SKU-06": 4}
    PagedConnector.fail_after = 3
    from syncd.config import ChannelSettings

    settings = ChannelSettings("paged", "paged", {}, pull=False)
    target = ChannelTarget(settings, PagedConnector("paged", {}))

    crashed = await reconciler(store, resume_idle_seconds=0).run([target])
    assert crashed.failed and "503" in crashed.channels[0].error
    PagedConnector.fail_after = None
    resumed = await reconciler(store, resume_idle_seconds=0).run([target])
    assert resumed.resumed and resumed.run_id == crashed.run_id
    channel = resumed.channels[0]
    assert channel.resumed and channel.error == ""
    # pages 1-3 were compared before the crash (SKU-00 found then), page 4 after the resume
    assert channel.compared == 2
    assert sorted(f.sku for f in channel.differences) == ["SKU-00", "SKU-06"]
    fresh = await reconciler(store, resume_idle_seconds=0).run([target])
    assert not fresh.resumed and fresh.run_id != crashed.run_id
    assert fresh.channels[0].compared == 8
