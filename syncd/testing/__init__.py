"""Test support shipped with syncd: fakes (STYLE.md §4), the process harness, real shops, SMTP.

Only tests, bench/ and tools import it; nothing else under syncd/ does (tests/test_light_imports).
"""

from __future__ import annotations

from syncd.testing.fakes import FakeChannel, FakeConnector, collect_documents, registered

__all__ = ["FakeChannel", "FakeConnector", "collect_documents", "registered"]
