"""`syncd setup` driven in a pseudo-terminal against a PrestaShop emulator (its own process), a
real SMTP server (aiosmtpd) and a till export no known layout matches: wrong key and taken port
answered first, then the config it writes passes check-config and runs the daemon in sync."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from syncd.testing.harness import SYNCD, DaemonProcess, Emulator, free_port, until
from syncd.testing.smtp import SmtpServer
from tests.setup.guide import Guide

# A till export with columns no layout knows (the merchant says which is which).
HEADER = "Bon;Horodatage;Article;Nombre\n"


@pytest.fixture
def smtp() -> SmtpServer:
    server = SmtpServer(free_port())
    server.start()
    yield server  # type: ignore[misc]
    server.stop()


async def test_the_guide_from_nothing_to_a_daemon_in_sync(tmp_path: Path, smtp: SmtpServer) -> None:
    inbox = tmp_path / "till" / "inbox"
    inbox.mkdir(parents=True)
    sample = tmp_path / "export-du-jour.csv"
    sample.write_text(HEADER + "B-1;27/11/2026 10:15;SHIRT-0000-38;1\n", encoding="utf-8")
    with Emulator("prestashop", 8, quiet=True) as shop:
        config = tmp_path / "etc" / "syncd.toml"
        await run_the_guide(tmp_path, config, shop, smtp, inbox, sample)
        await sale_reaches_the_shop(tmp_path, config, shop, inbox)


async def run_the_guide(
    tmp_path: Path, config: Path, shop: Emulator, smtp: SmtpServer, inbox: Path, sample: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        guide = Guide("--config", str(config), cwd=tmp_path)
        guide.answer(r"time zone", "")
        guide.answer(r"Set up PrestaShop\?", "y")
        for other in ("Magento 2", "WooCommerce", "Shopify"):
            guide.answer(rf"Set up {other}\?", "n")
        guide.answer(r"Set up a till", "y")
        guide.answer(r"the shop's address", shop.url)
        guide.answer(r"webservice key", "WRONG0WRONG0WRONG0WRONG0WRONG012")
        said = guide.expect(r"refused the webservice key \(HTTP 401\)")
        assert f"PrestaShop at {shop.url}" in said
        guide.answer(r"the shop's address", "")  # the same address, offered again
        guide.answer(r"webservice key", shop.info["api_key"])
        said = guide.expect(r"SKUs found")
        assert "PrestaShop 8.1.0 answered" in said and "8 SKUs found" in said
        guide.answer(r"drop folder", str(inbox))
        guide.answer(r"One real export", str(sample))
        guide.expect(r"No known till layout matches")
        guide.answer(r"holds the SKU", "7")  # there is no 7th column
        guide.expect(r"neither a column number \(1 to 4\) nor a column name")
        guide.answer(r"holds the SKU", "3")
        guide.answer(r"holds the quantity sold", "Nombre")
        guide.answer(r"holds the receipt", "1")
        guide.answer(r"holds the date", "2")
        guide.answer(r"holds the time", "-")
        guide.answer(r"holds the item's name", "-")
        said = guide.answer(r"stock file", "")
        assert "B-1" in said and "2026-11-27 10:15" in said and "SHIRT-0000-38 ×1" in said
        guide.answer(r"Send alert mails", "y")
        guide.answer(r"Who gets the alert mails", "shop@example.com")
        guide.answer(r"The mail server", "127.0.0.1")
        guide.answer(r"Its security", "none")
        guide.answer(r"Its port", str(smtp.port))
        guide.answer(r"Login", "")
        guide.answer(r"Sender address", "syncd@example.com")
        guide.expect(r"test mail sent to shop@example.com")
        guide.answer(r"Port of the status page", str(busy))
        guide.expect(rf"port {busy} is taken \(another program listens there\); \d+ is free")
        port = free_port()
        guide.answer(r"Port of the status page", str(port))
        guide.answer(r"starting stock", "")  # the shop, offered first
        guide.answer(r"from prestashop as shown\?", "y")
        code, said = guide.finish()
    assert code == 0, said
    assert "Ledger set from prestashop" in said and "ledger set from prestashop at" in said
    assert len(smtp.inbox.messages) == 1

    # what it wrote: secrets in 0600 files beside a config that names them
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    assert data["channels"]["prestashop"]["api_key_file"] == "prestashop.key"
    assert shop.info["api_key"] not in config.read_text(encoding="utf-8")
    key = config.parent / "prestashop.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text(encoding="utf-8").strip() == shop.info["api_key"]
    assert data["channels"]["till"]["columns"] == {
        "sku": "Article",
        "quantity": "Nombre",
        "receipt": "Bon",
        "date": "Horodatage",
    }
    assert data["web"]["port"] == port
    checked = subprocess.run(
        [*SYNCD, "check-config", "--config", str(config)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr


async def sale_reaches_the_shop(tmp_path: Path, config: Path, shop: Emulator, inbox: Path) -> None:
    """The daemon it configured keeps the till and the shop in sync."""
    daemon = DaemonProcess(config, cwd=tmp_path)
    daemon.start()
    try:
        before = await shop_quantities(shop)
        staging = tmp_path / "till" / ".sale"
        staging.write_text(HEADER + "B-2;27/11/2026 11:00;SHIRT-0000-42;2\n", encoding="utf-8")
        os.replace(staging, inbox / "vente-2.csv")

        async def shop_sold_it() -> bool:
            return (await shop_quantities(shop))["SHIRT-0000-42"] == before["SHIRT-0000-42"] - 2

        await until(shop_sold_it, timeout=60)
        assert (inbox / "done" / "vente-2.csv").exists()
    finally:
        daemon.stop()
    assert "Traceback" not in daemon.log()


async def shop_quantities(shop: Emulator) -> dict[str, int]:
    return dict(await shop.admin("GET", "quantities"))
