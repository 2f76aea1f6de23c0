"""A WooCommerce 11 REST emulator (wc/v3) for what syncd uses: the shop's state and stock rules
(``state.py``) and its HTTP side (``routes.py``). The PyPI `woocommerce` client drives it in the
tests, and tests/woocommerce/test_parity.py holds its answers' shapes to the real shop's."""

from syncd.connectors.woocommerce.emulator.auth import EMULATOR_KEY
from syncd.connectors.woocommerce.emulator.routes import (
    add_catalog,
    create_app,
    load_catalog,
    run_standalone,
)
from syncd.connectors.woocommerce.emulator.state import WooCommerceEmulator, signature
from syncd.connectors.woocommerce.emulator.webhooks import deliver_due

__all__ = [
    "EMULATOR_KEY",
    "add_catalog",
    "WooCommerceEmulator",
    "create_app",
    "deliver_due",
    "load_catalog",
    "run_standalone",
    "signature",
]
