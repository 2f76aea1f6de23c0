"""The `[alerts]` table → a frozen, typed AlertSettings; every problem is a ConfigIssue."""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from syncd.i18n import resolve_language
from syncd.settings import ConfigIssue

if TYPE_CHECKING:
    from syncd.settings import Secret

SECURITY_CHOICES = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """How conflict alerts are mailed. Nothing is mailed unless enabled and ``to`` is set."""

    enabled: bool = True
    to: tuple[str, ...] = ()
    sender: str = ""  # "" → syncd@<this host>
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_security: str = "starttls"  # starttls | tls (implicit, port 465) | none
    smtp_username: str = ""
    smtp_password: Secret | None = None
    timeout_seconds: float = 30.0
    language: str = "auto"  # auto | fr | en
    timezone: str = "Europe/Paris"
    group_window_seconds: float = 60.0
    max_mails_per_hour: int = 12
    digest_time: str = "08:00"  # local time of the daily digest; "" for none
    channel_down_minutes: float = 15.0
    poll_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    subject_prefix: str = "[syncd]"
    status_page_url: str = ""  # linked from every mail when set

    @property
    def active(self) -> bool:
        """Whether mails are sent at all."""
        return self.enabled and bool(self.to)

    @property
    def from_address(self) -> str:
        return self.sender or f"syncd@{socket.gethostname() or 'localhost'}"

    @property
    def lang(self) -> str:
        return resolve_language(self.language)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def digest_at(self) -> tuple[int, int] | None:
        match = _TIME.match(self.digest_time)
        return (int(match[1]), int(match[2])) if match else None


def _is_address(text: str) -> bool:
    _, address = parseaddr(text)
    return bool(re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+|[^@\s<>]+@localhost", address))


def parse_alerts(
    table: Mapping[str, Any],
    *,
    file: str,
    issues: list[ConfigIssue],
    default_timezone: str = "Europe/Paris",
) -> AlertSettings:
    """Read the `[alerts]` table; problems are appended to ``issues`` (never raised here)."""
    from syncd.settings import TableReader

    r = TableReader(table, file=file, prefix="alerts", issues=issues)
    security = r.string("smtp_security", "starttls", choices=SECURITY_CHOICES)
    to = r.string_list("to")
    sender = r.string("from", "")
    settings = AlertSettings(
        enabled=r.boolean("enabled", True),
        to=to,
        sender=sender,
        smtp_host=r.string("smtp_host", "localhost"),
        smtp_port=r.integer("smtp_port", DEFAULT_PORTS[security], minimum=1, maximum=65535),
        smtp_security=security,
        smtp_username=r.string("smtp_username", ""),
        smtp_password=r.secret("smtp_password"),
        timeout_seconds=r.number("timeout_seconds", 30.0, minimum=1, maximum=600),
        language=r.string("language", "auto", choices=("auto", "fr", "en")),
        timezone=r.string("timezone", default_timezone),
        group_window_seconds=r.number("group_window_seconds", 60.0, minimum=0, maximum=86_400),
        max_mails_per_hour=r.integer("max_mails_per_hour", 12, minimum=1, maximum=3600),
        digest_time=r.string("digest_time", "08:00"),
        channel_down_minutes=r.number("channel_down_minutes", 15.0, minimum=0.01, maximum=10_080),
        poll_seconds=r.number("poll_seconds", 2.0, minimum=0.05, maximum=600),
        retry_max_seconds=r.number("retry_max_seconds", 300.0, minimum=1, maximum=86_400),
        subject_prefix=r.string("subject_prefix", "[syncd]"),
        status_page_url=r.string("status_page_url", ""),
    )
    r.reject_unknown()
    for address in to:
        if not _is_address(address):
            r.problem("to", f"{address!r} is not an email address", 'to = ["shop@example.com"]')
    if sender and not _is_address(sender):
        r.problem("from", f"{sender!r} is not an email address", 'from = "syncd@example.com"')
    if settings.digest_time and settings.digest_at is None:
        r.problem(
            "digest_time",
            f"{settings.digest_time!r} is not a time of day",
            'digest_time = "08:00" (24-hour clock), or "" for no daily digest',
        )
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        r.problem(
            "timezone", f"unknown time zone {settings.timezone!r}", 'timezone = "Europe/Paris"'
        )
    if settings.smtp_password is not None and not settings.smtp_username:
        r.problem("smtp_username", "a password is set but no user name", 'smtp_username = "…"')
    if settings.smtp_username and settings.smtp_password is None:
        r.problem(
            "smtp_password_file",
            "a user name is set but no password",
            'smtp_password_file = "/etc/credstore/syncd-smtp"',
        )
    if settings.active and not settings.smtp_host:
        r.problem("smtp_host", "is empty", 'smtp_host = "smtp.example.com"')
    return settings
