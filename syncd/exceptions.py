"""One exception hierarchy, grouped by what the caller does about it."""

from __future__ import annotations


class SyncdError(Exception):
    """Base of every error syncd raises on purpose."""


# -- configuration: refuse to start (or refuse that channel) and say what to write instead ---------


class ConfigError(SyncdError):
    """The configuration is wrong; nothing will work until a person fixes it."""

    def __init__(self, message: str, issues: list[object] | None = None) -> None:
        super().__init__(message)
        self.issues = issues or []


# -- ledger: the authority itself failed ------------------------------------------------------------


class LedgerError(SyncdError):
    """The ledger could not do what was asked."""


class LedgerUnavailable(LedgerError):
    """The database cannot be reached right now; retry later, nothing was written."""


class SchemaError(LedgerError):
    """The database schema is missing or newer than this program; run `syncd migrate`."""


class DocumentRejected(LedgerError):
    """A document is invalid (empty id, non-integer quantity…); it was not applied."""


# -- connectors: a channel failed; the caller retries, parks the channel, or refuses it ------------


class ConnectorError(SyncdError):
    """A channel (till, webshop) failed. Subclasses say what to do about it."""

    def __init__(self, message: str, *, channel: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.channel = channel
        self.code = code
        # The HTTP status of the answer that raised it (set by connectors.http), None otherwise:
        # `syncd setup` names it ("refused the key (HTTP 401)") whatever the shop's error code.
        self.status: int | None = None


class RetriableError(ConnectorError):
    """Temporary: timeout, 5xx, 429, connection reset. Retry with backoff."""

    def __init__(
        self,
        message: str,
        *,
        channel: str = "",
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, channel=channel, code=code)
        self.retry_after = retry_after


class NotReadyError(RetriableError):
    """The channel is not reachable yet (start-up); keep retrying in the background."""


class FatalError(ConnectorError):
    """The channel refused the request for a reason retrying will not fix (a 4xx)."""


class AuthError(FatalError):
    """The channel refused our credentials: park the channel and tell the merchant."""


class ChannelConfigError(FatalError):
    """The channel answered, but our settings for it are wrong (unknown shop id, source…)."""


class ParseError(ConnectorError):
    """An input (a file, a response body) could not be read; it is quarantined, never dropped."""


class StaleLease(LedgerError):
    """A write made under a job's lease that another daemon has taken since (a paused or cut-off
    daemon waking up): refused in its transaction, nothing of it written."""
