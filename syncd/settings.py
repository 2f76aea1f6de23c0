"""Leaf configuration types: an issue, a secret, a typed table reader, the ledger's settings.

Everything (connectors, the ledger, alerts, reconciliation, the config loader) reads its settings
with these, so they import nothing of syncd but the exceptions.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One thing wrong in the configuration: where, what, and what to write instead."""

    file: str
    key: str  # dotted path, e.g. channels.webshop.api_key_file
    message: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.file}: {self.key}: {self.message}"
        return f"{text} (fix: {self.fix})" if self.fix else text


class Secret:
    """A password or API key: never shown by repr, str, logs or pages."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "inline") -> None:
        self._value = value
        self.source = source

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(<redacted>, source={self.source!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def credential_path(name: str, base: Path | None = None) -> Path:
    """A credential file: absolute; or a name in systemd's $CREDENTIALS_DIRECTORY when it is
    there; or else relative to ``base`` (the config file's folder)."""
    path = Path(name).expanduser()
    if path.is_absolute():
        return path
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and (Path(creds) / path).exists():
        return Path(creds) / path
    return (base or Path.cwd()) / path


def _exists(name: str, folder: Path) -> bool:
    try:
        return credential_path(name, folder).exists()
    except (OSError, RuntimeError, ValueError):
        return False


class TableReader:
    """Reads typed values from one TOML table and collects every problem as a ConfigIssue."""

    def __init__(
        self, table: Mapping[str, Any], *, file: str, prefix: str, issues: list[ConfigIssue]
    ) -> None:
        self.table = table
        self.file = file
        self.prefix = prefix
        self.issues = issues
        self.seen: set[str] = set()

    def _key(self, key: str) -> str:
        key = key or '""'  # TOML allows an empty key; an issue must still name one
        return f"{self.prefix}.{key}" if self.prefix else key

    def problem(self, key: str, message: str, fix: str = "") -> None:
        self.issues.append(ConfigIssue(self.file, self._key(key), message, fix))

    def _get(self, key: str) -> Any:
        self.seen.add(key)
        return self.table.get(key)

    def string(
        self,
        key: str,
        default: str | None = None,
        *,
        required: bool = False,
        choices: Iterable[str] | None = None,
    ) -> str:
        value = self._get(key)
        if value is None:
            if required:
                self.problem(key, "is required", f'add {key} = "…"')
            return default or ""
        if not isinstance(value, str):
            self.problem(key, f"must be a string, not {type(value).__name__}", f'{key} = "…"')
            return default or ""
        if choices is not None:
            allowed = list(choices)
            if value not in allowed:
                close = close_names(value, allowed)
                self.problem(
                    key,
                    f"{value!r} is not one of {', '.join(allowed)}",
                    f'{key} = "{(close or allowed)[0]}"',
                )
                return default or allowed[0]
        return value

    def integer(
        self, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, f"must be a whole number, not {value!r}", f"{key} = {default}")
            return default
        if minimum is not None and value < minimum:
            self.problem(key, f"{value} is below the minimum {minimum}", f"{key} = {minimum}")
            return default
        if maximum is not None and value > maximum:
            self.problem(key, f"{value} is above the maximum {maximum}", f"{key} = {maximum}")
            return default
        return value

    def number(
        self,
        key: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(key, f"must be a number, not {value!r}", f"{key} = {default}")
            return default
        if not math.isfinite(value):  # TOML has nan and inf; no setting means either
            self.problem(key, f"must be a finite number, not {value!r}", f"{key} = {default}")
            return default
        if minimum is not None and value < minimum:
            self.problem(key, f"{value} is below the minimum {minimum}", f"{key} = {minimum}")
            return default
        if maximum is not None and value > maximum:
            self.problem(key, f"{value} is above the maximum {maximum}", f"{key} = {maximum}")
            return default
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(
                key, f"must be true or false, not {value!r}", f"{key} = {str(default).lower()}"
            )
            return default
        return value

    def string_list(self, key: str, default: Iterable[str] = ()) -> tuple[str, ...]:
        value = self._get(key)
        if value is None:
            return tuple(default)
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(key, "must be a list of strings", f'{key} = ["…"]')
            return tuple(default)
        return tuple(value)

    def int_map(self, key: str) -> dict[str, int]:
        value = self._get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.problem(key, "must be a table of name = whole number", f"[{self._key(key)}]")
            return {}
        out: dict[str, int] = {}
        for name, qty in value.items():
            if isinstance(qty, bool) or not isinstance(qty, int) or qty < 0:
                self.problem(
                    f"{key}.{name}", f"must be a whole number ≥ 0, not {qty!r}", f'"{name}" = 1'
                )
            else:
                out[str(name)] = qty
        return out

    def string_map(self, key: str) -> dict[str, str]:
        value = self._get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            self.problem(key, "must be a table of name = string", f"[{self._key(key)}]")
            return {}
        return {str(k): v for k, v in value.items()}

    def url(
        self, key: str, *, required: bool = False, credentials_key: str = "api_key_file"
    ) -> str:
        """An http(s) base URL. One with a user name or password in it is refused without
        being shown (the message would print the password), and so is any text that is not a
        URL with a host; ``credentials_key`` names where the secret belongs instead."""
        text = self.string(key, required=required)
        if not text:
            return ""
        # Any "@" before the path may be user info, however the rest is spelled ("a@b@host",
        # "htp://u:p@host"): refused before anything else, so no message can echo it.
        authority = text.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        if "@" in authority:
            self.problem(
                key,
                "holds a user name and password; they are never sent from the URL",
                f"remove them from the URL and put the key in {credentials_key}",
            )
            return ""
        example = f'{key} = "https://shop.example.com"'
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            self.problem(key, f"{text!r} is not a valid URL", example)
            return ""
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            self.problem(key, f"{text!r} is not an http(s) URL", example)
            return ""
        if any(c.isspace() or not c.isprintable() for c in text):
            self.problem(key, "holds spaces or control characters", example)
            return ""
        return text

    def address_list(self, key: str) -> tuple[str, ...]:
        """IP addresses or networks (``"192.0.2.10"``, ``"10.0.0.0/8"``), normalised."""
        out = []
        for text in self.string_list(key):
            try:
                out.append(str(ipaddress.ip_network(text.strip(), strict=False)))
            except ValueError:
                self.problem(
                    key, f"{text!r} is not an IP address or network", f'{key} = ["127.0.0.1"]'
                )
        return tuple(out)

    def path(self, key: str, default: str | None = None, *, required: bool = False) -> Path | None:
        text = self.string(key, default, required=required)
        if not text:
            return None
        try:
            path = Path(text).expanduser()
        except RuntimeError as err:  # "~someone" who has no home directory here
            self.problem(key, f"cannot expand {text!r}: {err}", f'{key} = "/absolute/path"')
            return None
        if not path.is_absolute():  # relative to the config file, not to where syncd was started
            path = Path(self.file).resolve().parent / path
        return path

    def secret(self, key: str, *, required: bool = False) -> Secret | None:
        """A secret given as ``key_file`` (a credential file; preferred) or inline ``key``."""
        inline = self._get(key)
        file_key = f"{key}_file"
        file_name = self._get(file_key)
        if inline is not None and file_name is not None:
            self.problem(key, f"both {key} and {file_key} are set", f"keep only {file_key}")
        if file_name is not None:
            if not isinstance(file_name, str):
                self.problem(file_key, "must be a file path", f'{file_key} = "/etc/credstore/…"')
                return None
            folder = Path(self.file).resolve().parent
            # The file's name is not shown: a secret pasted into the *_file key by mistake
            # would otherwise appear in the error.
            try:
                path = credential_path(file_name, folder)
                text = path.read_text(encoding="utf-8").strip()
            except (OSError, RuntimeError, ValueError) as err:
                # ValueError: not UTF-8, or a NUL in the name; RuntimeError: "~user" unknown.
                reason = err.strerror if isinstance(err, OSError) and err.strerror else err
                if isinstance(err, UnicodeDecodeError):
                    reason = "the file is not UTF-8 text"
                if _exists(file_name, folder):  # a real file: naming it shows no secret
                    self.problem(
                        file_key,
                        f"cannot read {credential_path(file_name, folder)}: {reason}",
                        "let the user syncd runs as read it (mode 0600, owned by that user), "
                        "or fix the path",
                    )
                    return None
                self.problem(
                    file_key,
                    f"cannot read the file it names (relative names are looked up in "
                    f"$CREDENTIALS_DIRECTORY, then {folder}): {reason}",
                    "create the file (mode 0600) holding only the secret, or fix the path",
                )
                return None
            if not text:
                self.problem(file_key, f"{path} is empty", "write the secret into the file")
                return None
            return Secret(text, source=str(path))
        if inline is not None:
            if not isinstance(inline, str) or not inline:
                self.problem(key, "must be a non-empty string", f'{file_key} = "/etc/credstore/…"')
                return None
            return Secret(inline)
        if required:
            self.problem(
                key, "is required", f'{file_key} = "/etc/credstore/…" (or {key} = "…" inline)'
            )
        return None

    def table_of(self, key: str) -> Mapping[str, Any]:
        value = self._get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.problem(key, "must be a table", f"[{self._key(key)}]")
            return {}
        return value

    def reject_unknown(self, extra_allowed: Iterable[str] = ()) -> None:
        allowed = self.seen | set(extra_allowed)
        for key in self.table:
            if key not in allowed:
                self.problem(key, UNKNOWN_SETTING, unknown_hint(key, allowed))


UNKNOWN_SETTING = "is not a known setting"


def close_names(name: str, known: Iterable[str]) -> list[str]:
    """The known names ``name`` is probably a typo of ("pol_seconds" → poll_seconds), best first."""
    names = sorted(set(known))
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.75)
    if not close:  # a name typed in another case ("Poll_Seconds") or only half of it
        folded = {n.lower(): n for n in names}
        close = [folded[c] for c in difflib.get_close_matches(name.lower(), folded, n=3)]
    return close


def unknown_hint(name: str, known: Iterable[str], what: str = "keys") -> str:
    """ "did you mean poll_seconds?" when a known name is close, else the known names."""
    if close := close_names(name, known):
        return f"did you mean {' or '.join(close)}?"
    return f"known {what}: {', '.join(sorted(set(known)))}"


@dataclass(frozen=True, slots=True)
class LedgerSettings:
    backend: str = "sqlite"  # sqlite | postgres
    path: Path = Path("/var/lib/syncd/ledger.sqlite3")
    dsn: Secret | None = None
    pool_size: int = 4
    retention_days: int = 90  # rejected rows, resolved conflicts, sent mails, file cursors
