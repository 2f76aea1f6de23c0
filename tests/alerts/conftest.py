"""The alert tests' SMTP servers (syncd.testing.smtp), settings and a clock moved by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syncd.alerts.settings import AlertSettings
from syncd.config import Secret
from syncd.testing.harness import free_port
from syncd.testing.smtp import PASSWORD, USER, Inbox, SmtpServer

__all__ = ["PASSWORD", "USER", "Clock", "Inbox", "SmtpServer", "alert_settings", "free_port"]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_auth() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port(), auth=True)
    server.start()
    yield server
    server.stop()


def alert_settings(port: int, **overrides: Any) -> AlertSettings:
    values: dict[str, Any] = {
        "to": ("shop@example.com", "owner@example.com"),
        "sender": "syncd@example.com",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "none",
        "timeout_seconds": 5.0,
        "language": "en",
        "timezone": "Europe/Paris",
        "digest_time": "",
        "poll_seconds": 0.05,
    }
    values.update(overrides)
    if "smtp_password" in values and isinstance(values["smtp_password"], str):
        values["smtp_password"] = Secret(values["smtp_password"])
    return AlertSettings(**values)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 14, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now
