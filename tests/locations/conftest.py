"""The status page's fixtures (tests/web/conftest.py) for the page tests here."""

from __future__ import annotations

from tests.web.conftest import channels, ledger, make_client

__all__ = ["channels", "ledger", "make_client"]
