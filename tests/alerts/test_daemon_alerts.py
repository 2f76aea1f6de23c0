"""The alert loop inside the daemon (fake channels, real SQLite ledger, real SMTP server, real
status page): bad SMTP credentials show on the page and in the log, and nothing else stops."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog

from syncd.cli.run import ServedDaemon
from syncd.config import parse_config
from syncd.domain import Document, DocumentKind
from syncd.ledger import Product
from syncd.logs import configure_logging
from syncd.testing import FakeChannel, FakeConnector
from syncd.testing.harness import until
from tests.alerts.conftest import PASSWORD, USER, SmtpServer

T0 = datetime(2026, 11, 23, 10, 2, tzinfo=UTC)


@pytest.fixture
def channels(fake_connector: type[FakeConnector]) -> dict[str, FakeChannel]:
    fake_connector.channels["till"] = FakeChannel(figures={"SHIRT-44": 1})
    fake_connector.channels["shop"] = FakeChannel(figures={"SHIRT-44": 1})
    return fake_connector.channels


def sale(channel: str, doc_id: str) -> Document:
    kind = DocumentKind.TILL_RECEIPT if channel == "till" else DocumentKind.WEB_ORDER
    return Document(channel, doc_id, kind, {"SHIRT-44": 1}, T0, version=1, reference=doc_id)


async def test_bad_smtp_credentials_show_on_the_status_page_and_in_the_log_once(
    tmp_path: Path, channels: dict[str, FakeChannel], smtp_auth: SmtpServer
) -> None:
    (tmp_path / "smtp.password").write_text("wrong-smtp-password\n", encoding="utf-8")
    settings = parse_config(
        {
            "ledger": {"backend": "sqlite", "path": str(tmp_path / "ledger.sqlite3")},
            "sync": {"grace_seconds": 1, "outbox_poll_seconds": 1},
            "web": {"enabled": True, "port": 0},
            "channels": {
                "till": {"type": "fake", "poll_seconds": 0.1},
                "shop": {"type": "fake", "poll_seconds": 0.1},
            },
            "alerts": {
                "to": ["shop@example.com"],
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp_auth.port,
                "smtp_security": "none",
                "smtp_username": USER,
                "smtp_password_file": "smtp.password",
                "poll_seconds": 0.1,
                "digest_time": "",
            },
        },
        file=str(tmp_path / "syncd.toml"),
    )
    log = io.StringIO()
    configure_logging("info", "json", stream=log)
    daemon = ServedDaemon(settings)
    await daemon.start()
    try:
        assert daemon.store is not None and daemon.alerts is not None
        await daemon.store.upsert_products([Product("SHIRT-44", "Blue shirt 44")])
        await daemon.store.apply_document(
            Document("init", "opening", DocumentKind.STOCK_COUNT, {"SHIRT-44": 1}, T0)
        )
        till, shop = (daemon.runners[n].connector for n in ("till", "shop"))
        assert isinstance(till, FakeConnector) and isinstance(shop, FakeConnector)
        till.sell(sale("till", "4-10378"))
        shop.sell(sale("shop", "1042"))
        alerts = daemon.alerts
        await until(lambda: alerts.status.state == "failing")
        await asyncio.sleep(1)  # more rounds of the loop: still one log line, no loop
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{daemon.web_port}/api/overview") as resp,
        ):
            assert resp.status == 200
            page: dict[str, Any] = await resp.json()
        # the sale still reached both channels: mail never blocks the ledger or the sync
        assert channels["till"].figures["SHIRT-44"] == 0
        assert channels["shop"].figures["SHIRT-44"] == 0
        # the right password is written to the credential file: no restart needed
        (tmp_path / "smtp.password").write_text(PASSWORD, encoding="utf-8")
        alerts.retry_now()  # do not wait out the backoff in a test
        await until(lambda: len(smtp_auth.inbox.messages) == 1)
    finally:
        await daemon.stop()
        structlog.reset_defaults()
    shown = page["alerts"]
    assert shown["state"] == "failing"
    assert (
        f"the mail server 127.0.0.1:{smtp_auth.port} refused the login of user 'shop'"
        in (shown["last_error"])
    )
    lines = [json.loads(line) for line in log.getvalue().splitlines() if line.startswith("{")]
    failed = [e for e in lines if e["event"] == "alert_send_failed"]
    assert len(failed) == 1 and failed[0]["failure"] == "auth"
    assert [e["event"] for e in lines if e["event"] == "alert_send_recovered"] == [
        "alert_send_recovered"
    ]
    assert "wrong-smtp-password" not in log.getvalue() + json.dumps(page)
    assert not any(e["event"] == "loop_crashed" for e in lines)
