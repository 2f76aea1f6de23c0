"""A PrestaShop emulator served from its own thread (for tests that run `syncd` commands, which
start their own event loop)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syncd.connectors.emulation import Faults
from syncd.connectors.prestashop.emulator import PrestaShopEmulator, create_app
from tests.prestashop.conftest import KEY, Shop, seed
from tests.servers import threaded_app


@pytest.fixture
def threaded_shop() -> Iterator[Shop]:
    emulator = PrestaShopEmulator(version="1.7.8.11")
    seed(emulator)
    with threaded_app(create_app(emulator, api_key=KEY)) as url:
        yield Shop(emulator, Faults(), url)
