"""A hypothesis state machine drives both stores against a pure in-memory model of the rules."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from syncd.domain import Document, DocumentKind
from syncd.ledger import ChannelInfo
from syncd.ledger.postgres import PostgresStore
from syncd.ledger.sqlite import SqliteStore
from syncd.ledger.sqlstore import SqlStore

SKUS = ["A", "B", "C"]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
TABLES = (
    "channels, products, sku_aliases, documents, document_lines, movements, levels, buffers, "
    "channel_levels, outbox, cursors, conflicts, rejections, locations, location_levels"
)

lines_strategy = st.dictionaries(st.sampled_from(SKUS), st.integers(0, 4), min_size=1, max_size=3)


class LedgerMachine(RuleBasedStateMachine):
    backend: str = "sqlite"
    dsn: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = tempfile.TemporaryDirectory()
        if self.backend == "postgres":
            self.run(self._truncate())
        self.store = self.run(self._open())
        self.run(
            self.store.register_channels(
                [ChannelInfo("till", "csv_till"), ChannelInfo("web", "prestashop")]
            )
        )
        self.on_hand: dict[str, int] = {}
        self.orders: dict[
            str, tuple[int, dict[str, int], bool]
        ] = {}  # id → version, lines, cancelled
        self.sent: list[Document] = []
        self.counter = 0

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def _truncate(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY")
        finally:
            await conn.close()

    async def _open(self) -> SqlStore:
        if self.backend == "postgres":
            return await PostgresStore(self.dsn, strict_skus=False).open(listen=False)
        return await SqliteStore(Path(self.tmp.name) / "l.sqlite3", strict_skus=False).open()

    def teardown(self) -> None:
        self.run(self.store.close())
        self.loop.close()
        self.tmp.cleanup()

    def _new_id(self) -> str:
        self.counter += 1
        return str(self.counter)

    def _apply(self, doc: Document) -> None:
        self.run(self.store.apply_document(doc))
        self.sent.append(doc)

    def _move(self, lines: dict[str, int], sign: int) -> None:
        for sku, qty in lines.items():
            self.on_hand[sku] = self.on_hand.get(sku, 0) + sign * qty

    @rule(lines=lines_strategy)
    def till_sale(self, lines: dict[str, int]) -> None:
        self._apply(Document("till", self._new_id(), DocumentKind.TILL_RECEIPT, lines, T0))
        self._move(lines, -1)

    @rule(lines=lines_strategy)
    def goods_receipt(self, lines: dict[str, int]) -> None:
        self._apply(Document("office", self._new_id(), DocumentKind.GOODS_RECEIPT, lines, T0))
        self._move(lines, +1)

    @rule(lines=lines_strategy)
    def web_order(self, lines: dict[str, int]) -> None:
        doc_id = self._new_id()
        self._apply(Document("web", doc_id, DocumentKind.WEB_ORDER, lines, T0, version=1))
        self.orders[doc_id] = (1, dict(lines), False)
        self._move(lines, -1)

    @precondition(lambda self: any(not c for _, _, c in self.orders.values()))
    @rule(data=st.data(), new_lines=lines_strategy)
    def edit_order(self, data: st.DataObject, new_lines: dict[str, int]) -> None:
        open_ids = sorted(k for k, (_, _, c) in self.orders.items() if not c)
        doc_id = data.draw(st.sampled_from(open_ids))
        version, old, _ = self.orders[doc_id]
        merged = {sku: new_lines.get(sku, 0) for sku in set(old) | set(new_lines)}
        self._apply(
            Document("web", doc_id, DocumentKind.WEB_ORDER, merged, T0, version=version + 1)
        )
        self._move(old, +1)
        self._move(merged, -1)
        self.orders[doc_id] = (version + 1, merged, False)

    @precondition(lambda self: any(not c for _, _, c in self.orders.values()))
    @rule(data=st.data())
    def cancel_order(self, data: st.DataObject) -> None:
        open_ids = sorted(k for k, (_, _, c) in self.orders.items() if not c)
        doc_id = data.draw(st.sampled_from(open_ids))
        version, old, _ = self.orders[doc_id]
        zero = dict.fromkeys(old, 0)
        doc = Document(
            "web", doc_id, DocumentKind.WEB_ORDER, zero, T0, version=version + 1, cancelled=True
        )
        self._apply(doc)
        self._move(old, +1)
        self.orders[doc_id] = (version + 1, zero, True)

    @precondition(lambda self: bool(self.orders))
    @rule(data=st.data(), lines=lines_strategy)
    def stale_version(self, data: st.DataObject, lines: dict[str, int]) -> None:
        doc_id = data.draw(st.sampled_from(sorted(self.orders)))
        version = self.orders[doc_id][0]
        self.run(
            self.store.apply_document(
                Document("web", doc_id, DocumentKind.WEB_ORDER, lines, T0, version=version - 1)
            )
        )

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def duplicate(self, data: st.DataObject) -> None:
        doc = data.draw(st.sampled_from(self.sent[-10:]))
        if doc.kind is DocumentKind.WEB_ORDER and self.orders[doc.doc_id][0] != doc.version:
            return  # an older version: covered by stale_version
        self.run(self.store.apply_document(doc))

    @rule(sku=st.sampled_from(SKUS), counted=st.integers(0, 20))
    def stock_count(self, sku: str, counted: int) -> None:
        self._apply(
            Document("office", self._new_id(), DocumentKind.STOCK_COUNT, {sku: counted}, T0)
        )
        self.on_hand[sku] = counted

    @rule()
    def restart(self) -> None:
        self.run(self.store.close())
        self.store = self.run(self._open())

    @invariant()
    def levels_match_the_model(self) -> None:
        levels = self.run(self.store.levels())
        expected = dict(self.on_hand)
        assert {k: v for k, v in levels.items() if k in expected} == expected
        assert all(v == 0 for k, v in levels.items() if k not in expected)
        _, total = self.run(self.store.movement_totals())
        assert total == sum(self.on_hand.values())

    @invariant()
    def every_changed_sku_is_queued_for_every_channel(self) -> None:
        for channel in ("till", "web"):
            items = {i.sku: i.wanted for i in self.run(self.store.take_outbox(channel, 100))}
            for sku, qty in self.on_hand.items():
                if qty != 0:
                    assert sku in items, (channel, sku)
                if sku in items:
                    assert items[sku] == max(0, qty)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_ledger_agrees_with_the_model(backend: str, request: pytest.FixtureRequest) -> None:
    LedgerMachine.backend = backend
    LedgerMachine.dsn = request.getfixturevalue("pg_dsn") if backend == "postgres" else ""
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=20 if backend == "sqlite" else 12,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
