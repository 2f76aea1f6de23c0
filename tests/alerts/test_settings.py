"""The `[alerts]` table: typed, validated, every problem named; language from the locale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from syncd.alerts.settings import AlertSettings
from syncd.config import load_config, parse_config
from syncd.exceptions import ConfigError
from syncd.i18n import resolve_language

BASE: dict[str, Any] = {
    "channels": {"till": {"type": "csv_till", "drop_folder": "in", "stock_file": "stock.csv"}},
}


def parse(alerts: dict[str, Any], file: str = "/etc/syncd/syncd.toml") -> AlertSettings:
    return parse_config({**BASE, "alerts": alerts}, file=file).alerts


def issues(alerts: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(alerts)
    return [f"{i.key}: {i.message}" for i in info.value.issues]


def test_defaults_send_nothing_until_recipients_are_set() -> None:
    settings = parse_config(BASE, file="x.toml").alerts
    assert settings == AlertSettings()
    assert not settings.active
    assert settings.group_window_seconds == 60.0 and settings.channel_down_minutes == 15.0
    assert settings.smtp_port == 587 and settings.smtp_security == "starttls"


def test_a_full_table_is_read_and_the_password_comes_from_its_file(tmp_path: Path) -> None:
    (tmp_path / "smtp.password").write_text("pa55word-smtp\n", encoding="utf-8")
    settings = parse(
        {
            "to": ["shop@example.com", "Owner <owner@example.fr>"],
            "from": "syncd@example.com",
            "smtp_host": "smtp.example.com",
            "smtp_security": "tls",
            "smtp_username": "shop",
            "smtp_password_file": "smtp.password",
            "language": "fr",
            "group_window_seconds": 30,
            "digest_time": "07:30",
        },
        file=str(tmp_path / "syncd.toml"),
    )
    assert settings.active and settings.to == ("shop@example.com", "Owner <owner@example.fr>")
    assert settings.smtp_port == 465  # the implicit-TLS port unless given
    assert settings.smtp_password is not None
    assert settings.smtp_password.reveal() == "pa55word-smtp"
    assert "pa55word" not in repr(settings)
    assert settings.digest_at == (7, 30) and settings.lang == "fr"
    assert settings.timezone == "Europe/Paris"  # from [web]


def test_every_mistake_is_reported_at_once_with_its_key() -> None:
    found = issues(
        {
            "to": ["shop-at-example.com"],
            "from": "nobody",
            "smtp_security": "ssl",
            "smtp_username": "shop",
            "digest_time": "8h",
            "timezone": "Mars/Olympus",
            "group_window": 60,
            "max_mails_per_hour": 0,
        }
    )
    assert found == [
        "alerts.smtp_security: 'ssl' is not one of starttls, tls, none",
        "alerts.max_mails_per_hour: 0 is below the minimum 1",
        "alerts.group_window: is not a known setting",
        "alerts.to: 'shop-at-example.com' is not an email address",
        "alerts.from: 'nobody' is not an email address",
        "alerts.digest_time: '8h' is not a time of day",
        "alerts.timezone: unknown time zone 'Mars/Olympus'",
        "alerts.smtp_password_file: a user name is set but no password",
    ]


def test_check_config_reports_alert_problems(tmp_path: Path) -> None:
    config = tmp_path / "syncd.toml"
    config.write_text(
        '[channels.till]\ntype = "csv_till"\ndrop_folder = "in"\nstock_file = "s.csv"\n'
        '[alerts]\nto = "shop@example.com"\nlanguage = "de"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert [i.key for i in info.value.issues] == ["alerts.language"]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"LANG": "fr_FR.UTF-8"}, "fr"),
        ({"LC_ALL": "fr_BE.UTF-8", "LANG": "en_US.UTF-8"}, "fr"),
        ({"LANG": "en_GB.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({}, "en"),
    ],
)
def test_auto_language_follows_the_system_locale(environ: dict[str, str], expected: str) -> None:
    assert resolve_language("auto", environ) == expected
    assert resolve_language("fr", environ) == "fr"
