"""What `syncd setup` tries before it writes anything: a real call to each shop through its
connector (the same code the daemon runs), one real till export read by the till's parser, a test
mail through the alert mailer, and the status page's port. Each answers facts to show, or raises
:class:`ProbeFailed` with a sentence a merchant can act on (never a secret)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

from syncd.config import ConfigIssue
from syncd.connectors import connector_class
from syncd.connectors.base import ChannelLevel, Connector
from syncd.connectors.csv_till.parser import ParseOptions, ParseResult, parse_bytes
from syncd.connectors.http import HttpClient, RetryPolicy
from syncd.exceptions import AuthError, ChannelConfigError, ConnectorError, SyncdError
from syncd.logs import redact_userinfo, register_secret, scrub

# What a merchant calls each kind of channel, and what the key is called in that shop.
SHOP_LABELS = {
    "prestashop": ("PrestaShop", "webservice key"),
    "magento": ("Magento 2", "access token or admin login"),
    "woocommerce": ("WooCommerce", "REST API key and secret"),
    "shopify": ("Shopify", "Admin API access token"),
}
SECRET_KEYS = ("api_key", "access_token", "password", "consumer_key", "consumer_secret")
SKU_READ_SECONDS = 20.0  # a large catalogue: count what was read in this time and say so


class ProbeFailed(SyncdError):
    """A probe's answer was no: ``message`` says what and what to do; ``field`` names the
    answer (or flag) that is most likely wrong: url, key, location, …"""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(scrub(redact_userinfo(message)))
        self.field = field


@dataclass
class ShopAnswer:
    label: str
    version: str | None  # the shop's own version where its API tells it
    facts: list[str] = field(default_factory=list)  # states, locations, sources found
    skus: int = 0
    in_stock: int = 0
    complete: bool = True  # False: the catalogue was larger than what was read in time
    sample: list[ChannelLevel] = field(default_factory=list)


def settings_problems(issues: list[ConfigIssue]) -> str:
    return "; ".join(f"{i.key.rsplit('.', 1)[-1]}: {i.message}" for i in issues)


def parse_channel(type_name: str, name: str, table: Mapping[str, Any]) -> Any:
    """The connector's own settings for this table (its own checks), or ProbeFailed."""
    cls = connector_class(type_name)
    own = {k: v for k, v in table.items() if k != "type"}
    options, issues = cls.parse_settings(own, file="setup", prefix=f"channels.{name}")
    if issues or options is None:
        first = issues[0].key.rsplit(".", 1)[-1] if issues else ""
        raise ProbeFailed(settings_problems(issues) or "incomplete settings", field=first)
    return options


def _http_status(err: ConnectorError) -> str:
    if err.status is not None:
        return str(err.status)
    found = re.search(r"HTTP (\d{3})", str(err))
    if found:
        return found[1]
    code = err.code or ""
    return code if re.fullmatch(r"\d{3}", code) else ""


def explain(type_name: str, url: str, err: ConnectorError) -> ProbeFailed:
    """A connector's error as one sentence naming the shop, its address and the HTTP status."""
    label, key = SHOP_LABELS.get(type_name, (type_name, "key"))
    status = _http_status(err)
    answered = f" (HTTP {status})" if status else ""
    if isinstance(err, AuthError):
        return ProbeFailed(
            f"{label} at {url} refused the {key}{answered}: check it was copied whole and "
            f"that it may read and write stock ({err})",
            field="key",
        )
    if isinstance(err, ChannelConfigError):
        return ProbeFailed(f"{label} at {url} answered, but: {err}", field="settings")
    if status in ("404", "301", "302", "307", "308"):
        return ProbeFailed(
            f"{label} at {url} answered HTTP {status}: is this the shop's base address "
            f"(the one its home page has)? ({err})",
            field="url",
        )
    if not status:
        return ProbeFailed(
            f"{label} at {url} cannot be reached: {err}. Check the address and that this "
            "machine can reach it",
            field="url",
        )
    return ProbeFailed(f"{label} at {url} answered HTTP {status}: {err}", field="url")


async def probe_shop(type_name: str, name: str, table: Mapping[str, Any]) -> ShopAnswer:
    """One real start-up check of the shop (its connector's `check()`), its version and what it
    knows (order states, source, location), then its catalogue's figures."""
    options = parse_channel(type_name, name, table)
    for key in SECRET_KEYS:
        if isinstance(table.get(key), str):
            register_secret(table[key])
    label = SHOP_LABELS[type_name][0]
    url = str(table.get("url", ""))
    answer = ShopAnswer(label=label, version=None)
    async with aiohttp.ClientSession() as session:
        connector: Connector[Any] = connector_class(type_name)(name, options, session=session)
        client = getattr(connector, "client", None)
        if isinstance(client, HttpClient):  # a person waits: two tries, not a minute of them
            client.policy = RetryPolicy(attempts=2, max_seconds=10, timeout=10)
        await connector.open()
        try:
            try:
                await connector.check()
                await _facts(type_name, connector, answer)
                await _read_skus(connector, answer)
            except ConnectorError as err:
                raise explain(type_name, url, err) from err
        finally:
            await connector.close()
    return answer


async def _facts(type_name: str, connector: Any, answer: ShopAnswer) -> None:
    settings = connector.settings
    if type_name == "prestashop":
        # PSWS-Version header (webservice/dispatcher.php) and the state ids check() resolved
        answer.version = connector.client.version
        states = ", ".join(str(s) for s in sorted(connector.dead_states))
        answer.facts.append(f"cancelled and payment-error order states: {states}")
        if connector.language is not None:
            answer.facts.append(f"default language id: {connector.language}")
        answer.facts.append("writes stock with " + ("PATCH" if connector.uses_patch else "PUT"))
    elif type_name == "magento":
        # Magento's REST API does not tell its version; check() found the source and stock.
        if settings.mode == "msi":
            answer.facts.append(
                f"MSI: source {settings.source_code!r} of stock {settings.stock_id} found"
            )
        else:
            answer.facts.append("legacy stock items (no MSI)")
        answer.facts.append(
            "login: " + ("integration token" if settings.access_token else "admin user")
        )
    elif type_name == "woocommerce":
        # GET system_status (WC_REST_System_Status_V2_Controller) gives environment.version;
        # a key without that right still syncs, so its refusal only hides the version.
        with contextlib.suppress(ConnectorError):
            status = await connector.client.get_json("system_status", {"_fields": "environment"})
            env = status.get("environment") if isinstance(status, dict) else None
            if isinstance(env, dict) and env.get("version"):
                answer.version = str(env["version"])
        answer.facts.append(
            "requests " + ("over HTTPS (Basic auth)" if settings.https else "signed (OAuth 1.0a)")
        )
    elif type_name == "shopify":
        data = await connector.client.graphql(
            "query Setup($id: ID!) { shop { name } location(id: $id) { name } }",
            {"id": settings.location_id},
            cost=2,
        )
        shop = (data.get("shop") or {}).get("name", "")
        where = (data.get("location") or {}).get("name", "")
        answer.version = f"Admin API {settings.api_version}"
        answer.facts.append(f"shop {shop!r}, location {where!r}")


async def _read_skus(connector: Connector[Any], answer: ShopAnswer) -> None:
    deadline = time.monotonic() + SKU_READ_SECONDS
    pages = connector.read_levels()
    async with contextlib.aclosing(pages):  # type: ignore[type-var]
        async for page in pages:
            answer.skus += len(page)
            answer.in_stock += sum(1 for level in page if level.quantity > 0)
            answer.sample.extend(page[: max(0, 5 - len(answer.sample))])
            if time.monotonic() > deadline:
                answer.complete = False
                break


# -- the till -------------------------------------------------------------------------------------


@dataclass
class TillAnswer:
    result: ParseResult
    options: ParseOptions


def newest_export(folder: Path, patterns: tuple[str, ...] = ("*.csv", "*.CSV", "*.txt")) -> Path:
    """The newest export in the drop folder (what the till left there), or ProbeFailed."""
    found = [p for pattern in patterns for p in folder.glob(pattern) if p.is_file()]
    found = [p for p in found if not p.name.startswith((".", "~"))]
    if not found:
        raise ProbeFailed(f"there is no export (*.csv, *.txt) in {folder} yet", field="sample")
    return max(found, key=lambda p: p.stat().st_mtime)


def read_export(
    path: Path, *, timezone: str, columns: Mapping[str, str] | None = None
) -> TillAnswer:
    """One export read as the till channel will read it (layout detection, or the mapping)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ProbeFailed(f"cannot read {path}: {err.strerror or err}", field="sample") from err
    options = ParseOptions(timezone=timezone, columns=dict(columns or {}))
    result = parse_bytes(data, path.name, options, channel="till")
    if result.unreadable and not result.no_layout:
        raise ProbeFailed(f"{path} cannot be used: {result.unreadable}", field="sample")
    if not result.no_layout and not result.documents:
        why = "; ".join(
            f"row {r.row} column {r.column!r}: {r.reason}" for r in result.rejections[:3]
        )
        raise ProbeFailed(
            f"{path}: read as {result.preset}, but no receipt came out of it"
            + (f" ({why})" if why else ""),
            field="columns" if columns else "sample",
        )
    return TillAnswer(result, replace(options))


# -- mail and the status page port ------------------------------------------------------------------


async def send_test_mail(table: Mapping[str, Any], *, config_file: str, timezone: str) -> str:
    """The `syncd test-alert` mail, sent with these [alerts] settings; its Message-ID."""
    from syncd.alerts.mailer import SendError, server_name
    from syncd.alerts.service import send_test_mail as send
    from syncd.alerts.settings import parse_alerts

    issues: list[ConfigIssue] = []
    settings = parse_alerts(table, file=config_file, issues=issues, default_timezone=timezone)
    if issues:
        first = issues[0].key.rsplit(".", 1)[-1]
        raise ProbeFailed(settings_problems(issues), field=first)
    try:
        return await send(settings, config_file=config_file)
    except SendError as err:
        raise ProbeFailed(
            f"the test mail was not sent through {server_name(settings)}: {err}",
            field=err.kind,
        ) from err


def port_taken(host: str, port: int) -> bool:
    """Whether something listens on host:port already (or it cannot be bound)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        try:
            sock.bind((host, port))
        except OSError:  # EADDRINUSE, or EACCES for a port below 1024
            return True
    return False


def free_port_near(host: str, port: int) -> int:
    """A free port close to the one wanted (8081, 8082, …), else any the system gives."""
    for candidate in range(port + 1, min(port + 50, 65535)):
        if not port_taken(host, candidate):
            return candidate
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def run(coro: Any) -> Any:
    """A probe from synchronous code (the prompts)."""
    return asyncio.run(coro)
