"""Access to the status page: signed session cookies, CSRF tokens, the password check.

Every visitor gets a session (an id in a signed cookie) so forms carry a CSRF token tied to it,
even on 127.0.0.1 where no password is asked. When a password is configured, the session also
says whether its holder logged in, and a logged-in session is only honoured while its id is in
the server's list of live sessions: logging out removes it (a copied cookie is then worth
nothing), and a new password empties the list. The signing key and the list live in memory: a
restart logs everyone out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from dataclasses import dataclass

from syncd.settings import Secret

COOKIE = "syncd_session"
LANG_COOKIE = "syncd_lang"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 12 * 3600
MAX_LIVE_SESSIONS = 10_000
BASIC_REMEMBER_SECONDS = 300.0


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (``127.0.0.0/8``, ``::1``, ``[::1]``); a name
    that merely starts like one (``127.evil.example``) is not."""
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


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
        self._live: dict[str, int] = {}  # logged-in session id → expiry
        self._basic_ok: dict[bytes, float] = {}  # digest of an accepted Basic header → expiry

    def set_password(self, password: Secret | None) -> bool:
        """A new password (SIGHUP after the password file changed): every session is revoked.
        True when it changed."""
        if password == self._password:
            return False
        self._password = password
        self._live.clear()
        self._basic_ok.clear()
        return True

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
        if not self.check_password(password):
            return False
        now = time.monotonic()
        if len(self._basic_ok) >= 1000:
            self._basic_ok = {k: t for k, t in self._basic_ok.items() if t > now}
        self._basic_ok[self._digest(header)] = now + BASIC_REMEMBER_SECONDS
        return True

    def basic_known(self, header: str) -> bool:
        """This exact Authorization header was accepted within the last minutes (concurrent
        requests of a script or browser then skip the guessing throttle; only the password
        makes such a header)."""
        expiry = self._basic_ok.get(self._digest(header))
        return expiry is not None and expiry > time.monotonic()

    def _digest(self, header: str) -> bytes:
        return hmac.new(self._key, header.encode("utf-8", "surrogateescape"), "sha256").digest()

    # -- sessions -------------------------------------------------------------------------------

    def new_session(self, *, logged_in: bool = False) -> Session:
        session = Session(secrets.token_urlsafe(18), logged_in, int(time.time()) + SESSION_SECONDS)
        if logged_in:
            now = time.time()
            for sid, expires in list(self._live.items()):
                if expires <= now:
                    del self._live[sid]
            while len(self._live) >= MAX_LIVE_SESSIONS:  # the oldest login goes first
                del self._live[min(self._live, key=self._live.__getitem__)]
            self._live[session.sid] = session.expires
        return session

    def revoke(self, session: Session) -> None:
        """Log this session out for good (logout): its cookie no longer logs anyone in."""
        self._live.pop(session.sid, None)

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
        if not session.fresh:
            return None
        if session.logged_in and self._live.get(session.sid) != session.expires:
            return None  # logged out, or issued before the password changed
        return session

    # -- CSRF -----------------------------------------------------------------------------------

    def csrf_token(self, session: Session) -> str:
        return self._sign(f"csrf:{session.sid}".encode())

    def check_csrf(self, session: Session | None, given: str) -> bool:
        if session is None or not given:
            return False
        return hmac.compare_digest(given, self.csrf_token(session))
