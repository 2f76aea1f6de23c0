"""The `[alerts]` table → a frozen, typed AlertSettings; every problem is a ConfigIssue."""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from functools import cache
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
    sender: str = ""  # "" → default_sender(): the login, syncd@<FQDN>, or the recipients' domain
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
        return self.sender or default_sender(self)[0]

    @property
    def password_in_clear(self) -> bool:
        """A login over a connection that is never encrypted: the password crosses in clear."""
        return self.smtp_security == "none" and bool(self.smtp_username)

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


@cache
def host_domain() -> str:
    """This machine's DNS domain name (FQDN) when it has one, else "" (a bare "vm" or "pi" is
    no mail domain: many servers refuse such a sender, RFC 5321 §4.1.2 wants a domain)."""
    name = socket.getfqdn().strip(".").lower()
    if "." not in name or name.startswith("localhost") or name.endswith(".localdomain"):
        return ""
    return name


def default_sender(settings: AlertSettings) -> tuple[str, str]:
    """The sender when ``from`` is not set, and where it comes from (said by check-config):
    the SMTP login when it is an address (many providers refuse any other sender), else
    syncd@<this host's FQDN>, else syncd@<the first recipient's domain>."""
    if _is_address(settings.smtp_username):
        return settings.smtp_username, "the SMTP login"
    if domain := host_domain():
        return f"syncd@{domain}", "this host's domain name"
    for address in settings.to:
        domain = parseaddr(address)[1].rpartition("@")[2]
        if "." in domain:
            return f"syncd@{domain}", "the first recipient's domain (this host has no domain name)"
    return "syncd@localhost", "no domain found"


def alert_warnings(settings: AlertSettings, *, file: str) -> list[ConfigIssue]:
    """What works but deserves a look: check-config prints these, and the daemon logs them."""
    if not settings.active:
        return []
    warnings: list[ConfigIssue] = []
    if settings.password_in_clear:
        warnings.append(
            ConfigIssue(
                file,
                "alerts.smtp_security",
                f'"none" with smtp_username: the password goes to {settings.smtp_host} in clear',
                'smtp_security = "starttls" (port 587) or "tls" (port 465); "none" only for '
                "a relay on this machine, without a login",
            )
        )
    if not settings.sender:
        sender, origin = default_sender(settings)
        warnings.append(
            ConfigIssue(
                file,
                "alerts.from",
                f"not set: mails go from {sender} ({origin})",
                'from = "syncd@your-domain" (an address your mail server accepts)',
            )
        )
    return warnings


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
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" (tzdata)
        r.problem(
            "timezone", f"unknown time zone {settings.timezone!r}", 'timezone = "Europe/Paris"'
        )
    if settings.smtp_password is not None and not settings.smtp_username:
        r.problem("smtp_username", "a password is set but no user name", 'smtp_username = "…"')
    password_given = "smtp_password" in table or "smtp_password_file" in table
    if settings.smtp_username and settings.smtp_password is None and not password_given:
        # a password file that is there but cannot be read is reported once, by r.secret
        r.problem(
            "smtp_password_file",
            "a user name is set but no password",
            'smtp_password_file = "/etc/credstore/syncd-smtp"',
        )
    if settings.active and not settings.smtp_host:
        r.problem("smtp_host", "is empty", 'smtp_host = "smtp.example.com"')
    return settings
