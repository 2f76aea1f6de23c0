"""A real daemon (fake channels in memory, a real ledger; the shared ``start_daemon`` fixture)
behind the status page's app, served by aiohttp's test server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from syncd.cli.run import ServedDaemon
from syncd.config import Secret, WebSettings
from syncd.domain import Document, DocumentKind
from syncd.testing import FakeChannel, FakeConnector
from syncd.testing.daemon import settings_for as fake_settings
from syncd.testing.harness import until
from syncd.web import create_app
from tests.conftest import DaemonStarter

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


DEFAULTS: dict[str, Any] = {
    "sync": {
        "degraded_after_failures": 1,
        "retry_max_seconds": 1,
        "outbox_poll_seconds": 1,
        "grace_seconds": 1,
    },
    # hand_edits = "revert": these fake sales are stamped T0, a fixed past time, so the guard
    # that tells our own lost update from a back-office edit (by the order's time, as real shops
    # stamp it) cannot recognise a sale made while the opening push is in flight.
    "channels": {
        "till": {"type": "fake", "poll_seconds": 0.1, "hand_edits": "revert"},
        "webshop": {
            "type": "fake",
            "poll_seconds": 0.1,
            "max_lag_seconds": 2,
            "hand_edits": "revert",
        },
    },
}


def settings_for(tmp_path: Path, ledger: tuple[str, str], **extra: Any) -> Any:
    return fake_settings(tmp_path, DEFAULTS, ledger=ledger, **extra)


def sale(channel: str, doc_id: str, lines: dict[str, int]) -> Document:
    kind = DocumentKind.TILL_RECEIPT if channel == "till" else DocumentKind.WEB_ORDER
    return Document(channel, doc_id, kind, lines, T0, version=1, reference=doc_id)


@pytest.fixture
def channels(fake_connector: type[FakeConnector]) -> dict[str, FakeChannel]:
    fake_connector.channels["till"] = FakeChannel(figures={"SHIRT-44": 1, "CAP": 5})
    fake_connector.channels["webshop"] = FakeChannel(figures={"SHIRT-44": 1, "CAP": 5})
    return fake_connector.channels


@pytest.fixture(params=["sqlite"])
def ledger(request: pytest.FixtureRequest) -> tuple[str, str]:
    """The web tests read the ledger through the Store protocol; sqlite unless asked otherwise."""
    if request.param == "postgres":
        return ("postgres", request.getfixturevalue("pg_dsn"))
    return ("sqlite", "")


@pytest.fixture
async def daemon(
    tmp_path: Path,
    channels: dict[str, FakeChannel],
    ledger: tuple[str, str],
    start_daemon: DaemonStarter,
) -> ServedDaemon:
    return await start_daemon(settings_for(tmp_path, ledger))


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
