"""The "To reorder" and "Today" pages, the CSV export and their JSON, over a real daemon and ledger
(SQLite and PostgreSQL), in English and French."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer

from syncd.cli.run import ServedDaemon
from syncd.config import WebSettings
from syncd.domain import Document, DocumentKind, utcnow
from syncd.stockin.booking import Line, book_adjustment, book_receipt
from syncd.stockin.endofday import day_bounds, shop_day
from syncd.testing import FakeChannel
from syncd.web import create_app
from tests.conftest import DaemonStarter
from tests.web.conftest import settings_for

Client = TestClient[Any, Any]
PARIS = ZoneInfo("Europe/Paris")
STOCK = {"reorder_points": {"CAP": 5}, "reorder_quantities": {"CAP": 12}}


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest) -> tuple[str, str]:
    if request.param == "postgres":
        return ("postgres", request.getfixturevalue("pg_dsn"))
    return ("sqlite", "")


@pytest.fixture
async def shop(
    tmp_path: Path,
    channels: dict[str, FakeChannel],
    ledger: tuple[str, str],
    start_daemon: DaemonStarter,
) -> ServedDaemon:
    """SHIRT-44 (1, then sold out at the till) and CAP (5, its configured point)."""
    daemon = await start_daemon(settings_for(tmp_path, ledger, stock=STOCK))
    assert daemon.store is not None
    sold = utcnow() - timedelta(hours=1)
    await daemon.store.apply_document(
        Document("till", "4-1001", DocumentKind.TILL_RECEIPT, {"SHIRT-44": 1}, sold)
    )
    return daemon


@pytest.fixture
async def client(shop: ServedDaemon) -> AsyncIterator[Client]:
    settings = WebSettings(host="127.0.0.1", port=0, timezone="Europe/Paris")
    app = create_app(shop, settings=settings, sample_seconds=0.2)
    test_client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await test_client.start_server()
    yield test_client
    await test_client.close()


async def test_the_to_reorder_page_lists_what_is_at_its_point_or_sold_out(client: Client) -> None:
    resp = await client.get("/reorder", headers={"Accept-Language": "en"})
    assert resp.status == 200
    html = await resp.text()
    assert "<h1>To reorder</h1>" in html and 'href="/reorder" aria-current="page"' in html
    assert "2 products to reorder" in html
    assert '<tr data-sku="SHIRT-44">' in html and '<tr data-sku="CAP">' in html
    cap = html.split('<tr data-sku="CAP">')[1].split("</tr>")[0]
    assert '<td class="num">5 <span class="muted small">config</span></td>' in cap
    assert "<strong>12</strong> <span" in cap  # the configured quantity
    assert 'href="/reorder.csv"' in html

    french = await (await client.get("/reorder", headers={"Accept-Language": "fr"})).text()
    assert "<h1>À commander</h1>" in french and "Point de commande" in french
    assert "2 produits à commander" in french and "Télécharger pour Excel (CSV)" in french


async def test_the_csv_export_opens_in_a_french_excel(client: Client) -> None:
    resp = await client.get("/reorder.csv", headers={"Accept-Language": "fr"})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    stamp = utcnow().astimezone(PARIS).strftime("%Y-%m-%d")
    assert resp.headers["Content-Disposition"] == f'attachment; filename="a-commander-{stamp}.csv"'
    body = await resp.read()
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads UTF-8
    rows = body.decode("utf-8-sig").split("\r\n")
    assert rows[0] == (
        "Référence;Produit;En stock;Point de commande;Ventes par jour;Jours de stock;"
        "Quantité conseillée"
    )
    assert "CAP;Cap;5;5;0;;12" in rows
    shirt = next(r for r in rows if r.startswith("SHIRT-44;"))
    assert shirt.split(";")[:3] == ["SHIRT-44", "Blue shirt 44", "0"]
    everything = await (await client.get("/reorder.csv?all=1")).read()
    assert everything.count(b"\r\n") == 3  # the header and both SKUs

    english = await (await client.get("/reorder.csv", headers={"Accept-Language": "en"})).read()
    assert english.decode("utf-8-sig").startswith("SKU;Product;On hand;Reorder point;")


async def test_the_reorder_json(client: Client) -> None:
    body = await (await client.get("/api/reorder")).json()
    assert body["to_reorder"] == 2 and body["sales_days"] == 28
    assert body["generated_at"].endswith("+00:00")
    cap = next(line for line in body["lines"] if line["sku"] == "CAP")
    assert (cap["point"], cap["point_source"], cap["suggested_quantity"]) == (5, "config", 12)


async def test_the_today_page_shows_the_days_sales_delivery_and_adjustment(
    client: Client, shop: ServedDaemon
) -> None:
    store = shop.store
    assert store is not None
    now = utcnow()
    start, _ = day_bounds(shop_day(now, PARIS), PARIS)
    delivered = max(start, now - timedelta(minutes=5))
    await book_receipt(
        store,
        [Line("CAP", 4)],
        origin="page",
        supplier="Acme",
        delivery_note="BL-9",
        occurred_at=delivered,
    )
    await book_adjustment(store, "CAP", -1, reason="theft", origin="page", note="shop floor")
    resp = await client.get("/today", headers={"Accept-Language": "en"})
    assert resp.status == 200
    html = await resp.text()
    assert f"<h1>Today, {shop_day(utcnow(), PARIS).isoformat()}</h1>" in html
    assert "Sales per channel" in html
    local = delivered.astimezone(PARIS).strftime("%H:%M")
    assert f"<strong>{local}</strong> — Acme BL-9" in html
    assert re.search(r"Theft —\s+CAP -1", html) and "shop floor" in html
    assert '<tr data-sku="SHIRT-44">' in html  # sold out now
    french = await (await client.get("/today", headers={"Accept-Language": "fr"})).text()
    assert "<h1>Aujourd’hui" in french and "Livraisons" in french
    assert "— Vol" in french and "En rupture maintenant" in french

    data = await (await client.get("/api/today")).json()
    [delivery] = data["deliveries"]
    assert (delivery["supplier"], delivery["units"]) == ("Acme", 4)
    assert delivery["occurred_at"] == delivered.isoformat()
    assert [a["reason"] for a in data["adjustments"]] == ["theft"]

    bad = await client.get("/today?date=26/11/2026")
    assert bad.status == 400 and "2026-11-26" in await bad.text()
    past = await (
        await client.get("/today?date=2026-03-29", headers={"Accept-Language": "en"})
    ).text()
    assert "The day of 2026-03-29" in past and "This day had 23 hours" in past
    assert "No sale this day." in past
