"""The merchant's status page: overview, conflicts, activity, SKU search, JSON API, /healthz,
/metrics and the live feed (`/ws`) used by the page's script and by `syncd tail`."""

from __future__ import annotations

from syncd.web.app import create_app

__all__ = ["create_app"]
