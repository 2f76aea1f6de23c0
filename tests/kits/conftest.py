"""The PrestaShop emulator fixtures, shared with tests/prestashop."""

from tests.prestashop.conftest import shop, shop8  # noqa: F401 - fixtures used here
