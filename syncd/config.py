"""TOML → frozen, typed settings. Every error names the file, the key and what to write instead."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from syncd.alerts.settings import AlertSettings, parse_alerts
from syncd.domain import kit_problems, lane_name
from syncd.exceptions import ConfigError
from syncd.locationsettings import LocationSettings, parse_locations, resolve_channel_locations
from syncd.reconcile.settings import ReconcileSettings, parse_reconcile
from syncd.settings import UNKNOWN_SETTING, close_names, unknown_hint
from syncd.settings import ConfigIssue as ConfigIssue  # re-exported: the old import paths
from syncd.settings import LedgerSettings as LedgerSettings
from syncd.settings import Secret as Secret
from syncd.settings import TableReader as TableReader
from syncd.settings import credential_path as credential_path


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
class ClusterSettings:
    """``[cluster]`` (issue 20): daemons sharing one PostgreSQL ledger, each job (a channel's
    loops, the alert mails, the scheduled reconciliation) run by one of them at a time."""

    name: str = ""  # this daemon, on the status page; default: host name and process id
    # A job's lease lasts this long without renewal (renewed every third of it): a standby takes
    # over a killed, cut-off or paused daemon's jobs within about this plus a second.
    lease_seconds: float = 6.0
    # Channels this daemon takes first; the others it takes only once they have been free for
    # a whole lease (another daemon preferring them had its chance).
    prefer: tuple[str, ...] = ()


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
    # A figure changed in the shop's back office (not by an order, not by syncd): "adopt" books
    # it as an adjustment that reaches every channel; "revert" writes syncd's figure back;
    # "report" only shows it (status page, reconcile report).
    hand_edits: str = "adopt"
    # The locations it sells from, in order (issue 17); () when no location is configured.
    locations: tuple[str, ...] = ()
    # Ledger location → the shop's location, when each location's figure is written apart (one
    # lane per location, syncd.domain.lane_name); empty when the channel is told one figure.
    shop_locations: Mapping[str, str] = field(default_factory=dict)


def ledger_names(channel: ChannelSettings) -> tuple[str, ...]:
    """The channel's names in the ledger: its own, then its lanes' (one per location it is told
    apart, syncd.domain.lane_name); its buffers hold for each, per location for a lane."""
    return (channel.name, *(lane_name(channel.name, loc) for loc in channel.shop_locations))


HAND_EDITS = ("adopt", "revert", "report")


def _check_lanes(
    channel: ChannelSettings,
    key: str,
    shop_map: Mapping[str, str],
    *,
    file: str,
    issues: list[ConfigIssue],
) -> Mapping[str, str]:
    """A channel told each location apart must map exactly the locations it sells from."""
    where = f"channels.{channel.name}.{key}"
    sold = channel.locations
    if not sold:
        issues.append(
            ConfigIssue(
                file,
                where,
                "maps ledger locations, but the ledger has none for this channel",
                f'[locations.{next(iter(shop_map))}] and locations = ["{next(iter(shop_map))}"] '
                f"in [channels.{channel.name}]",
            )
        )
        return {}
    ok = True
    for location in sold:
        if location not in shop_map:
            ok = False
            issues.append(
                ConfigIssue(
                    file,
                    f"{where}.{location}",
                    f"the channel sells from location {location!r}, which has no shop location",
                    f'{location} = "gid://shopify/Location/123456789"'
                    if key == "shopify_locations"
                    else f'{location} = "<the shop\'s location for it>"',
                )
            )
    for location in shop_map:
        if location not in sold:
            ok = False
            issues.append(
                ConfigIssue(
                    file,
                    f"{where}.{location}",
                    f"{location!r} is not a location this channel sells from ({', '.join(sold)})",
                    f"remove it, or add it to locations = [...] in [channels.{channel.name}]",
                )
            )
    shops = list(shop_map.values())
    for shop_location in sorted({s for s in shops if shops.count(s) > 1}):
        ok = False
        issues.append(
            ConfigIssue(
                file,
                where,
                f"{shop_location} is mapped from more than one ledger location",
                "one ledger location per shop location",
            )
        )
    return {loc: shop_map[loc] for loc in sold} if ok else {}


RESERVED_CHANNEL_NAMES = ("stock", "init", "syncd")  # channels of documents syncd books itself


@dataclass(frozen=True, slots=True)
class StockSettings:
    """``[stock]``: buffers, the drop folders of stock-in files, reordering."""

    buffers: Mapping[str, int] = field(default_factory=dict)  # per SKU, every channel
    receipts_folder: Path | None = None  # delivery notes dropped here are booked
    counts_folder: Path | None = None  # count files dropped here are booked
    # Reorder points: per SKU in the config, and/or a CSV (sku;point;quantity) read at start.
    reorder_points: Mapping[str, int] = field(default_factory=dict)
    reorder_quantities: Mapping[str, int] = field(default_factory=dict)
    reorder_file: Path | None = None
    sales_days: int = 28  # the sales rate is measured over this many days
    cover_days: int = 14  # a suggested order covers this many days of sales
    lead_days: int = 7  # days a supplier takes to deliver: the point covers them


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
    stock: StockSettings = StockSettings()
    # ``[kits]``: kit SKU → component SKU → units per kit (issue 17); written to the ledger at
    # start, replacing the kits an earlier config defined.
    kits: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    locations: tuple[LocationSettings, ...] = ()  # [locations.<name>], in order
    cluster: ClusterSettings = ClusterSettings()

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
        "hand_edits",
        "locations",
    }
)


def _known_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" (tzdata)
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


def _with_common_keys(issue: ConfigIssue, prefix: str) -> ConfigIssue:
    """A connector judges the keys it does not share with every channel, so its hint for an
    unknown key knows only its own: "pol_seconds" must still get "did you mean poll_seconds?"."""
    if issue.message != UNKNOWN_SETTING:
        return issue
    key = issue.key.removeprefix(f"{prefix}.")
    guessed = issue.fix.startswith("did you mean ")
    own = issue.fix.removeprefix("did you mean ").removesuffix("?").split(" or ") if guessed else []
    if close := close_names(key, [*own, *_COMMON_CHANNEL_KEYS]):  # the closest of both, first
        return replace(issue, fix=unknown_hint(key, close[:1]))
    if guessed:
        return issue
    common = ", ".join(sorted(_COMMON_CHANNEL_KEYS))
    return replace(issue, fix=f"{issue.fix}; in every channel: {common}")


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

    locations = parse_locations(root.table_of("locations"), file=file, issues=issues)
    channel_locations: list[tuple[str, str, tuple[str, ...]]] = []
    channels: list[ChannelSettings] = []
    lanes: dict[str, tuple[str, Mapping[str, str]]] = {}  # channel → (config key, its map)
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
        if name in RESERVED_CHANNEL_NAMES:
            issues.append(
                ConfigIssue(
                    file,
                    prefix,
                    f"{name!r} is the name of syncd's own documents (deliveries, counts, …)",
                    f"[channels.{name}_shop]",
                )
            )
        cr = TableReader(table, file=file, prefix=prefix, issues=issues)
        type_name = cr.string("type", required=True)
        options: Any = None
        if type_name:
            try:
                cls = connector_class(type_name)
            except KeyError:
                close = close_names(type_name, connector_types())
                cr.problem(
                    "type",
                    f"unknown connector type {type_name!r}",
                    f"did you mean {' or '.join(close)}?"
                    if close
                    else f"one of: {', '.join(connector_types())}",
                )
                cls = None
            except ImportError as err:
                cr.problem("type", f"connector {type_name!r} cannot be loaded: {err}", "")
                cls = None
            own = {k: v for k, v in table.items() if k not in _COMMON_CHANNEL_KEYS}
            cr.seen.update(own)  # the connector judges its own keys
            if cls is not None:
                options, own_issues = cls.parse_settings(own, file=file, prefix=prefix)
                issues.extend(_with_common_keys(issue, prefix) for issue in own_issues)
                if options is not None and cls.shop_locations(options):
                    lanes[name] = (cls.shop_locations_key, cls.shop_locations(options))
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
                hand_edits=cr.string("hand_edits", "adopt", choices=HAND_EDITS),
            )
        )
        channel_locations.append((name, type_name, cr.string_list("locations")))
        cr.reject_unknown()
    sells_from = resolve_channel_locations(locations, channel_locations, file=file, issues=issues)
    channels = [replace(c, locations=sells_from.get(c.name, ())) for c in channels]
    channels = [
        replace(c, shop_locations=_check_lanes(c, *lanes[c.name], file=file, issues=issues))
        if c.name in lanes
        else c
        for c in channels
    ]

    mr = TableReader(root.table_of("mapping"), file=file, prefix="mapping", issues=issues)
    aliases = mr.string_map("aliases")
    mr.reject_unknown()
    br = TableReader(root.table_of("stock"), file=file, prefix="stock", issues=issues)
    buffers = br.int_map("buffers")
    stock = StockSettings(
        buffers=buffers,
        receipts_folder=br.path("receipts_folder"),
        counts_folder=br.path("counts_folder"),
        reorder_points=br.int_map("reorder_points"),
        reorder_quantities=br.int_map("reorder_quantities"),
        reorder_file=br.path("reorder_file"),
        sales_days=br.integer("sales_days", 28, minimum=1, maximum=366),
        cover_days=br.integer("cover_days", 14, minimum=1, maximum=366),
        lead_days=br.integer("lead_days", 7, minimum=0, maximum=366),
    )
    br.reject_unknown()
    kits = _parse_kits(root.table_of("kits"), file=file, issues=issues)
    cr = TableReader(root.table_of("cluster"), file=file, prefix="cluster", issues=issues)
    cluster = ClusterSettings(
        name=cr.string("name", ""),
        lease_seconds=cr.number("lease_seconds", 6.0, minimum=1, maximum=300),
        prefer=cr.string_list("prefer"),
    )
    for name in cluster.prefer:
        if name not in {c.name for c in channels}:
            cr.problem("prefer", f"{name!r} is not a channel of this config")
    cr.reject_unknown()
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
        stock=stock,
        kits=kits,
        locations=locations,
        cluster=cluster,
    )


def _parse_kits(
    table: Mapping[str, Any], *, file: str, issues: list[ConfigIssue]
) -> dict[str, dict[str, int]]:
    """``[kits]``: ``GIFTBOX = { MUG = 1, TEA = 2 }``; every kit checked with the others."""
    kits: dict[str, dict[str, int]] = {}
    for kit, parts in table.items():
        key = f"kits.{kit}"
        if not isinstance(parts, Mapping) or not parts:
            issues.append(
                ConfigIssue(
                    file,
                    key,
                    "must be a table of component SKU = units per kit",
                    f'"{kit}" = {{ MUG = 1, TEA = 2 }}',
                )
            )
            continue
        components: dict[str, int] = {}
        for component, qty in parts.items():
            if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
                issues.append(
                    ConfigIssue(
                        file,
                        f"{key}.{component}",
                        f"must be a whole number ≥ 1 (units of {component} in one {kit}), not {qty!r}",
                        f'"{component}" = 1',
                    )
                )
            else:
                components[str(component)] = qty
        kits[str(kit)] = components
    for problem in kit_problems({k: v for k, v in kits.items() if v}):
        issues.append(
            ConfigIssue(file, "kits", problem, "a kit is made of stocked SKUs, not of kits")
        )
    return kits


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
