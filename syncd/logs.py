"""structlog set-up: JSON lines when not on a TTY (journald-friendly), readable console on a TTY."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from syncd.settings import Secret

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

# Values of these keys never reach a log line, whatever a caller passes.
_SECRET_KEYS = re.compile(r"(pass(word)?|secret|token|api_?key|ws_key|authorization|dsn)$", re.I)
_registered_secrets: set[str] = set()
# "scheme://user:password@" (or "scheme://token@") in any text: the credentials part.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")


def register_secret(value: str) -> None:
    """Scrub this exact string from every log line (API keys, passwords, DSNs read from config)."""
    if len(value) >= 4:
        _registered_secrets.add(value)


def scrub(text: str) -> str:
    for secret in _registered_secrets:
        if secret in text:
            text = text.replace(secret, "<redacted>")
    return text


_QUERY_SECRET = re.compile(
    r"(?i)([?&](?:ws_key|key|api_key|apikey|token|access_token|password|secret)=)[^&\s#]+"
)


def redact_userinfo(text: str) -> str:
    """Every URL's user name and password replaced (what a config error or a log line shows)."""
    return _USERINFO.sub(r"\1<redacted>@", text)


def clean(text: str) -> str:
    """A text fit to show or store (a rejection's reason and value, an error): no registered
    secret, no ``user:password@`` in a URL, no ``key=…`` in a query. Texts that come from
    outside (a till file's header, a shop's answer) go through this before any page, file or
    mail, so that a file whose content is a secret does not show it."""
    text = redact_userinfo(scrub(text))
    return _QUERY_SECRET.sub(r"\1<redacted>", text)


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if isinstance(value, Secret) or (_SECRET_KEYS.search(key) and value not in (None, "")):
            event[key] = "<redacted>"
        elif isinstance(value, str):
            event[key] = redact_userinfo(scrub(value) if _registered_secrets else value)
        elif isinstance(value, list) and any(isinstance(v, str) for v in value):
            event[key] = [redact_userinfo(scrub(v)) if isinstance(v, str) else v for v in value]
    return event


class _CurrentStderr:
    """Whatever sys.stderr is when a line is written (a stream swapped or closed after the
    logging was configured, as test runners do, must not take the logs with it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(level: str = "info", fmt: str = "auto", stream: Any = None) -> None:
    """Configure structlog once for the process."""
    stream = stream or _CurrentStderr()
    use_console = fmt == "console" or (
        fmt == "auto" and hasattr(stream, "isatty") and stream.isatty()
    )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    if use_console:
        processors.append(structlog.dev.ConsoleRenderer(colors=False))
    else:
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
