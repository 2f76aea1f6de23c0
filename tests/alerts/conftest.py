"""A real SMTP server (aiosmtpd, in its own thread) that keeps every message it accepts."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from syncd.alerts.settings import AlertSettings
from syncd.config import Secret

USER = "shop"
PASSWORD = "s3cret-smtp-pass"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Inbox:
    """What the server accepted, and every login it saw."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        with self.lock:
            self.logins += 1
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == USER.encode()
            and auth_data.password == PASSWORD.encode()
        )
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535

    def texts(self) -> list[str]:
        with self.lock:
            return [_part(m, "plain") for m in self.messages]

    def htmls(self) -> list[str]:
        with self.lock:
            return [_part(m, "html") for m in self.messages]


def _part(message: EmailMessage, subtype: str) -> str:
    body = message.get_body(preferencelist=(subtype,))
    assert body is not None, f"no text/{subtype} part"
    return str(body.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1:port; start() and stop() may be called more than once."""

    def __init__(self, port: int, *, auth: bool = False) -> None:
        self.port = port
        self.auth = auth
        self.inbox = Inbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        kwargs: dict[str, Any] = {}
        if self.auth:
            # AUTH offered without TLS (loopback only). auth_required=True would make aiosmtpd
            # warn on every connection, an error under filterwarnings=error.
            kwargs = {"authenticator": self.inbox.authenticate, "auth_require_tls": False}
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


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
