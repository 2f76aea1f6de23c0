"""Mail headers hold one line whatever a product name holds, and a mail that cannot be built
fails alone: the mails behind it still go (issue 22, item 5). Real ledger, real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from structlog.testing import capture_logs

from syncd.alerts.mailer import header_text
from syncd.alerts.service import AlertService
from syncd.domain import Document, DocumentKind
from syncd.ledger import Product
from syncd.ledger.sqlstore import SqlStore
from syncd.ledger.store import AlertMail, NewAlertMail
from tests.alerts.conftest import SmtpServer, alert_settings

T0 = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
EVIL = "Shirt\r\nBcc: victim@evil.example\r\n\r\nInjected\x07 body\u2028more"


async def oversell(store: SqlStore, sku: str, name: str) -> None:
    await store.upsert_products([Product(sku, name)])
    await store.apply_document(
        Document("office", f"r-{sku}", DocumentKind.GOODS_RECEIPT, {sku: 1}, T0)
    )
    for n, channel in enumerate(("till", "webshop")):
        await store.apply_document(
            Document(
                channel,
                f"{channel}-{sku}",
                DocumentKind.TILL_RECEIPT if channel == "till" else DocumentKind.WEB_ORDER,
                {sku: 1},
                T0 + timedelta(minutes=n + 1),
            )
        )


def test_header_text_keeps_one_line_and_every_printable_character() -> None:
    assert header_text(EVIL) == "Shirt Bcc: victim@evil.example Injected body more"
    assert header_text("Chemise « été » — 44 😀") == "Chemise « été » — 44 😀"
    assert header_text("a\u202eb\u200bc\udcff") == "a b c"


async def test_a_crlf_product_name_makes_one_subject_line_and_no_injected_header(
    store: SqlStore, smtp: SmtpServer
) -> None:
    await oversell(store, "EVIL-1", EVIL)
    service = AlertService(alert_settings(smtp.port), store)
    await service.tick()  # before: ValueError (header injection refused), every round
    [message] = smtp.inbox.messages
    assert message["Subject"] == (
        "[syncd] Oversold: the last unit was sold twice — EVIL-1 "
        "Shirt Bcc: victim@evil.example Injected body more"
    )
    assert message["Bcc"] is None
    assert smtp.inbox.envelopes == [
        ("syncd@example.com", ["shop@example.com", "owner@example.com"])
    ]
    [mail] = await store.alert_mails()
    assert "\n" not in mail.subject and "\r" not in mail.subject  # stored on one line too


async def test_a_mail_queued_with_a_crlf_subject_before_the_fix_goes_on_one_line(
    store: SqlStore, smtp: SmtpServer
) -> None:
    await store.create_alert_mail(NewAlertMail("alert", f"[syncd] {EVIL}", "text", "<p>html</p>"))
    await store.create_alert_mail(NewAlertMail("alert", "[syncd] next", "text", "<p>html</p>"))
    await AlertService(alert_settings(smtp.port), store).tick()
    subjects = [str(m["Subject"]) for m in smtp.inbox.messages]
    assert subjects == ["[syncd] Shirt Bcc: victim@evil.example Injected body more", "[syncd] next"]


class BuildFailsFor(AlertService):
    """Fault injection: the message of one mail cannot be built (header_text makes every mail
    of ours buildable; this stands for whatever a future one could hold)."""

    bad_id = 0

    def message(self, mail: AlertMail):  # type: ignore[no-untyped-def]
        if mail.id == self.bad_id:
            raise ValueError("Header values may not contain linefeed or carriage return characters")
        return super().message(mail)


async def test_a_mail_that_cannot_be_built_fails_alone_logged_once(
    store: SqlStore, smtp: SmtpServer
) -> None:
    bad = await store.create_alert_mail(NewAlertMail("alert", "[syncd] bad", "t", "<p>h</p>"))
    await store.create_alert_mail(NewAlertMail("alert", "[syncd] next", "t", "<p>h</p>"))
    service = BuildFailsFor(alert_settings(smtp.port), store)
    assert bad is not None
    service.bad_id = bad
    with capture_logs() as logs:
        await service.tick()
        await service.tick()
        await store.create_alert_mail(NewAlertMail("alert", "[syncd] later", "t", "<p>h</p>"))
        await service.tick()
    assert [str(m["Subject"]) for m in smtp.inbox.messages] == ["[syncd] next", "[syncd] later"]
    assert [e["event"] for e in logs].count("alert_mail_unbuildable") == 1
    failed = next(m for m in await store.alert_mails() if m.id == bad)
    assert failed.sent_at is None
    assert failed.last_error.startswith("the mail could not be built: ValueError: Header values")
    assert service.status.state == "ok"  # the mail server is fine: not shown as failing
