"""Fakes that implement the real interfaces, for unit tests of the engine; they record calls.

:class:`FakeConnector` is a channel held in memory: tests add documents to it as the channel's
own sales, read back what was pushed, and switch failures on and off. :func:`registered` makes
a fake connector type known for one test, with state of its own (see the ``fake_connector``
fixture in tests/conftest.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar, cast

from syncd.connectors import connector_class, register_connector, unregister_connector
from syncd.connectors.base import (
    Batch,
    ChannelLevel,
    ConfigIssue,
    Connector,
    PushItem,
    PushResult,
    PushStatus,
)
from syncd.domain import Document
from syncd.exceptions import ConnectorError


@dataclass
class FakeChannel:
    """The state of a fake channel: its figures, its documents, what happened to it."""

    figures: dict[str, int] = field(default_factory=dict)
    documents: list[Document] = field(default_factory=list)
    pushes: list[list[PushItem]] = field(default_factory=list)
    pulls: int = 0
    fail_push: ConnectorError | None = None  # raised by every push while set
    fail_pull: ConnectorError | None = None
    fail_check: ConnectorError | None = None
    lose_answers: ConnectorError | None = None  # raised by every push after it has written
    push_delay: float = 0.0
    answer_delay: float = 0.0  # after a push has written, before its answer arrives
    reads: int = 0  # pushes that have read the figures (then wait push_delay, then write)
    read_gate: asyncio.Event | None = None  # while set and not set(), a read of levels waits
    fail_read: ConnectorError | None = None  # raised by every read of levels while set


class FakeConnector(Connector[dict[str, Any]]):
    """A channel in memory. Its documents are its own sales: they lower its figures at once,
    like a shop does; ``pull`` returns documents after the cursor ``"seq"``."""

    type: ClassVar[str] = "fake"
    channels: ClassVar[dict[str, FakeChannel]] = {}

    @classmethod
    def parse_settings(
        cls, table: Mapping[str, Any], *, file: str, prefix: str
    ) -> tuple[dict[str, Any] | None, list[ConfigIssue]]:
        return dict(table), []

    @property
    def state(self) -> FakeChannel:
        return self.channels.setdefault(self.name, FakeChannel())

    def sell(self, document: Document) -> None:
        """The channel's own sale: recorded for the next pull, its figures lowered now."""
        self.state.documents.append(document)
        for sku, qty in document.lines.items():
            self.state.figures[sku] = self.state.figures.get(sku, 0) - qty
        self.nudge()

    async def check(self) -> None:
        if self.state.fail_check is not None:
            raise self.state.fail_check

    async def pull(self, cursors: Mapping[str, str]) -> AsyncIterator[Batch]:
        state = self.state
        state.pulls += 1
        if state.fail_pull is not None:
            raise state.fail_pull
        start = int(cursors.get("seq", "0"))
        docs = state.documents[start:]
        if docs:
            yield Batch(documents=docs, cursors={"seq": str(start + len(docs))})

    async def push(self, items: Sequence[PushItem]) -> list[PushResult]:
        """Read each figure, wait ``push_delay``, then write: like a shop without
        compare-and-set, a sale landing in between is overwritten. Defers like the real
        connectors (syncd/connectors/prestashop: lower than last_known; higher, when asked)."""
        state = self.state
        if state.fail_push is not None:
            raise state.fail_push
        read = {item.sku: state.figures.get(item.sku) for item in items}
        state.reads += 1
        if state.push_delay:
            await asyncio.sleep(state.push_delay)
        state.pushes.append(list(items))
        results = []
        for item in items:
            current = read[item.sku]
            if (
                item.last_known is not None
                and current is not None
                and current < item.last_known
                and not item.force
            ):
                self.nudge()
                results.append(PushResult(item.sku, PushStatus.DEFERRED, observed=current))
                continue
            if (
                item.defer_higher
                and item.last_known is not None
                and current is not None
                and item.last_known < current != item.available
                and not item.force
            ):
                self.nudge()
                results.append(PushResult(item.sku, PushStatus.DEFERRED, observed=current))
                continue
            state.figures[item.sku] = item.available
            results.append(PushResult(item.sku, PushStatus.WRITTEN, shown=item.available))
        if state.answer_delay:
            await asyncio.sleep(state.answer_delay)
        if state.lose_answers is not None:
            raise state.lose_answers  # written, but the answer never arrives
        return results

    async def read_levels(
        self, skus: Sequence[str] | None = None
    ) -> AsyncIterator[list[ChannelLevel]]:
        if self.state.read_gate is not None:
            await self.state.read_gate.wait()
        if self.state.fail_read is not None:
            raise self.state.fail_read
        wanted = (
            self.state.figures if skus is None else {s: self.state.figures.get(s, 0) for s in skus}
        )
        yield [ChannelLevel(sku, qty) for sku, qty in sorted(wanted.items())]


async def collect_documents(connector: Connector[Any], cursors: dict[str, str]) -> list[Document]:
    """Every document a pull yields, advancing ``cursors`` as the engine would after commits."""
    documents: list[Document] = []
    async for batch in connector.pull(cursors):
        documents.extend(batch.documents)
        cursors.update(batch.cursors)
    return documents


F = TypeVar("F", bound=FakeConnector)


@contextmanager
def registered(cls: type[F]) -> Iterator[type[F]]:
    """A subclass of ``cls`` registered under ``cls.type`` for the block, with fresh class-level
    dicts (``channels`` and any a subclass adds), so no state leaks from one test to the next;
    the type it replaced, if any, is registered again after."""
    state: dict[str, Any] = {
        name: {}
        for klass in cls.__mro__
        if issubclass(klass, FakeConnector)
        for name, value in vars(klass).items()
        if isinstance(value, dict) and not name.startswith("_")
    }
    fresh = cast(type[F], type(cls.__name__, (cls,), state))
    try:
        previous: type[Connector[Any]] | None = connector_class(cls.type)
    except KeyError:
        previous = None
    register_connector(fresh)
    try:
        yield fresh
    finally:
        unregister_connector(cls.type)
        if previous is not None:
            register_connector(previous)
