"""A PrestaShop webservice emulator (1.7 / 8.x) for what syncd uses; see
shared/reference/connector-apis.md §1 and its "Observed on real shops". Tests, the demo and the
benchmarks run against it, the real `prestapyt` client drives it in the tests, and
tests/prestashop/test_parity.py compares its answers with a real PrestaShop 8.2.0.

:mod:`.state` holds the shop (Python methods for tests), :mod:`.rendering` how it shows its
objects, :mod:`.routes` the HTTP app (:func:`create_app`) and the ``/__emulator/`` admin API.
"""

from __future__ import annotations

from syncd.connectors.prestashop.emulator.routes import create_app, run_standalone
from syncd.connectors.prestashop.emulator.state import (
    STATES,
    PrestaShopEmulator,
    native_numbers,
)

__all__ = ["STATES", "PrestaShopEmulator", "create_app", "native_numbers", "run_standalone"]
