"""The merchant's status page: overview, conflicts, activity, SKU search, JSON API, /healthz,
/metrics and the live feed (`/ws`) used by the page's script and by `syncd tail`."""

from __future__ import annotations

from aiohttp import web

from syncd.config import WebSettings
from syncd.web import api, pages, reports, stockin
from syncd.web.app import LAG_SAMPLE_SECONDS, base_app
from syncd.web.view import DaemonView

__all__ = ["create_app"]


def create_app(
    daemon: DaemonView,
    *,
    settings: WebSettings | None = None,
    client_max_size: int = 64 * 1024,
    sample_seconds: float = LAG_SAMPLE_SECONDS,
) -> web.Application:
    """The status page, JSON API, `/ws`, `/healthz` and `/metrics` of a daemon; ``settings``
    other than the daemon's own are for tests (no reload hook)."""
    app = base_app(
        daemon,
        settings=settings,
        client_max_size=client_max_size,
        sample_seconds=sample_seconds,
    )
    pages.add_routes(app)
    api.add_routes(app)
    reports.add_routes(app)
    stockin.add_routes(app)
    return app
