"""The shop emulator fixtures, shared with tests/prestashop and tests/magento."""

from tests.magento.conftest import msi_shop  # noqa: F401 - fixtures used here
from tests.prestashop.conftest import shop, shop8  # noqa: F401 - fixtures used here
