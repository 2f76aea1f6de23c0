"""Moved to syncd.testing.realshops (bench/ uses it too); kept so older imports still work."""

from __future__ import annotations

from syncd.testing.realshops import SHOPS, STARTER, RealShop, available, real_shop, why_skipped

__all__ = ["SHOPS", "STARTER", "RealShop", "available", "real_shop", "why_skipped"]
