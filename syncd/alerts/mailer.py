"""Sending one mail with aiosmtplib; every failure becomes a SendError in plain words (which
server, which step, what it answered), never with the password in it."""

from __future__ import annotations

import os
import re
import ssl
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path

import aiosmtplib

from syncd.alerts.settings import AlertSettings
from syncd.exceptions import SyncdError
from syncd.ledger.store import to_us
from syncd.logs import register_secret, scrub


class SendError(SyncdError):
    """A mail was not accepted. ``kind``: connect | timeout | tls | auth | refused | protocol."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(scrub(message))
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A mail ready to build: the same mail id always gives the same Message-ID, so a mail sent
    again after a crash (accepted, not yet marked sent) is recognisable as a duplicate."""

    mail_id: int
    created_at: datetime
    subject: str
    text: str
    html: str
    kind: str = "alert"


def message_id(settings: AlertSettings, mail_id: int, created_at: datetime) -> str:
    _, address = parseaddr(settings.from_address)
    domain = address.rpartition("@")[2] or "localhost"
    return f"<syncd-{mail_id}.{to_us(created_at)}@{domain}>"


# Control characters (CR, LF, NUL, tab…), format characters (zero-width, bidi overrides),
# lone surrogates and line/paragraph separators: none belongs in a header. CR/LF would even
# make EmailMessage raise (header injection refused), so one product name would stop the mails.
_NOT_IN_HEADER = ("Cc", "Cf", "Cs", "Zl", "Zp")
_SPACES = re.compile(r"\s+")


def header_text(value: str) -> str:
    """``value`` on one line, fit for a mail header: every control character a space."""
    text = "".join(" " if unicodedata.category(c) in _NOT_IN_HEADER else c for c in value)
    return _SPACES.sub(" ", text).strip()


def _body_text(value: str) -> str:
    """A body that can be encoded: a lone surrogate (from a shop's JSON) becomes "?"."""
    return value.encode("utf-8", errors="replace").decode("utf-8")


def build_message(settings: AlertSettings, mail: Outgoing) -> EmailMessage:
    """The mail, every header on one line whatever the texts it holds (a product name, a
    configured address). Raises (ValueError, …) only for a mail that cannot be built at all."""
    message = EmailMessage()
    message["From"] = header_text(settings.from_address)
    message["To"] = header_text(", ".join(settings.to))
    message["Subject"] = header_text(mail.subject)
    message["Date"] = format_datetime(mail.created_at)
    message["Message-ID"] = header_text(message_id(settings, mail.mail_id, mail.created_at))
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    message["X-Syncd-Mail"] = header_text(f"{mail.kind} {mail.mail_id}")
    message.set_content(_body_text(mail.text))
    message.add_alternative(_body_text(mail.html), subtype="html")
    return message


def current_password(settings: AlertSettings) -> str | None:
    """The SMTP password, read again from its credential file when it has one, so a fixed
    password is used without a restart."""
    secret = settings.smtp_password
    if secret is None:
        return None
    if secret.source != "inline":
        try:
            fresh = Path(secret.source).read_text(encoding="utf-8").strip()
        except OSError:
            fresh = ""
        if fresh:
            register_secret(fresh)
            return fresh
    return secret.reveal()


def server_name(settings: AlertSettings) -> str:
    return f"{settings.smtp_host}:{settings.smtp_port}"


async def send_message(settings: AlertSettings, message: EmailMessage) -> list[str]:
    """Hand the message to the SMTP server; returns the recipients it refused (the others got
    it). Raises SendError when nobody got it."""
    where = server_name(settings)
    password = current_password(settings)
    try:
        refused, _ = await aiosmtplib.send(
            message,
            sender=parseaddr(settings.from_address)[1],
            recipients=[parseaddr(t)[1] for t in settings.to],
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username or None,
            password=password if settings.smtp_username else None,
            use_tls=settings.smtp_security == "tls",
            start_tls=settings.smtp_security == "starttls",
            timeout=settings.timeout_seconds,
        )
    except aiosmtplib.SMTPAuthenticationError as err:
        raise SendError(
            "auth",
            f"the mail server {where} refused the login of user {settings.smtp_username!r} "
            f"({_answer(err)}): check smtp_username and the password file",
        ) from err
    except aiosmtplib.SMTPRecipientsRefused as err:
        refused_all = ", ".join(f"{r.recipient} ({_answer(r)})" for r in err.recipients)
        raise SendError(
            "refused", f"the mail server {where} refused every recipient: {refused_all}"
        ) from err
    except aiosmtplib.SMTPSenderRefused as err:
        raise SendError(
            "refused",
            f"the mail server {where} refused the sender {err.sender} ({_answer(err)}): "
            "set [alerts] from to an address this server accepts",
        ) from err
    except (aiosmtplib.SMTPConnectTimeoutError, aiosmtplib.SMTPTimeoutError) as err:
        raise SendError(
            "timeout",
            f"the mail server {where} did not answer within {settings.timeout_seconds:.0f} s",
        ) from err
    except aiosmtplib.SMTPConnectError as err:
        if (tls_err := _ssl_cause(err)) is not None:
            raise SendError("tls", _tls_failure(settings, tls_err)) from err
        raise SendError(
            "connect", f"cannot connect to the mail server {where}: {_reason(err)}"
        ) from err
    except aiosmtplib.SMTPNotSupported as err:
        if "STARTTLS" in str(err).upper():
            raise SendError("tls", _no_starttls(settings)) from err
        raise SendError(
            "tls" if "TLS" in str(err).upper() else "protocol",
            f"the mail server {where} does not support what smtp_security = "
            f"{settings.smtp_security!r} needs: {err}",
        ) from err
    except aiosmtplib.SMTPServerDisconnected as err:
        raise SendError("connect", f"the mail server {where} hung up: {err}") from err
    except aiosmtplib.SMTPResponseException as err:
        raise SendError("protocol", f"the mail server {where} answered {_answer(err)}") from err
    except aiosmtplib.SMTPException as err:
        # aiosmtplib.SMTP.starttls raises a plain SMTPException when EHLO offers no STARTTLS
        if settings.smtp_security == "starttls" and "STARTTLS" in str(err).upper():
            raise SendError("tls", _no_starttls(settings)) from err
        if (tls_err := _ssl_cause(err)) is not None:
            raise SendError("tls", _tls_failure(settings, tls_err)) from err
        raise SendError("protocol", f"sending through {where} failed: {err}") from err
    except ssl.SSLError as err:
        raise SendError("tls", _tls_failure(settings, err)) from err
    except OSError as err:
        raise SendError(
            "connect", f"cannot connect to the mail server {where}: {_reason(err)}"
        ) from err
    return sorted(refused)


def _answer(err: aiosmtplib.SMTPResponseException) -> str:
    return f"{err.code} {err.message}".strip()


def _ssl_cause(err: BaseException) -> ssl.SSLError | None:
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _no_starttls(settings: AlertSettings) -> str:
    return (
        f"the mail server {server_name(settings)} does not offer STARTTLS, which "
        'smtp_security = "starttls" needs: if it takes TLS from the start (usually port 465), '
        'set smtp_security = "tls" and smtp_port = 465; "none" only for a relay on this '
        "machine, without a login"
    )


def _tls_failure(settings: AlertSettings, err: ssl.SSLError) -> str:
    where = server_name(settings)
    reason = err.reason or err.strerror or str(err)
    if isinstance(err, ssl.SSLCertVerificationError):
        return (
            f"the mail server {where} showed a certificate that cannot be trusted "
            f"({err.verify_message or reason}): check smtp_host is the name on its certificate"
        )
    if settings.smtp_security == "tls" and reason in (
        "WRONG_VERSION_NUMBER",
        "RECORD_LAYER_FAILURE",
    ):
        # It answered in plain text, as a STARTTLS (587) or plain (25) port does.
        return (
            f"the mail server {where} does not speak TLS from the start (TLS failed: "
            f"{reason.lower().replace('_', ' ')}): it is probably a STARTTLS port; set "
            f'smtp_security = "starttls" (port 587), or smtp_port = 465 for smtp_security = "tls"'
        )
    return f"TLS with the mail server {where} failed: {reason}"


def _reason(err: BaseException) -> str:
    """Plain words ("connection refused"), not the library's "[Errno 111] Connect call failed".
    An ssl.SSLError's errno is OpenSSL's error code, not an errno: never read it as one."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno and not isinstance(cause, ssl.SSLError):
            return os.strerror(cause.errno).lower()
        cause = cause.__cause__ or cause.__context__
    return str(err)
