"""The alert loop against the real ledger (SQLite and PostgreSQL) and a real SMTP server."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from structlog.testing import capture_logs

from syncd.alerts.mailer import message_id
from syncd.alerts.service import AlertService
from syncd.domain import ConflictKind, ConflictStatus, Document, DocumentKind, Rejection
from syncd.ledger import Product
from syncd.ledger.sqlstore import SqlStore
from tests.alerts.conftest import PASSWORD, USER, Clock, SmtpServer, alert_settings, free_port
from tests.conftest import StoreFactory

T0 = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)  # 10:00 in Paris
ADMIN = {"webshop": "https://shop.example.com/admin123/orders/{id}"}


def web_order(doc_id: str, lines: dict[str, int], minute: int = 3) -> Document:
    return Document(
        channel="webshop",
        doc_id=doc_id,
        kind=DocumentKind.WEB_ORDER,
        lines=lines,
        occurred_at=T0 + timedelta(minutes=minute),
        version=1,
        reference=f"XKB{doc_id}",
    )


async def blue_shirt_oversell(store: SqlStore) -> None:
    """The last blue shirt in 44 leaves the shop at 10:02 while a web customer pays for it."""
    await store.upsert_products([Product("SHIRT-BLUE-44", "Blue shirt, size 44")])
    await store.apply_document(
        Document("office", "r1", DocumentKind.GOODS_RECEIPT, {"SHIRT-BLUE-44": 1}, T0)
    )
    await store.apply_document(
        Document(
            "till",
            "t1",
            DocumentKind.TILL_RECEIPT,
            {"SHIRT-BLUE-44": 1},
            T0 + timedelta(minutes=2),
            reference="4-10378",
        )
    )
    await store.apply_document(web_order("1042", {"SHIRT-BLUE-44": 1}))


@pytest.mark.parametrize("language", ["fr", "en"])
async def test_an_oversell_sends_one_mail_naming_the_sku_the_quantities_and_both_documents(
    store: SqlStore, smtp: SmtpServer, language: str
) -> None:
    await blue_shirt_oversell(store)
    settings = alert_settings(smtp.port, language=language)
    service = AlertService(settings, store, admin_order_urls=ADMIN, config_file="/etc/syncd.toml")
    await service.tick()
    await service.tick()  # nothing is sent twice

    assert len(smtp.inbox.messages) == 1
    message = smtp.inbox.messages[0]
    [text] = smtp.inbox.texts()
    [html] = smtp.inbox.htmls()
    link = "https://shop.example.com/admin123/orders/1042"
    if language == "fr":
        assert message["Subject"] == (
            "[syncd] Survente : le dernier article a été vendu deux fois — "
            "SHIRT-BLUE-44 Blue shirt, size 44"
        )
        assert "Manque : 1 unité (stock du registre : -1)" in text
        till_line = "1. 2026-03-14 10:02:00 — till — ticket de caisse 4-10378 — 1 unité"
        web_line = "2. 2026-03-14 10:03:00 — webshop — commande web XKB1042 — 1 unité"
        assert f"Contactez le client de la commande XKB1042 (webshop) : {link}" in text
        assert "annulez et remboursez la commande, ou passez-la en réapprovisionnement" in text
        assert "syncd conflicts ack 1 --config /etc/syncd.toml" in text
    else:
        assert message["Subject"] == (
            "[syncd] Oversold: the last unit was sold twice — SHIRT-BLUE-44 Blue shirt, size 44"
        )
        assert "Short by: 1 unit (ledger stock: -1)" in text
        till_line = "1. 2026-03-14 10:02:00 — till — till receipt 4-10378 — 1 unit"
        web_line = "2. 2026-03-14 10:03:00 — webshop — web order XKB1042 — 1 unit"
        assert f"Contact the customer of order XKB1042 (webshop): {link}" in text
        assert "cancel and refund the order, or back-order it" in text
    # both documents, in the order they took the units; the web order is the one to handle
    assert till_line in text and web_line in text
    assert text.index(till_line) < text.index(web_line)
    assert f'<a href="{link}">XKB1042</a>' in html
    assert "SHIRT-BLUE-44" in html and "4-10378" in html
    # headers: every recipient, a deterministic Message-ID, no auto-replies
    assert message["To"] == "shop@example.com, owner@example.com"
    assert smtp.inbox.envelopes[0] == (
        "syncd@example.com",
        ["shop@example.com", "owner@example.com"],
    )
    [mail] = await store.alert_mails()
    assert mail.sent_at is not None and mail.attempts == 1
    assert message["Message-ID"] == message_id(settings, mail.id, mail.created_at)
    assert message["Auto-Submitted"] == "auto-generated"
    assert service.status.state == "ok" and service.status.sent == 1
    assert service.status.pending == 0


async def test_fifty_conflicts_in_ten_seconds_make_two_mails_not_fifty(
    store: SqlStore, smtp: SmtpServer
) -> None:
    clock = Clock()
    service = AlertService(alert_settings(smtp.port), store, clock=clock)
    for i in range(50):  # each order takes a SKU with no stock: 50 oversells in 10 s
        await store.apply_document(web_order(f"{i}", {f"SKU-{i:02}": 1}))
        clock.advance(0.2)
        await service.tick()
    assert len(smtp.inbox.messages) == 1  # the first of the incident, at once
    clock.advance(60)
    await service.tick()
    assert len(smtp.inbox.messages) == 2  # everything else, grouped
    texts = smtp.inbox.texts()
    for i in range(50):
        assert sum(bool(re.search(rf"Product: SKU-{i:02}\n", t)) for t in texts) == 1, i
    assert "49 oversells" in smtp.inbox.messages[1]["Subject"]
    clock.advance(600)
    await service.tick()
    assert len(smtp.inbox.messages) == 2


async def test_smtp_down_then_a_restart_then_smtp_back_delivers_every_alert_exactly_once(
    make_store: StoreFactory,
) -> None:
    port = free_port()  # nothing listens there yet
    clock = Clock()
    settings = alert_settings(port)
    store = await make_store()
    service = AlertService(settings, store, clock=clock)
    await store.apply_document(web_order("1", {"A": 1}))
    await service.tick()
    assert service.status.state == "failing" and service.status.failure == "connect"
    assert f"cannot connect to the mail server 127.0.0.1:{port}" in service.status.last_error
    await store.apply_document(web_order("2", {"B": 1}))
    await store.record_conflict(ConflictKind.UNKNOWN_SKU, sku="999", channel="till", detail={})
    clock.advance(61)
    await service.tick()  # a second mail is built; it cannot go either
    assert service.status.pending == 2
    await store.close()  # the daemon stops (or crashes) while the mail server is down

    server = SmtpServer(port)
    server.start()
    try:
        store = await make_store()  # restarted
        service = AlertService(settings, store, clock=clock)
        await service.tick()
        await service.tick()
        clock.advance(3600)
        await service.tick()
    finally:
        server.stop()
    texts = server.inbox.texts()
    assert len(texts) == 2
    assert sum("Product: A\n" in t for t in texts) == 1
    assert sum("Product: B\n" in t for t in texts) == 1
    assert sum('"999" on till' in t for t in texts) == 1
    ids = [m["Message-ID"] for m in server.inbox.messages]
    assert len(set(ids)) == 2
    mails = sorted(await store.alert_mails(), key=lambda m: m.id)
    assert ids == [message_id(settings, m.id, m.created_at) for m in mails]
    assert all(m.sent_at is not None for m in mails) and mails[0].attempts >= 2
    assert service.status.state == "ok" and service.status.pending == 0


async def test_a_resent_mail_keeps_its_message_id(store: SqlStore, smtp: SmtpServer) -> None:
    # The window between "the server accepted it" and "marked sent": a resend is recognisable.
    service = AlertService(alert_settings(smtp.port), store)
    await store.apply_document(web_order("1", {"A": 1}))
    await service.tick()
    [mail] = await store.alert_mails()
    assert service.message(mail)["Message-ID"] == service.message(mail)["Message-ID"]
    assert service.message(mail)["Message-ID"] == smtp.inbox.messages[0]["Message-ID"]


async def test_refused_credentials_are_reported_once_retried_slowly_and_never_crash(
    store: SqlStore, smtp_auth: SmtpServer, tmp_path: Path
) -> None:
    password_file = tmp_path / "smtp.password"
    password_file.write_text("wrong-password-123\n", encoding="utf-8")
    from syncd.config import Secret

    settings = alert_settings(
        smtp_auth.port,
        smtp_username=USER,
        smtp_password=Secret("wrong-password-123", source=str(password_file)),
    )
    clock = Clock()
    service = AlertService(settings, store, clock=clock)
    await blue_shirt_oversell(store)
    with capture_logs() as logs:
        await service.tick()
        for _ in range(28):  # 14 s of ticks
            clock.advance(0.5)
            await service.tick()
    status = service.status.as_dict()
    assert status["state"] == "failing" and status["failure"] == "auth"
    assert status["last_error"].startswith(
        f"the mail server 127.0.0.1:{smtp_auth.port} refused the login of user 'shop' (535"
    )
    assert "check smtp_username and the password file" in status["last_error"]
    assert "wrong-password" not in str(status) and "wrong-password" not in str(logs)
    failed = [e for e in logs if e["event"] == "alert_send_failed"]
    assert len(failed) == 1 and failed[0]["failure"] == "auth"
    assert smtp_auth.inbox.messages == []
    [mail] = await store.alert_mails()
    assert mail.sent_at is None and "refused the login" in mail.last_error
    assert mail.attempts == 1  # a refused login waits 15 to 30 s before the next attempt
    for _ in range(10):
        clock.advance(60)
        await service.tick()
    [mail] = await store.alert_mails()
    assert 3 <= mail.attempts <= 6  # ten minutes: backoff, not a loop

    # the merchant fixes the password file: the next attempt uses it, no restart needed
    password_file.write_text(PASSWORD + "\n", encoding="utf-8")
    with capture_logs() as logs:
        clock.advance(settings.retry_max_seconds)
        await service.tick()
    assert len(smtp_auth.inbox.messages) == 1
    assert [e["event"] for e in logs if e["event"].startswith("alert_send")] == [
        "alert_send_recovered"
    ]
    assert service.status.state == "ok" and service.status.last_error == ""


async def test_acknowledged_conflicts_do_not_realert_and_a_grown_oversell_does(
    store: SqlStore, smtp: SmtpServer
) -> None:
    clock = Clock()
    service = AlertService(alert_settings(smtp.port), store, clock=clock)
    await blue_shirt_oversell(store)
    await service.tick()
    assert len(smtp.inbox.messages) == 1
    # another web customer pays for the same shirt: a second order to handle
    await store.apply_document(web_order("1043", {"SHIRT-BLUE-44": 1}, minute=5))
    clock.advance(61)
    await service.tick()
    assert len(smtp.inbox.messages) == 2
    second = smtp.inbox.texts()[1]
    assert "Short by: 2 units" in second and "XKB1043" in second
    [conflict] = await store.conflicts()
    assert await store.set_conflict_status(conflict.id, ConflictStatus.ACKNOWLEDGED)
    await store.apply_document(web_order("1044", {"SHIRT-BLUE-44": 1}, minute=6))
    # acknowledged before it was mailed: dropped
    await store.record_conflict(ConflictKind.UNKNOWN_SKU, sku="999", channel="till", detail={})
    await service.tick()  # queued, but the window is not over
    unknown = [c for c in await store.conflicts() if c.kind is ConflictKind.UNKNOWN_SKU]
    assert await store.set_conflict_status(unknown[0].id, ConflictStatus.ACKNOWLEDGED)
    for _ in range(3):
        clock.advance(61)
        await service.tick()
    assert len(smtp.inbox.messages) == 2
    assert service.status.pending == 0


@dataclass
class FakeStatus:
    name: str
    state: str
    last_error: str = ""


async def test_a_channel_down_too_long_is_mailed_once_and_its_return_too(
    store: SqlStore, smtp: SmtpServer
) -> None:
    clock = Clock()
    web = FakeStatus("webshop", "in_sync")
    settings = alert_settings(smtp.port, channel_down_minutes=15)
    service = AlertService(settings, store, channels=lambda: [web], clock=clock)
    await service.tick()
    # flapping: down a few minutes, back, again and again for an hour — no conflict, no mail
    for minute in range(60):
        web.state = "degraded" if minute % 10 < 5 else "in_sync"
        clock.advance(60)
        await service.tick()
    assert await store.conflicts() == [] and smtp.inbox.messages == []
    web.state, web.last_error = "down", "cannot connect to https://shop.example.com: refused"
    await service.tick()
    clock.advance(14 * 60)
    await service.tick()
    assert await store.conflicts() == []
    for _ in range(10):
        clock.advance(60)
        await service.tick()
    [conflict] = await store.conflicts()
    assert conflict.kind is ConflictKind.CHANNEL_DOWN and conflict.channel == "webshop"
    assert len(smtp.inbox.messages) == 1
    text = smtp.inbox.texts()[0]
    assert "=== Channels down ===" in text and "webshop: down since" in text
    assert "refused" in text

    # a restart during the outage does not report it again; its end is reported once
    service = AlertService(settings, store, channels=lambda: [web], clock=clock)
    clock.advance(61)
    await service.tick()
    web.state = "in_sync"
    clock.advance(61)
    await service.tick()
    await service.tick()
    assert len(smtp.inbox.messages) == 2
    assert "webshop works again since" in smtp.inbox.texts()[1]
    [conflict] = await store.conflicts()
    assert conflict.status is ConflictStatus.RESOLVED


async def test_rejected_rows_and_an_unreadable_file_are_grouped_in_one_mail(
    store: SqlStore, smtp: SmtpServer
) -> None:
    rows = [
        Rejection("till", "sales-0314.csv", n, "Quantity", "abc", "not a whole number")
        for n in (4, 9, 12)
    ]
    unreadable = Rejection("till", "sales-0315.csv", None, "", "", "not a CSV file")
    await store.apply_batch([], channel="till", rejections=[*rows, unreadable])
    service = AlertService(alert_settings(smtp.port, language="fr"), store)
    await service.tick()
    [text] = smtp.inbox.texts()
    assert "till : sales-0314.csv — 3 lignes rejetées" in text
    assert "ligne 9, colonne « Quantity », valeur « abc » : not a whole number" in text
    assert "till : sales-0315.csv — not a CSV file" in text
    assert smtp.inbox.messages[0]["Subject"] == (
        "[syncd] Alerte stock : 1 document illisible, 3 lignes rejetées"
    )


async def test_the_daily_digest_lists_what_stays_open(store: SqlStore, smtp: SmtpServer) -> None:
    clock = Clock(datetime(2026, 3, 14, 6, 55, tzinfo=UTC))  # 07:55 in Paris
    service = AlertService(alert_settings(smtp.port, digest_time="08:00"), store, clock=clock)
    await blue_shirt_oversell(store)
    await store.record_conflict(ConflictKind.UNKNOWN_SKU, sku="999", channel="till", detail={})
    await service.tick()
    assert len(smtp.inbox.messages) == 1  # the alert itself
    clock.advance(10 * 60)
    await service.tick()  # the first day after set-up: no digest yet
    [_, unknown] = sorted(await store.conflicts(), key=lambda c: c.id)
    await store.set_conflict_status(unknown.id, ConflictStatus.ACKNOWLEDGED)
    clock.advance(24 * 3600)
    await service.tick()
    await service.tick()
    assert len(smtp.inbox.messages) == 2
    digest = smtp.inbox.messages[1]
    assert digest["Subject"] == "[syncd] Daily digest 2026-03-15: 1 open conflict"
    text = smtp.inbox.texts()[1]
    assert "Product: SHIRT-BLUE-44" in text and '"999"' not in text
    clock.advance(3600)
    await service.tick()  # once a day
    assert len(smtp.inbox.messages) == 2


async def test_without_recipients_nothing_is_queued_or_sent(store: SqlStore) -> None:
    service = AlertService(alert_settings(free_port(), to=()), store)
    await store.apply_document(web_order("1", {"A": 1}))
    await service.tick()
    assert service.status.state == "disabled"
    assert await store.pending_alert_items() == [] and await store.alert_mails() == []


@pytest.mark.parametrize("ledger_backend", ["postgres"], indirect=True)
async def test_a_mail_accepted_while_the_ledger_loses_its_connections_goes_out_once(
    store: SqlStore, smtp: SmtpServer, pg_dsn: str
) -> None:
    # Seen under the reliability campaign: PostgreSQL's backends terminated between the SMTP
    # server's 250 and the mark "sent"; unmarked, the mail went out again.
    await blue_shirt_oversell(store)
    database = pg_dsn.rsplit("/", 1)[1]
    terminated: list[int] = []

    async def drop_connections() -> None:
        if terminated:
            return
        conn = await asyncpg.connect(pg_dsn)
        try:
            rows = await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
        finally:
            await conn.close()
        terminated.append(len(rows))

    smtp.inbox.on_message = drop_connections
    service = AlertService(alert_settings(smtp.port), store, admin_order_urls=ADMIN)
    await service.tick()  # before the retry of the mark, this raised LedgerUnavailable
    await service.tick()
    await service.tick()
    assert terminated and terminated[0] >= 1
    assert len(smtp.inbox.messages) == 1
    assert await store.unsent_alert_mails(10) == []
