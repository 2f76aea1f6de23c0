"""Access to the status page: signed session cookies, CSRF tokens, the password check.

Every visitor gets a session (an id in a signed cookie) so forms carry a CSRF token tied to it,
even on 127.0.0.1 where no password is asked. When a password is configured, the session also
says whether its holder logged in. The signing key lives in memory: a restart logs everyone out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from syncd.config import Secret

COOKIE = "syncd_session"
LANG_COOKIE = "syncd_lang"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 12 * 3600
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    logged_in: bool
    expires: int

    @property
    def fresh(self) -> bool:
        return self.expires > time.time()


class Guard:
    """Signs sessions, derives CSRF tokens, checks the password in constant time."""

    def __init__(self, password: Secret | None, *, key: bytes | None = None) -> None:
        self._password = password
        self._key = key or secrets.token_bytes(32)

    @property
    def password_required(self) -> bool:
        return self._password is not None

    def check_password(self, given: str) -> bool:
        if self._password is None:
            return False
        # Compare digests: constant time whatever the lengths of the two strings.
        expected = hashlib.sha256(self._password.reveal().encode()).digest()
        return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), expected)

    def check_basic(self, header: str) -> bool:
        """``Authorization: Basic …`` (any user name) for `syncd tail`, curl and scrapers."""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic" or not value:
            return False
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        _user, _, password = decoded.partition(":")
        return self.check_password(password)

    # -- sessions -------------------------------------------------------------------------------

    def new_session(self, *, logged_in: bool = False) -> Session:
        return Session(secrets.token_urlsafe(18), logged_in, int(time.time()) + SESSION_SECONDS)

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()

    def dump(self, session: Session) -> str:
        body = json.dumps(
            {"sid": session.sid, "in": session.logged_in, "exp": session.expires},
            separators=(",", ":"),
        ).encode()
        encoded = base64.urlsafe_b64encode(body).decode().rstrip("=")
        return f"{encoded}.{self._sign(encoded.encode())}"

    def load(self, cookie: str | None) -> Session | None:
        """The session of a cookie, or None when missing, forged or expired."""
        if not cookie or "." not in cookie:
            return None
        encoded, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(encoded.encode())):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
            session = Session(str(data["sid"]), bool(data["in"]), int(data["exp"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        return session if session.fresh else None

    # -- CSRF -----------------------------------------------------------------------------------

    def csrf_token(self, session: Session) -> str:
        return self._sign(f"csrf:{session.sid}".encode())

    def check_csrf(self, session: Session | None, given: str) -> bool:
        if session is None or not given:
            return False
        return hmac.compare_digest(given, self.csrf_token(session))
