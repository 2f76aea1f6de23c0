"""Stock-in tests run `syncd` commands, which configure logging onto pytest's captured stderr."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Put structlog back as it was after each test."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)
