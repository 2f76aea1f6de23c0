"""A real SMTP server (aiosmtpd, in its own thread) that keeps every message it accepts."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER = "shop"
PASSWORD = "s3cret-smtp-pass"


@dataclass
class Inbox:
    """What the server accepted, and every login it saw."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # awaited once per message, after it is kept and before the server answers 250
    on_message: Callable[[], Awaitable[None]] | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        if self.on_message is not None:
            await self.on_message()
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
    return str(body.get_content()).replace("\r\n", "\n")


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
