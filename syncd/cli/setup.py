"""`syncd setup`: from nothing to a config that works. For each channel asked, its answers are
tried at once (a real call to the shop, one real till export read, a test mail), then the config
and its credential files (mode 0600) are written, checked with the config reader `check-config`
uses, and `syncd init` is offered with its dry-run table.

Interactive on a terminal (rich prompts); every question also has a flag, so a script runs the
same steps with ``--non-interactive``: a bad answer is then exit 2 with a message naming the flag,
where on a terminal it is a message and the question asked again.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from syncd.cli.prompts import Asker, UsageStop
from syncd.cli.setupprobes import (
    SHOP_LABELS,
    ProbeFailed,
    ShopAnswer,
    free_port_near,
    newest_export,
    parse_channel,
    port_taken,
    probe_shop,
    read_export,
    send_test_mail,
)
from syncd.cli.setuptill import ask_columns, columns_flag, show_receipts
from syncd.cli.setupwriter import Draft, write_all

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
KINDS = ("prestashop", "magento", "woocommerce", "shopify", "till")
KIND_LABELS = {**{k: v[0] for k, v in SHOP_LABELS.items()}, "till": "a till (CSV exports)"}


# -- checks of single answers -------------------------------------------------------------------------


def key_check(type_name: str, key: str, table: dict[str, Any]) -> Callable[[str], str | None]:
    """The connector's own verdict on one key's value (its parse_settings), ignoring the keys
    not asked yet."""

    def check(value: str) -> str | None:
        try:
            parse_channel(type_name, "check", {**table, key: value})
        except ProbeFailed as err:
            mine = [p for p in str(err).split("; ") if p.startswith(f"{key}:")]
            return mine[0].split(": ", 1)[1] if mine else None
        return None

    return check


def zone_check(value: str) -> str | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{value!r} is not a known time zone (e.g. Europe/Paris, Europe/Brussels)"
    return None


# -- the shops ------------------------------------------------------------------------------------


def _shop_questions(kind: str, asker: Asker, retry: bool, old: dict[str, Any]) -> dict[str, Any]:
    """The shop's table with inline secrets (tried as is, then written as credential files)."""
    table: dict[str, Any] = {"type": kind}
    example = "https://my-shop.myshopify.com" if kind == "shopify" else "https://shop.example.com"
    table["url"] = asker.ask(
        f"--{kind}-url",
        f"{KIND_LABELS[kind]}: the shop's address (its home page, e.g. {example})",
        default=old.get("url"),
        check=key_check(kind, "url", table),
        retry=retry,
    )
    if kind == "prestashop":
        table["api_key"] = asker.ask(
            "--prestashop-key-file",
            "PrestaShop webservice key (Advanced Parameters > Webservice; 32 characters)",
            check=key_check(kind, "api_key", table),
            secret=True,
            retry=retry,
        )
    elif kind == "magento":
        token = asker.ask(
            "--magento-token-file",
            "Magento integration access token (System > Integrations; Enter to log in with "
            "an admin user instead)",
            secret=True,
            optional=True,
            retry=retry,
        )
        if token:
            table["access_token"] = token
        else:
            table["username"] = asker.ask(
                "--magento-username", "Magento admin user name", default=old.get("username")
            )
            table["password"] = asker.ask(
                "--magento-password-file", "Magento admin password", secret=True, retry=retry
            )
        table["source_code"] = asker.ask(
            "--magento-source",
            "Magento inventory source syncd writes (MSI)",
            default=old.get("source_code", "default"),
            retry=retry,
        )
    elif kind == "woocommerce":
        for key, flag, what in (
            ("consumer_key", "--woocommerce-key-file", "consumer key (ck_…)"),
            ("consumer_secret", "--woocommerce-secret-file", "consumer secret (cs_…)"),
        ):
            table[key] = asker.ask(
                flag,
                f"WooCommerce {what} (WooCommerce > Settings > Advanced > REST API, read/write)",
                check=key_check(kind, key, table),
                secret=True,
                retry=retry,
            )
    elif kind == "shopify":
        table["access_token"] = asker.ask(
            "--shopify-token-file",
            "Shopify Admin API access token of the custom app (shpat_…)",
            secret=True,
            retry=retry,
        )
        table["location_id"] = asker.ask(
            "--shopify-location",
            "Shopify location id the shop sells from (Settings > Locations: the number in "
            "the address)",
            default=old.get("location_id"),
            check=key_check(kind, "location_id", table),
            retry=retry,
        )
    return table


CREDENTIALS = {  # key in the table → (credential file name, the flag that gives it)
    "prestashop": {"api_key": ("prestashop.key", "--prestashop-key-file")},
    "magento": {
        "access_token": ("magento.token", "--magento-token-file"),
        "password": ("magento.password", "--magento-password-file"),
    },
    "woocommerce": {
        "consumer_key": ("woocommerce.ck", "--woocommerce-key-file"),
        "consumer_secret": ("woocommerce.cs", "--woocommerce-secret-file"),
    },
    "shopify": {"access_token": ("shopify.token", "--shopify-token-file")},
}


def _failed_flag(kind: str, field: str) -> str:
    if field == "key":
        return {
            "prestashop": "--prestashop-key-file",
            "magento": "--magento-token-file (or --magento-password-file)",
            "woocommerce": "--woocommerce-key-file/--woocommerce-secret-file",
            "shopify": "--shopify-token-file",
        }[kind]
    if kind == "shopify" and field in ("settings", "location_id"):
        return "--shopify-location"
    if kind == "magento" and field == "settings":
        return "--magento-source"
    return f"--{kind}-url"


def setup_shop(kind: str, asker: Asker, draft: Draft, console: Console) -> None:
    retry = False
    old: dict[str, Any] = {}
    while True:
        table = _shop_questions(kind, asker, retry, old)
        console.print(f"Trying {KIND_LABELS[kind]} at {escape(table['url'])} …")
        try:
            answer = asyncio.run(probe_shop(kind, kind, table))
            break
        except ProbeFailed as err:
            if not asker.interactive:
                asker.fail(f"{_failed_flag(kind, err.field)}: {err}")
            asker.say_error(str(err))
            retry, old = True, table
    _show_shop(answer, console)
    written = {k: v for k, v in table.items() if k not in CREDENTIALS[kind]}
    for key, (file_name, _flag) in CREDENTIALS[kind].items():
        if key in table:
            written[f"{key}_file"] = file_name
            draft.secrets[file_name] = table[key]
    if kind in ("prestashop", "woocommerce"):
        written["timezone"] = draft.timezone
    draft.channels[kind] = written


def _show_shop(answer: ShopAnswer, console: Console) -> None:
    version = f" {answer.version}" if answer.version else " (its API does not tell its version)"
    console.print(f"[green]✓[/] {escape(answer.label)}{escape(version)} answered.")
    for fact in answer.facts:
        console.print(f"  {escape(fact)}")
    more = "" if answer.complete else "+ (a large catalogue: counted for a while, then stopped)"
    console.print(f"  {answer.skus}{more} SKUs found, {answer.in_stock} with stock; for example:")
    for level in answer.sample:
        name = f" ({level.name})" if level.name else ""
        console.print(f"    {escape(level.sku)}{escape(name)}: {level.quantity}")


# -- the till -----------------------------------------------------------------------------------------


def setup_till(asker: Asker, draft: Draft, console: Console) -> None:
    def folder_check(value: str) -> str | None:
        path = Path(value).expanduser()
        if path.is_dir():
            return None
        if path.exists():
            return f"{path} is not a folder"
        if asker.interactive and asker.confirm(f"{path} does not exist. Create it?"):
            path.mkdir(parents=True)
            return None
        return f"{path} does not exist (the till's export folder; syncd never creates it itself)"

    folder = (
        Path(
            asker.ask(
                "--till-folder",
                "The folder the till exports its receipts to (the drop folder)",
                check=folder_check,
            )
        )
        .expanduser()
        .resolve()
    )
    columns = columns_flag(asker)
    retry = False
    while True:
        hint = f"Enter: the newest file in {folder}"
        sample_text = asker.ask(
            "--till-sample",
            f"One real export from the till, to recognise its layout (a path; {hint})",
            optional=True,
            retry=retry,
        )
        try:
            sample = Path(sample_text).expanduser() if sample_text else newest_export(folder)
            answer = read_export(sample, timezone=draft.timezone, columns=columns)
            if answer.result.no_layout:
                if not asker.interactive:
                    asker.fail(columns_flag_needed(sample, answer.result.header))
                console.print(
                    f"No known till layout matches {escape(str(sample))}. Say which column is which."
                )
                columns = ask_columns(asker, answer.result.header, console)
                answer = read_export(sample, timezone=draft.timezone, columns=columns)
            break
        except ProbeFailed as err:
            if not asker.interactive:
                flag = "--till-columns" if err.field == "columns" else "--till-sample"
                asker.fail(f"{flag}: {err}")
            asker.say_error(str(err))
            retry, columns = True, {}
    show_receipts(answer, sample, draft.timezone, console)
    stock = asker.ask(
        "--till-stock-file",
        "Where syncd writes the stock file the till imports",
        default=str(folder.parent / "stock.csv"),
    )
    table: dict[str, Any] = {
        "type": "csv_till",
        "drop_folder": str(folder),
        "stock_file": str(Path(stock).expanduser().resolve()),
        "timezone": draft.timezone,
    }
    if columns:
        table["columns"] = dict(columns)
    draft.channels["till"] = table


def columns_flag_needed(sample: Path, header: list[str]) -> str:
    from syncd.connectors.csv_till.presets import guess_columns

    guess = ",".join(f"{role}={name}" for role, name in guess_columns(header).items())
    shown = ", ".join(repr(h) for h in header)
    return (
        f"--till-columns is needed: no known till layout matches {sample} (its columns: "
        f"{shown}); say which is which, e.g. --till-columns '{guess}'"
    )


# -- mail and the status page ---------------------------------------------------------------------


def setup_mail(asker: Asker, draft: Draft, console: Console) -> None:
    retry = False
    old: dict[str, Any] = {}
    while True:
        table: dict[str, Any] = {"enabled": True, "timeout_seconds": 15.0}
        to = asker.ask(
            "--mail-to",
            "Who gets the alert mails (addresses, separated by commas)",
            default=", ".join(old.get("to", [])) or None,
            check=lambda v: None if "@" in v else f"{v!r} is not a mail address",
            retry=retry,
        )
        table["to"] = [a.strip() for a in to.split(",") if a.strip()]
        table["smtp_host"] = asker.ask(
            "--smtp-host", "The mail server (SMTP)", default=old.get("smtp_host"), retry=retry
        )
        security = asker.ask(
            "--smtp-security",
            "Its security: starttls (port 587), tls (port 465) or none (a local relay)",
            default=old.get("smtp_security", "starttls"),
            check=lambda v: None if v in ("starttls", "tls", "none") else "starttls, tls or none",
            retry=retry,
        )
        table["smtp_security"] = security
        default_port = {"starttls": "587", "tls": "465", "none": "25"}[security]
        table["smtp_port"] = int(
            asker.ask(
                "--smtp-port",
                "Its port",
                default=str(old.get("smtp_port", default_port)),
                check=lambda v: None if v.isdigit() and 0 < int(v) < 65536 else "a port number",
                retry=retry,
            )
        )
        user = asker.ask(
            "--smtp-username",
            "Login (Enter for none)",
            default=old.get("smtp_username") or None,
            optional=True,
            retry=retry,
        )
        if user:
            table["smtp_username"] = user
            table["smtp_password"] = asker.ask(
                "--smtp-password-file", "Password", secret=True, retry=retry
            )
        sender = asker.ask(
            "--mail-from",
            "Sender address (Enter: the login if it is an address, else syncd@this host)",
            default=old.get("from") or None,
            optional=True,
            retry=retry,
        )
        if sender:
            table["from"] = sender
        console.print(f"Sending a test mail through {escape(table['smtp_host'])} …")
        try:
            msg_id = asyncio.run(
                send_test_mail(table, config_file=str(draft.config), timezone=draft.timezone)
            )
            break
        except ProbeFailed as err:
            if not asker.interactive:
                flag = {"auth": "--smtp-username/--smtp-password-file", "refused": "--mail-to"}
                asker.fail(
                    f"{flag.get(err.field, '--smtp-host/--smtp-port/--smtp-security')}: {err}"
                )
            asker.say_error(str(err))
            retry, old = True, table
    console.print(f"[green]✓[/] test mail sent to {escape(', '.join(table['to']))} ({msg_id})")
    if "smtp_password" in table:
        draft.secrets["smtp.password"] = table.pop("smtp_password")
        table["smtp_password_file"] = "smtp.password"
    draft.alerts = table


def setup_port(asker: Asker, draft: Draft, console: Console) -> None:
    host = "127.0.0.1"

    def check(value: str) -> str | None:
        if not value.isdigit() or not 0 < int(value) < 65536:
            return f"{value!r} is not a port number (1 to 65535)"
        if port_taken(host, int(value)):
            free = free_port_near(host, int(value))
            return f"port {value} is taken (another program listens there); {free} is free"
        return None

    wanted = asker.flag_value("--port")
    default = 8080
    if wanted is None and port_taken(host, default):
        default = free_port_near(host, default)
        console.print(f"Port 8080 is taken on this machine; {default} is free.")
    port = asker.ask(
        "--port",
        "Port of the status page (http://127.0.0.1:PORT/)",
        default=str(default),
        check=check,
    )
    draft.port = int(port)


# -- the whole guide ----------------------------------------------------------------------------------


def default_config() -> Path:
    return Path("/etc/syncd/syncd.toml") if os.geteuid() == 0 else Path("syncd.toml")


def setup_command(args: argparse.Namespace) -> int:
    interactive = not args.non_interactive
    if interactive and not sys.stdin.isatty():
        print(
            "error: syncd setup asks questions on a terminal; in a script give the answers as "
            "flags with --non-interactive (syncd setup --help)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from syncd.logs import configure_logging

    configure_logging("error", "console")  # the guide speaks; the connectors' events do not
    console = Console(stderr=True, highlight=False)
    asker = Asker(args, interactive, console)
    try:
        return _guide(args, asker, console)
    except UsageStop as stop:
        print(f"error: {stop}", file=sys.stderr)
        return EXIT_USAGE
    except EOFError:  # Ctrl-D at a question
        print("\nsetup stopped: the configuration was not written", file=sys.stderr)
        return EXIT_USAGE


def _guide(args: argparse.Namespace, asker: Asker, console: Console) -> int:
    config = Path(args.config or default_config()).expanduser().resolve()
    console.print(f"[bold]syncd setup[/]: writes {escape(str(config))} and its secrets beside it.")
    if config.exists() and not args.force:
        if not asker.interactive:
            asker.fail(f"{config} exists; --force replaces it (the old one is kept as .bak)")
        if not asker.confirm(f"{config} exists. Replace it (kept as {config.name}.bak)?", False):
            return EXIT_USAGE
    draft = Draft(config=config)
    draft.timezone = asker.ask(
        "--timezone",
        "The shop's time zone",
        default="Europe/Paris",
        check=zone_check,
    )
    ledger = args.ledger or (
        "/var/lib/syncd/ledger.sqlite3" if config.parent == Path("/etc/syncd") else "ledger.sqlite3"
    )
    draft.ledger_path = ledger
    chosen = _channels(asker)
    for kind in chosen:
        console.rule(KIND_LABELS[kind])
        if kind == "till":
            setup_till(asker, draft, console)
        else:
            setup_shop(kind, asker, draft, console)
    console.rule("Alert mails")
    if (
        asker.given("--mail-to")
        or asker.interactive
        and asker.confirm(
            "Send alert mails (an oversell, a channel down, an unreadable file)?", True
        )
    ):
        setup_mail(asker, draft, console)
    console.rule("Status page")
    setup_port(asker, draft, console)
    return _write_and_offer_init(args, asker, draft, console)


def _channels(asker: Asker) -> list[str]:
    flagged = [k for k in KINDS if asker.given(f"--{k}-url" if k != "till" else "--till-folder")]
    if not asker.interactive:
        if not flagged:
            asker.fail(
                "no channel given: --till-folder, --prestashop-url, --magento-url, "
                "--woocommerce-url or --shopify-url"
            )
        return flagged
    while True:
        chosen = [
            k
            for k in KINDS
            if k in flagged or asker.confirm(f"Set up {KIND_LABELS[k]}?", k in ("till",))
        ]
        if chosen:
            return chosen
        asker.say_error("syncd needs at least one channel (a till and a shop, usually)")


def _write_and_offer_init(
    args: argparse.Namespace, asker: Asker, draft: Draft, console: Console
) -> int:
    from syncd.alerts.settings import alert_warnings
    from syncd.config import load_config
    from syncd.exceptions import ConfigError

    written = write_all(draft)
    for path in written:
        mode = oct(path.stat().st_mode & 0o777)[2:]
        console.print(f"  wrote {escape(str(path))} (mode {mode})")
    try:  # the checker `syncd check-config` runs
        settings = load_config(draft.config)
    except ConfigError as err:  # a bug of setup's: say all of it
        for issue in err.issues or [err]:
            console.print(f"error: {escape(str(issue))}")
        return EXIT_FAILURE
    for warning in alert_warnings(settings.alerts, file=str(draft.config)):
        console.print(f"warning: {escape(str(warning))}")
    console.print(f"[green]✓[/] syncd check-config --config {escape(str(draft.config))}: valid")
    source = _init_source(args, asker, draft)
    if source:
        code = _run_init(settings, source, asker, console)
        if code != EXIT_OK:
            return code
    console.print(
        f"Next: run it with  syncd run --config {draft.config}\n"
        f"or as a service:   sudo syncd service install --config {draft.config}"
    )
    return EXIT_OK


def _init_source(args: argparse.Namespace, asker: Asker, draft: Draft) -> str:
    names = list(draft.channels)
    shops = [n for n in names if n != "till"]

    def check(value: str) -> str | None:
        return None if value in (*names, "no") else f"one of: {', '.join(names)}, or no"

    if not asker.interactive:
        return str(args.init_from or "")
    answer = asker.ask(
        "--init-from",
        "Take the starting stock from which channel? (syncd init: a dry-run table first; "
        "'no' to do it later)",
        default=args.init_from or (shops[0] if shops else "no"),
        check=check,
    )
    return "" if answer == "no" else answer


def _run_init(settings: Any, source: str, asker: Asker, console: Console) -> int:
    from syncd.cli.reconcile import _quiet_logging, init_command

    if source not in {c.name for c in settings.channels}:
        asker.fail(f"--init-from: {source!r} is not a channel of this config")
    _quiet_logging(settings)
    console.rule(f"syncd init --from {source} --dry-run")
    code = int(asyncio.run(init_command(settings, source=source, dry_run=True)))
    if code != EXIT_OK:
        return code
    if not asker.confirm(f"Set the ledger from {source} as shown?", True):
        console.print(f"Later: syncd init --config {settings.file} --from {source}")
        return EXIT_OK
    return int(asyncio.run(init_command(settings, source=source, yes=True)))


def add_command(sub: Any) -> None:
    text = "a guided setup: each channel tried at once, then the config and its secrets written"
    p = sub.add_parser("setup", help=text, description=text + " (" + __doc__.split("\n")[-2] + ")")
    p.set_defaults(func=setup_command)
    p.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="default ./syncd.toml (root: /etc/syncd/syncd.toml)",
    )
    p.add_argument(
        "--non-interactive", action="store_true", help="ask nothing: the flags are the answers"
    )
    p.add_argument("--force", action="store_true", help="replace an existing config (kept as .bak)")
    p.add_argument("--timezone", metavar="ZONE", help="the shop's time zone (Europe/Paris)")
    p.add_argument("--ledger", metavar="PATH", help="the SQLite ledger file")
    p.add_argument("--port", metavar="N", help="the status page's port (8080, or a free one)")
    for kind in ("prestashop", "magento", "woocommerce", "shopify"):
        p.add_argument(
            f"--{kind}-url", metavar="URL", help=f"{SHOP_LABELS[kind][0]}: the shop's address"
        )
    p.add_argument(
        "--prestashop-key-file", metavar="FILE", help="a file holding the webservice key"
    )
    p.add_argument(
        "--magento-token-file", metavar="FILE", help="a file holding an integration token"
    )
    p.add_argument("--magento-username", metavar="USER", help="or an admin user…")
    p.add_argument(
        "--magento-password-file", metavar="FILE", help="…and a file holding its password"
    )
    p.add_argument("--magento-source", metavar="CODE", help="the MSI source written (default)")
    p.add_argument("--woocommerce-key-file", metavar="FILE", help="a file holding the ck_… key")
    p.add_argument(
        "--woocommerce-secret-file", metavar="FILE", help="a file holding the cs_… secret"
    )
    p.add_argument("--shopify-token-file", metavar="FILE", help="a file holding the shpat_… token")
    p.add_argument("--shopify-location", metavar="ID", help="the location id it sells from")
    p.add_argument("--till-folder", metavar="DIR", help="the till's export (drop) folder")
    p.add_argument(
        "--till-sample", metavar="FILE", help="one real export (default: the newest in DIR)"
    )
    p.add_argument(
        "--till-columns",
        metavar="ROLE=COLUMN,…",
        help="which column is which, when no layout matches",
    )
    p.add_argument("--till-stock-file", metavar="FILE", help="the stock file written for the till")
    p.add_argument("--mail-to", metavar="ADDR,…", help="alert mail recipients (no mails without)")
    p.add_argument("--smtp-host", metavar="HOST")
    p.add_argument("--smtp-port", metavar="N")
    p.add_argument("--smtp-security", metavar="starttls|tls|none")
    p.add_argument("--smtp-username", metavar="USER")
    p.add_argument("--smtp-password-file", metavar="FILE")
    p.add_argument("--mail-from", metavar="ADDR")
    p.add_argument(
        "--init-from",
        metavar="CHANNEL",
        help="then syncd init from this channel (dry-run table, then applied)",
    )
