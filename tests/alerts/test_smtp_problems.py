"""SMTP set up wrongly, as a merchant does: each mistake named once, in plain words, with the fix;
tried against a real aiosmtpd server through `syncd test-alert` and `syncd check-config`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from syncd.alerts import settings as alert_settings_module
from syncd.alerts.service import AlertService
from syncd.cli import main
from syncd.config import load_config
from syncd.exceptions import ConfigError
from syncd.ledger.sqlstore import SqlStore
from tests.alerts.conftest import PASSWORD, USER, SmtpServer, alert_settings
from tests.alerts.test_cli import smtp_alerts, write_config


def test_implicit_tls_against_a_port_that_answers_in_clear_names_starttls(
    tmp_path: Path, smtp: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A STARTTLS (587) or plain port answers TLS's hello in plain text: OpenSSL's error code
    (1) is not an errno and must not read as "operation not permitted"."""
    config = write_config(tmp_path, smtp_alerts(smtp.port).replace('"none"', '"tls"'))
    assert main(["test-alert", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "not permitted" not in err
    assert err == (
        f"error: the test mail was not sent: the mail server 127.0.0.1:{smtp.port} does not speak"
        " TLS from the start (TLS failed: wrong version number): it is probably a STARTTLS port;"
        ' set smtp_security = "starttls" (port 587), or smtp_port = 465 for smtp_security = "tls"\n'
    )
    assert smtp.inbox.messages == []


def test_starttls_against_a_server_without_it_gets_the_dedicated_message(
    tmp_path: Path, smtp: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, smtp_alerts(smtp.port).replace('"none"', '"starttls"'))
    assert main(["test-alert", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: the test mail was not sent: the mail server 127.0.0.1:{smtp.port} does not "
        'offer STARTTLS, which smtp_security = "starttls" needs: if it takes TLS from the start'
    )
    assert "extension not supported" not in err  # not the library's words


def test_an_unreadable_password_file_is_the_only_problem_reported(tmp_path: Path) -> None:
    unreadable = tmp_path / "smtp.password"
    unreadable.mkdir()  # a folder: unreadable as a file even for root
    extra = f'smtp_username = "{USER}"\nsmtp_password_file = "smtp.password"\n'
    config = write_config(tmp_path, smtp_alerts(1025, extra))
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert [(i.key, i.message) for i in info.value.issues] == [
        ("alerts.smtp_password_file", f"cannot read {unreadable}: Is a directory")
    ]
    # with no password at all, the missing password is still reported
    config = write_config(tmp_path, smtp_alerts(1025, f'smtp_username = "{USER}"\n'))
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert [i.message for i in info.value.issues] == ["a user name is set but no password"]


@pytest.fixture
def host_without_domain(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(alert_settings_module.socket, "getfqdn", lambda: "till-pc")
    alert_settings_module.host_domain.cache_clear()
    yield
    alert_settings_module.host_domain.cache_clear()


@pytest.mark.usefixtures("host_without_domain")
def test_the_default_sender_has_a_domain_and_check_config_says_which(
    tmp_path: Path, smtp: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    alerts = smtp_alerts(smtp.port).replace('from = "syncd@example.com"\n', "")
    config = write_config(tmp_path, alerts)
    assert main(["check-config", "--config", str(config)]) == 0
    assert (
        f"warning: {config}: alerts.from: not set: mails go from syncd@example.com (the first "
        "recipient's domain (this host has no domain name)) (fix: "
    ) in capsys.readouterr().err
    assert main(["test-alert", "--config", str(config)]) == 0
    [(sender, _)] = smtp.inbox.envelopes
    assert sender == "syncd@example.com"  # never the bare syncd@till-pc
    assert smtp.inbox.messages[0]["From"] == "syncd@example.com"

    login = smtp_alerts(smtp.port, 'smtp_username = "shop@mail.example.net"\nsmtp_password = "x"')
    settings = load_config(
        write_config(tmp_path, login.replace('from = "syncd@example.com"\n', ""))
    )
    assert settings.alerts.from_address == "shop@mail.example.net"


def test_the_host_name_gives_the_sender_when_it_is_a_domain_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(alert_settings_module.socket, "getfqdn", lambda: "till.shop.example.org")
    alert_settings_module.host_domain.cache_clear()
    try:
        settings = alert_settings(25, sender="")
        assert settings.from_address == "syncd@till.shop.example.org"
    finally:
        alert_settings_module.host_domain.cache_clear()


async def test_a_password_sent_in_clear_is_warned_of_by_check_config_and_at_start(
    tmp_path: Path, smtp_auth: SmtpServer, store: SqlStore, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = f'smtp_username = "{USER}"\nsmtp_password = "{PASSWORD}"\n'
    config = write_config(tmp_path, smtp_alerts(smtp_auth.port, extra))
    assert main(["check-config", "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert (
        f'warning: {config}: alerts.smtp_security: "none" with smtp_username: the password goes '
        "to 127.0.0.1 in clear (fix: " in err
    )
    assert PASSWORD not in err
    stopping = asyncio.Event()
    stopping.set()
    settings = load_config(config).alerts
    with capture_logs() as logs:
        await AlertService(settings, store).run(stopping)
    [warned] = [e for e in logs if e["event"] == "smtp_password_in_clear"]
    assert warned["log_level"] == "warning" and warned["smtp_host"] == "127.0.0.1"
    assert PASSWORD not in str(logs)
    # encrypted, or no login: no warning
    with capture_logs() as logs:
        await AlertService(alert_settings(smtp_auth.port), store).run(stopping)
    assert not [e for e in logs if e["event"] == "smtp_password_in_clear"]
