"""`syncd test-alert` and `syncd conflicts list|ack|resolve`, run as a merchant runs them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from syncd.cli import main
from syncd.domain import ConflictKind
from syncd.ledger.sqlite import SqliteStore
from syncd.ledger.store import NewAlertMail
from tests.alerts.conftest import PASSWORD, USER, SmtpServer, free_port


def write_config(tmp: Path, alerts: str) -> Path:
    config = tmp / "syncd.toml"
    config.write_text(
        '[ledger]\nbackend = "sqlite"\npath = "ledger.sqlite3"\n'
        '[channels.till]\ntype = "csv_till"\ndrop_folder = "in"\nstock_file = "stock.csv"\n'
        f"[alerts]\n{alerts}\n",
        encoding="utf-8",
    )
    return config


def smtp_alerts(port: int, extra: str = "") -> str:
    return (
        'to = ["shop@example.com"]\nfrom = "syncd@example.com"\nsmtp_host = "127.0.0.1"\n'
        f'smtp_port = {port}\nsmtp_security = "none"\ntimeout_seconds = 5\n'
        f'language = "fr"\n{extra}'
    )


def test_test_alert_sends_one_mail(
    tmp_path: Path, smtp: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, smtp_alerts(smtp.port))
    assert main(["test-alert", "--config", str(config)]) == 0
    [message] = smtp.inbox.messages
    assert message["Subject"] == "[syncd] Message de test : les alertes de syncd fonctionnent"
    assert "les alertes de stock arrivent bien" in smtp.inbox.texts()[0]
    err = capsys.readouterr().err
    assert f"test mail sent to shop@example.com through 127.0.0.1:{smtp.port}" in err
    assert message["Message-ID"] in err


def test_test_alert_says_exactly_what_failed(
    tmp_path: Path, smtp_auth: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "smtp.password").write_text("not-the-password\n", encoding="utf-8")
    extra = f'smtp_username = "{USER}"\nsmtp_password_file = "smtp.password"\n'
    config = write_config(tmp_path, smtp_alerts(smtp_auth.port, extra))
    assert main(["test-alert", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: the test mail was not sent: the mail server 127.0.0.1:{smtp_auth.port} "
        "refused the login of user 'shop' (535 5.7.8 Authentication credentials invalid)"
    )
    assert "not-the-password" not in err
    # fixed: it goes
    (tmp_path / "smtp.password").write_text(PASSWORD, encoding="utf-8")
    assert main(["test-alert", "--config", str(config)]) == 0
    assert len(smtp_auth.inbox.messages) == 1
    assert "test mail sent" in capsys.readouterr().err

    port = free_port()  # nobody listens
    config = write_config(tmp_path, smtp_alerts(port))
    assert main(["test-alert", "--config", str(config)]) == 1
    assert capsys.readouterr().err == (
        "error: the test mail was not sent: cannot connect to the mail server "
        f"127.0.0.1:{port}: connection refused\n"
    )


def test_test_alert_without_recipients_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, 'smtp_host = "127.0.0.1"')
    assert main(["test-alert", "--config", str(config)]) == 2
    assert "[alerts] has no recipients" in capsys.readouterr().err


def test_conflicts_are_listed_acknowledged_and_resolved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "")

    async def record() -> int:
        store = await SqliteStore(tmp_path / "ledger.sqlite3").open()
        try:
            return await store.record_conflict(
                ConflictKind.UNKNOWN_SKU, sku="999", channel="till", detail={"identifier": "999"}
            )
        finally:
            await store.close()

    conflict_id = asyncio.run(record())
    assert main(["conflicts", "list", "--config", str(config), "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)["conflicts"]
    assert listed["id"] == conflict_id and listed["kind"] == "unknown_sku"
    assert listed["status"] == "open"

    assert main(["conflicts", "ack", str(conflict_id), "--config", str(config)]) == 0
    assert capsys.readouterr().err == f"conflict {conflict_id} acknowledged\n"
    assert main(["conflicts", "list", "--config", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"conflicts": []}
    argv = ["conflicts", "list", "--status", "acknowledged", "--config", str(config), "--json"]
    assert main(argv) == 0
    assert [c["id"] for c in json.loads(capsys.readouterr().out)["conflicts"]] == [conflict_id]

    argv = ["conflicts", "resolve", str(conflict_id), "--config", str(config), "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == {"id": conflict_id, "status": "resolved"}
    assert main(["conflicts", "ack", "4242", "--config", str(config)]) == 2
    assert capsys.readouterr().err == "error: there is no conflict 4242 in the ledger\n"
    assert main(["conflicts", "list", "--status", "all", "--config", str(config)]) == 0
    assert "unknown_sku" in capsys.readouterr().out


def test_status_shows_alert_mails_that_could_not_be_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, smtp_alerts(free_port()))

    async def fail_one() -> None:
        store = await SqliteStore(tmp_path / "ledger.sqlite3").open()
        try:
            mail_id = await store.create_alert_mail(NewAlertMail("alert", "s", "t", "<p>h</p>"))
            assert mail_id is not None
            await store.mark_alert_mail_failed(mail_id, "cannot connect to the mail server")
        finally:
            await store.close()

    asyncio.run(fail_one())
    assert main(["status", "--config", str(config), "--json"]) == 0
    alerts = json.loads(capsys.readouterr().out)["alerts"]
    assert alerts == {
        "enabled": True,
        "unsent_mails": 1,
        "last_sent_at": None,
        "last_error": "cannot connect to the mail server",
    }
    assert main(["status", "--config", str(config)]) == 0
    assert "1 alert mail(s) not sent yet: cannot connect" in capsys.readouterr().out
