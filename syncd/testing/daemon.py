"""A daemon started in-process over fake channels and a real ledger, stocked with two products."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from syncd.cli.run import ServedDaemon
from syncd.config import Settings, parse_config
from syncd.domain import Document, DocumentKind
from syncd.ledger import Product

PRODUCTS = (Product("SHIRT-44", "Blue shirt 44"), Product("CAP", "Cap"))
OPENING: Mapping[str, int] = {"SHIRT-44": 1, "CAP": 5}
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def settings_for(
    folder: Path,
    defaults: Mapping[str, Mapping[str, Any]],
    *,
    ledger: tuple[str, str] = ("sqlite", ""),
    **tables: Mapping[str, Any],
) -> Settings:
    """Settings from a test module's ``defaults`` (sync, channels, …) with each of ``tables``
    merged over its table; the ledger is ("sqlite", "") in ``folder`` or ("postgres", dsn), the
    status page off unless a table turns it on."""
    backend, dsn = ledger
    data: dict[str, Any] = {
        "ledger": (
            {"backend": "sqlite", "path": str(folder / "ledger.sqlite3")}
            if backend == "sqlite"
            else {"backend": "postgres", "dsn": dsn}
        ),
        "web": {"enabled": False},
    }
    for key, value in [*defaults.items(), *tables.items()]:
        data[key] = {**data.get(key, {}), **value}
    return parse_config(data, file=str(folder / "syncd.toml"))


async def start_daemon(
    settings: Settings,
    *,
    products: tuple[Product, ...] = PRODUCTS,
    opening: Mapping[str, int] = OPENING,
    at: datetime = T0,
    routes: Sequence[Callable[[web.Application], None]] = (),
) -> ServedDaemon:
    """``ServedDaemon.start()`` (with ``routes`` added to its web app), then the products and an
    opening stock count in its ledger."""
    daemon = ServedDaemon(settings)
    daemon.extra_routes.extend(routes)
    await daemon.start()
    assert daemon.store is not None
    await daemon.store.upsert_products(list(products))
    await daemon.store.apply_document(
        Document("init", "opening", DocumentKind.STOCK_COUNT, dict(opening), at)
    )
    return daemon
