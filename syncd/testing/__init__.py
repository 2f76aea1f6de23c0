"""Test support shipped with syncd (fakes, harness, real shops, SMTP); no daemon code imports it."""

from __future__ import annotations

from syncd.testing.fakes import FakeChannel, FakeConnector, collect_documents, registered

__all__ = ["FakeChannel", "FakeConnector", "collect_documents", "registered"]
