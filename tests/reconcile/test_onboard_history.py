"""`syncd init` on shops that already sold (issue 16): PrestaShop and Magento emulators with past
orders, a CSV till, on SQLite and PostgreSQL, taking the stock from either shop. The history is
recorded as already in the count: no unknown SKU, no oversell, no movement but the count's, and
the daemon started after it mails nothing about it (a real oversell afterwards is mailed, alone);
an old order cancelled after onboarding gives its units back once; times in init's output are in
the shop's time zone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import structlog

from syncd.cli import main
from syncd.cli.run import ServedDaemon
from syncd.config import Settings, load_config
from syncd.connectors.magento.emulator import MagentoEmulator
from syncd.connectors.magento.emulator import create_app as magento_app
from syncd.connectors.prestashop.emulator import PrestaShopEmulator
from syncd.connectors.prestashop.emulator import create_app as prestashop_app
from syncd.ledger import open_store
from syncd.testing.harness import free_port, until, write_config
from syncd.testing.smtp import SmtpServer
from tests.magento.conftest import seed as seed_magento
from tests.prestashop.conftest import KEY
from tests.prestashop.conftest import seed as seed_prestashop
from tests.servers import threaded_app

ZONE = "America/New_York"  # neither UTC nor the machine's zone
MAGENTO_PASSWORD = "s3cret-pass"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`syncd` commands configure logging onto pytest's captured stderr: put it back after."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


class Shops:
    """Both shops with a catalogue and past orders, served from their own threads."""

    def __init__(self) -> None:
        self.prestashop = PrestaShopEmulator(version="8.1.0")
        seed_prestashop(self.prestashop)  # SHIRT-BLUE-42 3, SHIRT-BLUE-44 1, CAP 5, MUG 4
        self.ps_orders = [
            self.prestashop.create_order({"CAP": 2}),
            self.prestashop.create_order({"SHIRT-BLUE-44": 1}),  # the last one
            self.prestashop.create_order({"SHIRT-BLUE-42": 1}),
        ]
        self.prestashop.set_order_state(self.ps_orders[2], "PS_OS_CANCELED")  # back: 3
        self.magento = MagentoEmulator(msi=True)
        seed_magento(self.magento)  # SHIRT-BLUE-42 3, SHIRT-BLUE-44 1, CAP 5
        self.magento_orders = [
            self.magento.place_order({"CAP": 1}),
            self.magento.place_order({"SHIRT-BLUE-42": 3}),  # every unit, not shipped
        ]
        self.magento.ship(self.magento_orders[0])


def settings_for(
    tmp_path: Path, backend: str, dsn: str, ps_url: str, magento_url: str, smtp_port: int
) -> Path:
    ledger = (
        {"backend": "postgres", "dsn": dsn}
        if backend == "postgres"
        else {"backend": "sqlite", "path": str(tmp_path / "ledger.sqlite3")}
    )
    (tmp_path / "till" / "inbox").mkdir(parents=True)
    return write_config(
        tmp_path / "syncd.toml",
        {
            "ledger": ledger,
            "log": {"format": "json"},
            "sync": {"outbox_poll_seconds": 1},
            "web": {"enabled": False, "timezone": ZONE},
            "alerts": {
                "to": ["shop@example.com"],
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp_port,
                "smtp_security": "none",
                "language": "en",
                "poll_seconds": 0.1,
                "digest_time": "",
            },
            "channels": {
                "webshop": {
                    "type": "prestashop",
                    "url": ps_url,
                    "api_key": KEY,
                    "overlap_seconds": 0,
                    "timeout_seconds": 5,
                    "poll_seconds": 0.2,
                },
                "magento": {
                    "type": "magento",
                    "url": magento_url,
                    "username": "admin",
                    "password": MAGENTO_PASSWORD,
                    "mode": "msi",
                    "overlap_seconds": 0,
                    "timeout_seconds": 5,
                    "poll_seconds": 0.2,
                },
                "till": {
                    "type": "csv_till",
                    "drop_folder": "till/inbox",
                    "stock_file": "till/stock.csv",
                    "stock_min_interval_seconds": 0,
                },
            },
        },
    )


async def _ledger_after_init(settings: Settings) -> dict[str, object]:
    store = await open_store(settings.ledger)
    try:
        return {
            "levels": await store.levels(),
            "conflicts": await store.conflicts(limit=50),
            "candidates": await store.alert_candidates(),
            "unknown": await store.pending_lines(),
            "movements": await store.movements(limit=100),
        }
    finally:
        await store.close()


async def _daemon_mails_only_the_real_oversell(
    settings: Settings, shops: Shops, smtp: SmtpServer, source_figures: dict[str, int]
) -> dict[str, int]:
    """Run the daemon: it mails nothing about the onboarding; an old order cancelled gives its
    unit back once; a real oversell afterwards is mailed, alone."""
    daemon = ServedDaemon(settings)
    await daemon.start()
    try:
        store = daemon.store
        assert store is not None and daemon.alerts is not None
        # Every channel pulled from its stored cursor (nothing new) and the alert loop ran.
        await until(
            lambda: all(
                r.status.last_pull is not None for r in daemon.runners.values() if r.settings.pull
            )
        )
        await asyncio.sleep(1.0)  # several rounds of the alert loop (0.1 s)
        assert smtp.inbox.messages == []
        assert await store.alert_candidates() == []
        # An old order cancelled now: its unit comes back, once.
        before = (await store.levels(["SHIRT-BLUE-44"]))["SHIRT-BLUE-44"]
        shops.prestashop.set_order_state(shops.ps_orders[1], "PS_OS_CANCELED")
        await until(
            lambda: _level_is(daemon, "SHIRT-BLUE-44", before + 1),
        )
        # A real oversell: every unit of CAP and one more, sold on PrestaShop.
        cap = (await store.levels(["CAP"]))["CAP"]
        shops.prestashop.create_order({"CAP": cap + 1})
        await until(lambda: len(smtp.inbox.messages) == 1)
        await asyncio.sleep(0.5)  # nothing else comes after it
        assert len(smtp.inbox.messages) == 1
        return await store.levels()
    finally:
        await daemon.stop()


async def _level_is(daemon: ServedDaemon, sku: str, quantity: int) -> bool:
    assert daemon.store is not None
    return (await daemon.store.levels([sku])).get(sku) == quantity


@pytest.mark.parametrize("source", ["webshop", "magento"])
def test_init_on_shops_with_past_orders_raises_nothing_and_mails_nothing(
    tmp_path: Path,
    ledger_backend: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
    source: str,
) -> None:
    backend, dsn = ledger_backend
    shops = Shops()
    smtp = SmtpServer(free_port())
    smtp.start()
    with (
        threaded_app(prestashop_app(shops.prestashop, api_key=KEY)) as ps_url,
        threaded_app(magento_app(shops.magento, password=MAGENTO_PASSWORD)) as magento_url,
    ):
        try:
            config = settings_for(tmp_path, backend, dsn, ps_url, magento_url, smtp.port)
            code = main(["init", "--config", str(config), "--from", source, "--yes", "--json"])
            captured = capsys.readouterr()
            assert code == 0, captured.err
            done = json.loads(captured.out)
            settings = load_config(config)
            # The source's figures, after its own orders (they are in the count).
            if source == "webshop":
                figures = {"SHIRT-BLUE-42": 3, "SHIRT-BLUE-44": 0, "CAP": 3, "MUG": 4}
            else:
                figures = {"SHIRT-BLUE-42": 0, "SHIRT-BLUE-44": 1, "CAP": 4}
            assert done["applied"] is True and done["counted"] == len(figures)
            # Every order of both shops is known (3 on PrestaShop, 2 on Magento).
            assert done["history_documents"] == 5
            after = asyncio.run(_ledger_after_init(settings))
            assert after["levels"] == figures
            assert after["conflicts"] == [] and after["candidates"] == []
            assert after["unknown"] == []
            movements = after["movements"]
            assert isinstance(movements, list)
            assert {m.channel for m in movements} == {"init"}  # the count's, nothing else
            # The time shown is the shop's: JSON in UTC, the terminal in the shop's zone.
            counted_at = datetime.fromisoformat(done["counted_at"])
            assert done["counted_at"].endswith("+00:00")
            local = counted_at.astimezone(ZoneInfo(ZONE))
            assert f"at {local:%Y-%m-%d %H:%M:%S} {ZONE}:" in captured.err

            levels = asyncio.run(
                _daemon_mails_only_the_real_oversell(settings, shops, smtp, figures)
            )
            assert levels["SHIRT-BLUE-44"] == figures["SHIRT-BLUE-44"] + 1
            assert levels["CAP"] == -1
            (mail,) = smtp.inbox.texts()
            assert "CAP" in mail
            for other in ("SHIRT-BLUE-42", "SHIRT-BLUE-44", "MUG", "unknown"):
                assert other not in mail
        finally:
            smtp.stop()
