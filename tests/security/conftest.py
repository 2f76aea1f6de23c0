"""A running daemon (`ServedDaemon.start()` with its web endpoints on a real socket, fake channels, a
real SQLite ledger, a config file on disk) for the attacks of tests/security, with its log lines
captured as JSON."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from syncd.cli.run import ServedDaemon
from syncd.config import load_config
from syncd.domain import Document, DocumentKind
from syncd.logs import configure_logging
from syncd.testing import FakeChannel, FakeConnector
from syncd.testing.harness import until
from syncd.testing.harness import write_config as write_toml
from tests.conftest import DaemonStarter

PASSWORD = "correct horse battery staple"
HOOK_SECRET = "hook-s3cret-0123456789"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@dataclass
class Site:
    """One daemon under attack: its address, config file, captured log and HTTP sessions."""

    daemon: ServedDaemon
    config: Path
    password_file: Path | None
    logs: io.StringIO
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)

    @property
    def port(self) -> int:
        assert self.daemon.web_port is not None
        return self.daemon.web_port

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def session(self, **kwargs: Any) -> aiohttp.ClientSession:
        """A browser-like client that keeps cookies (also for an IP address)."""
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), **kwargs)
        self.sessions.append(http)
        return http

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        found = []
        for line in self.logs.getvalue().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if name is None or event.get("event") == name:
                found.append(event)
        return found

    def seller(self, channel: str) -> FakeConnector:
        connector = self.daemon.runners[channel].connector
        assert isinstance(connector, FakeConnector)
        return connector


SiteFactory = Callable[..., Awaitable[Site]]


@pytest.fixture
def channels(fake_connector: type[FakeConnector]) -> dict[str, FakeChannel]:
    fake_connector.channels["till"] = FakeChannel(figures={"SHIRT-44": 1, "CAP": 5})
    fake_connector.channels["webshop"] = FakeChannel(figures={"SHIRT-44": 1, "CAP": 5})
    return fake_connector.channels


def write_config(
    tmp_path: Path,
    *,
    password: str | None,
    web: dict[str, Any] | None = None,
    webshop: dict[str, Any] | None = None,
) -> tuple[Path, Path | None]:
    password_file = None
    web_table: dict[str, Any] = {"enabled": True, "host": "127.0.0.1", "port": 0}
    if password is not None:
        password_file = tmp_path / "web.password"
        password_file.write_text(password + "\n", encoding="utf-8")
        password_file.chmod(0o600)
        web_table["password_file"] = str(password_file)
    web_table.update(web or {})
    data: dict[str, Any] = {
        "ledger": {"backend": "sqlite", "path": str(tmp_path / "ledger.sqlite3")},
        "sync": {"retry_max_seconds": 1, "outbox_poll_seconds": 1, "grace_seconds": 1},
        "web": web_table,
        "reconcile": {"enabled": False},
        "channels": {
            "till": {"type": "fake", "poll_seconds": 0.2},
            "webshop": {
                "type": "fake",
                "poll_seconds": 3600,  # pulls only when nudged: a webhook's effect is countable
                "webhook_secret": HOOK_SECRET,
                **(webshop or {}),
            },
        },
    }
    return write_toml(tmp_path / "syncd.toml", data), password_file


@pytest.fixture
async def start_site(
    tmp_path: Path, channels: dict[str, FakeChannel], start_daemon: DaemonStarter
) -> AsyncIterator[SiteFactory]:
    """``await start_site(password=…, web={…}, webshop={…})``: a started daemon (stopped by
    ``start_daemon`` after the test)."""
    sites: list[Site] = []
    logs = io.StringIO()
    configure_logging("info", "json", stream=logs)

    async def factory(
        *,
        password: str | None = PASSWORD,
        web: dict[str, Any] | None = None,
        webshop: dict[str, Any] | None = None,
        routes: list[Callable[[web.Application], None]] | None = None,
    ) -> Site:
        config, password_file = write_config(tmp_path, password=password, web=web, webshop=webshop)
        daemon = await start_daemon(load_config(config), routes=routes or [])
        site = Site(daemon, config, password_file, logs)
        sites.append(site)
        return site

    try:
        yield factory
    finally:
        for site in sites:
            for http in site.sessions:
                await http.close()
            await (
                site.daemon.stop()
            )  # before the log capture ends (start_daemon's stop is then a no-op)
        configure_logging("info", "json")


def sale(channel: str, doc_id: str, lines: dict[str, int]) -> Document:
    kind = DocumentKind.TILL_RECEIPT if channel == "till" else DocumentKind.WEB_ORDER
    return Document(channel, doc_id, kind, lines, T0, version=1, reference=doc_id)


async def oversell(site: Site) -> int:
    """The last shirt sold at the till and online: one open conflict; returns its id."""
    site.seller("till").sell(sale("till", "4-1001", {"SHIRT-44": 1}))
    site.seller("webshop").sell(sale("webshop", "XKBKNABJK", {"SHIRT-44": 1}))
    store = site.daemon.store
    assert store is not None

    async def found() -> bool:
        return bool(await store.conflicts())

    await until(found)
    return (await store.conflicts())[0].id
