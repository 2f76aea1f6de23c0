"""WooCommerce shops for the tests: the emulator (in a thread: the PyPI client is synchronous)
and the real WooCommerce of ../shared/real-shops (installed once per run); ``woo`` is both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syncd.connectors.woocommerce.emulator import WooCommerceEmulator, create_app
from tests.servers import threaded_app
from tests.woocommerce.shop import KEY, SECRET, WooShop


@pytest.fixture
def emulated() -> Iterator[WooShop]:
    emulator = WooCommerceEmulator()
    app = create_app(emulator, consumer_key=KEY, consumer_secret=SECRET, webhook_delay=None)
    with threaded_app(app) as url:
        shop = WooShop(url, KEY, SECRET)
        shop.emulator = emulator  # type: ignore[attr-defined]
        yield shop


@pytest.fixture
def real(request: pytest.FixtureRequest) -> WooShop:
    shop = request.getfixturevalue("real_woocommerce")
    env = shop.env
    return WooShop(env["REALWC_URL"], env["REALWC_CK"], env["REALWC_CS"], real=True, env=env)


@pytest.fixture(
    params=["emulator", pytest.param("real", marks=pytest.mark.realshop("woocommerce"))]
)
def woo(request: pytest.FixtureRequest) -> WooShop:
    """The same scenario on the emulator and on the real WooCommerce."""
    if request.param == "real":
        return request.getfixturevalue("real")  # type: ignore[no-any-return]
    return request.getfixturevalue("emulated")  # type: ignore[no-any-return]
