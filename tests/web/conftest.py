"""A real daemon (fake channels in memory, a real ledger) behind the status page's app, served by
aiohttp's test server on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from syncd.cli.run import ServedDaemon
from syncd.config import Secret, WebSettings, parse_config
from syncd.connectors import register_connector
from syncd.domain import Document, DocumentKind
from syncd.ledger import Product
from syncd.testing import FakeChannel, FakeConnector
from syncd.web import create_app

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"
register_connector(FakeConnector)

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def settings_for(tmp_path: Path, ledger: tuple[str, str], **extra: Any) -> Any:
    backend, dsn = ledger
    data: dict[str, Any] = {
        "ledger": (
            {"backend": "sqlite", "path": str(tmp_path / "ledger.sqlite3")}
            if backend == "sqlite"
            else {"backend": "postgres", "dsn": dsn}
        ),
        "sync": {
            "degraded_after_failures": 1,
            "retry_max_seconds": 1,
            "outbox_poll_seconds": 1,
            "grace_seconds": 1,
        },
        "web": {"enabled": False},
        "channels": {
            "till": {"type": "fake", "poll_seconds": 0.1},
            "webshop": {"type": "fake", "poll_seconds": 0.1, "max_lag_seconds": 2},
        },
    }
    for key, value in extra.items():
        data[key] = {**data.get(key, {}), **value}
    return parse_config(data, file=str(tmp_path / "syncd.toml"))


def sale(channel: str, doc_id: str, lines: dict[str, int]) -> Document:
    kind = DocumentKind.TILL_RECEIPT if channel == "till" else DocumentKind.WEB_ORDER
    return Document(channel, doc_id, kind, lines, T0, version=1, reference=doc_id)


async def until(check: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await _truthy(check()):
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def _truthy(value: Any) -> bool:
    if asyncio.iscoroutine(value):
        value = await value
    return bool(value)


@pytest.fixture
async def channels() -> AsyncIterator[dict[str, FakeChannel]]:
    FakeConnector.channels.clear()
    FakeConnector.channels["till"] = FakeChannel(figures={"SHIRT-44": 1, "CAP": 5})
    FakeConnector.channels["webshop"] = FakeChannel(figures={"SHIRT-44": 1, "CAP": 5})
    yield FakeConnector.channels
    FakeConnector.channels.clear()


@pytest.fixture(params=["sqlite"])
def ledger(request: pytest.FixtureRequest) -> tuple[str, str]:
    """The web tests read the ledger through the Store protocol; sqlite unless asked otherwise."""
    if request.param == "postgres":
        return ("postgres", request.getfixturevalue("pg_dsn"))
    return ("sqlite", "")


@pytest.fixture
async def daemon(
    tmp_path: Path, channels: dict[str, FakeChannel], ledger: tuple[str, str]
) -> AsyncIterator[ServedDaemon]:
    d = ServedDaemon(settings_for(tmp_path, ledger))
    await d.start()
    assert d.store is not None
    await d.store.upsert_products([Product("SHIRT-44", "Blue shirt 44"), Product("CAP", "Cap")])
    await d.store.apply_document(
        Document("init", "opening", DocumentKind.STOCK_COUNT, {"SHIRT-44": 1, "CAP": 5}, T0)
    )
    try:
        yield d
    finally:
        await d.stop()


@pytest.fixture
async def make_client(daemon: ServedDaemon) -> AsyncIterator[ClientFactory]:
    clients: list[TestClient[Any, Any]] = []

    async def factory(
        *, host: str = "127.0.0.1", password: str | None = None, **web: Any
    ) -> TestClient[Any, Any]:
        settings = WebSettings(
            host=host,
            port=0,
            password=None if password is None else Secret(password, source="test"),
            **web,
        )
        app = create_app(daemon, settings=settings, sample_seconds=0.2)
        client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


async def settled(daemon: ServedDaemon) -> None:
    """Every channel in sync and nothing waiting in the outbox."""
    store = daemon.store
    assert store is not None

    async def quiet() -> bool:
        in_sync = all(r.status.state.value == "in_sync" for r in daemon.runners.values())
        return in_sync and not await store.outbox_stats()

    await until(quiet)
