"""`syncd setup` in a pseudo-terminal against the real PrestaShop 8.2.0 of ../shared/real-shops
(installed once per run; skipped, with the reason, only where that tree is absent): a wrong key
is refused naming the shop and HTTP 401, the right one shows the shop's version, the order
states it resolved and its SKUs, and the config written passes check-config."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from syncd.testing.harness import SYNCD, free_port
from syncd.testing.realshops import RealShop
from tests.setup.guide import Guide

pytestmark = pytest.mark.realshop("prestashop")


def test_setup_against_the_real_prestashop(real_prestashop: RealShop, tmp_path: Path) -> None:
    url, key = real_prestashop["REALPS_URL"], real_prestashop["REALPS_KEY"]
    config = tmp_path / "syncd.toml"
    guide = Guide("--config", str(config), cwd=tmp_path, timeout=180)
    guide.answer(r"time zone", "Europe/Paris")
    guide.answer(r"Set up PrestaShop\?", "y")
    for other in ("Magento 2", "WooCommerce", "Shopify", "a till"):
        guide.answer(rf"Set up {other}", "n")
    guide.answer(r"the shop's address", url)
    guide.answer(r"webservice key", "WRONG0WRONG0WRONG0WRONG0WRONG012")
    said = guide.expect(r"refused the webservice key \(HTTP 401\)")
    assert f"PrestaShop at {url}" in said
    guide.answer(r"the shop's address", "")
    guide.answer(r"webservice key", key)
    said = guide.expect(r"SKUs found, \d+ with stock")
    assert "PrestaShop 8.2.0 answered" in said
    # PS_OS_CANCELED 6 and PS_OS_ERROR 8 of a fresh 8.2.0 install (tests/prestashop/realps.py)
    assert "cancelled and payment-error order states: 6, 8" in said
    skus = int(said.split(" SKUs found")[0].split()[-1])
    assert skus > 0
    guide.answer(r"Send alert mails", "n")
    guide.answer(r"Port of the status page", str(free_port()))
    guide.answer(r"starting stock", "no")
    code, said = guide.finish()
    assert code == 0, said
    assert key not in said
    assert stat.S_IMODE((tmp_path / "prestashop.key").stat().st_mode) == 0o600
    checked = subprocess.run(
        [*SYNCD, "check-config", "--config", str(config)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    dry = subprocess.run(
        [*SYNCD, "init", "--config", str(config), "--from", "prestashop", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert dry.returncode == 0, dry.stderr
