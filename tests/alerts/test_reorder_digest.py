"""The daily digest lists the SKUs to reorder (at or below their point), new ones marked, on both
ledgers and through a real SMTP server."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from syncd.alerts.service import AlertService
from syncd.config import StockSettings
from syncd.domain import Document, DocumentKind
from syncd.ledger import Product
from syncd.ledger.sqlstore import SqlStore
from syncd.stockin.reorderlist import digest_payloads, reorder_list
from tests.alerts.conftest import Clock, SmtpServer, alert_settings

START = datetime(2026, 3, 14, 6, 55, tzinfo=UTC)  # 07:55 in Paris
STOCK = StockSettings(reorder_points={"MUG": 3, "CAP": 2}, reorder_quantities={"CAP": 10})


def service_for(store: SqlStore, smtp: SmtpServer, clock: Clock, language: str) -> AlertService:
    async def to_reorder(now: datetime) -> Sequence[Mapping[str, Any]]:
        return digest_payloads(await reorder_list(store, STOCK, now=now))

    settings = alert_settings(smtp.port, digest_time="08:00", language=language)
    return AlertService(settings, store, clock=clock, reorder=to_reorder)


async def _sell(store: SqlStore, doc_id: str, lines: dict[str, int], at: datetime) -> None:
    await store.apply_document(Document("till", doc_id, DocumentKind.TILL_RECEIPT, lines, at))


async def test_the_digest_lists_what_fell_to_its_point_new_ones_marked(
    store: SqlStore, smtp: SmtpServer
) -> None:
    clock = Clock(START)
    await store.upsert_products([Product("MUG", "Blue mug"), Product("CAP", "Cap")])
    opening = {"MUG": 5, "CAP": 10}
    await store.apply_document(
        Document("init", "opening", DocumentKind.STOCK_COUNT, opening, START - timedelta(days=30))
    )
    service = service_for(store, smtp, clock, "en")
    await service.tick()  # the first day after set-up: no digest yet
    clock.advance(10 * 60)
    await service.tick()
    assert smtp.inbox.messages == []

    await _sell(store, "t1", {"MUG": 3}, clock.now)  # 2 left, its point is 3
    clock.advance(24 * 3600)
    await service.tick()
    await service.tick()
    [first] = smtp.inbox.messages
    assert first["Subject"] == "[syncd] Daily digest 2026-03-15: 1 product to reorder"
    text = smtp.inbox.texts()[0]
    assert "=== To reorder ===" in text
    assert "MUG — Blue mug: 2 in stock, reorder point 3" in text
    assert "new since the last digest" in text and "CAP" not in text
    assert "syncd reorder --config" in text

    await _sell(store, "t2", {"CAP": 8}, clock.now)  # 2 left: at its point
    clock.advance(24 * 3600)
    await service.tick()
    await service.tick()
    assert len(smtp.inbox.messages) == 2
    second = smtp.inbox.texts()[1]
    assert smtp.inbox.messages[1]["Subject"] == (
        "[syncd] Daily digest 2026-03-16: 2 products to reorder"
    )
    mug = next(line for line in second.splitlines() if line.startswith("  - MUG"))
    cap = next(line for line in second.splitlines() if line.startswith("  - CAP"))
    assert "new since" not in mug  # listed yesterday, still to reorder
    assert cap.endswith("→ order 10 — new since the last digest")
    assert second.index("  - CAP") < second.index("  - MUG")  # new ones first

    # Restocked: nothing open, nothing to reorder, no digest.
    await store.apply_document(
        Document("office", "r1", DocumentKind.GOODS_RECEIPT, {"MUG": 10, "CAP": 10}, clock.now)
    )
    clock.advance(24 * 3600)
    await service.tick()
    await service.tick()
    assert len(smtp.inbox.messages) == 2


async def test_the_digest_in_french_with_an_open_conflict(
    store: SqlStore, smtp: SmtpServer
) -> None:
    clock = Clock(START)
    await store.upsert_products([Product("MUG", "Bol bleu")])
    service = service_for(store, smtp, clock, "fr")
    await _sell(store, "t1", {"MUG": 1}, START - timedelta(days=1))  # sold with none: oversold
    conflicts = await store.conflicts()
    found = await reorder_list(store, StockSettings(reorder_points={"MUG": 3}), now=START)
    reorder = [dict(p, new=True) for p in digest_payloads(found)]
    mail = service.digest_mail(conflicts, START, reorder=reorder)
    assert mail.subject == "[syncd] Récapitulatif du 2026-03-14 : 1 survente, 1 produit à commander"
    assert "=== À commander ===" in mail.body_text
    assert (
        "MUG — Bol bleu : -1 en stock, point de commande 3, ventes par jour : 1, "
        "jours de stock : 0 → commander 15 — nouveau depuis le dernier récapitulatif"
    ) in mail.body_text
    assert "<th>Point de commande</th>" in mail.body_html
    assert "nouveau depuis le dernier récapitulatif" in mail.body_html
