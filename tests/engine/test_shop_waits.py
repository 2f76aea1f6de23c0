"""The shop calls a push waits on are tagged "push" (syncd.connectors.http.WAITING_FOR), so that
`bench latency --own-overhead` tells the shop's time from syncd's: the push's own calls, and the
edit check's reads of the shop, made while it holds the channel's pushes back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest

from syncd.config import SyncSettings, parse_config
from syncd.connectors.base import ChannelLevel, PushItem, PushResult
from syncd.connectors.http import WAITING_FOR
from syncd.domain import Document, DocumentKind
from syncd.engine.channel import ChannelRunner
from syncd.events import EventFeed
from syncd.ledger.sqlite import SqliteStore
from syncd.testing import FakeChannel, FakeConnector, registered


class TaggedShop(FakeConnector):
    """A fake shop that remembers what each of its calls was tagged for."""

    tags: ClassVar[list[tuple[str, str]]] = []

    async def push(self, items: Sequence[PushItem]) -> list[PushResult]:
        self.tags.append(("push", WAITING_FOR.get()))
        return await super().push(items)

    async def read_levels(
        self, skus: Sequence[str] | None = None
    ) -> AsyncIterator[list[ChannelLevel]]:
        self.tags.append(("read", WAITING_FOR.get()))
        async for page in super().read_levels(skus):
            yield page


@pytest.fixture
def shop_type() -> Iterator[type[TaggedShop]]:
    with registered(TaggedShop) as cls:
        yield cls


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = await SqliteStore(tmp_path / "l.sqlite3", strict_skus=False).open()
    yield s
    await s.close()


def runner(
    cls: type[TaggedShop], store: SqliteStore, mode: str
) -> tuple[ChannelRunner, TaggedShop]:
    table = {"type": "fake", "hand_edits": mode}
    settings = parse_config({"channels": {"shop": table}}, file="t.toml").channel("shop")
    cls.channels["shop"] = FakeChannel(figures={"CAP": 5})
    cls.tags = []
    shop = cls("shop", settings.options)
    return ChannelRunner(settings, shop, store, SyncSettings(), EventFeed()), shop


@pytest.mark.parametrize("mode", ["adopt", "report"])
async def test_the_edit_checks_reads_are_the_push_waits_on_the_shop(
    shop_type: type[TaggedShop], store: SqliteStore, mode: str
) -> None:
    run, shop = runner(shop_type, store, mode)
    shop.sell(Document("shop", "o1", DocumentKind.WEB_ORDER, {"CAP": 1}, datetime.now(UTC)))
    assert await run.pull_once() == 1
    # Read back under the push lock: a push waits on that read's answer (and throttle).
    assert ("read", "push") in shop.tags
    await run.push_once()
    assert all(tag == "push" for _, tag in shop.tags)
    assert WAITING_FOR.get() == ""  # nothing leaks into the caller's context


async def test_a_read_back_without_the_push_lock_is_not_a_push_wait(
    shop_type: type[TaggedShop], store: SqliteStore
) -> None:
    """hand_edits = "revert" reads back without holding pushes: not the push's wait."""
    run, shop = runner(shop_type, store, "revert")
    shop.sell(Document("shop", "o1", DocumentKind.WEB_ORDER, {"CAP": 1}, datetime.now(UTC)))
    assert await run.pull_once() == 1
    assert ("read", "") in shop.tags
