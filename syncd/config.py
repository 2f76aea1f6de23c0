"""TOML → frozen, typed settings. Every error names the file, the key and what to write instead."""

from __future__ import annotations

import ipaddress
import math
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from syncd.alerts.settings import AlertSettings, parse_alerts
from syncd.connectors.base import ConfigIssue
from syncd.exceptions import ConfigError
from syncd.reconcile.settings import ReconcileSettings, parse_reconcile
from syncd.secret import Secret as Secret  # re-exported: settings types name it


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
                self.problem(
                    key, f"{value!r} is not one of {', '.join(allowed)}", f'{key} = "{allowed[0]}"'
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
                close = sorted(a for a in allowed if a[:3] == key[:3])
                hint = (
                    f"did you mean {close[0]}?"
                    if close
                    else f"known keys: {', '.join(sorted(allowed))}"
                )
                self.problem(key, "is not a known setting", hint)


@dataclass(frozen=True, slots=True)
class LedgerSettings:
    backend: str = "sqlite"  # sqlite | postgres
    path: Path = Path("/var/lib/syncd/ledger.sqlite3")
    dsn: Secret | None = None
    pool_size: int = 4
    retention_days: int = 90  # rejected rows, resolved conflicts, sent mails, file cursors


@dataclass(frozen=True, slots=True)
class LogSettings:
    level: str = "info"
    format: str = "auto"  # auto | json | console


@dataclass(frozen=True, slots=True)
class SyncSettings:
    push_batch: int = 100
    grace_seconds: float = 10.0
    retry_max_seconds: float = 300.0
    degraded_after_failures: int = 3
    outbox_poll_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class WebSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    password: Secret | None = None
    language: str = "auto"  # auto | fr | en
    timezone: str = "Europe/Paris"
    # Host names (a reverse proxy's) the page answers to besides its own address and loopback;
    # "name" for any port, "name:port" for one. Anything else gets 421 (DNS rebinding).
    allowed_hosts: tuple[str, ...] = ()
    # Addresses (or networks) of reverse proxies whose X-Forwarded-For/-Proto are believed.
    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """Settings every channel has, plus the connector's own (``options``)."""

    name: str
    type: str
    options: Any
    enabled: bool = True
    pull: bool = True
    push: bool = True
    poll_seconds: float = 10.0
    buffer: int = 0
    buffers: Mapping[str, int] = field(default_factory=dict)  # per SKU
    max_lag_seconds: float = 300.0
    webhook_secret: Secret | None = None
    webhook_min_seconds: float = 1.0  # webhooks closer than this share one pull, after it


@dataclass(frozen=True, slots=True)
class Settings:
    file: str
    ledger: LedgerSettings
    log: LogSettings
    sync: SyncSettings
    web: WebSettings
    channels: tuple[ChannelSettings, ...]
    aliases: Mapping[str, str]  # another identifier (barcode, till code) → SKU
    buffers: Mapping[str, int]  # per SKU, every channel
    alerts: AlertSettings
    reconcile: ReconcileSettings = ReconcileSettings()

    def channel(self, name: str) -> ChannelSettings:
        for ch in self.channels:
            if ch.name == name:
                return ch
        raise KeyError(name)


_COMMON_CHANNEL_KEYS = frozenset(
    {
        "type",
        "enabled",
        "pull",
        "push",
        "poll_seconds",
        "buffer",
        "buffers",
        "max_lag_seconds",
        "webhook_secret",
        "webhook_secret_file",
        "webhook_min_seconds",
    }
)


def _known_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _host_names(reader: TableReader) -> tuple[str, ...]:
    """``[web] allowed_hosts``: host names as a browser sends them in Host, lower-cased."""
    names = []
    for text in reader.string_list("allowed_hosts"):
        name = text.strip().lower()
        host, _, port = name.rpartition(":") if not name.endswith("]") else (name, "", "")
        if not host or "]" in port:
            host, port = name, ""
        if (
            not host
            or any(c in host for c in "/@\\ ?#")
            or (":" in host and not (host.startswith("[") and host.endswith("]")))
            or (port and not (port.isdigit() and 0 < int(port) < 65536))
        ):
            reader.problem(
                "allowed_hosts",
                f"{text!r} is not a host name (with an optional :port)",
                'allowed_hosts = ["stock.example.com"]',
            )
            continue
        names.append(name)
    return tuple(names)


def parse_config(data: Mapping[str, Any], *, file: str) -> Settings:
    """Validate a parsed TOML document; raise ConfigError listing every issue."""
    from syncd.connectors import connector_class, connector_types

    issues: list[ConfigIssue] = []
    root = TableReader(data, file=file, prefix="", issues=issues)

    lr = TableReader(root.table_of("ledger"), file=file, prefix="ledger", issues=issues)
    backend = lr.string("backend", "sqlite", choices=("sqlite", "postgres"))
    ledger = LedgerSettings(
        backend=backend,
        path=lr.path("path", "/var/lib/syncd/ledger.sqlite3") or Path("ledger.sqlite3"),
        dsn=lr.secret("dsn", required=backend == "postgres"),
        pool_size=lr.integer("pool_size", 4, minimum=2, maximum=64),
        retention_days=lr.integer("retention_days", 90, minimum=7, maximum=36500),
    )
    lr.reject_unknown()

    gr = TableReader(root.table_of("log"), file=file, prefix="log", issues=issues)
    log = LogSettings(
        level=gr.string("level", "info", choices=("debug", "info", "warning", "error")),
        format=gr.string("format", "auto", choices=("auto", "json", "console")),
    )
    gr.reject_unknown()

    sr = TableReader(root.table_of("sync"), file=file, prefix="sync", issues=issues)
    sync = SyncSettings(
        push_batch=sr.integer("push_batch", 100, minimum=1, maximum=10_000),
        grace_seconds=sr.number("grace_seconds", 10.0, minimum=0, maximum=600),
        retry_max_seconds=sr.number("retry_max_seconds", 300.0, minimum=1, maximum=86_400),
        degraded_after_failures=sr.integer("degraded_after_failures", 3, minimum=1),
        outbox_poll_seconds=sr.number("outbox_poll_seconds", 5.0, minimum=0.1, maximum=3600),
    )
    sr.reject_unknown()

    wr = TableReader(root.table_of("web"), file=file, prefix="web", issues=issues)
    web = WebSettings(
        enabled=wr.boolean("enabled", True),
        host=wr.string("host", "127.0.0.1"),
        port=wr.integer("port", 8080, minimum=0, maximum=65535),
        password=wr.secret("password"),
        language=wr.string("language", "auto", choices=("auto", "fr", "en")),
        timezone=wr.string("timezone", "Europe/Paris"),
        allowed_hosts=_host_names(wr),
        trusted_proxies=wr.address_list("trusted_proxies"),
    )
    wr.reject_unknown()
    if web.enabled and web.host not in ("127.0.0.1", "localhost", "::1") and web.password is None:
        wr.problem(
            "password",
            f"the status page listens on {web.host}, beyond this machine, without a password",
            'set password_file = "/etc/credstore/syncd-web" or host = "127.0.0.1"',
        )
    if not _known_zone(web.timezone):
        wr.problem(
            "timezone", f"{web.timezone!r} is not a known time zone", 'timezone = "Europe/Paris"'
        )

    channels: list[ChannelSettings] = []
    raw_channels = root.table_of("channels")
    if not raw_channels:
        root.problem("channels", "no channel is configured", '[channels.till] type = "csv_till"')
    for name, table in raw_channels.items():
        prefix = f"channels.{name}"
        if not isinstance(table, Mapping):
            issues.append(ConfigIssue(file, prefix, "must be a table", f"[{prefix}]"))
            continue
        if not name.replace("_", "").replace("-", "").isalnum():
            issues.append(ConfigIssue(file, prefix, "name may use letters, digits, - and _", ""))
        cr = TableReader(table, file=file, prefix=prefix, issues=issues)
        type_name = cr.string("type", required=True)
        options: Any = None
        if type_name:
            try:
                cls = connector_class(type_name)
            except KeyError:
                cr.problem(
                    "type",
                    f"unknown connector type {type_name!r}",
                    f"one of: {', '.join(connector_types())}",
                )
                cls = None
            except ImportError as err:
                cr.problem("type", f"connector {type_name!r} cannot be loaded: {err}", "")
                cls = None
            own = {k: v for k, v in table.items() if k not in _COMMON_CHANNEL_KEYS}
            cr.seen.update(own)  # the connector judges its own keys
            if cls is not None:
                options, own_issues = cls.parse_settings(own, file=file, prefix=prefix)
                issues.extend(own_issues)
        channels.append(
            ChannelSettings(
                name=name,
                type=type_name,
                options=options,
                enabled=cr.boolean("enabled", True),
                pull=cr.boolean("pull", True),
                push=cr.boolean("push", True),
                poll_seconds=cr.number("poll_seconds", 10.0, minimum=0.05, maximum=86_400),
                buffer=cr.integer("buffer", 0, minimum=0),
                buffers=cr.int_map("buffers"),
                max_lag_seconds=cr.number("max_lag_seconds", 300.0, minimum=1),
                webhook_secret=cr.secret("webhook_secret"),
                webhook_min_seconds=cr.number("webhook_min_seconds", 1.0, minimum=0, maximum=3600),
            )
        )
        cr.reject_unknown()

    mr = TableReader(root.table_of("mapping"), file=file, prefix="mapping", issues=issues)
    aliases = mr.string_map("aliases")
    mr.reject_unknown()
    br = TableReader(root.table_of("stock"), file=file, prefix="stock", issues=issues)
    buffers = br.int_map("buffers")
    br.reject_unknown()
    alerts = parse_alerts(
        root.table_of("alerts"), file=file, issues=issues, default_timezone=web.timezone
    )
    reconcile = parse_reconcile(
        root.table_of("reconcile"),
        file=file,
        issues=issues,
        channel_names=[c.name for c in channels],
    )
    root.reject_unknown()

    if issues:
        raise ConfigError(f"{file}: {len(issues)} configuration error(s)", list(issues))
    return Settings(
        file=file,
        ledger=ledger,
        log=log,
        sync=sync,
        web=web,
        channels=tuple(channels),
        aliases=aliases,
        buffers=buffers,
        alerts=alerts,
        reconcile=reconcile,
    )


def load_config(path: str | Path) -> Settings:
    """Read and validate a TOML config file; raise ConfigError listing every issue."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        issue = ConfigIssue(
            file, "-", f"cannot read the file: {err.strerror or err}", "check the path"
        )
        raise ConfigError(str(issue), [issue]) from err
    except UnicodeDecodeError as err:  # the bytes are not shown: they may hold a secret
        issue = ConfigIssue(
            file,
            "-",
            f"not UTF-8 text (byte {err.start} cannot be decoded)",
            "save the file as UTF-8",
        )
        raise ConfigError(str(issue), [issue]) from err
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        issue = ConfigIssue(file, "-", f"not valid TOML: {err}", "fix the syntax at that line")
        raise ConfigError(str(issue), [issue]) from err
    return parse_config(data, file=file)
